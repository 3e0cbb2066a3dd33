//! Tessera's protocol application on actix-web: the endpoints browsers, applications
//! and resource servers talk to. For now: the health endpoints `/healthz` (the process
//! is alive) and `/readyz` (the database answers), discovery and the JWKS, authorize
//! with the sign-in, registration, required-claims and consent pages, pushed
//! authorization requests (RFC 9126), device authorization (RFC 8628) with its
//! verification page, the token endpoint (authorization code, refresh token, client
//! credentials, password, device code), userinfo,
//! introspection, revocation and end-session, dynamic client registration (RFC 7591,
//! RFC 7592) and Client ID Metadata Documents; and the account page (`/account`) where
//! signed-in users manage their profile, password, sessions and consents.
//!
//! Not for: admin pages or the management API (`tessera-admin`), SQL (`tessera-store`),
//! cryptography (`tessera-tokens`), scope and claim rules (`tessera-domain`).
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod access_token;
mod account;
mod assurance;
mod authorize;
mod bearer;
mod client_auth;
mod client_keys;
mod cors;
mod custom_claims;
mod device_authorization;
mod discovery;
mod dpop;
mod end_session;
mod error;
mod form;
mod health;
mod id_token;
mod interaction;
mod introspect;
mod jwks;
mod pages;
mod par;
pub mod rate_limit;
mod registration;
mod reply;
mod request_object;
mod request_uri;
mod revocation;
mod session;
mod state;
mod static_files;
mod token;
mod userinfo;
mod view;

use actix_web::web;

/// The parsers of outside input that stand alone, public for the fuzz targets
/// (`crates/tessera-fuzz`).
pub mod parsers {
    pub use crate::client_auth::parse_basic;
    pub use crate::form::Params;
    pub use crate::request_object::check_claims as request_object_claims;
}

pub use discovery::DiscoveryCache;
pub use error::OAuthError;
pub use health::READY_TIMEOUT;
pub use registration::{
    ClientRegistrationSettings, DEFAULT_OPEN_SCOPES, METADATA_DOCUMENT_MAX_BYTES, RegistrationMode,
};
pub use state::{OidcSettings, OidcState};

/// Mounts the protocol endpoints and the sign-in pages. Expects in app data:
/// `web::Data<tessera_store::Store>`, `web::Data<tessera_tokens::SharedKeySet>`,
/// `web::Data<OidcState>` and `web::Data<DiscoveryCache>`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    let post_only = || web::to(error::method_not_allowed);
    cfg.service(health::healthz)
        .service(health::readyz)
        .service(jwks::jwks)
        .route("/.well-known/openid-configuration", web::get().to(discovery::discovery))
        // RFC 8414 §3: the same metadata for OAuth clients that look here (agents, MCP).
        .route("/.well-known/oauth-authorization-server", web::get().to(discovery::discovery))
        .service(
            web::resource("/connect/authorize")
                .route(web::get().to(authorize::authorize_get))
                .route(web::post().to(authorize::authorize_post)),
        )
        .route("/connect/authorize/resume", web::get().to(authorize::resume))
        .service(web::resource("/connect/par").route(web::post().to(par::par)).default_service(post_only()))
        .service(
            web::resource(registration::REGISTRATION_PATH)
                .route(web::post().to(registration::register))
                .default_service(post_only()),
        )
        .service(
            web::resource("/connect/register/{client_id}")
                .route(web::get().to(registration::read_registration))
                .route(web::put().to(registration::update_registration))
                .route(web::delete().to(registration::delete_registration)),
        )
        .service(
            web::resource("/connect/deviceauthorization")
                .route(web::post().to(device_authorization::device_authorization))
                .default_service(post_only()),
        )
        .service(
            web::resource("/connect/token")
                .route(web::post().to(token::token))
                .route(web::method(actix_web::http::Method::OPTIONS).to(cors::preflight))
                .default_service(post_only()),
        )
        .service(
            web::resource("/connect/introspect")
                .route(web::post().to(introspect::introspect))
                .default_service(post_only()),
        )
        .service(
            web::resource("/connect/revocation")
                .route(web::post().to(revocation::revocation))
                .default_service(post_only()),
        )
        .service(
            web::resource("/connect/userinfo")
                .route(web::get().to(userinfo::userinfo_get))
                .route(web::post().to(userinfo::userinfo_post))
                .route(web::method(actix_web::http::Method::OPTIONS).to(cors::preflight)),
        )
        .service(
            web::resource("/connect/endsession")
                .route(web::get().to(end_session::end_session_get))
                .route(web::post().to(end_session::end_session_post)),
        )
        .route("/connect/endsession/confirm", web::post().to(end_session::confirm))
        .service(
            web::resource("/login")
                .route(web::get().to(interaction::sign_in::show))
                .route(web::post().to(interaction::sign_in::submit)),
        )
        .service(
            web::resource(interaction::factor::FACTOR_PATH)
                .route(web::get().to(interaction::factor::show))
                .route(web::post().to(interaction::factor::submit)),
        )
        .route("/login/factor/passkey", web::post().to(interaction::factor::passkey_options))
        .route("/login/passkey/options", web::post().to(interaction::sign_in::passkey_options))
        .route("/login/passkey", web::post().to(interaction::sign_in::passkey))
        .route(interaction::enrol::ENROL_PATH, web::get().to(interaction::enrol::show))
        .route("/login/enrol/totp", web::post().to(interaction::enrol::submit_totp))
        .route("/login/enrol/passkey/options", web::post().to(interaction::enrol::passkey_options))
        .route("/login/enrol/passkey", web::post().to(interaction::enrol::submit_passkey))
        .service(
            web::resource(interaction::enrol::RECOVERY_CODES_PATH)
                .route(web::get().to(interaction::enrol::show_recovery_codes))
                .route(web::post().to(interaction::enrol::make_recovery_codes)),
        )
        .service(
            web::resource("/login/forgot")
                .route(web::get().to(interaction::recovery::show_forgot))
                .route(web::post().to(interaction::recovery::submit_forgot)),
        )
        .route(account::PATH, web::get().to(account::show))
        .service(
            web::resource(account::SIGN_IN_PATH)
                .route(web::get().to(account::sign_in::show))
                .route(web::post().to(account::sign_in::submit)),
        )
        .service(
            web::resource(account::forgot::FORGOT_PATH)
                .route(web::get().to(account::forgot::show))
                .route(web::post().to(account::forgot::submit)),
        )
        .route("/account/sign-in/factor", web::post().to(account::sign_in_factor::submit))
        .route("/account/sign-in/factor/passkey", web::post().to(account::sign_in_factor::passkey_options))
        .route("/account/sign-out", web::post().to(account::sign_in::sign_out))
        .route("/account/profile", web::post().to(account::profile::submit_profile))
        .route("/account/email", web::post().to(account::profile::submit_email))
        .route("/account/password", web::post().to(account::password::submit))
        .route("/account/sessions/end", web::post().to(account::sessions::end_one))
        .route("/account/sessions/end-others", web::post().to(account::sessions::end_others))
        .route("/account/consents/revoke", web::post().to(account::sessions::revoke_consent))
        .route("/account/delete", web::post().to(account::deletion::submit))
        .route("/account/security/passkeys/options", web::post().to(account::security::passkeys::options))
        .route("/account/security/passkeys", web::post().to(account::security::passkeys::add))
        .route("/account/security/passkeys/rename", web::post().to(account::security::passkeys::rename))
        .route("/account/security/passkeys/remove", web::post().to(account::security::passkeys::remove))
        .service(
            web::resource(account::security::totp::PATH)
                .route(web::get().to(account::security::totp::show))
                .route(web::post().to(account::security::totp::begin)),
        )
        .route("/account/security/totp/confirm", web::post().to(account::security::totp::confirm))
        .route("/account/security/totp/remove", web::post().to(account::security::totp::remove))
        .route("/account/security/recovery-codes", web::post().to(account::security::recovery_codes::generate))
        .service(
            web::resource("/account/recover/{token}")
                .route(web::get().to(interaction::recovery::show_recover))
                .route(web::post().to(interaction::recovery::submit_recover)),
        )
        .service(
            web::resource("/account/verify/{token}")
                .route(web::get().to(interaction::verify_email::show))
                .route(web::post().to(interaction::verify_email::submit)),
        )
        .service(
            web::resource(interaction::verify_email::VERIFY_EMAIL_STEP_PATH)
                .route(web::get().to(interaction::verify_email::show_step))
                .route(web::post().to(interaction::verify_email::submit_step)),
        )
        .service(
            web::resource("/register")
                .route(web::get().to(interaction::register::show))
                .route(web::post().to(interaction::register::submit)),
        )
        .service(
            web::resource(authorize::REQUIRED_CLAIMS_PATH)
                .route(web::get().to(interaction::required_claims::show))
                .route(web::post().to(interaction::required_claims::submit)),
        )
        .service(
            web::resource(device_authorization::VERIFICATION_PATH)
                .route(web::get().to(interaction::device::show))
                .route(web::post().to(interaction::device::submit)),
        )
        .service(
            web::resource("/consent")
                .route(web::get().to(interaction::consent::show))
                .route(web::post().to(interaction::consent::submit)),
        )
        .configure(static_files::configure);
}
