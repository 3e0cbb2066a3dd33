//! The user page's sessions and consents: where the user is signed in (device, address,
//! times; end one or all) and the applications they allowed (revoke one). The work is the
//! management API's (`api::users::sessions`), so both audit the same events.

use actix_web::{HttpResponse, web};
use tessera_domain::{ApplicationId, UserId};
use tessera_store::Store;

use super::super::error::blocking;
use super::super::view::{Cell, Form, Panel, Table};
use super::super::{Admin, ConsoleError, href, see_other, time};
use crate::api::OutboxWake;
use crate::api::changes::wake_outbox;
use crate::api::users::sessions::{self, ConsentView, SessionView};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/users/{id}/sessions/end", web::post().to(end_all))
        .route("/users/{id}/sessions/{sid}/end", web::post().to(end_one))
        .route("/users/{id}/consents/{application_id}/revoke", web::post().to(revoke));
}

/// What the user page shows of them.
pub(super) struct Access {
    pub sessions: Vec<SessionView>,
    pub consents: Vec<ConsentView>,
}

pub(super) fn load(store: &Store, policy: sessions::BrowserSessionPolicy, id: &UserId) -> Result<Access, ConsoleError> {
    Ok(Access { sessions: sessions::sessions_of(store, policy, id)?, consents: sessions::consents_of(store, id)? })
}

pub(super) fn panels(base: &str, access: &Access) -> [Panel; 2] {
    let mut table = Table::new(&["Signed in", "Last seen", "Device", "Address", "How", ""], "Not signed in anywhere.");
    for s in &access.sessions {
        table.rows.push(vec![
            Cell::text(s.auth_time.map(time).unwrap_or_default()).nowrap(),
            Cell::text(time(s.last_seen_at)).nowrap(),
            Cell::text(s.user_agent.clone().unwrap_or_else(|| "unknown".into())).clipped(),
            Cell::text(s.client_ip.clone().unwrap_or_default()).nowrap(),
            Cell::text(s.amr.join(", ")),
            Cell::form(Form::danger(format!("{base}/sessions/{}/end", s.sid), "End", "End this session?").inline()),
        ]);
    }
    let mut sessions = Panel::new("Sessions")
        .anchor("sessions")
        .intro("Ending a session signs the user out of that browser and revokes the tokens issued in it (those with offline_access stay).")
        .table(table);
    if !access.sessions.is_empty() {
        sessions.form =
            Some(Form::danger(format!("{base}/sessions/end"), "End every session", "Sign this user out everywhere?"));
    }
    let mut table = Table::new(&["Application", "Scopes allowed", "Since", ""], "No consents.");
    for c in &access.consents {
        table.rows.push(vec![
            Cell::link(&c.application_name, href(&format!("applications/{}", c.application_id))).titled(&c.client_id),
            Cell::mono(&c.scope),
            Cell::text(time(c.created_at)).nowrap(),
            Cell::form(
                Form::danger(
                    format!("{base}/consents/{}/revoke", c.application_id),
                    "Revoke",
                    format!("Revoke the consent to {} and every token it holds for this user?", c.application_name),
                )
                .inline(),
            ),
        ]);
    }
    let consents = Panel::new("Consents")
        .anchor("consents")
        .intro("Revoking a consent revokes every token the application holds for this user; it asks again next time.")
        .table(table);
    [sessions, consents]
}

fn back(id: &UserId, notice: &str) -> HttpResponse {
    see_other(&format!("{}?notice={notice}", href(&format!("users/{id}"))))
}

async fn end_one(
    admin: Admin,
    store: web::Data<Store>,
    wake: Option<web::Data<OutboxWake>>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    admin.form(&body)?;
    let (id, sid) = path.into_inner();
    let id = UserId::from(id);
    let (who, target) = (admin.clone(), id.clone());
    blocking(move || Ok(sessions::end_one(&store, &who, &target, &sid)?)).await?;
    wake_outbox(wake.as_ref());
    Ok(back(&id, "session_ended"))
}

async fn end_all(
    admin: Admin,
    store: web::Data<Store>,
    wake: Option<web::Data<OutboxWake>>,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    admin.form(&body)?;
    let id = UserId::from(id.into_inner());
    let (who, target) = (admin.clone(), id.clone());
    blocking(move || Ok(sessions::end_all(&store, &who, &target)?)).await?;
    wake_outbox(wake.as_ref());
    Ok(back(&id, "sessions_ended"))
}

async fn revoke(
    admin: Admin,
    store: web::Data<Store>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    admin.form(&body)?;
    let (id, application) = path.into_inner();
    let (id, application) = (UserId::from(id), ApplicationId::from(application));
    let (who, target) = (admin.clone(), id.clone());
    blocking(move || Ok(sessions::revoke(&store, &who, &target, &application)?)).await?;
    Ok(back(&id, "consent_revoked"))
}
