//! RFC 6749 §4.3, the resource owner password credentials grant: legacy, off unless an
//! application enables it (OAuth 2.1 drops it). Failures are throttled like the sign-in
//! page and audited; no browser session is created.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};
use tessera_auth::{Channel, PasswordAttempt, Reservations, Verdict};
use tessera_claims::UserProfile;
use tessera_domain::assurance::amr;
use tessera_domain::{GrantId, ScopeSet, SignInPolicy, resolve_requested, within_reach};
use tessera_store::users::User;
use tessera_store::{audit, users};
use tessera_store::{grants, grants::NewGrant, refresh_tokens};

use super::Grant;
use crate::custom_claims;
use crate::error::OAuthError;
use crate::state::OidcState;
use crate::token::issue::{UserGrant, issue};
use crate::token::{TokenRequest, TokenResponse};

/// The resource owner password credentials grant.
pub struct Password;

/// A user whose password matched.
pub struct Checked {
    user: User,
    /// The sign-in throttle's reservations, refunded by the write that signs the user in.
    reservations: Reservations,
    claims: BTreeMap<String, Value>,
    profile: Option<UserProfile>,
    scope: ScopeSet,
}

impl Grant for Password {
    type Checked = Checked;

    /// Checks the password through the sign-in throttle, which counts the attempt (see
    /// `tessera_auth::check_password`); a failure is audited here.
    fn check(state: &OidcState, request: &TokenRequest<'_>) -> Result<Checked, OAuthError> {
        let (app, config, client_ip, now) = (request.app, request.config, request.client_ip, request.now);
        let login = request.params.require("username")?.trim().to_lowercase();
        let password = request.params.require("password")?;
        let requested = request.scope()?;
        let allowed =
            tessera_domain::allowed_scopes(&app.settings.allowed_scopes, &app.settings.grant_types, config.catalog());
        let resolved = resolve_requested(&requested, config.catalog(), &allowed)
            .map_err(|e| OAuthError::invalid_scope(e.to_string()))?;
        // docs/authentication.md: a password is one factor; a sign-in policy asking more
        // cannot be met here, and API scopes requiring more are not granted.
        if state.settings.sign_in_policy.stricter(app.settings.sign_in_policy) != SignInPolicy::Password {
            return Err(OAuthError::unauthorized_client(
                "this application's sign-in policy asks more than a password, which the password grant cannot present",
            ));
        }
        let needs_profile = custom_claims::needs_profile(config, app);
        let user = state.store.read_statement(|c| users::find_by_login(c, &login))?;
        let attempt = PasswordAttempt {
            login: &login,
            user: user.as_ref(),
            password,
            client_ip,
            channel: Channel::PasswordGrant { client_id: &app.client_id },
        };
        let verdict = tessera_auth::check_password(&state.store, &state.passwords, &attempt, now)?;
        let target = attempt.target();
        let (user, reservations) = match (user, verdict) {
            (_, Verdict::Locked { .. }) => {
                return Err(OAuthError::invalid_grant("too many failed sign-ins; try again later"));
            }
            (Some(user), Verdict::Matched(reservations)) if !user.disabled => (user, reservations),
            _ => {
                state.store.write_transaction(|c| {
                    audit::record(
                        c,
                        &audit::NewAuditEvent {
                            actor: &format!("client:{}", app.client_id),
                            action: "user.sign_in_failed",
                            target: &target,
                            summary: json!({ "grant_type": "password" }),
                            client_ip,
                        },
                        now,
                    )
                })?;
                return Err(OAuthError::invalid_grant("the username or password is incorrect"));
            }
        };
        let scope =
            within_reach(&resolved.granted(), |s| config.scope_requirement(s), &[amr::PWD.to_owned()], Some(now), now);
        let (claims, profile) = state.store.read_transaction(|c| {
            let claims = users::claim_values(c, &user)?;
            let profile = needs_profile.then(|| custom_claims::user_profile(c, &user, &claims)).transpose()?;
            Ok((claims, profile))
        })?;
        Ok(Checked { user, reservations, claims, profile, scope })
    }

    /// One transaction: the throttle's refund, the new grant, its tokens and the sign-in
    /// event (or a script's refusal with its event).
    fn redeem(state: &OidcState, request: &TokenRequest<'_>, checked: Checked) -> Result<TokenResponse, OAuthError> {
        let (app, client_ip, now) = (request.app, request.client_ip, request.now);
        let Checked { user, reservations, claims, profile, scope } = checked;
        let grant_id = GrantId::from(tessera_store::new_id());
        let amr = vec!["pwd".to_owned()];
        let attributes = Map::new();
        let user_grant = UserGrant {
            resources: &[],
            grant_id: &grant_id,
            user: &user,
            user_claims: &claims,
            profile: profile.as_ref(),
            scope: &scope,
            auth_time: Some(now),
            amr: &amr,
            sid: None,
            nonce: None,
            attributes: &attributes,
            at_grant: None,
            rotated_refresh: None,
            dpop_jkt: request.dpop_jkt,
        };
        let prepared = issue(state, app, request.config, &user_grant, now);
        state.store.write_transaction(|c| {
            reservations.refund(c)?;
            let issued = match prepared {
                Ok(issued) => issued,
                Err(refusal) => {
                    if let Some(event) = &refusal.event {
                        event.record(c, now)?;
                    }
                    return Ok(Err(refusal.error));
                }
            };
            let grant = grants::create_grant(
                c,
                &NewGrant {
                    id: Some(grant_id.clone()),
                    application_id: app.id.clone(),
                    user_id: Some(user.id.clone()),
                    sid: None,
                    scope: scope.to_string(),
                    resources: Vec::new(),
                    auth_time: Some(now),
                    amr: amr.clone(),
                    custom_claims: Map::new(),
                    issued_claims: issued.claims.to_map(),
                    expires_at: now + app.settings.lifetimes.refresh_token,
                    dpop_jkt: super::refresh_binding(request),
                },
                now,
            )?;
            issued.persist(c, now)?;
            if let Some(refresh) = &issued.refresh {
                refresh_tokens::insert_refresh_token(c, refresh.hash().as_str(), &grant.id, grant.expires_at, now)?;
            }
            audit::record(
                c,
                &audit::NewAuditEvent {
                    actor: &format!("user:{}", user.id),
                    action: "user.sign_in",
                    target: &format!("user:{}", user.id),
                    summary: json!({ "client_id": app.client_id, "grant_type": "password" }),
                    client_ip,
                },
                now,
            )?;
            Ok(Ok(issued.response))
        })?
    }
}
