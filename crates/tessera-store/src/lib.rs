//! Tessera's storage: the diesel schema, row types and every query, over Postgres (the
//! production store, shared by any number of stateless nodes) and SQLite (the embedded
//! default), with one query code path for both, except [`redeem`]: the token endpoint's
//! write that spends a code or refresh token and stores what it issued is one statement
//! on Postgres and the same steps in one transaction on SQLite.
//!
//! The configuration the token path reads is kept in memory ([`config`], through
//! [`Store::config`]) and reloaded when it changes, on this node or another.
//!
//! Queries are grouped by aggregate, one module each: `users`, `organizations`,
//! `applications`, `scopes`, `connections`, `mappings`, `scripts`, `keys`,
//! `management_keys`, `admin_sessions`, `audit`, `factors` (passkeys, TOTP, recovery codes,
//! WebAuthn ceremonies); on the browser side `browser_sessions`,
//! `authorization_requests`, `pushed_authorization_requests` (RFC 9126), `codes`
//! (authorization codes) and `consents`; at the token
//! endpoint `grants`, `refresh_tokens`, `reference_tokens` and `client_assertions`; and
//! `purge` for what expired; `outbox` keeps background jobs (mail) any node may run.
//!
//! Each function takes a connection so callers can compose several in one transaction:
//! [`Store::write_transaction`] and [`Store::read_transaction`] run a closure in one;
//! [`Store::write_statement`] and [`Store::read_statement`] run one statement, atomic by
//! itself, without `BEGIN` and `COMMIT` around it on Postgres.
//!
//! The rules that decide what is granted and what a token carries live in
//! `tessera-domain` (which scopes an application may have, which requested scopes it
//! gets, which claims a scope carries); the store keeps the data and spends what is
//! single use. Two selections sit here beside the rows they read:
//! which claim mappings apply to a token ([`config::Config::rules_for`]) and which grants
//! an RP-initiated logout ends ([`grants::revoke_online_grants_of_session`]). The web
//! crates call these functions and never write SQL.
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod config_changes;
mod connection;
mod database_url;
mod error;
mod group_commit;
mod ids;
mod json;
mod migrate;
pub mod page;
mod pool;
mod prepared;
pub mod schema;
mod seed;

pub mod account_tokens;
pub mod admin_sessions;
pub mod applications;
pub mod audit;
pub mod authorization_requests;
pub mod backchannel_logout;
pub mod backup;
pub mod browser_sessions;
pub mod client_assertions;
pub mod client_registrations;
pub mod codes;
pub mod config;
pub mod connections;
pub mod consents;
pub mod device_codes;
pub mod dpop_proofs;
pub mod factors;
pub mod grants;
pub mod initial_access_tokens;
pub mod instance;
pub mod keys;
pub mod management_keys;
pub mod mappings;
pub mod organizations;
pub mod outbox;
pub mod pending_sign_ins;
pub mod purge;
pub mod pushed_authorization_requests;
pub mod redeem;
pub mod reference_tokens;
pub mod refresh_tokens;
pub mod scopes;
pub mod scripts;
pub mod throttle;
pub mod token_exchange_policies;
pub mod users;

pub use connection::{AnyConnection, Backend};
pub use database_url::{DatabaseUrl, DatabaseUrlError};
pub use error::{StoreError, StoreResult};
pub use ids::new_id;
pub use migrate::{MigrationReport, migrate};
pub use page::{Page, Paged};
pub use pool::{PoolOptions, Store};
pub use seed::{SeedReport, seed_standard_data};
