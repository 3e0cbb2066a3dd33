//! An example resource server for Tessera: an actix-web API whose `/protected` route
//! accepts a bearer access token only when Tessera's introspection endpoint says it is
//! active for this API connection and carries the required scope, and, when configured,
//! that the user's authentication is strong and recent enough (RFC 9470 step-up). Active
//! answers are cached in memory (bounded in time and size). See README.md.
//!
//! It is an example to copy from, not a library to depend on: it speaks plain HTTP to a
//! local Tessera, where production uses https.
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod bearer;
mod cache;
mod config;
mod dpop;
mod error;
mod introspection;
mod routes;
mod state;
mod step_up;

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};

pub use config::{Config, ConfigError, ResourceMetadata};
pub use error::ApiError;
pub use routes::configure;
pub use state::{AppState, CACHE_CAPACITY, CACHE_MAX_TTL};
pub use step_up::{Level, Rule as StepUpRule};

/// What stops the example from starting; printed as one line, exit status 2.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot build the HTTP client: {0}")]
    HttpClient(#[source] reqwest::Error),
    #[error("CONNECTION_NAME and CONNECTION_SECRET cannot be sent in an Authorization header")]
    Credentials,
    #[error("BIND: cannot listen on {0}: {1}")]
    Bind(std::net::SocketAddr, #[source] std::io::Error),
    #[error("the server stopped: {0}")]
    Serve(#[source] std::io::Error),
}

/// Serves the API on `listener` with `state`; tests keep a clone of `state` to look at
/// the introspection count.
pub fn serve(state: web::Data<AppState>, listener: TcpListener) -> std::io::Result<Server> {
    Ok(HttpServer::new(move || App::new().app_data(state.clone()).configure(configure)).listen(listener)?.run())
}

/// Binds `config.bind` and serves until SIGINT or SIGTERM.
pub async fn run(config: Config) -> Result<(), StartError> {
    let state = web::Data::new(AppState::new(&config)?);
    let listener = TcpListener::bind(config.bind).map_err(|e| StartError::Bind(config.bind, e))?;
    let server = serve(state, listener).map_err(|e| StartError::Bind(config.bind, e))?;
    tracing::info!(bind = %config.bind, introspection = %config.introspection_endpoint(), "serving");
    server.await.map_err(StartError::Serve)
}
