//! The settings as written: every key of `tessera.toml` and its `TESSERA_*` variable,
//! with the defaults that run on a fresh machine (docs/configuration.md). Checked into
//! [`super::Settings`].

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use tessera_tokens::PasswordParams;

/// The settings as written in the file and the environment.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSettings {
    /// The issuer identifier: the URL at which clients reach Tessera (OIDC Discovery §2).
    pub issuer: String,
    /// The address and port to listen on.
    pub bind: String,
    /// Where an embedded installation keeps its files (the master key file).
    pub data_dir: PathBuf,
    /// `sqlite://path` (embedded) or `postgres://…` (production, shared by nodes).
    pub database_url: String,
    /// Database connections per node; by default sized to the machine.
    pub database_pool_size: Option<u32>,
    /// Milliseconds one database statement may run (Postgres `statement_timeout`; on
    /// SQLite how long a statement waits for another writer's lock).
    pub database_statement_timeout_ms: u64,
    /// Seconds opening one database connection may take (libpq `connect_timeout`).
    pub database_connect_timeout: u64,
    /// Seconds `serve` keeps trying to reach the database at start before giving up.
    pub database_startup_wait: u64,
    /// 32 bytes in base64 encrypting signing keys and secrets at rest. Required with
    /// Postgres; generated into `data_dir/master.key` on SQLite when absent.
    pub master_key: Option<String>,
    /// `human` or `json`.
    pub log_format: String,
    /// A tracing filter, e.g. `info` or `tessera=debug,info`.
    pub log_level: String,
    /// Whether the sign-in page offers registration.
    pub registration_enabled: bool,
    /// Whether users may delete their own account on the account page (docs/accounts.md).
    pub account_self_deletion: bool,
    /// argon2id memory cost in KiB (default OWASP: 19456).
    pub argon2_memory_kib: u32,
    /// argon2id iterations (default OWASP: 2).
    pub argon2_iterations: u32,
    /// argon2id parallelism (default OWASP: 1).
    pub argon2_parallelism: u32,
    /// The lowest zxcvbn score (0 to 4) a new password must reach; 0 keeps only the
    /// length rules.
    pub password_min_score: u8,
    /// Seconds between a key rotation and the new key signing: long enough for every
    /// node to have reloaded and published it.
    pub key_activation_delay: u64,
    /// Seconds between reloads of the signing keys from the database on each node.
    pub key_refresh_interval: u64,
    /// Milliseconds between checks for configuration changed on another node (or by
    /// the CLI); 0 checks at every request.
    pub config_refresh_interval_ms: u64,
    /// Seconds without a request after which an admin console session ends.
    pub admin_session_idle_timeout: u64,
    /// Seconds after sign-in after which an admin console session ends regardless.
    pub admin_session_absolute_timeout: u64,
    /// Milliseconds a custom claims script may run (fetches included).
    pub script_time_limit_ms: u64,
    /// MiB of memory a custom claims script may use.
    pub script_memory_limit_mib: u64,
    /// Hosts (`host` or `host:port`) custom claims scripts may `fetch`; empty: none.
    pub script_fetch_allowed_hosts: Vec<String>,
    /// Whether `private_key_jwt` client assertions may name the token, introspection or
    /// revocation endpoint URL, or carry other audiences beside Tessera's, as RFC 7523 §3
    /// allowed. Off (the default): the issuer identifier is the only audience
    /// (draft-ietf-oauth-rfc7523bis §4), which closes the audience injection attack.
    pub private_key_jwt_legacy_audiences: bool,
    /// Whether DPoP proofs (RFC 9449) must carry a nonce from this server (§8, §9): the
    /// token endpoint and userinfo answer `use_dpop_nonce` with a fresh one in
    /// `DPoP-Nonce`. Off (the default): proofs are fresh by their `iat` and unique `jti`.
    pub dpop_nonce_required: bool,
    /// The issuer's display name, as messages to users name it (docs/mail.md).
    pub issuer_name: String,
    /// The SMTP server mail goes through: `smtps://user:password@host[:465]`,
    /// `smtp://user:password@host[:587]` (STARTTLS required) or `smtp://host[:25]?tls=none`.
    /// Unset: each message is logged and written to `data_dir/mail/` (docs/mail.md).
    pub smtp_url: Option<String>,
    /// The sender of every message (`id@example.com` or `Example <id@example.com>`);
    /// required with `smtp_url`.
    pub mail_from: Option<String>,
    /// The reverse proxies (addresses or CIDR ranges) whose `X-Forwarded-For` gives the
    /// client's address; empty (the default): the header is never read.
    pub trusted_proxies: Vec<String>,
    /// Requests to the token endpoint, pushed authorization requests, device
    /// authorization and revocation per client (`100/s`, `6000/min`, `off`), per node.
    pub rate_limit_token_per_client: String,
    /// The same per client address (an IPv6 client's /64).
    pub rate_limit_token_per_ip: String,
    /// Introspection requests per API connection.
    pub rate_limit_introspection_per_client: String,
    /// Introspection requests per client address.
    pub rate_limit_introspection_per_ip: String,
    /// Open dynamic client registrations (without an initial access token) per client
    /// address.
    pub rate_limit_client_registration_per_ip: String,
    /// Who may register OAuth clients at `/connect/register` (RFC 7591): `closed` (the
    /// default), `initial_access_token` (with a token an administrator issued) or `open`.
    pub client_registration: String,
    /// The scopes (identity or API) clients that register themselves, or are identified
    /// by a metadata document, may ask for. Default: `openid`, `profile`, `email`.
    pub client_registration_scopes: Vec<String>,
    /// Whether an https `client_id` is fetched as a Client ID Metadata Document
    /// (draft-ietf-oauth-client-id-metadata-document). Default off.
    pub client_id_metadata_documents: bool,
    /// Hosts outbound requests to URLs clients registered (back-channel logout) may reach
    /// although they are private or loopback, and over plain http: host names or IP
    /// literals (`127.0.0.1`, `::1`, `hooks.internal`). Empty (the default): only https
    /// to public addresses.
    pub outbound_private_hosts: Vec<String>,
    /// Milliseconds one outbound request may take in all (connecting at most 5 s of it).
    pub outbound_timeout_ms: u64,
    /// Milliseconds between looks at the outbox for jobs other nodes queued and retries
    /// that came due (a node is woken at once for the jobs it queues itself).
    pub outbox_poll_interval_ms: u64,
    /// Seconds before a failed logout token delivery is tried again; each further wait
    /// doubles, up to 10 minutes. 0 retries at once (for tests).
    pub backchannel_logout_retry_delay: u64,
    /// Attempts after which a logout token delivery is given up (and audited).
    pub backchannel_logout_max_attempts: u32,
    /// Whether users whose email address is not verified may sign in to applications
    /// that do not require a verified address themselves (docs/accounts.md).
    pub unverified_sign_in: bool,
    /// Seconds an email verification link works (default 24 hours).
    pub verification_link_lifetime: u64,
    /// Seconds a password recovery link works (default 30 minutes).
    pub recovery_link_lifetime: u64,
    /// Seconds between two verification (or recovery) mails to one account.
    pub account_mail_resend_interval: u64,
    /// The WebAuthn relying party id passkeys are bound to (docs/authentication.md).
    /// Unset: the issuer's host. A registrable suffix of it (`example.com` for
    /// `id.example.com`) lets passkeys work across its subdomains; never an IP address.
    pub webauthn_rp_id: Option<String>,
    /// The origins (`scheme://host[:port]`) passkey ceremonies may come from. Empty (the
    /// default): the issuer's origin.
    pub webauthn_origins: Vec<String>,
    /// How strongly users must sign in: `password`, `second_factor` or `passkey`; an
    /// application may ask for more (docs/authentication.md, "Sign-in policy").
    pub sign_in_policy: String,
}

impl Default for RawSettings {
    fn default() -> Self {
        RawSettings {
            issuer: "http://localhost:8080".into(),
            bind: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("tessera-data"),
            database_url: "sqlite://tessera-data/tessera.db".into(),
            database_pool_size: None,
            database_statement_timeout_ms: 10_000,
            database_connect_timeout: 5,
            database_startup_wait: 60,
            master_key: None,
            log_format: "human".into(),
            log_level: "info".into(),
            registration_enabled: true,
            account_self_deletion: false,
            argon2_memory_kib: PasswordParams::OWASP.memory_kib,
            argon2_iterations: PasswordParams::OWASP.iterations,
            argon2_parallelism: PasswordParams::OWASP.parallelism,
            password_min_score: tessera_auth::password_policy::DEFAULT_MIN_SCORE,
            key_activation_delay: 120,
            key_refresh_interval: 30,
            config_refresh_interval_ms: 1000,
            admin_session_idle_timeout: 15 * 60,
            admin_session_absolute_timeout: 8 * 3600,
            script_time_limit_ms: 500,
            script_memory_limit_mib: 32,
            script_fetch_allowed_hosts: Vec::new(),
            private_key_jwt_legacy_audiences: false,
            dpop_nonce_required: false,
            issuer_name: "Tessera".into(),
            smtp_url: None,
            mail_from: None,
            trusted_proxies: Vec::new(),
            rate_limit_token_per_client: "off".into(),
            rate_limit_token_per_ip: "off".into(),
            rate_limit_introspection_per_client: "off".into(),
            rate_limit_introspection_per_ip: "off".into(),
            rate_limit_client_registration_per_ip: "20/h".into(),
            client_registration: "closed".into(),
            client_registration_scopes: tessera_oidc::DEFAULT_OPEN_SCOPES.iter().map(|s| (*s).to_owned()).collect(),
            client_id_metadata_documents: false,
            outbound_private_hosts: Vec::new(),
            outbound_timeout_ms: 10_000,
            outbox_poll_interval_ms: 5_000,
            backchannel_logout_retry_delay: 10,
            backchannel_logout_max_attempts: 8,
            unverified_sign_in: true,
            verification_link_lifetime: 24 * 3600,
            recovery_link_lifetime: 30 * 60,
            account_mail_resend_interval: 60,
            webauthn_rp_id: None,
            webauthn_origins: Vec::new(),
            sign_in_policy: "password".into(),
        }
    }
}
