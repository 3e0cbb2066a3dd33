//! The Tessera binary's library half: configuration, start-up (migrations, master key,
//! first administrator) and the HTTP server wiring, so that tests start the same server
//! the `tessera` command runs.
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod apps;
pub mod backup;
pub mod body_deadline;
pub mod bootstrap;
pub mod cli;
pub mod commands;
pub mod connections;
pub mod keys;
pub mod proxy;
pub mod registration_tokens;
pub mod request_log;
pub mod server;
pub mod settings;

/// A failure that ends the command: printed as one line, exit status 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Fatal(pub String);

impl From<settings::SettingsError> for Fatal {
    fn from(e: settings::SettingsError) -> Self {
        Fatal(e.to_string())
    }
}

/// The current time in unix seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
