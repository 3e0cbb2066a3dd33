//! Group commit for SQLite writes. SQLite lets one writer in at a time, and with
//! `synchronous = FULL` each commit waits for the disk; so when writes queue up, each
//! paid a flush of its own. Here the writes of every thread go through one connection,
//! in turn, and a write that finds others waiting behind it leaves the transaction open
//! for them: the last of the group commits for all, with one flush.
//!
//! Each write keeps the meaning of a transaction of its own:
//! - it runs inside a savepoint, so an error (or a panic) rolls back its own changes
//!   and nothing else;
//! - it sees the writes before it in the group, as it would have run after them;
//! - its caller returns only once the group's commit is on disk, so nothing is
//!   acknowledged that could be lost; if that commit fails, every caller of the group
//!   gets the error.
//!
//! The write runs on its caller's thread (the closure may borrow what it likes).

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

use diesel::connection::SimpleConnection;

use crate::{AnyConnection, StoreError, StoreResult};

/// The most writes one transaction holds before it is committed whoever waits.
const MAX_GROUP: usize = 64;
/// How many groups' outcomes are remembered for callers still to wake up.
const OUTCOMES_KEPT: usize = 1024;
/// How often a write waiting for its group looks whether it must commit it itself.
const RECHECK: Duration = Duration::from_millis(20);

thread_local! {
    /// Set while this thread runs a write of a group: a write started inside it cannot
    /// wait for the line it holds.
    static IN_GROUP: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether the calling thread is inside a write of a group.
pub(crate) fn in_group() -> bool {
    IN_GROUP.with(std::cell::Cell::get)
}

struct Line {
    conn: AnyConnection,
    /// The open group, if any: its number and how many writes it holds.
    open: Option<(u64, usize)>,
    /// The number of the last group started.
    last: u64,
    /// The groups finished (committed or failed) of late, newest last.
    outcomes: VecDeque<(u64, Result<(), String>)>,
}

impl Line {
    fn outcome(&self, group: u64) -> Option<Result<(), String>> {
        self.outcomes.iter().rev().find(|(g, _)| *g == group).map(|(_, o)| o.clone())
    }

    fn finish(&mut self, group: u64, outcome: Result<(), String>) {
        self.open = None;
        self.outcomes.push_back((group, outcome));
        while self.outcomes.len() > OUTCOMES_KEPT {
            self.outcomes.pop_front();
        }
    }

    /// Commits the open group (rolling it back if the commit fails).
    fn commit(&mut self, group: u64) {
        let outcome = self.conn.batch_execute("COMMIT").map_err(|e| {
            let _ = self.conn.batch_execute("ROLLBACK");
            e.to_string()
        });
        self.finish(group, outcome);
    }
}

/// One SQLite connection that every write goes through, committing in groups.
pub(crate) struct GroupCommit {
    line: Mutex<Line>,
    /// Writers waiting for the line.
    waiting: AtomicUsize,
    finished: Condvar,
}

impl GroupCommit {
    pub(crate) fn new(conn: AnyConnection) -> GroupCommit {
        GroupCommit {
            line: Mutex::new(Line { conn, open: None, last: 0, outcomes: VecDeque::new() }),
            waiting: AtomicUsize::new(0),
            finished: Condvar::new(),
        }
    }

    fn lock(&self) -> StoreResult<MutexGuard<'_, Line>> {
        self.line.lock().map_err(|_| StoreError::Unavailable("the SQLite writer is broken".into()))
    }

    /// Runs `work` as one write of a group, and returns once the group is committed.
    pub(crate) fn write<T>(&self, work: impl FnOnce(&mut AnyConnection) -> StoreResult<T>) -> StoreResult<T> {
        self.waiting.fetch_add(1, Ordering::AcqRel);
        let locked = self.lock();
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        let mut line = locked?;

        let group = match line.open {
            Some((group, writes)) => {
                line.open = Some((group, writes + 1));
                group
            }
            None => {
                // SQLite's write lock at once (a deferred transaction that reads, then
                // writes, fails when another process committed in between).
                line.conn.batch_execute("BEGIN IMMEDIATE")?;
                line.last += 1;
                let group = line.last;
                line.open = Some((group, 1));
                group
            }
        };
        let result = run_in_savepoint(&mut line.conn, work);

        let writes = line.open.map_or(0, |(_, w)| w);
        if self.waiting.load(Ordering::Acquire) > 0 && writes < MAX_GROUP {
            // Someone is behind us: the group stays open for them, and the last of it
            // commits. Wait for that.
            loop {
                line = self
                    .finished
                    .wait_timeout(line, RECHECK)
                    .map_err(|_| StoreError::Unavailable("the SQLite writer is broken".into()))?
                    .0;
                if let Some(outcome) = line.outcome(group) {
                    return settle(result, outcome);
                }
                // Everyone behind us may have come and gone without committing (their
                // count was seen before they ran): if the group is still open and idle,
                // close it ourselves.
                if line.open.is_some_and(|(g, _)| g == group) && self.waiting.load(Ordering::Acquire) == 0 {
                    line.commit(group);
                    self.finished.notify_all();
                    let outcome = line.outcome(group).unwrap_or(Ok(()));
                    return settle(result, outcome);
                }
            }
        }
        line.commit(group);
        let outcome = line.outcome(group).unwrap_or(Ok(()));
        drop(line);
        self.finished.notify_all();
        settle(result, outcome)
    }
}

/// Runs `work` in a savepoint: released when it succeeds, rolled back when it fails or
/// panics (a panic becomes an error of this write alone).
fn run_in_savepoint<T>(
    conn: &mut AnyConnection,
    work: impl FnOnce(&mut AnyConnection) -> StoreResult<T>,
) -> StoreResult<T> {
    conn.batch_execute("SAVEPOINT write")?;
    IN_GROUP.with(|g| g.set(true));
    let result = catch_unwind(AssertUnwindSafe(|| work(conn)))
        .unwrap_or_else(|_| Err(StoreError::Database("the write panicked and was rolled back".into())));
    IN_GROUP.with(|g| g.set(false));
    let end = if result.is_ok() { "RELEASE write" } else { "ROLLBACK TO write; RELEASE write" };
    conn.batch_execute(end)?;
    result
}

/// A write's answer: its own result once its group committed, or the commit's failure.
fn settle<T>(result: StoreResult<T>, outcome: Result<(), String>) -> StoreResult<T> {
    match (result, outcome) {
        (result, Ok(())) => result,
        (Err(own), Err(_)) => Err(own),
        (Ok(_), Err(commit)) => Err(StoreError::Unavailable(format!("the commit failed: {commit}"))),
    }
}
