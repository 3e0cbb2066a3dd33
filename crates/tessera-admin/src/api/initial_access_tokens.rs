//! `/api/v1/initial-access-tokens`: the bearer tokens (RFC 7591 §3) that let clients
//! register themselves at `/connect/register` when the server's `client_registration`
//! setting is `initial_access_token` (or `open`, where a token is optional). Each has an
//! expiry, a quota of registrations and a note; the token is 256 random bits, returned
//! once as `token` and stored as its SHA-256. Each registration spends one use
//! atomically; `DELETE` revokes a token (the clients it registered stay).

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tessera_store::Store;
use tessera_store::initial_access_tokens::{self, InitialAccessToken};
use tessera_tokens::{Secret, generate_secret};
use utoipa::ToSchema;

use super::auth::Caller;
use super::body::{self, PageQuery, blocking, page_schema};
use super::changes::{self, Actor};
use super::error::ApiError;

/// The longest an initial access token may live: one year.
pub const MAX_LIFETIME: i64 = 365 * 86_400;
/// The default lifetime: one day.
pub const DEFAULT_LIFETIME: i64 = 86_400;
/// The most registrations one token may allow.
pub const MAX_QUOTA: i64 = 100_000;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/initial-access-tokens", web::get().to(list))
        .route("/initial-access-tokens", web::post().to(create))
        .route("/initial-access-tokens/{id}", web::get().to(get))
        .route("/initial-access-tokens/{id}", web::delete().to(revoke));
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewInitialAccessToken {
    /// How many clients may register with the token (1 to 100000). Default 1.
    pub quota: Option<i64>,
    /// Seconds until the token expires (60 to 31536000). Default 86400 (one day).
    pub expires_in: Option<i64>,
    /// Free text for administrators: who got it, for what (at most 1000 characters).
    pub note: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InitialAccessTokenView {
    pub id: String,
    pub note: String,
    pub quota: i64,
    /// Registrations the token still allows.
    pub uses_left: i64,
    pub expires_at: i64,
    pub created_at: i64,
}

/// The answer to create: `token` is shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct InitialAccessTokenWithSecret {
    #[serde(flatten)]
    pub initial_access_token: InitialAccessTokenView,
    /// Send it as `Authorization: Bearer <token>` to `/connect/register`.
    pub token: String,
}

page_schema!(InitialAccessTokenPage, InitialAccessTokenView);

pub fn view(t: InitialAccessToken) -> InitialAccessTokenView {
    InitialAccessTokenView {
        id: t.id,
        note: t.note,
        quota: t.quota,
        uses_left: t.uses_left,
        expires_at: t.expires_at,
        created_at: t.created_at,
    }
}

#[utoipa::path(get, path = "/api/v1/initial-access-tokens", tag = "initial access tokens", params(PageQuery),
    responses((status = 200, body = InitialAccessTokenPage)))]
pub async fn list(
    store: web::Data<Store>,
    _caller: Caller,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = query.page()?;
    let paged = blocking(move || Ok(store.read_transaction(|c| initial_access_tokens::list(c, &page))?)).await?;
    Ok(HttpResponse::Ok().json(body::PageOf::of(paged, view)))
}

#[utoipa::path(post, path = "/api/v1/initial-access-tokens", tag = "initial access tokens",
    request_body = NewInitialAccessToken, responses((status = 201, body = InitialAccessTokenWithSecret)))]
pub async fn create(store: web::Data<Store>, caller: Caller, bytes: web::Bytes) -> Result<HttpResponse, ApiError> {
    let input: NewInitialAccessToken = body::parse_optional(&bytes)?;
    let (created, token) = blocking(move || issue(&store, &caller, input)).await?;
    Ok(HttpResponse::Created()
        .json(InitialAccessTokenWithSecret { initial_access_token: view(created), token: token.expose().to_owned() }))
}

/// Issues a token; it is returned this once. Shared by the API, the console and the CLI.
pub fn issue(
    store: &Store,
    who: &dyn Actor,
    input: NewInitialAccessToken,
) -> Result<(InitialAccessToken, Secret), ApiError> {
    let quota = input.quota.unwrap_or(1);
    if !(1..=MAX_QUOTA).contains(&quota) {
        return Err(ApiError::invalid("quota", format!("quota must be between 1 and {MAX_QUOTA}")));
    }
    let lifetime = input.expires_in.unwrap_or(DEFAULT_LIFETIME);
    if !(60..=MAX_LIFETIME).contains(&lifetime) {
        return Err(ApiError::invalid(
            "expires_in",
            format!("expires_in must be between 60 and {MAX_LIFETIME} seconds"),
        ));
    }
    let note = tessera_domain::check_description("note", input.note.as_deref())
        .map_err(|e| ApiError::invalid("note", e.message))?;
    let token = generate_secret();
    let now = super::now();
    let created = store.write_transaction(|c| {
        let created = initial_access_tokens::create(c, token.hash().as_str(), &note, quota, now + lifetime, now)?;
        let summary = json!({ "note": created.note, "quota": quota, "expires_at": created.expires_at });
        changes::record(
            c,
            who,
            "initial_access_token.create",
            &format!("initial_access_token:{}", created.id),
            summary,
            now,
        )?;
        Ok(created)
    })?;
    Ok((created, token))
}

#[utoipa::path(get, path = "/api/v1/initial-access-tokens/{id}", tag = "initial access tokens",
    params(("id" = String, Path)),
    responses((status = 200, body = InitialAccessTokenView), (status = 404, body = super::ErrorBody)))]
pub async fn get(store: web::Data<Store>, _caller: Caller, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let found = blocking(move || Ok(store.read_transaction(|c| initial_access_tokens::get(c, &id))?)).await?;
    Ok(HttpResponse::Ok().json(view(found)))
}

#[utoipa::path(delete, path = "/api/v1/initial-access-tokens/{id}", tag = "initial access tokens",
    params(("id" = String, Path)), responses((status = 204), (status = 404, body = super::ErrorBody)))]
pub async fn revoke(store: web::Data<Store>, caller: Caller, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    blocking(move || revoke_token(&store, &caller, &id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Revokes (deletes) token `id`. Shared by the API, the console and the CLI.
pub fn revoke_token(store: &Store, who: &dyn Actor, id: &str) -> Result<(), ApiError> {
    let now = super::now();
    Ok(store.write_transaction(|c| {
        let token = initial_access_tokens::get(c, id)?;
        initial_access_tokens::delete(c, id)?;
        let summary = json!({ "note": token.note, "uses_left": token.uses_left });
        changes::record(c, who, "initial_access_token.revoke", &format!("initial_access_token:{id}"), summary, now)
    })?)
}

/// Every token (the CLI's and the console's list).
pub fn all(store: &Store) -> Result<Vec<InitialAccessToken>, ApiError> {
    let mut out = Vec::new();
    let mut page = tessera_store::Page::first(tessera_store::Page::MAX_LIMIT);
    loop {
        let paged = store.read_transaction(|c| initial_access_tokens::list(c, &page))?;
        out.extend(paged.items);
        match paged.next {
            Some(after) => page.after = Some(after),
            None => return Ok(out),
        }
    }
}
