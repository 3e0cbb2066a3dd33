//! The API: one open route, one that needs a bearer token with the required scope, and
//! the RFC 9728 metadata document that tells clients how to get such a token.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use crate::config::WELL_KNOWN;
use crate::error::ApiError;
use crate::state::AppState;
use crate::{bearer, dpop};

pub fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/public", web::get().to(public))
        .route("/protected", web::get().to(protected))
        .route(WELL_KNOWN, web::get().to(metadata))
        .route(&format!("{WELL_KNOWN}/{{path:.*}}"), web::get().to(metadata));
}

/// `GET /.well-known/oauth-protected-resource[/path]` (RFC 9728 §3): the document, at the
/// path its `resource` gives; 404 anywhere else or without a document.
async fn metadata(request: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    match &state.resource_metadata {
        Some(metadata) if request.path() == metadata.path => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
            .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
            .json(&metadata.document),
        _ => HttpResponse::NotFound().json(json!({ "error": "not_found", "message": "no metadata document here" })),
    }
}

/// `GET /public`: no token needed.
async fn public() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "message": "hello, anyone" }))
}

/// `GET /protected`: an access token that Tessera says is active for this connection and
/// that carries the required scope; a DPoP-bound one with its proof (RFC 9449 §7); and,
/// when `STEP_UP` names the route, a user authentication strong and recent enough
/// (RFC 9470).
async fn protected(request: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    match answer(&request, &state).await {
        Ok(response) => response,
        // RFC 9728 §5.1: every challenge names the metadata document.
        Err(error) => error.response(state.resource_metadata_url()),
    }
}

async fn answer(request: &HttpRequest, state: &AppState) -> Result<HttpResponse, ApiError> {
    let (scheme, token) = bearer::from_request(request).ok_or(ApiError::MissingToken)?;
    let active = state.authorize(token).await?;
    let now = crate::state::unix_now();
    dpop::check(request, scheme, token, &active, &state.protected_url, &state.seen_proofs, now)?;
    state.check_step_up(request.path(), &active, now)?;
    let mut body = json!({
        "message": "hello",
        "sub": active.sub,
        "client_id": active.client_id,
        "scope": active.scope,
    });
    // How the user signed in, for a user's token (a client's own token has neither).
    if let Some(acr) = &active.acr {
        body["acr"] = json!(acr);
    }
    if let Some(auth_time) = active.auth_time {
        body["auth_time"] = json!(auth_time);
    }
    Ok(HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(body))
}
