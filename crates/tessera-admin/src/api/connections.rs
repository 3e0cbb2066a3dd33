//! `/api/v1/connections`: API connections (resource servers). The name is the audience
//! of the tokens and never changes; the API scope of the same name is created with the
//! connection; its secret is generated here, returned once, stored as its SHA-256.

use actix_web::{HttpResponse, web};
use serde::Serialize;
use serde_json::{Value, json};
use tessera_domain::ConnectionId;
use tessera_store::connections::{self, ApiConnection};
use tessera_store::scopes::{self, Scope};
use tessera_store::{Store, StoreError};
use tessera_tokens::{Secret, generate_secret};
use utoipa::ToSchema;

use super::auth::Caller;
use super::body::{self, PageQuery, RotateSecret, blocking, page_schema};
use super::changes::{self, Actor};
use super::error::ApiError;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/connections", web::get().to(list))
        .route("/connections", web::post().to(create))
        .route("/connections/{id}", web::get().to(get))
        .route("/connections/{id}", web::put().to(update))
        .route("/connections/{id}", web::delete().to(delete))
        .route("/connections/{id}/scopes", web::get().to(list_scopes))
        .route("/connections/{id}/scopes", web::post().to(add_scope))
        .route("/connections/{id}/scopes/{name}", web::put().to(update_scope))
        .route("/connections/{id}/scopes/{name}", web::delete().to(delete_scope))
        .route("/connections/{id}/secret", web::post().to(rotate_secret))
        .route("/connections/{id}/protected-resource-metadata", web::get().to(protected_resource_metadata));
}

/// The inputs are the domain's one settings model for connections.
pub use tessera_domain::{ApiScopeBody, ApiScopeUpdate, ConnectionUpdate, NewConnectionInput};

#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectionView {
    id: String,
    name: String,
    display_name: String,
    description: String,
    access_token_format: Option<String>,
    /// RFC 8707 / RFC 9728: the resource identifier clients may send as `resource`.
    resource_uri: Option<String>,
    /// The level (`1fa`, `2fa`, `phr`) tokens carrying this connection's scopes need,
    /// unless a scope has its own (docs/authentication.md); null: none.
    required_acr: Option<String>,
    /// How recent (seconds since `auth_time`) that authentication must be; null: any.
    required_max_age: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

/// The answer to create and rotation: `secret` is shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectionWithSecret {
    #[serde(flatten)]
    connection: ConnectionView,
    secret: String,
    /// When the previous secrets stop working (rotation only).
    previous_secrets_expire_at: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApiScopeView {
    name: String,
    display_name: String,
    description: String,
    /// The scope named after its connection, removed only with it.
    primary: bool,
    /// The scope's own required level (`1fa`, `2fa`, `phr`); null: its connection's.
    required_acr: Option<String>,
    /// The scope's own required recency in seconds; null: none of its own.
    required_max_age: Option<i64>,
    /// What tokens carrying the scope need, its own or else its connection's
    /// (`{"acr": "phr", "max_age": 300}`); null: nothing.
    #[schema(value_type = Option<Object>)]
    effective_requirement: Option<tessera_domain::Requirement>,
}

page_schema!(ConnectionPage, ConnectionView);
page_schema!(ApiScopePage, ApiScopeView);

pub fn view(c: ApiConnection) -> ConnectionView {
    ConnectionView {
        id: c.id.into_string(),
        name: c.name,
        display_name: c.display_name,
        description: c.description,
        access_token_format: c.access_token_format.map(|f| f.as_str().to_owned()),
        resource_uri: c.resource_uri,
        required_acr: c.requirement.map(|r| r.acr.as_str().to_owned()),
        required_max_age: c.requirement.and_then(|r| r.max_age),
        created_at: c.created_at,
        updated_at: c.updated_at,
    }
}

/// An API scope with its requirement; `inherited` is its connection's requirement.
pub(crate) fn scope_view(s: Scope, inherited: Option<tessera_domain::Requirement>) -> ApiScopeView {
    let primary = s.connection.as_ref().is_some_and(|(_, name)| *name == s.name);
    ApiScopeView {
        required_acr: s.requirement.map(|r| r.acr.as_str().to_owned()),
        required_max_age: s.requirement.and_then(|r| r.max_age),
        effective_requirement: s.requirement.or(inherited),
        name: s.name,
        display_name: s.display_name,
        description: s.description,
        primary,
    }
}

fn summary(c: &ApiConnection) -> Value {
    json!({ "name": c.name, "display_name": c.display_name, "description": c.description,
            "access_token_format": c.access_token_format.map(|f| f.as_str()), "resource_uri": c.resource_uri,
            "requirement": c.requirement })
}

#[utoipa::path(get, path = "/api/v1/connections", tag = "connections", params(PageQuery),
    responses((status = 200, body = ConnectionPage)))]
pub async fn list(
    store: web::Data<Store>,
    _caller: Caller,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = query.page()?;
    let paged = blocking(move || Ok(store.read_transaction(|c| connections::list(c, &page))?)).await?;
    Ok(HttpResponse::Ok().json(body::PageOf::of(paged, view)))
}

#[utoipa::path(post, path = "/api/v1/connections", tag = "connections", request_body = NewConnectionInput,
    responses((status = 201, body = ConnectionWithSecret), (status = 409, body = super::ErrorBody)))]
pub async fn create(store: web::Data<Store>, caller: Caller, bytes: web::Bytes) -> Result<HttpResponse, ApiError> {
    let input: NewConnectionInput = body::parse(&bytes)?;
    let (created, secret) = blocking(move || create_connection(&store, &caller, input)).await?;
    Ok(HttpResponse::Created().json(ConnectionWithSecret {
        connection: view(created),
        secret: secret.expose().to_owned(),
        previous_secrets_expire_at: None,
    }))
}

/// Creates a connection and the API scope of the same name; its secret is returned
/// this once. Shared by the API and the console.
pub fn create_connection(
    store: &Store,
    who: &dyn Actor,
    input: NewConnectionInput,
) -> Result<(ApiConnection, Secret), ApiError> {
    let new = input.into_new()?;
    let secret = generate_secret();
    let hash = secret.hash();
    let now = super::now();
    let created = store.write_transaction(|c| {
        let created = connections::create(c, &new, hash.as_str(), now)?;
        let mut summary = summary(&created);
        summary["secret_issued"] = json!(true);
        changes::record(c, who, "connection.create", &format!("connection:{}", created.name), summary, now)?;
        Ok(created)
    })?;
    Ok((created, secret))
}

#[utoipa::path(get, path = "/api/v1/connections/{id}", tag = "connections", params(("id" = String, Path)),
    responses((status = 200, body = ConnectionView), (status = 404, body = super::ErrorBody)))]
pub async fn get(store: web::Data<Store>, _caller: Caller, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = ConnectionId::from(id.into_inner());
    let found = blocking(move || Ok(store.read_transaction(|c| connections::get(c, &id))?)).await?;
    Ok(HttpResponse::Ok().json(view(found)))
}

#[utoipa::path(put, path = "/api/v1/connections/{id}", tag = "connections", params(("id" = String, Path)),
    request_body = ConnectionUpdate,
    responses((status = 200, body = ConnectionView), (status = 404, body = super::ErrorBody)))]
pub async fn update(
    store: web::Data<Store>,
    caller: Caller,
    id: web::Path<String>,
    bytes: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let id = ConnectionId::from(id.into_inner());
    let input: ConnectionUpdate = body::parse(&bytes)?;
    let updated = blocking(move || update_connection(&store, &caller, &id, input)).await?;
    Ok(HttpResponse::Ok().json(view(updated)))
}

/// Changes a connection's display name, description, token format, resource URI and
/// requirement (never its name).
pub fn update_connection(
    store: &Store,
    who: &dyn Actor,
    id: &ConnectionId,
    input: ConnectionUpdate,
) -> Result<ApiConnection, ApiError> {
    let settings = input.into_settings()?;
    let now = super::now();
    Ok(store.write_transaction(|c| {
        let before = connections::get(c, id)?;
        let after = connections::update(c, id, &settings, now)?;
        let summary = json!({ "before": summary(&before), "after": summary(&after) });
        changes::record(c, who, "connection.update", &format!("connection:{}", after.name), summary, now)?;
        Ok(after)
    })?)
}

#[utoipa::path(get, path = "/api/v1/connections/{id}/protected-resource-metadata", tag = "connections",
    params(("id" = String, Path)),
    responses((status = 200, description = "The RFC 9728 §2 protected-resource metadata document of the connection, \
        for its resource server to serve at its /.well-known/oauth-protected-resource URL", body = Object),
        (status = 404, body = super::ErrorBody)))]
pub async fn protected_resource_metadata(
    store: web::Data<Store>,
    signing: web::Data<super::TokenSigning>,
    _caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = ConnectionId::from(id.into_inner());
    let document = blocking(move || metadata_document(&store, &signing.issuer, &id)).await?;
    Ok(HttpResponse::Ok().insert_header((actix_web::http::header::CACHE_CONTROL, "no-cache")).json(document))
}

/// RFC 9728 §2: the metadata document of connection `id` (`tessera_domain::protected_resource`):
/// 404 when the connection has no resource URI to publish it under. Shared by the API and
/// the console.
pub fn metadata_document(store: &Store, issuer: &str, id: &ConnectionId) -> Result<Value, ApiError> {
    let (connection, scopes) =
        store.read_transaction(|c| Ok((connections::get(c, id)?, scopes::scopes_of_connection(c, id)?)))?;
    let Some(raw) = connection.resource_uri.as_deref() else {
        return Err(ApiError::not_found(
            "the connection has no resource_uri: set one to give its resource server a metadata document",
        ));
    };
    let resource = tessera_domain::ResourceUri::parse(raw).map_err(|_| ApiError::internal())?;
    let scopes: Vec<String> = scopes.into_iter().map(|s| s.name).collect();
    Ok(tessera_domain::protected_resource::metadata(&tessera_domain::ResourceFacts {
        resource: &resource,
        name: &connection.display_name,
        issuer,
        scopes: &scopes,
        dpop_algorithms: tessera_tokens::dpop::ALGORITHMS,
    }))
}

#[utoipa::path(delete, path = "/api/v1/connections/{id}", tag = "connections", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = super::ErrorBody)))]
pub async fn delete(store: web::Data<Store>, caller: Caller, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = ConnectionId::from(id.into_inner());
    blocking(move || delete_connection(&store, &caller, &id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Deletes a connection with its API scopes.
pub fn delete_connection(store: &Store, who: &dyn Actor, id: &ConnectionId) -> Result<(), ApiError> {
    let now = super::now();
    Ok(store.write_transaction(|c| {
        let found = connections::get(c, id)?;
        connections::delete(c, id)?;
        changes::record(c, who, "connection.delete", &format!("connection:{}", found.name), summary(&found), now)
    })?)
}

#[utoipa::path(get, path = "/api/v1/connections/{id}/scopes", tag = "connections", params(("id" = String, Path)),
    responses((status = 200, body = ApiScopePage), (status = 404, body = super::ErrorBody)))]
pub async fn list_scopes(
    store: web::Data<Store>,
    _caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = ConnectionId::from(id.into_inner());
    let (connection, found) = blocking(move || {
        Ok(store.read_transaction(|c| Ok((connections::get(c, &id)?, scopes::scopes_of_connection(c, &id)?)))?)
    })
    .await?;
    let items = found.into_iter().map(|s| scope_view(s, connection.requirement)).collect();
    Ok(HttpResponse::Ok().json(body::PageOf { items, next: None }))
}

#[utoipa::path(post, path = "/api/v1/connections/{id}/scopes", tag = "connections", params(("id" = String, Path)),
    request_body = ApiScopeBody,
    responses((status = 201, body = ApiScopeView), (status = 404, body = super::ErrorBody), (status = 409, body = super::ErrorBody)))]
pub async fn add_scope(
    store: web::Data<Store>,
    caller: Caller,
    id: web::Path<String>,
    bytes: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let id = ConnectionId::from(id.into_inner());
    let input: ApiScopeBody = body::parse(&bytes)?;
    let (created, inherited) = blocking(move || {
        let created = add_connection_scope(&store, &caller, &id, input)?;
        Ok((created, store.read_transaction(|c| connections::get(c, &id))?.requirement))
    })
    .await?;
    Ok(HttpResponse::Created().json(scope_view(created, inherited)))
}

/// Replaces an API scope's display name, description and requirement (the name never
/// changes).
#[utoipa::path(put, path = "/api/v1/connections/{id}/scopes/{name}", tag = "connections",
    params(("id" = String, Path), ("name" = String, Path)), request_body = ApiScopeUpdate,
    responses((status = 200, body = ApiScopeView), (status = 400, body = super::ErrorBody),
        (status = 404, body = super::ErrorBody)))]
pub async fn update_scope(
    store: web::Data<Store>,
    caller: Caller,
    path: web::Path<(String, String)>,
    bytes: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let (id, name) = path.into_inner();
    let id = ConnectionId::from(id);
    let input: ApiScopeUpdate = body::parse(&bytes)?;
    let (updated, inherited) = blocking(move || update_connection_scope(&store, &caller, &id, &name, input)).await?;
    Ok(HttpResponse::Ok().json(scope_view(updated, inherited)))
}

/// Replaces scope `name` of connection `id`'s settings; returns it with the connection's
/// requirement (what applies when the scope has none of its own). Shared by the API, the
/// console and the CLI.
pub fn update_connection_scope(
    store: &Store,
    who: &dyn Actor,
    id: &ConnectionId,
    name: &str,
    input: ApiScopeUpdate,
) -> Result<(Scope, Option<tessera_domain::Requirement>), ApiError> {
    let settings = input.into_settings(name)?;
    let now = super::now();
    Ok(store.write_transaction(|c| {
        let connection = connections::get(c, id)?;
        let before = scopes::get_scope(c, name)?;
        if before.connection.as_ref().map(|(owner, _)| owner) != Some(id) {
            return Err(StoreError::not_found("scope"));
        }
        let after = scopes::update_api_scope(c, name, &settings, now)?;
        let summary = json!({
            "scope": name,
            "before": { "display_name": before.display_name, "description": before.description,
                        "requirement": before.requirement },
            "after": { "display_name": after.display_name, "description": after.description,
                       "requirement": after.requirement },
        });
        changes::record(c, who, "connection.update_scope", &format!("connection:{}", connection.name), summary, now)?;
        Ok((after, connection.requirement))
    })?)
}

/// Adds an API scope to connection `id`.
pub fn add_connection_scope(
    store: &Store,
    who: &dyn Actor,
    id: &ConnectionId,
    input: ApiScopeBody,
) -> Result<Scope, ApiError> {
    let scope = input.into_new()?;
    let now = super::now();
    Ok(store.write_transaction(|c| {
        let connection = connections::get(c, id)?;
        let created = scopes::create_api_scope(c, id, &scope, now).map_err(|e| match e {
            StoreError::Conflict { .. } => StoreError::Conflict { field: "name".into() },
            other => other,
        })?;
        let summary =
            json!({ "scope": created.name, "display_name": created.display_name, "requirement": created.requirement });
        changes::record(c, who, "connection.add_scope", &format!("connection:{}", connection.name), summary, now)?;
        Ok(created)
    })?)
}

/// Deletes an extra API scope; the scope named after the connection goes only with it.
#[utoipa::path(delete, path = "/api/v1/connections/{id}/scopes/{name}", tag = "connections",
    params(("id" = String, Path), ("name" = String, Path)),
    responses((status = 204), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
pub async fn delete_scope(
    store: web::Data<Store>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, name) = path.into_inner();
    let id = ConnectionId::from(id);
    blocking(move || delete_connection_scope(&store, &caller, &id, &name)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Deletes scope `name` of connection `id`, unless it is the connection's own scope.
pub fn delete_connection_scope(store: &Store, who: &dyn Actor, id: &ConnectionId, name: &str) -> Result<(), ApiError> {
    let now = super::now();
    let (connection, scope) =
        store.read_transaction(|c| Ok((connections::get(c, id)?, scopes::get_scope(c, name)?)))?;
    if scope.connection.as_ref().map(|(owner, _)| owner) != Some(id) {
        return Err(ApiError::not_found(format!("the connection has no scope named {name}")));
    }
    if scope.name == connection.name {
        return Err(ApiError::forbidden(
            Some("name"),
            format!("{name} is the scope of the connection of the same name; delete the connection instead"),
        ));
    }
    Ok(store.write_transaction(|c| {
        scopes::delete_scope(c, name)?;
        let summary = json!({ "scope": name });
        changes::record(c, who, "connection.delete_scope", &format!("connection:{}", connection.name), summary, now)
    })?)
}

/// Issues a new secret, shown once; the current ones stay valid for
/// `grace_period_seconds` (default 0) so the resource server can switch over.
#[utoipa::path(post, path = "/api/v1/connections/{id}/secret", tag = "connections", params(("id" = String, Path)),
    request_body(content = Option<RotateSecret>),
    responses((status = 200, body = ConnectionWithSecret), (status = 404, body = super::ErrorBody)))]
pub async fn rotate_secret(
    store: web::Data<Store>,
    caller: Caller,
    id: web::Path<String>,
    bytes: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let id = ConnectionId::from(id.into_inner());
    let grace = body::parse_optional::<RotateSecret>(&bytes)?.grace()?;
    let (found, secret, until) = blocking(move || rotate_connection_secret(&store, &caller, &id, grace)).await?;
    Ok(HttpResponse::Ok().json(ConnectionWithSecret {
        connection: view(found),
        secret: secret.expose().to_owned(),
        previous_secrets_expire_at: Some(until),
    }))
}

/// Issues a new secret for connection `id`; returns it with the end of the old ones.
pub fn rotate_connection_secret(
    store: &Store,
    who: &dyn Actor,
    id: &ConnectionId,
    grace: i64,
) -> Result<(ApiConnection, Secret, i64), ApiError> {
    let secret = generate_secret();
    let hash = secret.hash();
    let now = super::now();
    let until = now + grace;
    let found = store.write_transaction(|c| {
        let found = connections::get(c, id)?;
        connections::rotate_secret(c, id, hash.as_str(), until, now)?;
        let summary = json!({ "secret_issued": true, "grace_period_seconds": grace });
        changes::record(c, who, "connection.rotate_secret", &format!("connection:{}", found.name), summary, now)?;
        Ok(found)
    })?;
    Ok((found, secret, until))
}
