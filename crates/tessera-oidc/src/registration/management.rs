//! The client configuration endpoint (RFC 7592), `/connect/register/{client_id}`: a
//! dynamically registered client reads (`GET`), replaces (`PUT`) or deletes (`DELETE`)
//! its registration with its registration access token as a Bearer token. The token
//! is stored as its SHA-256 hash and found by it; a wrong token, a token of another
//! client, an unknown or disabled client all get the same 401 `invalid_token` (§3: no
//! leak of whether the client exists).
//!
//! The registration access token is not rotated on `PUT` (§2.2 allows either): a client
//! keeps the token it got at registration until it deletes itself; an administrator who
//! wants it gone deletes or disables the application. Neither the token nor the client
//! secret is shown again on `GET` (only their hashes are kept); a `PUT` that turns a
//! public client into a confidential one gets its first secret in the answer.
//!
//! A `PUT` replaces what the client registered, checked as at registration; what only
//! an administrator sets (enabled, token format and lifetimes, required claims,
//! metadata, the other switches) is kept. `DELETE` deletes the application and ends
//! every grant and token of it, as an administrator's delete does.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Map, Value, json};
use tessera_domain::client_metadata::{self, Source};
use tessera_store::applications::{self, Application, RegistrationKind};
use tessera_store::audit::{self, NewAuditEvent};
use tessera_store::client_registrations::{self, ClientRegistration};
use tessera_store::grants;
use tessera_tokens::{Secret, SecretHash, generate_secret};

use super::{audit_summary, bearer_token, configuration, json_body, keep_admin_settings, open_scopes};
use crate::error::OAuthError;
use crate::state::{OidcState, now};

/// RFC 7592 §3 answers the same for every refused token.
fn refused() -> OAuthError {
    OAuthError::invalid_token("the registration access token is not valid for this client")
}

/// The application named by the path whose registration access token is `token`.
fn authorized(
    state: &OidcState,
    client_id: &str,
    token: &str,
) -> Result<(Application, ClientRegistration), OAuthError> {
    let hash = SecretHash::of(token);
    let found = state.store.read_transaction(|c| {
        let Some(registration) = client_registrations::find_by_access_token(c, hash.as_str())? else {
            return Ok(None);
        };
        let app = applications::get(c, &registration.application_id)?;
        Ok(Some((app, registration)))
    })?;
    match found {
        Some((app, registration))
            if app.client_id.as_str() == client_id
                && app.settings.enabled
                && app.registration == Some(RegistrationKind::Dynamic) =>
        {
            Ok((app, registration))
        }
        _ => Err(refused()),
    }
}

fn token_of(request: &HttpRequest) -> Result<String, OAuthError> {
    bearer_token(request).map_err(|_| refused())?.ok_or_else(refused)
}

fn extras(registration: &ClientRegistration) -> Map<String, Value> {
    registration.metadata.as_object().cloned().unwrap_or_default()
}

/// `GET /connect/register/{client_id}`.
pub(crate) async fn read_registration(
    request: HttpRequest,
    client_id: web::Path<String>,
    state: web::Data<OidcState>,
) -> Result<HttpResponse, OAuthError> {
    let token = token_of(&request)?;
    let state = state.into_inner();
    let body = web::block(move || {
        let (app, registration) = authorized(&state, &client_id, &token)?;
        Ok::<_, OAuthError>(configuration(&state, &app, &extras(&registration)))
    })
    .await??;
    Ok(crate::error::no_store(StatusCode::OK).json(body))
}

/// `PUT /connect/register/{client_id}`.
pub(crate) async fn update_registration(
    request: HttpRequest,
    client_id: web::Path<String>,
    body: web::Bytes,
    state: web::Data<OidcState>,
) -> Result<HttpResponse, OAuthError> {
    let token = token_of(&request)?;
    let state = state.into_inner();
    let ip = request.peer_addr().map(|a| a.ip().to_string());
    let document = {
        // The token is checked before the body, so a stranger learns nothing from errors.
        let (state, client_id, token) = (state.clone(), client_id.clone(), token.clone());
        web::block(move || authorized(&state, &client_id, &token)).await??;
        json_body(&request, &body)?
    };
    let answer = web::block(move || replace(&state, &client_id, &token, &document, ip.as_deref())).await??;
    Ok(crate::error::no_store(StatusCode::OK).json(answer))
}

/// RFC 7592 §2.2: checks the new metadata and replaces the registration with it.
fn replace(
    state: &OidcState,
    client_id: &str,
    token: &str,
    document: &Value,
    ip: Option<&str>,
) -> Result<Map<String, Value>, OAuthError> {
    let now = now();
    let (app, _) = authorized(state, client_id, token)?;
    let invalid = |why: &str| OAuthError::registration(client_metadata::INVALID_CLIENT_METADATA, why);
    if document.get("client_id").and_then(Value::as_str) != Some(client_id) {
        return Err(invalid("the request must carry the client's client_id (RFC 7592 §2.2)"));
    }
    if let Some(presented) = document.get("client_secret") {
        let presented = presented.as_str().ok_or_else(|| invalid("client_secret must be a string"))?;
        let config = state.store.config()?;
        let live = config.live_application_secrets(&app.id, now);
        let matched =
            live.iter().fold(false, |acc, s| SecretHash::from_stored(s.secret_hash.as_str()).matches(presented) | acc);
        if !matched {
            return Err(invalid("client_secret is not the client's current secret"));
        }
    }
    let config = state.store.config()?;
    let (parsed, extras) = client_metadata::parse(
        document,
        Source::Registration,
        &open_scopes(state, &config),
        app.settings.jwks.clone(),
    )?;
    super::admit_fetched_urls(state, &parsed)?;
    // What only an administrator sets stays as it is.
    let settings = keep_admin_settings(&app.settings, parsed);
    let needs_secret =
        settings.uses_client_secret() && state.store.config()?.live_application_secrets(&app.id, now).is_empty();
    let secret: Option<Secret> = needs_secret.then(generate_secret);
    let updated = state.store.write_transaction(|c| {
        let updated = applications::update(c, &app.id, &settings, now)?;
        if let Some(secret) = &secret {
            applications::add_secret(c, &app.id, secret.hash().as_str(), None, now)?;
        }
        client_registrations::update(c, &app.id, &Value::Object(extras.clone()), None, now)?;
        audit::record(
            c,
            &NewAuditEvent {
                actor: &format!("client:{}", app.client_id),
                action: "application.registration_updated",
                target: &format!("application:{}", app.id),
                summary: json!({ "before": audit_summary(&app, &Map::new()), "after": audit_summary(&updated, &extras) }),
                client_ip: ip,
            },
            now,
        )?;
        Ok(updated)
    })?;
    let mut out = configuration(state, &updated, &extras);
    if let Some(secret) = &secret {
        out.insert("client_secret".into(), secret.expose().into());
    }
    Ok(out)
}

/// `DELETE /connect/register/{client_id}`: 204, the application and its tokens gone.
pub(crate) async fn delete_registration(
    request: HttpRequest,
    client_id: web::Path<String>,
    state: web::Data<OidcState>,
) -> Result<HttpResponse, OAuthError> {
    let token = token_of(&request)?;
    let ip = request.peer_addr().map(|a| a.ip().to_string());
    let state = state.into_inner();
    let wake = state.outbox_wake.clone();
    web::block(move || {
        let now = now();
        let (app, _) = authorized(&state, &client_id, &token)?;
        state.store.write_transaction(|c| {
            let ended = grants::end_access_of_application(c, &app.id, now)?;
            applications::delete(c, &app.id)?;
            audit::record(
                c,
                &NewAuditEvent {
                    actor: &format!("client:{}", app.client_id),
                    action: "application.registration_deleted",
                    target: &format!("application:{}", app.id),
                    summary: json!({ "client_id": app.client_id, "name": app.settings.name, "access_ended": ended }),
                    client_ip: ip.as_deref(),
                },
                now,
            )
        })?;
        Ok::<_, OAuthError>(())
    })
    .await??;
    wake.notify();
    Ok(crate::error::no_store(StatusCode::NO_CONTENT).finish())
}
