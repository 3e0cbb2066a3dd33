//! `/api/v1/claim-types`: the claim types users have values for. Standard OIDC claims
//! (OIDC Core §5.1) are seeded and read-only (403); custom ones are created, updated and
//! deleted here. Whether users may set their own value on the account page
//! (`user_editable`, docs/accounts.md) is the one setting a standard claim type has too:
//! `PUT /api/v1/claim-types/{name}/user-editable`. Names follow `tessera_domain::ClaimName` (registered JWT claims such as
//! `sub` or `iss` are refused).

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tessera_domain::{ClaimName, ClaimValueType, DisplayName};
use tessera_store::Store;
use tessera_store::scopes::{self, ClaimType, ClaimTypeInput};
use utoipa::ToSchema;

use super::auth::Caller;
use super::body::{self, PageQuery, blocking, page_schema};
use super::changes::{self, Actor};
use super::error::ApiError;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/claim-types", web::get().to(list))
        .route("/claim-types", web::post().to(create))
        .route("/claim-types/{name}", web::get().to(get))
        .route("/claim-types/{name}", web::put().to(update))
        .route("/claim-types/{name}", web::delete().to(delete))
        .route("/claim-types/{name}/user-editable", web::put().to(put_user_editable));
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewClaimType {
    #[schema(example = "department")]
    pub(crate) name: String,
    /// Default: the name.
    pub(crate) display_name: Option<String>,
    pub(crate) description: Option<String>,
    /// `string`, `boolean`, `number`, `date`, `email`, `phone`, `url` or `json`.
    #[schema(example = "string")]
    pub(crate) value_type: String,
    /// Users may set their own value on the account page. Default false.
    #[serde(default)]
    pub(crate) user_editable: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClaimTypeUpdate {
    pub(crate) display_name: String,
    pub(crate) description: Option<String>,
    pub(crate) value_type: String,
    /// Users may set their own value on the account page. Default: unchanged.
    #[serde(default)]
    pub(crate) user_editable: Option<bool>,
}

/// Whether users may set their own value of a claim type on the account page.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserEditable {
    pub(crate) user_editable: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClaimTypeView {
    name: String,
    display_name: String,
    description: String,
    value_type: String,
    /// Standard claims are read-only (but for `user_editable`).
    standard: bool,
    /// Users may set their own value on the account page (`/account`).
    user_editable: bool,
    created_at: i64,
    updated_at: i64,
}

page_schema!(ClaimTypePage, ClaimTypeView);

fn view(t: ClaimType) -> ClaimTypeView {
    ClaimTypeView {
        name: t.name,
        display_name: t.display_name,
        description: t.description,
        value_type: t.value_type.as_str().to_owned(),
        standard: t.standard,
        user_editable: t.user_editable,
        created_at: t.created_at,
        updated_at: t.updated_at,
    }
}

fn value_type(raw: &str) -> Result<ClaimValueType, ApiError> {
    ClaimValueType::parse(raw).map_err(|e| ApiError::invalid("value_type", e.to_string()))
}

fn display_name(raw: &str) -> Result<String, ApiError> {
    Ok(DisplayName::parse(raw).map_err(|e| ApiError::invalid("display_name", e.to_string()))?.into_string())
}

/// Standard claim types are seeded by Tessera and read-only.
fn refuse_standard(t: &ClaimType) -> Result<(), ApiError> {
    if t.standard {
        return Err(ApiError::forbidden(Some("name"), format!("{} is a standard claim type and is read-only", t.name)));
    }
    Ok(())
}

/// Standard first, then by name; the cursor is the last name.
#[utoipa::path(get, path = "/api/v1/claim-types", tag = "claim types", params(PageQuery),
    responses((status = 200, body = ClaimTypePage)))]
pub async fn list(
    store: web::Data<Store>,
    _caller: Caller,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = query.page()?;
    let all = blocking(move || Ok(store.read_transaction(scopes::list_claim_types)?)).await?;
    let paged = body::page_in_memory(all, &page, |t| t.name.as_str());
    Ok(HttpResponse::Ok().json(body::PageOf::of(paged, view)))
}

#[utoipa::path(post, path = "/api/v1/claim-types", tag = "claim types", request_body = NewClaimType,
    responses((status = 201, body = ClaimTypeView), (status = 409, body = super::ErrorBody)))]
pub async fn create(store: web::Data<Store>, caller: Caller, bytes: web::Bytes) -> Result<HttpResponse, ApiError> {
    let input: NewClaimType = body::parse(&bytes)?;
    let created = blocking(move || create_claim_type(&store, &caller, input)).await?;
    Ok(HttpResponse::Created().json(view(created)))
}

/// Creates a custom claim type. Shared by the API and the console.
pub(crate) fn create_claim_type(store: &Store, who: &dyn Actor, input: NewClaimType) -> Result<ClaimType, ApiError> {
    let name = ClaimName::parse(&input.name).map_err(|e| ApiError::invalid("name", e.to_string()))?;
    // RFC 7519 §4.1 and the other registered claims are set by Tessera itself.
    tessera_domain::check_not_reserved(name.as_str()).map_err(|e| ApiError::invalid("name", e.to_string()))?;
    let claim = ClaimTypeInput {
        display_name: display_name(
            input.display_name.as_deref().filter(|d| !d.trim().is_empty()).unwrap_or(name.as_str()),
        )?,
        description: body::description("description", input.description)?,
        value_type: value_type(&input.value_type)?,
        user_editable: input.user_editable.unwrap_or(false),
        name: name.as_str().to_owned(),
    };
    let now = super::now();
    Ok(store.write_transaction(|c| {
        let created = scopes::create_claim_type(c, &claim, now)?;
        let summary = json!({
            "display_name": created.display_name,
            "value_type": created.value_type.as_str(),
            "user_editable": created.user_editable,
        });
        changes::record(c, who, "claim_type.create", &format!("claim_type:{}", created.name), summary, now)?;
        Ok(created)
    })?)
}

#[utoipa::path(get, path = "/api/v1/claim-types/{name}", tag = "claim types", params(("name" = String, Path)),
    responses((status = 200, body = ClaimTypeView), (status = 404, body = super::ErrorBody)))]
pub async fn get(store: web::Data<Store>, _caller: Caller, name: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let name = name.into_inner();
    let found = blocking(move || Ok(store.read_transaction(|c| scopes::get_claim_type(c, &name))?)).await?;
    Ok(HttpResponse::Ok().json(view(found)))
}

#[utoipa::path(put, path = "/api/v1/claim-types/{name}", tag = "claim types", params(("name" = String, Path)),
    request_body = ClaimTypeUpdate,
    responses((status = 200, body = ClaimTypeView), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
pub async fn update(
    store: web::Data<Store>,
    caller: Caller,
    name: web::Path<String>,
    bytes: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let name = name.into_inner();
    let input: ClaimTypeUpdate = body::parse(&bytes)?;
    let updated = blocking(move || update_claim_type(&store, &caller, name, input)).await?;
    Ok(HttpResponse::Ok().json(view(updated)))
}

/// Changes a custom claim type; standard ones are read-only (403).
pub(crate) fn update_claim_type(
    store: &Store,
    who: &dyn Actor,
    name: String,
    input: ClaimTypeUpdate,
) -> Result<ClaimType, ApiError> {
    let display = display_name(&input.display_name)?;
    let description = body::description("description", input.description)?;
    let value_type = value_type(&input.value_type)?;
    let now = super::now();
    refuse_standard(&store.read_transaction(|c| scopes::get_claim_type(c, &name))?)?;
    Ok(store.write_transaction(|c| {
        let before = scopes::get_claim_type(c, &name)?;
        let claim = ClaimTypeInput {
            name: name.clone(),
            display_name: display.clone(),
            description: description.clone(),
            value_type,
            user_editable: input.user_editable.unwrap_or(before.user_editable),
        };
        let after = scopes::update_claim_type(c, &claim, now)?;
        let summary = json!({
            "before": { "display_name": before.display_name, "description": before.description, "value_type": before.value_type.as_str(), "user_editable": before.user_editable },
            "after": { "display_name": after.display_name, "description": after.description, "value_type": after.value_type.as_str(), "user_editable": after.user_editable },
        });
        changes::record(c, who, "claim_type.update", &format!("claim_type:{}", after.name), summary, now)?;
        Ok(after)
    })?)
}

/// Deletes a custom claim type with its values and its place in scopes and applications.
#[utoipa::path(delete, path = "/api/v1/claim-types/{name}", tag = "claim types", params(("name" = String, Path)),
    responses((status = 204), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
pub async fn delete(
    store: web::Data<Store>,
    caller: Caller,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let name = name.into_inner();
    blocking(move || delete_claim_type(&store, &caller, &name)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Deletes custom claim type `name`; standard ones are read-only (403).
pub(crate) fn delete_claim_type(store: &Store, who: &dyn Actor, name: &str) -> Result<(), ApiError> {
    let now = super::now();
    refuse_standard(&store.read_transaction(|c| scopes::get_claim_type(c, name))?)?;
    Ok(store.write_transaction(|c| {
        scopes::delete_claim_type(c, name)?;
        changes::record(c, who, "claim_type.delete", &format!("claim_type:{name}"), json!({}), now)
    })?)
}

/// Lets users set their own value of the claim type on the account page, or stops them;
/// standard claim types too (their other fields stay read-only).
#[utoipa::path(put, path = "/api/v1/claim-types/{name}/user-editable", tag = "claim types",
    params(("name" = String, Path)), request_body = UserEditable,
    responses((status = 200, body = ClaimTypeView), (status = 404, body = super::ErrorBody)))]
pub async fn put_user_editable(
    store: web::Data<Store>,
    caller: Caller,
    name: web::Path<String>,
    bytes: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let name = name.into_inner();
    let input: UserEditable = body::parse(&bytes)?;
    let updated = blocking(move || set_user_editable(&store, &caller, &name, input.user_editable)).await?;
    Ok(HttpResponse::Ok().json(view(updated)))
}

/// Sets whether users may edit claim type `name` themselves. Shared by the API and the
/// console.
pub(crate) fn set_user_editable(
    store: &Store,
    who: &dyn Actor,
    name: &str,
    user_editable: bool,
) -> Result<ClaimType, ApiError> {
    let now = super::now();
    Ok(store.write_transaction(|c| {
        let before = scopes::get_claim_type(c, name)?;
        let after = scopes::set_claim_type_user_editable(c, name, user_editable, now)?;
        let summary = json!({
            "before": { "user_editable": before.user_editable },
            "after": { "user_editable": after.user_editable },
        });
        changes::record(c, who, "claim_type.update", &format!("claim_type:{name}"), summary, now)?;
        Ok(after)
    })?)
}
