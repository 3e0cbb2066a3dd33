//! Tessera's protocol application on actix-web: the endpoints browsers, applications
//! and resource servers talk to. For now: the health endpoints `/healthz` (the process
//! is alive) and `/readyz` (the database answers), and the JWKS. Discovery, authorize,
//! the sign-in pages, token, userinfo, introspection, revocation and end-session join
//! it as the OpenID Connect issues land.
//!
//! Not for: admin pages or the management API (`tessera-admin`), SQL (`tessera-store`),
//! cryptography (`tessera-tokens`), scope and claim rules (`tessera-domain`).
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod health;
mod jwks;

use actix_web::web;

pub use health::READY_TIMEOUT;

/// Mounts the protocol endpoints. Expects `web::Data<tessera_store::Store>` and
/// `web::Data<tessera_tokens::SharedKeySet>` in app data.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(health::healthz).service(health::readyz).service(jwks::jwks);
}
