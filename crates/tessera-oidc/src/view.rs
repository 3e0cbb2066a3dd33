//! A response decided inside a blocking database task and built on the server thread:
//! actix's `HttpResponse` cannot cross threads, so the task returns what to build.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;

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

    pub(crate) fn into_response(self) -> HttpResponse {
        (self.0)()
    }
}
