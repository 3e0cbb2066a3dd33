//! The outbox: background jobs kept in the database, so a job survives a restart and
//! any node can run it. A job has a `kind` (`mail`; back-channel logout will add its
//! own) and a payload the kind's worker understands; the store neither reads nor
//! decides what the payload says.
//!
//! A worker [`claim`]s due jobs of one kind in one statement, atomically: on Postgres
//! the rows are chosen `FOR UPDATE SKIP LOCKED`, so workers on several nodes take
//! disjoint sets without waiting on each other; on SQLite the one statement runs in the
//! single writer's transaction. A claim holds until `claimed_until`; a worker that died
//! with a claim leaves it to expire, and another worker takes the job again (so a job is
//! run at least once, and exactly once unless a worker dies between running it and
//! [`complete`]). Claiming counts an attempt. A job that failed waits for the time its
//! worker gives ([`retry_later`]), or is given up ([`give_up`]).

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};

use crate::prepared::{Bind, Fixed};
use crate::schema::outbox;
use crate::{AnyConnection, StoreResult};

/// A job as claimed.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct Job {
    #[diesel(sql_type = Text)]
    pub id: String,
    #[diesel(sql_type = Text)]
    pub kind: String,
    #[diesel(sql_type = Text)]
    pub payload: String,
    /// Claims so far, this one included.
    #[diesel(sql_type = BigInt)]
    pub attempts: i64,
    /// Why the previous attempt failed.
    #[diesel(sql_type = Nullable<Text>)]
    pub last_error: Option<String>,
    #[diesel(sql_type = BigInt)]
    pub created_at: i64,
}

/// Stores a job of `kind`, due at once. Returns its id.
pub fn enqueue(conn: &mut AnyConnection, kind: &str, payload: &str, now: i64) -> StoreResult<String> {
    let id = crate::new_id();
    diesel::insert_into(outbox::table)
        .values((
            outbox::id.eq(&id),
            outbox::kind.eq(kind),
            outbox::payload.eq(payload),
            outbox::attempts.eq(0_i64),
            outbox::next_attempt_at.eq(now),
            outbox::created_at.eq(now),
        ))
        .execute(conn)?;
    Ok(id)
}

/// Names [`CLAIM_POSTGRES`] in diesel's statement cache.
struct ClaimPostgres;
/// Names [`CLAIM_SQLITE`] in diesel's statement cache.
struct ClaimSqlite;

/// Claims for worker $1 at $2, until $3, at most $4 due jobs of kind $5 (oldest due
/// first) that nobody holds. `SKIP LOCKED`: rows another worker is claiming right now
/// are passed over rather than waited for (and then found claimed).
const CLAIM_POSTGRES: &str = "UPDATE outbox SET claimed_by = $1, claimed_until = $3, attempts = attempts + 1 \
     WHERE id IN (SELECT id FROM outbox WHERE kind = $5 AND next_attempt_at <= $2 \
       AND (claimed_until IS NULL OR claimed_until <= $2) \
       ORDER BY next_attempt_at, id LIMIT $4 FOR UPDATE SKIP LOCKED) \
     RETURNING id, kind, payload, attempts, last_error, created_at";

/// The same on SQLite, where the statement runs in the one writer's transaction.
const CLAIM_SQLITE: &str = "UPDATE outbox SET claimed_by = $1, claimed_until = $3, attempts = attempts + 1 \
     WHERE id IN (SELECT id FROM outbox WHERE kind = $5 AND next_attempt_at <= $2 \
       AND (claimed_until IS NULL OR claimed_until <= $2) \
       ORDER BY next_attempt_at, id LIMIT $4) \
     RETURNING id, kind, payload, attempts, last_error, created_at";

/// Claims up to `limit` due jobs of `kind` for `worker` until `now + lease` seconds, in
/// one atomic statement (run it through [`crate::Store::write_statement`]): two workers
/// never hold the same job at once.
pub fn claim(
    conn: &mut AnyConnection,
    kind: &str,
    worker: &str,
    limit: i64,
    lease: i64,
    now: i64,
) -> StoreResult<Vec<Job>> {
    let binds = [Bind::Text(worker), Bind::Int(now), Bind::Int(now + lease), Bind::Int(limit), Bind::Text(kind)];
    let mut jobs: Vec<Job> = match conn.backend() {
        crate::Backend::Postgres => Fixed::<ClaimPostgres>::new(CLAIM_POSTGRES, &binds).load(conn)?,
        crate::Backend::Sqlite => Fixed::<ClaimSqlite>::new(CLAIM_SQLITE, &binds).load(conn)?,
    };
    // RETURNING gives no order.
    jobs.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(jobs)
}

/// Deletes a job `worker` ran; `false` when its claim was no longer `worker`'s (it
/// expired and another worker took the job).
pub fn complete(conn: &mut AnyConnection, id: &str, worker: &str) -> StoreResult<bool> {
    let deleted = diesel::delete(outbox::table.find(id).filter(outbox::claimed_by.eq(worker))).execute(conn)?;
    Ok(deleted == 1)
}

/// Releases a job whose attempt failed with `error`, due again at `next_attempt_at`;
/// `false` when the claim was no longer `worker`'s.
pub fn retry_later(
    conn: &mut AnyConnection,
    id: &str,
    worker: &str,
    error: &str,
    next_attempt_at: i64,
) -> StoreResult<bool> {
    let changed = diesel::update(outbox::table.find(id).filter(outbox::claimed_by.eq(worker)))
        .set((
            outbox::claimed_by.eq(None::<String>),
            outbox::claimed_until.eq(None::<i64>),
            outbox::last_error.eq(error),
            outbox::next_attempt_at.eq(next_attempt_at),
        ))
        .execute(conn)?;
    Ok(changed == 1)
}

/// Deletes a job its worker gives up on (the caller audits it in the same
/// transaction); `false` when the claim was no longer `worker`'s.
pub fn give_up(conn: &mut AnyConnection, id: &str, worker: &str) -> StoreResult<bool> {
    complete(conn, id, worker)
}

/// A job as it waits, for operators and tests.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = outbox)]
pub struct Pending {
    pub id: String,
    pub kind: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub claimed_by: Option<String>,
    pub claimed_until: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: i64,
}

/// The jobs of `kind` still waiting or running, oldest first.
pub fn pending(conn: &mut AnyConnection, kind: &str) -> StoreResult<Vec<Pending>> {
    Ok(outbox::table.filter(outbox::kind.eq(kind)).order(outbox::id).select(Pending::as_select()).load(conn)?)
}
