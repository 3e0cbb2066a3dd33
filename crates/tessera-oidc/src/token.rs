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

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use tessera_domain::{GrantType, ScopeSet};
use tessera_store::applications::Application;
use tessera_store::config::Config;

use crate::client_auth;
use crate::error::OAuthError;
use crate::form::Params;
use crate::state::{OidcState, now};

/// A token request past the steps every grant shares: its client authenticated, its
/// grant type allowed to that client, the configuration loaded.
pub struct TokenRequest<'a> {
    pub app: &'a Application,
    pub config: &'a Config,
    pub params: &'a Params,
    pub client_ip: Option<&'a str>,
    pub now: i64,
    /// RFC 9449 §5: the thumbprint of the key of the request's DPoP proof, which the
    /// access token is bound to (`cnf.jkt`, `token_type: DPoP`).
    pub dpop_jkt: Option<&'a str>,
}

impl TokenRequest<'_> {
    /// RFC 6749 §3.3: the requested `scope` (empty when absent).
    pub fn scope(&self) -> Result<ScopeSet, OAuthError> {
        ScopeSet::parse(self.params.get("scope").unwrap_or("")).map_err(|e| OAuthError::invalid_scope(e.to_string()))
    }

    /// RFC 8707 §2: the `resource` parameters (none: every API the grant allows), each a
    /// connection's name or resource URI, as connection names.
    pub fn resources(&self) -> Vec<String> {
        self.params.get_all("resource").iter().map(|r| self.config.resource_name(r).to_owned()).collect()
    }

    /// RFC 9449 §5: the token type of the access token this request gets.
    pub fn token_type(&self) -> &'static str {
        if self.dpop_jkt.is_some() { "DPoP" } else { "Bearer" }
    }

    /// RFC 9449 §6: binds the access token's `claims` to the proof's key.
    pub fn bind(&self, claims: &mut serde_json::Map<String, serde_json::Value>) {
        if let Some(jkt) = self.dpop_jkt {
            claims.insert("cnf".into(), serde_json::json!({ "jkt": jkt }));
        }
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
    /// RFC 8693 §2.2.1: the type of the token issued by a token exchange.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued_token_type: Option<&'static str>,
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
) -> Result<HttpResponse, actix_web::Error> {
    let (params, presented, client_ip) = client_auth::client_request(&request, &body, &state)?;
    let proof = crate::dpop::header(&request).map_err(|e| OAuthError::invalid_dpop_proof(e.to_string()))?;
    let state = state.into_inner();
    // A metadata-document client whose copy went stale is fetched again first.
    crate::registration::metadata_document::ensure(&state, &presented.client_id, client_ip)
        .await
        .map_err(OAuthError::invalid_client)?;
    let inline = match (params.get("grant_type"), &proof) {
        (Some("client_credentials"), None) => {
            grants::client_credentials::answer_inline(&state, &presented, &params, now())
        }
        _ => None,
    };
    let response = match inline {
        Some(answered) => answered?,
        None => {
            let blocking = state.clone();
            let answered = web::block(move || exchange(&blocking, &presented, &params, client_ip, proof))
                .await
                .map_err(OAuthError::from)?;
            answered.map_err(|error| with_nonce(&state, error))?
        }
    };
    Ok(crate::error::no_store(StatusCode::OK).insert_header(crate::cors::ALLOW_ANY_ORIGIN).json(response))
}

/// RFC 9449 §8: a `use_dpop_nonce` error carries the nonce to use in `DPoP-Nonce`.
fn with_nonce(state: &OidcState, error: OAuthError) -> actix_web::Error {
    let mut response = actix_web::ResponseError::error_response(&error);
    if error.error == "use_dpop_nonce" {
        let nonce = state.dpop.nonces.issue(now());
        if let Ok(value) = header::HeaderValue::from_str(&nonce) {
            response.headers_mut().insert(header::HeaderName::from_static("dpop-nonce"), value);
            response.headers_mut().insert(
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                header::HeaderValue::from_static(crate::dpop::NONCE_HEADER),
            );
        }
    }
    actix_web::error::InternalError::from_response(error, response).into()
}

fn exchange(
    state: &OidcState,
    presented: &client_auth::Presented,
    params: &Params,
    client_ip: Option<IpAddr>,
    proof: Option<String>,
) -> Result<TokenResponse, OAuthError> {
    let now = now();
    let ip = client_ip.map(|ip| ip.to_string());
    let app = client_auth::authenticate_request(state, presented, ip.as_deref(), now)?;
    let grant = allowed_grant(&app, params)?;
    let proof = match proof {
        Some(proof) => {
            let expected = tessera_tokens::dpop::Expected {
                htm: "POST",
                htu: &state.url("/connect/token"),
                access_token: None,
                now,
            };
            Some(crate::dpop::check(state, &proof, &expected).map_err(crate::dpop::Refused::at_token_endpoint)?)
        }
        // RFC 9449 §5.2: this application's tokens are always sender-constrained.
        None if app.settings.dpop_bound_access_tokens => {
            return Err(OAuthError::invalid_dpop_proof("this application must send a DPoP proof"));
        }
        None => None,
    };
    let config = state.store.config()?;
    let request = TokenRequest {
        app: &app,
        config: &config,
        params,
        client_ip: ip.as_deref(),
        now,
        dpop_jkt: proof.as_ref().map(|p| p.jkt.as_str()),
    };
    match grant {
        GrantType::AuthorizationCode => grants::run::<grants::authorization_code::AuthorizationCode>(state, &request),
        GrantType::RefreshToken => grants::run::<grants::refresh_token::RefreshToken>(state, &request),
        GrantType::ClientCredentials => grants::run::<grants::client_credentials::ClientCredentials>(state, &request),
        GrantType::Password => grants::run::<grants::password::Password>(state, &request),
        GrantType::DeviceCode => grants::run::<grants::device_code::DeviceCode>(state, &request),
        GrantType::TokenExchange => grants::run::<grants::token_exchange::TokenExchange>(state, &request),
    }
}
