//! The HTTP client behind `fetch`: one per engine, built on first use.

use std::io::Read;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use reqwest::blocking::Client;
use reqwest::header::{HOST, HeaderName, HeaderValue};
use reqwest::{Method, redirect};
use url::Url;

use tessera_outbound::{GuardedResolver, chain};

/// The engine's HTTP client, built when a script first calls `fetch` (most engines never do).
#[derive(Default)]
pub(crate) struct LazyClient(OnceLock<Result<HttpClient, String>>);

pub(crate) struct HttpClient(Client);

pub(crate) struct FetchRequest {
    pub url: Url,
    pub method: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
}

pub(crate) struct FetchResponse {
    pub status: u16,
    pub status_text: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl LazyClient {
    pub(crate) fn get(&self) -> Result<&HttpClient, String> {
        self.0.get_or_init(build).as_ref().map_err(Clone::clone)
    }
}

/// Rule 7: DNS names resolve through the outbound guard's public-only resolver and the connection goes to the address it
/// returned (no second lookup); redirects are returned to the script, not followed; proxies
/// from the environment are ignored (they would resolve names themselves).
fn build() -> Result<HttpClient, String> {
    Client::builder()
        .dns_resolver(Arc::new(GuardedResolver::public_only()))
        .redirect(redirect::Policy::none())
        .no_proxy()
        .user_agent(concat!("tessera-claims/", env!("CARGO_PKG_VERSION")))
        .build()
        .map(HttpClient)
        .map_err(|error| format!("the HTTP client could not be built: {}", chain(&error)))
}

impl HttpClient {
    /// Sends `request` and reads at most `max_body` bytes of the answer, all within `timeout`.
    pub(crate) fn send(
        &self,
        request: FetchRequest,
        timeout: Duration,
        max_body: usize,
    ) -> Result<FetchResponse, String> {
        let method = Method::from_bytes(request.method.as_bytes())
            .map_err(|_| format!("invalid method {:?}", request.method))?;
        let mut builder = self.0.request(method, request.url).timeout(timeout);
        for (name, value) in request.headers {
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| format!("invalid header name {name:?}"))?;
            if name == HOST {
                return Err("the Host header cannot be set".to_owned());
            }
            let value = HeaderValue::from_str(&value).map_err(|_| format!("invalid value for header {name}"))?;
            builder = builder.header(name, value);
        }
        if let Some(body) = request.body {
            builder = builder.body(body);
        }
        let response = builder.send().map_err(|error| describe(&error, timeout))?;
        let status = response.status();
        let url = response.url().to_string();
        let headers = response
            .headers()
            .iter()
            .map(|(name, value)| (name.as_str().to_owned(), String::from_utf8_lossy(value.as_bytes()).into_owned()))
            .collect();
        if response.content_length().is_some_and(|length| length > max_body as u64) {
            return Err(format!("the response body is larger than {max_body} bytes"));
        }
        let mut body = Vec::new();
        response
            .take(max_body as u64 + 1)
            .read_to_end(&mut body)
            .map_err(|error| format!("reading the response failed: {error}"))?;
        if body.len() > max_body {
            return Err(format!("the response body is larger than {max_body} bytes"));
        }
        Ok(FetchResponse {
            status: status.as_u16(),
            status_text: status.canonical_reason().unwrap_or_default().to_owned(),
            url,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    }
}

fn describe(error: &reqwest::Error, timeout: Duration) -> String {
    if error.is_timeout() { format!("timed out after {} ms", timeout.as_millis()) } else { chain(error) }
}
