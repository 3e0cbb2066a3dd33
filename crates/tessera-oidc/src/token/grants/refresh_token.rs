//! RFC 6749 §6 with rotation (RFC 9700 §4.14.2): every use spends the refresh token and
//! returns a new one in the same grant; presenting a spent one revokes the whole grant,
//! except for a retry: the token rotated last, presented again by its client within the
//! application's `refresh_token_retry_grace_seconds` while its successor is unused,
//! spends that successor and gets new tokens (a rotation whose answer was lost; see
//! `tessera_store::redeem::retry_rotation`). The scope may narrow, never widen, and an
//! API scope whose requirement the grant's authentication no longer meets (a recency
//! passed, a level raised) is left out of the new access token while the grant keeps it
//! (docs/authentication.md). A token of another client is `invalid_grant`.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use tessera_claims::{IssuedClaims, UserProfile};
use tessera_domain::{ScopeSet, narrow, within_reach};
use tessera_store::applications::Application;
use tessera_store::redeem::{self, NotRotated, Rotate};
use tessera_store::users::User;
use tessera_store::{AnyConnection, StoreResult};
use tessera_store::{grants, refresh_tokens};
use tessera_tokens::{SecretHash, generate_secret};

use super::Grant;
use crate::error::OAuthError;
use crate::state::OidcState;
use crate::token::issue::{UserGrant, issue, profile_if_needed, spend_and_store};
use crate::token::{TokenRequest, TokenResponse};

/// The refresh token grant.
pub struct RefreshToken;

/// A refresh token as `check` found it.
pub struct Checked {
    old_hash: SecretHash,
    /// What it is rotated for; `None` when it was spent, expired or revoked as read.
    rotation: Option<Box<Rotation>>,
}

struct Rotation {
    grant: grants::Grant,
    user: User,
    claims: BTreeMap<String, Value>,
    profile: Option<UserProfile>,
    scope: ScopeSet,
    resources: Vec<String>,
    /// The token was spent by a rotation within the retry grace: this is a retry.
    retry: bool,
}

impl Grant for RefreshToken {
    type Checked = Checked;

    fn check(state: &OidcState, request: &TokenRequest<'_>) -> Result<Checked, OAuthError> {
        let (app, now) = (request.app, request.now);
        let presented = request.params.require("refresh_token")?;
        if presented.len() > 256 {
            return Err(OAuthError::invalid_grant("the refresh token is not valid"));
        }
        let requested = request.scope()?;
        let requested_resources = request.resources();
        let old_hash = SecretHash::of(presented);

        // Read the token, its grant and its user in one statement. Nothing is spent here:
        // a refused scope or resource leaves the token usable.
        let Some((token, grant, user)) =
            state.store.read_statement(|c| refresh_tokens::find_refresh_token_with_user(c, old_hash.as_str()))?
        else {
            return Err(OAuthError::invalid_grant("the refresh token is not valid"));
        };
        // A token of another client must not be spent.
        if grant.application_id != app.id {
            let summary = json!({ "reason": "another_client", "grant": grant.id, "issued_to": grant.application_id });
            let target = grant.user_id.as_ref().map_or_else(|| format!("grant:{}", grant.id), |u| format!("user:{u}"));
            let error = OAuthError::invalid_grant("the refresh token was issued to another client");
            return Err(super::misuse(state, app, "token.refresh_misused", &target, summary, error, now));
        }
        // RFC 9449 §5: a public client's refresh token is bound to the key of the proof
        // it was issued with; without a proof by that key nothing is spent.
        if let Some(bound) = grant.dpop_jkt.as_deref() {
            match request.dpop_jkt {
                None => {
                    return Err(OAuthError::invalid_dpop_proof(
                        "the refresh token is bound to a DPoP key: send a proof made with it",
                    ));
                }
                Some(jkt) if jkt != bound => {
                    let summary = json!({ "reason": "another_dpop_key", "grant": grant.id });
                    let target =
                        grant.user_id.as_ref().map_or_else(|| format!("grant:{}", grant.id), |u| format!("user:{u}"));
                    let error = OAuthError::invalid_grant("the refresh token is bound to another DPoP key");
                    return Err(super::misuse(state, app, "token.refresh_misused", &target, summary, error, now));
                }
                Some(_) => {}
            }
        }
        let live_grant = grant.revoked_at.is_none() && grant.expires_at > now;
        let usable = token.consumed_at.is_none() && token.expires_at > now && live_grant;
        // Spent by a rotation moments ago: a retry, if its successor is still unused
        // (which only the write can tell, atomically).
        let retry = !usable && live_grant && token.is_retry(app.settings.lifetimes.refresh_token_retry_grace, now);
        if !usable && !retry {
            return Ok(Checked { old_hash, rotation: None });
        }
        let (user, claims) = match user {
            Some((user, claims)) if !user.disabled => (user, claims),
            _ => return Err(OAuthError::invalid_grant("the refresh token is not valid")),
        };
        // The scope may narrow, never widen.
        let granted = ScopeSet::parse(&grant.scope).map_err(|_| OAuthError::server_error())?;
        let scope = narrow(&granted, &requested).map_err(|e| OAuthError::invalid_scope(e.to_string()))?;
        // docs/authentication.md: no API scope past its required recency, or past a level
        // raised since the grant's authentication; the grant keeps them for a step-up
        // through authorize, and the response's `scope` says what was issued (§5.1).
        let scope = within_reach(&scope, |s| request.config.scope_requirement(s), &grant.amr, grant.auth_time, now);
        if scope.is_empty() {
            return Err(OAuthError::invalid_grant(
                "the grant's authentication no longer meets the requirement of its scopes: the user must sign in again",
            ));
        }
        let resources = if requested_resources.is_empty() { grant.resources.clone() } else { requested_resources };
        let profile = profile_if_needed(state, request.config, app, &user, &claims)?;
        let rotation = Rotation { grant, user, claims, profile, scope, resources, retry };
        Ok(Checked { old_hash, rotation: Some(Box::new(rotation)) })
    }

    fn redeem(state: &OidcState, request: &TokenRequest<'_>, checked: Checked) -> Result<TokenResponse, OAuthError> {
        let (app, now) = (request.app, request.now);
        let old_hash = checked.old_hash.as_str();
        let Some(rotation) = checked.rotation else {
            // Spent, expired or revoked: the rotation's refusal says which (a reuse
            // revokes the grant).
            return state.store.write_transaction(|c| refuse_rotation(c, app, old_hash, now))?;
        };
        let Rotation { grant, user, claims, profile, scope, resources, retry } = *rotation;
        let new_token = generate_secret();
        let at_grant = IssuedClaims::from_map(&grant.issued_claims);
        let user_grant = UserGrant {
            resources: &resources,
            grant_id: &grant.id,
            user: &user,
            user_claims: &claims,
            profile: profile.as_ref(),
            scope: &scope,
            auth_time: grant.auth_time,
            amr: &grant.amr,
            sid: grant.sid.as_deref(),
            nonce: None,
            attributes: &grant.custom_claims,
            at_grant: Some(&at_grant),
            rotated_refresh: Some(&new_token),
            dpop_jkt: request.dpop_jkt,
        };
        let issued = match issue(state, app, request.config, &user_grant, now) {
            Ok(issued) => issued,
            Err(refusal) if refusal.event.is_none() => return Err(refusal.error),
            // A custom claims script refused: the grant ends (its refresh tokens with it),
            // and the refusal's audit event is kept.
            Err(refusal) => {
                return state.store.write_transaction(|c| {
                    grants::revoke_grant(c, &grant.id, now)?;
                    if let Some(event) = &refusal.event {
                        event.record(c, now)?;
                    }
                    Ok(Err(refusal.error))
                })?;
            }
        };

        let new_hash = new_token.hash();
        let issued_claims = issued.claims.to_map();
        let rotation = Rotate {
            old_hash,
            grant_id: &grant.id,
            new_hash: new_hash.as_str(),
            new_expires_at: (now + app.settings.lifetimes.refresh_token).min(grant.expires_at),
            issued_claims: &issued_claims,
            reference: issued.access.reference.as_ref(),
        };
        let rotated = if retry {
            // The successor spent, the new token stored, the retry and any script event
            // audited: one transaction.
            let grace = app.settings.lifetimes.refresh_token_retry_grace;
            state.store.write_transaction(|c| {
                let retried = redeem::retry_rotation(c, &rotation, grace, &actor(app), now)?;
                if let (true, Some(event)) = (retried, &issued.event) {
                    event.record(c, now)?;
                }
                Ok(retried)
            })?
        } else {
            spend_and_store(state, issued.event.as_ref(), now, |c| redeem::rotate_refresh(c, &rotation, now))?
        };
        if rotated {
            return Ok(issued.response);
        }
        // Used by a concurrent request in the meantime (or revoked, or expired; for a
        // retry, the successor used): what a reuse gets.
        state.store.write_transaction(|c| refuse_rotation(c, app, old_hash, now))?
    }
}

/// Who presented the token, in the audit log.
fn actor(app: &Application) -> String {
    format!("client:{}", app.client_id)
}

/// The answer to a refresh token that cannot be rotated: the one refusal of
/// `tessera_store::redeem` (a spent token revokes its grant, audited, unless it is a
/// retry that a concurrent request answered first), in OAuth terms.
fn refuse_rotation(
    c: &mut AnyConnection,
    app: &Application,
    old_hash: &str,
    now: i64,
) -> StoreResult<Result<TokenResponse, OAuthError>> {
    let grace = app.settings.lifetimes.refresh_token_retry_grace;
    let description = match redeem::refuse_rotation(c, old_hash, grace, &actor(app), now)? {
        NotRotated::Reused { .. } => "the refresh token was already used; its grant is revoked",
        NotRotated::Superseded => "the refresh token was already used by a concurrent request",
        NotRotated::Revoked => "the refresh token was revoked",
        NotRotated::Expired => "the refresh token has expired",
        NotRotated::Unknown => "the refresh token is not valid",
    };
    Ok(Err(OAuthError::invalid_grant(description)))
}
