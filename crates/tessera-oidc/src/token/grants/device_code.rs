//! RFC 8628 §3.4–§3.5: the device access token request. Each poll is recorded (one
//! update and its read, in one transaction): a poll sooner than the interval is
//! `slow_down` and grows the interval by 5 seconds; a request still waiting for the user
//! is `authorization_pending`, a denied one `access_denied`, an expired one
//! `expired_token`. An approved device code is spent once: tokens are issued as for an
//! authorization code (ID token with `openid`, refresh token with `offline_access` or
//! always, access token per API connection), and any later poll is `invalid_grant`.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};
use tessera_claims::UserProfile;
use tessera_domain::ScopeSet;
use tessera_store::device_codes::{self, DeviceCode as StoredCode, DeviceStatus};
use tessera_store::grants::NewGrant;
use tessera_store::users::{self, User};
use tessera_tokens::SecretHash;

use super::Grant;
use crate::error::OAuthError;
use crate::state::OidcState;
use crate::token::issue::{UserGrant, issue, profile_if_needed};
use crate::token::{TokenRequest, TokenResponse};

/// The device authorization grant.
pub struct DeviceCode;

/// An approved device code as `check` found it.
pub struct Checked {
    hash: SecretHash,
    code: StoredCode,
    user: User,
    claims: BTreeMap<String, Value>,
    profile: Option<UserProfile>,
    resources: Vec<String>,
    scope: ScopeSet,
}

impl Grant for DeviceCode {
    type Checked = Checked;

    /// Records the poll (the only write besides a misuse's audit event: §3.5 needs the
    /// time of the last poll) and decides.
    fn check(state: &OidcState, request: &TokenRequest<'_>) -> Result<Checked, OAuthError> {
        let (app, now) = (request.app, request.now);
        let presented = request.params.require("device_code")?;
        if presented.len() > 256 {
            return Err(OAuthError::invalid_grant("the device code is not valid"));
        }
        let hash = SecretHash::of(presented);
        let Some(code) = state.store.write_transaction(|c| device_codes::poll(c, hash.as_str(), &app.id, now))? else {
            return Err(OAuthError::invalid_grant("the device code is not valid"));
        };
        if code.application_id != app.id {
            let summary = json!({ "reason": "another_client", "issued_to": code.application_id });
            let error = OAuthError::invalid_grant("the device code was issued to another client");
            let target = format!("application:{}", code.application_id);
            return Err(super::misuse(state, app, "token.device_code_misused", &target, summary, error, now));
        }
        if code.consumed_at.is_some() {
            return Err(OAuthError::invalid_grant("the device code was already used"));
        }
        if code.expires_at <= now {
            return Err(OAuthError::expired_token());
        }
        let user_id = match code.status {
            DeviceStatus::Pending if code.too_fast => return Err(OAuthError::slow_down()),
            DeviceStatus::Pending => return Err(OAuthError::authorization_pending()),
            DeviceStatus::Denied => return Err(OAuthError::access_denied("the user denied the request")),
            DeviceStatus::Approved => code.user_id.clone().ok_or_else(OAuthError::server_error)?,
        };
        let Some((user, claims)) = state.store.read_statement(|c| users::find_with_claims(c, &user_id))? else {
            return Err(OAuthError::invalid_grant("the account no longer exists"));
        };
        if user.disabled {
            return Err(OAuthError::invalid_grant("the account is disabled"));
        }
        let profile = profile_if_needed(state, request.config, app, &user, &claims)?;
        // RFC 8707 §2.2: the token request may narrow to resources of the authorization.
        let requested = request.resources();
        if requested.iter().any(|r| !code.resources.is_empty() && !code.resources.contains(r)) {
            return Err(OAuthError::invalid_target("a resource was not part of the device authorization request"));
        }
        let resources = if requested.is_empty() { code.resources.clone() } else { requested };
        let scope = ScopeSet::parse(&code.scope).map_err(|_| OAuthError::server_error())?;
        Ok(Checked { hash, code, user, claims, profile, resources, scope })
    }

    fn redeem(state: &OidcState, request: &TokenRequest<'_>, checked: Checked) -> Result<TokenResponse, OAuthError> {
        let (app, now) = (request.app, request.now);
        let Checked { hash, code, user, claims, profile, resources, scope } = checked;
        let attributes = Map::new();
        let user_grant = UserGrant {
            resources: &resources,
            grant_id: &code.grant_id,
            user: &user,
            user_claims: &claims,
            profile: profile.as_ref(),
            scope: &scope,
            auth_time: code.auth_time,
            amr: &code.amr,
            sid: code.sid.as_deref(),
            nonce: None,
            attributes: &attributes,
            at_grant: None,
            rotated_refresh: None,
            dpop_jkt: request.dpop_jkt,
        };
        let issued = match issue(state, app, request.config, &user_grant, now) {
            Ok(issued) => issued,
            Err(refusal) => {
                if let Some(event) = &refusal.event {
                    state.store.write_transaction(|c| event.record(c, now))?;
                }
                return Err(refusal.error);
            }
        };
        let grant = NewGrant {
            id: Some(code.grant_id.clone()),
            application_id: app.id.clone(),
            user_id: Some(user.id.clone()),
            sid: code.sid.clone(),
            scope: code.scope.clone(),
            resources: code.resources.clone(),
            auth_time: code.auth_time,
            amr: code.amr.clone(),
            custom_claims: Map::new(),
            issued_claims: issued.claims.to_map(),
            expires_at: now + app.settings.lifetimes.refresh_token,
            dpop_jkt: super::refresh_binding(request),
        };
        let refresh = issued.refresh.as_ref().map(|r| r.hash());
        let spent = state.store.write_transaction(|c| {
            let reference = issued.access.reference.as_ref();
            let spent =
                device_codes::redeem(c, hash.as_str(), &grant, refresh.as_ref().map(|h| h.as_str()), reference, now)?;
            if let (true, Some(event)) = (spent, &issued.event) {
                event.record(c, now)?;
            }
            Ok(spent)
        })?;
        if spent {
            return Ok(issued.response);
        }
        // A concurrent poll of the same device code spent it first.
        Err(OAuthError::invalid_grant("the device code was already used"))
    }
}
