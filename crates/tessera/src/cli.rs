//! The command line.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Tessera: an OpenID Connect identity provider.
///
/// With no configuration, `tessera serve` runs on http://localhost:8080 with an embedded
/// SQLite database in ./tessera-data. Settings come from tessera.toml (or --config) and
/// TESSERA_* environment variables; see docs/configuration.md.
#[derive(Debug, Parser)]
#[command(name = "tessera", version, propagate_version = true)]
pub struct Cli {
    /// Configuration file to read (default: ./tessera.toml when it exists).
    #[arg(long, global = true, env = "TESSERA_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server: migrate the database, then serve HTTP until SIGTERM or Ctrl-C.
    ///
    /// On the first start against an empty database an administrator account `admin` is
    /// created and its password printed once.
    Serve,
    /// Apply pending database migrations and seed the standard claims and scopes, then
    /// exit. Safe to run again: a second run changes nothing.
    Migrate,
    /// Administer accounts.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Inspect configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create a user. The password is read from standard input with --password-stdin,
    /// or generated and printed once.
    CreateUser(CreateUser),
}

#[derive(Debug, Args)]
pub struct CreateUser {
    /// Username (3 to 64 characters: letters, digits, . _ - @; stored in lowercase).
    #[arg(long)]
    pub username: String,
    /// Email address (optional; the user may also sign in with it).
    #[arg(long)]
    pub email: Option<String>,
    /// Give the user the tessera-admin role (admin console and management API).
    #[arg(long)]
    pub admin: bool,
    /// Read the password from the first line of standard input instead of generating one.
    #[arg(long)]
    pub password_stdin: bool,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Load and check the configuration and try the database; print the effective
    /// settings (secrets hidden). Exits with status 2 when something is wrong.
    Check,
    /// Print a new random master key (base64) to set as TESSERA_MASTER_KEY.
    GenerateMasterKey,
}
