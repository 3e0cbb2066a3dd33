//! The guarded HTTP client: every outbound request to a URL someone else chose goes
//! through it. It admits the URL ([`PrivateHosts::admit`]), resolves DNS names itself and
//! connects only to the addresses it approved (no second lookup, so no DNS rebinding
//! between check and use), follows no redirect, ignores proxies from the environment
//! (they would resolve names themselves), and bounds the connection time, the whole
//! exchange and the size of the answer.

use std::error::Error as StdError;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::redirect;
use url::Url;

use crate::address;
use crate::policy::PrivateHosts;

/// How outbound requests are bounded, and where they may go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundSettings {
    /// Hosts that may be reached although not public (and over plain http).
    pub private_hosts: PrivateHosts,
    /// Time to establish the connection (TCP and TLS).
    pub connect_timeout: Duration,
    /// Time for the whole exchange, answer included.
    pub timeout: Duration,
    /// The largest answer read; a longer one is an error.
    pub max_response_bytes: usize,
}

impl Default for OutboundSettings {
    /// 5 s to connect, 10 s in all, 64 KiB of answer: a receiver of a back-channel
    /// notification answers at once with next to nothing.
    fn default() -> Self {
        OutboundSettings {
            private_hosts: PrivateHosts::none(),
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(10),
            max_response_bytes: 64 * 1024,
        }
    }
}

/// Why an outbound request did not get an answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutboundError {
    /// The guard refused the destination: trying again will not help.
    #[error("refused: {0}")]
    Refused(String),
    #[error("timed out after {} ms", .0.as_millis())]
    Timeout(Duration),
    #[error("{0}")]
    Network(String),
    #[error("the answer is larger than {0} bytes")]
    TooLarge(usize),
    #[error("the HTTP client could not be built: {0}")]
    Client(String),
}

impl OutboundError {
    /// Whether the destination itself is refused (as opposed to a failure that may pass).
    pub fn is_refusal(&self) -> bool {
        matches!(self, OutboundError::Refused(_))
    }
}

/// An answer, whatever its status (redirects included: they are not followed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundResponse {
    pub status: u16,
    pub body: Vec<u8>,
    /// The `Cache-Control` header, if the answer had one (readable text only).
    pub cache_control: Option<String>,
}

/// The guarded client. Cheap to clone (one connection pool).
#[derive(Clone)]
pub struct OutboundClient {
    http: reqwest::Client,
    private_hosts: PrivateHosts,
    timeout: Duration,
    max_response_bytes: usize,
}

/// The `User-Agent` of every outbound request.
pub const USER_AGENT: &str = concat!("Tessera/", env!("CARGO_PKG_VERSION"), " (outbound)");

impl OutboundClient {
    pub fn new(settings: &OutboundSettings) -> Result<OutboundClient, OutboundError> {
        let http = reqwest::Client::builder()
            .dns_resolver(Arc::new(GuardedResolver::with_private_hosts(settings.private_hosts.clone())))
            .redirect(redirect::Policy::none())
            .no_proxy()
            .user_agent(USER_AGENT)
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.timeout)
            .build()
            .map_err(|error| OutboundError::Client(chain(&error)))?;
        Ok(OutboundClient {
            http,
            private_hosts: settings.private_hosts.clone(),
            timeout: settings.timeout,
            max_response_bytes: settings.max_response_bytes,
        })
    }

    /// Whether `url` may be called at all (scheme, credentials, IP literals); DNS names are
    /// checked again when resolved. Use it to refuse a URL before storing it.
    pub fn admit(&self, url: &Url) -> Result<(), OutboundError> {
        self.private_hosts.admit(url).map_err(OutboundError::Refused)
    }

    /// `POST`s `form` as `application/x-www-form-urlencoded` to `url`.
    pub async fn post_form(&self, url: &Url, form: &[(&str, &str)]) -> Result<OutboundResponse, OutboundError> {
        self.admit(url)?;
        self.send(self.http.post(url.clone()).form(form)).await
    }

    /// `GET`s `url`.
    pub async fn get(&self, url: &Url) -> Result<OutboundResponse, OutboundError> {
        self.admit(url)?;
        self.send(self.http.get(url.clone())).await
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<OutboundResponse, OutboundError> {
        let mut response = request.send().await.map_err(|e| self.describe(&e))?;
        let status = response.status().as_u16();
        let cache_control =
            response.headers().get(reqwest::header::CACHE_CONTROL).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let limit = self.max_response_bytes;
        if response.content_length().is_some_and(|length| length > limit as u64) {
            return Err(OutboundError::TooLarge(limit));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| self.describe(&e))? {
            if body.len() + chunk.len() > limit {
                return Err(OutboundError::TooLarge(limit));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(OutboundResponse { status, body, cache_control })
    }

    fn describe(&self, error: &reqwest::Error) -> OutboundError {
        if error.is_timeout() {
            return OutboundError::Timeout(self.timeout);
        }
        let mut source: Option<&(dyn StdError + 'static)> = Some(error);
        while let Some(current) = source {
            if let Some(refused) = current.downcast_ref::<NonPublic>() {
                return OutboundError::Refused(refused.to_string());
            }
            source = current.source();
        }
        OutboundError::Network(chain(error))
    }
}

/// The DNS-rebinding guard: a name resolves only to public addresses unless the operator
/// listed it. IP literals never reach a resolver ([`PrivateHosts::admit`] judges them).
#[derive(Debug, Clone, Default)]
pub struct GuardedResolver {
    private_hosts: PrivateHosts,
}

impl GuardedResolver {
    /// A resolver that admits public addresses only (no listed names).
    pub fn public_only() -> GuardedResolver {
        GuardedResolver::default()
    }

    /// A resolver that also admits the names `private_hosts` lists.
    pub fn with_private_hosts(private_hosts: PrivateHosts) -> GuardedResolver {
        GuardedResolver { private_hosts }
    }
}

/// A name that led to non-public addresses only.
#[derive(Debug, thiserror::Error)]
#[error("{host} resolves only to non-public addresses (list the IP literal to reach a local service)")]
pub struct NonPublic {
    host: String,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        let listed = self.private_hosts.lists_name(&host);
        Box::pin(async move {
            let found = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let allowed: Vec<SocketAddr> = found.filter(|socket| listed || address::is_public(socket.ip())).collect();
            if allowed.is_empty() {
                return Err(Box::new(NonPublic { host }) as Box<dyn StdError + Send + Sync>);
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

/// An error and its sources, `outer: inner: innermost`, without repeats.
pub fn chain(error: &dyn StdError) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next: Option<&dyn StdError> = Some(error);
    while let Some(current) = next {
        let text = current.to_string();
        if !parts.iter().any(|part| part.contains(&text)) {
            parts.push(text);
        }
        next = current.source();
    }
    parts.join(": ")
}
