//! Client authentication at the token endpoint (RFC 6749 §2.3, OIDC Core §9):
//! `client_secret_basic`, `client_secret_post`, `private_key_jwt` (RFC 7523 §2.2, with
//! the client's registered JWKS or the one at its `jwks_uri`, the issuer identifier as the assertion's only audience
//! per draft-ietf-oauth-rfc7523bis §4, and `jti` replay refused), and `none` for public
//! clients. A client uses exactly the method it registered, and only one per request.

use std::sync::Arc;

use actix_web::HttpRequest;
use actix_web::http::header;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;
use tessera_domain::ClientAuthMethod;
use tessera_store::applications::Application;
use tessera_store::audit::{self, NewAuditEvent};
use tessera_store::client_assertions;
use tessera_store::config::Config;
use tessera_tokens::SecretHash;

use crate::client_keys::{ClientKeys, KeyFailure};
use crate::error::OAuthError;
use crate::form::Params;

/// RFC 7523 §2.2.
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Clock skew tolerated on assertion times.
const LEEWAY: i64 = 60;
/// Failed authentications from one address reach the audit log at most once per this many
/// seconds, each with the number passed over since the last.
pub const AUDIT_SAMPLE_INTERVAL: i64 = 60;

/// The longest an assertion may be valid for (bounds the replay records kept).
const MAX_ASSERTION_LIFETIME: i64 = 3600;

/// The `aud` values a client assertion may carry.
///
/// draft-ietf-oauth-rfc7523bis §4 (replacing RFC 7523 §3 item 3): for client
/// authentication the audience is the authorization server's issuer identifier as the
/// sole value, compared as a simple string (RFC 3986 §6.2.1), and anything else is
/// refused; endpoint URLs and extra values are what made the audience injection attack
/// possible. We accept that value as a JSON string or as a one-element array holding
/// exactly it: both carry the issuer as the sole audience value (RFC 7519 §4.1.3 makes
/// the string the special case of the array). Every other array is refused.
///
/// With the `private_key_jwt_legacy_audiences` setting the values of RFC 7523 §3 and OIDC
/// Core §9 as they read before that update are accepted too: the token, introspection
/// and revocation endpoint URLs, and an array naming any accepted value among others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssertionAudience {
    issuer: String,
    /// Empty unless the legacy values are allowed; then the issuer and the endpoint URLs.
    legacy: Vec<String>,
}

impl AssertionAudience {
    /// The issuer identifier, and with `legacy` the endpoint URLs of this issuer too.
    pub fn for_issuer(issuer: &str, legacy: bool) -> AssertionAudience {
        let legacy = if legacy {
            ["", "/connect/token", "/connect/introspect", "/connect/revocation"]
                .iter()
                .map(|path| format!("{issuer}{path}"))
                .collect()
        } else {
            Vec::new()
        };
        AssertionAudience { issuer: issuer.to_owned(), legacy }
    }

    /// Whether the legacy values are accepted.
    pub fn allows_legacy(&self) -> bool {
        !self.legacy.is_empty()
    }

    /// Whether an assertion's `aud` claim names this server as the rules above allow.
    pub fn accepts(&self, aud: Option<&serde_json::Value>) -> bool {
        use serde_json::Value;
        let is_issuer = |value: &Value| value.as_str() == Some(self.issuer.as_str());
        let strict = match aud {
            Some(value @ Value::String(_)) => is_issuer(value),
            Some(Value::Array(values)) => matches!(values.as_slice(), [only] if is_issuer(only)),
            _ => false,
        };
        if strict || self.legacy.is_empty() {
            return strict;
        }
        let known = |value: &Value| value.as_str().is_some_and(|v| self.legacy.iter().any(|a| a == v));
        match aud {
            Some(value @ Value::String(_)) => known(value),
            Some(Value::Array(values)) => values.iter().any(known),
            _ => false,
        }
    }

    /// Why an assertion was refused for its `aud`, for the audit log.
    fn refusal(&self) -> &'static str {
        if self.allows_legacy() {
            "the client assertion's aud does not name this server"
        } else {
            "the client assertion's aud is not the issuer identifier alone"
        }
    }
}

/// The credentials a request presented, before they are checked.
#[derive(Debug, PartialEq, Eq)]
pub struct Presented {
    pub client_id: String,
    pub secret: Option<String>,
    pub assertion: Option<String>,
    pub method: ClientAuthMethod,
}

/// What every endpoint a client calls directly (token, PAR, device authorization,
/// revocation) reads first: the form, the credentials presented, the client's address;
/// and the rate limits of the token endpoint family, counted before any work.
pub(crate) fn client_request(
    request: &HttpRequest,
    body: &[u8],
    state: &crate::state::OidcState,
) -> Result<(Params, Presented, Option<std::net::IpAddr>), OAuthError> {
    let params = Params::from_form_body(request, body)?;
    let presented = presented(request, &params)?;
    let client_ip = request.peer_addr().map(|a| a.ip());
    state.limiters.check(crate::rate_limit::Endpoint::Token, Some(&presented.client_id), client_ip)?;
    Ok((params, presented, client_ip))
}

/// Reads the credentials from the `Authorization: Basic` header or the form.
pub fn presented(request: &HttpRequest, params: &Params) -> Result<Presented, OAuthError> {
    let basic = match request.headers().get(header::AUTHORIZATION) {
        Some(value) => {
            let value = value.to_str().map_err(|_| OAuthError::invalid_client("malformed Authorization header"))?;
            match value.split_once(' ') {
                Some((scheme, credentials)) if scheme.eq_ignore_ascii_case("basic") => {
                    Some(parse_basic(credentials.trim())?)
                }
                _ => return Err(OAuthError::invalid_client("only the Basic authorization scheme is accepted here")),
            }
        }
        None => None,
    };
    if params.get("client_assertion").is_some() || params.get("client_assertion_type").is_some() {
        if basic.is_some() || params.get("client_secret").is_some() {
            return Err(OAuthError::invalid_request("use one client authentication method, not several"));
        }
        if params.get("client_assertion_type") != Some(JWT_BEARER) {
            return Err(OAuthError::invalid_request(format!("client_assertion_type must be {JWT_BEARER}")));
        }
        let assertion = params.require("client_assertion")?.to_owned();
        // The client is named by the assertion's issuer (RFC 7523 §3); its signature is
        // checked against that client's keys before anything is trusted.
        let client_id = unverified_issuer(&assertion)
            .ok_or_else(|| OAuthError::invalid_client("client_assertion is not a JWT with an iss claim"))?;
        if params.get("client_id").is_some_and(|id| id != client_id) {
            return Err(OAuthError::invalid_request("client_id differs from the client_assertion's issuer"));
        }
        return Ok(Presented {
            client_id,
            secret: None,
            assertion: Some(assertion),
            method: ClientAuthMethod::PrivateKeyJwt,
        });
    }
    match basic {
        Some((client_id, secret)) => {
            if params.get("client_secret").is_some() {
                return Err(OAuthError::invalid_request("use one client authentication method, not several"));
            }
            if params.get("client_id").is_some_and(|id| id != client_id) {
                return Err(OAuthError::invalid_request("client_id differs from the authenticated client"));
            }
            Ok(Presented {
                client_id,
                secret: Some(secret),
                assertion: None,
                method: ClientAuthMethod::ClientSecretBasic,
            })
        }
        None => {
            let client_id = params
                .get("client_id")
                .ok_or_else(|| OAuthError::invalid_client("client authentication is required"))?
                .to_owned();
            match params.get("client_secret") {
                Some(secret) => Ok(Presented {
                    client_id,
                    secret: Some(secret.to_owned()),
                    assertion: None,
                    method: ClientAuthMethod::ClientSecretPost,
                }),
                None => Ok(Presented { client_id, secret: None, assertion: None, method: ClientAuthMethod::None }),
            }
        }
    }
}

/// RFC 6749 §2.3.1: `base64(urlencode(client_id) ":" urlencode(client_secret))`. Public for
/// the fuzz targets (`crates/tessera-fuzz`).
pub fn parse_basic(credentials: &str) -> Result<(String, String), OAuthError> {
    let malformed = || OAuthError::invalid_client("malformed Basic credentials");
    let decoded = STANDARD.decode(credentials).map_err(|_| malformed())?;
    let decoded = String::from_utf8(decoded).map_err(|_| malformed())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(malformed)?;
    // form_urlencoded decodes `%XX` and `+`; `&` is escaped so it stays in the value.
    let unescape = |part: &str| -> Result<String, OAuthError> {
        url::form_urlencoded::parse(format!("v={}", part.replace('&', "%26")).as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .ok_or_else(malformed)
    };
    let (id, secret) = (unescape(id)?, unescape(secret)?);
    if id.is_empty() || id.contains('\0') || secret.contains('\0') {
        return Err(malformed());
    }
    Ok((id, secret))
}

/// Checks the presented credentials against the registered application: the
/// application, or why it was refused. Every refusal is the same `invalid_client` to the
/// caller and an audit event for the operator.
pub fn authenticate(
    config: &Config,
    presented: &Presented,
    audience: &AssertionAudience,
    keys: &ClientKeys,
    now: i64,
) -> Result<Authenticated, &'static str> {
    let app = config.application_by_client_id(&presented.client_id);
    let mut replay_guard = None;
    let reason = match &app {
        None => Some("unknown client"),
        Some(app) if !app.settings.enabled => Some("application disabled"),
        Some(app) if app.settings.token_endpoint_auth_method != presented.method => {
            Some("authentication method differs from the registered one")
        }
        Some(app) if presented.method == ClientAuthMethod::PrivateKeyJwt => {
            match presented.assertion.as_deref().map(|a| check_assertion(app, a, audience, keys, now)) {
                Some(Ok(guard)) => {
                    replay_guard = Some(guard);
                    None
                }
                Some(Err(reason)) => Some(reason),
                None => Some("no assertion"),
            }
        }
        Some(app) => match &presented.secret {
            None if app.settings.token_endpoint_auth_method == ClientAuthMethod::None => None,
            None => Some("no secret presented"),
            Some(secret) => {
                let live = config.live_application_secrets(&app.id, now);
                let matched = live
                    .iter()
                    .fold(false, |acc, s| SecretHash::from_stored(s.secret_hash.as_str()).matches(secret) | acc);
                (!matched).then_some("wrong secret")
            }
        },
    };
    match (app, reason) {
        (Some(app), None) => Ok(Authenticated { app: app.clone(), replay_guard }),
        (_, reason) => Err(reason.unwrap_or("refused")),
    }
}

/// An authenticated client, and for `private_key_jwt` the assertion's `jti` and until
/// when to remember it.
pub struct Authenticated {
    pub app: Arc<Application>,
    pub replay_guard: Option<(String, i64)>,
}

/// The `iss` of a JWT, read without verifying it (only to find whose keys verify it).
fn unverified_issuer(assertion: &str) -> Option<String> {
    let payload = assertion.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).ok()?;
    let claims: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&bytes).ok()?;
    claims.get("iss").and_then(|v| v.as_str()).filter(|s| !s.is_empty() && s.len() <= 200).map(str::to_owned)
}

/// RFC 7523 §3: the assertion is signed by one of the client's registered keys (its
/// `jwks`, or the set at its `jwks_uri`: `crate::client_keys`; no
/// `alg: none`, no algorithm confusion), `iss` and `sub` are the client, `aud` is the
/// issuer identifier alone (draft-ietf-oauth-rfc7523bis §4; see [`AssertionAudience`]),
/// it has not expired, is not from the future, lives at most an hour, and carries a
/// `jti`. Returns the `jti` and expiry to record against replay.
pub fn check_assertion(
    app: &Application,
    assertion: &str,
    audience: &AssertionAudience,
    keys: &ClientKeys,
    now: i64,
) -> Result<(String, i64), &'static str> {
    let verified = keys.verify(app, assertion).map_err(|failure| match failure {
        KeyFailure::NoKeys => "the application has no registered keys",
        KeyFailure::Unavailable(why) => {
            tracing::warn!(client_id = %app.client_id, %why, "a client assertion could not be checked");
            "the application's jwks_uri could not be fetched or holds no usable JWK Set"
        }
        KeyFailure::Jwt(_) => "the client assertion's signature does not verify",
    })?;
    let claims = verified.claims;
    let text = |name: &str| claims.get(name).and_then(|v| v.as_str());
    let time = |name: &str| claims.get(name).and_then(|v| v.as_i64());
    if text("iss") != Some(app.client_id.as_str()) || text("sub") != Some(app.client_id.as_str()) {
        return Err("the client assertion's iss and sub must be the client id");
    }
    if !audience.accepts(claims.get("aud")) {
        return Err(audience.refusal());
    }
    let Some(exp) = time("exp") else { return Err("the client assertion has no exp") };
    if exp + LEEWAY <= now {
        return Err("the client assertion has expired");
    }
    if exp > now + MAX_ASSERTION_LIFETIME {
        return Err("the client assertion is valid for too long");
    }
    if time("nbf").is_some_and(|nbf| nbf - LEEWAY > now) || time("iat").is_some_and(|iat| iat - LEEWAY > now) {
        return Err("the client assertion is not valid yet");
    }
    let Some(jti) = text("jti").filter(|j| !j.is_empty() && j.len() <= 256) else {
        return Err("the client assertion has no jti");
    };
    Ok((jti.to_owned(), exp + LEEWAY))
}

/// Authenticates the client of a request to the token, introspection-by-client or
/// revocation endpoint: the application, or `invalid_client` (audited). For
/// `private_key_jwt` the assertion's `jti` is recorded, and a replay refused.
pub fn authenticate_request(
    state: &crate::state::OidcState,
    presented: &Presented,
    client_ip: Option<&str>,
    now: i64,
) -> Result<Arc<Application>, OAuthError> {
    let config = state.store.config()?;
    let Authenticated { app, replay_guard } =
        match authenticate(&config, presented, &state.assertion_audience, &state.client_keys, now) {
            Ok(authenticated) => authenticated,
            Err(reason) => {
                record_failure(&state.store, presented, reason, client_ip, now);
                return Err(OAuthError::invalid_client("client authentication failed"));
            }
        };
    if let Some((jti, expires_at)) = replay_guard {
        let jti_hash = SecretHash::of(&jti);
        let fresh = match state
            .store
            .write_transaction(|c| client_assertions::record_jti(c, &app.id, jti_hash.as_str(), expires_at, now))
        {
            Ok(fresh) => fresh,
            // A concurrent duplicate insert on Postgres: a replay too.
            Err(tessera_store::StoreError::Conflict { .. }) => false,
            Err(other) => return Err(other.into()),
        };
        if !fresh {
            record_failure(&state.store, presented, "client assertion replayed", client_ip, now);
            return Err(OAuthError::invalid_client("client authentication failed"));
        }
    }
    Ok(app)
}

/// Records a refused client authentication (a security event) in its own transaction.
pub fn record_failure(
    store: &tessera_store::Store,
    presented: &Presented,
    reason: &str,
    client_ip: Option<&str>,
    now: i64,
) {
    let target: String = format!("client:{}", presented.client_id.chars().take(100).collect::<String>());
    let event = NewAuditEvent {
        actor: "anonymous",
        action: "client.authentication_failed",
        target: &target,
        summary: json!({ "reason": reason, "method": presented.method.as_str() }),
        client_ip,
    };
    // Anyone can cause this event: at most one a minute per address reaches the log.
    let key = format!("audit:client.authentication_failed:{}", client_ip.unwrap_or("unknown"));
    if let Err(error) = store.write_transaction(|c| audit::record_sampled(c, &event, &key, AUDIT_SAMPLE_INTERVAL, now))
    {
        tracing::warn!(%error, "could not record a failed client authentication");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ISSUER: &str = "https://id.example.com";

    #[test]
    fn the_assertion_audience_is_the_issuer_identifier_alone() {
        let audience = AssertionAudience::for_issuer(ISSUER, false);
        assert!(!audience.allows_legacy());
        assert!(audience.accepts(Some(&json!(ISSUER))));
        assert!(audience.accepts(Some(&json!([ISSUER]))), "a one-element array holding exactly the issuer");
        for refused in [
            json!("https://id.example.com/connect/token"),
            json!("https://id.example.com/connect/introspect"),
            json!("https://id.example.com/connect/revocation"),
            json!("https://id.example.com/"),
            json!("HTTPS://id.example.com"),
            json!(["https://evil.example/token", ISSUER]),
            json!([ISSUER, ISSUER]),
            json!([]),
            json!([[ISSUER]]),
            json!(null),
            json!(1),
            json!({ "aud": ISSUER }),
        ] {
            assert!(!audience.accepts(Some(&refused)), "{refused}");
        }
        assert!(!audience.accepts(None), "no aud");
    }

    #[test]
    fn the_legacy_setting_also_accepts_endpoint_urls_and_arrays_naming_one() {
        let audience = AssertionAudience::for_issuer(ISSUER, true);
        assert!(audience.allows_legacy());
        for accepted in [
            json!(ISSUER),
            json!([ISSUER]),
            json!("https://id.example.com/connect/token"),
            json!("https://id.example.com/connect/introspect"),
            json!("https://id.example.com/connect/revocation"),
            json!(["https://evil.example/token", "https://id.example.com/connect/token"]),
        ] {
            assert!(audience.accepts(Some(&accepted)), "{accepted}");
        }
        for refused in [json!("https://evil.example/token"), json!(["https://evil.example"]), json!([]), json!(2)] {
            assert!(!audience.accepts(Some(&refused)), "{refused}");
        }
        assert!(!audience.accepts(None));
    }

    #[test]
    fn basic_credentials_are_url_decoded() {
        let header = STANDARD.encode("my%20app:s%3Acret+x");
        assert_eq!(parse_basic(&header).unwrap(), ("my app".to_owned(), "s:cret x".to_owned()));
    }

    #[test]
    fn malformed_basic_credentials_are_invalid_client() {
        for bad in
            ["%%%", &STANDARD.encode("no-colon"), &STANDARD.encode(":secret"), &STANDARD.encode([0xff, b':', 0xfe])]
        {
            assert_eq!(parse_basic(bad).unwrap_err().error, "invalid_client", "{bad}");
        }
    }
}
