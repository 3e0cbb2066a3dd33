//! Why `/protected` refused a request, mapped once to RFC 6750 §3 responses.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

/// The realm named in every `WWW-Authenticate` challenge.
pub const REALM: &str = "resource-server";
/// Seconds a client should wait before retrying when Tessera is unavailable.
const RETRY_AFTER: &str = "5";

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No usable `Authorization: Bearer` header. RFC 6750 §3.1: a request without
    /// authentication gets a challenge without an error code.
    #[error("send Authorization: Bearer <access token>")]
    MissingToken,
    /// Tessera says the token is not active for this connection.
    #[error("the access token is not valid for this API")]
    InvalidToken,
    /// The token is active but lacks the scope the route needs.
    #[error("the access token lacks the scope {0}")]
    InsufficientScope(String),
    /// RFC 9449 §7.1: a DPoP-bound token sent as a bearer token.
    #[error("the access token is bound to a key: send it with the DPoP scheme and a proof")]
    DpopRequired,
    /// RFC 9449 §7.1: the DPoP proof is missing, malformed, replayed, for another
    /// request or token, or made with another key.
    #[error("{0}")]
    InvalidProof(&'static str),
    /// RFC 9470 §3: the user's authentication behind the token is not strong or recent
    /// enough for this route.
    #[error("{}", .0.description)]
    InsufficientUserAuthentication(crate::step_up::Unmet),
    /// Tessera could not be asked; the token is neither accepted nor refused.
    #[error("the access token cannot be checked right now")]
    Unavailable,
}

impl ApiError {
    fn code(&self) -> Option<&'static str> {
        match self {
            ApiError::MissingToken => None,
            ApiError::InvalidToken | ApiError::DpopRequired => Some("invalid_token"),
            ApiError::InvalidProof(_) => Some("invalid_dpop_proof"),
            ApiError::InsufficientScope(_) => Some("insufficient_scope"),
            ApiError::InsufficientUserAuthentication(_) => Some("insufficient_user_authentication"),
            ApiError::Unavailable => Some("temporarily_unavailable"),
        }
    }

    /// RFC 6750 §3: `Bearer realm="…"`, with `error` and, for a missing scope, `scope`;
    /// RFC 9728 §5.1: `resource_metadata`, the URL of the metadata document, when there
    /// is one. Scopes are checked at start to be RFC 6749 §3.3 scope-tokens and the URL
    /// is a parsed URL, so they need no escaping.
    fn challenge(&self, resource_metadata: Option<&str>) -> String {
        let mut challenge = if matches!(self, ApiError::DpopRequired | ApiError::InvalidProof(_)) {
            // RFC 9449 §7.1: the DPoP challenge, with the algorithms accepted.
            let algs = tessera_tokens::dpop::ALGORITHMS.join(" ");
            format!("DPoP algs=\"{algs}\", error=\"{}\"", self.code().unwrap_or_default())
        } else {
            let mut bearer = format!("Bearer realm=\"{REALM}\"");
            if let Some(code) = self.code() {
                bearer.push_str(&format!(", error=\"{code}\""));
            }
            if let ApiError::InsufficientScope(scope) = self {
                bearer.push_str(&format!(", scope=\"{scope}\""));
            }
            // RFC 9470 §3: what to ask the authorization server for. The description is
            // one of the module's constants and the level a known value: no escaping.
            if let ApiError::InsufficientUserAuthentication(unmet) = self {
                bearer.push_str(&format!(
                    ", error_description=\"{}\", acr_values=\"{}\"",
                    unmet.description,
                    unmet.rule.acr.as_str()
                ));
                if let Some(max_age) = unmet.rule.max_age {
                    bearer.push_str(&format!(", max_age={max_age}"));
                }
            }
            bearer
        };
        if let Some(url) = resource_metadata {
            challenge.push_str(&format!(", resource_metadata=\"{url}\""));
        }
        challenge
    }

    /// The answer, its challenge naming `resource_metadata` when given.
    pub fn response(&self, resource_metadata: Option<&str>) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header((header::CACHE_CONTROL, "no-store"));
        match self {
            ApiError::Unavailable => {
                response.insert_header((header::RETRY_AFTER, RETRY_AFTER));
            }
            _ => {
                if let Ok(challenge) = HeaderValue::from_str(&self.challenge(resource_metadata)) {
                    response.insert_header((header::WWW_AUTHENTICATE, challenge));
                }
            }
        }
        response.json(json!({ "error": self.code().unwrap_or("unauthorized"), "message": self.to_string() }))
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::MissingToken
            | ApiError::InvalidToken
            | ApiError::DpopRequired
            | ApiError::InvalidProof(_)
            | ApiError::InsufficientUserAuthentication(_) => StatusCode::UNAUTHORIZED,
            ApiError::InsufficientScope(_) => StatusCode::FORBIDDEN,
            ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        self.response(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_follow_rfc_6750() {
        assert_eq!(ApiError::MissingToken.challenge(None), r#"Bearer realm="resource-server""#);
        assert_eq!(ApiError::InvalidToken.challenge(None), r#"Bearer realm="resource-server", error="invalid_token""#);
        assert_eq!(
            ApiError::InsufficientScope("orders-api".into()).challenge(None),
            r#"Bearer realm="resource-server", error="insufficient_scope", scope="orders-api""#
        );
    }

    #[test]
    fn a_step_up_challenge_follows_rfc_9470() {
        use crate::step_up::{Level, Rule, Unmet};
        let unmet = Unmet {
            rule: Rule { acr: Level::PhishingResistant, max_age: Some(300) },
            description: "a stronger authentication is required",
        };
        assert_eq!(
            ApiError::InsufficientUserAuthentication(unmet.clone()).challenge(None),
            r#"Bearer realm="resource-server", error="insufficient_user_authentication", error_description="a stronger authentication is required", acr_values="phr", max_age=300"#
        );
        let level_only = Unmet { rule: Rule { max_age: None, ..unmet.rule }, ..unmet };
        assert!(ApiError::InsufficientUserAuthentication(level_only).challenge(None).ends_with(r#"acr_values="phr""#));
    }

    #[test]
    fn challenges_name_the_metadata_document_per_rfc_9728() {
        let url = Some("https://api.example.com/.well-known/oauth-protected-resource");
        assert_eq!(
            ApiError::InvalidToken.challenge(url),
            r#"Bearer realm="resource-server", error="invalid_token", resource_metadata="https://api.example.com/.well-known/oauth-protected-resource""#
        );
        assert!(ApiError::DpopRequired.challenge(url).starts_with("DPoP algs="));
        assert!(
            ApiError::DpopRequired
                .challenge(url)
                .ends_with(r#"resource_metadata="https://api.example.com/.well-known/oauth-protected-resource""#)
        );
    }
}
