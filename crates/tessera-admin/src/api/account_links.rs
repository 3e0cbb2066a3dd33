//! `/api/v1/users/{id}/send-verification` and `/api/v1/users/{id}/send-recovery-link`:
//! an administrator sends a user the same single-use links the sign-in pages send
//! (docs/accounts.md). The answer says where the mail went and when the link expires,
//! never the link itself (`Cache-Control: no-store` all the same), and each send is
//! audited (`user.verification_sent`, `user.recovery_link_sent`).

use actix_web::http::header::{CacheControl, CacheDirective};
use actix_web::{HttpResponse, web};
use serde::Serialize;
use serde_json::json;
use tessera_auth::account_links::AfterRecovery;
use tessera_auth::{AccountMail, Sent};
use tessera_domain::UserId;
use tessera_store::account_tokens::Purpose;
use tessera_store::{Store, users};
use utoipa::ToSchema;

use super::auth::Caller;
use super::body::blocking;
use super::changes::{self, Actor};
use super::error::ApiError;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/users/{id}/send-verification", web::post().to(send_verification))
        .route("/users/{id}/send-recovery-link", web::post().to(send_recovery_link));
}

/// A link was queued for delivery.
#[derive(Debug, Serialize, ToSchema)]
pub struct LinkSent {
    /// `verify_email` or `reset_password`.
    pub purpose: &'static str,
    /// The address the mail goes to.
    pub sent_to: String,
    /// Seconds the link works.
    pub expires_in: i64,
}

#[utoipa::path(post, path = "/api/v1/users/{id}/send-verification", tag = "users", params(("id" = String, Path)),
    responses((status = 202, body = LinkSent), (status = 404, body = super::ErrorBody),
        (status = 409, description = "the user has no email address", body = super::ErrorBody)))]
pub async fn send_verification(
    store: web::Data<Store>,
    mail: Option<web::Data<AccountMail>>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = UserId::from(id.into_inner());
    let mail = mail.ok_or_else(ApiError::unavailable)?;
    let sent = blocking(move || send_link(&store, &mail, &caller, &id, Purpose::VerifyEmail)).await?;
    Ok(accepted(&sent))
}

#[utoipa::path(post, path = "/api/v1/users/{id}/send-recovery-link", tag = "users", params(("id" = String, Path)),
    responses((status = 202, body = LinkSent), (status = 404, body = super::ErrorBody),
        (status = 409, description = "the user has no email address, or is disabled", body = super::ErrorBody)))]
pub async fn send_recovery_link(
    store: web::Data<Store>,
    mail: Option<web::Data<AccountMail>>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = UserId::from(id.into_inner());
    let mail = mail.ok_or_else(ApiError::unavailable)?;
    let sent = blocking(move || send_link(&store, &mail, &caller, &id, Purpose::ResetPassword)).await?;
    Ok(accepted(&sent))
}

fn accepted(sent: &LinkSent) -> HttpResponse {
    HttpResponse::Accepted().insert_header(CacheControl(vec![CacheDirective::NoStore])).json(sent)
}

/// Sends user `id` a link of `purpose`, superseding their older ones, and audits it.
/// Shared by the API and the console.
pub(crate) fn send_link(
    store: &Store,
    mail: &AccountMail,
    who: &dyn Actor,
    id: &UserId,
    purpose: Purpose,
) -> Result<LinkSent, ApiError> {
    let now = super::now();
    let sent = store.write_transaction(|c| {
        let user = users::get(c, id)?;
        let Some(email) = user.email.clone() else { return Ok(Err(ApiError::conflict("email", NO_ADDRESS))) };
        let (sent, action, expires_in) = match purpose {
            Purpose::VerifyEmail => (
                mail.send_verification(c, &user, now)?,
                "user.verification_sent",
                mail.settings.verification_link_lifetime,
            ),
            Purpose::ResetPassword => {
                if user.disabled {
                    return Ok(Err(ApiError::conflict("disabled", "The user is disabled: enable the account first.")));
                }
                (
                    mail.send_recovery(c, &user, AfterRecovery::Application, now)?,
                    "user.recovery_link_sent",
                    mail.settings.recovery_link_lifetime,
                )
            }
        };
        if sent != Sent::Queued {
            // Rolls back the link just issued.
            return Err(tessera_store::StoreError::Invalid { field: Some("email".into()), message: NO_ADDRESS.into() });
        }
        changes::record(c, who, action, &format!("user:{id}"), json!({ "expires_in": expires_in }), now)?;
        Ok(Ok(LinkSent { purpose: purpose.as_str(), sent_to: email, expires_in }))
    })??;
    mail.wake();
    Ok(sent)
}

const NO_ADDRESS: &str = "The user has no email address that mail can be sent to.";
