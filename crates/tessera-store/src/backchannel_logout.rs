//! OIDC Back-Channel Logout 1.0: when a browser session ends, every application the
//! session signed in to that registered a `backchannel_logout_uri` is told, by a logout
//! token the outbox delivers (`tessera_outbound::backchannel_logout`). This module queues
//! those deliveries, one outbox job per (application, session), in the caller's
//! transaction: every path that ends a session (end session, an administrator ending a
//! session or all of a user's, a user disabled or deleted, a password reset) calls
//! [`enqueue_for_session`] or [`enqueue_for_user`] beside the end itself, so the jobs
//! exist exactly when the end commits.
//!
//! Which applications a session signed in to: those with a grant or an authorization or
//! device code carrying the session's `sid` (the ID tokens they got carry it too).

use std::collections::BTreeSet;

use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use tessera_domain::UserId;

use crate::schema::{applications, authorization_codes, browser_sessions, device_codes, grants};
use crate::{AnyConnection, StoreError, StoreResult, outbox};

/// The outbox kind of back-channel logout deliveries.
pub const KIND: &str = "backchannel_logout";

/// What one delivery is about: everything the logout token states except what the
/// deliverer adds at delivery time (issuer, times, `jti`, the application's client id and
/// URI as they are then). Nothing secret: `sid` is the public session id, never the
/// cookie's value or hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogoutNotice {
    pub application_id: String,
    /// OIDC Back-Channel Logout 1.0 §2.4 `sid`.
    pub sid: String,
    /// §2.4 `sub`: the session's user.
    pub sub: String,
}

impl LogoutNotice {
    pub fn from_payload(payload: &str) -> StoreResult<LogoutNotice> {
        serde_json::from_str(payload).map_err(|e| StoreError::Corrupt(format!("backchannel logout job: {e}")))
    }
}

/// The applications with a `backchannel_logout_uri` that the session `sid` signed in to,
/// by id.
pub fn applications_of_session(conn: &mut AnyConnection, sid: &str) -> StoreResult<Vec<String>> {
    let mut ids: BTreeSet<String> = BTreeSet::new();
    ids.extend(
        grants::table.filter(grants::sid.eq(sid)).select(grants::application_id).distinct().load::<String>(conn)?,
    );
    ids.extend(
        authorization_codes::table
            .filter(authorization_codes::sid.eq(sid))
            .select(authorization_codes::application_id)
            .distinct()
            .load::<String>(conn)?,
    );
    ids.extend(
        device_codes::table
            .filter(device_codes::sid.eq(sid))
            .select(device_codes::application_id)
            .distinct()
            .load::<String>(conn)?,
    );
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(applications::table
        .filter(applications::id.eq_any(ids))
        .filter(applications::backchannel_logout_uri.is_not_null())
        .select(applications::id)
        .order(applications::id)
        .load(conn)?)
}

/// Queues one logout token per application the session `sid` signed in to (that has a
/// `backchannel_logout_uri`), in the caller's transaction. Call it in the transaction
/// that ends the session. A session nobody signed in to queues nothing. Returns the
/// number of jobs queued.
pub fn enqueue_for_session(conn: &mut AnyConnection, sid: &str, now: i64) -> StoreResult<usize> {
    let user: Option<Option<String>> = browser_sessions::table
        .filter(browser_sessions::sid.eq(sid))
        .select(browser_sessions::user_id)
        .first(conn)
        .optional()?;
    let Some(Some(user_id)) = user else { return Ok(0) };
    let mut queued = 0;
    for application_id in applications_of_session(conn, sid)? {
        let notice = LogoutNotice { application_id, sid: sid.to_owned(), sub: user_id.clone() };
        let payload = serde_json::to_string(&notice).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        outbox::enqueue(conn, KIND, &payload, now)?;
        queued += 1;
    }
    Ok(queued)
}

/// [`enqueue_for_session`] for every session of `user_id` still open (not ended, not past
/// its absolute timeout). Call it before ending them, in the same transaction (a user
/// disabled or deleted, a password reset, "sign out everywhere").
pub fn enqueue_for_user(conn: &mut AnyConnection, user_id: &UserId, now: i64) -> StoreResult<usize> {
    let sids: Vec<String> = browser_sessions::table
        .filter(browser_sessions::user_id.eq(user_id.as_str()))
        .filter(browser_sessions::ended_at.is_null())
        .filter(browser_sessions::expires_at.gt(now))
        .select(browser_sessions::sid)
        .order(browser_sessions::sid)
        .load(conn)?;
    let mut queued = 0;
    for sid in sids {
        queued += enqueue_for_session(conn, &sid, now)?;
    }
    Ok(queued)
}
