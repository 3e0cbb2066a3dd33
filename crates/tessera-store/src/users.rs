//! Users: accounts, their claim values and their roles.

use std::collections::BTreeMap;

use diesel::prelude::*;
use serde_json::Value;

use crate::error::found;
use crate::organizations::Role;
use crate::page::{Page, Paged};
use crate::schema::{roles, user_claims, user_roles, users};
use tessera_domain::UserId;

use crate::{AnyConnection, StoreError, StoreResult, new_id};

/// A user account. `password_hash` is an argon2id PHC string; it never appears in `Debug`.
#[derive(Clone, PartialEq)]
pub struct User {
    pub id: UserId,
    pub username: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub password_hash: Option<String>,
    pub disabled: bool,
    pub app_metadata: Value,
    pub user_metadata: Value,
    pub created_at: i64,
    pub updated_at: i64,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("email", &self.email)
            .field("disabled", &self.disabled)
            .finish_non_exhaustive()
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = users)]
pub(crate) struct Row {
    id: String,
    username: String,
    email: Option<String>,
    email_verified: bool,
    password_hash: Option<String>,
    disabled: bool,
    app_metadata: String,
    user_metadata: String,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<Row> for User {
    type Error = StoreError;
    fn try_from(row: Row) -> StoreResult<User> {
        Ok(User {
            app_metadata: crate::json::parse(&row.app_metadata)?,
            user_metadata: crate::json::parse(&row.user_metadata)?,
            id: UserId::from(row.id),
            username: row.username,
            email: row.email,
            email_verified: row.email_verified,
            password_hash: row.password_hash,
            disabled: row.disabled,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// A user to create. Username and email must already be normalised by the domain rules.
#[derive(Debug, Clone, Default)]
pub struct NewUser {
    pub username: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub password_hash: Option<String>,
    pub app_metadata: Option<Value>,
    pub user_metadata: Option<Value>,
}

/// Usernames and emails are both sign-in names, so neither may equal the other kind of
/// another account (a username `bob@example.com` would shadow Bob's email).
fn refuse_crossed_login_names(
    conn: &mut AnyConnection,
    id: Option<&str>,
    username: &str,
    email: Option<&str>,
) -> StoreResult<()> {
    let others = |conn: &mut AnyConnection, filter_username: bool, value: &str| -> StoreResult<i64> {
        let mut query = users::table.into_boxed();
        query = if filter_username {
            query.filter(users::username.eq(value.to_owned()))
        } else {
            query.filter(users::email.eq(value.to_owned()))
        };
        if let Some(id) = id {
            query = query.filter(users::id.ne(id.to_owned()));
        }
        Ok(query.count().get_result(conn)?)
    };
    if others(conn, false, username)? > 0 {
        return Err(StoreError::Conflict { field: "username".into() });
    }
    if let Some(email) = email
        && others(conn, true, email)? > 0
    {
        return Err(StoreError::Conflict { field: "email".into() });
    }
    Ok(())
}

pub fn create(conn: &mut AnyConnection, new: &NewUser, now: i64) -> StoreResult<User> {
    refuse_crossed_login_names(conn, None, &new.username, new.email.as_deref())?;
    let id = new_id();
    let app_metadata = new.app_metadata.clone().unwrap_or_else(empty_object);
    let user_metadata = new.user_metadata.clone().unwrap_or_else(empty_object);
    diesel::insert_into(users::table)
        .values((
            users::id.eq(&id),
            users::username.eq(&new.username),
            users::email.eq(&new.email),
            users::email_verified.eq(new.email_verified),
            users::password_hash.eq(&new.password_hash),
            users::disabled.eq(false),
            users::app_metadata.eq(app_metadata.to_string()),
            users::user_metadata.eq(user_metadata.to_string()),
            users::created_at.eq(now),
            users::updated_at.eq(now),
        ))
        .execute(conn)?;
    get(conn, &UserId::from(id))
}

pub fn get(conn: &mut AnyConnection, id: &UserId) -> StoreResult<User> {
    find(conn, id)?.ok_or(StoreError::not_found("user"))
}

/// The user with this id, if there is one.
pub fn find(conn: &mut AnyConnection, id: &UserId) -> StoreResult<Option<User>> {
    users::table.find(id.as_str()).select(Row::as_select()).first(conn).optional()?.map(User::try_from).transpose()
}

/// The user whose username or email is `login` (both are stored lowercase).
pub fn find_by_login(conn: &mut AnyConnection, login: &str) -> StoreResult<Option<User>> {
    let login = login.trim().to_lowercase();
    // A username match first; creation keeps usernames and emails from colliding.
    let by_username =
        users::table.filter(users::username.eq(&login)).select(Row::as_select()).first(conn).optional()?;
    let row = match by_username {
        Some(row) => Some(row),
        None => users::table.filter(users::email.eq(&login)).select(Row::as_select()).first(conn).optional()?,
    };
    row.map(User::try_from).transpose()
}

/// Users in creation order, optionally only those whose username or email contains
/// `search` (case-insensitive).
pub fn list(conn: &mut AnyConnection, search: Option<&str>, page: &Page) -> StoreResult<Paged<User>> {
    let mut query = users::table.select(Row::as_select()).into_boxed();
    if let Some(search) = search.map(str::trim).filter(|s| !s.is_empty()) {
        let pattern = format!("%{}%", escape_like(&search.to_lowercase()));
        query = query
            .filter(users::username.like(pattern.clone()).escape('\\').or(users::email.like(pattern).escape('\\')));
    }
    if let Some(after) = &page.after {
        query = query.filter(users::id.gt(after));
    }
    let rows: Vec<Row> = query.order(users::id.asc()).limit(page.fetch_limit()).load(conn)?;
    let users = rows.into_iter().map(User::try_from).collect::<StoreResult<Vec<_>>>()?;
    Ok(Paged::from_rows(users, page, |u| u.id.as_str().to_owned()))
}

pub fn count(conn: &mut AnyConnection) -> StoreResult<i64> {
    Ok(users::table.count().get_result(conn)?)
}

/// Changes to a user's account; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UserChanges {
    pub username: Option<String>,
    pub email: Option<Option<String>>,
    pub email_verified: Option<bool>,
    pub disabled: Option<bool>,
    pub app_metadata: Option<Value>,
    pub user_metadata: Option<Value>,
}

/// Applies `changes`. OIDC Core §5.1: an email that changes (or is removed) is no longer
/// verified, unless the same change sets `email_verified` itself.
pub fn update(conn: &mut AnyConnection, id: &UserId, changes: &UserChanges, now: i64) -> StoreResult<User> {
    let current = get(conn, id)?;
    let username = changes.username.as_ref().unwrap_or(&current.username);
    let email = changes.email.as_ref().unwrap_or(&current.email);
    refuse_crossed_login_names(conn, Some(id.as_str()), username, email.as_deref())?;
    // Checked first, so a taken email is a conflict to report, not a failed statement
    // that would abort the caller's transaction on Postgres.
    if let Some(email) = email.as_deref().filter(|e| current.email.as_deref() != Some(*e)) {
        let taken: i64 =
            users::table.filter(users::email.eq(email)).filter(users::id.ne(id.as_str())).count().get_result(conn)?;
        if taken > 0 {
            return Err(StoreError::Conflict { field: "email".into() });
        }
    }
    let email_verified = match changes.email_verified {
        Some(set) => set,
        None if *email != current.email => false,
        None => current.email_verified,
    };
    diesel::update(users::table.find(id.as_str()))
        .set((
            users::username.eq(changes.username.as_ref().unwrap_or(&current.username)),
            users::email.eq(changes.email.as_ref().unwrap_or(&current.email)),
            users::email_verified.eq(email_verified),
            users::disabled.eq(changes.disabled.unwrap_or(current.disabled)),
            users::app_metadata.eq(changes.app_metadata.as_ref().unwrap_or(&current.app_metadata).to_string()),
            users::user_metadata.eq(changes.user_metadata.as_ref().unwrap_or(&current.user_metadata).to_string()),
            users::updated_at.eq(now),
        ))
        .execute(conn)?;
    get(conn, id)
}

pub fn set_password_hash(conn: &mut AnyConnection, id: &UserId, password_hash: &str, now: i64) -> StoreResult<()> {
    let changed = diesel::update(users::table.find(id.as_str()))
        .set((users::password_hash.eq(password_hash), users::updated_at.eq(now)))
        .execute(conn)?;
    found(changed, "user")
}

/// Sets the password hash of `id` only if it is still `verified` (the hash the current
/// password was checked against): a compare-and-set in one statement, so of parallel
/// changes that each proved the same current password, exactly one writes. `false`: the
/// password changed since (or the user is gone), nothing written.
pub fn replace_password_hash(
    conn: &mut AnyConnection,
    id: &UserId,
    verified: &str,
    password_hash: &str,
    now: i64,
) -> StoreResult<bool> {
    let changed = diesel::update(users::table.find(id.as_str()).filter(users::password_hash.eq(verified)))
        .set((users::password_hash.eq(password_hash), users::updated_at.eq(now)))
        .execute(conn)?;
    Ok(changed == 1)
}

pub fn delete(conn: &mut AnyConnection, id: &UserId) -> StoreResult<()> {
    let deleted = diesel::delete(users::table.find(id.as_str())).execute(conn)?;
    found(deleted, "user")
}

/// The user's claim values by claim name, with `email` and `email_verified` taken from
/// the account (where sign-in reads them) and `preferred_username` defaulting to the
/// username.
pub fn claim_values(conn: &mut AnyConnection, user: &User) -> StoreResult<BTreeMap<String, Value>> {
    let rows: Vec<(String, String)> = user_claims::table
        .filter(user_claims::user_id.eq(user.id.as_str()))
        .select((user_claims::claim_name, user_claims::value))
        .load(conn)?;
    values_of(user, rows)
}

/// The user `id` and their claim values in one statement (the account's row comes once
/// per stored value); `None` when there is no such user.
pub fn find_with_claims(conn: &mut AnyConnection, id: &UserId) -> StoreResult<Option<(User, BTreeMap<String, Value>)>> {
    let rows: Vec<(Row, Option<(String, String)>)> = users::table
        .left_join(user_claims::table)
        .filter(users::id.eq(id.as_str()))
        .select((Row::as_select(), (user_claims::claim_name, user_claims::value).nullable()))
        .load(conn)?;
    with_claims(rows.into_iter().map(|(user, value)| (Some(user), value)))
}

/// A user about to be issued tokens, with their claim values.
pub type UserWithClaims = (User, BTreeMap<String, Value>);

/// The user's columns in a join that may find no user.
pub(crate) type JoinedUser = Option<Row>;
/// One stored claim value (name, JSON text) in a join that may find none.
pub(crate) type JoinedValue = Option<(String, String)>;

/// Assembles a user and their claim values from the rows of a join that repeats the
/// user's row (`None`: no user) beside each stored value.
pub(crate) fn with_claims(
    rows: impl IntoIterator<Item = (JoinedUser, JoinedValue)>,
) -> StoreResult<Option<(User, BTreeMap<String, Value>)>> {
    let mut user = None;
    let mut stored = Vec::new();
    for (row, value) in rows {
        if user.is_none() {
            user = row;
        }
        stored.extend(value);
    }
    let Some(user) = user.map(User::try_from).transpose()? else { return Ok(None) };
    let values = values_of(&user, stored)?;
    Ok(Some((user, values)))
}

/// The claim values of `user`: the stored ones, and those kept on the account itself.
fn values_of(user: &User, stored: Vec<(String, String)>) -> StoreResult<BTreeMap<String, Value>> {
    let mut values = BTreeMap::new();
    for (name, value) in stored {
        values.insert(name, crate::json::parse(&value)?);
    }
    if let Some(email) = &user.email {
        values.insert("email".into(), Value::String(email.clone()));
        values.insert("email_verified".into(), Value::Bool(user.email_verified));
    }
    values.entry("preferred_username".into()).or_insert_with(|| Value::String(user.username.clone()));
    values.insert("updated_at".into(), Value::from(user.updated_at));
    Ok(values)
}

/// Sets claim values (already validated against their claim types). A JSON `null`
/// removes the value. `email` and `email_verified` live on the account, not here. OIDC
/// Core §5.1: a value that changes loses its verified flag (`phone_number` its
/// `phone_number_verified`), unless the same call sets the flag.
pub fn set_claim_values(
    conn: &mut AnyConnection,
    user_id: &UserId,
    values: &BTreeMap<String, Value>,
    now: i64,
) -> StoreResult<()> {
    let user_id = user_id.as_str();
    for (name, value) in values {
        if matches!(name.as_str(), "email" | "email_verified" | "sub" | "updated_at") {
            return Err(StoreError::invalid(name.clone(), format!("{name} is not stored as a claim value")));
        }
        if let Some(flag) = tessera_domain::verified_flag_of(name).filter(|flag| !values.contains_key(*flag)) {
            let stored: Option<String> =
                user_claims::table.find((user_id, name)).select(user_claims::value).first(conn).optional()?;
            if stored.as_deref() != Some(value.to_string().as_str()) {
                diesel::delete(user_claims::table.find((user_id, flag))).execute(conn)?;
            }
        }
        diesel::delete(user_claims::table.find((user_id, name))).execute(conn)?;
        if !value.is_null() {
            diesel::insert_into(user_claims::table)
                .values((
                    user_claims::user_id.eq(user_id),
                    user_claims::claim_name.eq(name),
                    user_claims::value.eq(value.to_string()),
                    user_claims::updated_at.eq(now),
                ))
                .execute(conn)
                .map_err(|e| match StoreError::from(e) {
                    StoreError::Invalid { .. } => {
                        StoreError::invalid(name.clone(), format!("no claim type named {name}"))
                    }
                    other => other,
                })?;
        }
    }
    diesel::update(users::table.find(user_id)).set(users::updated_at.eq(now)).execute(conn)?;
    Ok(())
}

/// Gives the user a role (doing nothing if the user has it already).
pub fn add_role(conn: &mut AnyConnection, user_id: &UserId, role_id: &str) -> StoreResult<()> {
    let user_id = user_id.as_str();
    let exists: i64 = user_roles::table
        .filter(user_roles::user_id.eq(user_id).and(user_roles::role_id.eq(role_id)))
        .count()
        .get_result(conn)?;
    if exists == 0 {
        diesel::insert_into(user_roles::table)
            .values((user_roles::user_id.eq(user_id), user_roles::role_id.eq(role_id)))
            .execute(conn)?;
    }
    Ok(())
}

pub fn remove_role(conn: &mut AnyConnection, user_id: &UserId, role_id: &str) -> StoreResult<()> {
    let user_id = user_id.as_str();
    diesel::delete(user_roles::table.filter(user_roles::user_id.eq(user_id).and(user_roles::role_id.eq(role_id))))
        .execute(conn)?;
    Ok(())
}

/// The user's roles, by name.
pub fn roles(conn: &mut AnyConnection, user_id: &UserId) -> StoreResult<Vec<Role>> {
    Ok(user_roles::table
        .inner_join(roles::table)
        .filter(user_roles::user_id.eq(user_id.as_str()))
        .select(Role::as_select())
        .order(roles::name.asc())
        .load(conn)?)
}

/// Whether the user holds the role named `role_name`.
pub fn has_role(conn: &mut AnyConnection, user_id: &UserId, role_name: &str) -> StoreResult<bool> {
    let n: i64 = user_roles::table
        .inner_join(roles::table)
        .filter(user_roles::user_id.eq(user_id.as_str()).and(roles::name.eq(role_name)))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

fn empty_object() -> Value {
    Value::Object(serde_json::Map::new())
}

pub(crate) fn escape_like(text: &str) -> String {
    text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}
