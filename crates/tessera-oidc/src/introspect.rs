//! Token introspection (RFC 7662) for resource servers. The caller authenticates as an
//! API connection and learns only about its own scopes: a token carrying none of them
//! is inactive to it. JWT and reference access tokens alike; with
//! `Accept: application/token-introspection+jwt` the answer is a signed JWT (RFC 9701).

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Map, Value, json};
use tessera_domain::{ScopeSet, SigningAlgorithm};
use tessera_store::audit::{self, NewAuditEvent};
use tessera_store::config::Config;
use tessera_store::connections::ApiConnection;
use tessera_tokens::SecretHash;

use crate::bearer::{ActiveToken, Looked};
use crate::client_auth::parse_basic;
use crate::error::OAuthError;
use crate::form::Params;
use crate::rate_limit::Endpoint;
use crate::state::{OidcState, now};

/// RFC 9701 §5: the media type asking for a signed answer.
const JWT_RESPONSE: &str = "application/token-introspection+jwt";

/// `POST /connect/introspect`.
pub(crate) async fn introspect(
    request: HttpRequest,
    body: web::Bytes,
    state: web::Data<OidcState>,
) -> Result<HttpResponse, OAuthError> {
    let params = Params::from_form_body(&request, &body)?;
    let (name, secret) = caller_credentials(&request, &params)?;
    state.limiters.check(Endpoint::Introspection, Some(&name), request.peer_addr().map(|a| a.ip()))?;
    let token = params.require("token")?.to_owned();
    let wants_jwt = request
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.split(',').any(|m| m.split(';').next().unwrap_or("").trim() == JWT_RESPONSE));
    let client_ip = request.peer_addr().map(|a| a.ip().to_string());
    let state = state.into_inner();
    let answer = match answer_inline(&state, &name, &secret, &token, wants_jwt) {
        Some(answered) => answered?,
        None => web::block(move || answer(&state, &name, &secret, &token, client_ip.as_deref(), wants_jwt)).await??,
    };
    let mut response = crate::error::no_store(StatusCode::OK);
    Ok(match answer {
        Answer::Json(body) => response.json(body),
        Answer::Jwt(jwt) => response.content_type(JWT_RESPONSE).body(jwt),
    })
}

enum Answer {
    Json(Value),
    Jwt(String),
}

/// HTTP Basic with the connection's name and secret, or `client_id`/`client_secret` in
/// the form (Cotia ID's convention), not both.
fn caller_credentials(request: &HttpRequest, params: &Params) -> Result<(String, String), OAuthError> {
    let basic = match request.headers().get(header::AUTHORIZATION) {
        Some(value) => {
            let value = value.to_str().map_err(|_| OAuthError::invalid_client("malformed Authorization header"))?;
            match value.split_once(' ') {
                Some((scheme, credentials)) if scheme.eq_ignore_ascii_case("basic") => {
                    Some(parse_basic(credentials.trim())?)
                }
                _ => return Err(OAuthError::invalid_client("authenticate with the API connection's name and secret")),
            }
        }
        None => None,
    };
    match (basic, params.get("client_id"), params.get("client_secret")) {
        (Some(_), _, Some(_)) => Err(OAuthError::invalid_request("use one client authentication method, not several")),
        (Some(credentials), _, None) => Ok(credentials),
        (None, Some(id), Some(secret)) => Ok((id.to_owned(), secret.to_owned())),
        _ => Err(OAuthError::invalid_client("authenticate with the API connection's name and secret")),
    }
}

/// Answers on the calling (async) thread when no I/O is needed: the configuration is
/// current, the caller authenticates, and the token is decided without the database
/// (malformed or unverifiable, or a verified JWT of no grant). `None` otherwise, with
/// nothing done: the blocking path answers (and audits a refused caller).
fn answer_inline(
    state: &OidcState,
    name: &str,
    secret: &str,
    token: &str,
    wants_jwt: bool,
) -> Option<Result<Answer, OAuthError>> {
    let now = now();
    let config = state.store.config_if_current()?;
    let (caller, own_scopes) = authenticate(&config, name, secret, now)?;
    let claims = match crate::bearer::look(state, token, now) {
        Looked::Active(ActiveToken { claims, issued }) => {
            crate::bearer::of_enabled_application(&config, &claims).then(|| issued.introspection_view(claims))
        }
        Looked::Inactive => None,
        Looked::OfGrant { .. } | Looked::Reference => return None,
    };
    Some(respond(state, caller, body_for(claims, &own_scopes), wants_jwt, now))
}

/// RFC 7662 §2.2: the answer to `caller` about a token with `claims` (`None`: inactive).
fn body_for(claims: Option<Map<String, Value>>, own_scopes: &ScopeSet) -> Value {
    let Some(claims) = claims else { return json!({ "active": false }) };
    match visible_to(&claims, own_scopes) {
        Some(scope) => {
            let bound = crate::bearer::bound_key(&claims).is_some();
            let mut answer = tessera_domain::introspection_answer(claims, &scope);
            // RFC 9449 §6.2: a bound token is of type DPoP; its `cnf` is among its claims.
            if bound {
                answer.insert("token_type".into(), Value::String("DPoP".into()));
            }
            Value::Object(answer)
        }
        None => json!({ "active": false }),
    }
}

fn answer(
    state: &OidcState,
    name: &str,
    secret: &str,
    token: &str,
    client_ip: Option<&str>,
    wants_jwt: bool,
) -> Result<Answer, OAuthError> {
    let now = now();
    let config = state.store.config()?;
    let (caller, own_scopes) = match authenticate(&config, name, secret, now) {
        Some(found) => found,
        None => {
            record_failure(state, name, client_ip, now);
            return Err(OAuthError::invalid_client("API connection authentication failed"));
        }
    };
    let claims = find_claims(state, token, now)?;
    respond(state, caller, body_for(claims, &own_scopes), wants_jwt, now)
}

/// The connection and its API scopes, if the credentials are right.
fn authenticate<'c>(config: &'c Config, name: &str, secret: &str, now: i64) -> Option<(&'c ApiConnection, ScopeSet)> {
    let connection = config.connection_by_name(name)?;
    let live = config.live_connection_secrets(&connection.id, now);
    let matched =
        live.iter().fold(false, |acc, s| SecretHash::from_stored(s.secret_hash.as_str()).matches(secret) | acc);
    if !matched {
        return None;
    }
    let own: ScopeSet = config
        .scopes_of_connection(&connection.id)
        .filter_map(|s| tessera_domain::ScopeToken::parse(&s.name).ok())
        .collect();
    Some((connection, own))
}

fn record_failure(state: &OidcState, name: &str, client_ip: Option<&str>, now: i64) {
    let target = format!("connection:{}", name.chars().take(100).collect::<String>());
    let event = NewAuditEvent {
        actor: "anonymous",
        action: "connection.authentication_failed",
        target: &target,
        summary: json!({ "endpoint": "introspect" }),
        client_ip,
    };
    // Anyone can cause this event: at most one a minute per address reaches the log.
    let key = format!("audit:connection.authentication_failed:{}", client_ip.unwrap_or("unknown"));
    let interval = crate::client_auth::AUDIT_SAMPLE_INTERVAL;
    if let Err(error) = state.store.write_transaction(|c| audit::record_sampled(c, &event, &key, interval, now)) {
        tracing::warn!(%error, "could not record a failed API connection authentication");
    }
}

/// RFC 7662 §2.2: unknown, malformed, expired, revoked tokens are all just inactive.
/// The hint is not needed: the token's form tells a JWT from a reference token, and
/// refresh tokens are never active to a resource server.
///
/// The answer is the token's claims, adjusted by the grant's custom claims: a claim
/// not declared for introspection is left out, and one declared for introspection but
/// not for the access token is added, as the grant's latest issuance set it.
fn find_claims(state: &OidcState, token: &str, now: i64) -> Result<Option<Map<String, Value>>, OAuthError> {
    let Some(ActiveToken { claims, issued }) = crate::bearer::active_token(state, token, now)? else {
        return Ok(None);
    };
    Ok(Some(issued.introspection_view(claims)))
}

/// The token's scopes that belong to the caller, space-separated; `None` when there are
/// none (the token is then inactive to this caller).
fn visible_to(claims: &Map<String, Value>, own: &ScopeSet) -> Option<String> {
    let granted = ScopeSet::parse(claims.get("scope").and_then(Value::as_str).unwrap_or("")).ok()?;
    let visible = granted.intersection(own);
    (!visible.is_empty()).then(|| visible.to_string())
}

/// JSON, or RFC 9701 §5: a JWT `{iss, aud: caller, iat, token_introspection}` with
/// `typ: token-introspection+jwt`.
fn respond(
    state: &OidcState,
    caller: &ApiConnection,
    body: Value,
    wants_jwt: bool,
    now: i64,
) -> Result<Answer, OAuthError> {
    if !wants_jwt {
        return Ok(Answer::Json(body));
    }
    let keys = state.keys.current();
    let signer = keys.signer(SigningAlgorithm::ES256).ok_or_else(OAuthError::server_error)?;
    let payload = json!({ "iss": state.issuer, "aud": caller.name, "iat": now, "token_introspection": body });
    tessera_tokens::jwt::sign(signer, "token-introspection+jwt", &payload).map(Answer::Jwt).map_err(|e| {
        tracing::error!(error = %e, "signing an introspection answer failed");
        OAuthError::server_error()
    })
}
