//! The user page's authentication factors: whether an authenticator app is set up, the
//! passkeys (names and dates), the recovery codes left, and the reset that removes them
//! all and ends the user's sessions. The work is the management API's
//! (`api::users::factors`), so both audit `user.factors_reset` and mail the user.

use actix_web::{HttpResponse, web};
use tessera_auth::AccountMail;
use tessera_domain::UserId;
use tessera_store::Store;

use super::super::error::blocking;
use super::super::view::{Cell, Form, Panel, Table};
use super::super::{Admin, ConsoleError, href, see_other, time};
use crate::api::OutboxWake;
use crate::api::changes::wake_outbox;
use crate::api::users::factors::{self, FactorsView};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/users/{id}/factors/reset", web::post().to(reset));
}

pub(super) fn load(store: &Store, id: &UserId) -> Result<FactorsView, ConsoleError> {
    Ok(factors::factors_of(store, id)?)
}

pub(super) fn panel(base: &str, view: &FactorsView) -> Panel {
    let mut table = Table::new(&["Passkey", "Kind", "Added", "Last used"], "No passkeys.");
    for p in &view.passkeys {
        table.rows.push(vec![
            Cell::text(&p.name),
            Cell::text(if p.device_bound { "this device only" } else { "synced" }),
            Cell::text(time(p.created_at)).nowrap(),
            Cell::text(p.last_used_at.map_or_else(|| "never".to_owned(), time)).nowrap(),
        ]);
    }
    let app = match view.totp_confirmed_at {
        Some(since) => format!("set up since {}", time(since)),
        None => "none".to_owned(),
    };
    let mut panel = Panel::new("Sign-in factors")
        .anchor("factors")
        .intro("Besides the password. Users manage them on their account page.")
        .fact("Authenticator app", app)
        .fact("Recovery codes left", view.recovery_codes_left.to_string())
        .table(table);
    if view.totp || !view.passkeys.is_empty() || view.recovery_codes_left > 0 {
        panel.form = Some(Form::danger(
            format!("{base}/factors/reset"),
            "Reset factors",
            "Remove every passkey, the authenticator app and the recovery codes of this user, and sign them out everywhere?",
        ));
    }
    panel
}

async fn reset(
    admin: Admin,
    store: web::Data<Store>,
    mail: Option<web::Data<AccountMail>>,
    wake: Option<web::Data<OutboxWake>>,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    admin.form(&body)?;
    let id = UserId::from(id.into_inner());
    let (who, target, mailer) = (admin.clone(), id.clone(), mail.clone());
    blocking(move || Ok(factors::reset(&store, mailer.as_deref().map(|m| &**m), &who, &target)?)).await?;
    wake_outbox(wake.as_ref());
    if let Some(mail) = &mail {
        mail.wake();
    }
    Ok(see_other(&format!("{}?notice=factors_reset#factors", href(&format!("users/{id}")))))
}
