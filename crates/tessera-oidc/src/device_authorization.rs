//! The device authorization endpoint (RFC 8628 §3.1–§3.2), `POST
//! /connect/deviceauthorization`: a client that enabled the device grant authenticates
//! as at the token endpoint (a public client by its `client_id`), asks for a scope
//! checked as authorize checks it, and gets a device code to poll the token endpoint
//! with and a user code for the user to enter at [`VERIFICATION_PATH`]. The device code
//! is 256 random bits, stored only as its hash; the user code is 8 characters of a
//! 20-letter alphabet (§6.1), stored as the hash of its normalized form, and guessing it
//! is throttled at the verification page (§5.1). A back-channel endpoint: errors are
//! JSON, no CORS.

use std::net::IpAddr;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use tessera_domain::GrantType;
use tessera_store::StoreError;
use tessera_store::applications::Application;
use tessera_store::device_codes::{self, NewDeviceCode};
use tessera_tokens::{SecretHash, generate_secret};

use crate::authorize::request;
use crate::client_auth;
use crate::error::OAuthError;
use crate::form::Params;
use crate::state::{OidcState, now};

/// Seconds a device code stays usable (§3.2 `expires_in`).
pub const LIFETIME: i64 = 600;

/// Seconds the device waits between polls (§3.2 `interval`).
pub const INTERVAL: i64 = 5;

/// The verification page (§3.2 `verification_uri`).
pub const VERIFICATION_PATH: &str = "/device";

/// §6.1: the base-20 alphabet of user codes: consonants only (no vowels, so no words),
/// none easily confused.
const ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";

/// §6.1: characters in a user code (20^8, about 34.5 bits, with throttled guessing).
const USER_CODE_LENGTH: usize = 8;

/// §3.2: the successful response.
#[derive(Debug, Serialize)]
struct DeviceAuthorization {
    device_code: String,
    user_code: String,
    verification_uri: String,
    verification_uri_complete: String,
    expires_in: i64,
    interval: i64,
}

/// `POST /connect/deviceauthorization`.
pub(crate) async fn device_authorization(
    request: HttpRequest,
    body: web::Bytes,
    state: web::Data<OidcState>,
) -> Result<HttpResponse, OAuthError> {
    let (params, presented, client_ip) = client_auth::client_request(&request, &body, &state)?;
    let state = state.into_inner();
    let answer = web::block(move || authorize_device(&state, &presented, &params, client_ip)).await??;
    Ok(crate::error::no_store(StatusCode::OK).json(answer))
}

/// Authenticates the client, checks that it may use the device grant and what it asks
/// for, and stores the pending request.
fn authorize_device(
    state: &OidcState,
    presented: &client_auth::Presented,
    params: &Params,
    client_ip: Option<IpAddr>,
) -> Result<DeviceAuthorization, OAuthError> {
    let now = now();
    let ip = client_ip.map(|ip| ip.to_string());
    let app = client_auth::authenticate_request(state, presented, ip.as_deref(), now)?;
    if !app.settings.grant_types.contains(&GrantType::DeviceCode) {
        return Err(OAuthError::unauthorized_client("this application may not use the device authorization grant"));
    }
    let (scope, resources) = check_scope(state, params, &app)?;
    let device_code = generate_secret();
    // A user code already taken (by chance, among the live ones) is drawn again.
    for _ in 0..5 {
        let user_code = generate_user_code();
        let new = NewDeviceCode {
            device_code_hash: device_code.hash().as_str().to_owned(),
            user_code_hash: user_code_hash(&user_code).as_str().to_owned(),
            application_id: app.id.clone(),
            scope: scope.clone(),
            resources: resources.clone(),
            poll_interval: INTERVAL,
            expires_at: now + LIFETIME,
        };
        match state.store.write_statement(|c| device_codes::create(c, &new, now)) {
            Ok(()) => {
                let shown = format!("{}-{}", &user_code[..4], &user_code[4..]);
                let verification_uri = state.url(VERIFICATION_PATH);
                return Ok(DeviceAuthorization {
                    device_code: device_code.expose().to_owned(),
                    verification_uri_complete: format!("{verification_uri}?user_code={shown}"),
                    verification_uri,
                    user_code: shown,
                    expires_in: LIFETIME,
                    interval: INTERVAL,
                });
            }
            Err(StoreError::Conflict { .. }) => continue,
            Err(other) => return Err(other.into()),
        }
    }
    Err(OAuthError::server_error())
}

/// §3.1: `scope` as authorize checks it (known, allowed to the application, identity and
/// API scopes, `resource` naming an API whose scopes are asked for).
fn check_scope(state: &OidcState, params: &Params, app: &Application) -> Result<(String, Vec<String>), OAuthError> {
    let config = state.store.config()?;
    let catalog = config.catalog();
    let allowed = tessera_domain::allowed_scopes(&app.settings.allowed_scopes, &app.settings.grant_types, catalog);
    let resolved = request::check_scope(params, catalog, &allowed)?;
    let resources = request::check_resources(params, &resolved, &config)?;
    Ok((resolved.granted().to_string(), resources))
}

/// A user code of [`USER_CODE_LENGTH`] characters of [`ALPHABET`], unbiased: base64url
/// characters of a random secret (6 bits each) below 60 map onto the 20 letters.
fn generate_user_code() -> String {
    let mut code = String::with_capacity(USER_CODE_LENGTH);
    while code.len() < USER_CODE_LENGTH {
        let secret = generate_secret();
        for c in secret.expose().bytes() {
            let value = match c {
                b'A'..=b'Z' => c - b'A',
                b'a'..=b'z' => c - b'a' + 26,
                b'0'..=b'9' => c - b'0' + 52,
                b'-' => 62,
                _ => 63,
            };
            if value < 60 && code.len() < USER_CODE_LENGTH {
                code.push(char::from(ALPHABET[usize::from(value % 20)]));
            }
        }
    }
    code
}

/// §6.1: what the user typed, as the code it names: case-insensitive, dashes and spaces
/// ignored. `None` when it cannot be a user code (it then counts as a wrong one).
pub(crate) fn normalize_user_code(typed: &str) -> Option<String> {
    let code: String =
        typed.chars().filter(|c| *c != '-' && !c.is_whitespace()).map(|c| c.to_ascii_uppercase()).collect();
    let valid = code.len() == USER_CODE_LENGTH && code.bytes().all(|b| ALPHABET.contains(&b));
    valid.then_some(code)
}

/// The stored form of a normalized user code.
pub(crate) fn user_code_hash(normalized: &str) -> SecretHash {
    SecretHash::of(normalized)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_codes_are_eight_letters_of_the_base_20_alphabet() {
        for _ in 0..200 {
            let code = generate_user_code();
            assert_eq!(code.len(), 8);
            assert!(code.bytes().all(|b| ALPHABET.contains(&b)), "{code}");
            assert_eq!(normalize_user_code(&code).as_deref(), Some(code.as_str()));
        }
    }

    #[test]
    fn user_codes_are_case_insensitive_and_ignore_dashes_and_spaces() {
        assert_eq!(normalize_user_code("wdjb-mjht").as_deref(), Some("WDJBMJHT"));
        assert_eq!(normalize_user_code(" wdjbmjht ").as_deref(), Some("WDJBMJHT"));
        assert_eq!(normalize_user_code("WDJB-MJHT").as_deref(), Some("WDJBMJHT"));
        assert_eq!(normalize_user_code("WDJB-MJH"), None);
        assert_eq!(normalize_user_code("WDJB-MJHA"), None, "vowels are not in the alphabet");
        assert_eq!(normalize_user_code(""), None);
    }
}
