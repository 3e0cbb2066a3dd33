//! The outbox runner: one background mechanism for every kind of outbound delivery (mail,
//! back-channel logout tokens). Each kind brings a [`Handler`] that makes one attempt at
//! one job; the runner claims due jobs from the outbox (`tessera_store::outbox`,
//! atomically, so two nodes never run the same job at once), deletes a job that succeeded,
//! retries a failed one with exponential backoff ([`RetryPolicy`]), and gives up a job that
//! failed permanently or too often, logged and audited (`<kind>.gave_up`) in the same
//! transaction as its removal. A worker killed with a claim leaves it to expire, and
//! another node's runner takes the job. The runner wakes when this node queued a job
//! ([`Wake::notify`]) and polls otherwise, for jobs other nodes queued and retries that
//! came due.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tessera_store::audit::{self, NewAuditEvent};
use tessera_store::{Store, StoreError, outbox};

/// When a failed job is tried again, and when it is given up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Seconds before the second attempt; each further one waits twice as long…
    pub first_delay: i64,
    /// … up to this many seconds.
    pub max_delay: i64,
    /// Attempts after which a job is given up.
    pub max_attempts: i64,
}

impl Default for RetryPolicy {
    /// 30 s, 1 min, 2 min, … up to an hour between attempts; ten attempts (about four
    /// hours in all).
    fn default() -> Self {
        RetryPolicy { first_delay: 30, max_delay: 3600, max_attempts: 10 }
    }
}

impl RetryPolicy {
    /// Seconds to wait after the `attempts`-th attempt failed.
    pub fn delay(&self, attempts: i64) -> i64 {
        let doublings = u32::try_from(attempts.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
        self.first_delay.saturating_mul(1_i64 << doublings).min(self.max_delay)
    }
}

/// Wakes this node's runner when a job was queued (other nodes' runners find it at their
/// next poll).
#[derive(Debug, Clone, Default)]
pub struct Wake(Arc<(Mutex<bool>, Condvar)>);

impl Wake {
    pub fn notify(&self) {
        let (woken, condvar) = &*self.0;
        if let Ok(mut woken) = woken.lock() {
            *woken = true;
            condvar.notify_all();
        }
    }

    /// Waits until notified or `timeout` passed; `true` when notified.
    fn wait(&self, timeout: Duration) -> bool {
        let (woken, condvar) = &*self.0;
        let Ok(guard) = woken.lock() else { return false };
        let Ok((mut guard, _)) = condvar.wait_timeout_while(guard, timeout, |woken| !*woken) else { return false };
        std::mem::replace(&mut *guard, false)
    }
}

/// What one run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Outcome {
    pub delivered: usize,
    pub retried: usize,
    pub given_up: usize,
}

impl std::ops::AddAssign for Outcome {
    fn add_assign(&mut self, other: Outcome) {
        self.delivered += other.delivered;
        self.retried += other.retried;
        self.given_up += other.given_up;
    }
}

/// Why one attempt failed, and whether trying again could help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub message: String,
    pub permanent: bool,
}

impl Failure {
    /// A failure that may pass: the job is tried again later.
    pub fn transient(message: impl Into<String>) -> Failure {
        Failure { message: message.into(), permanent: false }
    }

    /// A failure that will not pass: the job is given up at once.
    pub fn permanent(message: impl Into<String>) -> Failure {
        Failure { message: message.into(), permanent: true }
    }
}

/// One kind of outbox job: how to run one, and how long and how often to try.
pub trait Handler: Send + 'static {
    /// The outbox kind this handler runs (`mail`, `backchannel_logout`).
    fn kind(&self) -> &'static str;
    /// Seconds a claim holds: longer than one attempt can take, after which another
    /// worker may take the job.
    fn lease(&self) -> i64;
    fn policy(&self) -> RetryPolicy;
    /// One attempt at one job.
    fn attempt(&self, job: &outbox::Job) -> Result<(), Failure>;
    /// What the audit event of a job given up says besides its attempts and error (the
    /// client it was for, say); nothing secret.
    fn describe(&self, _job: &outbox::Job) -> Value {
        Value::Null
    }
}

/// The longest error text kept with a job.
const ERROR_LIMIT: usize = 500;
/// Jobs one run handles at most per kind before looking at the stop flag again.
const RUN_LIMIT: usize = 100;

/// Runs every job of `handler`'s kind due at `now`, one claim at a time (up to a limit
/// per run), as `worker`.
pub fn run_kind(store: &Store, worker: &str, handler: &dyn Handler, now: i64) -> Result<Outcome, StoreError> {
    let mut outcome = Outcome::default();
    let (kind, policy) = (handler.kind(), handler.policy());
    for _ in 0..RUN_LIMIT {
        let claimed = store.write_statement(|c| outbox::claim(c, kind, worker, 1, handler.lease(), now))?;
        let Some(job) = claimed.into_iter().next() else { break };
        match handler.attempt(&job) {
            Ok(()) => {
                store.write_statement(|c| outbox::complete(c, &job.id, worker))?;
                outcome.delivered += 1;
            }
            Err(failure) if failure.permanent || job.attempts >= policy.max_attempts => {
                give_up(store, worker, handler, &job, &failure, now)?;
                outcome.given_up += 1;
            }
            Err(failure) => {
                let next = now + policy.delay(job.attempts);
                tracing::warn!(kind, job = %job.id, attempts = job.attempts, error = %failure.message, retry_at = next, "outbound delivery failed; will retry");
                let error = truncate(&failure.message);
                store.write_statement(|c| outbox::retry_later(c, &job.id, worker, &error, next))?;
                outcome.retried += 1;
            }
        }
    }
    Ok(outcome)
}

fn give_up(
    store: &Store,
    worker: &str,
    handler: &dyn Handler,
    job: &outbox::Job,
    failure: &Failure,
    now: i64,
) -> Result<(), StoreError> {
    let kind = handler.kind();
    tracing::error!(kind, job = %job.id, attempts = job.attempts, error = %failure.message, "outbound delivery given up");
    let target = format!("outbox:{}", job.id);
    let mut summary = json!({
        "attempts": job.attempts,
        "error": truncate(&failure.message),
        "queued_at": job.created_at,
    });
    if let (Value::Object(summary), Value::Object(extra)) = (&mut summary, handler.describe(job)) {
        summary.extend(extra);
    }
    let action = format!("{kind}.gave_up");
    store.write_transaction(|c| {
        if outbox::give_up(c, &job.id, worker)? {
            let event = NewAuditEvent { actor: "system", action: &action, target: &target, summary, client_ip: None };
            audit::record(c, &event, now)?;
        }
        Ok(())
    })
}

fn truncate(text: &str) -> String {
    text.chars().take(ERROR_LIMIT).collect()
}

/// The one runner of a node: every kind's handler, one thread.
pub struct Runner {
    store: Store,
    /// This runner's name in the claims it makes.
    worker: String,
    handlers: Vec<Box<dyn Handler>>,
}

impl Runner {
    pub fn new(store: Store) -> Runner {
        Runner { store, worker: format!("outbox-{}", tessera_store::new_id()), handlers: Vec::new() }
    }

    /// Adds the handler of one kind.
    pub fn with(mut self, handler: impl Handler) -> Runner {
        self.handlers.push(Box::new(handler));
        self
    }

    /// Runs every job due at `now`, of every kind.
    pub fn run_due(&self, now: i64) -> Result<Outcome, StoreError> {
        let mut outcome = Outcome::default();
        for handler in &self.handlers {
            outcome += run_kind(&self.store, &self.worker, handler.as_ref(), now)?;
        }
        Ok(outcome)
    }

    /// Runs on a thread of its own until `stop` is set: a run at start, then one whenever
    /// `wake` is notified or `poll` passed.
    pub fn spawn(self, wake: Wake, stop: Arc<AtomicBool>, poll: Duration) -> std::thread::JoinHandle<()> {
        std::thread::spawn(move || {
            // Short waits, so that a stop is noticed within a fraction of a second.
            let tick = Duration::from_millis(200).min(poll);
            let mut waited = poll;
            while !stop.load(Ordering::Relaxed) {
                let woken = waited >= poll || wake.wait(tick);
                if !woken {
                    waited += tick;
                    continue;
                }
                waited = Duration::ZERO;
                match self.run_due(now()) {
                    Ok(outcome) if outcome != Outcome::default() => tracing::debug!(?outcome, "outbox run"),
                    Ok(_) => {}
                    Err(error) => tracing::warn!(%error, "outbox run failed; will try again"),
                }
            }
        })
    }
}

/// Unix seconds now.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delay_doubles_up_to_the_limit() {
        let policy = RetryPolicy::default();
        let delays: Vec<i64> = (1..=9).map(|a| policy.delay(a)).collect();
        assert_eq!(delays, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
        assert_eq!(policy.delay(1000), 3600);
    }

    #[test]
    fn outcomes_add_up() {
        let mut total = Outcome { delivered: 1, retried: 2, given_up: 0 };
        total += Outcome { delivered: 3, retried: 0, given_up: 1 };
        assert_eq!(total, Outcome { delivered: 4, retried: 2, given_up: 1 });
    }
}
