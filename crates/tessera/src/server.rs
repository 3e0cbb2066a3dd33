//! The HTTP server: one actix-web app serving the protocol endpoints (and, as they land,
//! the admin console and management API), with request tracing and graceful shutdown.

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServerHandle, ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderValue, RETRY_AFTER};
use actix_web::middleware::{Condition, DefaultHeaders, Next};
use actix_web::{App, HttpServer, web};
use tessera_store::Store;
use tessera_tokens::{MasterKey, PasswordHasher, SharedKeySet};
use tracing_actix_web::TracingLogger;

use crate::Fatal;
use crate::bootstrap::{self, BootstrapAdmin};
use crate::keys;
use crate::settings::Settings;

/// Everything a node needs to serve, built once at start.
pub struct Prepared {
    pub store: Store,
    pub master_key: Arc<MasterKey>,
    pub password_hasher: PasswordHasher,
    /// What registration, the management API and the console accept as a password.
    pub password_policy: tessera_auth::PasswordPolicy,
    pub keys: SharedKeySet,
    /// The protocol app's settings.
    pub oidc: tessera_oidc::OidcSettings,
    /// The first administrator's credentials when this start created them.
    pub bootstrap_admin: Option<BootstrapAdmin>,
    key_activation_delay: i64,
    key_refresh_interval: std::time::Duration,
    admin_session_idle_timeout: i64,
    admin_session_absolute_timeout: i64,
    /// The custom claims scripts' engine, shared by the token endpoint and the console.
    pub scripts: tessera_claims::ScriptEngine,
    /// Where scripts may `fetch`.
    pub script_fetch: tessera_claims::FetchPolicy,
    /// Where mail goes (docs/mail.md).
    pub mail: tessera_mail::MailSettings,
    /// Wakes this node's outbox runner (mail, logout tokens) when a job was queued.
    pub mail_wake: tessera_mail::Wake,
    /// Where outbound requests may go (back-channel logout URIs).
    pub outbound: tessera_outbound::OutboundSettings,
    /// How often the outbox runner looks for jobs other nodes queued.
    outbox_poll_interval: std::time::Duration,
    /// When logout token deliveries are retried and given up.
    backchannel_logout_retry: tessera_outbound::RetryPolicy,
    /// Email verification and password recovery (docs/accounts.md).
    pub accounts: tessera_auth::AccountSettings,
    /// Whose `X-Forwarded-For` names the client.
    pub trusted_proxies: crate::proxy::TrustedProxies,
    /// Passkeys' relying party; `None` when the issuer cannot be one (an IP address).
    pub relying_party: Option<Arc<tessera_factors::RelyingParty>>,
    /// Set to stop the background tasks.
    stop: Arc<AtomicBool>,
}

impl Prepared {
    /// Starts the background tasks (key reloading, and the outbox runner that delivers
    /// mail and logout tokens); they run until [`Prepared::stop`].
    pub fn start_background_tasks(&self) {
        let mut runner = tessera_outbound::Runner::new(self.store.clone());
        match tessera_mail::Delivery::new(self.store.clone(), self.master_key.clone(), self.mail.clone()) {
            Ok(delivery) => runner = runner.with(delivery),
            Err(error) => tracing::error!(%error, "mail delivery cannot start; messages stay queued"),
        }
        match tessera_outbound::LogoutDelivery::new(
            self.store.clone(),
            self.keys.clone(),
            &self.oidc.issuer,
            &self.outbound,
        ) {
            Ok(logout) => runner = runner.with(logout.with_policy(self.backchannel_logout_retry)),
            Err(error) => tracing::error!(%error, "back-channel logout cannot start; logout tokens stay queued"),
        }
        runner.spawn(self.mail_wake.clone(), self.stop.clone(), self.outbox_poll_interval);
        keys::spawn_refresher(
            self.store.clone(),
            self.master_key.clone(),
            self.keys.clone(),
            self.key_activation_delay,
            self.key_refresh_interval,
            self.stop.clone(),
        );
    }

    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Opens and migrates the database (waiting up to `database_startup_wait` for one that
/// does not answer yet), settles the master key and bootstraps the first administrator.
/// Blocking: call before the server starts.
pub fn prepare(settings: &Settings) -> Result<Prepared, Fatal> {
    let store = bootstrap::open_store_waiting(settings)?;
    let applied = bootstrap::migrate(&store)?;
    if !applied.is_empty() {
        tracing::info!(count = applied.len(), "applied database migrations");
    }
    let master_key = bootstrap::master_key(settings, &store)?;
    let password_hasher =
        PasswordHasher::new(settings.password_params).map_err(|e| Fatal(format!("argon2_memory_kib: {e}")))?;
    let bootstrap_admin = bootstrap::bootstrap_admin(&store, &password_hasher)?;
    let now = crate::now();
    let key_failure = |e: keys::KeyManagementError| Fatal(format!("signing keys: {e}"));
    let created = keys::ensure_signing_keys(&store, &master_key, now).map_err(key_failure)?;
    if !created.is_empty() {
        tracing::info!(count = created.len(), "generated signing keys");
    }
    keys::advance(&store, settings.key_activation_delay, now).map_err(key_failure)?;
    if settings.private_key_jwt_legacy_audiences {
        tracing::warn!(
            "private_key_jwt_legacy_audiences is on: client assertions may name endpoint URLs or several audiences, \
             which draft-ietf-oauth-rfc7523bis forbids (audience injection); turn it off once clients use the issuer"
        );
    }
    let keys = SharedKeySet::new(keys::load(&store, &master_key, now).map_err(key_failure)?);
    let relying_party = match settings.webauthn.relying_party(settings.issuer.as_str(), &settings.mail.issuer_name) {
        Ok(party) => Some(Arc::new(party)),
        Err(error) => {
            tracing::warn!(%error, "passkeys are unavailable (docs/authentication.md)");
            None
        }
    };
    match &settings.mail.transport {
        tessera_mail::Transport::Smtp(smtp) => {
            tracing::info!(host = %smtp.host, port = smtp.port, security = ?smtp.security, "mail goes through SMTP")
        }
        tessera_mail::Transport::Files(folder) => tracing::info!(
            folder = %folder.display(),
            "no smtp_url: mail is logged and written to files (docs/mail.md)"
        ),
    }
    Ok(Prepared {
        relying_party,
        store,
        master_key: Arc::new(master_key),
        password_hasher,
        password_policy: settings.password_policy.clone(),
        keys,
        oidc: tessera_oidc::OidcSettings {
            registration_enabled: settings.registration_enabled,
            account_self_deletion: settings.account_self_deletion,
            private_key_jwt_legacy_audiences: settings.private_key_jwt_legacy_audiences,
            dpop_nonce_required: settings.dpop_nonce_required,
            password_policy: settings.password_policy.clone(),
            rate_limits: settings.rate_limits,
            client_registration: settings.client_registration.clone(),
            sign_in_policy: settings.sign_in_policy,
            ..tessera_oidc::OidcSettings::new(settings.issuer.as_str())
        },
        bootstrap_admin,
        key_activation_delay: settings.key_activation_delay,
        admin_session_idle_timeout: settings.admin_session_idle_timeout,
        admin_session_absolute_timeout: settings.admin_session_absolute_timeout,
        scripts: tessera_claims::ScriptEngine::new(settings.script_limits.clone()),
        script_fetch: settings.script_fetch.clone(),
        key_refresh_interval: settings.key_refresh_interval,
        mail: settings.mail.clone(),
        mail_wake: tessera_mail::Wake::default(),
        outbound: settings.outbound.clone(),
        outbox_poll_interval: settings.outbox_poll_interval,
        backchannel_logout_retry: settings.backchannel_logout_retry,
        accounts: settings.accounts,
        trusted_proxies: settings.trusted_proxies.clone(),
        stop: Arc::new(AtomicBool::new(false)),
    })
}

/// The `Retry-After` of a 503, in seconds: about how long a database restart takes to be
/// noticed and its connections replaced.
pub const RETRY_AFTER_SECONDS: u64 = 5;

/// RFC 9110 §10.2.3: a 503 says when to try again. Tessera answers 503 when its database
/// is away (the protocol endpoints' `temporarily_unavailable`, the pages' and console's
/// error pages, the management API's `unavailable`, `/readyz`): every one of them gets
/// `Retry-After` here, in one place, unless it set its own.
async fn retry_after(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let mut response = next.call(request).await?;
    if response.status() == StatusCode::SERVICE_UNAVAILABLE && !response.headers().contains_key(RETRY_AFTER) {
        response.headers_mut().insert(RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
    }
    Ok(response)
}

/// Starts serving on `listener`. The returned server runs until stopped through its
/// handle or by SIGTERM/SIGINT, finishing requests in flight first.
pub fn start(prepared: &Prepared, listener: TcpListener) -> Result<Server, Fatal> {
    let store = web::Data::new(prepared.store.clone());
    let keys = web::Data::new(prepared.keys.clone());
    let account_mail = tessera_auth::AccountMail {
        issuer: prepared.oidc.issuer.clone(),
        issuer_name: prepared.mail.issuer_name.clone(),
        master_key: prepared.master_key.clone(),
        wake: prepared.mail_wake.clone(),
        settings: prepared.accounts,
    };
    // Client ID Metadata Documents go through the guarded client, with a small answer.
    let metadata_documents = tessera_outbound::OutboundClient::new(&tessera_outbound::OutboundSettings {
        max_response_bytes: tessera_oidc::METADATA_DOCUMENT_MAX_BYTES,
        ..prepared.outbound.clone()
    })
    .map_err(|e| Fatal(format!("outbound client: {e}")))?;
    let oidc = web::Data::new(
        tessera_oidc::OidcState::new(
            prepared.store.clone(),
            prepared.keys.clone(),
            prepared.password_hasher.clone(),
            prepared.oidc.clone(),
        )
        .with_scripts(prepared.scripts.clone(), prepared.script_fetch.clone(), prepared.master_key.clone())
        .with_dpop_nonce_key(&prepared.master_key.derive("dpop nonce"))
        .with_outbox_wake(prepared.mail_wake.clone())
        .with_outbound(&prepared.outbound)
        .with_account_mail(account_mail.clone())
        .with_factors(prepared.master_key.clone(), prepared.relying_party.clone(), &prepared.mail.issuer_name)
        .with_metadata_documents(metadata_documents),
    );
    let account_mail = web::Data::new(account_mail);
    let discovery = web::Data::new(tessera_oidc::DiscoveryCache::default());
    let token_signing = web::Data::new(tessera_admin::api::TokenSigning {
        keys: prepared.keys.clone(),
        issuer: prepared.oidc.issuer.clone(),
    });
    let password_hasher = web::Data::new(prepared.password_hasher.clone());
    let password_policy = web::Data::new(prepared.password_policy.clone());
    let console = web::Data::new(tessera_admin::console::ConsoleSettings {
        secure_cookies: prepared.oidc.secure_cookies(),
        idle_timeout: prepared.admin_session_idle_timeout,
        absolute_timeout: prepared.admin_session_absolute_timeout,
    });
    let script_support = web::Data::new(tessera_admin::api::ScriptSupport {
        engine: prepared.scripts.clone(),
        master_key: prepared.master_key.clone(),
    });
    let session_policy =
        web::Data::new(tessera_admin::api::BrowserSessionPolicy { idle_timeout: prepared.oidc.session_idle_timeout });
    let outbox_wake = {
        let wake = prepared.mail_wake.clone();
        web::Data::new(tessera_admin::api::OutboxWake(Arc::new(move || wake.notify())))
    };
    let rotation = {
        let (store, master_key) = (prepared.store.clone(), prepared.master_key.clone());
        web::Data::new(tessera_admin::console::KeyRotation(Arc::new(move |alg, now_active, actor: &str| {
            keys::rotate(&store, &master_key, alg, now_active, actor, crate::now()).map_err(|e| e.to_string())
        })))
    };
    // RFC 6797: with an https issuer, browsers must not come back over plain http.
    let hsts = prepared.oidc.secure_cookies();
    let trusted_proxies = web::Data::new(prepared.trusted_proxies.clone());
    // Where Tessera may fetch from: the management API and console refuse a jwks_uri or
    // request_uri the outbound guard would refuse.
    let outbound_hosts = web::Data::new(prepared.outbound.private_hosts.clone());
    let address = listener.local_addr().map_err(|e| Fatal(format!("bind: {e}")))?;
    let server = HttpServer::new(move || {
        App::new()
            .wrap(actix_web::middleware::from_fn(retry_after))
            .wrap(Condition::new(
                hsts,
                DefaultHeaders::new().add(("Strict-Transport-Security", "max-age=31536000; includeSubDomains")),
            ))
            .wrap(actix_web::middleware::from_fn(crate::body_deadline::read_within_deadline))
            .wrap(TracingLogger::<crate::request_log::PeerRootSpan>::new())
            // Outermost: the request log and every handler see the client's address.
            .wrap(actix_web::middleware::from_fn(crate::proxy::client_address))
            .app_data(trusted_proxies.clone())
            .app_data(store.clone())
            .app_data(keys.clone())
            .app_data(oidc.clone())
            .app_data(discovery.clone())
            .app_data(token_signing.clone())
            .configure(tessera_oidc::configure)
            .app_data(password_hasher.clone())
            .app_data(password_policy.clone())
            .app_data(console.clone())
            .app_data(rotation.clone())
            .app_data(script_support.clone())
            .app_data(session_policy.clone())
            .app_data(outbox_wake.clone())
            .app_data(account_mail.clone())
            .app_data(outbound_hosts.clone())
            .configure(tessera_admin::api::configure)
            .configure(tessera_admin::console::configure)
    })
    .shutdown_timeout(30)
    .listen(listener)
    .map_err(|e| Fatal(format!("bind: cannot listen on {address}: {e}")))?
    .run();
    Ok(server)
}

/// Binds the configured address.
pub fn bind(settings: &Settings) -> Result<TcpListener, Fatal> {
    TcpListener::bind(settings.bind).map_err(|e| Fatal(format!("bind: cannot listen on {}: {e}", settings.bind)))
}

/// A server running on its own thread, for tests and embedding.
pub struct RunningServer {
    pub address: std::net::SocketAddr,
    pub handle: ServerHandle,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RunningServer {
    /// Stops the server gracefully and waits for its thread.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(thread) = self.thread.take() {
            let handle = self.handle.clone();
            let stopper = std::thread::spawn(move || actix_web::rt::System::new().block_on(handle.stop(true)));
            let _ = stopper.join();
            let _ = thread.join();
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Starts a prepared server on `listener` on a new thread with its own runtime.
pub fn spawn(prepared: Prepared, listener: TcpListener) -> Result<RunningServer, Fatal> {
    let address = listener.local_addr().map_err(|e| Fatal(format!("bind: {e}")))?;
    let (sender, receiver) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        prepared.start_background_tasks();
        actix_web::rt::System::new().block_on(async move {
            match start(&prepared, listener) {
                Ok(server) => {
                    let _ = sender.send(Ok(server.handle()));
                    let _ = server.await;
                    prepared.stop();
                }
                Err(e) => {
                    prepared.stop();
                    let _ = sender.send(Err(e));
                }
            }
        });
    });
    let handle = receiver.recv().map_err(|_| Fatal("the server thread stopped before starting".into()))??;
    Ok(RunningServer { address, handle, thread: Some(thread) })
}
