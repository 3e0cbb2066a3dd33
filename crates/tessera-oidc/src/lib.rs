//! Tessera's protocol application on actix-web: the endpoints browsers, applications
//! and resource servers talk to. For now: the health endpoints `/healthz` (the process
//! is alive) and `/readyz` (the database answers), the JWKS, the token endpoint with
//! client authentication and the client credentials grant, and introspection for API
//! connections, and revocation. Discovery, authorize, the sign-in pages, the user
//! grants, userinfo and end-session join it as the OpenID Connect issues land.
//!
//! Not for: admin pages or the management API (`tessera-admin`), SQL (`tessera-store`),
//! cryptography (`tessera-tokens`), scope and claim rules (`tessera-domain`).
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod access_token;
mod client_auth;
mod error;
mod form;
mod health;
mod introspect;
mod jwks;
mod revocation;
mod scopes;
mod state;
mod token;

use actix_web::web;

pub use error::OAuthError;
pub use health::READY_TIMEOUT;
pub use state::OidcState;

/// Mounts the protocol endpoints. Expects `web::Data<tessera_store::Store>`,
/// `web::Data<tessera_tokens::SharedKeySet>` and `web::Data<OidcState>` in app data.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(health::healthz).service(health::readyz).service(jwks::jwks).service(
        web::resource("/connect/token")
            .route(web::post().to(token::token))
            .default_service(web::to(token::method_not_allowed)),
    );
    cfg.service(
        web::resource("/connect/introspect")
            .route(web::post().to(introspect::introspect))
            .default_service(web::to(token::method_not_allowed)),
    );
    cfg.service(
        web::resource("/connect/revocation")
            .route(web::post().to(revocation::revocation))
            .default_service(web::to(token::method_not_allowed)),
    );
}
