//! Request parameters of the protocol endpoints, read strictly: RFC 6749 §3.1 / §3.2
//! ("request and response parameters MUST NOT be included more than once"; "parameters
//! sent without a value MUST be treated as if they were omitted") and the form content
//! type of §4.1.3 / §4.4.2.

use actix_web::HttpRequest;
use actix_web::http::header;

use crate::error::OAuthError;

/// Parameters that may legitimately repeat (RFC 8707 §2: several `resource` values;
/// RFC 8693 §2.1: several `audience` values, which token exchange answers itself).
const REPEATABLE: &[&str] = &["resource", "audience"];
/// Bounds the work a hostile body can cause.
const MAX_PARAMETERS: usize = 64;
const MAX_VALUE_LEN: usize = 8 * 1024;

/// The parameters of one request.
#[derive(Debug, Default, Clone)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// Reads `application/x-www-form-urlencoded` pairs from `raw` (a query string or a
    /// form body). A repeated parameter (other than `resource`) is `invalid_request`.
    pub fn parse(raw: &[u8]) -> Result<Params, OAuthError> {
        let (params, repeated) = Params::parse_noting_repeats(raw)?;
        match repeated.first() {
            Some(name) => Err(OAuthError::invalid_request(format!("parameter {name} is repeated"))),
            None => Ok(params),
        }
    }

    /// Reads the content-type-independent form of an HTML form post (the pages): the
    /// body as `application/x-www-form-urlencoded`.
    pub fn from_page_form(body: &[u8]) -> Result<Params, OAuthError> {
        Params::parse(body)
    }

    /// Like [`Params::parse`], but a repeated parameter keeps its first value and is
    /// reported instead of refused, for endpoints that must first find out where errors
    /// may be sent (the authorization endpoint).
    pub fn parse_noting_repeats(raw: &[u8]) -> Result<(Params, Vec<String>), OAuthError> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        let mut repeated = Vec::new();
        for (key, value) in url::form_urlencoded::parse(raw) {
            if value.is_empty() {
                continue;
            }
            if pairs.len() >= MAX_PARAMETERS {
                return Err(OAuthError::invalid_request("too many parameters"));
            }
            if value.len() > MAX_VALUE_LEN || key.len() > 256 {
                return Err(OAuthError::invalid_request(format!("parameter {} is too long", printable(&key))));
            }
            // No protocol value contains a NUL, and databases refuse to store or compare one.
            if key.contains('\0') || value.contains('\0') {
                return Err(OAuthError::invalid_request(format!(
                    "parameter {} contains a NUL character",
                    printable(&key)
                )));
            }
            if !REPEATABLE.contains(&key.as_ref()) && pairs.iter().any(|(k, _)| *k == key) {
                repeated.push(printable(&key));
                continue;
            }
            pairs.push((key.into_owned(), value.into_owned()));
        }
        Ok((Params { pairs }, repeated))
    }

    /// Reads a form body, refusing any other content type.
    pub fn from_form_body(request: &HttpRequest, body: &[u8]) -> Result<Params, OAuthError> {
        let content_type = request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        let essence = content_type.split(';').next().unwrap_or("").trim();
        if !essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
            return Err(OAuthError::invalid_request("the body must be application/x-www-form-urlencoded"));
        }
        Params::parse(body)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    pub fn get_all(&self, name: &str) -> Vec<String> {
        self.pairs.iter().filter(|(k, _)| k == name).map(|(_, v)| v.clone()).collect()
    }

    /// The parameters as a form again (`application/x-www-form-urlencoded`).
    pub fn to_form(&self) -> String {
        url::form_urlencoded::Serializer::new(String::new()).extend_pairs(&self.pairs).finish()
    }

    /// A required parameter.
    pub fn require(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name).ok_or_else(|| OAuthError::invalid_request(format!("parameter {name} is missing")))
    }
}

/// A parameter name fit to echo in a message: printable ASCII, shortened.
fn printable(name: &str) -> String {
    name.chars().filter(|c| c.is_ascii_graphic()).take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_parameters_are_refused_except_resource() {
        assert_eq!(Params::parse(b"a=1&a=2").unwrap_err().error, "invalid_request");
        let params = Params::parse(b"resource=x&resource=y&a=1").unwrap();
        assert_eq!(params.get_all("resource"), ["x", "y"]);
        assert_eq!(params.get("a"), Some("1"));
    }

    #[test]
    fn empty_values_count_as_absent() {
        let params = Params::parse(b"scope=&grant_type=client_credentials").unwrap();
        assert_eq!(params.get("scope"), None);
        assert!(Params::parse(b"scope=&scope=x").is_ok(), "an empty value is not a repetition");
    }

    #[test]
    fn percent_encoding_and_plus_are_decoded() {
        let params = Params::parse(b"scope=a+b%20c&x=%E2%9C%93").unwrap();
        assert_eq!(params.get("scope"), Some("a b c"));
        assert_eq!(params.get("x"), Some("\u{2713}"));
    }

    #[test]
    fn hostile_bodies_are_refused_not_panicked_on() {
        let many: String = (0..100).map(|i| format!("p{i}=1&")).collect();
        assert!(Params::parse(many.as_bytes()).is_err());
        let long = format!("a={}", "x".repeat(10_000));
        assert!(Params::parse(long.as_bytes()).is_err());
        assert!(Params::parse(&[0xff, 0xfe, b'=', 0x80]).is_ok());
    }
}
