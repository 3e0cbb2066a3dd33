//! `/api/v1/users`: accounts, their claim values, passwords and roles. Usernames and
//! e-mail addresses follow `tessera_domain::{Username, Email}`; passwords the policy of
//! `tessera_auth::PasswordPolicy` (ASVS 5.0 V6.2: at least 8 characters, never truncated,
//! not common, breached or built from the user's own names) and are stored as argon2id; claim values are checked against their claim type
//! (`ClaimValueType::normalize_value`); metadata must be JSON objects.

use std::collections::BTreeMap;

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tessera_auth::PasswordPolicy;
use tessera_domain::{Email, Password, UserId, Username};
use tessera_store::grants;
use tessera_store::organizations;
use tessera_store::scopes;
use tessera_store::users::{self, NewUser, User, UserChanges};
use tessera_store::{Store, StoreError};
use tessera_tokens::PasswordHasher;
use utoipa::{IntoParams, ToSchema};

use super::auth::Caller;
use super::body::{self, blocking, page_schema};
use super::changes::{self, Actor};
use super::error::ApiError;

pub(crate) mod factors;
pub(crate) mod sessions;

pub fn routes(cfg: &mut web::ServiceConfig) {
    sessions::routes(cfg);
    factors::routes(cfg);
    cfg.route("/users", web::get().to(list))
        .route("/users", web::post().to(create))
        .route("/users/{id}", web::get().to(get))
        .route("/users/{id}", web::patch().to(update))
        .route("/users/{id}", web::delete().to(delete))
        .route("/users/{id}/claims", web::put().to(set_claims))
        .route("/users/{id}/password", web::put().to(set_password))
        .route("/users/{id}/roles/{role_id}", web::put().to(add_role))
        .route("/users/{id}/roles/{role_id}", web::delete().to(remove_role));
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UserQuery {
    /// Only users whose username or e-mail contains this text (case-insensitive).
    search: Option<String>,
    /// 1 to 500 (default 50).
    limit: Option<String>,
    /// The `next` cursor of the previous page.
    after: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUserBody {
    #[schema(example = "ada")]
    pub(crate) username: String,
    pub(crate) email: Option<String>,
    pub(crate) email_verified: Option<bool>,
    /// Optional: without one the user cannot sign in with a password.
    pub(crate) password: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub(crate) app_metadata: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub(crate) user_metadata: Option<Value>,
}

/// A partial update: absent fields stay as they are; `email: null` removes the address.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    pub(crate) username: Option<String>,
    #[serde(default, deserialize_with = "body::nullable")]
    #[schema(value_type = Option<String>)]
    pub(crate) email: Option<Option<String>>,
    pub(crate) email_verified: Option<bool>,
    pub(crate) disabled: Option<bool>,
    #[schema(value_type = Option<Object>)]
    pub(crate) app_metadata: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub(crate) user_metadata: Option<Value>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordBody {
    password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    id: String,
    username: String,
    email: Option<String>,
    email_verified: bool,
    /// Whether the user has a password (never the password or its hash).
    has_password: bool,
    disabled: bool,
    #[schema(value_type = Object)]
    app_metadata: Value,
    #[schema(value_type = Object)]
    user_metadata: Value,
    created_at: i64,
    updated_at: i64,
}

/// A user with claim values and roles.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserDetail {
    #[serde(flatten)]
    user: UserView,
    /// Claim values by claim name.
    #[schema(value_type = Object)]
    claims: BTreeMap<String, Value>,
    /// Role names.
    roles: Vec<RoleRef>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RoleRef {
    id: String,
    name: String,
}

page_schema!(UserPage, UserView);

fn view(u: User) -> UserView {
    UserView {
        has_password: u.password_hash.is_some(),
        id: u.id.into_string(),
        username: u.username,
        email: u.email,
        email_verified: u.email_verified,
        disabled: u.disabled,
        app_metadata: u.app_metadata,
        user_metadata: u.user_metadata,
        created_at: u.created_at,
        updated_at: u.updated_at,
    }
}

fn detail(conn: &mut tessera_store::AnyConnection, user: User) -> tessera_store::StoreResult<UserDetail> {
    let claims = users::claim_values(conn, &user)?;
    let roles = users::roles(conn, &user.id)?.into_iter().map(|r| RoleRef { id: r.id, name: r.name }).collect();
    Ok(UserDetail { user: view(user), claims, roles })
}

/// What the audit log keeps of a user (no password hash).
fn summary(u: &User) -> Value {
    json!({ "username": u.username, "email": u.email, "email_verified": u.email_verified, "disabled": u.disabled })
}

/// ASVS 5.0 V6.2: `raw` against the policy, with `about_user` (username, e-mail, names) as
/// words it must not be built from; a refusal is a 400 on the `password` field.
fn password(policy: &PasswordPolicy, raw: String, about_user: &[&str]) -> Result<Password, ApiError> {
    policy.check(raw, about_user).map_err(|e| ApiError::invalid("password", e.to_string()))
}

fn hash(hasher: &PasswordHasher, password: &Password) -> Result<String, ApiError> {
    hasher.hash(password.expose()).map_err(|e| {
        tracing::error!(error = %e, "password hashing failed");
        ApiError::internal()
    })
}

fn email(raw: &str) -> Result<String, ApiError> {
    Ok(Email::parse(raw).map_err(|e| ApiError::invalid("email", e.to_string()))?.into_string())
}

fn username(raw: &str) -> Result<String, ApiError> {
    Ok(Username::parse(raw).map_err(|e| ApiError::invalid("username", e.to_string()))?.into_string())
}

#[utoipa::path(get, path = "/api/v1/users", tag = "users", params(UserQuery),
    responses((status = 200, body = UserPage)))]
pub async fn list(
    store: web::Data<Store>,
    _caller: Caller,
    query: web::Query<UserQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let page = body::page(query.limit.as_deref(), query.after)?;
    let search = query.search;
    let paged = blocking(move || Ok(store.read_transaction(|c| users::list(c, search.as_deref(), &page))?)).await?;
    Ok(HttpResponse::Ok().json(body::PageOf::of(paged, view)))
}

#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = NewUserBody,
    responses((status = 201, body = UserDetail), (status = 409, body = super::ErrorBody)))]
pub async fn create(
    store: web::Data<Store>,
    hasher: web::Data<PasswordHasher>,
    policy: web::Data<PasswordPolicy>,
    mail: Option<web::Data<tessera_auth::AccountMail>>,
    caller: Caller,
    bytes: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let input: NewUserBody = body::parse(&bytes)?;
    let created = blocking(move || {
        let user = create_user(&store, &hasher, &policy, mail.as_ref().map(|m| m.get_ref()), &caller, input)?;
        Ok(store.read_transaction(|c| detail(c, user))?)
    })
    .await?;
    Ok(HttpResponse::Created().json(created))
}

/// Creates a user. Shared by the API and the console. An email address not marked
/// verified gets a verification link when `mail` can send one (docs/accounts.md).
pub(crate) fn create_user(
    store: &Store,
    hasher: &PasswordHasher,
    policy: &PasswordPolicy,
    mail: Option<&tessera_auth::AccountMail>,
    who: &dyn Actor,
    input: NewUserBody,
) -> Result<User, ApiError> {
    let username = username(&input.username)?;
    let email = input.email.as_deref().map(email).transpose()?;
    let about_user: Vec<&str> = std::iter::once(username.as_str()).chain(email.as_deref()).collect();
    let password = input.password.map(|p| password(policy, p, &about_user)).transpose()?;
    let app_metadata = input.app_metadata.map(|v| body::json_object("app_metadata", v)).transpose()?;
    let user_metadata = input.user_metadata.map(|v| body::json_object("user_metadata", v)).transpose()?;
    let now = super::now();
    let password_hash = password.as_ref().map(|p| hash(hasher, p)).transpose()?;
    let new = NewUser {
        username,
        email,
        email_verified: input.email_verified.unwrap_or(false),
        password_hash,
        app_metadata,
        user_metadata,
    };
    let created = store.write_transaction(|c| {
        let user = users::create(c, &new, now)?;
        let mut summary = summary(&user);
        summary["password_set"] = json!(new.password_hash.is_some());
        if let Some(mail) = mail.filter(|_| user.email.is_some() && !user.email_verified) {
            summary["verification_sent"] = json!(mail.send_verification(c, &user, now)? == tessera_auth::Sent::Queued);
        }
        changes::record(c, who, "user.create", &format!("user:{}", user.id), summary, now)?;
        Ok(user)
    })?;
    if let Some(mail) = mail {
        mail.wake();
    }
    Ok(created)
}

#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "users", params(("id" = String, Path)),
    responses((status = 200, body = UserDetail), (status = 404, body = super::ErrorBody)))]
pub async fn get(store: web::Data<Store>, _caller: Caller, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = UserId::from(id.into_inner());
    let found = blocking(move || {
        Ok(store.read_transaction(|c| {
            let user = users::get(c, &id)?;
            detail(c, user)
        })?)
    })
    .await?;
    Ok(HttpResponse::Ok().json(found))
}

#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "users", params(("id" = String, Path)), request_body = UserPatch,
    responses((status = 200, body = UserDetail), (status = 404, body = super::ErrorBody), (status = 409, body = super::ErrorBody)))]
pub async fn update(
    store: web::Data<Store>,
    mail: Option<web::Data<tessera_auth::AccountMail>>,
    wake: Option<web::Data<changes::OutboxWake>>,
    caller: Caller,
    id: web::Path<String>,
    bytes: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let id = UserId::from(id.into_inner());
    let patch: UserPatch = body::parse(&bytes)?;
    let updated = blocking(move || {
        let user = update_user(&store, mail.as_ref().map(|m| m.get_ref()), &caller, &id, patch)?;
        Ok(store.read_transaction(|c| detail(c, user))?)
    })
    .await?;
    changes::wake_outbox(wake.as_ref());
    Ok(HttpResponse::Ok().json(updated))
}

/// Changes the fields `patch` sets. Shared by the API and the console.
///
/// A new email address that the patch does not itself mark verified gets a
/// verification link when `mail` can send one (docs/accounts.md).
pub(crate) fn update_user(
    store: &Store,
    mail: Option<&tessera_auth::AccountMail>,
    who: &dyn Actor,
    id: &UserId,
    patch: UserPatch,
) -> Result<User, ApiError> {
    let changes = UserChanges {
        username: patch.username.as_deref().map(username).transpose()?,
        email: patch.email.map(|e| e.as_deref().map(email).transpose()).transpose()?,
        email_verified: patch.email_verified,
        disabled: patch.disabled,
        app_metadata: patch.app_metadata.map(|v| body::json_object("app_metadata", v)).transpose()?,
        user_metadata: patch.user_metadata.map(|v| body::json_object("user_metadata", v)).transpose()?,
    };
    let now = super::now();
    let updated = store.write_transaction(|c| {
        let before = users::get(c, id)?;
        let after = users::update(c, id, &changes, now)?;
        let mut summary = json!({ "before": summary(&before), "after": summary(&after) });
        if let Some(mail) = mail.filter(|_| after.email != before.email && !after.email_verified) {
            summary["verification_sent"] = json!(mail.send_verification(c, &after, now)? == tessera_auth::Sent::Queued);
        }
        // ASVS 5.0 V7.4.2: disabling an account ends its sessions and tokens at once;
        // enabling it again restores none of them.
        if after.disabled && !before.disabled {
            summary["access_ended"] = json!(grants::end_access_of_user(c, id, now)?);
        }
        if changes.app_metadata.is_some() {
            summary["app_metadata_changed"] = json!(true);
        }
        if changes.user_metadata.is_some() {
            summary["user_metadata_changed"] = json!(true);
        }
        changes::record(c, who, "user.update", &format!("user:{id}"), summary, now)?;
        Ok(after)
    })?;
    if let Some(mail) = mail {
        mail.wake();
    }
    Ok(updated)
}

#[utoipa::path(delete, path = "/api/v1/users/{id}", tag = "users", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = super::ErrorBody)))]
pub async fn delete(
    store: web::Data<Store>,
    wake: Option<web::Data<changes::OutboxWake>>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = UserId::from(id.into_inner());
    blocking(move || delete_user(&store, &caller, &id)).await?;
    changes::wake_outbox(wake.as_ref());
    Ok(HttpResponse::NoContent().finish())
}

/// Deletes user `id` with everything that belongs to them.
pub(crate) fn delete_user(store: &Store, who: &dyn Actor, id: &UserId) -> Result<(), ApiError> {
    let now = super::now();
    Ok(store.write_transaction(|c| {
        let user = users::get(c, id)?;
        let ended = grants::end_access_of_user(c, id, now)?;
        users::delete(c, id)?;
        let mut summary = summary(&user);
        summary["access_ended"] = json!(ended);
        changes::record(c, who, "user.delete", &format!("user:{id}"), summary, now)
    })?)
}

/// Sets claim values: a JSON object of claim name → value (`null` removes the value).
/// Each value is checked against its claim type and stored in canonical form; `email`
/// and `email_verified` are account fields (`PATCH /users/{id}`).
#[utoipa::path(put, path = "/api/v1/users/{id}/claims", tag = "users", params(("id" = String, Path)),
    request_body(content = Object, description = "claim name → value, null to remove"),
    responses((status = 200, body = UserDetail), (status = 404, body = super::ErrorBody)))]
pub async fn set_claims(
    store: web::Data<Store>,
    caller: Caller,
    id: web::Path<String>,
    bytes: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let id = UserId::from(id.into_inner());
    let values: Map<String, Value> = body::parse(&bytes)?;
    let updated = blocking(move || {
        set_user_claims(&store, &caller, &id, values)?;
        Ok(store.read_transaction(|c| {
            let user = users::get(c, &id)?;
            detail(c, user)
        })?)
    })
    .await?;
    Ok(HttpResponse::Ok().json(updated))
}

/// Sets (or, with `null`, removes) claim values of user `id`, each checked against its
/// claim type. Shared by the API and the console.
pub(crate) fn set_user_claims(
    store: &Store,
    who: &dyn Actor,
    id: &UserId,
    values: Map<String, Value>,
) -> Result<(), ApiError> {
    let now = super::now();
    let types = store.read_transaction(scopes::list_claim_types)?;
    let mut normalized = BTreeMap::new();
    for (name, value) in values {
        let Some(claim) = types.iter().find(|t| t.name == name) else {
            return Err(ApiError::invalid(name.clone(), format!("no claim type named {name}")));
        };
        let value = if value.is_null() {
            Value::Null
        } else {
            claim
                .value_type
                .normalize_value(&value)
                .map_err(|e| ApiError::invalid(name.clone(), e.with_claim(&name).to_string()))?
        };
        normalized.insert(name, value);
    }
    Ok(store.write_transaction(|c| {
        users::get(c, id)?;
        users::set_claim_values(c, id, &normalized, now)?;
        // The names only: claim values may be personal data.
        let set: Vec<&String> = normalized.iter().filter(|(_, v)| !v.is_null()).map(|(k, _)| k).collect();
        let removed: Vec<&String> = normalized.iter().filter(|(_, v)| v.is_null()).map(|(k, _)| k).collect();
        let summary = json!({ "claims_set": set, "claims_removed": removed });
        changes::record(c, who, "user.set_claims", &format!("user:{id}"), summary, now)
    })?)
}

#[utoipa::path(put, path = "/api/v1/users/{id}/password", tag = "users", params(("id" = String, Path)),
    request_body = PasswordBody, responses((status = 204), (status = 404, body = super::ErrorBody)))]
pub async fn set_password(
    store: web::Data<Store>,
    hasher: web::Data<PasswordHasher>,
    policy: web::Data<PasswordPolicy>,
    wake: Option<web::Data<changes::OutboxWake>>,
    caller: Caller,
    id: web::Path<String>,
    bytes: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let id = UserId::from(id.into_inner());
    let input: PasswordBody = body::parse(&bytes)?;
    blocking(move || set_user_password(&store, &hasher, &policy, &caller, &id, input.password)).await?;
    changes::wake_outbox(wake.as_ref());
    Ok(HttpResponse::NoContent().finish())
}

/// Sets user `id`'s password (argon2id) if the policy accepts it for this user: their
/// username, e-mail address and text claim values (name, nickname…) are words it must not
/// be built from. Shared by the API and the console.
pub(crate) fn set_user_password(
    store: &Store,
    hasher: &PasswordHasher,
    policy: &PasswordPolicy,
    who: &dyn Actor,
    id: &UserId,
    raw: String,
) -> Result<(), ApiError> {
    let now = super::now();
    let (user, claims) = store.read_transaction(|c| {
        let user = users::get(c, id)?;
        let claims = users::claim_values(c, &user)?;
        Ok((user, claims))
    })?;
    let about_user: Vec<&str> = [user.username.as_str()]
        .into_iter()
        .chain(user.email.as_deref())
        .chain(claims.values().filter_map(Value::as_str))
        .collect();
    let password = password(policy, raw, &about_user)?;
    let hashed = hash(hasher, &password)?;
    Ok(store.write_transaction(|c| {
        users::set_password_hash(c, id, &hashed, now)?;
        // ASVS 5.0 V7.4.3: a password reset by an administrator ends the sessions and
        // tokens that the old password opened.
        let ended = grants::end_access_of_user(c, id, now)?;
        let summary = json!({ "password_set": true, "access_ended": ended });
        changes::record(c, who, "user.set_password", &format!("user:{id}"), summary, now)
    })?)
}

#[utoipa::path(put, path = "/api/v1/users/{id}/roles/{role_id}", tag = "users",
    params(("id" = String, Path), ("role_id" = String, Path)),
    responses((status = 200, body = UserDetail), (status = 404, body = super::ErrorBody)))]
pub async fn add_role(
    store: web::Data<Store>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    change_role(store, caller, path.into_inner(), true).await
}

#[utoipa::path(delete, path = "/api/v1/users/{id}/roles/{role_id}", tag = "users",
    params(("id" = String, Path), ("role_id" = String, Path)),
    responses((status = 200, body = UserDetail), (status = 404, body = super::ErrorBody)))]
pub async fn remove_role(
    store: web::Data<Store>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    change_role(store, caller, path.into_inner(), false).await
}

async fn change_role(
    store: web::Data<Store>,
    caller: Caller,
    (id, role_id): (String, String),
    add: bool,
) -> Result<HttpResponse, ApiError> {
    let id = UserId::from(id);
    let updated = blocking(move || {
        change_user_role(&store, &caller, &id, &role_id, add)?;
        Ok(store.read_transaction(|c| {
            let user = users::get(c, &id)?;
            detail(c, user)
        })?)
    })
    .await?;
    Ok(HttpResponse::Ok().json(updated))
}

/// Gives (`add`) or takes role `role_id` of user `id`. Shared by the API and the console.
pub(crate) fn change_user_role(
    store: &Store,
    who: &dyn Actor,
    id: &UserId,
    role_id: &str,
    add: bool,
) -> Result<(), ApiError> {
    let now = super::now();
    Ok(store.write_transaction(|c| {
        users::get(c, id)?;
        let role = organizations::get_role(c, role_id)?;
        let action = if add {
            users::add_role(c, id, role_id)?;
            "user.add_role"
        } else {
            if !users::roles(c, id)?.iter().any(|r| r.id == role_id) {
                return Err(StoreError::not_found("role of the user"));
            }
            users::remove_role(c, id, role_id)?;
            "user.remove_role"
        };
        changes::record(c, who, action, &format!("user:{id}"), json!({ "role": role.name }), now)
    })?)
}
