//! The one place where errors become responses, so that every endpoint answers the same
//! failure the same way:
//!
//! - [`OAuthError`]: RFC 6749 §5.2 JSON `{"error", "error_description"}` with the status
//!   the spec gives (the token, introspection and revocation endpoints), never cached,
//!   readable cross-origin; `invalid_client` carries the Basic challenge.
//! - [`BearerError`]: RFC 6750 §3, a protected resource's error (userinfo) with its
//!   `WWW-Authenticate: Bearer` challenge.
//! - [`Untrusted`] and [`Refusal`]: the authorization endpoint's errors. Before the client
//!   and its redirect URI are checked, our error page (never a redirect); after, a
//!   redirect to that URI with `error`, `error_description`, `state` and `iss`
//!   (RFC 6749 §4.1.2.1, RFC 9207).
//! - [`failure`] and [`run_blocking`]: a store error during a browser flow is the error
//!   page, 503 when the database is away; the pages' other error pages beside them.
//! - [`method_not_allowed`]: 405 on POST-only endpoints.
//!
//! A store error never shows the database's text to a client: it is logged here, and the
//! client is told `temporarily_unavailable` (503) or `server_error` (500).

use actix_web::http::StatusCode;
use actix_web::http::header::{self, CacheControl, CacheDirective};
use actix_web::{HttpResponse, ResponseError, web};
use serde_json::json;
use tessera_store::{StoreError, StoreResult};

use crate::pages::{self, ErrorPage};
use crate::reply::{ReplyTo, reply};
use crate::view::Deferred;

/// The start of every answer of the back-channel endpoints (token, PAR, device
/// authorization, introspection, revocation, userinfo), success or error: it carries
/// tokens or facts about them, so no cache may keep it (RFC 6749 §5.1: `Cache-Control:
/// no-store`, and `Pragma: no-cache` for HTTP/1.0 caches).
pub(crate) fn no_store(status: StatusCode) -> actix_web::HttpResponseBuilder {
    let mut response = HttpResponse::build(status);
    response.insert_header(CacheControl(vec![CacheDirective::NoStore])).insert_header((header::PRAGMA, "no-cache"));
    response
}

/// An error answered to a client of a protocol endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    pub error: &'static str,
    pub description: String,
    pub status: StatusCode,
    /// Seconds after which the client may try again (`Retry-After`, RFC 9110 §10.2.3).
    pub retry_after: Option<std::num::NonZeroU32>,
}

impl OAuthError {
    fn new(error: &'static str, status: StatusCode, description: impl Into<String>) -> Self {
        OAuthError { error, description: description.into(), status, retry_after: None }
    }

    /// RFC 6585 §4: `429 Too Many Requests` with `Retry-After`, when `who` ("this client",
    /// "this address") is over a rate limit. The error code is `temporarily_unavailable`
    /// (RFC 6749 §4.1.2.1), the registered code that tells a client to try again later.
    pub fn rate_limited(who: &str, wait: std::time::Duration) -> Self {
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        let seconds = u32::try_from(seconds).unwrap_or(u32::MAX);
        OAuthError {
            retry_after: Some(std::num::NonZeroU32::new(seconds).unwrap_or(std::num::NonZeroU32::MIN)),
            ..Self::new(
                "temporarily_unavailable",
                StatusCode::TOO_MANY_REQUESTS,
                format!("too many requests from {who}; try again later"),
            )
        }
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

    /// RFC 8628 §3.5: the user has not yet approved or denied the device's request.
    pub fn authorization_pending() -> Self {
        Self::new("authorization_pending", StatusCode::BAD_REQUEST, "the user has not yet approved the request")
    }

    /// RFC 8628 §3.5: the device polled sooner than its interval allowed; the interval
    /// grows by 5 seconds.
    pub fn slow_down() -> Self {
        Self::new("slow_down", StatusCode::BAD_REQUEST, "polling too fast: the interval grows by 5 seconds")
    }

    /// RFC 8628 §3.5: the device code expired; the device may start a new request.
    pub fn expired_token() -> Self {
        Self::new("expired_token", StatusCode::BAD_REQUEST, "the device code has expired")
    }

    /// RFC 9449 §5: the DPoP proof is invalid (or missing where one is required).
    pub fn invalid_dpop_proof(description: impl Into<String>) -> Self {
        Self::new("invalid_dpop_proof", StatusCode::BAD_REQUEST, description)
    }

    /// RFC 9449 §8: the proof must carry the server nonce sent in `DPoP-Nonce`.
    pub fn use_dpop_nonce(description: impl Into<String>) -> Self {
        Self::new("use_dpop_nonce", StatusCode::BAD_REQUEST, description)
    }

    /// RFC 7591 §3.2.2: a registration refused for its metadata (`invalid_redirect_uri`,
    /// `invalid_client_metadata`, `invalid_software_statement`), 400.
    pub fn registration(error: &'static str, description: impl Into<String>) -> Self {
        Self::new(error, StatusCode::BAD_REQUEST, description)
    }

    /// RFC 6750 §3.1: a bearer token (an initial or a registration access token) that is
    /// missing, unknown, expired or used up: 401 with the `Bearer` challenge.
    pub fn invalid_token(description: impl Into<String>) -> Self {
        Self::new("invalid_token", StatusCode::UNAUTHORIZED, description)
    }

    /// `access_denied` with another status than 400 (403 for a closed registration).
    pub fn access_denied_status(status: StatusCode, description: impl Into<String>) -> Self {
        Self::new("access_denied", status, description)
    }

    pub fn server_error() -> Self {
        Self::new("server_error", StatusCode::INTERNAL_SERVER_ERROR, "the request could not be completed")
    }

    pub fn temporarily_unavailable() -> Self {
        Self::new("temporarily_unavailable", StatusCode::SERVICE_UNAVAILABLE, "the service is unavailable; retry later")
    }
}

/// RFC 9126 §2.3: an authorization request's error answered as JSON (400), for a pushed
/// request, which has no redirect URI to send it to.
impl From<Refusal> for OAuthError {
    fn from(refusal: Refusal) -> Self {
        OAuthError::new(refusal.error, StatusCode::BAD_REQUEST, refusal.description)
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
        let mut response = no_store(self.status);
        // Errors of the token endpoint must be readable by browser-based clients too.
        response.insert_header(crate::cors::ALLOW_ANY_ORIGIN);
        if self.error == "invalid_client" {
            response.insert_header((header::WWW_AUTHENTICATE, "Basic realm=\"tessera\", charset=\"UTF-8\""));
        }
        if self.error == "invalid_token" {
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"tessera\", error=\"invalid_token\""));
        }
        if let Some(seconds) = self.retry_after {
            response.insert_header((header::RETRY_AFTER, seconds.get()));
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
            // The store words the message for clients (see `tessera_store::StoreError`).
            StoreError::Invalid { message, .. } => OAuthError::invalid_request(message),
            other => {
                tracing::error!(error = %other, "store error on a protocol endpoint");
                OAuthError::server_error()
            }
        }
    }
}

/// A blocking task that did not finish (it panicked, or the pool is shutting down).
impl From<actix_web::error::BlockingError> for OAuthError {
    fn from(_: actix_web::error::BlockingError) -> Self {
        tracing::error!("a blocking task of a protocol endpoint did not finish");
        OAuthError::server_error()
    }
}

/// Any other method on a POST-only endpoint: 405 (docs/security.md: `GET /connect/token`
/// is 405).
pub(crate) async fn method_not_allowed() -> HttpResponse {
    HttpResponse::MethodNotAllowed()
        .insert_header((header::ALLOW, "POST"))
        .insert_header(CacheControl(vec![CacheDirective::NoStore]))
        .json(json!({
            "error": "invalid_request",
            "error_description": "this endpoint accepts POST only",
        }))
}

/// RFC 6750 §3: an error of a protected resource (userinfo), with the
/// `WWW-Authenticate: Bearer` challenge exposed to browser-based clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BearerError {
    /// §3.1: no token at all: the bare challenge, 401, no error code.
    Missing,
    /// §3.1 `invalid_request` (400), `invalid_token` (401) or `insufficient_scope` (403).
    Refused { status: StatusCode, error: &'static str, description: &'static str },
    /// RFC 9449 §7.1: a refusal about DPoP (a bound token sent as Bearer, a bad or
    /// replayed proof, a nonce to use), with the `DPoP` challenge and, for
    /// `use_dpop_nonce`, the nonce in `DPoP-Nonce`.
    Dpop { error: &'static str, description: String, nonce: Option<String> },
    /// The database failed: no challenge, the token may be fine.
    Store(OAuthError),
}

impl BearerError {
    pub fn invalid_request(description: &'static str) -> Self {
        BearerError::Refused { status: StatusCode::BAD_REQUEST, error: "invalid_request", description }
    }

    pub fn invalid_token(description: &'static str) -> Self {
        BearerError::Refused { status: StatusCode::UNAUTHORIZED, error: "invalid_token", description }
    }

    pub fn insufficient_scope(description: &'static str) -> Self {
        BearerError::Refused { status: StatusCode::FORBIDDEN, error: "insufficient_scope", description }
    }
}

impl std::fmt::Display for BearerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BearerError::Missing => write!(f, "no bearer token"),
            BearerError::Refused { error, description, .. } => write!(f, "{error}: {description}"),
            BearerError::Dpop { error, description, .. } => write!(f, "{error}: {description}"),
            BearerError::Store(error) => error.fmt(f),
        }
    }
}

impl From<StoreError> for BearerError {
    fn from(error: StoreError) -> Self {
        BearerError::Store(error.into())
    }
}

impl From<actix_web::error::BlockingError> for BearerError {
    fn from(error: actix_web::error::BlockingError) -> Self {
        BearerError::Store(error.into())
    }
}

impl ResponseError for BearerError {
    fn status_code(&self) -> StatusCode {
        match self {
            BearerError::Missing => StatusCode::UNAUTHORIZED,
            BearerError::Refused { status, .. } => *status,
            BearerError::Dpop { .. } => StatusCode::UNAUTHORIZED,
            BearerError::Store(error) => error.status,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let BearerError::Dpop { error, description, nonce } = self {
            let algs = tessera_tokens::dpop::ALGORITHMS.join(" ");
            let challenge = format!("DPoP algs=\"{algs}\", error=\"{error}\", error_description=\"{description}\"");
            let mut response = HttpResponse::Unauthorized();
            response
                .insert_header((header::WWW_AUTHENTICATE, challenge))
                .insert_header(CacheControl(vec![CacheDirective::NoStore]))
                .insert_header(crate::cors::ALLOW_ANY_ORIGIN)
                .insert_header((header::ACCESS_CONTROL_EXPOSE_HEADERS, "WWW-Authenticate, DPoP-Nonce"));
            if let Some(nonce) = nonce {
                response.insert_header((crate::dpop::NONCE_HEADER, nonce.as_str()));
            }
            return response.json(json!({ "error": error, "error_description": description }));
        }
        let (error, description) = match self {
            BearerError::Missing => (None, None),
            BearerError::Refused { error, description, .. } => (Some(*error), Some(*description)),
            BearerError::Dpop { .. } => (None, None),
            BearerError::Store(error) => return error.error_response(),
        };
        let challenge = match (error, description) {
            (Some(error), Some(description)) => {
                format!("Bearer realm=\"tessera\", error=\"{error}\", error_description=\"{description}\"")
            }
            _ => "Bearer realm=\"tessera\"".to_owned(),
        };
        let mut response = HttpResponse::build(self.status_code());
        response
            .insert_header((header::WWW_AUTHENTICATE, challenge))
            .insert_header(CacheControl(vec![CacheDirective::NoStore]))
            .insert_header(crate::cors::ALLOW_ANY_ORIGIN)
            .insert_header((header::ACCESS_CONTROL_EXPOSE_HEADERS, "WWW-Authenticate"));
        match (error, description) {
            (Some(error), Some(description)) => {
                response.json(json!({ "error": error, "error_description": description }))
            }
            _ => response.finish(),
        }
    }
}

/// Why an authorization request cannot even be answered to the client: shown on our
/// error page, never redirected (docs/security.md: an unknown client or unregistered
/// redirect URI never redirects).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Untrusted(pub String);

impl Untrusted {
    /// The error page, 400.
    pub(crate) fn page(&self) -> Deferred {
        Deferred::page_status(
            StatusCode::BAD_REQUEST,
            ErrorPage { title: "This sign-in request cannot be used".into(), message: self.0.clone() },
        )
    }
}

/// An error to redirect to the client's validated redirect URI (RFC 6749 §4.1.2.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub error: &'static str,
    pub description: String,
}

impl Refusal {
    pub fn new(error: &'static str, description: impl Into<String>) -> Refusal {
        Refusal { error, description: description.into() }
    }

    /// RFC 6749 §4.1.2.1: the error and its description, with `state` and `iss` as
    /// every answer to the client carries them.
    pub(crate) fn redirect(&self, reply_to: &ReplyTo, issuer: &str) -> Deferred {
        reply(
            reply_to,
            issuer,
            vec![("error".into(), self.error.to_owned()), ("error_description".into(), self.description.clone())],
        )
    }
}

/// A store failure during a browser flow: an error page (no redirect: nothing is known
/// to be trustworthy), 503 when the database is away. Input the database cannot hold is
/// the request's fault: 400, with the store's message (never the database's text).
pub(crate) fn failure(error: StoreError) -> HttpResponse {
    if let StoreError::Invalid { message, .. } = &error {
        return Untrusted(format!("The request could not be used: {message}.")).page().into_response();
    }
    let unavailable = matches!(error, StoreError::Unavailable(_));
    if unavailable {
        tracing::warn!(%error, "database unavailable during a browser flow");
    } else {
        tracing::error!(%error, "store error during a browser flow");
    }
    let status = if unavailable { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::INTERNAL_SERVER_ERROR };
    pages::html_status(
        status,
        &ErrorPage {
            title: "Something went wrong".into(),
            message: "Tessera could not complete the request. Please try again in a moment.".into(),
        },
    )
}

/// Runs store work of a page on the blocking pool and builds the response from its
/// result; a store failure becomes the error page of [`failure`] (503 when the database
/// is away, as when the pool could not run the work).
pub(crate) async fn run_blocking<T: Send + 'static>(
    work: impl FnOnce() -> StoreResult<T> + Send + 'static,
    respond: impl FnOnce(T) -> HttpResponse,
) -> HttpResponse {
    match web::block(work).await {
        Ok(Ok(value)) => respond(value),
        Ok(Err(error)) => failure(error),
        Err(_) => failure(StoreError::Unavailable("worker pool".into())),
    }
}

/// The page shown when a pending authorization request cannot be continued.
pub(crate) fn expired() -> Deferred {
    Deferred::page_status(
        StatusCode::BAD_REQUEST,
        ErrorPage {
            title: "This sign-in has expired".into(),
            message: "Go back to the application and start signing in again.".into(),
        },
    )
}

/// A page's form that cannot be used: unreadable, or its CSRF token is not this
/// session's.
pub(crate) fn bad_form() -> Deferred {
    Deferred::page_status(
        StatusCode::BAD_REQUEST,
        ErrorPage {
            title: "This form has expired".into(),
            message: "Go back to the application and start signing in again.".into(),
        },
    )
}

/// The registration pages when the `registration_enabled` setting is off: 404.
pub(crate) fn registration_closed() -> HttpResponse {
    pages::html_status(
        StatusCode::NOT_FOUND,
        &ErrorPage { title: "Registration is closed".into(), message: "Ask an administrator for an account.".into() },
    )
}
