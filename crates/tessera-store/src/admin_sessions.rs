//! Sessions of the admin console. Kept apart from the login pages' single sign-on
//! sessions (`sessions`): signing in to the console never signs anyone in to an
//! application, and ending one never ends the other.
//!
//! Ids are stored only as SHA-256 hashes; callers hash what the browser presents.

use diesel::prelude::*;

use tessera_domain::UserId;

use crate::schema::admin_sessions;
use crate::{AnyConnection, StoreResult};

/// An open console session.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = admin_sessions)]
pub struct AdminSession {
    pub id_hash: String,
    #[diesel(deserialize_as = String)]
    pub user_id: UserId,
    pub client_ip: Option<String>,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
    pub ended_at: Option<i64>,
}

/// Starts a session for `user_id` lasting at most until `expires_at`.
pub fn create(
    conn: &mut AnyConnection,
    id_hash: &str,
    user_id: &UserId,
    client_ip: Option<&str>,
    expires_at: i64,
    now: i64,
) -> StoreResult<AdminSession> {
    let session = AdminSession {
        id_hash: id_hash.to_owned(),
        user_id: user_id.clone(),
        client_ip: client_ip.map(str::to_owned),
        created_at: now,
        last_seen_at: now,
        expires_at,
        ended_at: None,
    };
    diesel::insert_into(admin_sessions::table)
        .values((
            admin_sessions::id_hash.eq(&session.id_hash),
            admin_sessions::user_id.eq(session.user_id.as_str()),
            admin_sessions::client_ip.eq(&session.client_ip),
            admin_sessions::created_at.eq(now),
            admin_sessions::last_seen_at.eq(now),
            admin_sessions::expires_at.eq(expires_at),
        ))
        .execute(conn)?;
    Ok(session)
}

/// The session whose cookie hashes to `id_hash` if it is alive: not ended, not past its
/// absolute timeout, and seen within the last `idle_timeout` seconds (ASVS V7.3).
pub fn get_active(
    conn: &mut AnyConnection,
    id_hash: &str,
    idle_timeout: i64,
    now: i64,
) -> StoreResult<Option<AdminSession>> {
    Ok(admin_sessions::table
        .find(id_hash)
        .filter(admin_sessions::ended_at.is_null())
        .filter(admin_sessions::awaiting_factor.eq(false))
        .filter(admin_sessions::expires_at.gt(now))
        .filter(admin_sessions::last_seen_at.gt(now.saturating_sub(idle_timeout)))
        .select(AdminSession::as_select())
        .first(conn)
        .optional()?)
}

/// Starts a sign-in whose password was right and that waits for a one-time code until
/// `expires_at`: no session until [`complete_factor`].
pub fn create_awaiting_factor(
    conn: &mut AnyConnection,
    id_hash: &str,
    user_id: &UserId,
    client_ip: Option<&str>,
    expires_at: i64,
    now: i64,
) -> StoreResult<()> {
    diesel::insert_into(admin_sessions::table)
        .values((
            admin_sessions::id_hash.eq(id_hash),
            admin_sessions::user_id.eq(user_id.as_str()),
            admin_sessions::client_ip.eq(client_ip),
            admin_sessions::created_at.eq(now),
            admin_sessions::last_seen_at.eq(now),
            admin_sessions::expires_at.eq(expires_at),
            admin_sessions::awaiting_factor.eq(true),
        ))
        .execute(conn)?;
    Ok(())
}

/// The user of a live sign-in waiting for its one-time code.
pub fn find_awaiting_factor(conn: &mut AnyConnection, id_hash: &str, now: i64) -> StoreResult<Option<UserId>> {
    let user: Option<String> = admin_sessions::table
        .find(id_hash)
        .filter(admin_sessions::awaiting_factor.eq(true))
        .filter(admin_sessions::ended_at.is_null())
        .filter(admin_sessions::expires_at.gt(now))
        .select(admin_sessions::user_id)
        .first(conn)
        .optional()?;
    Ok(user.map(UserId::from))
}

/// Turns a waiting sign-in into a session lasting until `expires_at`, once (one
/// conditional statement): `false` when it is not waiting any more, or expired.
pub fn complete_factor(conn: &mut AnyConnection, id_hash: &str, expires_at: i64, now: i64) -> StoreResult<bool> {
    let changed = diesel::update(
        admin_sessions::table
            .find(id_hash)
            .filter(admin_sessions::awaiting_factor.eq(true))
            .filter(admin_sessions::ended_at.is_null())
            .filter(admin_sessions::expires_at.gt(now)),
    )
    .set((
        admin_sessions::awaiting_factor.eq(false),
        admin_sessions::expires_at.eq(expires_at),
        admin_sessions::last_seen_at.eq(now),
        admin_sessions::created_at.eq(now),
    ))
    .execute(conn)?;
    Ok(changed == 1)
}

/// Records activity, restarting the idle timeout.
pub fn touch(conn: &mut AnyConnection, id_hash: &str, now: i64) -> StoreResult<()> {
    diesel::update(admin_sessions::table.find(id_hash).filter(admin_sessions::ended_at.is_null()))
        .set(admin_sessions::last_seen_at.eq(now))
        .execute(conn)?;
    Ok(())
}

/// Ends a session (sign-out); `false` when it was not open.
pub fn end(conn: &mut AnyConnection, id_hash: &str, now: i64) -> StoreResult<bool> {
    let changed = diesel::update(admin_sessions::table.find(id_hash).filter(admin_sessions::ended_at.is_null()))
        .set(admin_sessions::ended_at.eq(now))
        .execute(conn)?;
    Ok(changed > 0)
}

/// Ends every open console session of a user (disabled, lost the admin role, password
/// changed); returns how many were open.
pub fn end_all_of_user(conn: &mut AnyConnection, user_id: &UserId, now: i64) -> StoreResult<usize> {
    Ok(diesel::update(
        admin_sessions::table
            .filter(admin_sessions::user_id.eq(user_id.as_str()))
            .filter(admin_sessions::ended_at.is_null()),
    )
    .set(admin_sessions::ended_at.eq(now))
    .execute(conn)?)
}
