//! `tessera registration-token …`: issue, list and revoke the initial access tokens
//! (RFC 7591 §3) with which clients register themselves at `/connect/register` when the
//! `client_registration` setting is `initial_access_token`. The commands call the same
//! operations as the management API and the console
//! (`tessera_admin::api::initial_access_tokens`): the same limits and audit events.

use std::path::Path;

use clap::{Args, Subcommand};
use serde_json::json;
use tessera_admin::api::initial_access_tokens::{self as tokens_api, NewInitialAccessToken};
use tessera_store::Store;

use crate::commands::{CommandLine, init_logging};
use crate::settings::Settings;
use crate::{Fatal, bootstrap};

/// `tessera registration-token …`.
#[derive(Debug, Subcommand)]
pub enum RegistrationTokenCommand {
    /// Issue an initial access token. The token is printed once: Tessera keeps only its
    /// SHA-256 hash. Writes an audit event.
    Create(CreateToken),
    /// List the tokens: id, uses left of the quota, expiry, note (never the token).
    List(ListTokens),
    /// Revoke a token at once; the clients it registered stay. Writes an audit event.
    Revoke(RevokeToken),
}

#[derive(Debug, Args)]
pub struct CreateToken {
    /// How many clients may register with it (1 to 100000).
    #[arg(long, default_value_t = 1)]
    pub quota: i64,
    /// Seconds until it expires (60 to 31536000; default one day).
    #[arg(long, value_name = "SECONDS", default_value_t = tokens_api::DEFAULT_LIFETIME)]
    pub expires_in: i64,
    /// Who it is for, what for (at most 1000 characters).
    #[arg(long, value_name = "TEXT")]
    pub note: Option<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ListTokens {
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RevokeToken {
    /// The token's id (from `list`).
    #[arg(value_name = "ID")]
    pub id: String,
}

/// Runs `tessera registration-token …`.
pub fn run(config: Option<&Path>, command: &RegistrationTokenCommand) -> Result<(), Fatal> {
    let settings = Settings::load(config)?;
    init_logging(&settings);
    let store = open(&settings)?;
    match command {
        RegistrationTokenCommand::Create(args) => create(&store, args),
        RegistrationTokenCommand::List(args) => list(&store, args),
        RegistrationTokenCommand::Revoke(args) => revoke(&store, args),
    }
}

fn open(settings: &Settings) -> Result<Store, Fatal> {
    let store = bootstrap::open_store(settings)?;
    bootstrap::migrate(&store)?;
    Ok(store)
}

fn failure(e: tessera_admin::api::ApiError) -> Fatal {
    match e.body.field.as_deref() {
        Some(field) => Fatal(format!("--{}: {}", field.replace('_', "-"), e.body.message)),
        None => Fatal(e.body.message),
    }
}

fn create(store: &Store, args: &CreateToken) -> Result<(), Fatal> {
    let input =
        NewInitialAccessToken { quota: Some(args.quota), expires_in: Some(args.expires_in), note: args.note.clone() };
    let (created, token) = tokens_api::issue(store, &CommandLine, input).map_err(failure)?;
    if args.json {
        let mut out = json!(tokens_api::view(created));
        out["token"] = json!(token.expose());
        println!("{out}");
    } else {
        println!("Initial access token {} (quota {}, expires at {})", created.id, created.quota, created.expires_at);
        println!("  token: {}", token.expose());
        println!("  This token is shown only now: give it to the client, which sends it as");
        println!("  Authorization: Bearer <token> to /connect/register.");
    }
    Ok(())
}

fn list(store: &Store, args: &ListTokens) -> Result<(), Fatal> {
    let all = tokens_api::all(store).map_err(failure)?;
    if args.json {
        let views: Vec<_> = all.into_iter().map(tokens_api::view).collect();
        println!("{}", json!(views));
        return Ok(());
    }
    if all.is_empty() {
        println!("No initial access tokens.");
    }
    for t in all {
        println!("{}  {}/{} left  expires {}  {}", t.id, t.uses_left, t.quota, t.expires_at, t.note);
    }
    Ok(())
}

fn revoke(store: &Store, args: &RevokeToken) -> Result<(), Fatal> {
    tokens_api::revoke_token(store, &CommandLine, &args.id).map_err(failure)?;
    println!("Revoked initial access token {}.", args.id);
    Ok(())
}
