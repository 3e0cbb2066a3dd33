//! Tokens for a user's grant (authorization code, refresh, password): the access token
//! (JWT or reference), the ID token when `openid` was granted, and a refresh token when
//! the grant may be refreshed, with the grant's custom claims in each (see
//! `custom_claims`). Nothing here touches the database: the caller reads what is needed
//! first (one statement), and stores what is returned in the one write that also spends
//! the code or rotates the refresh token (one statement on Postgres, see
//! `tessera_store::redeem`). Scripts run and tokens are signed outside any transaction.

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use tessera_claims::{GrantInfo, IssuedClaims, UserProfile};
use tessera_domain::{
    AccessTokenFacts, GrantId, GrantType, IdTokenFacts, IdentityClaims, Output, ScopeSet, TokenSubject,
    access_token_audience_and_scope, access_token_claims, claims_for_id_token, id_token_claims,
    resolve_requested_lenient,
};
use tessera_store::applications::Application;
use tessera_store::config::Config;
use tessera_store::users::User;
use tessera_store::{AnyConnection, StoreResult};
use tessera_tokens::{Secret, generate_secret};

use crate::access_token::{self, AccessTokenClaims, Minted, format_for};
use crate::custom_claims::{self, ClaimsInput, Refusal, ScriptEvent};
use crate::error::OAuthError;
use crate::id_token;
use crate::state::OidcState;
use crate::token::TokenResponse;

/// The grant being answered.
pub struct UserGrant<'a> {
    pub grant_id: &'a GrantId,
    pub user: &'a User,
    pub user_claims: &'a BTreeMap<String, Value>,
    /// The user's roles and organizations besides, when mappings or the script need
    /// them (see [`custom_claims::needs_profile`]).
    pub profile: Option<&'a UserProfile>,
    /// The scopes of this issuance (the grant's, or narrower on refresh).
    pub scope: &'a ScopeSet,
    pub auth_time: Option<i64>,
    pub amr: &'a [String],
    pub sid: Option<&'a str>,
    pub nonce: Option<&'a str>,
    /// Attributes attached to the grant (custom claims that persist through rotation).
    pub attributes: &'a Map<String, Value>,
    /// At a refresh: the custom claims of the grant's previous issuance.
    pub at_grant: Option<&'a IssuedClaims>,
    /// RFC 8707: the API connections this access token is for (empty: every one granted).
    pub resources: &'a [String],
    /// The refresh token a rotation will store; `None` lets the application's settings
    /// decide whether a new one is issued.
    pub rotated_refresh: Option<&'a Secret>,
    /// RFC 9449 §5: the DPoP key the access token is bound to.
    pub dpop_jkt: Option<&'a str>,
}

/// What an issuance produced: the response, and what the caller stores with it.
pub struct Issued {
    pub response: TokenResponse,
    pub access: Minted,
    /// The new refresh token to store, if any.
    pub refresh: Option<Secret>,
    /// The grant's custom claims as of this issuance (kept with the grant).
    pub claims: IssuedClaims,
    /// A script failure to record, the token being issued without its claims.
    pub event: Option<ScriptEvent>,
}

impl Issued {
    /// Stores the reference token's row (if the access token is one) and the script's
    /// failure event (if any).
    pub fn persist(&self, conn: &mut AnyConnection, now: i64) -> StoreResult<()> {
        self.access.persist(conn, now)?;
        if let Some(event) = &self.event {
            event.record(conn, now)?;
        }
        Ok(())
    }
}

/// Runs `spend`, the one write that spends a code or refresh token and stores what it
/// issued (see `tessera_store::redeem`): alone, one statement on Postgres, or, when a
/// script's failure is to be recorded, in one transaction with that event, recorded only
/// if something was spent. `false`: nothing could be spent, nothing was written.
pub fn spend_and_store(
    state: &OidcState,
    event: Option<&ScriptEvent>,
    now: i64,
    spend: impl FnOnce(&mut AnyConnection) -> StoreResult<bool>,
) -> StoreResult<bool> {
    match event {
        None => state.store.write_statement(spend),
        Some(event) => state.store.write_transaction(|c| {
            let spent = spend(c)?;
            if spent {
                event.record(c, now)?;
            }
            Ok(spent)
        }),
    }
}

/// The user's roles and organizations, when the application's claim mappings or the
/// user script need them (one more read; none otherwise).
pub fn profile_if_needed(
    state: &OidcState,
    config: &Config,
    app: &Application,
    user: &User,
    claims: &BTreeMap<String, Value>,
) -> StoreResult<Option<UserProfile>> {
    custom_claims::needs_profile(config, app)
        .then(|| state.store.read_statement(|c| custom_claims::user_profile(c, user, claims)))
        .transpose()
}

/// Whether this application gets refresh tokens for this scope: it must be allowed the
/// refresh grant, and `offline_access` must have been granted unless the application
/// always issues one.
pub fn wants_refresh_token(app: &Application, scope: &ScopeSet) -> bool {
    app.settings.grant_types.contains(&GrantType::RefreshToken)
        && (scope.has_offline_access() || app.settings.always_issue_refresh_token)
}

/// Issues the tokens of `grant`, or the refusal to answer the client with (an invalid
/// `resource`; a custom claims script's denial, with the event to record).
pub fn issue(
    state: &OidcState,
    app: &Application,
    config: &Config,
    grant: &UserGrant<'_>,
    now: i64,
) -> Result<Issued, Refusal> {
    let catalog = config.catalog();
    let allowed = tessera_domain::allowed_scopes(&app.settings.allowed_scopes, &app.settings.grant_types, catalog);
    let resolved = resolve_requested_lenient(grant.scope, catalog, &allowed);
    let (audience, scope) = access_token_audience_and_scope(&resolved, Some(grant.resources))
        .map_err(|e| OAuthError::invalid_target(e.to_string()))?;
    let expires_at = now + app.settings.lifetimes.access_token;
    let jti = tessera_tokens::jwt::new_jti();
    let mut claims = access_token_claims(&AccessTokenFacts {
        issuer: &state.issuer,
        subject: grant.user.id.as_str(),
        audience: &audience,
        client_id: &app.client_id,
        scope: &scope,
        issued_at: now,
        expires_at,
        jti: &jti,
        auth_time: grant.auth_time,
        amr: grant.amr,
        sid: grant.sid,
        grant_id: Some(grant.grant_id),
        machine: false,
    });

    let grant_info = GrantInfo {
        id: grant.grant_id.clone(),
        scope: scope.to_string(),
        auth_time: grant.auth_time,
        amr: grant.amr.to_vec(),
    };
    let custom = custom_claims::compute(
        &state.scripts,
        config,
        ClaimsInput {
            subject: TokenSubject::User,
            app,
            payload: &claims,
            user: grant.profile.map(|p| (p, grant_info)),
            attributes: grant.attributes,
            at_grant: grant.at_grant,
        },
    )?;
    IssuedClaims::merge_into(&mut claims, custom.issued.output(Output::AccessToken));
    // RFC 9449 §6: the binding comes last, so no custom claim can replace it.
    if let Some(jkt) = grant.dpop_jkt {
        claims.insert("cnf".into(), serde_json::json!({ "jkt": jkt }));
    }

    let format = format_for(app, &audience, config);
    let keys = state.keys.current();
    let alg = app.settings.id_token_signed_response_alg;
    let token = AccessTokenClaims {
        claims,
        expires_at,
        application_id: app.id.clone(),
        user_id: Some(grant.user.id.clone()),
        grant_id: Some(grant.grant_id.clone()),
    };
    let access = access_token::mint(format, &keys, alg, &token)?;

    let id_token = if scope.has_openid() {
        let identity =
            IdentityClaims { sub: grant.user.id.as_str(), user_values: grant.user_claims, scopes: &resolved.identity };
        let mut claims = claims_for_id_token(&identity);
        IssuedClaims::merge_into(&mut claims, custom.issued.output(Output::IdToken));
        let facts = IdTokenFacts {
            issuer: &state.issuer,
            subject: grant.user.id.as_str(),
            client_id: &app.client_id,
            issued_at: now,
            expires_at: now + app.settings.lifetimes.id_token,
            auth_time: grant.auth_time,
            nonce: grant.nonce,
            sid: grant.sid,
            amr: grant.amr,
        };
        Some(id_token::mint(state, id_token_claims(&facts, claims), &access.token, alg)?)
    } else {
        None
    };
    let refresh = match grant.rotated_refresh {
        Some(rotated) => Some(rotated.clone()),
        None => wants_refresh_token(app, &scope).then(generate_secret),
    };
    let response = TokenResponse {
        access_token: access.token.clone(),
        issued_token_type: None,
        token_type: if grant.dpop_jkt.is_some() { "DPoP" } else { "Bearer" },
        expires_in: app.settings.lifetimes.access_token,
        refresh_token: refresh.as_ref().map(|r| r.expose().to_owned()),
        id_token,
        scope: scope.to_string(),
    };
    Ok(Issued { response, access, refresh, claims: custom.issued, event: custom.event })
}
