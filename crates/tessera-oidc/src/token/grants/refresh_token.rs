//! RFC 6749 §6 with rotation (RFC 9700 §4.14.2): every use spends the refresh token and
//! returns a new one in the same grant; presenting a spent one revokes the whole grant.
//! The scope may narrow, never widen. A token of another client is `invalid_grant`.

use serde_json::json;
use tessera_domain::{GrantType, ScopeSet, narrow};
use tessera_store::applications::Application;
use tessera_store::tokens::{self, Rotation};
use tessera_store::{StoreError, audit, users};
use tessera_tokens::{SecretHash, generate_secret};

use crate::error::OAuthError;
use crate::form::Params;
use crate::state::OidcState;
use crate::token::TokenResponse;
use crate::token::issue::{UserGrant, issue};

pub fn exchange(state: &OidcState, app: &Application, params: &Params, now: i64) -> Result<TokenResponse, OAuthError> {
    if !app.settings.grant_types.contains(&GrantType::RefreshToken) {
        return Err(OAuthError::unauthorized_client("this application may not use the refresh_token grant"));
    }
    let presented = params.require("refresh_token")?;
    if presented.len() > 256 {
        return Err(OAuthError::invalid_grant("the refresh token is not valid"));
    }
    let requested =
        ScopeSet::parse(params.get("scope").unwrap_or("")).map_err(|e| OAuthError::invalid_scope(e.to_string()))?;
    let requested_resources = params.get_all("resource");
    let old_hash = SecretHash::of(presented);
    let new_token = generate_secret();
    let new_expires_at = now + app.settings.lifetimes.refresh_token;

    // A token of another client must not be spent: look before rotating.
    if let Some((_, grant)) = state.store.read(|c| tokens::find_refresh_token(c, old_hash.as_str()))?
        && grant.application_id != app.id
    {
        return Err(OAuthError::invalid_grant("the refresh token was issued to another client"));
    }
    let config = state.store.config()?;
    let outcome = state.store.write(|c| {
        let grant = match tokens::rotate(c, old_hash.as_str(), new_token.hash().as_str(), new_expires_at, now)? {
            Rotation::Rotated { grant } if grant.application_id == app.id => grant,
            Rotation::Rotated { .. } | Rotation::Unknown => {
                return Err(StoreError::not_found("refresh token"));
            }
            Rotation::Reused { grant_id } => {
                tokens::revoke_grant(c, &grant_id, now)?;
                audit::record(
                    c,
                    &audit::NewAuditEvent {
                        actor: &format!("client:{}", app.client_id),
                        action: "token.refresh_reused",
                        target: &format!("grant:{grant_id}"),
                        summary: json!({ "revoked": true }),
                        client_ip: None,
                    },
                    now,
                )?;
                return Ok(Err(OAuthError::invalid_grant("the refresh token was already used; its grant is revoked")));
            }
            Rotation::Expired => return Ok(Err(OAuthError::invalid_grant("the refresh token has expired"))),
            Rotation::Revoked => return Ok(Err(OAuthError::invalid_grant("the refresh token was revoked"))),
        };
        let granted = ScopeSet::parse(&grant.scope).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let scope = match narrow(&granted, &requested) {
            Ok(scope) => scope,
            // Roll the rotation back: the presented token stays usable.
            Err(e) => return Err(StoreError::invalid("scope", e.to_string())),
        };
        let Some(user_id) = &grant.user_id else { return Err(StoreError::not_found("user")) };
        let user = users::get(c, user_id)?;
        if user.disabled {
            return Err(StoreError::not_found("user"));
        }
        let claims = users::claim_values(c, &user)?;
        let resources = if requested_resources.is_empty() { &grant.resources } else { &requested_resources };
        let user_grant = UserGrant {
            resources,
            grant_id: &grant.id,
            user: &user,
            user_claims: &claims,
            scope: &scope,
            auth_time: grant.auth_time,
            amr: &grant.amr,
            sid: grant.sid.as_deref(),
            nonce: None,
            custom_claims: &grant.custom_claims,
            rotated_refresh: Some(&new_token),
        };
        let issued = match issue(state, c, app, &config, &user_grant, now)? {
            Ok(issued) => issued,
            // An unknown resource rolls the rotation back (the token stays usable).
            Err(refusal) if refusal.error == "invalid_target" => {
                return Err(StoreError::invalid("resource", refusal.description));
            }
            // A custom claims script refused: the grant ends (its refresh tokens with
            // it), and the refusal's audit event is kept.
            Err(refusal) => {
                tokens::revoke_grant(c, &grant.id, now)?;
                return Ok(Err(refusal));
            }
        };
        issued.access.persist(c, now)?;
        Ok(Ok(issued.response))
    });
    match outcome {
        Ok(result) => result,
        Err(StoreError::NotFound { .. }) => Err(OAuthError::invalid_grant("the refresh token is not valid")),
        Err(StoreError::Invalid { field: Some(field), message }) if field == "resource" => {
            Err(OAuthError::invalid_target(message))
        }
        Err(StoreError::Invalid { message, .. }) => Err(OAuthError::invalid_scope(message)),
        Err(other) => Err(other.into()),
    }
}
