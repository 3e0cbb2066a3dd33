//! The pushed authorization request endpoint (RFC 9126), `POST /connect/par`: a client
//! authenticates as at the token endpoint and sends the parameters of an authorization
//! request in the body; they are checked as authorize checks them, and kept for
//! [`LIFETIME`] seconds under a `request_uri` that the client then sends to authorize
//! with its `client_id` (§4). The reference is 256 random bits, stored only as its
//! SHA-256 hash, bound to the client, and spent by its first use (§7.3). Errors are JSON
//! (§2.3), never a redirect. A back-channel endpoint: no preflight, and no CORS header on
//! success.
//!
//! §3: the parameters may come as a signed request object (`request`), verified as
//! authorize verifies one (`crate::request_object`); then only the object's parameters
//! are checked and kept, and the pushed request is marked as signed for applications
//! that require signed request objects.

use std::net::IpAddr;

use actix_web::http::StatusCode;

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use serde_json::json;
use tessera_store::applications::Application;
use tessera_store::pushed_authorization_requests::{self, NewPushedRequest};
use tessera_store::{StoreError, StoreResult};
use tessera_tokens::{SecretHash, generate_secret};

use crate::authorize::{check_rest, check_signed, request};
use crate::client_auth;
use crate::error::OAuthError;
use crate::form::Params;
use crate::request_object;
use crate::state::{OidcState, now};

/// Seconds a pushed request stays usable (§2.2 `expires_in`; §7.3 advises a short
/// lifetime).
pub const LIFETIME: i64 = 60;

/// The prefix of every `request_uri` this endpoint issues (§2.2).
pub const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// Parameters of client authentication: read by the endpoint, never stored.
const CLIENT_AUTHENTICATION: &[&str] = &["client_id", "client_secret", "client_assertion", "client_assertion_type"];

/// §2.2: the successful response.
#[derive(Debug, Serialize)]
struct Pushed {
    request_uri: String,
    expires_in: i64,
}

/// `POST /connect/par`.
pub(crate) async fn par(
    request: HttpRequest,
    body: web::Bytes,
    state: web::Data<OidcState>,
) -> Result<HttpResponse, OAuthError> {
    let (params, presented, client_ip) = client_auth::client_request(&request, &body, &state)?;
    let state = state.into_inner();
    crate::registration::metadata_document::ensure(&state, &presented.client_id, client_ip)
        .await
        .map_err(OAuthError::invalid_client)?;
    let pushed = web::block(move || push(&state, &presented, &params, &body, client_ip)).await??;
    Ok(crate::error::no_store(StatusCode::CREATED).json(pushed))
}

/// Authenticates the client, checks the request as authorize would, and keeps it.
fn push(
    state: &OidcState,
    presented: &client_auth::Presented,
    params: &Params,
    body: &[u8],
    client_ip: Option<IpAddr>,
) -> Result<Pushed, OAuthError> {
    let now = now();
    let ip = client_ip.map(|ip| ip.to_string());
    let app = client_auth::authenticate_request(state, presented, ip.as_deref(), now)?;
    if params.get("request_uri").is_some() {
        return Err(OAuthError::invalid_request("request_uri cannot be pushed (RFC 9126 §2.1)"));
    }
    let (form, signed) = match params.get("request") {
        Some(object) => {
            let object_params = request_object::verify(&app, &state.client_keys, object, &state.issuer, now)
                .inspect_err(|refusal| {
                    request_object::record_refusal(&state.store, app.client_id.as_str(), refusal, ip.as_deref(), now);
                })?;
            check(state, &object_params, &app, now)?;
            (object_params.to_form(), true)
        }
        None => {
            check(state, params, &app, now)?;
            (stored_form(body, app.client_id.as_str()), false)
        }
    };
    check_signed(&app, signed)?;
    let reference = generate_secret();
    let new = NewPushedRequest {
        request_uri_hash: reference.hash().as_str().to_owned(),
        application_id: app.id.clone(),
        parameters: json!({ "form": form, "signed": signed }),
        expires_at: now + LIFETIME,
    };
    state.store.write_statement(|c| pushed_authorization_requests::create(c, &new, now))?;
    Ok(Pushed { request_uri: format!("{REQUEST_URI_PREFIX}{}", reference.expose()), expires_in: LIFETIME })
}

/// §2.1: the request is checked as an authorization request (the redirect URI
/// registered, then everything authorize checks after it). Every failure is the
/// authorization error as JSON.
fn check(state: &OidcState, params: &Params, app: &Application, now: i64) -> Result<(), OAuthError> {
    if params.get("redirect_uri").is_none() {
        return Err(OAuthError::invalid_request("redirect_uri is missing"));
    }
    if request::check_redirect_uri(params, app).is_err() {
        return Err(OAuthError::invalid_request("redirect_uri is not registered for this application"));
    }
    request::check_response_mode(params)?;
    let config = state.store.config()?;
    check_rest(state, params, &[], app, &config, now)?;
    Ok(())
}

/// The pushed parameters as a form to keep: without the client's credentials (never
/// stored), and with the authenticated client's `client_id`. The body was parsed by
/// [`Params`] already (no repeats, bounded), so this keeps exactly what was checked.
fn stored_form(body: &[u8], client_id: &str) -> String {
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.append_pair("client_id", client_id);
    for (key, value) in url::form_urlencoded::parse(body) {
        if !value.is_empty() && !CLIENT_AUTHENTICATION.contains(&key.as_ref()) {
            form.append_pair(&key, &value);
        }
    }
    form.finish()
}

/// A pushed request taken back: its parameters, and whether they came from a signed
/// request object.
pub(crate) struct Taken {
    pub params: Params,
    pub signed: bool,
}

/// §4: the parameters pushed as `request_uri` by `app`, spent by this call; `None` when
/// the reference is unknown, already used, expired, or was pushed by another client.
pub(crate) fn take(state: &OidcState, app: &Application, request_uri: &str, now: i64) -> StoreResult<Option<Taken>> {
    let Some(reference) = request_uri.strip_prefix(REQUEST_URI_PREFIX) else { return Ok(None) };
    let hash = SecretHash::of(reference);
    let Some(stored) =
        state.store.write_statement(|c| pushed_authorization_requests::spend(c, hash.as_str(), &app.id, now))?
    else {
        return Ok(None);
    };
    let form = stored.get("form").and_then(|f| f.as_str()).ok_or_else(|| corrupt("no form"))?;
    let params = Params::parse(form.as_bytes()).map_err(|e| corrupt(&e.description))?;
    if params.get("client_id") != Some(app.client_id.as_str()) {
        return Err(corrupt("another client's parameters"));
    }
    let signed = stored.get("signed").and_then(|s| s.as_bool()).unwrap_or(false);
    Ok(Some(Taken { params, signed }))
}

fn corrupt(why: &str) -> StoreError {
    StoreError::Corrupt(format!("pushed authorization request: {why}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stored_form_keeps_the_request_and_drops_the_credentials() {
        let body = b"client_id=x&client_secret=s3cret&response_type=code&scope=openid+profile&resource=a&resource=b\
                     &client_assertion=a.b.c&client_assertion_type=t&state=";
        let params = Params::parse(stored_form(body, "webapp").as_bytes()).unwrap();
        assert_eq!(params.get("client_id"), Some("webapp"));
        assert_eq!(params.get("scope"), Some("openid profile"));
        assert_eq!(params.get_all("resource"), ["a", "b"]);
        for dropped in ["client_secret", "client_assertion", "client_assertion_type", "state"] {
            assert_eq!(params.get(dropped), None, "{dropped}");
        }
    }
}
