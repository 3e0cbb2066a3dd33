//! The management REST API under `/api/v1`: one module per resource, each handler thin
//! (parse the request, call the store in one transaction with its audit event, render).
//!
//! Mounting: `App::new().app_data(web::Data<Store>).app_data(web::Data<PasswordHasher>)
//! .configure(tessera_admin::api::configure)` (see [`configure`] for the rest).

use actix_web::web;

pub(crate) mod account_links;
pub mod applications;
pub(crate) mod audit_events;
mod auth;
pub(crate) mod body;
pub mod changes;
pub(crate) mod claim_mappings;
pub(crate) mod claim_types;
pub mod connections;
mod custom_claims;
mod error;
pub(crate) mod identity_scopes;
pub mod initial_access_tokens;
pub(crate) mod management_keys;
pub mod openapi;
pub(crate) mod organizations;
pub(crate) mod preview;
pub(crate) mod roles;
pub(crate) mod scripts;
pub(crate) mod signing_keys;
pub mod token_exchange;
pub(crate) mod users;

pub use auth::{KEY_ID_HEADER, SECRET_HEADER};
pub use changes::{Actor, OutboxWake};
pub use custom_claims::TokenSigning;
pub use error::{ApiError, ErrorBody};
pub use scripts::ScriptSupport;
pub use signing_keys::{KeyRotation, RotateKeys};
pub use users::sessions::BrowserSessionPolicy;

/// Where the API lives.
pub const PREFIX: &str = "/api/v1";

/// Mounts every `/api/v1` route. Needs `web::Data<tessera_store::Store>`,
/// `web::Data<tessera_tokens::PasswordHasher>`, `web::Data<tessera_auth::PasswordPolicy>`,
/// `web::Data<TokenSigning>`,
/// `web::Data<KeyRotation>`, `web::Data<ScriptSupport>` and `web::Data<BrowserSessionPolicy>`
/// in the app data.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope(PREFIX)
            .app_data(body::query_config())
            .app_data(body::path_config())
            .app_data(body::payload_config())
            .route("/openapi.json", web::get().to(openapi::serve))
            .configure(applications::routes)
            .configure(preview::routes)
            .configure(claim_mappings::routes)
            .configure(connections::routes)
            .configure(token_exchange::routes)
            .configure(claim_types::routes)
            .configure(identity_scopes::routes)
            .configure(users::routes)
            .configure(account_links::routes)
            .configure(roles::routes)
            .configure(organizations::routes)
            .configure(management_keys::routes)
            .configure(initial_access_tokens::routes)
            .configure(signing_keys::routes)
            .configure(audit_events::routes)
            .configure(custom_claims::routes)
            .configure(scripts::routes)
            .default_service(web::to(not_found)),
    );
}

/// Unknown paths under `/api/v1` answer in the API's error format.
async fn not_found() -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::not_found("no such endpoint"))
}

/// The current time in unix seconds.
pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
