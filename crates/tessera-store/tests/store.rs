//! Store tests: every test runs on SQLite and on Postgres (`tessera_testkit::both_backends!`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use tessera_testkit::both_backends;

#[path = "store/account_tokens.rs"]
mod account_tokens;
#[path = "store/admin_sessions.rs"]
mod admin_sessions;
#[path = "store/applications.rs"]
mod applications;
#[path = "store/audit.rs"]
mod audit;
#[path = "store/authorization_requests.rs"]
mod authorization_requests;
#[path = "store/browser_sessions.rs"]
mod browser_sessions;
#[path = "store/client_assertions.rs"]
mod client_assertions;
#[path = "store/client_registrations.rs"]
mod client_registrations;
#[path = "store/codes.rs"]
mod codes;
#[path = "store/config.rs"]
mod config;
#[path = "store/connections.rs"]
mod connections;
#[path = "store/consents.rs"]
mod consents;
#[path = "store/device_codes.rs"]
mod device_codes;
#[path = "store/dpop_proofs.rs"]
mod dpop_proofs;
#[path = "store/errors.rs"]
mod errors;
#[path = "store/factors.rs"]
mod factors;
#[path = "store/fixtures.rs"]
mod fixtures;
#[path = "store/grants.rs"]
mod grants;
#[path = "store/group_commit.rs"]
mod group_commit;
#[path = "store/keys.rs"]
mod keys;
#[path = "store/management_keys.rs"]
mod management_keys;
#[path = "store/mappings.rs"]
mod mappings;
#[path = "store/migrations.rs"]
mod migrations;
#[path = "store/organizations.rs"]
mod organizations;
#[path = "store/outbox.rs"]
mod outbox;
#[path = "store/pool.rs"]
mod pool;
#[path = "store/purge.rs"]
mod purge;
#[path = "store/pushed_authorization_requests.rs"]
mod pushed_authorization_requests;
#[path = "store/redeem.rs"]
mod redeem;
#[path = "store/reference_tokens.rs"]
mod reference_tokens;
#[path = "store/refresh_retry.rs"]
mod refresh_retry;
#[path = "store/refresh_tokens.rs"]
mod refresh_tokens;
#[path = "store/scopes.rs"]
mod scopes;
#[path = "store/scripts.rs"]
mod scripts;
#[path = "store/throttle.rs"]
mod throttle;
#[path = "store/token_exchange_policies.rs"]
mod token_exchange_policies;
#[path = "store/users.rs"]
mod users;
