//! Configuration: defaults that run on a fresh machine, then `tessera.toml` (or the file
//! named by `--config` / `TESSERA_CONFIG`), then `TESSERA_*` environment variables.
//! Every problem is reported as one line naming the setting.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use tessera_auth::PasswordPolicy;
use tessera_store::{DatabaseUrl, PoolOptions};
use tessera_tokens::{MasterKey, PasswordParams};

mod raw;
pub use raw::RawSettings;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Human,
    Json,
}

/// The settings, checked.
#[derive(Debug)]
pub struct Settings {
    pub issuer: url::Url,
    pub bind: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: DatabaseUrl,
    pub pool: PoolOptions,
    /// How long `serve` waits at start for a database that does not answer yet.
    pub database_startup_wait: std::time::Duration,
    pub master_key: Option<MasterKey>,
    pub log_format: LogFormat,
    pub log_level: String,
    pub registration_enabled: bool,
    pub account_self_deletion: bool,
    pub password_params: PasswordParams,
    /// What every place that sets a password accepts (ASVS 5.0 V6.2).
    pub password_policy: PasswordPolicy,
    pub key_activation_delay: i64,
    pub key_refresh_interval: std::time::Duration,
    pub admin_session_idle_timeout: i64,
    pub admin_session_absolute_timeout: i64,
    /// The sandbox limits of custom claims scripts.
    pub script_limits: tessera_claims::Limits,
    /// Where custom claims scripts may `fetch`.
    pub script_fetch: tessera_claims::FetchPolicy,
    /// Whether client assertions may use the pre-rfc7523bis audiences (endpoint URLs,
    /// several values).
    pub private_key_jwt_legacy_audiences: bool,
    /// Whether DPoP proofs must carry a server nonce.
    pub dpop_nonce_required: bool,
    /// Where mail goes, who sends it, the issuer's display name.
    pub mail: tessera_mail::MailSettings,
    /// Whose `X-Forwarded-For` names the client (`crate::proxy`).
    pub trusted_proxies: crate::proxy::TrustedProxies,
    /// Rate limits on the token endpoint family and introspection.
    pub rate_limits: tessera_oidc::rate_limit::RateLimits,
    /// Dynamic client registration and Client ID Metadata Documents.
    pub client_registration: tessera_oidc::ClientRegistrationSettings,
    /// Where outbound requests may go, and their bounds.
    pub outbound: tessera_outbound::OutboundSettings,
    /// How often the outbox runner looks for jobs.
    pub outbox_poll_interval: std::time::Duration,
    /// When logout token deliveries are retried and given up.
    pub backchannel_logout_retry: tessera_outbound::RetryPolicy,
    /// Email verification and password recovery (docs/accounts.md).
    pub accounts: tessera_auth::AccountSettings,
    /// The WebAuthn relying party of passkeys (docs/authentication.md).
    pub webauthn: WebauthnSettings,
    /// The server's sign-in policy; an application's stricter one wins.
    pub sign_in_policy: tessera_domain::SignInPolicy,
    /// Where the settings came from, for `tessera config check`.
    pub sources: Vec<String>,
}

/// Passkeys' relying party: `None` and empty derive it from the issuer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebauthnSettings {
    pub rp_id: Option<String>,
    pub origins: Vec<String>,
}

impl WebauthnSettings {
    /// The relying party of `issuer`, named `issuer_name` in authenticators' prompts.
    pub fn relying_party(
        &self,
        issuer: &str,
        issuer_name: &str,
    ) -> Result<tessera_factors::RelyingParty, tessera_factors::RelyingPartyError> {
        tessera_factors::RelyingParty::new(issuer, issuer_name, self.rp_id.as_deref(), &self.origins)
    }
}

/// `webauthn_rp_id` and `webauthn_origins`: when either is set, they must make a relying
/// party with the issuer (an IP address or a host outside the origins is refused). Left
/// unset, an issuer on an IP address only leaves passkeys unavailable (logged at start).
fn webauthn_settings(raw: &RawSettings) -> Result<WebauthnSettings, SettingsError> {
    let settings = WebauthnSettings {
        rp_id: raw.webauthn_rp_id.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned),
        origins: raw.webauthn_origins.iter().map(|o| o.trim().to_owned()).filter(|o| !o.is_empty()).collect(),
    };
    if settings.rp_id.is_none() && settings.origins.is_empty() {
        return Ok(settings);
    }
    match settings.relying_party(&raw.issuer, &raw.issuer_name) {
        Ok(_) => Ok(settings),
        Err(tessera_factors::RelyingPartyError::Origin(origin)) => Err(SettingsError::new(
            "webauthn_origins",
            format!("{origin:?} is not an origin such as https://id.example.com"),
        )),
        Err(error) => Err(SettingsError::new("webauthn_rp_id", error.to_string())),
    }
}

/// A configuration problem: which setting, and what is wrong with it.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{setting}: {message}")]
pub struct SettingsError {
    pub setting: String,
    pub message: String,
}

impl SettingsError {
    pub fn new(setting: impl Into<String>, message: impl Into<String>) -> Self {
        SettingsError { setting: setting.into(), message: message.into() }
    }
}

/// Environment variables starting with `TESSERA_` that are not settings.
const NOT_SETTINGS: &[&str] = &["CONFIG", "TEST_DATABASE_URL"];

/// The default configuration file, read when it exists.
pub const DEFAULT_CONFIG_FILE: &str = "tessera.toml";

impl Settings {
    /// Reads the settings. `config` is the file named on the command line or in
    /// `TESSERA_CONFIG`, which must exist; without it `tessera.toml` is read if present.
    pub fn load(config: Option<&Path>) -> Result<Settings, SettingsError> {
        let mut figment = Figment::from(Serialized::defaults(RawSettings::default()));
        let mut sources = vec!["defaults".to_owned()];
        let (path, required) = match config {
            Some(path) => (path.to_path_buf(), true),
            None => (PathBuf::from(DEFAULT_CONFIG_FILE), false),
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                figment = figment.merge(Toml::string(&text));
                sources.push(path.display().to_string());
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {}
            Err(e) => {
                return Err(SettingsError::new("config", format!("cannot read {}: {e}", path.display())));
            }
        }
        let env = Env::prefixed("TESSERA_").ignore(NOT_SETTINGS).lowercase(true);
        if env.iter().next().is_some() {
            sources.push("TESSERA_* environment".into());
        }
        let raw: RawSettings = figment.merge(env).extract().map_err(|e| describe(e, &path))?;
        Settings::from_raw(raw, sources)
    }

    /// Checks settings built in code (tests, embedding).
    pub fn from_raw(raw: RawSettings, sources: Vec<String>) -> Result<Settings, SettingsError> {
        let issuer = check_issuer(&raw.issuer)?;
        let bind: SocketAddr = raw.bind.parse().map_err(|_| {
            SettingsError::new("bind", format!("{:?} is not an address and port such as 127.0.0.1:8080", raw.bind))
        })?;
        let database_url =
            DatabaseUrl::parse(&raw.database_url).map_err(|e| SettingsError::new("database_url", e.to_string()))?;
        let mut pool = PoolOptions::for_backend(database_url.backend());
        if let Some(size) = raw.database_pool_size {
            if !(1..=1000).contains(&size) {
                return Err(SettingsError::new("database_pool_size", "must be between 1 and 1000"));
            }
            pool.max_size = size;
        }
        if !(100..=600_000).contains(&raw.database_statement_timeout_ms) {
            return Err(SettingsError::new(
                "database_statement_timeout_ms",
                "must be between 100 and 600000 milliseconds",
            ));
        }
        pool.statement_timeout = std::time::Duration::from_millis(raw.database_statement_timeout_ms);
        // libpq counts whole seconds and takes anything below 2 as 2.
        if !(2..=60).contains(&raw.database_connect_timeout) {
            return Err(SettingsError::new("database_connect_timeout", "must be between 2 and 60 seconds"));
        }
        pool.connect_timeout = std::time::Duration::from_secs(raw.database_connect_timeout);
        if raw.database_startup_wait > 3600 {
            return Err(SettingsError::new("database_startup_wait", "must be at most 3600 seconds"));
        }
        if raw.config_refresh_interval_ms > 60_000 {
            return Err(SettingsError::new("config_refresh_interval_ms", "must be at most 60000 milliseconds"));
        }
        pool.config_refresh_interval = std::time::Duration::from_millis(raw.config_refresh_interval_ms);
        let master_key = raw
            .master_key
            .as_deref()
            .map(MasterKey::from_base64)
            .transpose()
            .map_err(|e| SettingsError::new("master_key", e.to_string()))?;
        let log_format = match raw.log_format.as_str() {
            "human" => LogFormat::Human,
            "json" => LogFormat::Json,
            other => {
                return Err(SettingsError::new("log_format", format!("must be human or json, not {other:?}")));
            }
        };
        tracing_subscriber::EnvFilter::try_new(&raw.log_level)
            .map_err(|e| SettingsError::new("log_level", format!("{:?} is not a log filter: {e}", raw.log_level)))?;
        let password_params = PasswordParams {
            memory_kib: raw.argon2_memory_kib,
            iterations: raw.argon2_iterations,
            parallelism: raw.argon2_parallelism,
        };
        tessera_tokens::PasswordHasher::check_params(password_params)
            .map_err(|e| SettingsError::new("argon2_memory_kib", e.to_string()))?;
        let password_policy = PasswordPolicy::new(raw.password_min_score)
            .map_err(|e| SettingsError::new("password_min_score", e.to_string()))?
            .with_context_words(issuer_words(&issuer));
        if !(1..=60).contains(&raw.key_refresh_interval) {
            return Err(SettingsError::new("key_refresh_interval", "must be between 1 and 60 seconds"));
        }
        if raw.key_activation_delay > 86_400 {
            return Err(SettingsError::new("key_activation_delay", "must be at most 86400 seconds"));
        }
        if raw.key_activation_delay < 2 * raw.key_refresh_interval {
            return Err(SettingsError::new(
                "key_activation_delay",
                "must be at least twice key_refresh_interval, so every node publishes a new key before any signs with it",
            ));
        }
        if !(60..=86_400).contains(&raw.admin_session_idle_timeout) {
            return Err(SettingsError::new("admin_session_idle_timeout", "must be between 60 and 86400 seconds"));
        }
        if !(raw.admin_session_idle_timeout..=7 * 86_400).contains(&raw.admin_session_absolute_timeout) {
            return Err(SettingsError::new(
                "admin_session_absolute_timeout",
                "must be at least admin_session_idle_timeout and at most 604800 seconds (7 days)",
            ));
        }
        if !(10..=10_000).contains(&raw.script_time_limit_ms) {
            return Err(SettingsError::new("script_time_limit_ms", "must be between 10 and 10000 milliseconds"));
        }
        if !(4..=1024).contains(&raw.script_memory_limit_mib) {
            return Err(SettingsError::new("script_memory_limit_mib", "must be between 4 and 1024 MiB"));
        }
        let script_limits = tessera_claims::Limits {
            wall_time: std::time::Duration::from_millis(raw.script_time_limit_ms),
            memory_bytes: usize::try_from(raw.script_memory_limit_mib * 1024 * 1024).unwrap_or(32 * 1024 * 1024),
            ..tessera_claims::Limits::default()
        };
        let script_fetch = tessera_claims::FetchPolicy::parse(&raw.script_fetch_allowed_hosts)
            .map_err(|e| SettingsError::new("script_fetch_allowed_hosts", e.to_string()))?;
        let mail = tessera_mail::MailSettings::new(
            raw.smtp_url.as_deref(),
            raw.mail_from.as_deref(),
            &raw.issuer_name,
            raw.data_dir.join("mail"),
        )
        .map_err(|(setting, e)| SettingsError::new(setting, e.to_string()))?;
        let trusted_proxies = crate::proxy::TrustedProxies::parse(&raw.trusted_proxies)
            .map_err(|e| SettingsError::new("trusted_proxies", e))?;
        let rate = |setting: &str, raw: &str| {
            tessera_oidc::rate_limit::Rate::parse(raw).map_err(|e| SettingsError::new(setting, e))
        };
        let rate_limits = tessera_oidc::rate_limit::RateLimits {
            token_per_client: rate("rate_limit_token_per_client", &raw.rate_limit_token_per_client)?,
            token_per_ip: rate("rate_limit_token_per_ip", &raw.rate_limit_token_per_ip)?,
            introspection_per_client: rate(
                "rate_limit_introspection_per_client",
                &raw.rate_limit_introspection_per_client,
            )?,
            introspection_per_ip: rate("rate_limit_introspection_per_ip", &raw.rate_limit_introspection_per_ip)?,
            registration_per_ip: rate(
                "rate_limit_client_registration_per_ip",
                &raw.rate_limit_client_registration_per_ip,
            )?,
        };
        let client_registration = client_registration_settings(&raw)?;
        let private_hosts = tessera_outbound::PrivateHosts::parse(&raw.outbound_private_hosts)
            .map_err(|e| SettingsError::new("outbound_private_hosts", e.to_string()))?;
        if !(100..=60_000).contains(&raw.outbound_timeout_ms) {
            return Err(SettingsError::new("outbound_timeout_ms", "must be between 100 and 60000 milliseconds"));
        }
        let outbound_timeout = std::time::Duration::from_millis(raw.outbound_timeout_ms);
        let outbound = tessera_outbound::OutboundSettings {
            private_hosts,
            connect_timeout: outbound_timeout.min(std::time::Duration::from_secs(5)),
            timeout: outbound_timeout,
            ..tessera_outbound::OutboundSettings::default()
        };
        if !(50..=60_000).contains(&raw.outbox_poll_interval_ms) {
            return Err(SettingsError::new("outbox_poll_interval_ms", "must be between 50 and 60000 milliseconds"));
        }
        if raw.backchannel_logout_retry_delay > 3600 {
            return Err(SettingsError::new("backchannel_logout_retry_delay", "must be at most 3600 seconds"));
        }
        if !(1..=50).contains(&raw.backchannel_logout_max_attempts) {
            return Err(SettingsError::new("backchannel_logout_max_attempts", "must be between 1 and 50"));
        }
        let backchannel_logout_retry = tessera_outbound::RetryPolicy {
            first_delay: i64::try_from(raw.backchannel_logout_retry_delay).unwrap_or(10),
            max_attempts: i64::from(raw.backchannel_logout_max_attempts),
            ..tessera_outbound::backchannel_logout::DEFAULT_POLICY
        };
        let accounts = account_settings(&raw)?;
        let webauthn = webauthn_settings(&raw)?;
        let sign_in_policy =
            raw.sign_in_policy.parse().map_err(|e: tessera_domain::assurance::UnknownSignInPolicy| {
                SettingsError::new("sign_in_policy", e.to_string())
            })?;
        Ok(Settings {
            sign_in_policy,
            webauthn,
            outbound,
            outbox_poll_interval: std::time::Duration::from_millis(raw.outbox_poll_interval_ms),
            backchannel_logout_retry,
            accounts,
            mail,
            trusted_proxies,
            rate_limits,
            client_registration,
            script_fetch,
            private_key_jwt_legacy_audiences: raw.private_key_jwt_legacy_audiences,
            dpop_nonce_required: raw.dpop_nonce_required,
            script_limits,
            admin_session_idle_timeout: i64::try_from(raw.admin_session_idle_timeout).unwrap_or(900),
            admin_session_absolute_timeout: i64::try_from(raw.admin_session_absolute_timeout).unwrap_or(28_800),
            key_activation_delay: i64::try_from(raw.key_activation_delay).unwrap_or(86_400),
            key_refresh_interval: std::time::Duration::from_secs(raw.key_refresh_interval),
            issuer,
            bind,
            data_dir: raw.data_dir,
            database_url,
            pool,
            database_startup_wait: std::time::Duration::from_secs(raw.database_startup_wait),
            master_key,
            log_format,
            log_level: raw.log_level,
            registration_enabled: raw.registration_enabled,
            account_self_deletion: raw.account_self_deletion,
            password_params,
            password_policy,
            sources,
        })
    }
}

/// Who may register clients, with which scopes, and whether metadata documents are read.
fn client_registration_settings(raw: &RawSettings) -> Result<tessera_oidc::ClientRegistrationSettings, SettingsError> {
    let mode = tessera_oidc::RegistrationMode::parse(&raw.client_registration)
        .map_err(|e| SettingsError::new("client_registration", e))?;
    let mut open_scopes: Vec<String> = Vec::new();
    for scope in &raw.client_registration_scopes {
        tessera_domain::ScopeName::parse(scope)
            .map_err(|e| SettingsError::new("client_registration_scopes", e.to_string()))?;
        if !open_scopes.contains(scope) {
            open_scopes.push(scope.clone());
        }
    }
    Ok(tessera_oidc::ClientRegistrationSettings {
        mode,
        open_scopes,
        metadata_documents: raw.client_id_metadata_documents,
    })
}

/// The account link settings, each within bounds that keep links usable and short-lived.
fn account_settings(raw: &RawSettings) -> Result<tessera_auth::AccountSettings, SettingsError> {
    let within = |setting: &str, value: u64, min: u64, max: u64| {
        if (min..=max).contains(&value) {
            Ok(i64::try_from(value).unwrap_or(0))
        } else {
            Err(SettingsError::new(setting, format!("must be between {min} and {max} seconds")))
        }
    };
    Ok(tessera_auth::AccountSettings {
        unverified_sign_in: raw.unverified_sign_in,
        verification_link_lifetime: within(
            "verification_link_lifetime",
            raw.verification_link_lifetime,
            300,
            7 * 86_400,
        )?,
        recovery_link_lifetime: within("recovery_link_lifetime", raw.recovery_link_lifetime, 60, 86_400)?,
        resend_interval: within("account_mail_resend_interval", raw.account_mail_resend_interval, 1, 3600)?,
    })
}

/// OIDC Discovery §3 / RFC 8414 §2: the issuer is an https URL with no query or
/// fragment (plain http is accepted for local development).
fn check_issuer(raw: &str) -> Result<url::Url, SettingsError> {
    let url = url::Url::parse(raw).map_err(|e| SettingsError::new("issuer", format!("{raw:?} is not a URL: {e}")))?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err(SettingsError::new("issuer", "must be an https:// URL (http:// only for local development)"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(SettingsError::new("issuer", "must not have a query or fragment"));
    }
    if url.host_str().is_none_or(str::is_empty) || !url.username().is_empty() || url.password().is_some() {
        return Err(SettingsError::new("issuer", "must name a host and carry no credentials"));
    }
    Ok(url)
}

/// ASVS 5.0 V6.2.11: the issuer's host name is a context word passwords must not be built
/// from (an IP address is not).
fn issuer_words(issuer: &url::Url) -> Option<&str> {
    match issuer.host() {
        Some(url::Host::Domain(domain)) => Some(domain),
        _ => None,
    }
}

/// Turns figment's error into one line naming the setting and where it came from.
fn describe(error: figment::Error, file: &Path) -> SettingsError {
    use figment::error::Kind;
    let origin =
        error
            .metadata
            .as_ref()
            .map(|m| {
                if m.name.contains("TOML") {
                    format!(" (in {})", file.display())
                } else {
                    format!(" (from {})", m.name)
                }
            })
            .unwrap_or_default();
    let setting = error.path.last().cloned();
    match &error.kind {
        Kind::UnknownField(field, _) => {
            let shown = if origin.contains("environment") {
                format!("TESSERA_{}", field.to_uppercase())
            } else {
                field.clone()
            };
            SettingsError::new(
                shown,
                format!("unknown setting{origin}; see docs/configuration.md for the settings there are"),
            )
        }
        Kind::Message(message) if setting.is_none() => {
            SettingsError::new("config", format!("{} is not valid TOML: {message}", file.display()))
        }
        _ => {
            let mut message = error.kind.to_string();
            message.push_str(&origin);
            SettingsError::new(setting.unwrap_or_else(|| "config".into()), message)
        }
    }
}

#[cfg(test)]
mod tests;
