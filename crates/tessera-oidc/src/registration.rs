//! Dynamic client registration (RFC 7591), `POST /connect/register`: a client sends its
//! metadata as JSON and gets a `client_id` (and, when confidential, a `client_secret`,
//! shown once and stored as its SHA-256 hash), with a registration access token and the
//! URL at which it reads, replaces or deletes its registration (RFC 7592,
//! `registration/management.rs`). The metadata is mapped onto the application settings
//! and checked by the same rules as an administrator's application
//! (`tessera_domain::client_metadata`), with the limits of self-registered clients (the
//! code flow, the scopes the server opens to them, consent always asked).
//!
//! Who may register is the server's `client_registration` setting: `closed` (the
//! default: 403), `initial_access_token` (a bearer token an administrator issued, with an
//! expiry and a quota: 401 `invalid_token` without a valid one), or `open` (anyone, rate
//! limited per address; a presented initial access token is still checked and spent).
//!
//! Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document) are the
//! other way for a client to bring its own metadata: `registration/metadata_document.rs`.

mod management;
pub(crate) mod metadata_document;

use std::net::IpAddr;

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Map, Value, json};
use tessera_domain::client_metadata::{self, MetadataError, Source};
use tessera_domain::{ApplicationSettings, ClientId};
use tessera_store::applications::{self, Application, RegistrationKind};
use tessera_store::audit::{self, NewAuditEvent};
use tessera_store::client_registrations::{self, ClientRegistration};
use tessera_store::config::Config;
use tessera_store::initial_access_tokens;
use tessera_tokens::{Secret, SecretHash, generate_secret};

use crate::error::OAuthError;
use crate::rate_limit::Endpoint;
use crate::state::{OidcState, now};

pub(crate) use management::{delete_registration, read_registration, update_registration};

/// The largest Client ID Metadata Document read, in bytes (the draft advises a small
/// limit such as 5 KB).
pub const METADATA_DOCUMENT_MAX_BYTES: usize = 5 * 1024;

/// The path of the registration endpoint; a client's configuration endpoint is this
/// path followed by `/` and its `client_id` (RFC 7592 §3).
pub const REGISTRATION_PATH: &str = "/connect/register";

/// Who may register clients (the `client_registration` setting).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RegistrationMode {
    /// No dynamic registration (the default).
    #[default]
    Closed,
    /// Only with an initial access token an administrator issued.
    InitialAccessToken,
    /// Anyone, rate limited per address.
    Open,
}

impl RegistrationMode {
    pub fn parse(raw: &str) -> Result<RegistrationMode, String> {
        match raw {
            "closed" => Ok(RegistrationMode::Closed),
            "initial_access_token" => Ok(RegistrationMode::InitialAccessToken),
            "open" => Ok(RegistrationMode::Open),
            other => Err(format!("{other:?} is not closed, initial_access_token or open")),
        }
    }
}

/// The settings of self-registered clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRegistrationSettings {
    pub mode: RegistrationMode,
    /// The scopes (identity or API) a self-registered client may ask for; those that do
    /// not exist are left out.
    pub open_scopes: Vec<String>,
    /// Whether an https `client_id` is fetched as a Client ID Metadata Document.
    pub metadata_documents: bool,
}

impl Default for ClientRegistrationSettings {
    fn default() -> Self {
        ClientRegistrationSettings {
            mode: RegistrationMode::Closed,
            open_scopes: DEFAULT_OPEN_SCOPES.iter().map(|s| (*s).to_owned()).collect(),
            metadata_documents: false,
        }
    }
}

/// The scopes open to self-registered clients unless configured: identity scopes only.
pub const DEFAULT_OPEN_SCOPES: &[&str] = &["openid", "profile", "email"];

/// The URLs Tessera will fetch for a registered client (`jwks_uri`, `request_uris`) must
/// pass the outbound guard now, as in the management API, rather than fail at sign-in.
pub(crate) fn admit_fetched_urls(state: &OidcState, settings: &ApplicationSettings) -> Result<(), MetadataError> {
    let hosts = state.fetcher.private_hosts();
    let admit = |field: &str, raw: &str| {
        let url = url::Url::parse(raw).map_err(|e| MetadataError::invalid(format!("{field}: {raw}: {e}")))?;
        hosts
            .admit(&url)
            .map_err(|reason| MetadataError::invalid(format!("{field}: {raw} cannot be fetched: {reason}")))
    };
    if let Some(uri) = &settings.jwks_uri {
        admit("jwks_uri", uri)?;
    }
    for uri in &settings.request_uris {
        admit("request_uris", uri)?;
    }
    Ok(())
}

impl From<MetadataError> for OAuthError {
    fn from(error: MetadataError) -> Self {
        OAuthError::registration(error.code, error.description)
    }
}

/// `POST /connect/register`.
pub(crate) async fn register(
    request: HttpRequest,
    body: web::Bytes,
    state: web::Data<OidcState>,
) -> Result<HttpResponse, OAuthError> {
    let mode = state.settings.client_registration.mode;
    if mode == RegistrationMode::Closed {
        return Err(OAuthError::access_denied_status(
            StatusCode::FORBIDDEN,
            "dynamic client registration is closed on this server",
        ));
    }
    let bearer = bearer_token(&request)?;
    let client_ip = request.peer_addr().map(|a| a.ip());
    match (&bearer, mode) {
        (None, RegistrationMode::InitialAccessToken) => {
            return Err(OAuthError::invalid_token("an initial access token is required to register a client"));
        }
        (None, _) => state.limiters.check(Endpoint::Registration, None, client_ip)?,
        (Some(_), _) => {}
    }
    let state = state.into_inner();
    if let Some(token) = &bearer {
        // RFC 7591 §3: a request without a valid initial access token is refused as such
        // (401), whatever its metadata; the use is spent later, with the client created.
        let (state, hash) = (state.clone(), SecretHash::of(token));
        let spendable = web::block(move || {
            state.store.read_transaction(|c| initial_access_tokens::is_spendable(c, hash.as_str(), now()))
        })
        .await??;
        if !spendable {
            return Err(unusable_initial_access_token());
        }
    }
    let document = json_body(&request, &body)?;
    let registered = web::block(move || create(&state, bearer.as_deref(), &document, client_ip)).await??;
    Ok(crate::error::no_store(StatusCode::CREATED).json(registered))
}

fn unusable_initial_access_token() -> OAuthError {
    OAuthError::invalid_token("the initial access token is unknown, expired or used up")
}

/// RFC 6750 §2.1: the token of an `Authorization: Bearer` header, if there is one.
pub(crate) fn bearer_token(request: &HttpRequest) -> Result<Option<String>, OAuthError> {
    let Some(value) = request.headers().get(header::AUTHORIZATION) else { return Ok(None) };
    let value = value.to_str().map_err(|_| OAuthError::invalid_token("malformed Authorization header"))?;
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => {
            Ok(Some(token.trim().to_owned()))
        }
        _ => Err(OAuthError::invalid_token("the Authorization header must carry a Bearer token")),
    }
}

/// RFC 7591 §3.1: the metadata is a JSON object in an `application/json` body.
pub(crate) fn json_body(request: &HttpRequest, body: &[u8]) -> Result<Value, OAuthError> {
    let json = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json")));
    if !json {
        return Err(OAuthError::registration(
            client_metadata::INVALID_CLIENT_METADATA,
            "the client metadata must be sent as application/json",
        ));
    }
    serde_json::from_slice(body).map_err(|_| {
        OAuthError::registration(client_metadata::INVALID_CLIENT_METADATA, "the body is not a JSON document")
    })
}

/// The scopes open to self-registered clients that exist in `config`.
pub(crate) fn open_scopes(state: &OidcState, config: &Config) -> Vec<String> {
    let existing = config.scopes();
    state
        .settings
        .client_registration
        .open_scopes
        .iter()
        .filter(|name| existing.iter().any(|s| &s.name == *name))
        .cloned()
        .collect()
}

/// Checks the metadata, spends the initial access token (if any), and creates the
/// application, its registration and the audit event in one transaction.
fn create(
    state: &OidcState,
    bearer: Option<&str>,
    document: &Value,
    client_ip: Option<IpAddr>,
) -> Result<Map<String, Value>, OAuthError> {
    let now = now();
    let config = state.store.config()?;
    let (settings, extras) =
        client_metadata::parse(document, Source::Registration, &open_scopes(state, &config), None)?;
    admit_fetched_urls(state, &settings)?;
    let client_id = ClientId::from(tessera_tokens::generate_client_id());
    let secret: Option<Secret> = settings.uses_client_secret().then(generate_secret);
    let access_token = generate_secret();
    let token_hash = bearer.map(SecretHash::of);
    let ip = client_ip.map(|ip| ip.to_string());
    let created = state.store.write_transaction(|c| {
        let initial_access_token_id = match &token_hash {
            Some(hash) => match initial_access_tokens::spend(c, hash.as_str(), now)? {
                Some(id) => Some(id),
                None => return Ok(None),
            },
            None => None,
        };
        let secret_hash = secret.as_ref().map(|s| s.hash());
        let app = applications::create(c, &client_id, &settings, secret_hash.as_ref().map(|h| h.as_str()), now)?;
        applications::set_registration(c, &app.id, RegistrationKind::Dynamic)?;
        client_registrations::create(
            c,
            &ClientRegistration {
                application_id: app.id.clone(),
                access_token_hash: Some(access_token.hash().as_str().to_owned()),
                initial_access_token_id: initial_access_token_id.clone(),
                metadata: Value::Object(extras.clone()),
                expires_at: None,
                created_at: now,
                updated_at: now,
            },
        )?;
        let actor = match &initial_access_token_id {
            Some(id) => format!("initial_access_token:{id}"),
            None => "anonymous".to_owned(),
        };
        audit::record(
            c,
            &NewAuditEvent {
                actor: &actor,
                action: "application.registered",
                target: &format!("application:{}", app.id),
                summary: audit_summary(&app, &extras),
                client_ip: ip.as_deref(),
            },
            now,
        )?;
        Ok(Some(app))
    })?;
    let Some(app) = created else { return Err(unusable_initial_access_token()) };
    let mut out = configuration(state, &app, &extras);
    out.insert("registration_access_token".into(), access_token.expose().into());
    if let Some(secret) = &secret {
        out.insert("client_secret".into(), secret.expose().into());
    }
    Ok(out)
}

/// What the audit log keeps of a registration: the client and what it asked for.
pub(crate) fn audit_summary(app: &Application, extras: &Map<String, Value>) -> Value {
    json!({
        "client_id": app.client_id,
        "client_name": app.settings.name,
        "redirect_uris": app.settings.redirect_uris,
        "grant_types": app.settings.grant_types.iter().map(|g| g.as_str()).collect::<Vec<_>>(),
        "token_endpoint_auth_method": app.settings.token_endpoint_auth_method.as_str(),
        "scope": app.settings.allowed_scopes.join(" "),
        "software_id": extras.get("software_id"),
    })
}

/// RFC 7591 §3.2.1 / RFC 7592 §3: the registered metadata with `client_id`, when it was
/// issued, the secret's expiry (0: never) for confidential clients, and the client's
/// configuration endpoint. Neither secret nor token: the caller adds those it issued now.
pub(crate) fn configuration(state: &OidcState, app: &Application, extras: &Map<String, Value>) -> Map<String, Value> {
    let settings: &ApplicationSettings = &app.settings;
    let mut out = client_metadata::registered(settings, extras);
    out.insert("client_id".into(), app.client_id.as_str().into());
    out.insert("client_id_issued_at".into(), app.created_at.into());
    if settings.uses_client_secret() {
        out.insert("client_secret_expires_at".into(), 0.into());
    }
    out.insert(
        "registration_client_uri".into(),
        state.url(&format!("{REGISTRATION_PATH}/{}", app.client_id.as_str())).into(),
    );
    out
}

/// The settings a client's new metadata gives, keeping what only an administrator sets:
/// the description, token format and lifetimes, required claims, metadata, whether the
/// application is enabled, its sign-in policy, and the switches the metadata does not name.
pub(crate) fn keep_admin_settings(old: &ApplicationSettings, parsed: ApplicationSettings) -> ApplicationSettings {
    ApplicationSettings {
        description: old.description.clone(),
        access_token_format: old.access_token_format,
        lifetimes: old.lifetimes,
        always_issue_refresh_token: old.always_issue_refresh_token
            && parsed.grant_types.contains(&tessera_domain::GrantType::RefreshToken),
        require_signed_request_object: old.require_signed_request_object && parsed.jwks.is_some(),
        require_verified_email: old.require_verified_email,
        self_registration: old.self_registration,
        sign_in_policy: old.sign_in_policy,
        app_metadata: old.app_metadata.clone(),
        enabled: old.enabled,
        required_claims: old.required_claims.clone(),
        ..parsed
    }
}
