//! `/api/v1/users/{id}/sessions` and `/consents`: where a user is signed in and which
//! applications they allowed, and ending either. Ending a session revokes the grants that
//! end with it (as RP-initiated logout does: `offline_access` grants outlive it);
//! withdrawing a consent revokes everything the user granted that application. Both are
//! audited. The console's user page calls the same functions.

use actix_web::{HttpResponse, web};
use serde::Serialize;
use serde_json::json;
use tessera_domain::{ApplicationId, UserId};
use tessera_store::{Store, StoreError, browser_sessions, consents, users};
use utoipa::ToSchema;

use crate::api::auth::Caller;
use crate::api::body::blocking;
use crate::api::changes::{self, Actor};
use crate::api::error::ApiError;

/// How long a browser session lives without activity (the sign-in pages' setting): a
/// session idle for longer is over, and is not listed.
#[derive(Debug, Clone, Copy)]
pub struct BrowserSessionPolicy {
    pub idle_timeout: i64,
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/users/{id}/sessions", web::get().to(list_sessions))
        .route("/users/{id}/sessions", web::delete().to(end_sessions))
        .route("/users/{id}/sessions/{sid}", web::delete().to(end_session))
        .route("/users/{id}/consents", web::get().to(list_consents))
        .route("/users/{id}/consents/{application_id}", web::delete().to(revoke_consent));
}

/// A browser session of the sign-in pages. `sid` is the session's public id (the `sid`
/// claim of ID tokens), never its cookie.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    pub sid: String,
    /// When the user signed in (unix seconds).
    pub auth_time: Option<i64>,
    /// How (RFC 8176 values).
    pub amr: Vec<String>,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
    pub created_at: i64,
    pub last_seen_at: i64,
    /// The absolute timeout.
    pub expires_at: i64,
}

/// An application the user consented to, with the scopes allowed.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentView {
    pub application_id: String,
    pub client_id: String,
    pub application_name: String,
    /// Space-separated, sorted.
    pub scope: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What ending sessions did.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionsEnded {
    pub sessions: usize,
    /// Grants revoked with them, with their refresh and reference tokens.
    pub grants_revoked: usize,
}

/// The user's open sessions, newest first.
pub(crate) fn sessions_of(
    store: &Store,
    policy: BrowserSessionPolicy,
    id: &UserId,
) -> Result<Vec<SessionView>, ApiError> {
    let now = crate::api::now();
    let sessions = store.read_transaction(|c| {
        users::get(c, id)?;
        browser_sessions::list_active_of_user(c, id, policy.idle_timeout, now)
    })?;
    Ok(sessions
        .into_iter()
        .map(|s| SessionView {
            sid: s.sid,
            auth_time: s.auth_time,
            amr: s.amr,
            client_ip: s.client_ip,
            user_agent: s.user_agent,
            created_at: s.created_at,
            last_seen_at: s.last_seen_at,
            expires_at: s.expires_at,
        })
        .collect())
}

/// Ends the user's session `sid` and the grants that end with it.
pub(crate) fn end_one(store: &Store, who: &dyn Actor, id: &UserId, sid: &str) -> Result<usize, ApiError> {
    let now = crate::api::now();
    Ok(store.write_transaction(|c| {
        users::get(c, id)?;
        let revoked = browser_sessions::end_of_user(c, id, sid, now)?.ok_or(StoreError::not_found("session"))?;
        changes::record(
            c,
            who,
            "user.session_end",
            &format!("user:{id}"),
            json!({ "sid": sid, "grants_revoked": revoked }),
            now,
        )?;
        Ok(revoked)
    })?)
}

/// Ends every session of the user ("sign out everywhere").
pub(crate) fn end_all(store: &Store, who: &dyn Actor, id: &UserId) -> Result<SessionsEnded, ApiError> {
    let now = crate::api::now();
    Ok(store.write_transaction(|c| {
        users::get(c, id)?;
        let (sessions, grants_revoked) = browser_sessions::end_others_of_user(c, id, None, now)?;
        let summary = json!({ "sessions": sessions, "grants_revoked": grants_revoked });
        changes::record(c, who, "user.sessions_end", &format!("user:{id}"), summary, now)?;
        Ok(SessionsEnded { sessions, grants_revoked })
    })?)
}

/// The user's consents, by application name.
pub(crate) fn consents_of(store: &Store, id: &UserId) -> Result<Vec<ConsentView>, ApiError> {
    let listed = store.read_transaction(|c| {
        users::get(c, id)?;
        consents::list_of_user(c, id)
    })?;
    Ok(listed
        .into_iter()
        .map(|(consent, app)| ConsentView {
            application_id: app.id.to_string(),
            client_id: app.client_id.to_string(),
            application_name: app.name,
            scope: consent.scope,
            created_at: consent.created_at,
            updated_at: consent.updated_at,
        })
        .collect())
}

/// Withdraws the user's consent to an application and revokes what they granted it.
pub(crate) fn revoke(
    store: &Store,
    who: &dyn Actor,
    id: &UserId,
    application: &ApplicationId,
) -> Result<usize, ApiError> {
    let now = crate::api::now();
    Ok(store.write_transaction(|c| {
        users::get(c, id)?;
        let (consent, revoked) = consents::revoke(c, id, application, now)?.ok_or(StoreError::not_found("consent"))?;
        let summary = json!({ "application_id": application, "scope": consent.scope, "grants_revoked": revoked });
        changes::record(c, who, "user.consent_revoke", &format!("user:{id}"), summary, now)?;
        Ok(revoked)
    })?)
}

/// The user's open browser sessions, newest first.
#[utoipa::path(get, path = "/api/v1/users/{id}/sessions", tag = "users", params(("id" = String, Path)),
    responses((status = 200, body = Vec<SessionView>), (status = 404, body = super::super::ErrorBody)))]
pub async fn list_sessions(
    store: web::Data<Store>,
    policy: web::Data<BrowserSessionPolicy>,
    _caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = UserId::from(id.into_inner());
    let policy = **policy;
    let sessions = blocking(move || sessions_of(&store, policy, &id)).await?;
    Ok(HttpResponse::Ok().json(sessions))
}

/// Ends one session of the user, and the grants that end with it (not `offline_access`).
#[utoipa::path(delete, path = "/api/v1/users/{id}/sessions/{sid}", tag = "users",
    params(("id" = String, Path), ("sid" = String, Path, description = "the session's public id")),
    responses((status = 204), (status = 404, body = super::super::ErrorBody)))]
pub async fn end_session(
    store: web::Data<Store>,
    wake: Option<web::Data<changes::OutboxWake>>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, sid) = path.into_inner();
    let id = UserId::from(id);
    blocking(move || end_one(&store, &caller, &id, &sid)).await?;
    changes::wake_outbox(wake.as_ref());
    Ok(HttpResponse::NoContent().finish())
}

/// Ends every session of the user ("sign out everywhere").
#[utoipa::path(delete, path = "/api/v1/users/{id}/sessions", tag = "users", params(("id" = String, Path)),
    responses((status = 200, body = SessionsEnded), (status = 404, body = super::super::ErrorBody)))]
pub async fn end_sessions(
    store: web::Data<Store>,
    wake: Option<web::Data<changes::OutboxWake>>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = UserId::from(id.into_inner());
    let ended = blocking(move || end_all(&store, &caller, &id)).await?;
    changes::wake_outbox(wake.as_ref());
    Ok(HttpResponse::Ok().json(ended))
}

/// The applications the user consented to, with the scopes allowed.
#[utoipa::path(get, path = "/api/v1/users/{id}/consents", tag = "users", params(("id" = String, Path)),
    responses((status = 200, body = Vec<ConsentView>), (status = 404, body = super::super::ErrorBody)))]
pub async fn list_consents(
    store: web::Data<Store>,
    _caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = UserId::from(id.into_inner());
    let consents = blocking(move || consents_of(&store, &id)).await?;
    Ok(HttpResponse::Ok().json(consents))
}

/// Withdraws the user's consent to an application: the next authorization asks again, and
/// every grant the user gave that application is revoked (refresh and reference tokens
/// included, offline ones too).
#[utoipa::path(delete, path = "/api/v1/users/{id}/consents/{application_id}", tag = "users",
    params(("id" = String, Path), ("application_id" = String, Path)),
    responses((status = 204), (status = 404, body = super::super::ErrorBody)))]
pub async fn revoke_consent(
    store: web::Data<Store>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, application) = path.into_inner();
    let (id, application) = (UserId::from(id), ApplicationId::from(application));
    blocking(move || revoke(&store, &caller, &id, &application)).await?;
    Ok(HttpResponse::NoContent().finish())
}
