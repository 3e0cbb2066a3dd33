//! The RFC 7662 client: asks Tessera's `/connect/introspect` about a token, authenticated
//! as the API connection.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderValue, InvalidHeaderValue};
use serde::Deserialize;

use crate::StartError;
use crate::config::Config;

/// How long one introspection may take before the request is answered 503.
const TIMEOUT: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// What this API needs from an active answer. Tessera's answer shows only the scopes
/// that belong to the calling connection.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct ActiveToken {
    #[serde(default)]
    pub sub: Option<String>,
    #[serde(default)]
    pub client_id: Option<String>,
    /// Space-separated (RFC 7662 §2.2).
    #[serde(default)]
    pub scope: String,
    /// Unix time after which the token is no longer valid.
    #[serde(default)]
    pub exp: Option<i64>,
    /// RFC 9449 §6.2: the key a DPoP-bound token is bound to.
    #[serde(default)]
    pub cnf: Option<Confirmation>,
    /// OIDC Core §2 / RFC 9068 §2.2.1: the level the user's authentication reached
    /// (none for a client acting for itself).
    #[serde(default)]
    pub acr: Option<String>,
    /// When the user authenticated (unix time).
    #[serde(default)]
    pub auth_time: Option<i64>,
}

/// RFC 7800 `cnf` with RFC 9449's `jkt`: the SHA-256 thumbprint of the client's key.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Confirmation {
    #[serde(default)]
    pub jkt: Option<String>,
}

impl ActiveToken {
    /// RFC 7662 §2.2 / RFC 6749 §3.3: `scope` is a space-separated list.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scope.split(' ').any(|s| s == scope)
    }
}

/// Tessera's verdict on a token.
#[derive(Debug, PartialEq, Eq)]
pub enum Introspection {
    Active(ActiveToken),
    /// RFC 7662 §2.2: unknown, expired, revoked, or not for this connection.
    Inactive,
}

/// Tessera could not give a verdict.
#[derive(Debug, thiserror::Error)]
pub enum IntrospectionError {
    #[error("introspection request failed: {0}")]
    Unreachable(#[source] reqwest::Error),
    /// 401 means CONNECTION_NAME or CONNECTION_SECRET is wrong.
    #[error("introspection answered HTTP {0}")]
    Status(u16),
    #[error("introspection answer is not RFC 7662 JSON: {0}")]
    Malformed(#[source] reqwest::Error),
}

#[derive(Deserialize)]
struct Answer {
    active: bool,
    #[serde(flatten)]
    token: ActiveToken,
}

pub struct Introspector {
    http: reqwest::Client,
    endpoint: String,
    /// `Basic …` with the connection's credentials, built once.
    authorization: HeaderValue,
    calls: AtomicU64,
}

impl Introspector {
    pub fn new(config: &Config) -> Result<Introspector, StartError> {
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(StartError::HttpClient)?;
        let authorization = basic_authorization(&config.connection_name, &config.connection_secret)
            .map_err(|_| StartError::Credentials)?;
        Ok(Introspector { http, endpoint: config.introspection_endpoint(), authorization, calls: AtomicU64::new(0) })
    }

    /// POSTs `token=…` to the introspection endpoint (RFC 7662 §2.1).
    pub async fn introspect(&self, token: &str) -> Result<Introspection, IntrospectionError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let response = self
            .http
            .post(&self.endpoint)
            .header(AUTHORIZATION, self.authorization.clone())
            .header(ACCEPT, "application/json")
            .form(&[("token", token)])
            .send()
            .await
            .map_err(IntrospectionError::Unreachable)?;
        if response.status() != reqwest::StatusCode::OK {
            return Err(IntrospectionError::Status(response.status().as_u16()));
        }
        let answer: Answer = response.json().await.map_err(IntrospectionError::Malformed)?;
        Ok(if answer.active { Introspection::Active(answer.token) } else { Introspection::Inactive })
    }

    /// How many introspection requests this process has sent.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }
}

/// RFC 6749 §2.3.1: the client id and secret are each form-urlencoded, then joined by `:`
/// and base64-encoded. (reqwest's `basic_auth` skips the first step, which matters for a
/// connection name with `:`.)
fn basic_authorization(name: &str, secret: &str) -> Result<HeaderValue, InvalidHeaderValue> {
    let encode = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let credentials = format!("{}:{}", encode(name), encode(secret));
    let mut value = HeaderValue::from_str(&format!("Basic {}", STANDARD.encode(credentials)))?;
    value.set_sensitive(true);
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_urlencoded_before_base64() {
        let value = basic_authorization("orders:api", "a b+c").unwrap();
        let encoded = value.to_str().unwrap().strip_prefix("Basic ").unwrap();
        assert_eq!(STANDARD.decode(encoded).unwrap(), b"orders%3Aapi:a+b%2Bc");
        assert!(value.is_sensitive());
    }

    #[test]
    fn scopes_are_matched_as_whole_words() {
        let token = ActiveToken {
            sub: None,
            client_id: None,
            scope: "orders-api orders.read".into(),
            exp: None,
            cnf: None,
            acr: None,
            auth_time: None,
        };
        assert!(token.has_scope("orders-api"));
        assert!(token.has_scope("orders.read"));
        assert!(!token.has_scope("orders"));
        assert!(!token.has_scope(""));
    }

    #[test]
    fn answers_are_parsed_as_rfc_7662_json() {
        let active: Answer = serde_json::from_str(
            r#"{"active":true,"sub":"machine","client_id":"machine","scope":"orders-api","exp":1800000060,"aud":"orders-api"}"#,
        )
        .unwrap();
        assert!(active.active);
        assert_eq!(active.token.exp, Some(1_800_000_060));
        let inactive: Answer = serde_json::from_str(r#"{"active":false}"#).unwrap();
        assert!(!inactive.active);
    }
}
