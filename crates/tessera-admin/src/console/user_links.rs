//! The user page's "Account mail" panel: send the user an email verification link or a
//! password recovery link (the same operation as `POST /api/v1/users/{id}/send-…`,
//! audited, the link itself never shown).

use actix_web::{HttpResponse, web};
use tessera_auth::AccountMail;
use tessera_domain::UserId;
use tessera_store::Store;
use tessera_store::account_tokens::Purpose;

use super::error::attempt;
use super::users::{Failed, respond};
use super::view::{Cell, Form, Panel, Table};
use super::{Admin, ConsoleError};
use crate::api::account_links::send_link;
use crate::api::{ApiError, BrowserSessionPolicy};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/users/{id}/send-verification", web::post().to(send_verification))
        .route("/users/{id}/send-recovery-link", web::post().to(send_recovery_link));
}

/// The panel, with the error of a send that failed.
pub(super) fn panel(base: &str, failed: Option<&ApiError>) -> Panel {
    let mut table = Table::new(&["Link", ""], "");
    table.rows.push(vec![
        Cell::text("Email verification: confirms the address on the account"),
        Cell::form(Form::post(format!("{base}/send-verification"), "Send verification", Vec::new()).inline()),
    ]);
    table.rows.push(vec![
        Cell::text("Password recovery: lets the user set a new password"),
        Cell::form(Form::post(format!("{base}/send-recovery-link"), "Send recovery link", Vec::new()).inline()),
    ]);
    let intro = match failed {
        Some(error) => format!("Not sent: {}", error.body.message),
        None => "Single-use links, sent by mail to the account's address.".to_owned(),
    };
    Panel::new("Account mail").intro(intro).table(table)
}

async fn send_verification(
    admin: Admin,
    store: web::Data<Store>,
    sessions: web::Data<BrowserSessionPolicy>,
    mail: Option<web::Data<AccountMail>>,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    send(admin, store, sessions, mail, id, body, Purpose::VerifyEmail).await
}

async fn send_recovery_link(
    admin: Admin,
    store: web::Data<Store>,
    sessions: web::Data<BrowserSessionPolicy>,
    mail: Option<web::Data<AccountMail>>,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    send(admin, store, sessions, mail, id, body, Purpose::ResetPassword).await
}

async fn send(
    admin: Admin,
    store: web::Data<Store>,
    sessions: web::Data<BrowserSessionPolicy>,
    mail: Option<web::Data<AccountMail>>,
    id: web::Path<String>,
    body: web::Bytes,
    purpose: Purpose,
) -> Result<HttpResponse, ConsoleError> {
    admin.form(&body)?;
    let id = UserId::from(id.into_inner());
    let (who, db, user_id) = (admin.clone(), store.clone(), id.clone());
    let outcome = attempt(move || {
        let mail = mail.ok_or_else(|| ApiError::conflict("email", "Mail is not available on this server."))?;
        send_link(&db, &mail, &who, &user_id, purpose)
    })
    .await?;
    let notice = match purpose {
        Purpose::VerifyEmail => "verification_sent",
        Purpose::ResetPassword => "recovery_link_sent",
    };
    respond(&admin, store, sessions, id, outcome.err().map(Failed::Mail), notice).await
}
