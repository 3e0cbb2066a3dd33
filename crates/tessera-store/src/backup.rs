//! Backups of an embedded (SQLite) database: a consistent copy taken while the server
//! runs, and a look at a copy (is it whole, which schema version is it). PostgreSQL is
//! backed up with its own tools (`pg_dump`), not through the store.

use std::path::Path;

use diesel::connection::SimpleConnection;
use diesel::migration::MigrationSource;
use diesel::prelude::*;
use diesel::sql_types::Text;
use diesel::sqlite::Sqlite;

use crate::{AnyConnection, StoreError, StoreResult};

/// Writes a consistent, compacted copy of the SQLite database behind `conn` into
/// `target`, which must not exist or be an empty file (its permissions are kept).
///
/// `VACUUM INTO` (SQLite 3.27) reads the database in one read transaction: in WAL mode
/// it neither waits for nor blocks the server's writers, and the copy is the database as
/// of one commit. The copy is in rollback-journal mode; a server opening it switches it
/// to WAL.
pub fn sqlite_copy_into(conn: &mut AnyConnection, target: &Path) -> StoreResult<()> {
    let AnyConnection::Sqlite(sqlite) = conn else {
        return Err(StoreError::Database("a copy with VACUUM INTO is for SQLite only".into()));
    };
    let target =
        target.to_str().ok_or_else(|| StoreError::Database(format!("{} is not a UTF-8 path", target.display())))?;
    diesel::sql_query("VACUUM INTO ?").bind::<Text, _>(target).execute(sqlite)?;
    Ok(())
}

/// What a SQLite database file is, as found by [`inspect_sqlite`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteFile {
    /// `PRAGMA integrity_check`: `ok`, or the first problem it found.
    pub integrity: String,
    /// Migration versions applied to it, oldest first.
    pub applied: Vec<String>,
    /// Versions it has that this build does not know (a database of a newer Tessera).
    pub unknown: Vec<String>,
    /// Versions this build knows that it lacks (applied when a server starts on it).
    pub pending: usize,
}

impl SqliteFile {
    /// Whole, a Tessera database, and of a schema this build can run (now or after its
    /// pending migrations).
    pub fn usable(&self) -> bool {
        self.integrity == "ok" && !self.applied.is_empty() && self.unknown.is_empty()
    }
}

#[derive(QueryableByName)]
struct Check {
    #[diesel(sql_type = Text)]
    integrity_check: String,
}

#[derive(QueryableByName)]
struct Version {
    #[diesel(sql_type = Text)]
    version: String,
}

/// Opens the SQLite file at `path` (which must exist) on a connection of its own, without
/// changing its journal mode, and checks it: every page (`PRAGMA integrity_check`) and
/// the migrations applied, compared with those this build embeds.
pub fn inspect_sqlite(path: &Path) -> StoreResult<SqliteFile> {
    let AnyConnection::Sqlite(mut conn) = open_sqlite_file(path)? else {
        return Err(StoreError::Database("not a SQLite connection".into()));
    };
    conn.batch_execute("PRAGMA query_only = ON")?;
    let checks: Vec<Check> = diesel::sql_query("PRAGMA integrity_check").load(&mut conn)?;
    let integrity = match checks.first() {
        Some(first) => first.integrity_check.clone(),
        None => "no answer".to_owned(),
    };
    let has_migrations: Vec<Version> = diesel::sql_query(
        "SELECT name AS version FROM sqlite_master WHERE type = 'table' AND name = '__diesel_schema_migrations'",
    )
    .load(&mut conn)?;
    let applied: Vec<String> = if has_migrations.is_empty() {
        Vec::new()
    } else {
        diesel::sql_query("SELECT version FROM __diesel_schema_migrations ORDER BY version")
            .load::<Version>(&mut conn)?
            .into_iter()
            .map(|v| v.version)
            .collect()
    };
    let known = known_sqlite_versions()?;
    let unknown = applied.iter().filter(|v| !known.contains(v)).cloned().collect();
    let pending = known.iter().filter(|v| !applied.contains(v)).count();
    Ok(SqliteFile { integrity, applied, unknown, pending })
}

/// The versions of the SQLite migrations embedded in this build.
fn known_sqlite_versions() -> StoreResult<Vec<String>> {
    let migrations = MigrationSource::<Sqlite>::migrations(&crate::migrate::SQLITE)
        .map_err(|e| StoreError::Database(format!("reading the embedded migrations: {e}")))?;
    Ok(migrations.iter().map(|m| m.name().version().to_string()).collect())
}

/// Opens the SQLite file at `path` (which must exist) as it is: no change of its journal
/// mode; waiting up to 5 s for a lock another connection holds for a moment (a closing
/// connection's checkpoint). For reading a backup before it is restored.
pub fn open_sqlite_file(path: &Path) -> StoreResult<AnyConnection> {
    if !path.is_file() {
        return Err(StoreError::Database(format!("{} is not a file", path.display())));
    }
    let name = path.to_str().ok_or_else(|| StoreError::Database(format!("{} is not a UTF-8 path", path.display())))?;
    let mut conn = diesel::SqliteConnection::establish(name)
        .map_err(|e| StoreError::Unavailable(format!("cannot open {}: {e}", path.display())))?;
    conn.batch_execute("PRAGMA busy_timeout = 5000")?;
    Ok(AnyConnection::Sqlite(conn))
}

#[derive(QueryableByName)]
struct JournalMode {
    #[diesel(sql_type = Text)]
    journal_mode: String,
}

/// Whether no other connection has the SQLite database at `path` open, found by taking
/// it out of WAL mode without waiting: that needs the exclusive lock, which every open
/// WAL connection (a running node's) prevents by holding a shared lock for as long as it
/// is open. When it succeeds the WAL has been checkpointed into the file and removed.
/// `Err` gives the database's reason when it is in use.
pub fn sqlite_not_in_use(path: &Path) -> StoreResult<()> {
    let AnyConnection::Sqlite(mut conn) = open_sqlite_file(path)? else {
        return Err(StoreError::Database("not a SQLite connection".into()));
    };
    conn.batch_execute("PRAGMA busy_timeout = 0")?;
    let mode: Vec<JournalMode> = diesel::sql_query("PRAGMA journal_mode = DELETE")
        .load(&mut conn)
        .map_err(|e| StoreError::Unavailable(e.to_string()))?;
    match mode.first().map(|m| m.journal_mode.to_ascii_lowercase()) {
        Some(mode) if mode == "delete" => Ok(()),
        other => Err(StoreError::Unavailable(format!(
            "it stays in journal mode {} (another connection has it open)",
            other.unwrap_or_default()
        ))),
    }
}
