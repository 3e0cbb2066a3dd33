//! The request log's root span: one per request, with its id, method, route, path,
//! status and the TCP peer's address.
//!
//! CWE-348 and the OWASP Logging Cheat Sheet: what a client can forge is not logged as a
//! fact. tracing-actix-web's default span takes the client address, host and scheme from
//! `Forwarded` / `X-Forwarded-*`; Tessera trusts no proxy, so the address is the peer's,
//! and the host and scheme, which the issuer fixes, are not logged. The path is logged
//! without its query: authorize and end-session queries carry `id_token_hint` and other
//! values that do not belong in a log. The path of an account link (docs/accounts.md)
//! carries a single-use token: it is logged as its route, `/account/recover/{token}`.
//!
//! Each failed request is logged once. A 503 (the database is away) is logged where the
//! store error is mapped to a response (`tessera_oidc::error`, the management API's
//! errors), with the store's reason, as one warning; the span adds the request's fields.
//! Any other server error is logged here, at the end of the request, with the error it
//! answered. tracing-actix-web's own event for every error response is off (its
//! `emit_event_on_error` feature): it repeated each of them with the whole span, as an
//! ERROR even for a 503.

use actix_web::Error;
use actix_web::HttpMessage;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use tracing::Span;
use tracing_actix_web::{DefaultRootSpanBuilder, RequestId, RootSpanBuilder};

/// The root span builder of Tessera's request log.
pub struct PeerRootSpan;

impl RootSpanBuilder for PeerRootSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let peer = request.peer_addr().map(|a| a.ip().to_string()).unwrap_or_default();
        let request_id = request.extensions().get::<RequestId>().map(ToString::to_string).unwrap_or_default();
        let route = request.match_pattern().unwrap_or_default();
        tracing::info_span!(
            "HTTP request",
            http.method = %request.method(),
            http.route = %route,
            http.target = %loggable_path(request.path()),
            http.client_ip = %peer,
            http.status_code = tracing::field::Empty,
            otel.kind = "server",
            otel.status_code = tracing::field::Empty,
            request_id = %request_id,
            exception.message = tracing::field::Empty,
            exception.details = tracing::field::Empty,
        )
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        let failure = match outcome {
            Ok(response) => response.response().error().map(|e| (response.status(), e.to_string())),
            Err(error) => Some((error.as_response_error().status_code(), error.to_string())),
        };
        if let Some((status, error)) = failure
            && status.is_server_error()
            && status != StatusCode::SERVICE_UNAVAILABLE
        {
            span.in_scope(|| tracing::error!(status = status.as_u16(), %error, "request failed"));
        }
        DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}

/// The path as it may be logged: an account link's token replaced by `{token}`.
fn loggable_path(path: &str) -> std::borrow::Cow<'_, str> {
    for prefix in [tessera_auth::account_links::VERIFY_PATH, tessera_auth::account_links::RECOVER_PATH] {
        if path.starts_with(prefix) {
            return format!("{prefix}{{token}}").into();
        }
    }
    path.into()
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use actix_web::test::TestRequest;

    use super::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Every line the app logs while answering one request to `handler`.
    async fn lines_logged_answering(handler: actix_web::Route) -> (u16, Vec<String>) {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt().with_writer(move || writer.clone()).with_ansi(false).finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let app = actix_web::test::init_service(
            actix_web::App::new()
                .wrap(tracing_actix_web::TracingLogger::<PeerRootSpan>::new())
                .route("/connect/token", handler),
        )
        .await;
        let request = TestRequest::post().uri("/connect/token").to_request();
        let status = actix_web::test::call_service(&app, request).await.status().as_u16();
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        (status, text.lines().map(str::to_owned).collect())
    }

    #[actix_web::test]
    async fn a_503_is_logged_once_with_its_cause() {
        // Finding 4 of the 2026-12 reliability review: a WARN, then an ERROR with the span.
        let (status, lines) = lines_logged_answering(actix_web::web::post().to(|| async {
            Err::<actix_web::HttpResponse, _>(tessera_oidc::OAuthError::from(tessera_store::StoreError::Unavailable(
                "server closed the connection unexpectedly".into(),
            )))
        }))
        .await;
        assert_eq!(status, 503);
        assert_eq!(lines.len(), 1, "{lines:#?}");
        assert!(lines[0].contains("WARN") && lines[0].contains("server closed the connection"), "{lines:#?}");
        assert!(lines[0].contains("request_id="), "the line carries the request's span: {lines:#?}");
    }

    #[actix_web::test]
    async fn another_server_error_is_logged_once_at_the_end_of_the_request() {
        let (status, lines) = lines_logged_answering(
            actix_web::web::post()
                .to(|| async { Err::<actix_web::HttpResponse, _>(tessera_oidc::OAuthError::server_error()) }),
        )
        .await;
        assert_eq!(status, 500);
        assert_eq!(lines.len(), 1, "{lines:#?}");
        assert!(lines[0].contains("ERROR") && lines[0].contains("request failed"), "{lines:#?}");
    }

    #[test]
    fn the_log_records_the_peer_not_the_forwarded_headers_and_no_query() {
        // Finding 11 of the 2026-12 review: the log line took these headers as facts.
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt().with_writer(move || writer.clone()).with_ansi(false).finish();
        tracing::subscriber::with_default(subscriber, || {
            let request = TestRequest::post()
                .uri("/connect/endsession?id_token_hint=eyJ.secret.part")
                .peer_addr("192.0.2.10:5000".parse().unwrap())
                .insert_header(("x-forwarded-for", "203.0.113.66"))
                .insert_header(("forwarded", "for=198.51.100.7;host=evil.test;proto=https"))
                .insert_header(("x-forwarded-host", "evil.test"))
                .to_srv_request();
            let span = PeerRootSpan::on_request_start(&request);
            span.in_scope(|| tracing::info!("answered"));
        });
        let line = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        assert!(line.contains("http.client_ip=192.0.2.10"), "{line}");
        assert!(line.contains("http.target=/connect/endsession"), "{line}");
        for forged in ["203.0.113.66", "198.51.100.7", "evil.test", "https", "secret"] {
            assert!(!line.contains(forged), "{forged} in {line}");
        }
    }

    #[test]
    fn an_account_links_token_is_not_logged() {
        let token = "Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGx5";
        assert_eq!(loggable_path(&format!("/account/recover/{token}")), "/account/recover/{token}");
        assert_eq!(loggable_path(&format!("/account/verify/{token}")), "/account/verify/{token}");
        assert_eq!(loggable_path("/login/forgot"), "/login/forgot");
    }
}
