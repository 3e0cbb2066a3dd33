//! The pages' stylesheet and script, embedded in the binary and served at `/static/{file}`.
//! Only the names listed here exist: no file system path is ever built from a request.

use actix_web::http::header::{self, CacheControl, CacheDirective};
use actix_web::{HttpResponse, web};

/// The embedded files: name, content type, content.
const FILES: &[(&str, &str, &str)] = &[
    ("tessera.css", "text/css; charset=utf-8", include_str!("../../../static/tessera.css")),
    ("form_post.js", "text/javascript; charset=utf-8", include_str!("../../../static/form_post.js")),
    ("passkeys.js", "text/javascript; charset=utf-8", include_str!("../../../static/passkeys.js")),
];

/// Mounts `GET` and `HEAD /static/{file}`.
pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/static/{file}").route(web::get().to(static_file)).route(web::head().to(static_file)));
}

async fn static_file(file: web::Path<String>) -> HttpResponse {
    match FILES.iter().find(|(name, _, _)| *name == file.as_str()) {
        Some((_, content_type, content)) => HttpResponse::Ok()
            .content_type(*content_type)
            .insert_header(CacheControl(vec![CacheDirective::Public, CacheDirective::MaxAge(3600)]))
            .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
            .body(*content),
        None => HttpResponse::NotFound()
            .content_type("text/plain; charset=utf-8")
            .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
            .body("not found"),
    }
}

#[cfg(test)]
mod tests {
    use actix_web::http::StatusCode;
    use actix_web::{App, test};

    use super::*;

    #[actix_web::test]
    async fn serves_the_embedded_files_with_their_types() {
        let app = test::init_service(App::new().configure(configure)).await;
        for (path, content_type, start) in [
            ("/static/tessera.css", "text/css; charset=utf-8", "/* Tessera"),
            ("/static/form_post.js", "text/javascript; charset=utf-8", "// OAuth 2.0 Form Post"),
            ("/static/passkeys.js", "text/javascript; charset=utf-8", "// Passkeys"),
        ] {
            let response = test::call_service(&app, test::TestRequest::get().uri(path).to_request()).await;
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            let headers = response.headers();
            assert_eq!(headers.get(header::CONTENT_TYPE).unwrap(), content_type);
            assert_eq!(headers.get(header::CACHE_CONTROL).unwrap(), "public, max-age=3600");
            assert_eq!(headers.get(header::X_CONTENT_TYPE_OPTIONS).unwrap(), "nosniff");
            let body = test::read_body(response).await;
            assert!(body.starts_with(start.as_bytes()), "{path}");
        }
    }

    #[actix_web::test]
    async fn anything_else_is_not_found() {
        let app = test::init_service(App::new().configure(configure)).await;
        for path in [
            "/static/../Cargo.toml",
            "/static/..%2FCargo.toml",
            "/static/..%2F..%2F..%2FCargo.toml",
            "/static/%2e%2e/Cargo.toml",
            "/static/unknown.css",
            "/static/TESSERA.CSS",
            "/static/tessera.css/",
            "/static/tessera.css%00",
            "/static/",
            "/static",
        ] {
            let response = test::call_service(&app, test::TestRequest::get().uri(path).to_request()).await;
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        }
    }

    #[actix_web::test]
    async fn head_is_answered_and_post_is_not() {
        let app = test::init_service(App::new().configure(configure)).await;
        let head = test::TestRequest::default().method(actix_web::http::Method::HEAD).uri("/static/tessera.css");
        assert_eq!(test::call_service(&app, head.to_request()).await.status(), StatusCode::OK);
        let post = test::TestRequest::post().uri("/static/tessera.css").to_request();
        assert_eq!(test::call_service(&app, post).await.status(), StatusCode::METHOD_NOT_ALLOWED);
    }
}
