//! Request objects by reference (RFC 9101 §5.2, OIDC Core §6.2): a `request_uri` other
//! than the pushed ones (`crate::par`) is fetched only when it is one of the
//! application's registered `request_uris` (OIDC Dynamic Client Registration 1.0 §2;
//! `require_request_uri_registration` in discovery), compared as an exact string. It
//! is fetched through the outbound guard (`tessera_outbound::fetch`: https, public
//! addresses unless the operator lists the host, no redirects, bounded time and size)
//! and the answer verified as a request object by value would be
//! (`crate::request_object`). Every failure to get the object is `invalid_request_uri`
//! (RFC 9101 §6.2); a fetched object that does not verify is `invalid_request_object`.

use tessera_outbound::OutboundError;
use tessera_store::applications::Application;

use crate::error::Refusal;
use crate::state::OidcState;

/// RFC 9101 §6.2 / OIDC Core §3.1.2.6.
pub const INVALID_REQUEST_URI: &str = "invalid_request_uri";

/// RFC 9101 §5.2.3: the media type a request object is served with (any is accepted).
const ACCEPT: &str = "application/oauth-authz-req+jwt, application/jwt;q=0.9, */*;q=0.1";

fn invalid(description: impl Into<String>) -> Refusal {
    Refusal::new(INVALID_REQUEST_URI, description)
}

/// The request object at `request_uri`, registered by `app`, or why it cannot be had.
/// Blocking: it fetches.
pub(crate) fn fetch(state: &OidcState, app: &Application, request_uri: &str) -> Result<String, Refusal> {
    if !app.settings.request_uris.iter().any(|registered| registered == request_uri) {
        return Err(invalid("the request_uri is not one of the application's registered request_uris"));
    }
    let url = url::Url::parse(request_uri).map_err(|_| invalid("the request_uri is not an absolute URL"))?;
    let fetched = state.fetcher.get(&url, ACCEPT).map_err(|error| {
        invalid(match error {
            OutboundError::Refused(why) => format!("the request_uri may not be fetched: {why}"),
            OutboundError::Timeout(limit) => {
                format!("the request_uri did not answer within {} ms", limit.as_millis())
            }
            OutboundError::TooLarge(limit) => format!("the request_uri answered more than {limit} bytes"),
            other => format!("the request_uri could not be fetched: {other}"),
        })
    })?;
    if fetched.status != 200 {
        return Err(invalid(format!("the request_uri answered HTTP {}", fetched.status)));
    }
    let object = String::from_utf8(fetched.body).map_err(|_| invalid("the request_uri did not answer text"))?;
    Ok(object.trim().to_owned())
}
