//! A response decided inside a blocking database task and built on the server thread:
//! actix's `HttpResponse` cannot cross threads, so the task returns what to build.

use actix_web::HttpResponse;
use actix_web::http::{StatusCode, header};

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

    /// A page of a sign-in in progress, whose form may end at the client's
    /// `redirect_uri` (see [`pages::html_for_client`]).
    pub(crate) fn client_page<T: askama::Template + Send + 'static>(
        status: StatusCode,
        page: T,
        redirect_uri: &str,
    ) -> Deferred {
        let redirect_uri = redirect_uri.to_owned();
        Deferred::new(move || pages::html_for_client(status, &page, &redirect_uri))
    }

    /// The same response with `Retry-After: seconds` (RFC 6585 §4: a 429 says when to
    /// try again; at least 1).
    pub(crate) fn retry_after(self, seconds: i64) -> Deferred {
        Deferred::new(move || {
            let mut response = (self.0)();
            let seconds = u64::try_from(seconds).unwrap_or(0).max(1);
            response.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from(seconds));
            response
        })
    }

    pub(crate) fn into_response(self) -> HttpResponse {
        (self.0)()
    }
}

/// 303 See Other: a POST that carried credentials is never answered with 307.
pub(crate) fn see_other(location: &str) -> Deferred {
    let location = location.to_owned();
    Deferred::new(move || {
        HttpResponse::SeeOther()
            .insert_header((header::LOCATION, location))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .finish()
    })
}
