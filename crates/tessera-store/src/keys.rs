//! Signing keys and their rotation: `next` (published, not yet signing) → `active` (signing)
//! → `retired` (published until every token it signed has expired, then deleted).
//!
//! Private keys arrive encrypted with the master key; this module never sees them in the
//! clear.

use std::fmt;
use std::str::FromStr;

use diesel::prelude::*;
use serde_json::Value;

use crate::error::found;
use crate::schema::signing_keys;
use crate::{AnyConnection, StoreError, StoreResult};

/// Where a key is in its rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyState {
    /// Published in the JWKS ahead of use, so verifiers have it before the first token.
    Next,
    /// Signs new tokens; at most one per algorithm.
    Active,
    /// Signs nothing; published until `publish_until`.
    Retired,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Next => "next",
            KeyState::Active => "active",
            KeyState::Retired => "retired",
        }
    }
}

impl fmt::Display for KeyState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for KeyState {
    type Err = StoreError;
    fn from_str(s: &str) -> StoreResult<KeyState> {
        match s {
            "next" => Ok(KeyState::Next),
            "active" => Ok(KeyState::Active),
            "retired" => Ok(KeyState::Retired),
            other => Err(StoreError::invalid("state", format!("unknown key state {other:?}"))),
        }
    }
}

/// A signing key. `private_key` is the encrypted private key; it never appears in `Debug`.
#[derive(Clone, PartialEq)]
pub struct SigningKey {
    pub kid: String,
    pub alg: String,
    pub state: KeyState,
    pub private_key: String,
    pub public_jwk: Value,
    pub created_at: i64,
    pub activated_at: Option<i64>,
    pub retired_at: Option<i64>,
    pub publish_until: Option<i64>,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("state", &self.state)
            .field("activated_at", &self.activated_at)
            .field("publish_until", &self.publish_until)
            .finish_non_exhaustive()
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = signing_keys)]
struct Row {
    kid: String,
    alg: String,
    state: String,
    private_key: String,
    public_jwk: String,
    created_at: i64,
    activated_at: Option<i64>,
    retired_at: Option<i64>,
    publish_until: Option<i64>,
}

impl TryFrom<Row> for SigningKey {
    type Error = StoreError;
    fn try_from(row: Row) -> StoreResult<SigningKey> {
        let state =
            KeyState::from_str(&row.state).map_err(|_| StoreError::Corrupt(format!("key state {:?}", row.state)))?;
        Ok(SigningKey {
            state,
            public_jwk: crate::json::parse(&row.public_jwk)?,
            kid: row.kid,
            alg: row.alg,
            private_key: row.private_key,
            created_at: row.created_at,
            activated_at: row.activated_at,
            retired_at: row.retired_at,
            publish_until: row.publish_until,
        })
    }
}

/// A key to store. A new key is usually `Next`; the first key of an algorithm may be
/// `Active` directly.
#[derive(Clone)]
pub struct NewSigningKey {
    pub kid: String,
    pub alg: String,
    pub state: KeyState,
    pub private_key: String,
    pub public_jwk: Value,
    pub publish_until: Option<i64>,
}

impl fmt::Debug for NewSigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewSigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// Stores a key. An `Active` key is refused while the algorithm has one: use [`activate`].
pub fn insert(conn: &mut AnyConnection, new: &NewSigningKey, now: i64) -> StoreResult<SigningKey> {
    if new.state == KeyState::Active && active(conn, &new.alg)?.is_some() {
        return Err(StoreError::invalid(
            "state",
            format!("an {} key is already active; activate the new key instead", new.alg),
        ));
    }
    let activated_at = (new.state == KeyState::Active).then_some(now);
    let retired_at = (new.state == KeyState::Retired).then_some(now);
    diesel::insert_into(signing_keys::table)
        .values((
            signing_keys::kid.eq(&new.kid),
            signing_keys::alg.eq(&new.alg),
            signing_keys::state.eq(new.state.as_str()),
            signing_keys::private_key.eq(&new.private_key),
            signing_keys::public_jwk.eq(new.public_jwk.to_string()),
            signing_keys::created_at.eq(now),
            signing_keys::activated_at.eq(activated_at),
            signing_keys::retired_at.eq(retired_at),
            signing_keys::publish_until.eq(new.publish_until),
        ))
        .execute(conn)?;
    get(conn, &new.kid)
}

pub fn get(conn: &mut AnyConnection, kid: &str) -> StoreResult<SigningKey> {
    signing_keys::table
        .find(kid)
        .select(Row::as_select())
        .first(conn)
        .optional()?
        .ok_or(StoreError::not_found("signing key"))?
        .try_into()
}

/// Every key, oldest first.
pub fn list(conn: &mut AnyConnection) -> StoreResult<Vec<SigningKey>> {
    let rows: Vec<Row> = signing_keys::table
        .select(Row::as_select())
        .order((signing_keys::created_at.asc(), signing_keys::kid.asc()))
        .load(conn)?;
    rows.into_iter().map(SigningKey::try_from).collect()
}

/// RFC 7517 §5 / OIDC Core §10.1.1: the keys the JWKS publishes — every key that may still
/// verify a live token: `next` and `active` keys, and retired ones until `publish_until`.
pub fn publishable(conn: &mut AnyConnection, now: i64) -> StoreResult<Vec<SigningKey>> {
    let rows: Vec<Row> = signing_keys::table
        .filter(signing_keys::state.ne(KeyState::Retired.as_str()).or(signing_keys::publish_until.gt(now)))
        .select(Row::as_select())
        .order((signing_keys::created_at.asc(), signing_keys::kid.asc()))
        .load(conn)?;
    rows.into_iter().map(SigningKey::try_from).collect()
}

/// The key that signs new tokens of `alg`. Should two ever be active (two nodes activating
/// at once), the most recently activated one wins, on every node alike.
pub fn active(conn: &mut AnyConnection, alg: &str) -> StoreResult<Option<SigningKey>> {
    signing_keys::table
        .filter(signing_keys::alg.eq(alg))
        .filter(signing_keys::state.eq(KeyState::Active.as_str()))
        .select(Row::as_select())
        .order((signing_keys::activated_at.desc(), signing_keys::kid.desc()))
        .first(conn)
        .optional()?
        .map(SigningKey::try_from)
        .transpose()
}

/// Makes `kid` the active key of its algorithm. The key it replaces is retired and stays
/// published until `publish_until` (when the last token it signed expires). Activating
/// the active key changes nothing; a retired key cannot come back.
pub fn activate(conn: &mut AnyConnection, kid: &str, publish_until: i64, now: i64) -> StoreResult<SigningKey> {
    let key = get(conn, kid)?;
    match key.state {
        KeyState::Active => return Ok(key),
        KeyState::Retired => {
            return Err(StoreError::invalid("kid", format!("key {kid} is retired and cannot be activated")));
        }
        KeyState::Next => {}
    }
    diesel::update(
        signing_keys::table
            .filter(signing_keys::alg.eq(&key.alg))
            .filter(signing_keys::state.eq(KeyState::Active.as_str())),
    )
    .set((
        signing_keys::state.eq(KeyState::Retired.as_str()),
        signing_keys::retired_at.eq(now),
        signing_keys::publish_until.eq(publish_until),
    ))
    .execute(conn)?;
    diesel::update(signing_keys::table.find(kid))
        .set((signing_keys::state.eq(KeyState::Active.as_str()), signing_keys::activated_at.eq(now)))
        .execute(conn)?;
    get(conn, kid)
}

/// Retires a key, published until `publish_until` (a compromised key: `now`, to withdraw
/// it at once). Retiring a retired key only moves its `publish_until`.
pub fn retire(conn: &mut AnyConnection, kid: &str, publish_until: i64, now: i64) -> StoreResult<SigningKey> {
    let key = get(conn, kid)?;
    diesel::update(signing_keys::table.find(kid))
        .set((
            signing_keys::state.eq(KeyState::Retired.as_str()),
            signing_keys::retired_at.eq(key.retired_at.unwrap_or(now)),
            signing_keys::publish_until.eq(publish_until),
        ))
        .execute(conn)?;
    get(conn, kid)
}

/// Deletes retired keys no longer published (`publish_until` at or before `now`); returns
/// how many.
pub fn delete_unpublished(conn: &mut AnyConnection, now: i64) -> StoreResult<usize> {
    Ok(diesel::delete(
        signing_keys::table
            .filter(signing_keys::state.eq(KeyState::Retired.as_str()))
            .filter(signing_keys::publish_until.is_null().or(signing_keys::publish_until.le(now))),
    )
    .execute(conn)?)
}

/// Deletes one key (an admin removing a `next` key that will not be used).
pub fn delete(conn: &mut AnyConnection, kid: &str) -> StoreResult<()> {
    let deleted = diesel::delete(signing_keys::table.find(kid)).execute(conn)?;
    found(deleted, "signing key")
}
