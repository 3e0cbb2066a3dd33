//! The API's errors: JSON `{ "error", "message", "field" }` with the status that fits.
//! Every store failure is mapped here, once ([`From<StoreError>`]), so no handler decides
//! a status on its own and bad input never becomes a 500.

use actix_web::http::StatusCode;
use actix_web::http::header::{CacheControl, CacheDirective};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use tessera_store::StoreError;
use utoipa::ToSchema;

/// The body of every error answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ErrorBody {
    /// `invalid_request` (400), `unauthorized` (401), `forbidden` (403), `not_found`
    /// (404), `conflict` (409), `payload_too_large` (413), `unavailable` (503) or
    /// `internal_error` (500).
    #[schema(example = "invalid_request")]
    pub error: &'static str,
    /// What went wrong, for a human.
    pub message: String,
    /// The request field the error is about (dotted path into the body or the query
    /// parameter's name), when there is one.
    pub field: Option<String>,
}

/// An error answered by the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: ErrorBody,
}

impl ApiError {
    fn new(status: StatusCode, error: &'static str, message: impl Into<String>, field: Option<String>) -> Self {
        ApiError { status, body: ErrorBody { error, message: message.into(), field } }
    }

    /// 400: the request is malformed or breaks a rule; `field` names what to fix.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", message, Some(field.into()))
    }

    /// 400 about the request as a whole.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", message, None)
    }

    /// 401: no usable management key was presented.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message, None)
    }

    /// 403: the caller may not do this (a standard entry is read-only, the key's creator
    /// lost the admin role).
    pub fn forbidden(field: Option<&str>, message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message, field.map(str::to_owned))
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message, None)
    }

    /// 409: a unique value is taken; `field` names it.
    pub fn conflict(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message, Some(field.into()))
    }

    pub fn payload_too_large(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", message, None)
    }

    pub fn unavailable() -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "the database is unavailable; retry later", None)
    }

    pub fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", "the request could not be completed", None)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.body.error, self.body.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        response.insert_header(CacheControl(vec![CacheDirective::NoStore]));
        if self.status == StatusCode::UNAUTHORIZED {
            // RFC 6750 §3: say which scheme to use.
            response.insert_header(("WWW-Authenticate", "Bearer realm=\"tessera-management-api\""));
        }
        response.json(&self.body)
    }
}

/// A setting the domain's parser refused: 400 naming the field.
impl From<tessera_domain::SettingsError> for ApiError {
    fn from(error: tessera_domain::SettingsError) -> Self {
        ApiError::invalid(error.field, error.message)
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound { entity } => ApiError::not_found(format!("{entity} not found")),
            StoreError::Conflict { field } => {
                let message = format!("{field} is already taken");
                ApiError::conflict(field, message)
            }
            StoreError::Invalid { field: Some(field), message } => ApiError::invalid(field, message),
            StoreError::Invalid { field: None, message } => ApiError::bad_request(message),
            StoreError::Unavailable(reason) => {
                tracing::warn!(%reason, "database unavailable");
                ApiError::unavailable()
            }
            other => {
                tracing::error!(error = %other, "store error on the management API");
                ApiError::internal()
            }
        }
    }
}

/// A blocking task that could not finish (the thread pool is shutting down).
impl From<actix_web::error::BlockingError> for ApiError {
    fn from(_: actix_web::error::BlockingError) -> Self {
        ApiError::unavailable()
    }
}
