//! Migrations, embedded in the binary and applied at start (and by `tessera migrate`).

use diesel::connection::SimpleConnection;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::{AnyConnection, StoreError, StoreResult};

const POSTGRES: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");
pub(crate) const SQLITE: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");

/// Serialises migrations and seeding between nodes starting at once on one Postgres.
const POSTGRES_LOCK: i64 = 0x0074_6573_7365_7261; // "tessera"

/// What a migration run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MigrationReport {
    /// Versions applied by this run, oldest first; empty when the schema was current.
    pub applied: Vec<String>,
}

/// Applies every pending migration, then seeds the standard data. Running it again
/// changes nothing.
pub fn migrate(conn: &mut AnyConnection, now: i64) -> StoreResult<MigrationReport> {
    let postgres = matches!(conn, AnyConnection::Postgres(_));
    if postgres {
        conn.batch_execute(&format!("SELECT pg_advisory_lock({POSTGRES_LOCK})"))?;
    }
    let result = match conn {
        AnyConnection::Postgres(pg) => run(pg, POSTGRES),
        AnyConnection::Sqlite(sqlite) => run(sqlite, SQLITE),
    }
    .and_then(|report| {
        diesel::Connection::transaction(conn, |c| crate::seed::seed_standard_data(c, now))?;
        Ok(report)
    });
    if postgres {
        conn.batch_execute(&format!("SELECT pg_advisory_unlock({POSTGRES_LOCK})"))?;
    }
    result
}

fn run<C>(conn: &mut C, migrations: EmbeddedMigrations) -> StoreResult<MigrationReport>
where
    C: MigrationHarness<C::Backend> + diesel::Connection,
{
    let applied =
        conn.run_pending_migrations(migrations).map_err(|e| StoreError::Database(format!("migration failed: {e}")))?;
    Ok(MigrationReport { applied: applied.into_iter().map(|v| v.to_string()).collect() })
}
