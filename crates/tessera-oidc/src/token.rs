//! The token endpoint (RFC 6749 §3.2): authenticates the client, then hands the request
//! to its grant. Every answer carries `Cache-Control: no-store` (§5.1).

pub mod grants;
pub mod issue;

use std::net::IpAddr;

use actix_web::http::header::{self, CacheControl, CacheDirective};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use crate::client_auth;
use crate::error::OAuthError;
use crate::form::Params;
use crate::state::{OidcState, now};

/// RFC 6749 §5.1: the successful response.
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    pub scope: String,
}

/// `POST /connect/token`.
pub(crate) async fn token(
    request: HttpRequest,
    body: web::Bytes,
    state: web::Data<OidcState>,
) -> Result<HttpResponse, OAuthError> {
    let params = Params::from_form_body(&request, &body)?;
    let presented = client_auth::presented(&request, &params)?;
    let client_ip = request.peer_addr().map(|a| a.ip());
    let state = state.into_inner();
    let inline = match params.get("grant_type") {
        Some("client_credentials") => grants::client_credentials::answer_inline(&state, &presented, &params, now()),
        _ => None,
    };
    let response = match inline {
        Some(answered) => answered?,
        None => web::block(move || exchange(&state, &presented, &params, client_ip)).await??,
    };
    Ok(HttpResponse::Ok()
        .insert_header(CacheControl(vec![CacheDirective::NoStore]))
        .insert_header((header::PRAGMA, "no-cache"))
        .insert_header(crate::cors::ALLOW_ANY_ORIGIN)
        .json(response))
}

fn exchange(
    state: &OidcState,
    presented: &client_auth::Presented,
    params: &Params,
    client_ip: Option<IpAddr>,
) -> Result<TokenResponse, OAuthError> {
    let now = now();
    let ip = client_ip.map(|ip| ip.to_string());
    let app = client_auth::authenticate_request(state, presented, ip.as_deref(), now)?;
    match params.require("grant_type")? {
        "authorization_code" => grants::authorization_code::exchange(state, &app, params, now),
        "refresh_token" => grants::refresh_token::exchange(state, &app, params, now),
        "client_credentials" => grants::client_credentials::exchange(state, &app, params, now),
        "password" => {
            let ip = client_ip.map(|ip| ip.to_string());
            grants::password::exchange(state, &app, params, ip.as_deref(), now)
        }
        other => Err(OAuthError::unsupported_grant_type(format!(
            "grant_type {} is not supported",
            other.chars().filter(char::is_ascii_graphic).take(40).collect::<String>()
        ))),
    }
}
