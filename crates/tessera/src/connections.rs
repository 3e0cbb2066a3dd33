//! `tessera connection …`: register API connections (resource servers) from the command
//! line. A connection's name is the audience of the tokens issued for its scopes; the
//! API scope of the same name is created with it, and its secret is shown once.

use std::path::Path;

use clap::{Args, Subcommand};
use serde_json::json;
use tessera_domain::{ConnectionName, DisplayName, ScopeName, TokenFormat};
use tessera_store::audit::{self, NewAuditEvent};
use tessera_store::connections::{self, ApiConnection, NewApiConnection};
use tessera_store::scopes::{self, ApiScopeInput};
use tessera_store::{Page, Store, StoreError};
use tessera_tokens::generate_secret;

use crate::commands::init_logging;
use crate::settings::Settings;
use crate::{Fatal, bootstrap};

#[derive(Debug, Subcommand)]
pub enum ConnectionCommand {
    /// Register an API connection. Its API scope of the same name is created with it,
    /// and a secret for introspection is generated and printed once.
    Create(CreateConnection),
    /// List the API connections.
    List(Output),
    /// Show a connection: its scopes and its secrets' creation and expiry (never the
    /// secrets).
    Show(Named),
    /// Add a further API scope to a connection.
    AddScope(AddScope),
    /// Issue a new secret, printed once; the current ones stay valid for `--grace`
    /// seconds so the resource server can switch without downtime.
    RotateSecret(RotateSecret),
    /// Delete a connection with its scopes and secrets (applications lose those scopes).
    Delete(Named),
}

#[derive(Debug, Args)]
pub struct CreateConnection {
    /// The connection's name: the audience of its tokens and its first API scope
    /// (lowercase letters, digits, `.`, `_`, `:`, `-`). It cannot be changed later.
    #[arg(long)]
    pub name: String,
    /// A human-readable name, shown on consent pages (default: the name).
    #[arg(long)]
    pub display_name: Option<String>,
    #[arg(long, default_value = "")]
    pub description: String,
    /// `jwt` or `reference`: the access-token format for tokens whose only audience is
    /// this connection (default: each application's own format).
    #[arg(long)]
    pub token_format: Option<String>,
    #[command(flatten)]
    pub output: Output,
}

#[derive(Debug, Args)]
pub struct Output {
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct Named {
    /// The connection's name.
    pub name: String,
    #[command(flatten)]
    pub output: Output,
}

#[derive(Debug, Args)]
pub struct AddScope {
    /// The connection's name.
    pub name: String,
    /// The new API scope's name.
    #[arg(long)]
    pub scope: String,
    /// A human-readable name, shown on consent pages (default: the scope's name).
    #[arg(long)]
    pub display_name: Option<String>,
    #[arg(long, default_value = "")]
    pub description: String,
}

#[derive(Debug, Args)]
pub struct RotateSecret {
    /// The connection's name.
    pub name: String,
    /// Seconds the current secrets stay valid (0 ends them at once).
    #[arg(long, default_value_t = 86_400)]
    pub grace: u32,
    #[command(flatten)]
    pub output: Output,
}

pub fn run(config: Option<&Path>, command: &ConnectionCommand) -> Result<(), Fatal> {
    let settings = Settings::load(config)?;
    init_logging(&settings);
    let store = bootstrap::open_store(&settings)?;
    bootstrap::migrate(&store)?;
    let now = crate::now();
    match command {
        ConnectionCommand::Create(args) => create(&store, args, now),
        ConnectionCommand::List(output) => list(&store, output),
        ConnectionCommand::Show(named) => show(&store, named),
        ConnectionCommand::AddScope(args) => add_scope(&store, args, now),
        ConnectionCommand::RotateSecret(args) => rotate(&store, args, now),
        ConnectionCommand::Delete(named) => delete(&store, named),
    }
}

fn store_error(e: StoreError) -> Fatal {
    match e {
        StoreError::Conflict { .. } => Fatal("--name: that name is already used by a connection or a scope".into()),
        StoreError::Invalid { field, message } => {
            Fatal(format!("--{}: {message}", field.unwrap_or_else(|| "name".into())))
        }
        other => Fatal(format!("database_url: {other}")),
    }
}

fn event<'a>(action: &'a str, target: &'a str, summary: serde_json::Value) -> NewAuditEvent<'a> {
    NewAuditEvent { actor: "cli", action, target, summary, client_ip: None }
}

fn find(store: &Store, name: &str) -> Result<ApiConnection, Fatal> {
    store
        .read_transaction(|c| connections::find_by_name(c, name))
        .map_err(store_error)?
        .ok_or_else(|| Fatal(format!("name: no API connection named {name}")))
}

fn create(store: &Store, args: &CreateConnection, now: i64) -> Result<(), Fatal> {
    let name = ConnectionName::parse(&args.name).map_err(|e| Fatal(format!("--name: {e}")))?;
    let display_name = DisplayName::parse(args.display_name.as_deref().unwrap_or(name.as_str()))
        .map_err(|e| Fatal(format!("--display-name: {e}")))?;
    let access_token_format = args
        .token_format
        .as_deref()
        .map(TokenFormat::parse)
        .transpose()
        .map_err(|e| Fatal(format!("--token-format: {e}")))?;
    let secret = generate_secret();
    let new = NewApiConnection {
        name: name.as_str().to_owned(),
        display_name: display_name.as_str().to_owned(),
        description: args.description.clone(),
        access_token_format,
    };
    let target = format!("connection:{}", new.name);
    let connection = store
        .write_transaction(|c| {
            let connection = connections::create(c, &new, secret.hash().as_str(), now)?;
            let summary = json!({ "name": new.name, "display_name": new.display_name, "token_format": access_token_format.map(|f| f.as_str()) });
            audit::record(c, &event("connection.create", &target, summary), now)?;
            Ok(connection)
        })
        .map_err(store_error)?;
    if args.output.json {
        println!("{}", json!({ "name": connection.name, "id": connection.id, "secret": secret.expose() }));
    } else {
        println!("Created API connection {} with the API scope {}.", connection.name, connection.name);
        println!("Connection secret (shown once): {}", secret.expose());
    }
    Ok(())
}

fn list(store: &Store, output: &Output) -> Result<(), Fatal> {
    let mut all = Vec::new();
    let mut page = Page::first(Page::MAX_LIMIT);
    loop {
        let batch = store.read_transaction(|c| connections::list(c, &page)).map_err(store_error)?;
        all.extend(batch.items);
        match batch.next {
            Some(next) => page.after = Some(next),
            None => break,
        }
    }
    if output.json {
        let rows: Vec<_> = all.iter().map(describe).collect();
        println!("{}", serde_json::Value::Array(rows));
    } else {
        println!("{:<32} {:<32} TOKEN FORMAT", "NAME", "DISPLAY NAME");
        for c in &all {
            println!(
                "{:<32} {:<32} {}",
                c.name,
                c.display_name,
                c.access_token_format.map_or("(application's)", |f| f.as_str())
            );
        }
    }
    Ok(())
}

fn describe(c: &ApiConnection) -> serde_json::Value {
    json!({
        "name": c.name,
        "display_name": c.display_name,
        "description": c.description,
        "token_format": c.access_token_format.map(|f| f.as_str()),
        "created_at": c.created_at,
    })
}

fn show(store: &Store, named: &Named) -> Result<(), Fatal> {
    let connection = find(store, &named.name)?;
    let now = crate::now();
    let (scopes, secrets) = store
        .read_transaction(|c| {
            Ok((scopes::scopes_of_connection(c, &connection.id)?, connections::live_secrets(c, &connection.id, now)?))
        })
        .map_err(store_error)?;
    if named.output.json {
        let mut value = describe(&connection);
        value["scopes"] =
            json!(scopes.iter().map(|s| json!({"name": s.name, "display_name": s.display_name})).collect::<Vec<_>>());
        value["secrets"] = json!(
            secrets.iter().map(|s| json!({"created_at": s.created_at, "expires_at": s.expires_at})).collect::<Vec<_>>()
        );
        println!("{value}");
        return Ok(());
    }
    println!("name:          {}", connection.name);
    println!("display name:  {}", connection.display_name);
    println!("description:   {}", connection.description);
    println!("token format:  {}", connection.access_token_format.map_or("(application's)", |f| f.as_str()));
    println!("scopes:        {}", scopes.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(" "));
    for secret in &secrets {
        let expiry = secret.expires_at.map_or_else(|| "does not expire".to_owned(), |t| format!("expires at {t}"));
        println!("secret:        created at {}, {expiry}", secret.created_at);
    }
    Ok(())
}

fn add_scope(store: &Store, args: &AddScope, now: i64) -> Result<(), Fatal> {
    let connection = find(store, &args.name)?;
    let scope = ScopeName::parse(&args.scope).map_err(|e| Fatal(format!("--scope: {e}")))?;
    let display_name = DisplayName::parse(args.display_name.as_deref().unwrap_or(scope.as_str()))
        .map_err(|e| Fatal(format!("--display-name: {e}")))?;
    let input = ApiScopeInput {
        name: scope.as_str().to_owned(),
        display_name: display_name.as_str().to_owned(),
        description: args.description.clone(),
    };
    let target = format!("connection:{}", connection.name);
    store
        .write_transaction(|c| {
            scopes::create_api_scope(c, &connection.id, &input, now)?;
            audit::record(c, &event("connection.add_scope", &target, json!({ "scope": input.name })), now)?;
            Ok(())
        })
        .map_err(|e| match e {
            StoreError::Conflict { .. } => Fatal("--scope: that name is already used by another scope".into()),
            other => store_error(other),
        })?;
    println!("Added the API scope {} to {}.", input.name, connection.name);
    Ok(())
}

fn rotate(store: &Store, args: &RotateSecret, now: i64) -> Result<(), Fatal> {
    let connection = find(store, &args.name)?;
    let secret = generate_secret();
    let old_until = now + i64::from(args.grace);
    let target = format!("connection:{}", connection.name);
    store
        .write_transaction(|c| {
            connections::rotate_secret(c, &connection.id, secret.hash().as_str(), old_until, now)?;
            audit::record(c, &event("connection.rotate_secret", &target, json!({ "grace_seconds": args.grace })), now)?;
            Ok(())
        })
        .map_err(store_error)?;
    if args.output.json {
        println!(
            "{}",
            json!({ "name": connection.name, "secret": secret.expose(), "previous_secrets_expire_at": old_until })
        );
    } else {
        println!("New secret for {} (shown once): {}", connection.name, secret.expose());
        println!("The previous secrets stay valid for {} s.", args.grace);
    }
    Ok(())
}

fn delete(store: &Store, named: &Named) -> Result<(), Fatal> {
    let connection = find(store, &named.name)?;
    let target = format!("connection:{}", connection.name);
    let now = crate::now();
    store
        .write_transaction(|c| {
            connections::delete(c, &connection.id)?;
            audit::record(c, &event("connection.delete", &target, json!({ "name": connection.name })), now)?;
            Ok(())
        })
        .map_err(store_error)?;
    println!("Deleted the API connection {} and its scopes.", connection.name);
    Ok(())
}
