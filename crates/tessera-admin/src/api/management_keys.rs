//! `/api/v1/management-keys`: the keys this API is called with. The id is public; the
//! secret is 256 random bits, returned once as `key` (`<id>.<secret>`) and stored as its
//! SHA-256. A key created through the API inherits its creator from the calling key (so
//! it stops working, like its parent, when that administrator loses the role), and is
//! derived from it (CWE-613: a derived credential never outlives its parent): it expires
//! no later than the calling key, and revoking a key revokes every key derived from it.
//! Every key has the same rights (the whole management API), so none can have more than
//! the key that made it.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tessera_domain::DisplayName;
use tessera_store::management_keys::{self, ManagementKey, NewManagementKey};
use tessera_store::{Store, new_id};
use tessera_tokens::{Secret, generate_secret};
use utoipa::ToSchema;

use super::auth::Caller;
use super::body::{self, PageQuery, blocking, page_schema};
use super::changes::{self, Actor};
use super::error::ApiError;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/management-keys", web::get().to(list))
        .route("/management-keys", web::post().to(create))
        .route("/management-keys/{id}", web::get().to(get))
        .route("/management-keys/{id}", web::delete().to(revoke));
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKeyBody {
    /// What the key is for (1 to 200 characters).
    #[schema(example = "deploy pipeline")]
    pub(crate) name: String,
    /// Unix time after which the key stops working; must be in the future. Default:
    /// never, or, for a key created with a key that expires, that key's expiry (a later
    /// one is refused).
    pub(crate) expires_at: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct KeyView {
    id: String,
    name: String,
    created_by: String,
    created_at: i64,
    expires_at: Option<i64>,
    last_used_at: Option<i64>,
    revoked_at: Option<i64>,
    /// The key this one was created with, if any.
    parent_id: Option<String>,
}

/// The answer to create: `key` is shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyWithSecret {
    #[serde(flatten)]
    management_key: KeyView,
    /// `<id>.<secret>`: send it as `Authorization: Bearer <key>`, or its two halves as
    /// `API_KEY_ID` and `API_SECRET_KEY`.
    key: String,
}

page_schema!(KeyPage, KeyView);

fn view(k: ManagementKey) -> KeyView {
    KeyView {
        id: k.id,
        name: k.name,
        created_by: k.created_by,
        created_at: k.created_at,
        expires_at: k.expires_at,
        last_used_at: k.last_used_at,
        revoked_at: k.revoked_at,
        parent_id: k.parent_id,
    }
}

#[utoipa::path(get, path = "/api/v1/management-keys", tag = "management keys", params(PageQuery),
    responses((status = 200, body = KeyPage)))]
pub async fn list(
    store: web::Data<Store>,
    _caller: Caller,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = query.page()?;
    let paged = blocking(move || Ok(store.read_transaction(|c| management_keys::list(c, &page))?)).await?;
    Ok(HttpResponse::Ok().json(body::PageOf::of(paged, view)))
}

#[utoipa::path(post, path = "/api/v1/management-keys", tag = "management keys", request_body = NewKeyBody,
    responses((status = 201, body = KeyWithSecret)))]
pub async fn create(store: web::Data<Store>, caller: Caller, bytes: web::Bytes) -> Result<HttpResponse, ApiError> {
    let input: NewKeyBody = body::parse(&bytes)?;
    let (created, secret) = blocking(move || create_key(&store, &caller, input)).await?;
    let key = format!("{}.{}", created.id, secret.expose());
    Ok(HttpResponse::Created().json(KeyWithSecret { management_key: view(created), key }))
}

/// Creates a key standing for `who`'s principal; its secret is returned this once.
pub(crate) fn create_key(
    store: &Store,
    who: &dyn Actor,
    input: NewKeyBody,
) -> Result<(ManagementKey, Secret), ApiError> {
    let name = DisplayName::parse(&input.name).map_err(|e| ApiError::invalid("name", e.to_string()))?.into_string();
    let now = super::now();
    if input.expires_at.is_some_and(|t| t <= now) {
        return Err(ApiError::invalid("expires_at", "expires_at must be in the future (unix seconds)"));
    }
    let parent = who.calling_key();
    let expires_at = match (parent.and_then(|(_, until)| until), input.expires_at) {
        (Some(limit), Some(asked)) if asked > limit => {
            return Err(ApiError::invalid(
                "expires_at",
                format!("a key cannot outlive the key that creates it: expires_at must be at most {limit}"),
            ));
        }
        (Some(limit), None) => Some(limit),
        (_, asked) => asked,
    };
    let secret = generate_secret();
    let new = NewManagementKey {
        id: new_id(),
        name,
        secret_hash: secret.hash().as_str().to_owned(),
        created_by: who.principal(),
        expires_at,
        parent_id: parent.map(|(id, _)| id.to_owned()),
    };
    let created = store.write_transaction(|c| {
        let key = management_keys::create(c, &new, now)?;
        let summary = json!({
            "name": key.name, "expires_at": key.expires_at, "parent_id": key.parent_id, "secret_issued": true,
        });
        changes::record(c, who, "management_key.create", &format!("management_key:{}", key.id), summary, now)?;
        Ok(key)
    })?;
    Ok((created, secret))
}

#[utoipa::path(get, path = "/api/v1/management-keys/{id}", tag = "management keys", params(("id" = String, Path)),
    responses((status = 200, body = KeyView), (status = 404, body = super::ErrorBody)))]
pub async fn get(store: web::Data<Store>, _caller: Caller, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let found = blocking(move || Ok(store.read_transaction(|c| management_keys::get(c, &id))?)).await?;
    Ok(HttpResponse::Ok().json(view(found)))
}

/// Revokes the key at once, with every key derived from it (revoking it again keeps the
/// first time). Revoked keys stay listed, for the record.
#[utoipa::path(delete, path = "/api/v1/management-keys/{id}", tag = "management keys", params(("id" = String, Path)),
    responses((status = 200, body = KeyView), (status = 404, body = super::ErrorBody)))]
pub async fn revoke(store: web::Data<Store>, caller: Caller, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let revoked = blocking(move || revoke_key(&store, &caller, &id)).await?;
    Ok(HttpResponse::Ok().json(view(revoked)))
}

/// Revokes key `id` at once.
pub(crate) fn revoke_key(store: &Store, who: &dyn Actor, id: &str) -> Result<ManagementKey, ApiError> {
    let now = super::now();
    Ok(store.write_transaction(|c| {
        management_keys::get(c, id)?;
        let (key, derived) = management_keys::revoke(c, id, now)?;
        changes::record(
            c,
            who,
            "management_key.revoke",
            &format!("management_key:{id}"),
            json!({ "name": key.name, "derived_keys_revoked": derived }),
            now,
        )?;
        Ok(key)
    })?)
}
