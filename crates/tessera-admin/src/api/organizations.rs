//! `/api/v1/organizations`: organizations and their members, each member holding roles
//! within the organization. Names follow `tessera_domain::OrganizationName`, display
//! names `tessera_domain::DisplayName`; metadata must be a JSON object.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tessera_domain::{DisplayName, OrganizationName, UserId};
use tessera_store::organizations::{self, Organization, Role};
use tessera_store::users;
use tessera_store::{AnyConnection, Store, StoreError, StoreResult};
use utoipa::ToSchema;

use super::auth::Caller;
use super::body::{self, PageQuery, blocking, page_schema};
use super::changes::{self, Actor};
use super::error::ApiError;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/organizations", web::get().to(list))
        .route("/organizations", web::post().to(create))
        .route("/organizations/{id}", web::get().to(get))
        .route("/organizations/{id}", web::put().to(replace))
        .route("/organizations/{id}", web::delete().to(delete))
        .route("/organizations/{id}/members", web::get().to(list_members))
        .route("/organizations/{id}/members/{user_id}", web::put().to(set_member))
        .route("/organizations/{id}/members/{user_id}", web::delete().to(remove_member));
}

/// The body of `POST /organizations` and `PUT /organizations/{id}` (which replaces every
/// setting: omitted ones take their defaults).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrganizationBody {
    #[schema(example = "acme")]
    pub(crate) name: String,
    /// Default: the name.
    #[schema(example = "Acme Corp.")]
    pub(crate) display_name: Option<String>,
    /// Default: `{}`.
    #[schema(value_type = Option<Object>)]
    pub(crate) metadata: Option<Value>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrganizationView {
    id: String,
    name: String,
    display_name: String,
    #[schema(value_type = Object)]
    metadata: Value,
    created_at: i64,
    updated_at: i64,
}

/// The body of `PUT /organizations/{id}/members/{user_id}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MembershipBody {
    /// Every role the member holds within the organization (the previous ones are
    /// replaced); `[]` for none.
    role_ids: Vec<String>,
}

/// A member of an organization with the roles held in it.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberView {
    pub(crate) user_id: String,
    pub(crate) roles: Vec<MemberRole>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberRole {
    pub(crate) id: String,
    pub(crate) name: String,
}

page_schema!(OrganizationPage, OrganizationView);
page_schema!(MemberPage, MemberView);

fn view(o: Organization) -> OrganizationView {
    OrganizationView {
        id: o.id,
        name: o.name,
        display_name: o.display_name,
        metadata: o.metadata,
        created_at: o.created_at,
        updated_at: o.updated_at,
    }
}

/// What the audit log keeps of an organization (metadata only as "changed").
fn summary(o: &Organization) -> Value {
    json!({ "name": o.name, "display_name": o.display_name })
}

/// A checked organization: name, display name and metadata.
struct Checked {
    name: String,
    display_name: String,
    metadata: Value,
}

fn checked(input: OrganizationBody) -> Result<Checked, ApiError> {
    let name = OrganizationName::parse(&input.name).map_err(|e| ApiError::invalid("name", e.to_string()))?;
    let display_name = DisplayName::parse(input.display_name.as_deref().unwrap_or(name.as_str()))
        .map_err(|e| ApiError::invalid("display_name", e.to_string()))?
        .into_string();
    let metadata = body::json_object("metadata", input.metadata.unwrap_or_else(|| json!({})))?;
    Ok(Checked { name: name.into_string(), display_name, metadata })
}

/// The member's roles within the organization (the user must be a member).
fn member(conn: &mut AnyConnection, organization_id: &str, user_id: &UserId) -> StoreResult<MemberView> {
    let roles: Vec<Role> = organizations::memberships_of_user(conn, user_id)?
        .into_iter()
        .find(|m| m.organization.id == organization_id)
        .ok_or(StoreError::not_found("membership"))?
        .roles;
    Ok(MemberView {
        user_id: user_id.as_str().to_owned(),
        roles: roles.into_iter().map(|r| MemberRole { id: r.id, name: r.name }).collect(),
    })
}

/// By id; the cursor is the last id.
#[utoipa::path(get, path = "/api/v1/organizations", tag = "organizations", params(PageQuery),
    responses((status = 200, body = OrganizationPage)))]
pub async fn list(
    store: web::Data<Store>,
    _caller: Caller,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = query.page()?;
    let paged = blocking(move || Ok(store.read_transaction(|c| organizations::list_organizations(c, &page))?)).await?;
    Ok(HttpResponse::Ok().json(body::PageOf::of(paged, view)))
}

#[utoipa::path(post, path = "/api/v1/organizations", tag = "organizations", request_body = OrganizationBody,
    responses((status = 201, body = OrganizationView), (status = 409, body = super::ErrorBody)))]
pub async fn create(store: web::Data<Store>, caller: Caller, bytes: web::Bytes) -> Result<HttpResponse, ApiError> {
    let input: OrganizationBody = body::parse(&bytes)?;
    let created = blocking(move || create_organization(&store, &caller, input)).await?;
    Ok(HttpResponse::Created().json(view(created)))
}

/// Creates an organization. Shared by the API and the console.
pub(crate) fn create_organization(
    store: &Store,
    who: &dyn Actor,
    input: OrganizationBody,
) -> Result<Organization, ApiError> {
    let org = checked(input)?;
    let now = super::now();
    Ok(store.write_transaction(|c| {
        let created = organizations::create_organization(c, &org.name, &org.display_name, &org.metadata, now)?;
        let target = format!("organization:{}", created.id);
        changes::record(c, who, "organization.create", &target, summary(&created), now)?;
        Ok(created)
    })?)
}

#[utoipa::path(get, path = "/api/v1/organizations/{id}", tag = "organizations", params(("id" = String, Path)),
    responses((status = 200, body = OrganizationView), (status = 404, body = super::ErrorBody)))]
pub async fn get(store: web::Data<Store>, _caller: Caller, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let found = blocking(move || Ok(store.read_transaction(|c| organizations::get_organization(c, &id))?)).await?;
    Ok(HttpResponse::Ok().json(view(found)))
}

#[utoipa::path(put, path = "/api/v1/organizations/{id}", tag = "organizations", params(("id" = String, Path)),
    request_body = OrganizationBody,
    responses((status = 200, body = OrganizationView), (status = 404, body = super::ErrorBody),
        (status = 409, body = super::ErrorBody)))]
pub async fn replace(
    store: web::Data<Store>,
    caller: Caller,
    id: web::Path<String>,
    bytes: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let input: OrganizationBody = body::parse(&bytes)?;
    let updated = blocking(move || replace_organization(&store, &caller, &id, input)).await?;
    Ok(HttpResponse::Ok().json(view(updated)))
}

/// Replaces organization `id`'s name, display name and metadata.
pub(crate) fn replace_organization(
    store: &Store,
    who: &dyn Actor,
    id: &str,
    input: OrganizationBody,
) -> Result<Organization, ApiError> {
    let org = checked(input)?;
    let now = super::now();
    Ok(store.write_transaction(|c| {
        let before = organizations::get_organization(c, id)?;
        let after = organizations::update_organization(c, id, &org.name, &org.display_name, &org.metadata, now)?;
        let summary = json!({
            "before": summary(&before),
            "after": summary(&after),
            "metadata_changed": before.metadata != after.metadata,
        });
        changes::record(c, who, "organization.update", &format!("organization:{id}"), summary, now)?;
        Ok(after)
    })?)
}

/// Deletes an organization with its memberships (the users stay).
#[utoipa::path(delete, path = "/api/v1/organizations/{id}", tag = "organizations", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = super::ErrorBody)))]
pub async fn delete(store: web::Data<Store>, caller: Caller, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    blocking(move || delete_organization(&store, &caller, &id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Deletes organization `id`.
pub(crate) fn delete_organization(store: &Store, who: &dyn Actor, id: &str) -> Result<(), ApiError> {
    let now = super::now();
    Ok(store.write_transaction(|c| {
        let org = organizations::get_organization(c, id)?;
        organizations::delete_organization(c, id)?;
        changes::record(c, who, "organization.delete", &format!("organization:{id}"), summary(&org), now)
    })?)
}

/// The members in the order they joined, each with their roles; the cursor is the last
/// user id.
#[utoipa::path(get, path = "/api/v1/organizations/{id}/members", tag = "organizations",
    params(("id" = String, Path), PageQuery),
    responses((status = 200, body = MemberPage), (status = 404, body = super::ErrorBody)))]
pub async fn list_members(
    store: web::Data<Store>,
    _caller: Caller,
    id: web::Path<String>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let page = query.page()?;
    let members = blocking(move || {
        Ok(store.read_transaction(|c| {
            organizations::get_organization(c, &id)?;
            let ids = body::page_in_memory(organizations::member_ids(c, &id)?, &page, UserId::as_str);
            let items = ids.items.iter().map(|user_id| member(c, &id, user_id)).collect::<StoreResult<Vec<_>>>()?;
            Ok(body::PageOf { items, next: ids.next })
        })?)
    })
    .await?;
    Ok(HttpResponse::Ok().json(members))
}

/// Makes the user a member holding exactly `role_ids` within the organization.
#[utoipa::path(put, path = "/api/v1/organizations/{id}/members/{user_id}", tag = "organizations",
    params(("id" = String, Path), ("user_id" = String, Path)), request_body = MembershipBody,
    responses((status = 200, body = MemberView), (status = 404, body = super::ErrorBody)))]
pub async fn set_member(
    store: web::Data<Store>,
    caller: Caller,
    path: web::Path<(String, String)>,
    bytes: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let (id, user_id) = path.into_inner();
    let input: MembershipBody = body::parse(&bytes)?;
    let updated =
        blocking(move || set_membership(&store, &caller, &id, &UserId::from(user_id), &input.role_ids)).await?;
    Ok(HttpResponse::Ok().json(updated))
}

/// Makes `user_id` a member of organization `id` holding exactly `role_ids` in it.
pub(crate) fn set_membership(
    store: &Store,
    who: &dyn Actor,
    id: &str,
    user_id: &UserId,
    role_ids: &[String],
) -> Result<MemberView, ApiError> {
    let now = super::now();
    Ok(store.write_transaction(|c| {
        organizations::get_organization(c, id)?;
        users::get(c, user_id)?;
        let mut role_names = Vec::with_capacity(role_ids.len());
        for (i, role_id) in role_ids.iter().enumerate() {
            let role = organizations::get_role(c, role_id).map_err(|e| match e {
                StoreError::NotFound { .. } => {
                    StoreError::invalid(format!("role_ids[{i}]"), format!("no role with id {role_id}"))
                }
                other => other,
            })?;
            role_names.push(role.name);
        }
        organizations::set_membership(c, id, user_id, role_ids, now)?;
        role_names.sort();
        role_names.dedup();
        let summary = json!({ "user_id": user_id, "roles": role_names });
        changes::record(c, who, "organization.set_member", &format!("organization:{id}"), summary, now)?;
        member(c, id, user_id)
    })?)
}

/// Removes the user from the organization with the roles held in it.
#[utoipa::path(delete, path = "/api/v1/organizations/{id}/members/{user_id}", tag = "organizations",
    params(("id" = String, Path), ("user_id" = String, Path)),
    responses((status = 204), (status = 404, body = super::ErrorBody)))]
pub async fn remove_member(
    store: web::Data<Store>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, user_id) = path.into_inner();
    blocking(move || remove_membership(&store, &caller, &id, &UserId::from(user_id))).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Removes `user_id` from organization `id`.
pub(crate) fn remove_membership(store: &Store, who: &dyn Actor, id: &str, user_id: &UserId) -> Result<(), ApiError> {
    let now = super::now();
    Ok(store.write_transaction(|c| {
        organizations::get_organization(c, id)?;
        organizations::remove_membership(c, id, user_id)?;
        let summary = json!({ "user_id": user_id });
        changes::record(c, who, "organization.remove_member", &format!("organization:{id}"), summary, now)
    })?)
}
