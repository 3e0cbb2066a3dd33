//! Protocol errors in the OAuth 2.0 format (RFC 6749 §5.2): `{"error", "error_description"}`
//! with the status the spec gives, never cached.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, CacheControl, CacheDirective};
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;
use tessera_store::StoreError;

/// An error answered to a client of a protocol endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    pub error: &'static str,
    pub description: String,
    pub status: StatusCode,
}

impl OAuthError {
    fn new(error: &'static str, status: StatusCode, description: impl Into<String>) -> Self {
        OAuthError { error, description: description.into(), status }
    }

    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new("invalid_request", StatusCode::BAD_REQUEST, description)
    }

    /// RFC 6749 §5.2: 401, with a `WWW-Authenticate` challenge for the Basic scheme.
    pub fn invalid_client(description: impl Into<String>) -> Self {
        Self::new("invalid_client", StatusCode::UNAUTHORIZED, description)
    }

    pub fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new("invalid_grant", StatusCode::BAD_REQUEST, description)
    }

    pub fn unauthorized_client(description: impl Into<String>) -> Self {
        Self::new("unauthorized_client", StatusCode::BAD_REQUEST, description)
    }

    pub fn unsupported_grant_type(description: impl Into<String>) -> Self {
        Self::new("unsupported_grant_type", StatusCode::BAD_REQUEST, description)
    }

    pub fn invalid_scope(description: impl Into<String>) -> Self {
        Self::new("invalid_scope", StatusCode::BAD_REQUEST, description)
    }

    /// RFC 8707 §2: a `resource` the request may not name.
    pub fn invalid_target(description: impl Into<String>) -> Self {
        Self::new("invalid_target", StatusCode::BAD_REQUEST, description)
    }

    /// The token request is refused by policy (a custom claims script denied it or
    /// failed with issuance set to deny), as Logto answers `api.denyAccess`.
    pub fn access_denied(description: impl Into<String>) -> Self {
        Self::new("access_denied", StatusCode::BAD_REQUEST, description)
    }

    pub fn server_error() -> Self {
        Self::new("server_error", StatusCode::INTERNAL_SERVER_ERROR, "the request could not be completed")
    }

    pub fn temporarily_unavailable() -> Self {
        Self::new("temporarily_unavailable", StatusCode::SERVICE_UNAVAILABLE, "the service is unavailable; retry later")
    }
}

impl std::fmt::Display for OAuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.error, self.description)
    }
}

impl ResponseError for OAuthError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        response.insert_header(CacheControl(vec![CacheDirective::NoStore])).insert_header((header::PRAGMA, "no-cache"));
        // Errors of the token endpoint must be readable by browser-based clients too.
        response.insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"));
        if self.error == "invalid_client" {
            response.insert_header((header::WWW_AUTHENTICATE, "Basic realm=\"tessera\", charset=\"UTF-8\""));
        }
        response.json(json!({ "error": self.error, "error_description": self.description }))
    }
}

/// A store failure reaching a protocol endpoint: the database is away (503) or something
/// unexpected happened (500, logged, with no detail for the client).
impl From<StoreError> for OAuthError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(reason) => {
                tracing::warn!(%reason, "database unavailable");
                OAuthError::temporarily_unavailable()
            }
            // Input the database cannot hold (e.g. a NUL character): the request's fault.
            StoreError::Invalid { message, .. } => OAuthError::invalid_request(message),
            other => {
                tracing::error!(error = %other, "store error on a protocol endpoint");
                OAuthError::server_error()
            }
        }
    }
}
