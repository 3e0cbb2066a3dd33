//! The API: one open route and one that needs a bearer token with the required scope.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use crate::error::ApiError;
use crate::state::AppState;
use crate::{bearer, dpop};

pub fn configure(config: &mut web::ServiceConfig) {
    config.route("/public", web::get().to(public)).route("/protected", web::get().to(protected));
}

/// `GET /public`: no token needed.
async fn public() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "message": "hello, anyone" }))
}

/// `GET /protected`: an access token that Tessera says is active for this connection and
/// that carries the required scope; a DPoP-bound one with its proof (RFC 9449 §7).
async fn protected(request: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let (scheme, token) = bearer::from_request(&request).ok_or(ApiError::MissingToken)?;
    let active = state.authorize(token).await?;
    let now = crate::state::unix_now();
    dpop::check(&request, scheme, token, &active, &state.protected_url, &state.seen_proofs, now)?;
    Ok(HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(json!({
        "message": "hello",
        "sub": active.sub,
        "client_id": active.client_id,
        "scope": active.scope,
    })))
}
