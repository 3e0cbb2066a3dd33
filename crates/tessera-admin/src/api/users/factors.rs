//! `/api/v1/users/{id}/factors`: a user's authentication factors beyond the password
//! (docs/authentication.md), and an administrator's reset of them: for a user who lost
//! their passkey and phone, or whose factors an attacker may have added.
//!
//! The reset removes every passkey, the TOTP secret and the recovery codes, ends every
//! browser and console session of the user (what the factors protected), is audited
//! `user.factors_reset` and mails the user, in one transaction. The console's user page
//! calls the same functions.

use actix_web::{HttpResponse, web};
use serde::Serialize;
use serde_json::json;
use tessera_auth::AccountMail;
use tessera_domain::UserId;
use tessera_store::factors::{self, passkeys, recovery_codes, totp};
use tessera_store::{Store, admin_sessions, browser_sessions, users};
use utoipa::ToSchema;

use crate::api::auth::Caller;
use crate::api::body::blocking;
use crate::api::changes::{self, Actor};
use crate::api::error::ApiError;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/users/{id}/factors", web::get().to(list_factors))
        .route("/users/{id}/factors", web::delete().to(reset_factors));
}

/// A passkey of the user (never its credential).
#[derive(Debug, Serialize, ToSchema)]
pub struct PasskeyView {
    pub id: String,
    pub name: String,
    /// Bound to one device (`amr` `hwk`), else synced (`swk`).
    pub device_bound: bool,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

/// The user's factors beside the password.
#[derive(Debug, Serialize, ToSchema)]
pub struct FactorsView {
    /// An authenticator app (TOTP) is set up and confirmed.
    pub totp: bool,
    /// When it was confirmed (unix seconds).
    pub totp_confirmed_at: Option<i64>,
    pub passkeys: Vec<PasskeyView>,
    /// Recovery codes not used yet.
    pub recovery_codes_left: i64,
}

/// What a reset removed and ended.
#[derive(Debug, Serialize, ToSchema)]
pub struct FactorsReset {
    pub totp_removed: bool,
    pub passkeys_removed: usize,
    pub recovery_codes_removed: usize,
    pub sessions_ended: usize,
    pub grants_revoked: usize,
    pub console_sessions_ended: usize,
}

/// The factors of user `id`.
pub(crate) fn factors_of(store: &Store, id: &UserId) -> Result<FactorsView, ApiError> {
    Ok(store.read_transaction(|c| {
        users::get(c, id)?;
        let totp = totp::find_confirmed(c, id)?;
        let passkeys = passkeys::list_of_user(c, id)?
            .into_iter()
            .map(|p| PasskeyView {
                id: p.id,
                name: p.name,
                device_bound: p.device_bound,
                created_at: p.created_at,
                last_used_at: p.last_used_at,
            })
            .collect();
        Ok(FactorsView {
            totp: totp.is_some(),
            totp_confirmed_at: totp.and_then(|t| t.confirmed_at),
            passkeys,
            recovery_codes_left: recovery_codes::count_left(c, id)?,
        })
    })?)
}

/// Removes every factor of user `id` and ends their sessions; audited and mailed.
pub(crate) fn reset(
    store: &Store,
    mail: Option<&AccountMail>,
    who: &dyn Actor,
    id: &UserId,
) -> Result<FactorsReset, ApiError> {
    let now = crate::api::now();
    Ok(store.write_transaction(|c| {
        let user = users::get(c, id)?;
        let removed = factors::remove_all(c, id)?;
        let (sessions_ended, grants_revoked) = browser_sessions::end_others_of_user(c, id, None, now)?;
        let console_sessions_ended = admin_sessions::end_all_of_user(c, id, now)?;
        let reset = FactorsReset {
            totp_removed: removed.totp,
            passkeys_removed: removed.passkeys,
            recovery_codes_removed: removed.recovery_codes,
            sessions_ended,
            grants_revoked,
            console_sessions_ended,
        };
        let summary = json!({
            "totp_removed": reset.totp_removed,
            "passkeys_removed": reset.passkeys_removed,
            "recovery_codes_removed": reset.recovery_codes_removed,
            "sessions_ended": reset.sessions_ended,
            "grants_revoked": reset.grants_revoked,
            "console_sessions_ended": reset.console_sessions_ended,
        });
        changes::record(c, who, "user.factors_reset", &format!("user:{id}"), summary, now)?;
        if let Some(mail) = mail {
            let what = "every passkey, the authenticator app and the recovery codes";
            mail.send_factor_removed(c, &user, what, true, now)?;
        }
        Ok(reset)
    })?)
}

/// The user's authentication factors beside the password: TOTP, passkeys (names and
/// dates, never credentials), recovery codes left.
#[utoipa::path(get, path = "/api/v1/users/{id}/factors", tag = "users", params(("id" = String, Path)),
    responses((status = 200, body = FactorsView), (status = 404, body = super::super::ErrorBody)))]
pub async fn list_factors(
    store: web::Data<Store>,
    _caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = UserId::from(id.into_inner());
    let factors = blocking(move || factors_of(&store, &id)).await?;
    Ok(HttpResponse::Ok().json(factors))
}

/// Resets the user's factors: removes every passkey, the TOTP secret and the recovery
/// codes, and ends every session of the user (browser and console). Audited
/// `user.factors_reset`; the user is mailed.
#[utoipa::path(delete, path = "/api/v1/users/{id}/factors", tag = "users", params(("id" = String, Path)),
    responses((status = 200, body = FactorsReset), (status = 404, body = super::super::ErrorBody)))]
pub async fn reset_factors(
    store: web::Data<Store>,
    mail: Option<web::Data<AccountMail>>,
    wake: Option<web::Data<changes::OutboxWake>>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = UserId::from(id.into_inner());
    let mailer = mail.clone();
    let reset = blocking(move || reset(&store, mailer.as_deref().map(|m| &**m), &caller, &id)).await?;
    changes::wake_outbox(wake.as_ref());
    if let Some(mail) = &mail {
        mail.wake();
    }
    Ok(HttpResponse::Ok().json(reset))
}
