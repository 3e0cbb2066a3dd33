//! `resource-server`: reads its settings from the environment and serves until stopped.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use resource_server::Config;
use tracing_subscriber::EnvFilter;

#[actix_web::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .init();
    let result = match Config::from_env() {
        Ok(config) => resource_server::run(config).await,
        Err(error) => Err(error.into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("resource-server: {error}");
            ExitCode::from(2)
        }
    }
}
