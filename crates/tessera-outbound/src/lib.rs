//! Tessera's outbound deliveries: everything the server sends on its own initiative to
//! another machine.
//!
//! - [`client`]: the guarded HTTP client for URLs that clients or admins control
//!   (back-channel logout URIs; client metadata documents later): `https` only (except hosts the operator lists), public addresses
//!   only ([`address`], checked at resolution, so no DNS rebinding), no redirects, no
//!   proxies from the environment, bounded connect and total time and answer size, a
//!   `User-Agent`. Claims scripts' `fetch` shares its address rules and resolver.
//! - [`fetch`]: the same guard as a blocking fetcher, for documents a request waits for
//!   (an application's `jwks_uri`, a registered `request_uri`).
//! - [`runner`]: the one outbox runner every kind of background delivery shares (mail,
//!   logout tokens): claim atomically, retry with backoff, give up and audit, wake.
//! - [`backchannel_logout`]: the runner's handler that signs and delivers logout tokens
//!   (OIDC Back-Channel Logout 1.0).
//!
//! Not for: SQL (the outbox's queries are `tessera_store::outbox`), deciding who is told
//! what (the store queues jobs where sessions end), nor serving HTTP.
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod address;
pub mod backchannel_logout;
pub mod client;
pub mod fetch;
pub mod policy;
pub mod runner;

pub use backchannel_logout::LogoutDelivery;
pub use client::{
    GuardedResolver, OutboundClient, OutboundError, OutboundResponse, OutboundSettings, USER_AGENT, chain,
};
pub use fetch::{DocumentFetcher, Fetched};
pub use policy::{PrivateHosts, PrivateHostsError};
pub use runner::{Failure, Handler, Outcome, RetryPolicy, Runner, Wake};
