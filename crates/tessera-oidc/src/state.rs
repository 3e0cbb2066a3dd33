//! What the protocol endpoints share, built once at start.

use sha2::Digest;
use tessera_store::Store;
use tessera_tokens::{MasterKey, PasswordHasher, SharedKeySet};

use crate::client_auth::AssertionAudience;
use crate::custom_claims::ScriptRuntime;

/// Settings of the protocol app that come from configuration.
#[derive(Debug, Clone)]
pub struct OidcSettings {
    /// The issuer identifier, without a trailing slash (OIDC Discovery §3).
    pub issuer: String,
    pub registration_enabled: bool,
    /// Whether users may delete their own account on the account page.
    pub account_self_deletion: bool,
    /// Seconds of inactivity after which a browser session ends.
    pub session_idle_timeout: i64,
    /// Seconds after sign-in after which a browser session ends whatever its activity.
    pub session_absolute_timeout: i64,
    /// Whether `private_key_jwt` assertions may also name the endpoint URLs, or carry other
    /// audiences beside this server's, as RFC 7523 §3 allowed before
    /// draft-ietf-oauth-rfc7523bis §4 (off: the issuer identifier alone).
    pub private_key_jwt_legacy_audiences: bool,
    /// What registration accepts as a password (ASVS 5.0 V6.2).
    pub password_policy: tessera_auth::PasswordPolicy,
    /// RFC 9449 §8, §9: DPoP proofs must carry a nonce this server issued.
    pub dpop_nonce_required: bool,
    /// Rate limits on the token endpoint family and introspection (`rate_limit`).
    pub rate_limits: crate::rate_limit::RateLimits,
    /// Dynamic client registration and Client ID Metadata Documents (`registration`).
    pub client_registration: crate::registration::ClientRegistrationSettings,
    /// The server's sign-in policy (docs/authentication.md); an application's stricter
    /// one wins (`crate::assurance`).
    pub sign_in_policy: tessera_domain::SignInPolicy,
}

impl OidcSettings {
    pub fn new(issuer: &str) -> OidcSettings {
        OidcSettings {
            issuer: issuer.trim_end_matches('/').to_owned(),
            registration_enabled: true,
            account_self_deletion: false,
            session_idle_timeout: 2 * 3600,
            session_absolute_timeout: 12 * 3600,
            private_key_jwt_legacy_audiences: false,
            password_policy: tessera_auth::PasswordPolicy::default(),
            dpop_nonce_required: false,
            rate_limits: crate::rate_limit::RateLimits::default(),
            client_registration: crate::registration::ClientRegistrationSettings::default(),
            sign_in_policy: tessera_domain::SignInPolicy::Password,
        }
    }

    /// Cookies are `Secure` and `__Host-` prefixed when the issuer is https.
    pub fn secure_cookies(&self) -> bool {
        self.issuer.starts_with("https://")
    }
}

/// What the authentication factors need (docs/authentication.md): the master key that
/// seals TOTP secrets, the WebAuthn relying party, and the name authenticator apps show.
#[derive(Clone, Default)]
pub struct FactorSupport {
    /// Seals and opens TOTP secrets; `None` (no master key given): TOTP is unavailable.
    pub master_key: Option<std::sync::Arc<MasterKey>>,
    /// Passkeys' relying party; `None`: passkeys are unavailable (an issuer on an IP
    /// address without `webauthn_rp_id`).
    pub relying_party: Option<std::sync::Arc<tessera_factors::RelyingParty>>,
    /// The issuer's display name: the `issuer` of TOTP enrolment URIs.
    pub issuer_name: String,
}

/// The protocol app's state.
#[derive(Clone)]
pub struct OidcState {
    pub store: Store,
    pub keys: SharedKeySet,
    pub passwords: PasswordHasher,
    pub settings: OidcSettings,
    /// The issuer identifier, without a trailing slash.
    pub issuer: String,
    /// The custom claims scripts' engine and the key of their environment variables.
    pub scripts: ScriptRuntime,
    /// The `aud` values a client assertion may carry, built once from the settings.
    pub(crate) assertion_audience: AssertionAudience,
    /// DPoP nonces and whether they are required.
    pub(crate) dpop: crate::dpop::DpopSettings,
    /// This node's rate limiters, shared by its workers.
    pub(crate) limiters: std::sync::Arc<crate::rate_limit::Limiters>,
    /// Wakes this node's outbox runner once a queued job (a logout token) is committed.
    pub outbox_wake: tessera_outbound::Wake,
    /// Email verification and password recovery mail (docs/accounts.md); `None`: the
    /// pages that need mail are not available.
    pub accounts: Option<tessera_auth::AccountMail>,
    /// The guarded client that fetches Client ID Metadata Documents; `None` until
    /// `with_metadata_documents` gives it (then the setting decides whether it is used).
    pub(crate) metadata_documents: Option<tessera_outbound::OutboundClient>,
    /// Fetches what applications registered (`jwks_uri`, `request_uris`) through the
    /// outbound guard.
    pub(crate) fetcher: std::sync::Arc<tessera_outbound::DocumentFetcher>,
    /// Applications' keys fetched from their `jwks_uri`, kept within bounds.
    pub(crate) client_keys: std::sync::Arc<crate::client_keys::ClientKeys>,
    /// TOTP, passkeys and recovery codes (`with_factors`).
    pub factors: FactorSupport,
}

impl OidcState {
    pub fn new(store: Store, keys: SharedKeySet, passwords: PasswordHasher, settings: OidcSettings) -> OidcState {
        let fetcher =
            std::sync::Arc::new(tessera_outbound::DocumentFetcher::new(&tessera_outbound::OutboundSettings::default()));
        OidcState {
            store,
            keys,
            passwords,
            issuer: settings.issuer.clone(),
            assertion_audience: AssertionAudience::for_issuer(
                &settings.issuer,
                settings.private_key_jwt_legacy_audiences,
            ),
            dpop: crate::dpop::DpopSettings {
                // A key of this process until `with_dpop_nonce_key` gives the shared one.
                nonces: tessera_tokens::dpop::NonceKey::new(
                    &sha2::Sha256::digest(tessera_tokens::generate_secret().expose()).into(),
                ),
                nonce_required: settings.dpop_nonce_required,
            },
            limiters: std::sync::Arc::new(crate::rate_limit::Limiters::new(&settings.rate_limits)),
            settings,
            scripts: ScriptRuntime::default(),
            outbox_wake: tessera_outbound::Wake::default(),
            accounts: None,
            metadata_documents: None,
            client_keys: std::sync::Arc::new(crate::client_keys::ClientKeys::new(fetcher.clone())),
            fetcher,
            factors: FactorSupport::default(),
        }
    }

    /// Offers TOTP (secrets sealed with `master_key`) and, with a relying party, passkeys.
    pub fn with_factors(
        mut self,
        master_key: std::sync::Arc<MasterKey>,
        relying_party: Option<std::sync::Arc<tessera_factors::RelyingParty>>,
        issuer_name: &str,
    ) -> OidcState {
        self.factors =
            FactorSupport { master_key: Some(master_key), relying_party, issuer_name: issuer_name.to_owned() };
        self
    }

    /// Fetches Client ID Metadata Documents through `client` (the guarded outbound
    /// client, bounded to [`crate::registration::METADATA_DOCUMENT_MAX_BYTES`]).
    pub fn with_metadata_documents(mut self, client: tessera_outbound::OutboundClient) -> OidcState {
        self.metadata_documents = Some(client);
        self
    }

    /// Fetches applications' `jwks_uri` and `request_uris` within `settings` (where
    /// requests may go, how long they may take, how large an answer may be).
    pub fn with_outbound(mut self, settings: &tessera_outbound::OutboundSettings) -> OidcState {
        let fetcher = std::sync::Arc::new(tessera_outbound::DocumentFetcher::new(settings));
        self.client_keys = std::sync::Arc::new(crate::client_keys::ClientKeys::new(fetcher.clone()));
        self.fetcher = fetcher;
        self
    }

    /// Wakes `wake` when a request queued an outbox job (a back-channel logout token).
    pub fn with_outbox_wake(mut self, wake: tessera_outbound::Wake) -> OidcState {
        self.outbox_wake = wake;
        self
    }

    /// Sends account mail (verification, recovery) with `accounts`.
    pub fn with_account_mail(mut self, accounts: tessera_auth::AccountMail) -> OidcState {
        self.accounts = Some(accounts);
        self
    }

    /// Whether users with an unverified email address may finish signing in (the
    /// `unverified_sign_in` setting).
    pub(crate) fn unverified_sign_in(&self) -> bool {
        self.accounts.as_ref().is_none_or(|a| a.settings.unverified_sign_in)
    }

    /// Makes DPoP nonces with `key` (derived from the master key, so every node accepts
    /// the nonces of the others).
    pub fn with_dpop_nonce_key(mut self, key: &[u8; 32]) -> OidcState {
        self.dpop.nonces = tessera_tokens::dpop::NonceKey::new(key);
        self
    }

    /// Runs custom claims scripts with `engine`, letting them `fetch` what `fetch` allows
    /// and opening their variables with `master_key`.
    pub fn with_scripts(
        mut self,
        engine: tessera_claims::ScriptEngine,
        fetch: tessera_claims::FetchPolicy,
        master_key: std::sync::Arc<MasterKey>,
    ) -> OidcState {
        self.scripts = ScriptRuntime { engine, fetch, master_key: Some(master_key) };
        self
    }

    /// An absolute URL of this issuer.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }
}

/// The current time in unix seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
