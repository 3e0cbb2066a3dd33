//! RFC 6749 §4.4: the client credentials grant. A machine asks for itself: only API
//! scopes, no refresh token (§4.4.3), and the access token's `sub` is the client id.

use serde_json::Map;
use tessera_claims::IssuedClaims;
use tessera_domain::{
    AccessTokenFacts, ClientAuthMethod, Output, ScopeSet, TokenFormat, TokenSubject, access_token_audience_and_scope,
    access_token_claims, resolve_for_client_credentials,
};
use tessera_store::scripts::ScriptKind;

use super::Grant;
use crate::access_token::{self, AccessTokenClaims, format_for};
use crate::client_auth;
use crate::custom_claims::{self, ClaimsInput};
use crate::error::OAuthError;
use crate::form::Params;
use crate::state::OidcState;
use crate::token::{TokenRequest, TokenResponse};

/// The client credentials grant.
pub struct ClientCredentials;

/// The access token `check` decided on.
pub struct Checked {
    audience: Vec<String>,
    scope: ScopeSet,
    format: TokenFormat,
}

/// Answers a client credentials request on the calling (async) thread when it needs no
/// I/O: the configuration in memory is current, the client authenticates with a secret,
/// no machine script is enabled and the token is a JWT. Such a request writes nothing (a
/// JWT needs no row), so moving it to the blocking pool would only cost two context
/// switches. `None` when something would block, decided before anything is run or
/// written (`check` reads nothing): the caller then runs the request as any other.
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
    let app =
        client_auth::authenticate(&config, presented, &state.assertion_audience, &state.client_keys, now).ok()?.app;
    if let Err(error) = crate::token::allowed_grant(&app, params) {
        return Some(Err(error));
    }
    let request = TokenRequest { app: &app, config: &config, params, client_ip: None, now, dpop_jkt: None };
    let checked = match ClientCredentials::check(state, &request) {
        Ok(checked) => checked,
        Err(error) => return Some(Err(error)),
    };
    let blocks = checked.format == TokenFormat::Reference || config.enabled_script(ScriptKind::Machine).is_some();
    if blocks {
        return None;
    }
    Some(ClientCredentials::redeem(state, &request, checked))
}

impl Grant for ClientCredentials {
    type Checked = Checked;

    /// The scopes, the API connections and the token's format come from the
    /// configuration in memory: nothing is read from the database.
    fn check(_state: &OidcState, request: &TokenRequest<'_>) -> Result<Checked, OAuthError> {
        let (app, config) = (request.app, request.config);
        let requested = request.scope()?;
        let resources = request.resources();
        let catalog = config.catalog();
        let allowed = tessera_domain::allowed_scopes(&app.settings.allowed_scopes, &app.settings.grant_types, catalog);
        let resolved = resolve_for_client_credentials(&requested, catalog, &allowed)
            .map_err(|e| OAuthError::invalid_scope(e.to_string()))?;
        let (audience, scope) = access_token_audience_and_scope(&resolved, Some(&resources))
            .map_err(|e| OAuthError::invalid_target(e.to_string()))?;
        let format = format_for(app, &audience, config);
        Ok(Checked { audience, scope, format })
    }

    /// Nothing is spent: a JWT is issued without a database round trip, a reference
    /// token is one INSERT.
    fn redeem(state: &OidcState, request: &TokenRequest<'_>, checked: Checked) -> Result<TokenResponse, OAuthError> {
        let (app, config, now) = (request.app, request.config, request.now);
        let Checked { audience, scope, format } = checked;
        let expires_at = now + app.settings.lifetimes.access_token;
        let jti = tessera_tokens::jwt::new_jti();
        let mut claims = access_token_claims(&AccessTokenFacts {
            issuer: &state.issuer,
            subject: app.client_id.as_str(),
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
        request.bind(&mut claims);
        let token =
            AccessTokenClaims { claims, expires_at, application_id: app.id.clone(), user_id: None, grant_id: None };
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
        Ok(TokenResponse {
            access_token: minted.token,
            issued_token_type: None,
            token_type: request.token_type(),
            expires_in: app.settings.lifetimes.access_token,
            refresh_token: None,
            id_token: None,
            scope: scope.to_string(),
        })
    }
}
