//! The public face of the script engine: check a script at save time, run it at issuance.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Map, Value as Json};

use super::cache::{self, Budget};
use super::error::{ScriptError, ScriptFailure};
use super::fetch::policy::FetchPolicy;
use super::fetch::{FetchScope, LazyClient};
use super::limits::Limits;
use super::run;
use super::sandbox::{RunTrace, Sandbox};

/// Longest script accepted, in bytes: claims scripts are short, they are parsed at every run, and
/// parsing is not interruptible.
pub const MAX_SOURCE_BYTES: usize = 256 << 10;

/// What the script receives as `{ token, context, environmentVariables }` (plus `api`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScriptInput {
    /// The access token's payload as it stands before custom claims are added.
    pub token: Json,
    /// What is known about the user, the application, the grant; `None` for machine-to-machine
    /// tokens, which the script then sees as `context === undefined`.
    pub context: Option<Json>,
    /// The admin's configured variables (API keys and the like), as strings.
    pub environment_variables: BTreeMap<String, String>,
}

/// A run's result with what the admin console's test runner shows besides it.
#[derive(Debug, Clone, PartialEq)]
pub struct RunReport {
    /// The claims, or why there are none.
    pub outcome: Result<Map<String, Json>, ScriptFailure>,
    /// Lines written with `console.log` and friends (`[warn] …` for other levels), at most 100.
    pub logs: Vec<String>,
    /// Wall time of the run, building its context and compiling the script included.
    pub elapsed: Duration,
}

/// Counters since the engine was created, and the heap it keeps now, for metrics and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EngineStats {
    /// Calls to `run` and `run_with_report`.
    pub runs: u64,
    /// QuickJS runtimes built: once per thread, and again after one was discarded or released.
    pub runtimes: u64,
    /// Runtimes thrown away after a timeout, memory exhaustion or engine failure.
    pub discarded: u64,
    /// Runtimes freed after a run instead of kept, because their heap had grown past their
    /// baseline or [`Limits::cache_bytes`] was reached.
    pub released: u64,
    /// Bytes of QuickJS heap held now by the runtimes kept between runs, on all threads; never
    /// more than [`Limits::cache_bytes`].
    pub cached_bytes: usize,
}

/// Runs admins' custom-claims scripts in QuickJS sandboxes under [`Limits`].
///
/// `Send + Sync` and cheap to clone (one `Arc`): build it once at start and share it. Runs
/// block the calling thread for up to [`Limits::wall_time`]; from async code call them through
/// `actix_web::web::block` or `tokio::task::spawn_blocking`.
///
/// Rule 8: each thread keeps one QuickJS runtime per engine and reuses it. Review finding 13:
/// every run gets a fresh context in it, so nothing a run leaves on `globalThis`, on a built-in
/// prototype or anywhere else reaches a later run, of the same script or another; and the heap
/// the runtimes keep between runs is bounded ([`Limits::cache_bytes`]).
#[derive(Clone)]
pub struct ScriptEngine {
    inner: Arc<Inner>,
}

struct Inner {
    id: u64,
    limits: Limits,
    http: Arc<LazyClient>,
    /// Held only here; sandboxes in thread caches watch it to notice the engine is gone.
    alive: Arc<()>,
    /// What the runtimes kept in thread caches hold.
    budget: Arc<Budget>,
    runs: AtomicU64,
    runtimes: AtomicU64,
    discarded: AtomicU64,
    released: AtomicU64,
}

static NEXT_ENGINE_ID: AtomicU64 = AtomicU64::new(1);

impl ScriptEngine {
    /// An engine whose every run obeys `limits`.
    pub fn new(limits: Limits) -> Self {
        ScriptEngine {
            inner: Arc::new(Inner {
                id: NEXT_ENGINE_ID.fetch_add(1, Ordering::Relaxed),
                http: Arc::new(LazyClient::default()),
                alive: Arc::new(()),
                budget: Budget::new(limits.cache_bytes),
                runs: AtomicU64::new(0),
                runtimes: AtomicU64::new(0),
                discarded: AtomicU64::new(0),
                released: AtomicU64::new(0),
                limits,
            }),
        }
    }

    /// The limits every run obeys.
    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    /// Checks a script at save time: it must parse and its top level must define a function
    /// `getCustomJwtClaims` (the top level runs, without `fetch` and under the limits, to find
    /// it). Syntax errors carry 1-based positions for the editor.
    pub fn check(&self, source: &str) -> Result<(), ScriptError> {
        let deadline = deadline_after(Instant::now(), self.inner.limits.wall_time);
        let result = self.with_sandbox(source, |sandbox| run::check(sandbox, source, deadline));
        match result {
            Ok(()) => Ok(()),
            Err(ScriptFailure::Invalid(error)) => Err(error),
            Err(failure) => Err(ScriptError::TopLevel { failure: Box::new(failure) }),
        }
    }

    /// Runs `getCustomJwtClaims` on `input` and returns the claims object it produced.
    pub fn run(
        &self,
        source: &str,
        input: &ScriptInput,
        fetch: &FetchPolicy,
    ) -> Result<Map<String, Json>, ScriptFailure> {
        self.run_with_report(source, input, fetch).outcome
    }

    /// [`run`](Self::run), also returning the console output and the time taken.
    pub fn run_with_report(&self, source: &str, input: &ScriptInput, fetch: &FetchPolicy) -> RunReport {
        let started = Instant::now();
        let deadline = deadline_after(started, self.inner.limits.wall_time);
        self.inner.runs.fetch_add(1, Ordering::Relaxed);
        let scope = FetchScope {
            policy: fetch.clone(),
            client: Arc::clone(&self.inner.http),
            timeout: self.inner.limits.fetch_timeout,
            max_body: self.inner.limits.max_fetch_body_bytes,
        };
        let max_result = self.inner.limits.max_result_bytes;
        let mut trace = RunTrace::default();
        let outcome = self.with_sandbox(source, |sandbox| {
            let (outcome, run_trace) = run::run(sandbox, source, input, deadline, scope, max_result);
            trace = run_trace;
            outcome
        });
        // Rule 2: a denial recorded during the run wins over every other outcome.
        let outcome = match trace.denied {
            Some(message) => Err(ScriptFailure::Denied { message }),
            None => outcome,
        };
        RunReport { outcome, logs: trace.logs, elapsed: started.elapsed() }
    }

    /// Counters since creation.
    pub fn stats(&self) -> EngineStats {
        EngineStats {
            runs: self.inner.runs.load(Ordering::Relaxed),
            runtimes: self.inner.runtimes.load(Ordering::Relaxed),
            discarded: self.inner.discarded.load(Ordering::Relaxed),
            released: self.inner.released.load(Ordering::Relaxed),
            cached_bytes: self.inner.budget.used(),
        }
    }

    /// Takes this thread's sandbox for this engine (building it on first use), runs `f`, and
    /// hands the sandbox back to the cache unless the run left it unfit: rule 3 — after a
    /// timeout or memory exhaustion the runtime is discarded (a timed-out run may leave jobs
    /// queued in it) and the next run builds a fresh one. The cache itself frees a runtime that
    /// grew or does not fit the budget (finding 13).
    fn with_sandbox<T>(
        &self,
        source: &str,
        f: impl FnOnce(&Sandbox) -> Result<T, ScriptFailure>,
    ) -> Result<T, ScriptFailure> {
        if source.len() > MAX_SOURCE_BYTES {
            return Err(ScriptError::TooLarge { bytes: source.len(), max: MAX_SOURCE_BYTES }.into());
        }
        let sandbox = match cache::take(self.inner.id) {
            Some(sandbox) => sandbox,
            None => {
                self.inner.runtimes.fetch_add(1, Ordering::Relaxed);
                Sandbox::new(&self.inner.limits)?
            }
        };
        let result = f(&sandbox);
        if matches!(result, Err(ScriptFailure::Timeout | ScriptFailure::OutOfMemory | ScriptFailure::Engine { .. })) {
            self.inner.discarded.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(failure = ?result.as_ref().err(), "claims script runtime discarded");
        } else if let Err(reason) =
            cache::put(self.inner.id, Arc::downgrade(&self.inner.alive), &self.inner.budget, sandbox)
        {
            self.inner.released.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(?reason, "claims script runtime released");
        }
        result
    }
}

/// `start + wall_time`, saturating at a year for absurd limits instead of overflowing.
fn deadline_after(start: Instant, wall_time: Duration) -> Instant {
    const YEAR: Duration = Duration::from_secs(365 * 24 * 3600);
    start.checked_add(wall_time.min(YEAR)).unwrap_or(start)
}

impl std::fmt::Debug for ScriptEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScriptEngine").field("limits", &self.inner.limits).field("stats", &self.stats()).finish()
    }
}
