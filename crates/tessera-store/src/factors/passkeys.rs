//! Passkeys: each user's WebAuthn credentials, named by them, with when each was last
//! used. The credential is kept as `webauthn-rs` serialises it; its id (base64url) is
//! unique across users, so a discoverable sign-in finds the one passkey it names.

use diesel::prelude::*;
use tessera_domain::UserId;

use crate::error::found;
use crate::schema::passkeys;
use crate::{AnyConnection, StoreError, StoreResult};

/// A stored passkey.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = passkeys)]
pub struct StoredPasskey {
    pub id: String,
    #[diesel(deserialize_as = String)]
    pub user_id: UserId,
    pub name: String,
    /// The credential, as `webauthn-rs` serialises it.
    pub credential: String,
    /// The credential id, base64url.
    pub credential_id: String,
    /// Not backup-eligible: it cannot leave its device (`amr` `hwk`, else `swk`).
    pub device_bound: bool,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

/// A passkey to store.
#[derive(Debug, Clone)]
pub struct NewPasskey<'a> {
    pub user_id: &'a UserId,
    pub name: &'a str,
    pub credential: &'a str,
    pub credential_id: &'a str,
    pub device_bound: bool,
}

/// Stores a new passkey: `Conflict { field: "credential_id" }` when that credential is
/// registered already (to anyone).
pub fn create(conn: &mut AnyConnection, new: &NewPasskey<'_>, now: i64) -> StoreResult<StoredPasskey> {
    let id = crate::new_id();
    diesel::insert_into(passkeys::table)
        .values((
            passkeys::id.eq(&id),
            passkeys::user_id.eq(new.user_id.as_str()),
            passkeys::name.eq(new.name),
            passkeys::credential.eq(new.credential),
            passkeys::credential_id.eq(new.credential_id),
            passkeys::device_bound.eq(new.device_bound),
            passkeys::created_at.eq(now),
        ))
        .execute(conn)
        .map_err(|e| match StoreError::from(e) {
            StoreError::Conflict { .. } => StoreError::Conflict { field: "credential_id".into() },
            other => other,
        })?;
    Ok(StoredPasskey {
        id,
        user_id: new.user_id.clone(),
        name: new.name.to_owned(),
        credential: new.credential.to_owned(),
        credential_id: new.credential_id.to_owned(),
        device_bound: new.device_bound,
        created_at: now,
        last_used_at: None,
    })
}

/// The passkeys of a user, oldest first.
pub fn list_of_user(conn: &mut AnyConnection, user_id: &UserId) -> StoreResult<Vec<StoredPasskey>> {
    Ok(passkeys::table
        .filter(passkeys::user_id.eq(user_id.as_str()))
        .order((passkeys::created_at.asc(), passkeys::id.asc()))
        .select(StoredPasskey::as_select())
        .load(conn)?)
}

/// How many passkeys a user has.
pub fn count_of_user(conn: &mut AnyConnection, user_id: &UserId) -> StoreResult<i64> {
    Ok(passkeys::table.filter(passkeys::user_id.eq(user_id.as_str())).count().get_result(conn)?)
}

/// The passkey of a credential id (base64url), whoever it belongs to.
pub fn find_by_credential_id(conn: &mut AnyConnection, credential_id: &str) -> StoreResult<Option<StoredPasskey>> {
    Ok(passkeys::table
        .filter(passkeys::credential_id.eq(credential_id))
        .select(StoredPasskey::as_select())
        .first(conn)
        .optional()?)
}

/// One passkey of a user, by its id.
pub fn find_of_user(conn: &mut AnyConnection, user_id: &UserId, id: &str) -> StoreResult<Option<StoredPasskey>> {
    Ok(passkeys::table
        .filter(passkeys::user_id.eq(user_id.as_str()))
        .filter(passkeys::id.eq(id))
        .select(StoredPasskey::as_select())
        .first(conn)
        .optional()?)
}

/// Records a use of a passkey at `now`, with its credential brought up to date (counter,
/// backup state) when `updated` is given.
pub fn record_use(conn: &mut AnyConnection, id: &str, updated: Option<&str>, now: i64) -> StoreResult<()> {
    let target = passkeys::table.filter(passkeys::id.eq(id));
    let rows = match updated {
        Some(credential) => diesel::update(target)
            .set((passkeys::last_used_at.eq(now), passkeys::credential.eq(credential)))
            .execute(conn)?,
        None => diesel::update(target).set(passkeys::last_used_at.eq(now)).execute(conn)?,
    };
    found(rows, "passkey")
}

/// Renames a passkey of `user_id`.
pub fn rename(conn: &mut AnyConnection, user_id: &UserId, id: &str, name: &str) -> StoreResult<()> {
    let rows =
        diesel::update(passkeys::table.filter(passkeys::user_id.eq(user_id.as_str())).filter(passkeys::id.eq(id)))
            .set(passkeys::name.eq(name))
            .execute(conn)?;
    found(rows, "passkey")
}

/// Removes a passkey of `user_id`.
pub fn delete(conn: &mut AnyConnection, user_id: &UserId, id: &str) -> StoreResult<()> {
    let rows =
        diesel::delete(passkeys::table.filter(passkeys::user_id.eq(user_id.as_str())).filter(passkeys::id.eq(id)))
            .execute(conn)?;
    found(rows, "passkey")
}

/// Removes every passkey of `user_id`.
pub fn delete_all_of_user(conn: &mut AnyConnection, user_id: &UserId) -> StoreResult<usize> {
    Ok(diesel::delete(passkeys::table.filter(passkeys::user_id.eq(user_id.as_str()))).execute(conn)?)
}
