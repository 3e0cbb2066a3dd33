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
    /// Manage the keys that sign tokens.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Register and inspect API connections (resource servers).
    #[command(subcommand)]
    Connection(crate::connections::ConnectionCommand),
    /// Register and inspect applications (OAuth clients).
    #[command(subcommand)]
    App(crate::apps::AppCommand),
    /// Issue, list and revoke initial access tokens, with which clients register
    /// themselves (RFC 7591) when client_registration is initial_access_token.
    #[command(subcommand)]
    RegistrationToken(crate::registration_tokens::RegistrationTokenCommand),
    /// Back up the database to a file while the server may be running (SQLite: a
    /// consistent copy as of one commit, mode 0600). On PostgreSQL it prints the
    /// `pg_dump` command to run instead and exits with status 2. The master key is not
    /// in the backup: keep it separately, since without it the signing keys in the
    /// backup cannot be decrypted.
    Backup(Backup),
    /// Restore an embedded (SQLite) database from a file `tessera backup` wrote. Stop
    /// every node first: a database in use is refused. The backup must be whole, a
    /// Tessera database of a schema this version knows, and set up with the master key
    /// configured here (TESSERA_MASTER_KEY or data_dir/master.key). On PostgreSQL it
    /// prints the `pg_restore` command to run instead and exits with status 2.
    Restore(Restore),
}

#[derive(Debug, Args)]
pub struct Restore {
    /// The backup to restore.
    #[arg(long, value_name = "FILE")]
    pub input: PathBuf,
    /// Replace the existing database (`database_url`). Without it an existing database
    /// is refused.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct Backup {
    /// The file to write. It must not exist unless --force is given.
    #[arg(long, value_name = "FILE")]
    pub output: PathBuf,
    /// Replace FILE if it exists (atomically: it is never left half-written).
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List the signing keys: kid, algorithm, state (next, active, retired) and until
    /// when a retired key stays published in the JWKS.
    List,
    /// Rotate: create a new key that every node publishes at once and that starts
    /// signing after `key_activation_delay`; the key it replaces stays published until
    /// every token it signed has expired.
    Rotate(RotateKeys),
}

#[derive(Debug, Args)]
pub struct RotateKeys {
    /// The algorithm whose key to rotate: ES256, EdDSA, RS256, or all.
    #[arg(long, default_value = "all")]
    pub alg: String,
    /// Make the new key sign immediately (a compromised key). Nodes that have not yet
    /// reloaded their keys may then sign with a key the others do not publish yet, for
    /// up to `key_refresh_interval`.
    #[arg(long)]
    pub now: bool,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create a user. The password is read from standard input with --password-stdin,
    /// or generated and printed once.
    CreateUser(CreateUser),
    /// Create a management API key (for `/api/v1`), printed once as `<id>.<secret>`:
    /// send it as `Authorization: Bearer <id>.<secret>`.
    CreateApiKey(CreateApiKey),
}

#[derive(Debug, Args)]
pub struct CreateApiKey {
    /// A name to recognise the key by (in the console and the audit log).
    #[arg(long)]
    pub name: String,
    /// Seconds until the key expires (default: it does not expire; revoke it when done).
    #[arg(long)]
    pub expires_in: Option<u32>,
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
    /// It must meet the password policy: at least 8 characters, not a common password,
    /// nor built from the username or e-mail (see password_min_score).
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
