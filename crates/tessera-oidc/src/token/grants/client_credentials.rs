//! RFC 6749 §4.4: the client credentials grant. A machine asks for itself: only API
//! scopes, no refresh token (§4.4.3), and the access token's `sub` is the client id.

use serde_json::{Map, Value, json};
use tessera_domain::{GrantType, ScopeSet, access_token_audience_and_scope, resolve_for_client_credentials};
use tessera_store::applications::Application;
use tessera_store::scripts::ScriptKind;

use crate::access_token::{self, AccessTokenClaims, format_for};
use crate::custom_claims;
use crate::error::OAuthError;
use crate::form::Params;
use crate::scopes;
use crate::state::OidcState;
use crate::token::TokenResponse;

pub fn exchange(state: &OidcState, app: &Application, params: &Params, now: i64) -> Result<TokenResponse, OAuthError> {
    if !app.settings.grant_types.contains(&GrantType::ClientCredentials) {
        return Err(OAuthError::unauthorized_client("this application may not use the client_credentials grant"));
    }
    let requested =
        ScopeSet::parse(params.get("scope").unwrap_or("")).map_err(|e| OAuthError::invalid_scope(e.to_string()))?;
    let resources = params.get_all("resource");
    // The scopes, the API connections and the machine-to-machine script come from the
    // configuration in memory: a JWT is issued without a database round trip.
    let config = state.store.config()?;
    let catalog = config.catalog();
    let allowed = scopes::allowed(app, catalog);
    let resolved = resolve_for_client_credentials(&requested, catalog, &allowed)
        .map_err(|e| OAuthError::invalid_scope(e.to_string()))?;
    let (audience, scope) = access_token_audience_and_scope(&resolved, Some(&resources))
        .map_err(|e| OAuthError::invalid_target(e.to_string()))?;

    let expires_at = now + app.settings.lifetimes.access_token;
    let mut claims = Map::new();
    claims.insert("iss".into(), Value::String(state.issuer.clone()));
    claims.insert("sub".into(), Value::String(app.client_id.clone()));
    claims.insert("aud".into(), audience_claim(&audience));
    claims.insert("client_id".into(), Value::String(app.client_id.clone()));
    claims.insert("scope".into(), Value::String(scope.to_string()));
    claims.insert("iat".into(), json!(now));
    claims.insert("nbf".into(), json!(now));
    claims.insert("exp".into(), json!(expires_at));
    claims.insert("jti".into(), Value::String(uuid::Uuid::now_v7().simple().to_string()));
    claims.insert("gty".into(), Value::String("client_credentials".into()));
    // The machine-to-machine script runs only when enabled, outside any transaction; a
    // failure or denial is audited.
    if let Some(script) = config.enabled_script(ScriptKind::Machine) {
        let scripted = custom_claims::for_machine(&state.scripts, &config, &state.store, script, app, &claims, now)??;
        custom_claims::merge(&mut claims, [scripted]);
    }
    let token = AccessTokenClaims { claims, expires_at, application_id: app.id.clone(), user_id: None, grant_id: None };

    let connection_format = match audience.as_slice() {
        [only] => config.connection_by_name(only).and_then(|c| c.access_token_format),
        _ => None,
    };
    let format = format_for(app.settings.access_token_format, &audience, connection_format);
    let keys = state.keys.current();
    let minted = access_token::mint(format, &keys, app.settings.id_token_signed_response_alg, &token)?;
    if minted.reference.is_some() {
        state.store.write(|c| minted.persist(c, now))?;
    }
    let access_token = minted.token;
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: app.settings.lifetimes.access_token,
        refresh_token: None,
        id_token: None,
        scope: scope.to_string(),
    })
}

/// RFC 7519 §4.1.3: one audience as a string, several as an array.
fn audience_claim(audience: &[String]) -> Value {
    match audience {
        [one] => Value::String(one.clone()),
        many => Value::Array(many.iter().cloned().map(Value::String).collect()),
    }
}
