//! Deleting what expired: codes, pending, pushed and device authorization requests, tokens, grants, sessions, sign-in
//! throttle buckets and WebAuthn ceremonies.

use diesel::prelude::*;

use crate::schema::{
    admin_sessions, authorization_codes, authorization_requests, browser_sessions, client_assertion_jtis, dpop_proofs,
    grants, pushed_authorization_requests, reference_tokens, refresh_tokens,
};
use crate::{AnyConnection, StoreResult};

/// How many rows [`purge_expired`] deleted, per table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PurgeCounts {
    pub authorization_codes: usize,
    pub authorization_requests: usize,
    pub pushed_authorization_requests: usize,
    pub device_codes: usize,
    pub refresh_tokens: usize,
    pub reference_tokens: usize,
    pub client_assertion_jtis: usize,
    pub dpop_proofs: usize,
    pub grants: usize,
    pub browser_sessions: usize,
    pub admin_sessions: usize,
    /// Sign-in throttle buckets whose window and lock are over.
    pub sign_in_buckets: usize,
    /// Account links (email verification, password recovery) past their expiry.
    pub account_tokens: usize,
    /// Initial access tokens (RFC 7591 §3) past their expiry.
    pub initial_access_tokens: usize,
    /// Clients of metadata documents left unused (`client_registrations::purge_abandoned`).
    pub metadata_document_clients: usize,
    /// WebAuthn ceremonies past their expiry (`factors::ceremonies`).
    pub webauthn_ceremonies: usize,
}

impl PurgeCounts {
    pub fn total(&self) -> usize {
        self.authorization_codes
            + self.authorization_requests
            + self.pushed_authorization_requests
            + self.device_codes
            + self.refresh_tokens
            + self.reference_tokens
            + self.client_assertion_jtis
            + self.dpop_proofs
            + self.grants
            + self.browser_sessions
            + self.admin_sessions
            + self.sign_in_buckets
            + self.account_tokens
            + self.initial_access_tokens
            + self.metadata_document_clients
            + self.webauthn_ceremonies
    }
}

/// Deletes what expired at or before `now`: codes, pending, pushed and device requests, refresh and
/// reference tokens, jti records (client assertions, DPoP proofs), browser sessions past their absolute timeout,
/// grants past their absolute expiry, sign-in throttle buckets that hold nothing, and metadata-document clients
/// abandoned for 30 days. A grant stays while a reference token issued from
/// it is still unexpired, so deleting it cannot cut that token short.
pub fn purge_expired(conn: &mut AnyConnection, now: i64) -> StoreResult<PurgeCounts> {
    let authorization_codes =
        diesel::delete(authorization_codes::table.filter(authorization_codes::expires_at.le(now))).execute(conn)?;
    let authorization_requests =
        diesel::delete(authorization_requests::table.filter(authorization_requests::expires_at.le(now)))
            .execute(conn)?;
    let pushed_authorization_requests =
        diesel::delete(pushed_authorization_requests::table.filter(pushed_authorization_requests::expires_at.le(now)))
            .execute(conn)?;
    let device_codes = crate::device_codes::purge(conn, now)?;
    let client_assertion_jtis =
        diesel::delete(client_assertion_jtis::table.filter(client_assertion_jtis::expires_at.le(now))).execute(conn)?;
    let dpop_proofs = diesel::delete(dpop_proofs::table.filter(dpop_proofs::expires_at.le(now))).execute(conn)?;
    let reference_tokens =
        diesel::delete(reference_tokens::table.filter(reference_tokens::expires_at.le(now))).execute(conn)?;
    let refresh_tokens =
        diesel::delete(refresh_tokens::table.filter(refresh_tokens::expires_at.le(now))).execute(conn)?;
    let live_reference_token = reference_tokens::table
        .filter(reference_tokens::grant_id.eq(grants::id.nullable()))
        .filter(reference_tokens::expires_at.gt(now));
    let grants = diesel::delete(
        grants::table
            .filter(grants::expires_at.le(now))
            .filter(diesel::dsl::not(diesel::dsl::exists(live_reference_token))),
    )
    .execute(conn)?;
    let browser_sessions =
        diesel::delete(browser_sessions::table.filter(browser_sessions::expires_at.le(now))).execute(conn)?;
    let admin_sessions =
        diesel::delete(admin_sessions::table.filter(admin_sessions::expires_at.le(now))).execute(conn)?;
    let sign_in_buckets = crate::throttle::purge(conn, now)?;
    let account_tokens = crate::account_tokens::purge(conn, now)?;
    let initial_access_tokens = crate::initial_access_tokens::purge_expired(conn, now)?;
    // After the grants: a client is abandoned only when it holds none.
    let metadata_document_clients = crate::client_registrations::purge_abandoned(conn, now)?;
    let webauthn_ceremonies = crate::factors::ceremonies::purge(conn, now)?;
    Ok(PurgeCounts {
        authorization_codes,
        authorization_requests,
        pushed_authorization_requests,
        device_codes,
        refresh_tokens,
        reference_tokens,
        client_assertion_jtis,
        dpop_proofs,
        grants,
        browser_sessions,
        admin_sessions,
        sign_in_buckets,
        account_tokens,
        initial_access_tokens,
        metadata_document_clients,
        webauthn_ceremonies,
    })
}
