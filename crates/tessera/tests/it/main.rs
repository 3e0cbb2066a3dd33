//! The server's integration tests, one test binary (one link step): each module drives
//! the real server (`common::TestApp`) or the `tessera` command, and is named by the
//! endpoint or the surface it exercises. Tests that take a database run on SQLite and
//! Postgres through `tessera_testkit::both_backends!`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use tessera_testkit::both_backends;

mod common;

mod account;
mod account_factors;
mod accounts;
mod api;
mod assurance;
mod authorize;
mod backchannel_logout;
mod backup;
mod claims;
mod cli;
mod console;
mod device;
mod dpop;
mod end_session;
mod errors;
mod failover;
mod faults;
mod headers;
mod introspection;
mod keys;
mod lifecycle;
mod limits;
mod mail;
mod malformed_inputs;
mod multi_node;
mod oidc_flow;
mod pages;
mod par;
mod passkeys;
mod protected_resources;
mod protocol_grammar;
mod races;
mod readiness;
mod registration;
mod revocation;
mod server;
mod sign_in_factors;
mod token;
mod token_exchange;
mod userinfo;
