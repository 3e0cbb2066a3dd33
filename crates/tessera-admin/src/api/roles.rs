//! `/api/v1/roles`: the roles users hold (globally, `PUT /users/{id}/roles/{role_id}`, or
//! within an organization). Names follow `tessera_domain::RoleName`. The `tessera-admin`
//! role grants the management API itself: the store refuses to rename or delete it, and
//! that refusal answers 403 naming `name`, as a standard claim type does.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tessera_domain::RoleName;
use tessera_store::organizations::{self, Role};
use tessera_store::{Store, StoreError};
use utoipa::ToSchema;

use super::auth::Caller;
use super::body::{self, PageQuery, blocking, page_schema};
use super::changes::{self, Actor};
use super::error::ApiError;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/roles", web::get().to(list))
        .route("/roles", web::post().to(create))
        .route("/roles/{id}", web::get().to(get))
        .route("/roles/{id}", web::put().to(update))
        .route("/roles/{id}", web::delete().to(delete));
}

/// The body of `POST /roles` and `PUT /roles/{id}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleBody {
    #[schema(example = "support")]
    pub(crate) name: String,
    pub(crate) description: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RoleView {
    id: String,
    name: String,
    description: String,
    created_at: i64,
    updated_at: i64,
}

page_schema!(RolePage, RoleView);

fn view(r: Role) -> RoleView {
    RoleView { id: r.id, name: r.name, description: r.description, created_at: r.created_at, updated_at: r.updated_at }
}

/// A checked role: its name and description.
fn role(input: RoleBody) -> Result<(String, String), ApiError> {
    let name = RoleName::parse(&input.name).map_err(|e| ApiError::invalid("name", e.to_string()))?;
    Ok((name.into_string(), body::description("description", input.description)?))
}

/// The store refuses to rename or delete the `tessera-admin` role (`Invalid` on `name`;
/// names are checked before, so nothing else answers that): read-only, hence 403.
fn protect_admin_role(error: StoreError) -> ApiError {
    match error {
        StoreError::Invalid { field: Some(field), message } if field == "name" => {
            ApiError::forbidden(Some("name"), message)
        }
        other => other.into(),
    }
}

/// By id; the cursor is the last id.
#[utoipa::path(get, path = "/api/v1/roles", tag = "roles", params(PageQuery),
    responses((status = 200, body = RolePage)))]
pub async fn list(
    store: web::Data<Store>,
    _caller: Caller,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = query.page()?;
    let paged = blocking(move || Ok(store.read_transaction(|c| organizations::list_roles(c, &page))?)).await?;
    Ok(HttpResponse::Ok().json(body::PageOf::of(paged, view)))
}

#[utoipa::path(post, path = "/api/v1/roles", tag = "roles", request_body = RoleBody,
    responses((status = 201, body = RoleView), (status = 409, body = super::ErrorBody)))]
pub async fn create(store: web::Data<Store>, caller: Caller, bytes: web::Bytes) -> Result<HttpResponse, ApiError> {
    let input: RoleBody = body::parse(&bytes)?;
    let created = blocking(move || create_role(&store, &caller, input)).await?;
    Ok(HttpResponse::Created().json(view(created)))
}

/// Creates a role. Shared by the API and the console.
pub(crate) fn create_role(store: &Store, who: &dyn Actor, input: RoleBody) -> Result<Role, ApiError> {
    let (name, description) = role(input)?;
    let now = super::now();
    Ok(store.write_transaction(|c| {
        let created = organizations::create_role(c, &name, &description, now)?;
        let summary = json!({ "name": created.name, "description": created.description });
        changes::record(c, who, "role.create", &format!("role:{}", created.id), summary, now)?;
        Ok(created)
    })?)
}

#[utoipa::path(get, path = "/api/v1/roles/{id}", tag = "roles", params(("id" = String, Path)),
    responses((status = 200, body = RoleView), (status = 404, body = super::ErrorBody)))]
pub async fn get(store: web::Data<Store>, _caller: Caller, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let found = blocking(move || Ok(store.read_transaction(|c| organizations::get_role(c, &id))?)).await?;
    Ok(HttpResponse::Ok().json(view(found)))
}

/// Renames a role or changes its description (the `tessera-admin` role keeps its name).
#[utoipa::path(put, path = "/api/v1/roles/{id}", tag = "roles", params(("id" = String, Path)), request_body = RoleBody,
    responses((status = 200, body = RoleView), (status = 403, body = super::ErrorBody),
        (status = 404, body = super::ErrorBody), (status = 409, body = super::ErrorBody)))]
pub async fn update(
    store: web::Data<Store>,
    caller: Caller,
    id: web::Path<String>,
    bytes: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let input: RoleBody = body::parse(&bytes)?;
    let updated = blocking(move || update_role(&store, &caller, &id, input)).await?;
    Ok(HttpResponse::Ok().json(view(updated)))
}

/// Renames role `id` or changes its description.
pub(crate) fn update_role(store: &Store, who: &dyn Actor, id: &str, input: RoleBody) -> Result<Role, ApiError> {
    let (name, description) = role(input)?;
    let now = super::now();
    store
        .write_transaction(|c| {
            let before = organizations::get_role(c, id)?;
            let after = organizations::update_role(c, id, &name, &description, now)?;
            let summary = json!({
                "before": { "name": before.name, "description": before.description },
                "after": { "name": after.name, "description": after.description },
            });
            changes::record(c, who, "role.update", &format!("role:{id}"), summary, now)?;
            Ok(after)
        })
        .map_err(protect_admin_role)
}

/// Deletes a role; users and organization members holding it lose it.
#[utoipa::path(delete, path = "/api/v1/roles/{id}", tag = "roles", params(("id" = String, Path)),
    responses((status = 204), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
pub async fn delete(store: web::Data<Store>, caller: Caller, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    blocking(move || delete_role(&store, &caller, &id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Deletes role `id` (never `tessera-admin`).
pub(crate) fn delete_role(store: &Store, who: &dyn Actor, id: &str) -> Result<(), ApiError> {
    let now = super::now();
    store
        .write_transaction(|c| {
            let role = organizations::get_role(c, id)?;
            organizations::delete_role(c, id)?;
            changes::record(c, who, "role.delete", &format!("role:{id}"), json!({ "name": role.name }), now)
        })
        .map_err(protect_admin_role)
}
