//! The console's failures, answered once here: a missing or expired session goes to the
//! sign-in page; everything else is a small page in the console's style. A bad field is
//! not an error here: handlers show it beside the field and keep what was typed.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use askama::Template;

use crate::api::ApiError;

#[derive(Debug)]
pub enum ConsoleError {
    /// No live console session: sign in, then come back to `next`.
    SignIn {
        next: String,
    },
    /// Signed in, but not (or no longer) an enabled administrator.
    Forbidden,
    /// The form's CSRF token does not belong to this session.
    BadForm,
    NotFound,
    Unavailable,
    Internal,
}

#[derive(Template)]
#[template(path = "admin/error.html")]
struct ErrorPage {
    title: &'static str,
    message: &'static str,
}

impl std::fmt::Display for ConsoleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}

impl ResponseError for ConsoleError {
    fn status_code(&self) -> StatusCode {
        match self {
            ConsoleError::SignIn { .. } => StatusCode::SEE_OTHER,
            ConsoleError::Forbidden | ConsoleError::BadForm => StatusCode::FORBIDDEN,
            ConsoleError::NotFound => StatusCode::NOT_FOUND,
            ConsoleError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ConsoleError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let (title, message) = match self {
            ConsoleError::SignIn { next } => {
                return super::see_other(&format!("{}/sign-in?next={}", super::PREFIX, super::encode(next)));
            }
            ConsoleError::Forbidden => {
                ("Not allowed", "Only enabled accounts with the tessera-admin role can use the console.")
            }
            ConsoleError::BadForm => (
                "Form expired",
                "This form was not sent from your current console session. Go back, reload the page and try again.",
            ),
            ConsoleError::NotFound => ("Not found", "There is nothing here. It may have been deleted."),
            ConsoleError::Unavailable => ("Unavailable", "The database is unavailable. Try again in a moment."),
            ConsoleError::Internal => ("Something went wrong", "The request could not be completed."),
        };
        super::html(self.status_code(), &ErrorPage { title, message })
    }
}

impl From<ApiError> for ConsoleError {
    /// For failures that are not about a field (a field's error is shown beside it).
    fn from(error: ApiError) -> Self {
        match error.status.as_u16() {
            404 => ConsoleError::NotFound,
            503 => ConsoleError::Unavailable,
            401 | 403 => ConsoleError::Forbidden,
            _ => ConsoleError::Internal,
        }
    }
}

impl From<tessera_store::StoreError> for ConsoleError {
    fn from(error: tessera_store::StoreError) -> Self {
        ApiError::from(error).into()
    }
}

impl From<actix_web::error::BlockingError> for ConsoleError {
    fn from(_: actix_web::error::BlockingError) -> Self {
        ConsoleError::Unavailable
    }
}

/// Runs blocking work on actix's thread pool.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ConsoleError> + Send + 'static,
) -> Result<T, ConsoleError> {
    actix_web::web::block(f).await?
}

/// Runs an operation shared with the API: `Ok(Err(_))` is a client error to show on the
/// form (400, 409, a standard entry's 403), `Err(_)` anything else.
pub async fn attempt<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<Result<T, ApiError>, ConsoleError> {
    match actix_web::web::block(f).await? {
        Ok(value) => Ok(Ok(value)),
        Err(error) if matches!(error.status.as_u16(), 400 | 403 | 409 | 413) => Ok(Err(error)),
        Err(error) => Err(error.into()),
    }
}
