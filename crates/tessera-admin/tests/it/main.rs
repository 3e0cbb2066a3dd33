//! The admin crate's integration tests, one test binary: the management API and the
//! console over the actix test service, on both backends (`tessera_testkit`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

mod api;
mod console;
mod mappings;
mod scripts;
mod sessions;
