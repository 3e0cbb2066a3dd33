//! Tokens for a user's grant (authorization code, refresh, password): the access token
//! (JWT or reference), the ID token when `openid` was granted, and a refresh token when
//! the grant may be refreshed. Nothing here writes: the caller stores what is returned
//! in the transaction that also consumed the code or rotated the refresh token.

use serde_json::{Map, Value, json};
use tessera_domain::{
    GrantType, IdentityClaims, ScopeSet, access_token_audience_and_scope, claims_for_id_token,
    resolve_requested_lenient,
};
use tessera_store::applications::Application;
use tessera_store::config::Config;
use tessera_store::users::User;
use tessera_tokens::{Secret, generate_secret};

use tessera_store::{AnyConnection, StoreError, StoreResult};

use crate::access_token::{self, AccessTokenClaims, Minted, format_for};
use crate::custom_claims;
use crate::error::OAuthError;
use crate::id_token::{self, IdTokenInput};
use crate::scopes;
use crate::state::OidcState;
use crate::token::TokenResponse;

/// The grant being answered.
pub struct UserGrant<'a> {
    pub grant_id: &'a str,
    pub user: &'a User,
    pub user_claims: &'a std::collections::BTreeMap<String, Value>,
    /// The scopes of this issuance (the grant's, or narrower on refresh).
    pub scope: &'a ScopeSet,
    pub auth_time: Option<i64>,
    pub amr: &'a [String],
    pub sid: Option<&'a str>,
    pub nonce: Option<&'a str>,
    /// Claims attached to the grant (custom claims that persist through rotation).
    pub custom_claims: &'a Map<String, Value>,
    /// RFC 8707: the API connections this access token is for (empty: every one granted).
    pub resources: &'a [String],
    /// The refresh token already stored by a rotation; `None` lets the application's
    /// settings decide whether a new one is issued.
    pub rotated_refresh: Option<&'a Secret>,
}

/// What an issuance produced: the response, the reference token row to store (if the
/// access token is one), and the new refresh token to store (if any).
pub struct Issued {
    pub response: TokenResponse,
    pub access: Minted,
    pub refresh: Option<Secret>,
}

/// Whether this application gets refresh tokens for this scope: it must be allowed the
/// refresh grant, and `offline_access` must have been granted unless the application
/// always issues one.
pub fn wants_refresh_token(app: &Application, scope: &ScopeSet) -> bool {
    app.settings.grant_types.contains(&GrantType::RefreshToken)
        && (scope.has_offline_access() || app.settings.always_issue_refresh_token)
}

/// Issues the tokens of `grant`. `Ok(Err(_))` is a refusal to answer the client with
/// (an invalid `resource`, a custom claims script's denial): the caller commits its
/// transaction, which holds the refusal's audit event.
pub fn issue(
    state: &OidcState,
    conn: &mut AnyConnection,
    app: &Application,
    config: &Config,
    grant: &UserGrant<'_>,
    now: i64,
) -> StoreResult<Result<Issued, OAuthError>> {
    let catalog = config.catalog();
    let allowed = scopes::allowed(app, catalog);
    let resolved = resolve_requested_lenient(grant.scope, catalog, &allowed);
    let (audience, scope) = match access_token_audience_and_scope(&resolved, Some(grant.resources)) {
        Ok(found) => found,
        Err(e) => return Ok(Err(OAuthError::invalid_target(e.to_string()))),
    };
    let expires_at = now + app.settings.lifetimes.access_token;

    let mut claims = Map::new();
    claims.insert("iss".into(), Value::String(state.issuer.clone()));
    claims.insert("sub".into(), Value::String(grant.user.id.clone()));
    claims.insert(
        "aud".into(),
        match audience.as_slice() {
            [] => Value::String(state.issuer.clone()),
            [one] => Value::String(one.clone()),
            many => json!(many),
        },
    );
    claims.insert("client_id".into(), Value::String(app.client_id.clone()));
    claims.insert("scope".into(), Value::String(scope.to_string()));
    claims.insert("iat".into(), json!(now));
    claims.insert("nbf".into(), json!(now));
    claims.insert("exp".into(), json!(expires_at));
    claims.insert("jti".into(), Value::String(uuid::Uuid::now_v7().simple().to_string()));
    if let Some(auth_time) = grant.auth_time {
        claims.insert("auth_time".into(), json!(auth_time));
    }
    if !grant.amr.is_empty() {
        claims.insert("amr".into(), json!(grant.amr));
    }
    if let Some(sid) = grant.sid {
        claims.insert("sid".into(), Value::String(sid.to_owned()));
    }
    // Lets introspection and userinfo refuse JWTs of a revoked grant.
    claims.insert("grant_id".into(), Value::String(grant.grant_id.to_owned()));

    // Custom claims, in the documented order: the script, then the attributes attached
    // to the grant by POST /api/v1/token/custom. None overrides a registered claim.
    let scope_text = scope.to_string();
    let script_input = custom_claims::UserScriptInput {
        user: grant.user,
        user_claims: grant.user_claims,
        grant_id: grant.grant_id,
        scope: &scope_text,
        auth_time: grant.auth_time,
        amr: grant.amr,
    };
    let scripted = match custom_claims::for_user(&state.scripts, config, conn, app, &script_input, &claims, now)? {
        Ok(scripted) => scripted,
        Err(refusal) => return Ok(Err(refusal)),
    };
    custom_claims::merge(&mut claims, [scripted, grant.custom_claims.clone()]);

    let connection_format = match audience.as_slice() {
        [only] => config.connection_by_name(only).and_then(|c| c.access_token_format),
        _ => None,
    };
    let format = format_for(app.settings.access_token_format, &audience, connection_format);
    let keys = state.keys.current();
    let alg = app.settings.id_token_signed_response_alg;
    let token = AccessTokenClaims {
        claims,
        expires_at,
        application_id: app.id.clone(),
        user_id: Some(grant.user.id.clone()),
        grant_id: Some(grant.grant_id.to_owned()),
    };
    let access = match access_token::mint(format, &keys, alg, &token) {
        Ok(access) => access,
        Err(e) => return Err(StoreError::Invalid { field: None, message: e.description }),
    };

    let id_token = if scope.has_openid() {
        let identity =
            IdentityClaims { sub: &grant.user.id, user_values: grant.user_claims, scopes: &resolved.identity };
        let input = IdTokenInput {
            client_id: &app.client_id,
            sub: &grant.user.id,
            auth_time: grant.auth_time,
            nonce: grant.nonce,
            sid: grant.sid,
            amr: grant.amr,
            access_token: Some(&access.token),
            claims: claims_for_id_token(&identity),
            lifetime: app.settings.lifetimes.id_token,
            alg,
        };
        match id_token::mint(state, &input, now) {
            Ok(id_token) => Some(id_token),
            Err(e) => return Err(StoreError::Invalid { field: None, message: e.description }),
        }
    } else {
        None
    };
    let refresh = match grant.rotated_refresh {
        Some(rotated) => Some(rotated.clone()),
        None => wants_refresh_token(app, &scope).then(generate_secret),
    };
    let response = TokenResponse {
        access_token: access.token.clone(),
        token_type: "Bearer",
        expires_in: app.settings.lifetimes.access_token,
        refresh_token: refresh.as_ref().map(|r| r.expose().to_owned()),
        id_token,
        scope: scope.to_string(),
    };
    Ok(Ok(Issued { response, access, refresh }))
}
