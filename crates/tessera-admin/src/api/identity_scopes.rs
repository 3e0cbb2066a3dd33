//! `/api/v1/identity-scopes`: scopes that carry claims into ID tokens and userinfo (OIDC
//! Core §5.4). The standard ones (`openid`, `profile`, `email`, …) are read-only (403);
//! custom ones are created with their claims, updated and deleted here. API scopes live
//! under their connection (`/api/v1/connections/{id}/scopes`).

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tessera_domain::{ClaimName, DisplayName, ScopeName};
use tessera_store::Store;
use tessera_store::scopes::{self, IdentityScopeInput, Scope, ScopeKind};
use utoipa::ToSchema;

use super::auth::Caller;
use super::body::{self, PageQuery, blocking, page_schema};
use super::changes::{self, Actor};
use super::error::ApiError;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/identity-scopes", web::get().to(list))
        .route("/identity-scopes", web::post().to(create))
        .route("/identity-scopes/{name}", web::get().to(get))
        .route("/identity-scopes/{name}", web::put().to(update))
        .route("/identity-scopes/{name}", web::delete().to(delete));
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentityScopeBody {
    /// Create only (on update it must be absent or equal to the path's name).
    #[schema(example = "employee")]
    pub(crate) name: Option<String>,
    /// Default: the name.
    pub(crate) display_name: Option<String>,
    pub(crate) description: Option<String>,
    /// Listed in the discovery document's `scopes_supported` (default true).
    pub(crate) show_in_discovery: Option<bool>,
    /// The claim types the scope carries; each must exist.
    #[serde(default)]
    pub(crate) claims: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IdentityScopeView {
    name: String,
    display_name: String,
    description: String,
    show_in_discovery: bool,
    claims: Vec<String>,
    /// Standard scopes are read-only.
    standard: bool,
    created_at: i64,
    updated_at: i64,
}

page_schema!(IdentityScopePage, IdentityScopeView);

fn view(s: Scope) -> IdentityScopeView {
    IdentityScopeView {
        name: s.name,
        display_name: s.display_name,
        description: s.description,
        show_in_discovery: s.show_in_discovery,
        claims: s.claims,
        standard: s.standard,
        created_at: s.created_at,
        updated_at: s.updated_at,
    }
}

fn input(name: String, body: IdentityScopeBody) -> Result<IdentityScopeInput, ApiError> {
    let display_name = DisplayName::parse(body.display_name.as_deref().unwrap_or(&name))
        .map_err(|e| ApiError::invalid("display_name", e.to_string()))?
        .into_string();
    let mut claims = Vec::new();
    for (i, raw) in body.claims.iter().enumerate() {
        let claim = ClaimName::parse(raw).map_err(|e| ApiError::invalid(format!("claims[{i}]"), e.to_string()))?;
        claims.push(claim.as_str().to_owned());
    }
    Ok(IdentityScopeInput {
        name,
        display_name,
        description: body::description("description", body.description)?,
        show_in_discovery: body.show_in_discovery.unwrap_or(true),
        claims,
    })
}

/// The identity scope `name`, or 404 (an API scope of that name is not one).
pub(crate) fn find(conn: &mut tessera_store::AnyConnection, name: &str) -> tessera_store::StoreResult<Scope> {
    let scope = scopes::get_scope(conn, name)?;
    if scope.kind != ScopeKind::Identity {
        return Err(tessera_store::StoreError::not_found("identity scope"));
    }
    Ok(scope)
}

fn refuse_standard(scope: &Scope) -> Result<(), ApiError> {
    if scope.standard {
        return Err(ApiError::forbidden(
            Some("name"),
            format!("{} is a standard identity scope and is read-only", scope.name),
        ));
    }
    Ok(())
}

/// By name; the cursor is the last name.
#[utoipa::path(get, path = "/api/v1/identity-scopes", tag = "identity scopes", params(PageQuery),
    responses((status = 200, body = IdentityScopePage)))]
pub async fn list(
    store: web::Data<Store>,
    _caller: Caller,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = query.page()?;
    let all =
        blocking(move || Ok(store.read_transaction(|c| scopes::list_scopes(c, Some(ScopeKind::Identity)))?)).await?;
    let paged = body::page_in_memory(all, &page, |s| s.name.as_str());
    Ok(HttpResponse::Ok().json(body::PageOf::of(paged, view)))
}

#[utoipa::path(post, path = "/api/v1/identity-scopes", tag = "identity scopes", request_body = IdentityScopeBody,
    responses((status = 201, body = IdentityScopeView), (status = 409, body = super::ErrorBody)))]
pub async fn create(store: web::Data<Store>, caller: Caller, bytes: web::Bytes) -> Result<HttpResponse, ApiError> {
    let body: IdentityScopeBody = body::parse(&bytes)?;
    let created = blocking(move || create_identity_scope(&store, &caller, body)).await?;
    Ok(HttpResponse::Created().json(view(created)))
}

/// Creates a custom identity scope with its claims. Shared by the API and the console.
pub(crate) fn create_identity_scope(
    store: &Store,
    who: &dyn Actor,
    body: IdentityScopeBody,
) -> Result<Scope, ApiError> {
    let raw = body.name.clone().ok_or_else(|| ApiError::invalid("name", "missing field `name`"))?;
    let name = ScopeName::parse(&raw).map_err(|e| ApiError::invalid("name", e.to_string()))?.into_string();
    let scope = input(name, body)?;
    let now = super::now();
    Ok(store.write_transaction(|c| {
        let created = scopes::create_identity_scope(c, &scope, now)?;
        let summary = json!({ "display_name": created.display_name, "claims": created.claims });
        changes::record(c, who, "identity_scope.create", &format!("scope:{}", created.name), summary, now)?;
        Ok(created)
    })?)
}

#[utoipa::path(get, path = "/api/v1/identity-scopes/{name}", tag = "identity scopes", params(("name" = String, Path)),
    responses((status = 200, body = IdentityScopeView), (status = 404, body = super::ErrorBody)))]
pub async fn get(store: web::Data<Store>, _caller: Caller, name: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let name = name.into_inner();
    let found = blocking(move || Ok(store.read_transaction(|c| find(c, &name))?)).await?;
    Ok(HttpResponse::Ok().json(view(found)))
}

/// Replaces display name, description, discovery flag and claims of a custom scope.
#[utoipa::path(put, path = "/api/v1/identity-scopes/{name}", tag = "identity scopes", params(("name" = String, Path)),
    request_body = IdentityScopeBody,
    responses((status = 200, body = IdentityScopeView), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
pub async fn update(
    store: web::Data<Store>,
    caller: Caller,
    name: web::Path<String>,
    bytes: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let name = name.into_inner();
    let body: IdentityScopeBody = body::parse(&bytes)?;
    let updated = blocking(move || update_identity_scope(&store, &caller, name, body)).await?;
    Ok(HttpResponse::Ok().json(view(updated)))
}

/// Replaces a custom identity scope's settings; standard ones are read-only (403).
pub(crate) fn update_identity_scope(
    store: &Store,
    who: &dyn Actor,
    name: String,
    body: IdentityScopeBody,
) -> Result<Scope, ApiError> {
    if body.name.as_ref().is_some_and(|n| *n != name) {
        return Err(ApiError::invalid("name", "a scope's name cannot change; create another scope"));
    }
    let scope = input(name, body)?;
    let now = super::now();
    refuse_standard(&store.read_transaction(|c| find(c, &scope.name))?)?;
    Ok(store.write_transaction(|c| {
        let before = find(c, &scope.name)?;
        let after = scopes::update_identity_scope(c, &scope, now)?;
        let summary = json!({
            "before": { "display_name": before.display_name, "claims": before.claims, "show_in_discovery": before.show_in_discovery },
            "after": { "display_name": after.display_name, "claims": after.claims, "show_in_discovery": after.show_in_discovery },
        });
        changes::record(c, who, "identity_scope.update", &format!("scope:{}", after.name), summary, now)?;
        Ok(after)
    })?)
}

#[utoipa::path(delete, path = "/api/v1/identity-scopes/{name}", tag = "identity scopes", params(("name" = String, Path)),
    responses((status = 204), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
pub async fn delete(
    store: web::Data<Store>,
    caller: Caller,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let name = name.into_inner();
    blocking(move || delete_identity_scope(&store, &caller, &name)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Deletes custom identity scope `name`; standard ones are read-only (403).
pub(crate) fn delete_identity_scope(store: &Store, who: &dyn Actor, name: &str) -> Result<(), ApiError> {
    let now = super::now();
    refuse_standard(&store.read_transaction(|c| find(c, name))?)?;
    Ok(store.write_transaction(|c| {
        scopes::delete_scope(c, name)?;
        changes::record(c, who, "identity_scope.delete", &format!("scope:{name}"), json!({}), now)
    })?)
}
