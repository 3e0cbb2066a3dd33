//! Fetching a document a client registered (its `jwks_uri`, a `request_uri` on its
//! `request_uris` list) while a request waits for it, from the blocking threads the
//! protocol endpoints run their work on. The same guard as [`crate::client`]: the URL is
//! admitted first ([`PrivateHosts::admit`]), names resolve through the
//! [`GuardedResolver`] and connections go to the addresses it approved, no redirect is
//! followed, no proxy from the environment, the connection time, the whole exchange and
//! the size of the answer are bounded ([`OutboundSettings`]).
//!
//! It is a blocking client (reqwest's, which runs its own small runtime on one thread),
//! built on first use: the callers are synchronous code inside `web::block`, where the
//! asynchronous [`crate::OutboundClient`] cannot be awaited.

use std::error::Error as StdError;
use std::io::Read;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use reqwest::blocking::Client;
use reqwest::header::{ACCEPT, CACHE_CONTROL};
use reqwest::redirect;
use url::Url;

use crate::client::{GuardedResolver, NonPublic, OutboundError, OutboundSettings, USER_AGENT, chain};
use crate::policy::PrivateHosts;

/// A fetched document: the status, the body (at most the configured size), and what its
/// `Cache-Control` says about keeping it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    pub status: u16,
    pub body: Vec<u8>,
    /// RFC 9111 §5.2.2.1 `max-age`, in seconds, if the answer gave one.
    pub max_age: Option<u64>,
    /// `no-store` or `no-cache`: the sender asks not to keep the answer.
    pub no_store: bool,
}

/// The blocking guarded fetcher. Cheap to share behind an `Arc`.
pub struct DocumentFetcher {
    settings: OutboundSettings,
    client: OnceLock<Result<Client, String>>,
}

impl std::fmt::Debug for DocumentFetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DocumentFetcher").field("settings", &self.settings).finish()
    }
}

impl DocumentFetcher {
    pub fn new(settings: &OutboundSettings) -> DocumentFetcher {
        DocumentFetcher { settings: settings.clone(), client: OnceLock::new() }
    }

    /// Where requests may go.
    pub fn private_hosts(&self) -> &PrivateHosts {
        &self.settings.private_hosts
    }

    /// `GET`s `url` asking for `accept`. Blocking: call it on a blocking thread.
    pub fn get(&self, url: &Url, accept: &str) -> Result<Fetched, OutboundError> {
        self.settings.private_hosts.admit(url).map_err(OutboundError::Refused)?;
        let client = self.client.get_or_init(|| self.build()).as_ref().map_err(|e| OutboundError::Client(e.clone()))?;
        let response = client.get(url.clone()).header(ACCEPT, accept).send().map_err(|e| self.describe(&e))?;
        let status = response.status().as_u16();
        let limit = self.settings.max_response_bytes;
        if response.content_length().is_some_and(|length| length > limit as u64) {
            return Err(OutboundError::TooLarge(limit));
        }
        let (max_age, no_store) = cache_control(response.headers().get_all(CACHE_CONTROL).iter());
        let mut body = Vec::new();
        response.take(limit as u64 + 1).read_to_end(&mut body).map_err(|e| self.describe_io(&e))?;
        if body.len() > limit {
            return Err(OutboundError::TooLarge(limit));
        }
        Ok(Fetched { status, body, max_age, no_store })
    }

    fn build(&self) -> Result<Client, String> {
        Client::builder()
            .dns_resolver(Arc::new(GuardedResolver::with_private_hosts(self.settings.private_hosts.clone())))
            .redirect(redirect::Policy::none())
            .no_proxy()
            .user_agent(USER_AGENT)
            .connect_timeout(self.settings.connect_timeout)
            .timeout(self.settings.timeout)
            .build()
            .map_err(|error| chain(&error))
    }

    fn describe(&self, error: &reqwest::Error) -> OutboundError {
        if error.is_timeout() {
            return OutboundError::Timeout(self.settings.timeout);
        }
        describe_source(error, self.settings.timeout)
    }

    fn describe_io(&self, error: &std::io::Error) -> OutboundError {
        describe_source(error, self.settings.timeout)
    }
}

/// A refusal of the resolver, a timeout deep in the chain, or a network failure.
fn describe_source(error: &(dyn StdError + 'static), timeout: Duration) -> OutboundError {
    let mut source: Option<&(dyn StdError + 'static)> = Some(error);
    while let Some(current) = source {
        if let Some(refused) = current.downcast_ref::<NonPublic>() {
            return OutboundError::Refused(refused.to_string());
        }
        if current.downcast_ref::<reqwest::Error>().is_some_and(reqwest::Error::is_timeout)
            || current.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::TimedOut)
        {
            return OutboundError::Timeout(timeout);
        }
        source = current.source();
    }
    OutboundError::Network(chain(error))
}

/// RFC 9111 §5.2: `max-age` (the first valid one) and whether `no-store` or `no-cache`
/// is present, from every `Cache-Control` header.
fn cache_control<'a>(values: impl Iterator<Item = &'a reqwest::header::HeaderValue>) -> (Option<u64>, bool) {
    let (mut max_age, mut no_store) = (None, false);
    for value in values.filter_map(|v| v.to_str().ok()) {
        for directive in value.split(',').map(str::trim) {
            let (name, argument) = directive.split_once('=').unwrap_or((directive, ""));
            match name.trim().to_ascii_lowercase().as_str() {
                "no-store" | "no-cache" => no_store = true,
                "max-age" if max_age.is_none() => max_age = argument.trim().trim_matches('"').parse().ok(),
                _ => {}
            }
        }
    }
    (max_age, no_store)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn cache_control_gives_max_age_and_no_store() {
        let parse = |values: &[&str]| {
            let values: Vec<HeaderValue> = values.iter().map(|v| HeaderValue::from_str(v).unwrap()).collect();
            cache_control(values.iter())
        };
        assert_eq!(parse(&["public, max-age=600"]), (Some(600), false));
        assert_eq!(parse(&["Max-Age=\"30\""]), (Some(30), false));
        assert_eq!(parse(&["no-cache", "max-age=10"]), (Some(10), true));
        assert_eq!(parse(&["no-store"]), (None, true));
        assert_eq!(parse(&["max-age=soon"]), (None, false));
        assert_eq!(parse(&[]), (None, false));
    }
}
