//! RFC 6749 §4.4: the client credentials grant. A machine asks for itself: only API
//! scopes, no refresh token (§4.4.3), and the access token's `sub` is the client id.

use serde_json::Map;
use tessera_claims::IssuedClaims;
use tessera_domain::{
    AccessTokenFacts, ClientAuthMethod, Output, TokenFormat, TokenSubject, access_token_audience_and_scope,
    access_token_claims, resolve_for_client_credentials,
};
use tessera_store::config::Config;
use tessera_store::scripts::ScriptKind;

use crate::access_token::{self, AccessTokenClaims, format_for};
use crate::client_auth;
use crate::custom_claims::{self, ClaimsInput};
use crate::error::OAuthError;
use crate::form::Params;
use crate::state::OidcState;
use crate::token::{TokenRequest, TokenResponse};

pub fn exchange(state: &OidcState, request: &TokenRequest<'_>) -> Result<TokenResponse, OAuthError> {
    let config = state.store.config()?;
    match issue(state, &config, request, Io::Allowed)? {
        Issuance::Answered(response) => Ok(response),
        Issuance::WouldBlock => Err(OAuthError::server_error()),
    }
}

/// Answers a client credentials request on the calling (async) thread when it needs no
/// I/O: the configuration in memory is current, the client authenticates with a secret,
/// no machine script is enabled and the token is a JWT. Such a request writes nothing (a
/// JWT needs no row), so moving it to the blocking pool would only cost two context
/// switches. `None` when something would
/// block, before anything is done: the caller then runs the request as any other.
pub fn answer_inline(
    state: &OidcState,
    presented: &client_auth::Presented,
    params: &Params,
    now: i64,
) -> Option<Result<TokenResponse, OAuthError>> {
    let config = state.store.config_if_current()?;
    if !matches!(presented.method, ClientAuthMethod::ClientSecretBasic | ClientAuthMethod::ClientSecretPost) {
        return None;
    }
    // A refusal is audited: that write belongs to the blocking path.
    let app = client_auth::authenticate(&config, presented, &state.assertion_audience, now).ok()?.app;
    if let Err(error) = crate::token::allowed_grant(&app, params) {
        return Some(Err(error));
    }
    let request = TokenRequest { app: &app, params, client_ip: None, now };
    match issue(state, &config, &request, Io::Forbidden) {
        Ok(Issuance::Answered(response)) => Some(Ok(response)),
        Ok(Issuance::WouldBlock) => None,
        Err(error) => Some(Err(error)),
    }
}

/// Whether an issuance may block (run a script, write to the database).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Io {
    Allowed,
    Forbidden,
}

enum Issuance {
    Answered(TokenResponse),
    /// [`Io::Forbidden`] and something would block; nothing was done.
    WouldBlock,
}

fn issue(state: &OidcState, config: &Config, request: &TokenRequest<'_>, io: Io) -> Result<Issuance, OAuthError> {
    let (app, now) = (request.app, request.now);
    let requested = request.scope()?;
    let resources = request.resources();
    // The scopes, the API connections, the mappings and the machine-to-machine script
    // come from the configuration in memory: a JWT is issued without a database round
    // trip.
    let catalog = config.catalog();
    let allowed = tessera_domain::allowed_scopes(&app.settings.allowed_scopes, &app.settings.grant_types, catalog);
    let resolved = resolve_for_client_credentials(&requested, catalog, &allowed)
        .map_err(|e| OAuthError::invalid_scope(e.to_string()))?;
    let (audience, scope) = access_token_audience_and_scope(&resolved, Some(&resources))
        .map_err(|e| OAuthError::invalid_target(e.to_string()))?;
    let format = format_for(app, &audience, config);
    let blocks = format == TokenFormat::Reference || config.enabled_script(ScriptKind::Machine).is_some();
    if blocks && io == Io::Forbidden {
        return Ok(Issuance::WouldBlock);
    }

    let expires_at = now + app.settings.lifetimes.access_token;
    let jti = tessera_tokens::jwt::new_jti();
    let mut claims = access_token_claims(&AccessTokenFacts {
        issuer: &state.issuer,
        subject: &app.client_id,
        audience: &audience,
        client_id: &app.client_id,
        scope: &scope,
        issued_at: now,
        expires_at,
        jti: &jti,
        auth_time: None,
        amr: &[],
        sid: None,
        grant_id: None,
        machine: true,
    });
    // The machine mappings and script (when enabled) run outside any transaction; a
    // script's failure or denial is audited.
    let attributes = Map::new();
    let input = ClaimsInput {
        subject: TokenSubject::Machine,
        app,
        payload: &claims,
        user: None,
        attributes: &attributes,
        at_grant: None,
    };
    let custom = match custom_claims::compute(&state.scripts, config, input) {
        Ok(custom) => custom,
        Err(refusal) => {
            if let Some(event) = &refusal.event {
                state.store.write_transaction(|c| event.record(c, now))?;
            }
            return Err(refusal.error);
        }
    };
    IssuedClaims::merge_into(&mut claims, custom.issued.output(Output::AccessToken));
    let token = AccessTokenClaims { claims, expires_at, application_id: app.id.clone(), user_id: None, grant_id: None };
    let keys = state.keys.current();
    let minted = access_token::mint(format, &keys, app.settings.id_token_signed_response_alg, &token)?;
    match &custom.event {
        // A script failed, the token going without its claims: its event with the token.
        Some(event) => state.store.write_transaction(|c| {
            minted.persist(c, now)?;
            event.record(c, now)
        })?,
        // A reference token is one INSERT: one round trip.
        None if minted.reference.is_some() => state.store.write_statement(|c| minted.persist(c, now))?,
        None => {}
    }
    Ok(Issuance::Answered(TokenResponse {
        access_token: minted.token,
        token_type: "Bearer",
        expires_in: app.settings.lifetimes.access_token,
        refresh_token: None,
        id_token: None,
        scope: scope.to_string(),
    }))
}
