//! The token endpoint (RFC 6749 §3.2). The steps every grant shares happen here, once:
//! the client authenticates, the grant type must be supported and allowed to it, the
//! configuration is loaded; then the request goes to its grant, one module each under
//! `grants/` implementing [`grants::Grant`] (a new grant is a module there and one line
//! in [`exchange`]): `check` reads and decides, spending nothing, and `redeem` issues
//! (through `issue`) and makes the one write that spends and stores. A grant reads the
//! `scope` and `resource` parameters through [`TokenRequest`]. Every answer carries
//! `Cache-Control: no-store` (§5.1).

pub mod grants;
pub mod issue;

use std::net::IpAddr;

use actix_web::http::header::{self, CacheControl, CacheDirective};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use tessera_domain::{GrantType, ScopeSet};
use tessera_store::applications::Application;
use tessera_store::config::Config;

use crate::client_auth;
use crate::error::OAuthError;
use crate::form::Params;
use crate::rate_limit::Endpoint;
use crate::state::{OidcState, now};

/// A token request past the steps every grant shares: its client authenticated, its
/// grant type allowed to that client, the configuration loaded.
pub struct TokenRequest<'a> {
    pub app: &'a Application,
    pub config: &'a Config,
    pub params: &'a Params,
    pub client_ip: Option<&'a str>,
    pub now: i64,
}

impl TokenRequest<'_> {
    /// RFC 6749 §3.3: the requested `scope` (empty when absent).
    pub fn scope(&self) -> Result<ScopeSet, OAuthError> {
        ScopeSet::parse(self.params.get("scope").unwrap_or("")).map_err(|e| OAuthError::invalid_scope(e.to_string()))
    }

    /// RFC 8707 §2: the `resource` parameters (none: every API the grant allows).
    pub fn resources(&self) -> Vec<String> {
        self.params.get_all("resource")
    }
}

/// RFC 6749 §5.2: the request's grant type, if Tessera supports it
/// (`unsupported_grant_type`) and the client may use it (`unauthorized_client`).
pub fn allowed_grant(app: &Application, params: &Params) -> Result<GrantType, OAuthError> {
    let raw = params.require("grant_type")?;
    let grant = GrantType::parse(raw).map_err(|_| {
        OAuthError::unsupported_grant_type(format!(
            "grant_type {} is not supported",
            raw.chars().filter(char::is_ascii_graphic).take(40).collect::<String>()
        ))
    })?;
    if !app.settings.grant_types.contains(&grant) {
        return Err(OAuthError::unauthorized_client(format!(
            "this application may not use the {} grant",
            grant.as_str()
        )));
    }
    Ok(grant)
}

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
    state.limiters.check(Endpoint::Token, Some(&presented.client_id), client_ip)?;
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
    let grant = allowed_grant(&app, params)?;
    let config = state.store.config()?;
    let request = TokenRequest { app: &app, config: &config, params, client_ip: ip.as_deref(), now };
    match grant {
        GrantType::AuthorizationCode => grants::run::<grants::authorization_code::AuthorizationCode>(state, &request),
        GrantType::RefreshToken => grants::run::<grants::refresh_token::RefreshToken>(state, &request),
        GrantType::ClientCredentials => grants::run::<grants::client_credentials::ClientCredentials>(state, &request),
        GrantType::Password => grants::run::<grants::password::Password>(state, &request),
        GrantType::DeviceCode => grants::run::<grants::device_code::DeviceCode>(state, &request),
    }
}
