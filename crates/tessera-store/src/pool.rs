//! The connection pool and the ways to run an operation, named for what they wrap it in:
//! [`Store::write_transaction`] and [`Store::read_transaction`] (one transaction), and
//! [`Store::write_statement`] and [`Store::read_statement`] (one statement, atomic by
//! itself, with no `BEGIN` and `COMMIT` on Postgres).
//!
//! Time limits: waiting for a pooled connection is bounded by
//! [`PoolOptions::connection_timeout`], opening one by [`PoolOptions::connect_timeout`],
//! and each statement by [`PoolOptions::statement_timeout`] (Postgres `statement_timeout`;
//! on SQLite the busy timeout, the longest a statement waits for another writer's lock).
//! A Postgres host that stops answering altogether is given up on by TCP
//! (`tcp_user_timeout` and keepalives, set on every connection).
//!
//! A connection the server has closed is never given out: each checkout first reads what
//! the server already sent, without a round trip (see [`Manager::is_valid`]), and a
//! connection found closed is dropped and replaced before the caller sees it.

use std::sync::Arc;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{self, ManageConnection, Pool, PooledConnection, R2D2Connection};

use crate::config::{self, Config, ConfigCache};
use crate::config_changes;
use crate::group_commit::{self, GroupCommit};
use crate::{AnyConnection, Backend, DatabaseUrl, StoreError, StoreResult};

/// How the pool is sized and how long a caller waits for a connection.
#[derive(Debug, Clone)]
pub struct PoolOptions {
    pub max_size: u32,
    /// The longest a caller waits for a pooled connection.
    pub connection_timeout: Duration,
    /// The longest one statement may run: Postgres `statement_timeout`; on SQLite the busy
    /// timeout (how long a statement waits for another writer's lock). Past it the
    /// statement fails as [`StoreError::Unavailable`].
    pub statement_timeout: Duration,
    /// The longest opening one connection may take (libpq's `connect_timeout`, in whole
    /// seconds and at least 2 there).
    pub connect_timeout: Duration,
    /// How often the in-memory configuration looks for changes made elsewhere (another
    /// node, the CLI); zero looks at every read.
    pub config_refresh_interval: Duration,
}

impl PoolOptions {
    /// Defaults sized to the machine: Postgres gets a few connections per core (requests
    /// block on I/O there); SQLite serialises writers anyway, so a handful suffices.
    pub fn for_backend(backend: Backend) -> Self {
        let cores = std::thread::available_parallelism().map(|n| n.get() as u32).unwrap_or(2);
        let max_size = match backend {
            Backend::Postgres => (cores * 4).clamp(4, 32),
            Backend::Sqlite => (cores * 2).clamp(2, 8),
        };
        PoolOptions {
            max_size,
            connection_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            config_refresh_interval: Duration::from_secs(1),
        }
    }
}

/// Opens connections of the backend the URL names, and no other. (The derived
/// `MultiConnection::establish` tries each backend in turn, which would turn a mistyped
/// Postgres URL into a new SQLite file.)
#[derive(Debug, Clone)]
pub struct Manager {
    url: DatabaseUrl,
    /// What libpq opens: the URL with the time limits added (see [`libpq_limits`]).
    libpq_url: Option<String>,
    statement_timeout_ms: u128,
}

/// How long TCP waits, on an idle connection, before it probes whether the server is
/// still there.
const KEEPALIVE_IDLE_SECS: u64 = 5;
/// Between two unanswered probes.
const KEEPALIVE_INTERVAL_SECS: u64 = 2;
/// Unanswered probes before the connection is given up.
const KEEPALIVE_COUNT: u64 = 3;

/// The libpq parameters Tessera adds to a Postgres URL that does not set them itself:
/// `connect_timeout` bounds opening a connection; `tcp_user_timeout` (sent data left
/// unacknowledged) and the keepalives (a silent server while we wait for an answer, or
/// behind an idle pooled connection) bound how long a host that vanished from the network
/// holds a request, instead of the system's TCP defaults (many minutes to hours).
fn libpq_limits(options: &PoolOptions) -> Vec<(&'static str, String)> {
    vec![
        ("connect_timeout", options.connect_timeout.as_secs().max(1).to_string()),
        ("tcp_user_timeout", options.statement_timeout.as_millis().max(1).to_string()),
        ("keepalives", "1".to_owned()),
        ("keepalives_idle", KEEPALIVE_IDLE_SECS.to_string()),
        ("keepalives_interval", KEEPALIVE_INTERVAL_SECS.to_string()),
        ("keepalives_count", KEEPALIVE_COUNT.to_string()),
    ]
}

impl Manager {
    fn new(url: &DatabaseUrl, options: &PoolOptions) -> Manager {
        Manager {
            url: url.clone(),
            libpq_url: url.postgres_with_defaults(&libpq_limits(options)),
            statement_timeout_ms: options.statement_timeout.as_millis().max(1),
        }
    }

    fn open(&self) -> Result<AnyConnection, diesel::ConnectionError> {
        let timeout = self.statement_timeout_ms;
        match &self.libpq_url {
            Some(url) => {
                let mut conn = diesel::PgConnection::establish(url)?;
                // Each statement of this session is cancelled by the server past the
                // limit (a lock never released, a stuck query); the store reports that as
                // unavailable.
                conn.batch_execute(&format!("SET statement_timeout = {timeout}"))
                    .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
                Ok(AnyConnection::Postgres(conn))
            }
            None => {
                let mut conn = diesel::SqliteConnection::establish(&self.url.connection_string())?;
                // The busy timeout first, so that switching to WAL waits for a lock
                // rather than failing (it is the statement timeout's analogue: a
                // statement waits this long for another writer's lock, then fails as
                // unavailable); WAL lets readers proceed while one writer commits; FULL
                // keeps every committed token on disk; foreign keys are off by default in
                // SQLite.
                conn.batch_execute(&format!(
                    "PRAGMA busy_timeout = {timeout}; PRAGMA journal_mode = WAL; \
                     PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;",
                ))
                .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
                Ok(AnyConnection::Sqlite(conn))
            }
        }
    }
}

/// Whether the server has closed this connection, found without a round trip: libpq
/// reads what has already arrived on the socket (`PQconsumeInput`, which diesel's
/// notification check calls) and reports a connection the server ended. A server that
/// ends a connection (a restart, `pg_terminate_backend`, a crash) sends its reason and
/// then closes: the first read takes the reason, the second finds the end. On a live
/// connection each read finds nothing and costs a system call, not a round trip.
fn closed_by_server(conn: &mut diesel::PgConnection) -> QueryResult<()> {
    for _ in 0..2 {
        if let Some(Err(error)) = conn.notifications_iter().next() {
            return Err(error);
        }
    }
    Ok(())
}

impl ManageConnection for Manager {
    type Connection = AnyConnection;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<AnyConnection, r2d2::Error> {
        self.open().map_err(r2d2::Error::ConnectionError)
    }

    /// Run at every checkout: a Postgres connection the server has closed is refused (r2d2
    /// then drops it and takes another or opens a new one), so no request is handed a dead
    /// connection after a database restart. No `SELECT 1`: that would be a round trip per
    /// request; this reads only what already arrived. A SQLite file does not go away.
    fn is_valid(&self, conn: &mut AnyConnection) -> Result<(), r2d2::Error> {
        match conn {
            AnyConnection::Postgres(pg) => closed_by_server(pg).map_err(r2d2::Error::QueryError),
            AnyConnection::Sqlite(_) => Ok(()),
        }
    }

    /// Run when a connection returns to the pool: one left inside a transaction, or whose
    /// transaction state is unknown (a statement failed because the connection broke), is
    /// dropped at once. A connection that failed in any other way and yet is closed is
    /// caught by [`Manager::is_valid`] at its next checkout.
    fn has_broken(&self, conn: &mut AnyConnection) -> bool {
        conn.is_broken()
    }
}

/// A pooled connection.
pub type Conn = PooledConnection<Manager>;

/// The database: a pool over one backend, and the configuration kept in memory. Cheap
/// to clone; clones share both.
#[derive(Clone)]
pub struct Store {
    pool: Pool<Manager>,
    backend: Backend,
    config: Arc<ConfigCache>,
    /// SQLite only: the connection every write goes through, committing in groups.
    writes: Option<Arc<GroupCommit>>,
    /// Opens connections as the pool does, for those outside it.
    opener: Arc<Manager>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("backend", &self.backend).finish_non_exhaustive()
    }
}

impl Store {
    /// Opens the database. A first connection is made directly so that an unreachable
    /// server or a wrong URL is reported with the database's own words.
    pub fn connect(url: &DatabaseUrl, options: &PoolOptions) -> StoreResult<Store> {
        if let DatabaseUrl::Sqlite(path) = url
            && let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
        {
            std::fs::create_dir_all(parent)
                .map_err(|e| StoreError::Unavailable(format!("cannot create {}: {e}", parent.display())))?;
        }
        let manager = Manager::new(url, options);
        let opener = Arc::new(manager.clone());
        let first = manager.open().map_err(|e| StoreError::Unavailable(e.to_string().trim().to_owned()))?;
        let writes = match first {
            AnyConnection::Sqlite(_) => {
                let writer = manager.open().map_err(|e| StoreError::Unavailable(e.to_string().trim().to_owned()))?;
                Some(Arc::new(GroupCommit::new(writer)))
            }
            AnyConnection::Postgres(_) => None,
        };
        let pool = Pool::builder()
            .max_size(options.max_size)
            .min_idle(Some(1))
            // Each checkout looks, without a round trip, whether the server closed the
            // connection (`Manager::is_valid`); a closed one is replaced before use. No
            // `SELECT 1`: that would be a round trip per request on Postgres.
            .test_on_check_out(true)
            .connection_timeout(options.connection_timeout)
            .error_handler(Box::new(LogErrors))
            .build_unchecked(manager);
        drop(first);
        let config = Arc::new(ConfigCache::new(options.config_refresh_interval));
        Ok(Store { pool, backend: url.backend(), config, writes, opener })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// A connection from the pool, for callers that manage their own transaction.
    pub fn conn(&self) -> StoreResult<Conn> {
        Ok(self.pool.get()?)
    }

    /// A connection of its own, outside the pool and without the statement timeout, for
    /// migrations: one may run longer than any request's statement, and a node waits on
    /// the migration lock for as long as another node migrates.
    pub fn unbounded_conn(&self) -> StoreResult<AnyConnection> {
        let mut conn = self.opener.open().map_err(|e| StoreError::Unavailable(e.to_string().trim().to_owned()))?;
        if let AnyConnection::Postgres(pg) = &mut conn {
            pg.batch_execute("SET statement_timeout = 0")?;
        }
        Ok(conn)
    }

    /// Checks that the database answers within `timeout` (for `/readyz`).
    pub fn ping(&self, timeout: Duration) -> StoreResult<()> {
        let mut conn = self.pool.get_timeout(timeout)?;
        conn.batch_execute("SELECT 1").map_err(|e| StoreError::Unavailable(e.to_string()))
    }

    /// Runs `f` in one write transaction: all of it commits or none of it does.
    ///
    /// On SQLite the group's transaction starts with `BEGIN IMMEDIATE`, taking the write
    /// lock at once: a deferred transaction that reads and then writes fails with
    /// `SQLITE_BUSY` when another writer committed in between, whatever the busy timeout.
    ///
    /// On SQLite every write goes through one connection that commits concurrent writes
    /// in groups (see [`crate::group_commit`]): one flush to disk for many writes, each
    /// still whole or not at all, and answered only once on disk.
    ///
    /// A committed transaction that changed configuration invalidates the in-memory copy.
    pub fn write_transaction<T>(&self, f: impl FnOnce(&mut AnyConnection) -> StoreResult<T>) -> StoreResult<T> {
        config_changes::take();
        let result = match &self.writes {
            // SQLite has one writer: a write inside a write would wait for itself.
            Some(_) if group_commit::in_group() => {
                Err(StoreError::Database("a write was started inside another write".into()))
            }
            Some(group) => group.write(f),
            None => {
                let mut conn = self.pool.get()?;
                conn.transaction(|c| f(c))
            }
        };
        if config_changes::take() && result.is_ok() {
            self.config.invalidate();
        }
        result
    }

    /// Runs `f`, a single statement that writes, as a transaction of its own: on
    /// Postgres without `BEGIN` and `COMMIT` around it (one statement is atomic by
    /// itself: one round trip instead of three); on SQLite in a group like any write.
    pub fn write_statement<T>(&self, f: impl FnOnce(&mut AnyConnection) -> StoreResult<T>) -> StoreResult<T> {
        match &self.writes {
            Some(_) => self.write_transaction(f),
            None => {
                config_changes::take();
                let mut conn = self.pool.get()?;
                let result = f(&mut conn);
                if config_changes::take() && result.is_ok() {
                    self.config.invalidate();
                }
                result
            }
        }
    }

    /// The configuration, from memory (see [`crate::config`]).
    pub fn config(&self) -> StoreResult<Arc<Config>> {
        self.config.get(
            || self.read_transaction(|c| Config::load(c, config::now())),
            || self.read_statement(config::current_version),
        )
    }

    /// The configuration from memory if it can be had without I/O: loaded, with no
    /// change of this process since, and not due for a look at the database. `None`
    /// otherwise: call [`Store::config`] where blocking is fine.
    pub fn config_if_current(&self) -> Option<Arc<Config>> {
        self.config.current()
    }

    /// How often [`Store::config`] looks for changes made elsewhere.
    pub fn set_config_refresh_interval(&self, interval: Duration) {
        self.config.set_refresh_interval(interval);
    }

    /// Runs `f` on a pooled connection without a transaction: for a single statement
    /// (atomic and consistent by itself), or reads that need no one snapshot across their
    /// statements. `BEGIN` and `COMMIT` around it would be two more round trips on
    /// Postgres.
    pub fn read_statement<T>(&self, f: impl FnOnce(&mut AnyConnection) -> StoreResult<T>) -> StoreResult<T> {
        let mut conn = self.pool.get()?;
        f(&mut conn)
    }

    /// Runs `f` in one read transaction (a consistent view across its queries).
    pub fn read_transaction<T>(&self, f: impl FnOnce(&mut AnyConnection) -> StoreResult<T>) -> StoreResult<T> {
        let mut conn = self.pool.get()?;
        conn.transaction(|c| f(c))
    }
}

#[derive(Debug)]
struct LogErrors;

impl<E: std::fmt::Display> r2d2::HandleError<E> for LogErrors {
    fn handle_error(&self, error: E) {
        tracing::warn!(%error, "database connection failed or was found closed");
    }
}
