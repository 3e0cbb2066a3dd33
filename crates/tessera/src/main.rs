//! `tessera`: see `tessera --help`.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;
use tessera::cli::{Cli, Command};
use tessera::{Fatal, commands};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result: Result<(), Fatal> = match &cli.command {
        Command::Serve => commands::serve(cli.config.as_deref()),
        Command::Migrate => commands::migrate(cli.config.as_deref()),
        Command::Admin(admin) => commands::admin(cli.config.as_deref(), admin),
        Command::Config(config) => commands::config(cli.config.as_deref(), config),
        Command::Keys(keys) => commands::keys(cli.config.as_deref(), keys),
        Command::Connection(connection) => tessera::connections::run(cli.config.as_deref(), connection),
        Command::App(app) => tessera::apps::run(cli.config.as_deref(), app),
        Command::RegistrationToken(command) => tessera::registration_tokens::run(cli.config.as_deref(), command),
        Command::Backup(args) => commands::backup(cli.config.as_deref(), args),
        Command::Restore(args) => commands::restore(cli.config.as_deref(), args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Fatal(message)) => {
            eprintln!("error: {}", one_line(&message));
            ExitCode::from(2)
        }
    }
}

/// Folds a message from below (libpq, the TOML parser) onto one line, dropping the
/// source excerpt a parser draws under its message.
fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('|') && !line.starts_with(|c: char| c.is_ascii_digit()))
        .collect::<Vec<_>>()
        .join(" ")
}
