//! RFC 6749 §4.1.3 and RFC 7636 §4.6: redeeming an authorization code. The code is
//! checked against the client, the redirect URI and the PKCE verifier before it is
//! consumed, so a replay with a wrong verifier or wrong credentials revokes nothing; a
//! second valid redemption is `invalid_grant` and revokes what the first one issued
//! (RFC 6749 §4.1.2, RFC 9700 §4.2.4).

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use tessera_claims::UserProfile;
use tessera_domain::ScopeSet;
use tessera_store::applications::Application;
use tessera_store::users::User;
use tessera_store::{AnyConnection, StoreResult, audit, redeem};
use tessera_store::{codes, codes::AuthorizationCode as Code, codes::CodeConsumption};
use tessera_store::{grants, grants::NewGrant};
use tessera_tokens::SecretHash;

use super::Grant;
use crate::custom_claims;
use crate::error::OAuthError;
use crate::state::OidcState;
use crate::token::issue::{UserGrant, issue, profile_if_needed, spend_and_store};
use crate::token::{TokenRequest, TokenResponse};

/// The authorization code grant.
pub struct AuthorizationCode;

/// A code as `check` found it.
pub struct Checked {
    hash: SecretHash,
    outcome: Outcome,
}

enum Outcome {
    /// Spent or expired when read: a replay revokes what the first redemption issued.
    Spent,
    /// Refused after its checks passed (its user gone or disabled, a resource outside the
    /// authorization, a stored scope that does not parse): the code is spent and nothing
    /// is issued.
    Refused(OAuthError),
    /// Tokens for its user.
    Redeemable(Box<Redeemable>),
}

struct Redeemable {
    code: Code,
    user: User,
    claims: BTreeMap<String, Value>,
    profile: Option<UserProfile>,
    resources: Vec<String>,
    scope: ScopeSet,
}

impl Grant for AuthorizationCode {
    type Checked = Checked;

    fn check(state: &OidcState, request: &TokenRequest<'_>) -> Result<Checked, OAuthError> {
        let (app, params, now) = (request.app, request.params, request.now);
        let code = params.require("code")?;
        let redirect_uri = params.get("redirect_uri");
        let verifier = params.get("code_verifier");
        let requested_resources = request.resources();
        if code.len() > 256 {
            return Err(OAuthError::invalid_grant("the code is not valid"));
        }
        let hash = SecretHash::of(code);

        // Read the code with its user in one statement. Nothing is spent here, so a replay
        // with a wrong verifier or wrong client credentials revokes nothing.
        let Some((found, user)) = state.store.read_statement(|c| codes::get_code_with_user(c, hash.as_str()))? else {
            return Err(OAuthError::invalid_grant("the code is not valid"));
        };
        let misused = |reason: &str, error: OAuthError| {
            let summary = json!({ "reason": reason, "grant": found.grant_id, "issued_to": found.application_id });
            super::misuse(state, app, "token.code_misused", &format!("user:{}", found.user_id), summary, error, now)
        };
        if found.application_id != app.id {
            return Err(misused("another_client", OAuthError::invalid_grant("the code was issued to another client")));
        }
        if redirect_uri != Some(found.redirect_uri.as_str()) {
            let error = OAuthError::invalid_grant("redirect_uri does not match the authorization request");
            return Err(misused("redirect_uri", error));
        }
        if let Err(problem) = check_verifier(found.code_challenge.as_deref(), verifier) {
            return Err(misused("code_verifier", OAuthError::invalid_grant(problem)));
        }
        // RFC 9449 §10: a code bound by `dpop_jkt` is redeemed with a proof of that key.
        if let Some(bound) = found.dpop_jkt.as_deref() {
            match request.dpop_jkt {
                None => return Err(OAuthError::invalid_dpop_proof("the code is bound to a DPoP key: send a proof")),
                Some(jkt) if jkt != bound => {
                    let error = OAuthError::invalid_grant("the code is bound to another DPoP key");
                    return Err(misused("dpop_jkt", error));
                }
                Some(_) => {}
            }
        }
        if found.consumed_at.is_some() || found.expires_at <= now {
            return Ok(Checked { hash, outcome: Outcome::Spent });
        }
        let Some((user, claims)) = user.filter(|(user, _)| !user.disabled) else {
            return Ok(Checked {
                hash,
                outcome: Outcome::Refused(OAuthError::invalid_grant("the account is disabled")),
            });
        };
        let profile = profile_if_needed(state, request.config, app, &user, &claims)?;
        // RFC 8707 §2.2: the token request may narrow to resources of the authorization.
        if requested_resources.iter().any(|r| !found.resources.is_empty() && !found.resources.contains(r)) {
            let error = OAuthError::invalid_target("a resource was not part of the authorization request");
            return Ok(Checked { hash, outcome: Outcome::Refused(error) });
        }
        let resources = if requested_resources.is_empty() { found.resources.clone() } else { requested_resources };
        let Ok(scope) = ScopeSet::parse(&found.scope) else {
            return Ok(Checked { hash, outcome: Outcome::Refused(OAuthError::server_error()) });
        };
        let redeemable = Redeemable { code: found, user, claims, profile, resources, scope };
        Ok(Checked { hash, outcome: Outcome::Redeemable(Box::new(redeemable)) })
    }

    fn redeem(state: &OidcState, request: &TokenRequest<'_>, checked: Checked) -> Result<TokenResponse, OAuthError> {
        let (app, now) = (request.app, request.now);
        let hash = checked.hash.as_str();
        let found = match checked.outcome {
            // A replay revokes what the first redemption issued; the write says which.
            Outcome::Spent => return state.store.write_transaction(|c| refuse_spent(c, app, hash, now))?,
            Outcome::Refused(error) => {
                return state.store.write_transaction(|c| spend_refused(c, app, hash, error, None, now))?;
            }
            Outcome::Redeemable(found) => found,
        };
        let Redeemable { code, user, claims, profile, resources, scope } = *found;
        let attributes = Map::new();
        let user_grant = UserGrant {
            resources: &resources,
            grant_id: &code.grant_id,
            user: &user,
            user_claims: &claims,
            profile: profile.as_ref(),
            scope: &scope,
            auth_time: Some(code.auth_time),
            amr: &code.amr,
            sid: code.sid.as_deref(),
            nonce: code.nonce.as_deref(),
            attributes: &attributes,
            at_grant: None,
            rotated_refresh: None,
            dpop_jkt: request.dpop_jkt,
        };
        let issued = match issue(state, app, request.config, &user_grant, now) {
            Ok(issued) => issued,
            // Refused (a resource, a custom claims script): the code is spent, and the
            // refusal's audit event is kept.
            Err(refusal) => {
                return state
                    .store
                    .write_transaction(|c| spend_refused(c, app, hash, refusal.error, refusal.event, now))?;
            }
        };
        let grant = NewGrant {
            id: Some(code.grant_id),
            application_id: app.id.clone(),
            user_id: Some(code.user_id),
            sid: code.sid,
            scope: code.scope,
            resources: code.resources,
            auth_time: Some(code.auth_time),
            amr: code.amr,
            custom_claims: Map::new(),
            issued_claims: issued.claims.to_map(),
            expires_at: now + app.settings.lifetimes.refresh_token,
            dpop_jkt: super::refresh_binding(request),
        };
        let refresh = issued.refresh.as_ref().map(|r| r.hash());
        let spent = spend_and_store(state, issued.event.as_ref(), now, |c| {
            let reference = issued.access.reference.as_ref();
            redeem::redeem_code(c, hash, &grant, refresh.as_ref().map(|h| h.as_str()), reference, now)
        })?;
        if spent {
            return Ok(issued.response);
        }
        // Spent or expired since it was read (a concurrent redemption won).
        state.store.write_transaction(|c| refuse_spent(c, app, hash, now))?
    }
}

/// Spends the code for a request refused after its checks passed, recording the
/// refusal's event; a code spent already is answered as a replay.
fn spend_refused(
    c: &mut AnyConnection,
    app: &Application,
    hash: &str,
    error: OAuthError,
    event: Option<custom_claims::ScriptEvent>,
    now: i64,
) -> StoreResult<Result<TokenResponse, OAuthError>> {
    match codes::consume(c, hash, now)? {
        CodeConsumption::Consumed(_) => {
            if let Some(event) = &event {
                event.record(c, now)?;
            }
            Ok(Err(error))
        }
        _ => refuse_spent(c, app, hash, now),
    }
}

/// The answer to a code that cannot be spent: a replay (RFC 6749 §4.1.2, RFC 9700
/// §4.2.4) revokes what the first redemption issued, and that is audited.
fn refuse_spent(
    c: &mut AnyConnection,
    app: &Application,
    hash: &str,
    now: i64,
) -> StoreResult<Result<TokenResponse, OAuthError>> {
    match codes::consume(c, hash, now)? {
        CodeConsumption::AlreadyConsumed(code) => {
            grants::revoke_grant(c, &code.grant_id, now)?;
            audit::record(
                c,
                &audit::NewAuditEvent {
                    actor: &format!("client:{}", app.client_id),
                    action: "token.code_replayed",
                    target: &format!("user:{}", code.user_id),
                    summary: json!({ "grant": code.grant_id }),
                    client_ip: None,
                },
                now,
            )?;
            Ok(Err(OAuthError::invalid_grant("the code was already used; what it issued is revoked")))
        }
        CodeConsumption::Expired => Ok(Err(OAuthError::invalid_grant("the code has expired"))),
        // Spent by this call (it had become redeemable again: it cannot) or gone: nothing
        // was issued.
        CodeConsumption::Consumed(_) | CodeConsumption::Unknown => {
            Ok(Err(OAuthError::invalid_grant("the code is not valid")))
        }
    }
}

/// RFC 7636 §4.6 with S256, and RFC 9700 §2.1.1: a verifier for a code issued without a
/// challenge is refused (no downgrade), as is a challenge without a verifier.
fn check_verifier(challenge: Option<&str>, verifier: Option<&str>) -> Result<(), &'static str> {
    match (challenge, verifier) {
        (None, None) => Ok(()),
        (None, Some(_)) => Err("a code_verifier was sent for a code issued without a code_challenge"),
        (Some(_), None) => Err("code_verifier is missing"),
        (Some(challenge), Some(verifier)) => {
            // RFC 7636 §4.1: 43 to 128 unreserved characters.
            let well_formed = (43..=128).contains(&verifier.len())
                && verifier.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
            let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
            if well_formed && bool::from(subtle::ConstantTimeEq::ct_eq(computed.as_bytes(), challenge.as_bytes())) {
                Ok(())
            } else {
                Err("code_verifier does not match the code_challenge")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::check_verifier;

    #[test]
    fn the_rfc_7636_example_verifies() {
        // RFC 7636 Appendix B.
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(check_verifier(Some(challenge), Some(verifier)).is_ok());
        assert!(check_verifier(Some(challenge), Some("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXX")).is_err());
        assert!(check_verifier(Some(challenge), None).is_err());
        assert!(check_verifier(None, Some(verifier)).is_err());
        assert!(check_verifier(None, None).is_ok());
        assert!(check_verifier(Some(challenge), Some("short")).is_err());
    }
}
