//! `tessera connection …`: register API connections (resource servers) from the command
//! line. A connection's name is the audience of the tokens issued for its scopes; the
//! API scope of the same name is created with it, and its secret is shown once. The flags
//! fill the domain's settings inputs, and each command calls the same operation as the
//! management API and the console (`tessera_admin::api::connections`): the same rules,
//! the same audit events.

use std::path::Path;

use actix_web::http::StatusCode;
use clap::{Args, Subcommand};
use serde_json::json;
use tessera_admin::api::ApiError;
use tessera_admin::api::connections as connections_api;
use tessera_domain::{ApiScopeBody, ApiScopeUpdate, ConnectionUpdate, NewConnectionInput};
use tessera_store::connections::{self, ApiConnection};
use tessera_store::scopes;
use tessera_store::{Page, Store, StoreError};

use crate::commands::{CommandLine, init_logging};
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
    /// Show or replace the connection's token-exchange policy (RFC 8693): which
    /// applications may exchange which APIs' tokens for tokens to this one
    /// (docs/resource-servers.md).
    TokenExchange(TokenExchange),
    /// Set or clear the connection's resource URI (RFC 8707, RFC 9728): the API's URL,
    /// which clients may send as `resource` instead of the name.
    SetResourceUri(SetResourceUri),
    /// Set or clear the authentication a connection's scopes, or one scope, require: a
    /// level and how recent the sign-in must be (docs/authentication.md, "Assurance per
    /// API scope").
    SetRequirement(SetRequirement),
    /// Print the connection's RFC 9728 protected-resource metadata document, for its
    /// resource server to serve at `/.well-known/oauth-protected-resource` (needs a
    /// resource URI).
    Metadata(Named),
}

#[derive(Debug, Args)]
pub struct SetResourceUri {
    /// The connection's name.
    pub name: String,
    /// The resource URI: https (http only to a loopback host), no fragment or query,
    /// unique among connections. An empty value clears it.
    #[arg(long, value_name = "URL")]
    pub uri: String,
}

/// The requirement flags: a level and a recency.
#[derive(Debug, Args, Default)]
pub struct RequirementFlags {
    /// The authentication level tokens carrying the scope need: 1fa, 2fa or phr
    /// (default: none; for a scope, its connection's).
    #[arg(long, value_name = "LEVEL")]
    pub required_acr: Option<String>,
    /// How recent the user's sign-in must be, in seconds (1 to 86400; default: any).
    #[arg(long, value_name = "SECONDS")]
    pub required_max_age: Option<i64>,
}

#[derive(Debug, Args)]
pub struct SetRequirement {
    /// The connection's name.
    pub name: String,
    /// One of the connection's scopes, to set that scope's own requirement instead of
    /// the connection's.
    #[arg(long)]
    pub scope: Option<String>,
    /// Without either flag, the requirement is cleared.
    #[command(flatten)]
    pub requirement: RequirementFlags,
}

#[derive(Debug, Args)]
pub struct TokenExchange {
    /// The connection's name (the target of the exchanges).
    pub name: String,
    /// Replace the policy with this JSON, as the management API takes it:
    /// '{"rules": [{"client_id": "orders-backend", "source_audience": "orders-api",
    /// "scopes": ["billing.read"], "impersonation": false}]}' ('{"rules": []}' ends every
    /// exchange). Without it, the policy is printed.
    #[arg(long, value_name = "JSON")]
    pub set: Option<String>,
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
    /// The API's resource identifier (RFC 8707, RFC 9728): its https URL, which clients
    /// may send as `resource` instead of the name (default: none).
    #[arg(long, value_name = "URL")]
    pub resource_uri: Option<String>,
    #[command(flatten)]
    pub requirement: RequirementFlags,
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
    #[command(flatten)]
    pub requirement: RequirementFlags,
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
    match command {
        ConnectionCommand::Create(args) => create(&store, args),
        ConnectionCommand::List(output) => list(&store, output),
        ConnectionCommand::Show(named) => show(&store, named),
        ConnectionCommand::AddScope(args) => add_scope(&store, args),
        ConnectionCommand::RotateSecret(args) => rotate(&store, args),
        ConnectionCommand::Delete(named) => delete(&store, named),
        ConnectionCommand::TokenExchange(args) => token_exchange(&store, args),
        ConnectionCommand::SetResourceUri(args) => set_resource_uri(&store, args),
        ConnectionCommand::SetRequirement(args) => set_requirement(&store, args),
        ConnectionCommand::Metadata(named) => metadata(&store, settings.issuer.as_str().trim_end_matches('/'), named),
    }
}

fn store_error(e: StoreError) -> Fatal {
    Fatal(format!("database_url: {e}"))
}

/// The flag of each setting, by the name the settings model (and its errors) give it;
/// `name_flag` is the flag that gave the `name` (`--name`, or `--scope` for a scope).
fn api_failure(e: ApiError, name_flag: &str) -> Fatal {
    let flag = match e.body.field.as_deref() {
        Some("name") => name_flag,
        Some("display_name") => "--display-name",
        Some("description") => "--description",
        Some("access_token_format") => "--token-format",
        Some("resource_uri") => "--resource-uri",
        Some("required_acr") => "--required-acr",
        Some("required_max_age") => "--required-max-age",
        _ => return Fatal(e.body.message),
    };
    if e.status == StatusCode::CONFLICT && flag == "--resource-uri" {
        return Fatal(format!("{flag}: another connection has that resource URI"));
    }
    if e.status == StatusCode::CONFLICT {
        return Fatal(format!("{flag}: that name is already used by a connection or a scope"));
    }
    Fatal(format!("{flag}: {}", e.body.message))
}

fn find(store: &Store, name: &str) -> Result<ApiConnection, Fatal> {
    store
        .read_transaction(|c| connections::find_by_name(c, name))
        .map_err(store_error)?
        .ok_or_else(|| Fatal(format!("name: no API connection named {name}")))
}

fn create(store: &Store, args: &CreateConnection) -> Result<(), Fatal> {
    let input = NewConnectionInput {
        name: args.name.clone(),
        display_name: args.display_name.clone(),
        description: Some(args.description.clone()),
        access_token_format: args.token_format.clone(),
        resource_uri: args.resource_uri.clone(),
        required_acr: args.requirement.required_acr.clone(),
        required_max_age: args.requirement.required_max_age,
    };
    let (connection, secret) =
        connections_api::create_connection(store, &CommandLine, input).map_err(|e| api_failure(e, "--name"))?;
    if args.output.json {
        println!("{}", json!({ "name": connection.name, "id": connection.id, "secret": secret.expose() }));
    } else {
        println!("Created API connection {} with the API scope {}.", connection.name, connection.name);
        println!("Connection secret (shown once): {}", secret.expose());
    }
    Ok(())
}

fn set_resource_uri(store: &Store, args: &SetResourceUri) -> Result<(), Fatal> {
    let connection = find(store, &args.name)?;
    let update = ConnectionUpdate {
        display_name: connection.display_name.clone(),
        description: Some(connection.description.clone()),
        access_token_format: connection.access_token_format.map(|f| f.as_str().to_owned()),
        resource_uri: Some(args.uri.clone()),
        required_acr: connection.requirement.map(|r| r.acr.as_str().to_owned()),
        required_max_age: connection.requirement.and_then(|r| r.max_age),
    };
    let updated = connections_api::update_connection(store, &CommandLine, &connection.id, update).map_err(|e| {
        match api_failure(e, "--name") {
            // This command's flag for the resource URI is --uri.
            Fatal(message) => Fatal(message.replacen("--resource-uri", "--uri", 1)),
        }
    })?;
    match &updated.resource_uri {
        Some(uri) => println!("The resource URI of {} is {uri}.", updated.name),
        None => println!("{} has no resource URI.", updated.name),
    }
    Ok(())
}

fn set_requirement(store: &Store, args: &SetRequirement) -> Result<(), Fatal> {
    let connection = find(store, &args.name)?;
    let (acr, max_age) = (args.requirement.required_acr.clone(), args.requirement.required_max_age);
    let (what, requirement) = match &args.scope {
        Some(name) => {
            let scope = store.read_transaction(|c| scopes::get_scope(c, name)).map_err(store_error)?;
            let input = ApiScopeUpdate {
                display_name: Some(scope.display_name),
                description: Some(scope.description),
                required_acr: acr,
                required_max_age: max_age,
            };
            let (scope, _) = connections_api::update_connection_scope(store, &CommandLine, &connection.id, name, input)
                .map_err(|e| api_failure(e, "--scope"))?;
            (format!("the scope {}", scope.name), scope.requirement)
        }
        None => {
            let update = ConnectionUpdate {
                display_name: connection.display_name.clone(),
                description: Some(connection.description.clone()),
                access_token_format: connection.access_token_format.map(|f| f.as_str().to_owned()),
                resource_uri: connection.resource_uri.clone(),
                required_acr: acr,
                required_max_age: max_age,
            };
            let updated = connections_api::update_connection(store, &CommandLine, &connection.id, update)
                .map_err(|e| api_failure(e, "--name"))?;
            (format!("the connection {}", updated.name), updated.requirement)
        }
    };
    match requirement {
        Some(r) => println!("{what} requires {}.", describe_requirement(r)),
        None => println!("{what} requires nothing of its own."),
    }
    Ok(())
}

/// `phr within 300 s`.
fn describe_requirement(requirement: tessera_domain::Requirement) -> String {
    match requirement.max_age {
        Some(seconds) => format!("{} within {seconds} s", requirement.acr),
        None => requirement.acr.to_string(),
    }
}

fn metadata(store: &Store, issuer: &str, named: &Named) -> Result<(), Fatal> {
    let connection = find(store, &named.name)?;
    let document = connections_api::metadata_document(store, issuer, &connection.id)
        .map_err(|e| Fatal(format!("{}: {}", named.name, e.body.message)))?;
    let text = serde_json::to_string_pretty(&document).map_err(|e| Fatal(e.to_string()))?;
    println!("{text}");
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

/// A connection as the management API shows it.
fn describe(c: &ApiConnection) -> serde_json::Value {
    serde_json::to_value(connections_api::view(c.clone())).unwrap_or_default()
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
        value["scopes"] = json!(
            scopes
                .iter()
                .map(|s| json!({"name": s.name, "display_name": s.display_name, "requirement": s.requirement}))
                .collect::<Vec<_>>()
        );
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
    println!("resource URI:  {}", connection.resource_uri.as_deref().unwrap_or("(none)"));
    println!("requires:      {}", connection.requirement.map_or_else(|| "(nothing)".to_owned(), describe_requirement));
    for scope in &scopes {
        let requires = match scope.requirement {
            Some(own) => format!(" (requires {})", describe_requirement(own)),
            None => String::new(),
        };
        println!("scope:         {}{requires}", scope.name);
    }
    for secret in &secrets {
        let expiry = secret.expires_at.map_or_else(|| "does not expire".to_owned(), |t| format!("expires at {t}"));
        println!("secret:        created at {}, {expiry}", secret.created_at);
    }
    Ok(())
}

fn add_scope(store: &Store, args: &AddScope) -> Result<(), Fatal> {
    let connection = find(store, &args.name)?;
    let input = ApiScopeBody {
        name: args.scope.clone(),
        display_name: args.display_name.clone(),
        description: Some(args.description.clone()),
        required_acr: args.requirement.required_acr.clone(),
        required_max_age: args.requirement.required_max_age,
    };
    let scope = connections_api::add_connection_scope(store, &CommandLine, &connection.id, input)
        .map_err(|e| api_failure(e, "--scope"))?;
    println!("Added the API scope {} to {}.", scope.name, connection.name);
    Ok(())
}

fn rotate(store: &Store, args: &RotateSecret) -> Result<(), Fatal> {
    let connection = find(store, &args.name)?;
    let (connection, secret, old_until) =
        connections_api::rotate_connection_secret(store, &CommandLine, &connection.id, i64::from(args.grace))
            .map_err(|e| api_failure(e, "--name"))?;
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
    connections_api::delete_connection(store, &CommandLine, &connection.id).map_err(|e| api_failure(e, "--name"))?;
    println!("Deleted the API connection {} and its scopes.", connection.name);
    Ok(())
}

fn token_exchange(store: &Store, args: &TokenExchange) -> Result<(), Fatal> {
    let mut connection = find(store, &args.name)?;
    if let Some(raw) = &args.set {
        let input: tessera_domain::TokenExchangePolicyInput =
            serde_json::from_str(raw).map_err(|e| Fatal(format!("--set: {e}")))?;
        connection = tessera_admin::api::token_exchange::replace_policy(store, &CommandLine, &connection.id, input)
            .map_err(|e| match e.body.field {
                Some(field) => Fatal(format!("--set: {field}: {}", e.body.message)),
                None => Fatal(e.body.message),
            })?;
    }
    let view = tessera_admin::api::token_exchange::view(&connection);
    println!("{}", serde_json::to_string_pretty(&view).unwrap_or_default());
    Ok(())
}
