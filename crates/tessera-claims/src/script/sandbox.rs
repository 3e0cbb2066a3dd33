//! One sandbox: a QuickJS runtime of its own with the limits applied, kept by one thread for one
//! engine, in which every run gets a fresh context.
//!
//! Review finding 13: a context reused from run to run keeps whatever a run leaves on
//! `globalThis`, on a built-in prototype or in an implicit global, for the next run (state
//! leaking between tokens) and for as long as the sandbox is cached (memory held per thread and
//! per script, far past the per-run limit). So each run builds a context with only the base
//! intrinsics and the engine's globals ([`globals`]), compiles the script into it, runs, and
//! drops it; the runtime is then garbage-collected back to its baseline. Functions in QuickJS
//! belong to the context they were compiled in, and loading bytecode is `unsafe` in rquickjs
//! (this workspace forbids `unsafe`), so the script is compiled for every run; the runtime,
//! which is the costly part to build after the context, is reused.
//!
//! The script is wrapped in a function, so its top level runs afresh in each run and hands back
//! `getCustomJwtClaims`.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Instant;

use rquickjs::context::EvalOptions;
use rquickjs::context::intrinsic::{Date, Eval, Json, MapSet, Promise, Proxy, RegExp, RegExpCompiler, TypedArrays};
use rquickjs::{Context, Ctx, Function, Runtime, Value};

use super::error::{ScriptError, ScriptFailure};
use super::fetch::FetchScope;
use super::globals;
use super::limits::Limits;
use super::outcome;

/// File name QuickJS reports for the admin's script; positions are read back from stack traces.
pub(crate) const SCRIPT_NAME: &str = "custom-jwt-claims.js";
/// The wrapper adds exactly one line before the source, so source line = reported line - 1.
const WRAPPER_PREFIX: &str = "(function () {\n";
const WRAPPER_SUFFIX: &str =
    "\n;return typeof getCustomJwtClaims === \"function\" ? getCustomJwtClaims : undefined;\n})";

/// Rule 6 (no I/O): only the QuickJS base objects plus these intrinsics. No `std`/`os`
/// modules, no module loader, no `performance` (a timer), no `WeakRef` (GC observation).
type Intrinsics = (Date, Eval, RegExpCompiler, RegExp, Json, Proxy, MapSet, TypedArrays, Promise);

/// At most this many console lines are kept per run, each cut at [`MAX_LOG_LINE`] bytes.
const MAX_LOG_LINES: usize = 100;
const MAX_LOG_LINE: usize = 2_000;

/// A runtime for one engine's runs on one thread. Not `Send`: it lives in one thread's cache.
/// Between runs it holds no context, so nothing of a run survives in it but the runtime's own
/// tables (atoms, shapes), which [`heap`](Self::heap) lets the cache watch.
pub(crate) struct Sandbox {
    runtime: Runtime,
    state: Rc<RunState>,
    /// Heap of the runtime between runs, measured when it was built.
    baseline: usize,
}

/// Rust-side state of the current run, shared with the native functions and the interrupt
/// handler. Holds no JavaScript value, so it cannot keep the runtime's objects alive.
#[derive(Default)]
pub(crate) struct RunState {
    generation: Cell<u64>,
    deadline: Cell<Option<Instant>>,
    interrupted: Cell<bool>,
    denied: RefCell<Option<String>>,
    logs: RefCell<Vec<String>>,
    fetch: RefCell<Option<FetchScope>>,
}

/// What a run leaves behind besides its result.
#[derive(Default)]
pub(crate) struct RunTrace {
    pub denied: Option<String>,
    pub logs: Vec<String>,
}

impl Sandbox {
    /// Builds the runtime and measures its heap between runs, and with a fresh context, which
    /// is where every run starts.
    pub(crate) fn new(limits: &Limits) -> Result<Sandbox, ScriptFailure> {
        let runtime = Runtime::new().map_err(engine_failure)?;
        runtime.set_max_stack_size(limits.max_stack_bytes);
        let state = Rc::new(RunState::default());
        let watchdog = Rc::clone(&state);
        // Rule 3: wall time is enforced by QuickJS itself, which polls this handler while it
        // runs bytecode (and regular expressions); returning true throws an uncatchable error.
        runtime.set_interrupt_handler(Some(Box::new(move || watchdog.deadline_passed())));
        let start = {
            let _probe = fresh_context(&runtime, &state)?;
            heap(&runtime)
        };
        runtime.run_gc();
        let baseline = heap(&runtime);
        // Rule 3: the memory limit is a budget per run, on top of a fresh context.
        runtime.set_memory_limit(start.saturating_add(limits.memory_bytes));
        Ok(Sandbox { runtime, state, baseline })
    }

    /// Builds a fresh context, compiles `source` into it and runs `f` with the deadline armed
    /// and `fetch` scoped to this run; then drops the context, collects its garbage, disarms
    /// both and returns what the run recorded. A source that does not parse fails with
    /// [`ScriptError::Syntax`] (wrapped in [`ScriptFailure::Invalid`]); compiling is bounded by
    /// the deadline too, since a source that closes the wrapper early can run code while it is
    /// evaluated.
    pub(crate) fn with_run<T>(
        &self,
        source: &str,
        deadline: Instant,
        fetch: Option<FetchScope>,
        f: impl for<'js> FnOnce(&Ctx<'js>, Function<'js>, &Rc<RunState>, u32) -> Result<T, ScriptFailure>,
    ) -> (Result<T, ScriptFailure>, RunTrace) {
        self.state.begin(deadline, fetch);
        let source_lines = u32::try_from(source.lines().count().max(1)).unwrap_or(u32::MAX);
        let result = fresh_context(&self.runtime, &self.state).and_then(|context| {
            context.with(|ctx| {
                let result = compile(&ctx, source, source_lines, &self.state)
                    .and_then(|factory| f(&ctx, factory, &self.state, source_lines));
                // QuickJS keeps a pending exception in the runtime, not the context: clear it so
                // that it neither keeps this context's objects alive nor reaches the next run.
                if ctx.has_exception() {
                    let _ = ctx.catch();
                }
                result
            })
        });
        // The context is gone; its objects form cycles that only the collector frees.
        self.runtime.run_gc();
        (result, self.state.end())
    }

    /// The runtime's heap now, in bytes (QuickJS's own count of what it has allocated). It
    /// walks the runtime's objects: a few microseconds between runs, when no run's context is
    /// left.
    pub(crate) fn heap(&self) -> usize {
        heap(&self.runtime)
    }

    /// [`heap`](Self::heap) when the sandbox was built.
    pub(crate) fn baseline(&self) -> usize {
        self.baseline
    }
}

impl RunState {
    fn begin(&self, deadline: Instant, fetch: Option<FetchScope>) {
        self.generation.set(self.generation.get().wrapping_add(1));
        self.deadline.set(Some(deadline));
        self.interrupted.set(false);
        self.denied.replace(None);
        self.logs.replace(Vec::new());
        self.fetch.replace(fetch);
    }

    fn end(&self) -> RunTrace {
        self.deadline.set(None);
        self.fetch.replace(None);
        RunTrace { denied: self.denied.take(), logs: self.logs.take() }
    }

    /// The interrupt handler: true (stop the script) once the deadline has passed.
    fn deadline_passed(&self) -> bool {
        let passed = self.deadline.get().is_some_and(|deadline| Instant::now() >= deadline);
        if passed {
            self.interrupted.set(true);
        }
        passed
    }

    /// Whether this run has been stopped by the deadline (or should be, checked now).
    pub(crate) fn timed_out(&self) -> bool {
        self.interrupted.get() || self.deadline_passed()
    }

    /// Counts runs, so that functions handed to one run can tell a later one apart.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.get()
    }

    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.deadline.get()
    }

    pub(crate) fn fetch_scope(&self) -> Option<FetchScope> {
        self.fetch.borrow().clone()
    }

    /// Rule 2: the denial is recorded in Rust before anything is thrown, so the script cannot
    /// undo it by catching. The first denial's message is kept.
    pub(crate) fn deny(&self, message: String) {
        self.denied.borrow_mut().get_or_insert(message);
    }

    pub(crate) fn log(&self, level: &str, line: &str) {
        let mut logs = self.logs.borrow_mut();
        if logs.len() < MAX_LOG_LINES {
            let prefix = if level == "log" { String::new() } else { format!("[{level}] ") };
            logs.push(format!("{prefix}{}", outcome::truncate(line, MAX_LOG_LINE)));
        } else if logs.len() == MAX_LOG_LINES {
            logs.push(format!("(further console output dropped after {MAX_LOG_LINES} lines)"));
        }
    }
}

/// A context with the base intrinsics and the engine's globals, where nothing has run yet.
fn fresh_context(runtime: &Runtime, state: &Rc<RunState>) -> Result<Context, ScriptFailure> {
    let context = Context::custom::<Intrinsics>(runtime).map_err(engine_failure)?;
    context.with(|ctx| globals::install(&ctx, state)).map_err(engine_failure)?;
    Ok(context)
}

fn heap(runtime: &Runtime) -> usize {
    usize::try_from(runtime.memory_usage().malloc_size).unwrap_or(usize::MAX)
}

/// Compiles the wrapped script into the run's context; calling the result runs its top level.
fn compile<'js>(
    ctx: &Ctx<'js>,
    source: &str,
    source_lines: u32,
    state: &RunState,
) -> Result<Function<'js>, ScriptFailure> {
    if let Some(at) = source.find('\0') {
        let line = u32::try_from(source[..at].matches('\n').count() + 1).unwrap_or(u32::MAX);
        return Err(
            ScriptError::Syntax { message: "the script contains a NUL character".to_owned(), line, column: 1 }.into()
        );
    }
    let mut options = EvalOptions::default();
    options.strict = false;
    options.filename = Some(SCRIPT_NAME.to_owned());
    match ctx.eval_with_options::<Value, _>(format!("{WRAPPER_PREFIX}{source}{WRAPPER_SUFFIX}"), options) {
        Ok(value) => match value.into_function() {
            Some(factory) => Ok(factory),
            // Only a source that closes the wrapper early (`});…`) evaluates to something else.
            None => Err(ScriptError::Syntax { message: "unexpected '}'".to_owned(), line: 1, column: 1 }.into()),
        },
        Err(error) => Err(outcome::compile_failure(ctx, error, source, source_lines, state)),
    }
}

pub(crate) fn engine_failure(error: impl std::fmt::Display) -> ScriptFailure {
    ScriptFailure::Engine { message: error.to_string() }
}
