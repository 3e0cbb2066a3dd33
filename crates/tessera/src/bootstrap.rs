//! What a node does before serving: open and migrate the database, settle the master
//! key, and create the first administrator of an empty installation.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;
use tessera_store::audit::{self, NewAuditEvent};
use tessera_store::organizations::{self, ADMIN_ROLE};
use tessera_store::users::{self, NewUser};
use tessera_store::{Backend, Store, StoreError, instance};
use tessera_tokens::{MasterKey, PasswordHasher, generate_secret};

use crate::Fatal;
use crate::settings::Settings;

/// The master key file of an embedded installation, inside `data_dir`.
pub const MASTER_KEY_FILE: &str = "master.key";

/// Opens the database named by `database_url`, with one clear line when it cannot.
pub fn open_store(settings: &Settings) -> Result<Store, Fatal> {
    Store::connect(&settings.database_url, &settings.pool)
        .map_err(|e| Fatal(format!("database_url: cannot open {}: {}", settings.database_url, reason(&e))))
}

/// The first pause between two attempts of [`open_store_waiting`]; each pause doubles.
const FIRST_PAUSE: Duration = Duration::from_millis(250);
/// The longest pause between two attempts.
const LONGEST_PAUSE: Duration = Duration::from_secs(5);

/// Opens the database for `serve`. A PostgreSQL server that does not answer yet (starting
/// with the node, restarting, unreachable for a moment) is tried again, with pauses
/// doubling from 250 ms to 5 s, for up to `database_startup_wait`; each failed attempt is
/// logged with its reason. Then the start fails as [`open_store`] does. A SQLite file that
/// cannot be opened will not open later: that fails at once.
pub fn open_store_waiting(settings: &Settings) -> Result<Store, Fatal> {
    let started = Instant::now();
    let deadline = started + settings.database_startup_wait;
    let mut pause = FIRST_PAUSE;
    let mut attempt: u32 = 1;
    loop {
        let error = match Store::connect(&settings.database_url, &settings.pool) {
            Ok(store) => {
                if attempt > 1 {
                    tracing::info!(attempt, waited_ms = elapsed_ms(started), "the database answers");
                }
                return Ok(store);
            }
            Err(error) => error,
        };
        let left = deadline.saturating_duration_since(Instant::now());
        let waiting =
            matches!(error, StoreError::Unavailable(_)) && settings.database_url.backend() == Backend::Postgres;
        if !waiting || left.is_zero() {
            let gave_up = if attempt > 1 {
                format!(" (gave up after {attempt} attempts in {} ms)", elapsed_ms(started))
            } else {
                String::new()
            };
            return Err(Fatal(format!(
                "database_url: cannot open {}: {}{gave_up}",
                settings.database_url,
                reason(&error)
            )));
        }
        let wait = pause.min(left);
        tracing::warn!(
            attempt,
            reason = %reason(&error),
            retry_in_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
            gives_up_in_ms = u64::try_from(left.as_millis()).unwrap_or(u64::MAX),
            "the database does not answer yet; waiting for it (database_startup_wait)"
        );
        std::thread::sleep(wait);
        pause = (pause * 2).min(LONGEST_PAUSE);
        attempt += 1;
    }
}

fn elapsed_ms(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Applies pending migrations and seeds the standard data; returns the versions applied.
/// On a connection without the statement timeout: a migration may take longer, and so
/// may the wait for another node's.
pub fn migrate(store: &Store) -> Result<Vec<String>, Fatal> {
    let now = crate::now();
    let mut conn = store.unbounded_conn().map_err(|e| Fatal(format!("database_url: {}", reason(&e))))?;
    tessera_store::migrate(&mut conn, now)
        .map(|report| report.applied)
        .map_err(|e| Fatal(format!("migrating the database failed: {}", reason(&e))))
}

fn reason(e: &StoreError) -> String {
    match e {
        StoreError::Unavailable(why) | StoreError::Database(why) => why.clone(),
        other => other.to_string(),
    }
}

/// The master key: the configured one, else (embedded installations only) the one in
/// `data_dir/master.key`, generated there at first start. It must be the key the
/// database was set up with.
pub fn master_key(settings: &Settings, store: &Store) -> Result<MasterKey, Fatal> {
    let key = match &settings.master_key {
        Some(key) => MasterKey::from_base64(key.to_base64()).map_err(|e| Fatal(format!("master_key: {e}")))?,
        None => key_from_data_dir(&settings.data_dir, store.backend())?,
    };
    let check = store
        .read_transaction(instance::master_key_check)
        .map_err(|e| Fatal(format!("database_url: {}", reason(&e))))?;
    match check {
        Some(check) if key.verify_check(&check) => Ok(key),
        Some(_) => Err(Fatal(
            "master_key: this is not the master key this database was set up with; \
             every node must be given the same key"
                .into(),
        )),
        None => {
            let check = key.check_value().map_err(|e| Fatal(format!("master_key: {e}")))?;
            match store.write_transaction(|c| instance::initialise(c, &check, crate::now())) {
                Ok(()) => Ok(key),
                // Another node initialised the installation at the same moment.
                Err(StoreError::Conflict { .. }) => master_key(settings, store),
                Err(e) => Err(Fatal(format!("database_url: {}", reason(&e)))),
            }
        }
    }
}

fn key_from_data_dir(data_dir: &Path, backend: Backend) -> Result<MasterKey, Fatal> {
    let path = data_dir.join(MASTER_KEY_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => MasterKey::from_base64(&text).map_err(|e| Fatal(format!("master_key: {}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if backend == Backend::Postgres {
                return Err(Fatal(
                    "master_key: not set. With Postgres every node must share one master key: \
                     create one with `tessera config generate-master-key` and set it as TESSERA_MASTER_KEY"
                        .into(),
                ));
            }
            let key = MasterKey::generate().map_err(|e| Fatal(format!("master_key: {e}")))?;
            write_key_file(&path, &key)
                .map_err(|e| Fatal(format!("data_dir: cannot write {}: {e}", path.display())))?;
            tracing::info!(path = %path.display(), "generated a new master key; back it up with the database");
            Ok(key)
        }
        Err(e) => Err(Fatal(format!("master_key: cannot read {}: {e}", path.display()))),
    }
}

fn write_key_file(path: &Path, key: &MasterKey) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    writeln!(file, "{}", key.to_base64())?;
    file.sync_all()
}

/// The first administrator, created when the installation has no user at all.
#[derive(Debug)]
pub struct BootstrapAdmin {
    pub username: String,
    pub password: String,
}

/// Creates `admin` with a random password and the admin role if there are no users.
/// Returns the credentials to print once, or `None` when users exist (or another node
/// created the administrator at the same moment).
pub fn bootstrap_admin(store: &Store, hasher: &PasswordHasher) -> Result<Option<BootstrapAdmin>, Fatal> {
    let fail = |e: StoreError| Fatal(format!("creating the first administrator failed: {}", reason(&e)));
    if store.read_transaction(users::count).map_err(fail)? > 0 {
        return Ok(None);
    }
    let password = generate_secret().expose().to_owned();
    let hash = hasher.hash(&password).map_err(|e| Fatal(format!("hashing the administrator password: {e}")))?;
    let now = crate::now();
    let created = store.write_transaction(|c| {
        if users::count(c)? > 0 {
            return Ok(None);
        }
        let new = NewUser { username: "admin".into(), password_hash: Some(hash.clone()), ..Default::default() };
        let user = users::create(c, &new, now)?;
        let role = organizations::find_role_by_name(c, ADMIN_ROLE)?.ok_or(StoreError::not_found("role"))?;
        users::add_role(c, &user.id, &role.id)?;
        audit::record(
            c,
            &NewAuditEvent {
                actor: "system",
                action: "user.bootstrap_admin",
                target: &format!("user:{}", user.id),
                summary: json!({ "username": user.username, "roles": [ADMIN_ROLE] }),
                client_ip: None,
            },
            now,
        )?;
        Ok(Some(user))
    });
    match created {
        Ok(Some(user)) => Ok(Some(BootstrapAdmin { username: user.username, password })),
        Ok(None) | Err(StoreError::Conflict { .. }) => Ok(None),
        Err(e) => Err(fail(e)),
    }
}
