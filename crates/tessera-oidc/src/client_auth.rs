//! Client authentication at the token endpoint (RFC 6749 §2.3, OIDC Core §9):
//! `client_secret_basic`, `client_secret_post`, and `none` for public clients. A client
//! uses exactly the method it registered, and only one per request.

use actix_web::HttpRequest;
use actix_web::http::header;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;
use tessera_domain::ClientAuthMethod;
use tessera_store::applications::{self, Application};
use tessera_store::audit::{self, NewAuditEvent};
use tessera_store::{AnyConnection, StoreResult};
use tessera_tokens::SecretHash;

use crate::error::OAuthError;
use crate::form::Params;

/// The credentials a request presented, before they are checked.
#[derive(Debug, PartialEq, Eq)]
pub struct Presented {
    pub client_id: String,
    pub secret: Option<String>,
    pub method: ClientAuthMethod,
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
        return Err(OAuthError::invalid_client("private_key_jwt client authentication is not supported yet"));
    }
    match basic {
        Some((client_id, secret)) => {
            if params.get("client_secret").is_some() {
                return Err(OAuthError::invalid_request("use one client authentication method, not several"));
            }
            if params.get("client_id").is_some_and(|id| id != client_id) {
                return Err(OAuthError::invalid_request("client_id differs from the authenticated client"));
            }
            Ok(Presented { client_id, secret: Some(secret), method: ClientAuthMethod::ClientSecretBasic })
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
                    method: ClientAuthMethod::ClientSecretPost,
                }),
                None => Ok(Presented { client_id, secret: None, method: ClientAuthMethod::None }),
            }
        }
    }
}

/// RFC 6749 §2.3.1: `base64(urlencode(client_id) ":" urlencode(client_secret))`.
pub(crate) fn parse_basic(credentials: &str) -> Result<(String, String), OAuthError> {
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
    if id.is_empty() {
        return Err(malformed());
    }
    Ok((id, secret))
}

/// Checks the presented credentials against the registered application: the
/// application, or why it was refused. Every refusal is the same `invalid_client` to the
/// caller and an audit event for the operator.
pub fn authenticate(
    conn: &mut AnyConnection,
    presented: &Presented,
    now: i64,
) -> StoreResult<Result<Application, &'static str>> {
    let app = applications::find_by_client_id(conn, &presented.client_id)?;
    let reason = match &app {
        None => Some("unknown client"),
        Some(app) if !app.settings.enabled => Some("application disabled"),
        Some(app) if app.settings.token_endpoint_auth_method != presented.method => {
            Some("authentication method differs from the registered one")
        }
        Some(app) => match &presented.secret {
            None if app.settings.token_endpoint_auth_method == ClientAuthMethod::None => None,
            None => Some("no secret presented"),
            Some(secret) => {
                let live = applications::live_secrets(conn, &app.id, now)?;
                let matched = live
                    .iter()
                    .fold(false, |acc, s| SecretHash::from_stored(s.secret_hash.as_str()).matches(secret) | acc);
                (!matched).then_some("wrong secret")
            }
        },
    };
    Ok(match (app, reason) {
        (Some(app), None) => Ok(app),
        (_, reason) => Err(reason.unwrap_or("refused")),
    })
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
    if let Err(error) = store.write(|c| audit::record(c, &event, now)) {
        tracing::warn!(%error, "could not record a failed client authentication");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
