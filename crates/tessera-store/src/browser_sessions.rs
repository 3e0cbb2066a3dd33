//! Browser sessions: who is signed in on a browser, with the idle and absolute timeouts.
//!
//! Session ids are stored only as SHA-256 hashes; callers hash what the browser presents
//! and look up the hash.

use diesel::prelude::*;

use tessera_domain::UserId;

use crate::error::found;
use crate::json::json_list;
use crate::schema::{authorization_requests, browser_sessions};
use crate::{AnyConnection, StoreError, StoreResult};

/// A browser session. `sid` is the session id shown to applications (OIDC Front-/Back-
/// Channel Logout `sid`); `id_hash` is the hash of the cookie value and never leaves the
/// server. `user_id` is `None` until someone signs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrowserSession {
    pub id_hash: String,
    pub sid: String,
    pub user_id: Option<UserId>,
    pub auth_time: Option<i64>,
    pub amr: Vec<String>,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
    pub ended_at: Option<i64>,
    /// The address the session signed in from (after trusted proxies).
    pub client_ip: Option<String>,
    /// The browser's `User-Agent` at sign-in, cut to [`USER_AGENT_LIMIT`] characters.
    pub user_agent: Option<String>,
}

/// The longest `User-Agent` kept, in characters.
pub const USER_AGENT_LIMIT: usize = 256;

#[derive(Queryable, Selectable)]
#[diesel(table_name = browser_sessions)]
struct SessionRow {
    id_hash: String,
    sid: String,
    user_id: Option<String>,
    auth_time: Option<i64>,
    amr: String,
    created_at: i64,
    last_seen_at: i64,
    expires_at: i64,
    ended_at: Option<i64>,
    client_ip: Option<String>,
    user_agent: Option<String>,
}

impl TryFrom<SessionRow> for BrowserSession {
    type Error = StoreError;
    fn try_from(row: SessionRow) -> StoreResult<BrowserSession> {
        Ok(BrowserSession {
            amr: crate::json::parse_as(&row.amr)?,
            id_hash: row.id_hash,
            sid: row.sid,
            user_id: row.user_id.map(UserId::from),
            auth_time: row.auth_time,
            created_at: row.created_at,
            last_seen_at: row.last_seen_at,
            expires_at: row.expires_at,
            ended_at: row.ended_at,
            client_ip: row.client_ip,
            user_agent: row.user_agent,
        })
    }
}

/// A session to create. `expires_at` is the absolute timeout.
#[derive(Debug, Clone, Default)]
pub struct NewSession {
    pub id_hash: String,
    pub sid: String,
    pub user_id: Option<UserId>,
    pub auth_time: Option<i64>,
    pub amr: Vec<String>,
    pub expires_at: i64,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
}

/// Starts a session.
pub fn create(conn: &mut AnyConnection, new: &NewSession, now: i64) -> StoreResult<BrowserSession> {
    diesel::insert_into(browser_sessions::table)
        .values((
            browser_sessions::id_hash.eq(&new.id_hash),
            browser_sessions::sid.eq(&new.sid),
            browser_sessions::user_id.eq(new.user_id.as_ref().map(UserId::as_str)),
            browser_sessions::auth_time.eq(new.auth_time),
            browser_sessions::amr.eq(json_list(&new.amr)),
            browser_sessions::created_at.eq(now),
            browser_sessions::last_seen_at.eq(now),
            browser_sessions::expires_at.eq(new.expires_at),
            browser_sessions::client_ip.eq(&new.client_ip),
            browser_sessions::user_agent.eq(new.user_agent.as_deref().map(cut_user_agent)),
        ))
        .execute(conn)?;
    Ok(BrowserSession {
        id_hash: new.id_hash.clone(),
        sid: new.sid.clone(),
        user_id: new.user_id.clone(),
        auth_time: new.auth_time,
        amr: new.amr.clone(),
        created_at: now,
        last_seen_at: now,
        expires_at: new.expires_at,
        ended_at: None,
        client_ip: new.client_ip.clone(),
        user_agent: new.user_agent.as_deref().map(cut_user_agent),
    })
}

fn cut_user_agent(agent: &str) -> String {
    agent.chars().take(USER_AGENT_LIMIT).collect()
}

/// The session whose cookie hashes to `id_hash`, if it is still alive: not ended, not past
/// its absolute timeout, and seen within the last `idle_timeout` seconds (ASVS V7.3: idle
/// and absolute timeouts). A session that fails any of these is `None`, like an unknown one.
pub fn get_active(
    conn: &mut AnyConnection,
    id_hash: &str,
    idle_timeout: i64,
    now: i64,
) -> StoreResult<Option<BrowserSession>> {
    browser_sessions::table
        .find(id_hash)
        .filter(browser_sessions::ended_at.is_null())
        .filter(browser_sessions::expires_at.gt(now))
        .filter(browser_sessions::last_seen_at.gt(now.saturating_sub(idle_timeout)))
        .select(SessionRow::as_select())
        .first(conn)
        .optional()?
        .map(BrowserSession::try_from)
        .transpose()
}

/// The session with this `sid`, alive or not.
pub fn find_by_sid(conn: &mut AnyConnection, sid: &str) -> StoreResult<Option<BrowserSession>> {
    browser_sessions::table
        .filter(browser_sessions::sid.eq(sid))
        .select(SessionRow::as_select())
        .first(conn)
        .optional()?
        .map(BrowserSession::try_from)
        .transpose()
}

/// Records activity, restarting the idle timeout of an open session.
pub fn touch(conn: &mut AnyConnection, id_hash: &str, now: i64) -> StoreResult<()> {
    let changed = diesel::update(browser_sessions::table.find(id_hash).filter(browser_sessions::ended_at.is_null()))
        .set(browser_sessions::last_seen_at.eq(now))
        .execute(conn)?;
    found(changed, "session")
}

/// Records a sign-in on an open session (OIDC Core §2: `auth_time` and `amr` of the
/// authentication). At sign-in callers should rather [`replace`] the session, so the id
/// changes (ASVS V7.2.4).
pub fn authenticate(
    conn: &mut AnyConnection,
    id_hash: &str,
    user_id: &UserId,
    auth_time: i64,
    amr: &[String],
    now: i64,
) -> StoreResult<BrowserSession> {
    let changed = diesel::update(browser_sessions::table.find(id_hash).filter(browser_sessions::ended_at.is_null()))
        .set((
            browser_sessions::user_id.eq(user_id.as_str()),
            browser_sessions::auth_time.eq(auth_time),
            browser_sessions::amr.eq(json_list(amr)),
            browser_sessions::last_seen_at.eq(now),
        ))
        .execute(conn)?;
    found(changed, "session")?;
    get(conn, id_hash)
}

/// ASVS V7.2.4: a new session id at sign-in. Ends the session `old_id_hash` (if any and
/// still open, queuing its back-channel logout tokens), starts `new`, and moves the authorization requests waiting on the old
/// session to the new one so the sign-in can continue them.
pub fn replace(
    conn: &mut AnyConnection,
    old_id_hash: Option<&str>,
    new: &NewSession,
    now: i64,
) -> StoreResult<BrowserSession> {
    if let Some(old) = old_id_hash {
        // The old session's `sid` ends with it: the applications it signed in to are told
        // (OIDC Back-Channel Logout 1.0), as they would not hear of it at a later logout.
        if let Some(ended) = browser_sessions::table
            .find(old)
            .filter(browser_sessions::ended_at.is_null())
            .select(browser_sessions::sid)
            .first::<String>(conn)
            .optional()?
        {
            crate::backchannel_logout::enqueue_for_session(conn, &ended, now)?;
        }
        end(conn, old, now)?;
    }
    let session = create(conn, new, now)?;
    if let Some(old) = old_id_hash {
        diesel::update(authorization_requests::table.filter(authorization_requests::session_id_hash.eq(old)))
            .set(authorization_requests::session_id_hash.eq(&new.id_hash))
            .execute(conn)?;
    }
    Ok(session)
}

/// Moves a session's end to `expires_at` if that is later (an anonymous session that
/// binds a new pending request lives as long as it).
pub fn extend(conn: &mut AnyConnection, id_hash: &str, expires_at: i64) -> StoreResult<()> {
    diesel::update(browser_sessions::table.find(id_hash).filter(browser_sessions::expires_at.lt(expires_at)))
        .set(browser_sessions::expires_at.eq(expires_at))
        .execute(conn)?;
    Ok(())
}

/// Ends a session (logout); `false` when there was no open session with this id. Call
/// [`crate::backchannel_logout::enqueue_for_session`] in the same transaction.
pub fn end(conn: &mut AnyConnection, id_hash: &str, now: i64) -> StoreResult<bool> {
    let changed = diesel::update(browser_sessions::table.find(id_hash).filter(browser_sessions::ended_at.is_null()))
        .set(browser_sessions::ended_at.eq(now))
        .execute(conn)?;
    Ok(changed > 0)
}

/// Ends every open session of a user (password change, account disabled, "sign out
/// everywhere"); returns how many were open. Call
/// [`crate::backchannel_logout::enqueue_for_user`] before it, in the same transaction.
pub fn end_all_of_user(conn: &mut AnyConnection, user_id: &UserId, now: i64) -> StoreResult<usize> {
    Ok(diesel::update(
        browser_sessions::table
            .filter(browser_sessions::user_id.eq(user_id.as_str()))
            .filter(browser_sessions::ended_at.is_null()),
    )
    .set(browser_sessions::ended_at.eq(now))
    .execute(conn)?)
}

/// Ends the open session `sid` of `user_id` (an admin or the user ending it from a list
/// of sessions) and, as RP-initiated logout does, revokes the grants that end with it
/// (not the `offline_access` ones) and tells the applications it signed in to (OIDC
/// Back-Channel Logout 1.0). `None` when the user has no open session with this `sid`;
/// otherwise how many grants were revoked.
pub fn end_of_user(conn: &mut AnyConnection, user_id: &UserId, sid: &str, now: i64) -> StoreResult<Option<usize>> {
    let changed = diesel::update(
        browser_sessions::table
            .filter(browser_sessions::user_id.eq(user_id.as_str()))
            .filter(browser_sessions::sid.eq(sid))
            .filter(browser_sessions::ended_at.is_null()),
    )
    .set(browser_sessions::ended_at.eq(now))
    .execute(conn)?;
    if changed == 0 {
        return Ok(None);
    }
    crate::backchannel_logout::enqueue_for_session(conn, sid, now)?;
    Ok(Some(crate::grants::revoke_online_grants_of_session(conn, sid, now)?))
}

/// Ends every open session of `user_id` but `except_sid` ("sign out everywhere", or
/// "everywhere else" from the account page) and the grants that end with each (not the
/// `offline_access` ones). Returns how many sessions ended and grants were revoked.
pub fn end_others_of_user(
    conn: &mut AnyConnection,
    user_id: &UserId,
    except_sid: Option<&str>,
    now: i64,
) -> StoreResult<(usize, usize)> {
    let sids: Vec<String> = browser_sessions::table
        .filter(browser_sessions::user_id.eq(user_id.as_str()))
        .filter(browser_sessions::ended_at.is_null())
        .select(browser_sessions::sid)
        .load(conn)?;
    let (mut sessions, mut grants) = (0, 0);
    for sid in sids.iter().filter(|sid| Some(sid.as_str()) != except_sid) {
        if let Some(revoked) = end_of_user(conn, user_id, sid, now)? {
            sessions += 1;
            grants += revoked;
        }
    }
    Ok((sessions, grants))
}

/// The sessions of a user that [`get_active`] would accept, newest first.
pub fn list_active_of_user(
    conn: &mut AnyConnection,
    user_id: &UserId,
    idle_timeout: i64,
    now: i64,
) -> StoreResult<Vec<BrowserSession>> {
    let rows: Vec<SessionRow> = browser_sessions::table
        .filter(browser_sessions::user_id.eq(user_id.as_str()))
        .filter(browser_sessions::ended_at.is_null())
        .filter(browser_sessions::expires_at.gt(now))
        .filter(browser_sessions::last_seen_at.gt(now.saturating_sub(idle_timeout)))
        .select(SessionRow::as_select())
        .order((browser_sessions::created_at.desc(), browser_sessions::sid.asc()))
        .load(conn)?;
    rows.into_iter().map(BrowserSession::try_from).collect()
}

fn get(conn: &mut AnyConnection, id_hash: &str) -> StoreResult<BrowserSession> {
    browser_sessions::table
        .find(id_hash)
        .select(SessionRow::as_select())
        .first(conn)
        .optional()?
        .ok_or(StoreError::not_found("session"))?
        .try_into()
}
