//! WebAuthn ceremonies in progress: the server-side state between the options sent to the
//! browser and its answer (`tessera-factors` makes it). The browser holds the ceremony's
//! id, a 256-bit secret; this table keeps its SHA-256 hash. A ceremony is taken once, by
//! one conditional `UPDATE … WHERE used_at IS NULL AND expires_at > now` (of parallel
//! answers one gets the state), and purged once expired (`purge`).

use diesel::prelude::*;
use tessera_domain::UserId;

use crate::schema::webauthn_ceremonies;
use crate::{AnyConnection, StoreResult};

/// Which ceremony it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Registering a passkey (a signed-in user).
    Registration,
    /// A passkey as a second factor or a step-up (a known user).
    Authentication,
    /// A sign-in by passkey alone (no user yet).
    Discoverable,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Registration => "registration",
            Kind::Authentication => "authentication",
            Kind::Discoverable => "discoverable",
        }
    }
}

/// A ceremony to keep.
#[derive(Debug, Clone)]
pub struct NewCeremony<'a> {
    pub id_hash: &'a str,
    pub user_id: Option<&'a UserId>,
    pub kind: Kind,
    /// The state, as JSON.
    pub state: &'a str,
    pub expires_at: i64,
}

/// A ceremony taken back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TakenCeremony {
    pub user_id: Option<UserId>,
    pub state: String,
}

/// Keeps a ceremony's state.
pub fn start(conn: &mut AnyConnection, new: &NewCeremony<'_>, now: i64) -> StoreResult<()> {
    diesel::insert_into(webauthn_ceremonies::table)
        .values((
            webauthn_ceremonies::id_hash.eq(new.id_hash),
            webauthn_ceremonies::user_id.eq(new.user_id.map(UserId::as_str)),
            webauthn_ceremonies::kind.eq(new.kind.as_str()),
            webauthn_ceremonies::state.eq(new.state),
            webauthn_ceremonies::created_at.eq(now),
            webauthn_ceremonies::expires_at.eq(new.expires_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// Takes the live ceremony of `id_hash` and `kind`, once: `None` when it is unknown, of
/// another kind, expired or taken already.
pub fn take(conn: &mut AnyConnection, id_hash: &str, kind: Kind, now: i64) -> StoreResult<Option<TakenCeremony>> {
    let taken = diesel::update(
        webauthn_ceremonies::table
            .filter(webauthn_ceremonies::id_hash.eq(id_hash))
            .filter(webauthn_ceremonies::kind.eq(kind.as_str()))
            .filter(webauthn_ceremonies::used_at.is_null())
            .filter(webauthn_ceremonies::expires_at.gt(now)),
    )
    .set(webauthn_ceremonies::used_at.eq(now))
    .execute(conn)?;
    if taken != 1 {
        return Ok(None);
    }
    let (user_id, state): (Option<String>, String) = webauthn_ceremonies::table
        .find(id_hash)
        .select((webauthn_ceremonies::user_id, webauthn_ceremonies::state))
        .first(conn)?;
    Ok(Some(TakenCeremony { user_id: user_id.map(UserId::from), state }))
}

/// Deletes every ceremony of a user.
pub fn delete_all_of_user(conn: &mut AnyConnection, user_id: &UserId) -> StoreResult<usize> {
    Ok(diesel::delete(webauthn_ceremonies::table.filter(webauthn_ceremonies::user_id.eq(user_id.as_str())))
        .execute(conn)?)
}

/// Deletes ceremonies that expired at or before `now`, taken or not.
pub fn purge(conn: &mut AnyConnection, now: i64) -> StoreResult<usize> {
    Ok(diesel::delete(webauthn_ceremonies::table.filter(webauthn_ceremonies::expires_at.le(now))).execute(conn)?)
}
