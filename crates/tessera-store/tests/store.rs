//! Store tests: every test runs on SQLite and on Postgres (see `common`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

#[path = "store/admin_sessions.rs"]
mod admin_sessions;
#[path = "store/applications.rs"]
mod applications;
#[path = "store/audit.rs"]
mod audit;
#[path = "store/config.rs"]
mod config;
#[path = "store/connections.rs"]
mod connections;
#[path = "store/errors.rs"]
mod errors;
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
#[path = "store/redeem.rs"]
mod redeem;
#[path = "store/scopes.rs"]
mod scopes;
#[path = "store/scripts.rs"]
mod scripts;
#[path = "store/sessions.rs"]
mod sessions;
#[path = "store/throttle.rs"]
mod throttle;
#[path = "store/tokens.rs"]
mod tokens;
#[path = "store/users.rs"]
mod users;
