//! `tessera app …`: register, list, inspect and delete applications (OAuth clients) from
//! the command line, so that an application can exist before the admin console does and
//! scripts can set one up.
//!
//! The flags fill the domain's one settings input (`tessera_domain::ApplicationInput`), and
//! the command calls the same operations as the management API and the console
//! (`tessera_admin::api::applications`): the same rules, defaults and audit events, the
//! application, its first secret and the audit event written in one transaction. A
//! problem ends the command with one line naming the flag, exit status 2.

use std::path::Path;

use actix_web::http::StatusCode;
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use tessera_admin::api::ApiError;
use tessera_admin::api::applications as applications_api;
use tessera_domain::{ApplicationInput, ClientAuthMethod, ClientId, GrantType};
use tessera_store::applications::{self, Application};
use tessera_store::{Page, Store, StoreError};

use crate::commands::{CommandLine, init_logging};
use crate::settings::Settings;
use crate::{Fatal, bootstrap};

/// `tessera app …`.
#[derive(Debug, Subcommand)]
pub enum AppCommand {
    /// Register an application. Confidential clients (client_secret_basic or
    /// client_secret_post) get a generated secret, printed once: Tessera keeps only its
    /// SHA-256 hash. Writes an audit event.
    Create(Box<CreateApp>),
    /// List the applications: client id, name, type, grant types, token format.
    List(ListApps),
    /// Print every setting of one application (never its secret or the secret's hash).
    Show(ShowApp),
    /// Delete an application with its secrets, consents, codes, grants and refresh and
    /// reference tokens (no confirmation is asked). Writes an audit event.
    Delete(DeleteApp),
}

/// The flags of `tessera app create`. Values are checked by the command itself, so that
/// every mistake is reported as one line naming its flag.
#[derive(Debug, Args)]
pub struct CreateApp {
    /// Display name shown to users on the sign-in and consent pages (1 to 200 characters).
    #[arg(long, value_name = "NAME")]
    pub name: String,
    /// Application type: web (server-side, confidential), spa (single-page, public),
    /// native (mobile or desktop, public) or machine (service to service, confidential).
    #[arg(long = "type", value_name = "TYPE")]
    pub app_type: String,
    /// The client_id (3 to 100 characters: letters, digits, '.', '_', '-', '~', starting
    /// with a letter or a digit; not shaped like a UUID, which is reserved for user ids).
    /// Default: 24 random letters and digits.
    #[arg(long, value_name = "ID")]
    pub client_id: Option<String>,
    /// A redirect URI, matched exactly (repeat the flag for several). https, or http to
    /// 127.0.0.1, [::1] or localhost; native apps may use a private scheme
    /// (com.example.app:/callback). Required with the authorization_code grant.
    #[arg(long = "redirect-uri", value_name = "URI")]
    pub redirect_uris: Vec<String>,
    /// Where the application may ask to be sent after logout (repeatable; same rules as
    /// --redirect-uri).
    #[arg(long = "post-logout-redirect-uri", value_name = "URI")]
    pub post_logout_redirect_uris: Vec<String>,
    /// Where Tessera POSTs a logout token when a session that signed in to this
    /// application ends (OpenID Connect Back-Channel Logout): https, or http to a loopback
    /// address, no fragment. Default: none.
    #[arg(long, value_name = "URI")]
    pub backchannel_logout_uri: Option<String>,
    /// Record that the application needs `sid` in its logout tokens (Tessera always
    /// sends it). Default: off.
    #[arg(long)]
    pub backchannel_logout_session_required: bool,
    /// A grant type (repeatable): authorization_code, refresh_token, client_credentials,
    /// password, urn:ietf:params:oauth:grant-type:device_code (native and web
    /// applications), urn:ietf:params:oauth:grant-type:token-exchange (web and machine
    /// applications; see `docs/resource-servers.md`). Default: authorization_code and refresh_token; client_credentials
    /// for machine applications.
    #[arg(long = "grant-type", value_name = "GRANT")]
    pub grant_types: Vec<String>,
    /// Token endpoint authentication: client_secret_basic, client_secret_post,
    /// private_key_jwt (needs --jwks) or none. Default: client_secret_basic for web and
    /// machine applications, none for spa and native (public clients must use none).
    #[arg(long, value_name = "METHOD")]
    pub auth_method: Option<String>,
    /// An identity or API scope the application may request, by name (repeatable; each
    /// must exist). Default: openid, except for machine applications (none).
    #[arg(long = "scope", value_name = "SCOPE")]
    pub scopes: Vec<String>,
    /// A claim a user must have a value for before the application receives a code
    /// (repeatable; each claim type must exist). Default: none.
    #[arg(long = "required-claim", value_name = "CLAIM")]
    pub required_claims: Vec<String>,
    /// Access token format: jwt (RFC 9068, verified with the JWKS) or reference (opaque,
    /// checked by introspection). Default: jwt.
    #[arg(long, value_name = "FORMAT")]
    pub token_format: Option<String>,
    /// Algorithm that signs ID tokens and JWT access tokens: ES256, RS256 or EdDSA.
    /// Default: ES256.
    #[arg(long, value_name = "ALG")]
    pub signing_alg: Option<String>,
    /// Access token lifetime in seconds (60 to 86400). Default: 3600.
    #[arg(long, value_name = "SECONDS")]
    pub access_token_lifetime: Option<String>,
    /// ID token lifetime in seconds (60 to 86400). Default: 3600.
    #[arg(long, value_name = "SECONDS")]
    pub id_token_lifetime: Option<String>,
    /// Refresh token absolute lifetime in seconds (300 to 31536000, at least the access
    /// token lifetime). Default: 2592000 (30 days).
    #[arg(long, value_name = "SECONDS")]
    pub refresh_token_lifetime: Option<String>,
    /// Authorization code lifetime in seconds (10 to 600). Default: 60.
    #[arg(long, value_name = "SECONDS")]
    pub code_lifetime: Option<String>,
    /// Seconds (0 to 60; 0 turns it off) after a refresh token was used during which its
    /// client may retry with it, when the answer was lost (a timeout, a dropped
    /// connection), instead of having the grant revoked as a reuse. Default: 10.
    #[arg(long, value_name = "SECONDS")]
    pub refresh_token_retry_grace: Option<String>,
    /// Do not ask users to consent to the scopes (for first-party applications).
    /// Default: consent is asked.
    #[arg(long)]
    pub no_consent: bool,
    /// Issue a refresh token with every code exchange, even when the offline_access scope
    /// was not requested (needs the refresh_token grant). Default: only with offline_access.
    #[arg(long)]
    pub always_issue_refresh_token: bool,
    /// Accept authorization requests from this application only when pushed first to
    /// /connect/par (RFC 9126); a plain request to /connect/authorize is refused.
    /// Default: plain requests are accepted too.
    #[arg(long)]
    pub require_par: bool,
    /// Refuse this application's token requests without a DPoP proof (RFC 9449 §5.2): its
    /// access tokens are always bound to the client's key. Default: DPoP is optional.
    #[arg(long)]
    pub require_dpop: bool,
    /// Accept authorization requests (and pushed ones) from this application only as a
    /// request object signed with one of its --jwks keys (RFC 9101); others are refused.
    /// Default: plain parameters are accepted too.
    #[arg(long)]
    pub require_signed_request_object: bool,
    /// Give this application no code until the signed-in user's email address is verified
    /// (docs/accounts.md); the user is asked to open the link mailed to them. Default off.
    #[arg(long)]
    pub require_verified_email: bool,
    /// Do not offer "Create an account" on this application's sign-in page (registration
    /// is otherwise offered when the server's registration_enabled allows it).
    #[arg(long)]
    pub no_self_registration: bool,
    /// How strongly users must sign in to this application: password, second_factor or
    /// passkey; the stricter of this and the server's sign_in_policy applies
    /// (docs/authentication.md). Default: the server's.
    #[arg(long, value_name = "POLICY")]
    pub sign_in_policy: Option<String>,
    /// Free text for administrators (at most 1000 characters). Default: empty.
    #[arg(long, value_name = "TEXT")]
    pub description: Option<String>,
    /// A JSON object of your own data about the application, e.g. '{"team":"billing"}'.
    /// Default: {}.
    #[arg(long, value_name = "JSON")]
    pub app_metadata: Option<String>,
    /// The application's public keys for private_key_jwt and signed request objects, as a
    /// JWK Set: '{"keys":[{"kty":"EC",…}]}' (no private key members). Required with
    /// private_key_jwt and --require-signed-request-object; refused for an application
    /// that uses neither private_key_jwt nor the authorization_code grant.
    #[arg(long, value_name = "JSON")]
    pub jwks: Option<String>,
    /// Where the application publishes its public keys instead of --jwks (RFC 7591 §2): an
    /// https URL Tessera fetches through its outbound guard (outbound_private_hosts).
    #[arg(long, value_name = "URL")]
    pub jwks_uri: Option<String>,
    /// An https URL Tessera may fetch a signed request object from for this application
    /// (repeatable; RFC 9101 §5.2, matched exactly). Default: none (only pushed requests'
    /// request_uri values are accepted).
    #[arg(long = "request-uri", value_name = "URL")]
    pub request_uris: Vec<String>,
    /// Register the application disabled: it cannot sign users in or get tokens.
    #[arg(long)]
    pub disabled: bool,
    /// Print the result as one JSON object (with client_secret when one was generated).
    #[arg(long)]
    pub json: bool,
}

/// The flags of `tessera app list`.
#[derive(Debug, Args)]
pub struct ListApps {
    /// Print a JSON array of applications with every setting.
    #[arg(long)]
    pub json: bool,
}

/// The arguments of `tessera app show`.
#[derive(Debug, Args)]
pub struct ShowApp {
    /// The application's client_id.
    #[arg(value_name = "CLIENT_ID")]
    pub client_id: ClientId,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// The arguments of `tessera app delete`.
#[derive(Debug, Args)]
pub struct DeleteApp {
    /// The application's client_id.
    #[arg(value_name = "CLIENT_ID")]
    pub client_id: ClientId,
}

/// Runs `tessera app …`.
pub fn run(config: Option<&Path>, command: &AppCommand) -> Result<(), Fatal> {
    let settings = Settings::load(config)?;
    init_logging(&settings);
    match command {
        AppCommand::Create(args) => create(&settings, args),
        AppCommand::List(args) => list(&open(&settings)?, args),
        AppCommand::Show(args) => show(&open(&settings)?, args),
        AppCommand::Delete(args) => delete(&open(&settings)?, args),
    }
}

fn open(settings: &Settings) -> Result<Store, Fatal> {
    let store = bootstrap::open_store(settings)?;
    bootstrap::migrate(&store)?;
    Ok(store)
}

fn flag(name: &str) -> impl Fn(String) -> Fatal + '_ {
    move |message| Fatal(format!("{name}: {message}"))
}

fn unknown_client(client_id: &ClientId) -> Fatal {
    Fatal(format!("CLIENT_ID: no application with client_id {client_id:?}"))
}

fn store_failure(e: StoreError) -> Fatal {
    Fatal(format!("database_url: {e}"))
}

fn create(settings: &Settings, args: &CreateApp) -> Result<(), Fatal> {
    let input = input(args)?;
    let store = open(settings)?;
    let (created, secret) = applications_api::create_application(
        &store,
        &settings.outbound.private_hosts,
        &CommandLine,
        args.client_id.as_deref(),
        input,
    )
    .map_err(|e| api_failure(e, "creating the application failed"))?;
    if args.json {
        let mut out = app_json(&created);
        if let Some(secret) = &secret {
            out["client_secret"] = json!(secret.expose());
        }
        print_json(&out)?;
        return Ok(());
    }
    let s = &created.settings;
    println!("Created application {:?} ({}), client_id {}.", s.name, s.app_type, created.client_id);
    match &secret {
        Some(secret) => {
            println!("Client secret (shown once): {}", secret.expose());
            println!("Tessera keeps only its hash: store the secret now, it cannot be shown again.");
        }
        None if s.token_endpoint_auth_method == ClientAuthMethod::PrivateKeyJwt => {
            println!("No secret: the application authenticates with a JWT signed by a key in its JWKS.");
        }
        None => println!("No secret: a public client authenticates with none and must use PKCE."),
    }
    Ok(())
}

/// The domain's settings input from the flags: one line per setting. Only what the domain
/// cannot see is checked here (numbers and JSON given as text).
fn input(args: &CreateApp) -> Result<ApplicationInput, Fatal> {
    Ok(ApplicationInput {
        name: args.name.clone(),
        app_type: args.app_type.clone(),
        description: args.description.clone(),
        redirect_uris: args.redirect_uris.clone(),
        post_logout_redirect_uris: args.post_logout_redirect_uris.clone(),
        grant_types: (!args.grant_types.is_empty()).then(|| args.grant_types.clone()),
        token_endpoint_auth_method: args.auth_method.clone(),
        jwks: args.jwks.as_deref().map(|raw| json("--jwks", raw)).transpose()?,
        jwks_uri: args.jwks_uri.clone(),
        request_uris: args.request_uris.clone(),
        allowed_scopes: (!args.scopes.is_empty()).then(|| args.scopes.clone()),
        required_claims: args.required_claims.clone(),
        access_token_format: args.token_format.clone(),
        id_token_signed_response_alg: args.signing_alg.clone(),
        access_token_lifetime: seconds("--access-token-lifetime", &args.access_token_lifetime)?,
        id_token_lifetime: seconds("--id-token-lifetime", &args.id_token_lifetime)?,
        refresh_token_lifetime: seconds("--refresh-token-lifetime", &args.refresh_token_lifetime)?,
        authorization_code_lifetime: seconds("--code-lifetime", &args.code_lifetime)?,
        refresh_token_retry_grace_seconds: seconds("--refresh-token-retry-grace", &args.refresh_token_retry_grace)?,
        require_consent: Some(!args.no_consent),
        always_issue_refresh_token: Some(args.always_issue_refresh_token),
        require_pushed_authorization_requests: Some(args.require_par),
        dpop_bound_access_tokens: Some(args.require_dpop),
        require_signed_request_object: Some(args.require_signed_request_object),
        backchannel_logout_uri: args.backchannel_logout_uri.clone(),
        backchannel_logout_session_required: Some(args.backchannel_logout_session_required),
        require_verified_email: Some(args.require_verified_email),
        self_registration: Some(!args.no_self_registration),
        sign_in_policy: args.sign_in_policy.clone(),
        app_metadata: args.app_metadata.as_deref().map(|raw| json("--app-metadata", raw)).transpose()?,
        enabled: Some(!args.disabled),
    })
}

/// The flag of each setting, by the name the settings model (and its errors) give it.
const FLAGS: &[(&str, &str)] = &[
    ("name", "--name"),
    ("app_type", "--type"),
    ("client_id", "--client-id"),
    ("description", "--description"),
    ("redirect_uris", "--redirect-uri"),
    ("post_logout_redirect_uris", "--post-logout-redirect-uri"),
    ("grant_types", "--grant-type"),
    ("token_endpoint_auth_method", "--auth-method"),
    ("jwks", "--jwks"),
    ("jwks_uri", "--jwks-uri"),
    ("request_uris", "--request-uri"),
    ("allowed_scopes", "--scope"),
    ("required_claims", "--required-claim"),
    ("access_token_format", "--token-format"),
    ("id_token_signed_response_alg", "--signing-alg"),
    ("access_token_lifetime", "--access-token-lifetime"),
    ("id_token_lifetime", "--id-token-lifetime"),
    ("refresh_token_lifetime", "--refresh-token-lifetime"),
    ("authorization_code_lifetime", "--code-lifetime"),
    ("refresh_token_retry_grace_seconds", "--refresh-token-retry-grace"),
    ("always_issue_refresh_token", "--always-issue-refresh-token"),
    ("require_pushed_authorization_requests", "--require-par"),
    ("dpop_bound_access_tokens", "--require-dpop"),
    ("require_signed_request_object", "--require-signed-request-object"),
    ("backchannel_logout_uri", "--backchannel-logout-uri"),
    ("backchannel_logout_session_required", "--backchannel-logout-session-required"),
    ("require_verified_email", "--require-verified-email"),
    ("self_registration", "--no-self-registration"),
    ("sign_in_policy", "--sign-in-policy"),
    ("app_metadata", "--app-metadata"),
];

/// An error of the shared operation as one line naming the flag to fix.
fn api_failure(e: ApiError, context: &str) -> Fatal {
    let setting = e.body.field.as_deref().map(|f| f.split('[').next().unwrap_or(f));
    match setting.and_then(|s| FLAGS.iter().find(|(name, _)| *name == s)) {
        Some((_, flag)) if e.status == StatusCode::CONFLICT => {
            Fatal(format!("{flag}: an application with that value already exists"))
        }
        Some((_, flag)) => Fatal(format!("{flag}: {}", e.body.message)),
        None => Fatal(format!("{context}: {}", e.body.message)),
    }
}

fn seconds(name: &str, raw: &Option<String>) -> Result<Option<i64>, Fatal> {
    raw.as_deref()
        .map(|raw| raw.trim().parse().map_err(|_| flag(name)(format!("{raw:?} is not a whole number of seconds"))))
        .transpose()
}

/// JSON text given as a flag's value; the settings model checks its shape.
fn json(name: &str, raw: &str) -> Result<Value, Fatal> {
    serde_json::from_str(raw).map_err(|e| flag(name)(format!("is not valid JSON: {e}")))
}

/// Every setting of an application as the management API shows it (never a secret).
fn app_json(app: &Application) -> Value {
    serde_json::to_value(applications_api::view(app.clone())).unwrap_or(Value::Null)
}

fn print_json(value: &Value) -> Result<(), Fatal> {
    let text = serde_json::to_string_pretty(value).map_err(|e| Fatal(format!("--json: {e}")))?;
    println!("{text}");
    Ok(())
}

fn all_applications(store: &Store) -> Result<Vec<Application>, Fatal> {
    let mut apps = Vec::new();
    let mut page = Page::first(Page::MAX_LIMIT);
    loop {
        let paged = store.read_transaction(|c| applications::list(c, &page)).map_err(store_failure)?;
        apps.extend(paged.items);
        match paged.next {
            Some(after) => page.after = Some(after),
            None => return Ok(apps),
        }
    }
}

fn list(store: &Store, args: &ListApps) -> Result<(), Fatal> {
    let apps = all_applications(store)?;
    if args.json {
        return print_json(&Value::Array(apps.iter().map(app_json).collect()));
    }
    if apps.is_empty() {
        println!("No applications registered. Add one with `tessera app create`.");
        return Ok(());
    }
    let rows: Vec<[String; 5]> = apps
        .iter()
        .map(|a| {
            let s = &a.settings;
            let grants: Vec<&str> = s.grant_types.iter().map(GrantType::as_str).collect();
            let name = if s.enabled { s.name.clone() } else { format!("{} (disabled)", s.name) };
            [a.client_id.to_string(), name, s.app_type.to_string(), grants.join(","), s.access_token_format.to_string()]
        })
        .collect();
    let header = ["CLIENT_ID", "NAME", "TYPE", "GRANT TYPES", "TOKEN FORMAT"].map(str::to_owned);
    let mut widths = header.clone().map(|h| h.chars().count());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    for row in std::iter::once(&header).chain(&rows) {
        let cells: Vec<String> = row.iter().zip(widths).map(|(cell, w)| format!("{cell:<w$}")).collect();
        println!("{}", cells.join("  ").trim_end());
    }
    Ok(())
}

fn show(store: &Store, args: &ShowApp) -> Result<(), Fatal> {
    let now = crate::now();
    let found = store
        .read_transaction(|c| {
            let Some(app) = applications::find_by_client_id(c, &args.client_id)? else { return Ok(None) };
            let live = applications::live_secrets(c, &app.id, now)?.len();
            Ok(Some((app, live)))
        })
        .map_err(store_failure)?;
    let (app, live_secrets) = found.ok_or_else(|| unknown_client(&args.client_id))?;
    if args.json {
        return print_json(&app_json(&app));
    }
    let s = &app.settings;
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    let none_if_empty = |text: &str| if text.is_empty() { "(none)".to_owned() } else { text.to_owned() };
    let grants: Vec<String> = s.grant_types.iter().map(GrantType::to_string).collect();
    let kind = if s.app_type.is_public() { "public client" } else { "confidential client" };
    field("client_id", app.client_id.as_str());
    field("name", &s.name);
    field("description", &none_if_empty(&s.description));
    field("type", &format!("{} ({kind})", s.app_type));
    field("enabled", yes_no(s.enabled));
    field("auth method", s.token_endpoint_auth_method.as_str());
    let secrets = match live_secrets {
        0 => "none".to_owned(),
        n => format!("{n} live (only their hashes are stored)"),
    };
    field("client secrets", &secrets);
    field("grant types", &grants.join(", "));
    list_field("redirect URIs", &s.redirect_uris);
    list_field("post-logout redirect URIs", &s.post_logout_redirect_uris);
    field("back-channel logout URI", s.backchannel_logout_uri.as_deref().unwrap_or("(none)"));
    field("back-channel logout sid", yes_no(s.backchannel_logout_session_required));
    list_field("allowed scopes", &s.allowed_scopes);
    list_field("required claims", &s.required_claims);
    field("access token format", s.access_token_format.as_str());
    field("signing algorithm", s.id_token_signed_response_alg.as_str());
    field("access token lifetime", &format!("{} s", s.lifetimes.access_token));
    field("ID token lifetime", &format!("{} s", s.lifetimes.id_token));
    field("refresh token lifetime", &format!("{} s", s.lifetimes.refresh_token));
    field("code lifetime", &format!("{} s", s.lifetimes.authorization_code));
    field("refresh token retry grace", &format!("{} s", s.lifetimes.refresh_token_retry_grace));
    field("require consent", yes_no(s.require_consent));
    field("always issue refresh token", yes_no(s.always_issue_refresh_token));
    field("require pushed requests", yes_no(s.require_pushed_authorization_requests));
    field("require DPoP", yes_no(s.dpop_bound_access_tokens));
    field("require signed request objects", yes_no(s.require_signed_request_object));
    field("require verified email", yes_no(s.require_verified_email));
    field("self-registration", yes_no(s.self_registration));
    field("sign-in policy", s.sign_in_policy.map_or("(the server's)", |p| p.as_str()));
    field("jwks", &s.jwks.as_ref().map_or_else(|| "(none)".to_owned(), Value::to_string));
    field("jwks_uri", s.jwks_uri.as_deref().unwrap_or("(none)"));
    list_field("request URIs", &s.request_uris);
    field("app metadata", &s.app_metadata.to_string());
    field("created at", &app.created_at.to_string());
    field("updated at", &app.updated_at.to_string());
    Ok(())
}

/// Width of the label column of `show`.
const LABEL_WIDTH: usize = 28;

fn field(label: &str, value: &str) {
    println!("{:<LABEL_WIDTH$}{value}", format!("{label}:"));
}

/// A multi-valued setting: one value per line, aligned under the first.
fn list_field(label: &str, values: &[String]) {
    let mut values = values.iter();
    match values.next() {
        None => field(label, "(none)"),
        Some(first) => {
            field(label, first);
            for value in values {
                println!("{:<LABEL_WIDTH$}{value}", "");
            }
        }
    }
}

fn delete(store: &Store, args: &DeleteApp) -> Result<(), Fatal> {
    let app = store
        .read_transaction(|c| applications::find_by_client_id(c, &args.client_id))
        .map_err(store_failure)?
        .ok_or_else(|| unknown_client(&args.client_id))?;
    applications_api::delete_application(store, &CommandLine, &app.id)
        .map_err(|e| api_failure(e, "deleting the application failed"))?;
    println!("Deleted application {:?} (client_id {}).", app.settings.name, app.client_id);
    Ok(())
}
