//! A deadline for reading a request's body (OWASP Denial of Service Cheat Sheet, "slow
//! body" / R.U.D.Y.): actix's `client_request_timeout` bounds only the head, so a client
//! could hold a connection and a worker's attention by sending a body a byte at a time.
//! Every body is read whole, within [`BODY_READ_TIMEOUT`] and at most 256 KiB (actix's
//! default limit; larger bodies get `413` at once), before any handler runs; a body that is not in by then gets `408 Request Timeout` and
//! the connection is closed. Handlers then read the buffered body under their own, smaller
//! limits.

use std::time::Duration;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use actix_web::middleware::Next;
use actix_web::{Error, FromRequest, HttpResponse, web};

/// How long a client has to send a request's whole body.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);

fn has_body(request: &ServiceRequest) -> bool {
    let headers = request.headers();
    if headers.contains_key(TRANSFER_ENCODING) {
        return true;
    }
    headers.get(CONTENT_LENGTH).is_some_and(|length| length.as_bytes() != b"0")
}

/// The middleware (`actix_web::middleware::from_fn(body_deadline::read_within_deadline)`).
pub async fn read_within_deadline(
    mut request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    if !has_body(&request) {
        return next.call(request).await.map(ServiceResponse::map_into_left_body);
    }
    let (http, payload) = request.parts_mut();
    // The extractor's limit is actix's default (256 KiB: no endpoint takes more).
    let read = actix_web::rt::time::timeout(BODY_READ_TIMEOUT, web::Bytes::from_request(http, payload)).await;
    match read {
        Ok(Ok(body)) => {
            request.set_payload(Payload::from(body));
            next.call(request).await.map(ServiceResponse::map_into_left_body)
        }
        Ok(Err(refused)) => Err(refused),
        Err(_elapsed) => {
            let response = HttpResponse::RequestTimeout()
                .insert_header(("connection", "close"))
                .content_type("text/plain; charset=utf-8")
                .body("The request body did not arrive in time.");
            Ok(request.into_response(response).map_into_right_body())
        }
    }
}
