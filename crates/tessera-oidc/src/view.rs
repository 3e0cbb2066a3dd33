//! A response decided inside a blocking database task and built on the server thread:
//! actix's `HttpResponse` cannot cross threads, so the task returns what to build.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use tessera_store::{StoreError, StoreResult};

use crate::pages;

pub(crate) struct Deferred(Box<dyn FnOnce() -> HttpResponse + Send>);

impl Deferred {
    pub(crate) fn new(build: impl FnOnce() -> HttpResponse + Send + 'static) -> Deferred {
        Deferred(Box::new(build))
    }

    /// A page, 200.
    pub(crate) fn page<T: askama::Template + Send + 'static>(page: T) -> Deferred {
        Deferred::new(move || pages::html(&page))
    }

    /// A page with another status.
    pub(crate) fn page_status<T: askama::Template + Send + 'static>(status: StatusCode, page: T) -> Deferred {
        Deferred::new(move || pages::html_status(status, &page))
    }

    /// A page of the sign-in `pending`, whose form may end at the client (see
    /// [`pages::html_for_client`]).
    pub(crate) fn client_page<T: askama::Template + Send + 'static>(
        status: StatusCode,
        page: T,
        pending: &crate::authorize::Pending,
    ) -> Deferred {
        let redirect_uri = pending.request.reply.redirect_uri.clone();
        Deferred::new(move || pages::html_for_client(status, &page, &redirect_uri))
    }

    pub(crate) fn into_response(self) -> HttpResponse {
        (self.0)()
    }
}

/// Runs store work on the blocking pool and builds the response from its result; a
/// store failure becomes the error page (503 when the database is away).
pub(crate) async fn run_blocking<T: Send + 'static>(
    work: impl FnOnce() -> StoreResult<T> + Send + 'static,
    respond: impl FnOnce(T) -> HttpResponse,
) -> HttpResponse {
    match web::block(work).await {
        Ok(Ok(value)) => respond(value),
        Ok(Err(error)) => crate::authorize::failure(error),
        Err(_) => crate::authorize::failure(StoreError::Unavailable("worker pool".into())),
    }
}
