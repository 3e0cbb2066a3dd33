//! RFC 6750 §2.1: the access token in the `Authorization` request header, under the
//! `Bearer` scheme or, for a DPoP-bound token, the `DPoP` scheme (RFC 9449 §7.1).
//!
//! Only the header is read: it is the method every resource server must support, and the
//! form-body and query methods (§2.2, §2.3) put tokens where logs and caches see them.

use actix_web::HttpRequest;
use actix_web::http::header::AUTHORIZATION;

/// How the token came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Bearer,
    Dpop,
}

/// The access token of a request, or `None` when there is no `Authorization` header, more
/// than one, another scheme, or a value that is not `Bearer <b64token>` or
/// `DPoP <b64token>`.
pub fn from_request(request: &HttpRequest) -> Option<(Scheme, &str)> {
    let mut values = request.headers().get_all(AUTHORIZATION);
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    parse(value.to_str().ok()?)
}

/// `credentials = ("Bearer" / "DPoP") 1*SP b64token`; the scheme is case-insensitive
/// (RFC 9110 §11.1) and `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
pub fn parse(value: &str) -> Option<(Scheme, &str)> {
    let (scheme, rest) = value.split_once(' ')?;
    let scheme = if scheme.eq_ignore_ascii_case("Bearer") {
        Scheme::Bearer
    } else if scheme.eq_ignore_ascii_case("DPoP") {
        Scheme::Dpop
    } else {
        return None;
    };
    let token = rest.trim_start_matches(' ');
    is_b64token(token).then_some((scheme, token))
}

fn is_b64token(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty() && body.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::{Scheme, parse};

    #[test]
    fn a_bearer_token_is_read_whatever_the_scheme_case() {
        assert_eq!(parse("Bearer abc.DEF-123_~+/=="), Some((Scheme::Bearer, "abc.DEF-123_~+/==")));
        assert_eq!(parse("bearer  abc"), Some((Scheme::Bearer, "abc")));
        assert_eq!(parse("BEARER abc"), Some((Scheme::Bearer, "abc")));
        assert_eq!(parse("DPoP abc"), Some((Scheme::Dpop, "abc")));
        assert_eq!(parse("dpop abc"), Some((Scheme::Dpop, "abc")));
    }

    #[test]
    fn other_schemes_and_malformed_tokens_are_refused() {
        for value in
            ["Basic YTpi", "Bearer", "Bearer ", "Bearer a b", "Bearer a\tb", "Bearer ===", "Bearer a=b", "Bearerabc"]
        {
            assert_eq!(parse(value), None, "{value:?}");
        }
    }
}
