//! The admin console under `/admin`: server-rendered pages (askama, `templates/admin/`)
//! that work with JavaScript off, for administrators holding the `tessera-admin` role.
//!
//! Every page goes through [`session::Admin`] (a live console session of an enabled
//! administrator), every form carries the session's CSRF token, and every change calls
//! the same operation as the management API (`crate::api`), so the two validate alike
//! and both write the audit event in the change's transaction, the console with the
//! actor `user:<id>`.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, CacheControl, CacheDirective};
use actix_web::{HttpResponse, web};
use askama::Template;

mod applications;
mod audit;
mod claim_mappings;
mod claim_types;
mod connections;
mod dashboard;
mod error;
mod form;
mod identity_scopes;
mod initial_access_tokens;
mod management_keys;
mod organizations;
mod roles;
mod scripts;
mod session;
mod signing_keys;
mod token_exchange;
mod user_links;
mod users;
mod view;

pub use error::ConsoleError;
pub use session::{Admin, ConsoleSettings};

/// Where the console lives.
pub const PREFIX: &str = "/admin";

pub use crate::api::{KeyRotation, RotateKeys, ScriptSupport};

/// The policy of every console page: our own stylesheet and script, forms posted back to
/// us only, never framed.
const CSP: &str = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; \
                   form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const CONSOLE_CSS: &str = include_str!("../../../static/console.css");
const CONSOLE_JS: &str = include_str!("../../../static/console.js");

/// Mounts `/admin`. Needs `web::Data<Store>`, `web::Data<PasswordHasher>`,
/// `web::Data<tessera_auth::PasswordPolicy>`, `web::Data<ConsoleSettings>`, `web::Data<KeyRotation>`,
/// `web::Data<ScriptSupport>` and `web::Data<BrowserSessionPolicy>` in the app data.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope(PREFIX)
            .app_data(web::PayloadConfig::new(form::MAX_FORM_BYTES))
            .route("", web::get().to(dashboard::show))
            .route("/", web::get().to(dashboard::show))
            .route("/assets/console.css", web::get().to(|| asset("text/css; charset=utf-8", CONSOLE_CSS)))
            .route("/assets/console.js", web::get().to(|| asset("text/javascript; charset=utf-8", CONSOLE_JS)))
            .configure(session::routes)
            .configure(applications::routes)
            .configure(connections::routes)
            .configure(token_exchange::routes)
            .configure(identity_scopes::routes)
            .configure(claim_types::routes)
            .configure(users::routes)
            .configure(user_links::routes)
            .configure(roles::routes)
            .configure(organizations::routes)
            .configure(scripts::routes)
            .configure(claim_mappings::routes)
            .configure(signing_keys::routes)
            .configure(management_keys::routes)
            .configure(initial_access_tokens::routes)
            .configure(audit::routes)
            .default_service(web::to(not_found)),
    );
}

async fn not_found() -> Result<HttpResponse, ConsoleError> {
    Err(ConsoleError::NotFound)
}

async fn asset(content_type: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, content_type))
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(body)
}

/// Renders a console page: uncacheable (pages show secrets and personal data),
/// unframeable, under a strict Content-Security-Policy.
pub(crate) fn html(status: StatusCode, page: &impl Template) -> HttpResponse {
    match page.render() {
        Ok(body) => HttpResponse::build(status)
            .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
            .insert_header(CacheControl(vec![CacheDirective::NoStore]))
            .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
            .insert_header((header::X_FRAME_OPTIONS, "DENY"))
            .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
            .insert_header((header::REFERRER_POLICY, "no-referrer"))
            .body(body),
        Err(error) => {
            tracing::error!(%error, "console page failed to render");
            HttpResponse::InternalServerError().finish()
        }
    }
}

/// 303 to `location` (after a successful POST, so a reload does not post again).
pub(crate) fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .insert_header(CacheControl(vec![CacheDirective::NoStore]))
        .finish()
}

/// `/admin/<path>`.
pub(crate) fn href(path: &str) -> String {
    format!("{PREFIX}/{path}")
}

/// Percent-encodes a path segment or query value.
pub(crate) fn encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

pub(crate) use tessera_domain::utc::{parse as parse_time, to_second as time};
