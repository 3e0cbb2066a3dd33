//! CORS where the specs expect browsers to call Tessera from another origin: discovery
//! and the JWKS (public documents), and the token and userinfo endpoints, which
//! single-page applications call with `fetch` (OAuth 2.0 for Browser-Based Apps §6).
//! Never on authorize or the pages: those are navigated to, not fetched.
//! No credentials (cookies) are ever allowed cross-origin.

use actix_web::HttpResponse;
use actix_web::http::header;

/// The header every CORS-enabled response carries.
pub(crate) const ALLOW_ANY_ORIGIN: (header::HeaderName, &str) = (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*");

/// `OPTIONS` preflight for the token and userinfo endpoints.
pub(crate) async fn preflight() -> HttpResponse {
    HttpResponse::NoContent()
        .insert_header(ALLOW_ANY_ORIGIN)
        .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, "GET, POST"))
        .insert_header((header::ACCESS_CONTROL_ALLOW_HEADERS, "Authorization, Content-Type, DPoP"))
        .insert_header((header::ACCESS_CONTROL_MAX_AGE, "600"))
        .finish()
}
