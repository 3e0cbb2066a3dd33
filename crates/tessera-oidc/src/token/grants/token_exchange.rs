//! OAuth 2.0 Token Exchange (RFC 8693). An API that received a user's access token calls
//! another API on the user's behalf: through an application of its own (a confidential
//! client with the token-exchange grant) it presents that token (`subject_token`) and
//! names the other API (`audience` or `resource`), and gets an access token for it.
//!
//! What may be exchanged is the policy of the TARGET API connection (empty by default;
//! see `tessera_domain::token_exchange`). The issued token keeps the subject (`sub`,
//! `auth_time`, `amr`, the user's grant, so revoking that grant ends it too), is for the
//! target only, carries the scopes the rule allows, and records who acts in `act`
//! (§4.1), nesting the subject token's own `act`; only a rule that allows impersonation
//! leaves `act` out, and only when the caller names no actor. It never outlives the
//! subject token (docs/security.md: a credential never outlives the one it came from)
//! and is never refreshable (no refresh token). No custom claims mapping or script runs
//! for it: its claims are the registered ones and `act`.
//!
//! Errors follow §2.2.2: a subject or actor token that is invalid or unacceptable by
//! policy is `invalid_request` (the RFC's MUST, where RFC 6749 grants would say
//! `invalid_grant`); a target no rule allows is `invalid_target`; a scope outside the
//! rule `invalid_scope`.

use serde_json::{Map, Value, json};
use tessera_domain::token_exchange::{ACCESS_TOKEN_TYPE, act_for, exchanged_expiry, exchanged_token_claims};
use tessera_domain::{AccessTokenFacts, ExchangeRefusal, GrantId, ScopeSet, TokenFormat, UserId, within_reach};
use tessera_store::audit::{self, NewAuditEvent};
use tessera_store::connections::ApiConnection;

use super::Grant;
use crate::access_token::{self, AccessTokenClaims, format_for};
use crate::bearer::{self, ActiveToken};
use crate::error::OAuthError;
use crate::state::OidcState;
use crate::token::{TokenRequest, TokenResponse};

/// The token exchange grant.
pub struct TokenExchange;

/// What `check` decided: the token to issue.
pub struct Checked {
    target: String,
    scope: ScopeSet,
    subject: Map<String, Value>,
    act: Option<Value>,
    expires_at: i64,
    format: TokenFormat,
    source_audience: String,
}

impl Grant for TokenExchange {
    type Checked = Checked;

    /// Reads the subject token (and the actor token) as introspection does: at most one
    /// read each; the policy comes from the configuration in memory.
    fn check(state: &OidcState, request: &TokenRequest<'_>) -> Result<Checked, OAuthError> {
        let (app, params, now) = (request.app, request.params, request.now);
        // §2.1: only access tokens are exchanged, and only access tokens issued.
        if let Some(requested) = params.get("requested_token_type")
            && requested != ACCESS_TOKEN_TYPE
        {
            return Err(OAuthError::invalid_request(format!("requested_token_type must be {ACCESS_TOKEN_TYPE}")));
        }
        let subject_token = params.require("subject_token")?;
        if params.require("subject_token_type")? != ACCESS_TOKEN_TYPE {
            return Err(OAuthError::invalid_request(format!("subject_token_type must be {ACCESS_TOKEN_TYPE}")));
        }
        let actor_token = match (params.get("actor_token"), params.get("actor_token_type")) {
            (None, None) => None,
            (Some(token), Some(ACCESS_TOKEN_TYPE)) => Some(token),
            (Some(_), Some(_)) => {
                return Err(OAuthError::invalid_request(format!("actor_token_type must be {ACCESS_TOKEN_TYPE}")));
            }
            // §2.1: actor_token_type is required with an actor_token and forbidden without.
            (Some(_), None) => {
                return Err(OAuthError::invalid_request("actor_token_type is required with actor_token"));
            }
            (None, Some(_)) => return Err(OAuthError::invalid_request("actor_token_type without actor_token")),
        };
        let target = target(request)?;
        let requested = request.scope()?;
        // Refused before any read when no rule names this application for the target.
        if !target.token_exchange.rules().iter().any(|r| r.client_id == app.client_id) {
            return Err(refuse(state, request, &target.name, None, ExchangeRefusal::NoRuleForClient));
        }

        let Some(ActiveToken { claims: subject, .. }) = bearer::active_token(state, subject_token, now)? else {
            return Err(refuse_subject(state, request, &target.name));
        };
        let audience = audience_of(&subject);
        let audience: Vec<&str> = audience.iter().map(String::as_str).collect();
        let grant = match target.token_exchange.decide(app.client_id.as_str(), &audience, &requested) {
            Ok(grant) => grant,
            Err(refusal) => return Err(refuse(state, request, &target.name, Some(&subject), refusal)),
        };
        // A scope removed from the connection since the rule was written is not granted.
        let current: ScopeSet = request
            .config
            .scopes_of_connection(&target.id)
            .filter_map(|s| tessera_domain::ScopeToken::parse(&s.name).ok())
            .collect();
        let scope = grant.scope.intersection(&current);
        if scope.is_empty() {
            return Err(OAuthError::invalid_scope("none of the rule's scopes exist on the target API any more"));
        }
        // docs/authentication.md: a user's token carries into the exchange no API scope
        // whose requirement (level, recency) its authentication no longer meets.
        let scope = if subject.contains_key("grant_id") {
            let auth_time = subject.get("auth_time").and_then(Value::as_i64);
            within_reach(&scope, |s| request.config.scope_requirement(s), &amr_of(&subject), auth_time, now)
        } else {
            scope
        };
        if scope.is_empty() {
            return Err(OAuthError::invalid_scope(
                "the subject token's authentication does not meet the requirement of the scopes to exchange for \
                 (a level, or a recency that has passed): the user must sign in again",
            ));
        }

        let actor = match actor_token {
            None => None,
            Some(token) => Some(actor_of(state, request, token)?),
        };
        let act = act_for(grant.rule, actor.as_deref(), app.client_id.as_str(), subject.get("act"))
            .map_err(|e| OAuthError::invalid_request(e.to_string()))?;
        let subject_exp = subject.get("exp").and_then(Value::as_i64).unwrap_or(now);
        let expires_at = exchanged_expiry(now, app.settings.lifetimes.access_token, subject_exp);
        if expires_at <= now {
            return Err(refuse_subject(state, request, &target.name));
        }
        let format = format_for(app, std::slice::from_ref(&target.name), request.config);
        Ok(Checked {
            source_audience: grant.rule.source_audience.clone(),
            target: target.name.clone(),
            scope,
            subject,
            act,
            expires_at,
            format,
        })
    }

    /// Mints the token and writes, in one transaction, its row (a reference token) and
    /// the `token.exchanged` event.
    fn redeem(state: &OidcState, request: &TokenRequest<'_>, checked: Checked) -> Result<TokenResponse, OAuthError> {
        let (app, now) = (request.app, request.now);
        let Checked { target, scope, subject, act, expires_at, format, source_audience } = checked;
        let sub = subject.get("sub").and_then(Value::as_str).unwrap_or_default().to_owned();
        let grant_id = subject.get("grant_id").and_then(Value::as_str).map(|g| GrantId::from(g.to_owned()));
        let amr = amr_of(&subject);
        let jti = tessera_tokens::jwt::new_jti();
        let audience = [target.clone()];
        let facts = AccessTokenFacts {
            issuer: &state.issuer,
            subject: &sub,
            audience: &audience,
            client_id: &app.client_id,
            scope: &scope,
            issued_at: now,
            expires_at,
            jti: &jti,
            auth_time: subject.get("auth_time").and_then(Value::as_i64),
            amr: &amr,
            sid: None,
            grant_id: grant_id.as_ref(),
            machine: false,
        };
        let mut claims = exchanged_token_claims(&facts, act.as_ref());
        request.bind(&mut claims);
        let token = AccessTokenClaims {
            claims,
            expires_at,
            application_id: app.id.clone(),
            // A user's token (one of a grant) has the user as `sub`; a machine's, a client.
            user_id: grant_id.as_ref().map(|_| UserId::from(sub.clone())),
            grant_id,
        };
        let keys = state.keys.current();
        let minted = access_token::mint(format, &keys, app.settings.id_token_signed_response_alg, &token)?;
        let actor = format!("client:{}", app.client_id);
        let target_entity = format!("connection:{target}");
        let summary = json!({
            "subject": sub,
            "source_audience": source_audience,
            "audience": target,
            "scope": scope.to_string(),
            "act": act,
            "jti": jti,
            "expires_at": expires_at,
        });
        let event = NewAuditEvent {
            actor: &actor,
            action: "token.exchanged",
            target: &target_entity,
            summary,
            client_ip: request.client_ip,
        };
        state.store.write_transaction(|c| {
            minted.persist(c, now)?;
            audit::record(c, &event, now).map(|_| ())
        })?;
        Ok(TokenResponse {
            access_token: minted.token,
            issued_token_type: Some(ACCESS_TOKEN_TYPE),
            token_type: request.token_type(),
            expires_in: expires_at - now,
            refresh_token: None,
            id_token: None,
            scope: scope.to_string(),
        })
    }
}

/// §2.1 `audience` (a connection's name) and RFC 8707 `resource`: together they must
/// name exactly one API connection, the target.
fn target<'c>(request: &TokenRequest<'c>) -> Result<&'c ApiConnection, OAuthError> {
    let mut named = request.params.get_all("audience");
    named.extend(request.resources());
    named.sort();
    named.dedup();
    let name = match named.as_slice() {
        [one] => one,
        [] => return Err(OAuthError::invalid_request("name the target API with audience or resource")),
        _ => return Err(OAuthError::invalid_target("token exchange issues a token for one API at a time")),
    };
    request
        .config
        .connection_by_name(name)
        .ok_or_else(|| OAuthError::invalid_target("the audience is not an API connection"))
}

/// RFC 9068 §2.2 `aud`: one string or an array.
fn audience_of(claims: &Map<String, Value>) -> Vec<String> {
    match claims.get("aud") {
        Some(Value::String(one)) => vec![one.clone()],
        Some(Value::Array(many)) => many.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect(),
        _ => Vec::new(),
    }
}

/// §2.1 `actor_token`: an active access token issued to the caller itself; its `sub` is
/// the actor (the caller's own client id for a client credentials token).
fn actor_of(state: &OidcState, request: &TokenRequest<'_>, token: &str) -> Result<String, OAuthError> {
    let found = bearer::active_token(state, token, request.now)?;
    let claims = found
        .map(|a| a.claims)
        .filter(|c| c.get("client_id").and_then(Value::as_str) == Some(request.app.client_id.as_str()));
    claims
        .and_then(|c| c.get("sub").and_then(Value::as_str).map(str::to_owned))
        .ok_or_else(|| OAuthError::invalid_request("actor_token is not an active access token issued to this client"))
}

/// §2.2.2: the subject token is invalid (unknown, expired, revoked, foreign): audited,
/// as presenting one is a misuse by an authenticated client.
fn refuse_subject(state: &OidcState, request: &TokenRequest<'_>, target: &str) -> OAuthError {
    let error = OAuthError::invalid_request("subject_token is not an active access token issued by this server");
    let summary = json!({ "reason": "subject_token_inactive", "audience": target });
    super::misuse(
        state,
        request.app,
        "token.exchange_refused",
        &format!("connection:{target}"),
        summary,
        error,
        request.now,
    )
}

/// The target's policy refused the exchange: audited with the reason.
fn refuse(
    state: &OidcState,
    request: &TokenRequest<'_>,
    target: &str,
    subject: Option<&Map<String, Value>>,
    refusal: ExchangeRefusal,
) -> OAuthError {
    let error = match &refusal {
        ExchangeRefusal::NoRuleForClient => OAuthError::invalid_target(refusal.to_string()),
        ExchangeRefusal::SourceNotAllowed => OAuthError::invalid_request(refusal.to_string()),
        ExchangeRefusal::ScopeNotAllowed { .. } => OAuthError::invalid_scope(refusal.to_string()),
    };
    let summary = json!({
        "reason": refusal.oauth_error_code(),
        "message": refusal.to_string(),
        "audience": target,
        "subject": subject.and_then(|s| s.get("sub")),
    });
    super::misuse(
        state,
        request.app,
        "token.exchange_refused",
        &format!("connection:{target}"),
        summary,
        error,
        request.now,
    )
}

/// RFC 8176 `amr` of a token's claims (none when absent or malformed).
fn amr_of(claims: &Map<String, Value>) -> Vec<String> {
    claims
        .get("amr")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}
