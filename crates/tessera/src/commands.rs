//! What each command does.

use std::io::BufRead;
use std::path::Path;

use serde_json::json;
use tessera_domain::{Email, Username};
use tessera_store::StoreError;
use tessera_store::audit::{self, NewAuditEvent};
use tessera_store::organizations::{self, ADMIN_ROLE};
use tessera_store::users::{self, NewUser};
use tessera_tokens::{MasterKey, PasswordHasher, generate_secret};
use tracing_subscriber::EnvFilter;

use crate::cli::{AdminCommand, Backup, ConfigCommand, CreateApiKey, CreateUser, KeysCommand, Restore};
use crate::settings::{LogFormat, Settings};
use crate::{Fatal, bootstrap, server};

/// The command line as the actor of a change made through the management operations
/// (`tessera_admin::api::*`): the audit log records `cli`, with no client address.
pub struct CommandLine;

impl tessera_admin::api::Actor for CommandLine {
    fn actor(&self) -> String {
        "cli".into()
    }

    fn client_ip(&self) -> Option<&str> {
        None
    }

    fn principal(&self) -> String {
        "cli".into()
    }
}

/// Sets up logging to standard error: human-readable or JSON lines.
pub fn init_logging(settings: &Settings) {
    let filter = EnvFilter::try_new(&settings.log_level).unwrap_or_else(|_| EnvFilter::new("info"));
    let colours = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(colours);
    let _ = match settings.log_format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

pub fn serve(config: Option<&Path>) -> Result<(), Fatal> {
    let settings = Settings::load(config)?;
    init_logging(&settings);
    let listener = server::bind(&settings)?;
    let prepared = server::prepare(&settings)?;
    if let Some(admin) = &prepared.bootstrap_admin {
        announce_admin(admin);
    }
    tracing::info!(
        issuer = settings.issuer.as_str().trim_end_matches('/'),
        address = %settings.bind,
        database = %settings.database_url,
        "Tessera is serving"
    );
    prepared.start_background_tasks();
    let result = actix_web::rt::System::new().block_on(async {
        let server = server::start(&prepared, listener)?;
        server.await.map_err(|e| Fatal(format!("server stopped: {e}")))
    });
    prepared.stop();
    result?;
    tracing::info!("Tessera stopped");
    Ok(())
}

/// Prints the first administrator's credentials once, to standard error, outside the
/// log stream (they are never logged).
fn announce_admin(admin: &bootstrap::BootstrapAdmin) {
    eprintln!(
        "\n  Tessera created the first administrator account (role tessera-admin).\n\
         \n    username: {}\n    password: {}\n\
         \n  This password is shown only now: keep it safe, and change it once you have signed in.\n",
        admin.username, admin.password
    );
}

pub fn migrate(config: Option<&Path>) -> Result<(), Fatal> {
    let settings = Settings::load(config)?;
    init_logging(&settings);
    let store = bootstrap::open_store(&settings)?;
    let applied = bootstrap::migrate(&store)?;
    if applied.is_empty() {
        println!("The database schema is up to date; nothing to apply.");
    } else {
        println!("Applied {} migration(s):", applied.len());
        for version in applied {
            println!("  {version}");
        }
    }
    Ok(())
}

pub fn backup(config: Option<&Path>, args: &Backup) -> Result<(), Fatal> {
    crate::backup::run(config, args)
}

pub fn restore(config: Option<&Path>, args: &Restore) -> Result<(), Fatal> {
    crate::backup::restore(config, args)
}

pub fn admin(config: Option<&Path>, command: &AdminCommand) -> Result<(), Fatal> {
    match command {
        AdminCommand::CreateUser(args) => create_user(config, args),
        AdminCommand::CreateApiKey(args) => create_api_key(config, args),
    }
}

fn create_user(config: Option<&Path>, args: &CreateUser) -> Result<(), Fatal> {
    let settings = Settings::load(config)?;
    init_logging(&settings);
    let username = Username::parse(&args.username).map_err(|e| Fatal(format!("--username: {e}")))?;
    let email = args.email.as_deref().map(Email::parse).transpose().map_err(|e| Fatal(format!("--email: {e}")))?;
    let (password, generated) = if args.password_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).map_err(|e| Fatal(format!("--password-stdin: {e}")))?;
        (line.trim_end_matches(['\r', '\n']).to_owned(), false)
    } else {
        (generate_secret().expose().to_owned(), true)
    };
    let about_user: Vec<&str> = std::iter::once(username.as_str()).chain(email.as_ref().map(Email::as_str)).collect();
    let password =
        settings.password_policy.check(password, &about_user).map_err(|e| Fatal(format!("password: {e}")))?;
    let hasher = PasswordHasher::new(settings.password_params).map_err(|e| Fatal(format!("argon2_memory_kib: {e}")))?;
    let hash = hasher.hash(password.expose()).map_err(|e| Fatal(format!("hashing the password: {e}")))?;
    let store = bootstrap::open_store(&settings)?;
    bootstrap::migrate(&store)?;
    let now = crate::now();
    let user = store
        .write_transaction(|c| {
            let new = NewUser {
                username: username.as_str().to_owned(),
                email: email.as_ref().map(|e| e.as_str().to_owned()),
                password_hash: Some(hash.clone()),
                ..Default::default()
            };
            let user = users::create(c, &new, now)?;
            if args.admin {
                let role = organizations::find_role_by_name(c, ADMIN_ROLE)?.ok_or(StoreError::not_found("role"))?;
                users::add_role(c, &user.id, &role.id)?;
            }
            audit::record(
                c,
                &NewAuditEvent {
                    actor: "cli",
                    action: "user.create",
                    target: &format!("user:{}", user.id),
                    summary: json!({ "username": user.username, "email": user.email, "admin": args.admin }),
                    client_ip: None,
                },
                now,
            )?;
            Ok(user)
        })
        .map_err(|e| match e {
            StoreError::Conflict { field } => Fatal(format!("--{field}: a user with this {field} already exists")),
            other => Fatal(format!("creating the user failed: {other}")),
        })?;
    println!(
        "Created user {} (id {}){}.",
        user.username,
        user.id,
        if args.admin { " with the tessera-admin role" } else { "" }
    );
    if generated {
        println!("Password (shown once): {}", password.expose());
    }
    Ok(())
}

fn create_api_key(config: Option<&Path>, args: &CreateApiKey) -> Result<(), Fatal> {
    let settings = Settings::load(config)?;
    init_logging(&settings);
    let name = tessera_domain::DisplayName::parse(&args.name).map_err(|e| Fatal(format!("--name: {e}")))?;
    let store = bootstrap::open_store(&settings)?;
    bootstrap::migrate(&store)?;
    let now = crate::now();
    let secret = generate_secret();
    let new = tessera_store::management_keys::NewManagementKey {
        id: tessera_store::new_id(),
        name: name.as_str().to_owned(),
        secret_hash: secret.hash().as_str().to_owned(),
        created_by: "cli".into(),
        expires_at: args.expires_in.map(|s| now + i64::from(s)),
        parent_id: None,
    };
    let key = store
        .write_transaction(|c| {
            let key = tessera_store::management_keys::create(c, &new, now)?;
            audit::record(
                c,
                &NewAuditEvent {
                    actor: "cli",
                    action: "management_key.create",
                    target: &format!("management_key:{}", key.id),
                    summary: json!({ "name": key.name, "expires_at": key.expires_at }),
                    client_ip: None,
                },
                now,
            )?;
            Ok(key)
        })
        .map_err(|e| Fatal(format!("creating the key failed: {e}")))?;
    println!("Management API key {} ({}), shown once:", key.id, key.name);
    println!("{}.{}", key.id, secret.expose());
    Ok(())
}

pub fn config(config: Option<&Path>, command: &ConfigCommand) -> Result<(), Fatal> {
    match command {
        ConfigCommand::Check => check(config),
        ConfigCommand::GenerateMasterKey => {
            let key = MasterKey::generate().map_err(|e| Fatal(format!("master_key: {e}")))?;
            println!("{}", key.to_base64());
            Ok(())
        }
    }
}

fn check(config: Option<&Path>) -> Result<(), Fatal> {
    let settings = Settings::load(config)?;
    let store = bootstrap::open_store(&settings)?;
    store
        .ping(tessera_oidc::READY_TIMEOUT)
        .map_err(|e| Fatal(format!("database_url: {} does not answer: {e}", settings.database_url)))?;
    println!("Configuration is valid (read from {}).", settings.sources.join(", then "));
    println!("  issuer                = {}", settings.issuer);
    println!("  bind                  = {}", settings.bind);
    println!("  data_dir              = {}", settings.data_dir.display());
    println!("  database_url          = {} (answers)", settings.database_url);
    println!("  database_pool_size    = {}", settings.pool.max_size);
    println!("  database_statement_timeout_ms = {}", settings.pool.statement_timeout.as_millis());
    println!("  database_connect_timeout = {} s", settings.pool.connect_timeout.as_secs());
    println!("  database_startup_wait = {} s", settings.database_startup_wait.as_secs());
    println!(
        "  master_key            = {}",
        if settings.master_key.is_some() {
            "(set)"
        } else {
            "(from data_dir/master.key, created at first start on SQLite)"
        }
    );
    println!("  log_format            = {:?}", settings.log_format);
    println!("  log_level             = {}", settings.log_level);
    println!("  registration_enabled  = {}", settings.registration_enabled);
    println!("  account_self_deletion = {}", settings.account_self_deletion);
    println!("  issuer_name           = {}", settings.mail.issuer_name);
    println!("  smtp_url              = {}", settings.mail.transport);
    println!("  mail_from             = {}", settings.mail.from);
    println!("  private_key_jwt_legacy_audiences = {}", settings.private_key_jwt_legacy_audiences);
    println!("  dpop_nonce_required   = {}", settings.dpop_nonce_required);
    println!("  outbound_private_hosts = {:?}", settings.outbound.private_hosts.entries());
    println!("  outbound_timeout_ms   = {}", settings.outbound.timeout.as_millis());
    println!("  password_min_score    = {}", settings.password_policy.min_score());
    println!(
        "  argon2                = m={} KiB, t={}, p={}",
        settings.password_params.memory_kib, settings.password_params.iterations, settings.password_params.parallelism
    );
    Ok(())
}

pub fn keys(config: Option<&Path>, command: &KeysCommand) -> Result<(), Fatal> {
    let settings = Settings::load(config)?;
    init_logging(&settings);
    let store = bootstrap::open_store(&settings)?;
    bootstrap::migrate(&store)?;
    let master_key = bootstrap::master_key(&settings, &store)?;
    let now = crate::now();
    let failure = |e: crate::keys::KeyManagementError| Fatal(format!("signing keys: {e}"));
    crate::keys::ensure_signing_keys(&store, &master_key, now).map_err(failure)?;
    match command {
        KeysCommand::List => {
            let keys =
                store.read_transaction(tessera_store::keys::list).map_err(|e| Fatal(format!("database_url: {e}")))?;
            println!("{:<44} {:<6} {:<8} {:<12} PUBLISHED UNTIL", "KID", "ALG", "STATE", "CREATED");
            for key in keys {
                let until = match key.publish_until {
                    Some(t) if key.state == tessera_store::keys::KeyState::Retired => t.to_string(),
                    _ => "-".to_owned(),
                };
                println!("{:<44} {:<6} {:<8} {:<12} {until}", key.kid, key.alg, key.state.as_str(), key.created_at);
            }
            Ok(())
        }
        KeysCommand::Rotate(args) => {
            let algs: Vec<tessera_domain::SigningAlgorithm> = if args.alg.eq_ignore_ascii_case("all") {
                tessera_domain::SigningAlgorithm::ALL.to_vec()
            } else {
                vec![tessera_domain::SigningAlgorithm::parse(&args.alg).map_err(|e| Fatal(format!("--alg: {e}")))?]
            };
            for alg in algs {
                let kid = crate::keys::rotate(&store, &master_key, alg, args.now, "cli", now).map_err(failure)?;
                if args.now {
                    println!("{alg}: new key {kid} is active now.");
                } else {
                    println!(
                        "{alg}: new key {kid} is published and starts signing in {} s.",
                        settings.key_activation_delay
                    );
                }
            }
            Ok(())
        }
    }
}
