//! The public face of the script engine: check a script at save time, run it at issuance.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Map, Value as Json};
use sha2::{Digest, Sha256};

use super::cache::{self, Key};
use super::error::{ScriptError, ScriptFailure};
use super::fetch::policy::FetchPolicy;
use super::fetch::{FetchScope, LazyClient};
use super::limits::Limits;
use super::run;
use super::sandbox::{RunTrace, Sandbox};

/// Longest script accepted, in bytes: claims scripts are short, and parsing is not interruptible.
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
    /// Wall time of the run, compilation included when the script was not cached.
    pub elapsed: Duration,
}

/// Counters since the engine was created, for metrics and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EngineStats {
    /// Calls to `run` and `run_with_report`.
    pub runs: u64,
    /// Sandboxes built, i.e. scripts compiled (once per script version per thread).
    pub compilations: u64,
    /// Sandboxes thrown away after a timeout, memory exhaustion or engine failure.
    pub discarded: u64,
}

/// Runs admins' custom-claims scripts in QuickJS sandboxes under [`Limits`].
///
/// `Send + Sync` and cheap to clone (one `Arc`): build it once at start and share it. Runs
/// block the calling thread for up to [`Limits::wall_time`]; from async code call them through
/// `actix_web::web::block` or `tokio::task::spawn_blocking`.
///
/// Rule 8: each thread keeps the sandboxes it built (one QuickJS runtime per script version,
/// keyed by SHA-256 of the source), so a script is compiled once per thread and later runs only
/// call it. Script-level bindings are fresh on every run; what a script stores on `globalThis`
/// or on built-in prototypes stays in its sandbox until the sandbox is evicted or discarded.
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
    runs: AtomicU64,
    compilations: AtomicU64,
    discarded: AtomicU64,
}

static NEXT_ENGINE_ID: AtomicU64 = AtomicU64::new(1);

impl ScriptEngine {
    /// An engine whose every run obeys `limits`.
    pub fn new(limits: Limits) -> Self {
        ScriptEngine {
            inner: Arc::new(Inner {
                id: NEXT_ENGINE_ID.fetch_add(1, Ordering::Relaxed),
                limits,
                http: Arc::new(LazyClient::default()),
                alive: Arc::new(()),
                runs: AtomicU64::new(0),
                compilations: AtomicU64::new(0),
                discarded: AtomicU64::new(0),
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
        let result = self.with_sandbox(source, deadline, |sandbox| run::check(sandbox, deadline));
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
        let outcome = self.with_sandbox(source, deadline, |sandbox| {
            let (outcome, run_trace) = run::run(sandbox, input, deadline, scope, max_result);
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
            compilations: self.inner.compilations.load(Ordering::Relaxed),
            discarded: self.inner.discarded.load(Ordering::Relaxed),
        }
    }

    /// Takes this thread's sandbox for `source` (building it on first use), runs `f`, and puts
    /// the sandbox back unless the run left it unfit: rule 3 — after a timeout or memory
    /// exhaustion the runtime is discarded and the next run builds a fresh one.
    fn with_sandbox<T>(
        &self,
        source: &str,
        deadline: Instant,
        f: impl FnOnce(&Sandbox) -> Result<T, ScriptFailure>,
    ) -> Result<T, ScriptFailure> {
        if source.len() > MAX_SOURCE_BYTES {
            return Err(ScriptError::TooLarge { bytes: source.len(), max: MAX_SOURCE_BYTES }.into());
        }
        let key = Key { engine: self.inner.id, script: Sha256::digest(source.as_bytes()).into() };
        let sandbox = match cache::take(&key) {
            Some(sandbox) => sandbox,
            None => {
                self.inner.compilations.fetch_add(1, Ordering::Relaxed);
                Sandbox::new(source, &self.inner.limits, deadline)?
            }
        };
        let result = f(&sandbox);
        if matches!(result, Err(ScriptFailure::Timeout | ScriptFailure::OutOfMemory | ScriptFailure::Engine { .. })) {
            self.inner.discarded.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(failure = ?result.as_ref().err(), "claims script sandbox discarded");
        } else {
            cache::put(key, Arc::downgrade(&self.inner.alive), sandbox);
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
