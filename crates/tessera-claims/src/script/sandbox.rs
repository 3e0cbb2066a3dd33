//! One prepared sandbox: a QuickJS runtime of its own with the limits applied, a context with
//! only the base intrinsics, the prelude (`console`, `Headers`, `fetch`) installed, and the
//! admin's script compiled into a factory function.
//!
//! The factory wraps the source in a function, so every run re-executes the script's top level
//! and gets fresh `let`/`const`/`var`/`function` bindings: no script-level state is carried from
//! one token to the next. (Writes to `globalThis` or to built-in prototypes do persist while the
//! sandbox is cached; they are the script's own doing and never cross scripts, since each script
//! version gets its own runtime.)

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Instant;

use rquickjs::context::EvalOptions;
use rquickjs::context::intrinsic::{Date, Eval, Json, MapSet, Promise, Proxy, RegExp, RegExpCompiler, TypedArrays};
use rquickjs::function::Opt;
use rquickjs::{Context, Ctx, Function, Persistent, Runtime, Value};

use super::error::{ScriptError, ScriptFailure};
use super::fetch::{self, FetchScope};
use super::limits::Limits;
use super::outcome;

/// File name QuickJS reports for the admin's script; positions are read back from stack traces.
pub(crate) const SCRIPT_NAME: &str = "custom-jwt-claims.js";
const PRELUDE_NAME: &str = "tessera-prelude.js";
const PRELUDE: &str = include_str!("prelude.js");
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

/// A compiled script in its own runtime. Not `Send`: it lives in one thread's cache.
///
/// Field order is drop order: the factory (a JavaScript value) must be released before the
/// context, which holds the last reference to the runtime.
pub(crate) struct Sandbox {
    factory: Persistent<Function<'static>>,
    context: Context,
    state: Rc<RunState>,
    source_lines: u32,
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
    /// Builds the runtime and compiles `source`. Fails with [`ScriptError::Syntax`] (wrapped
    /// in [`ScriptFailure::Invalid`]) when the source does not parse. Compilation is bounded
    /// by `deadline` too: a source that closes the wrapper early can run code while it is
    /// evaluated.
    pub(crate) fn new(source: &str, limits: &Limits, deadline: Instant) -> Result<Sandbox, ScriptFailure> {
        let runtime = Runtime::new().map_err(engine_failure)?;
        runtime.set_memory_limit(limits.memory_bytes);
        runtime.set_max_stack_size(limits.max_stack_bytes);
        let state = Rc::new(RunState::default());
        let watchdog = Rc::clone(&state);
        // Rule 3: wall time is enforced by QuickJS itself, which polls this handler while it
        // runs bytecode (and regular expressions); returning true throws an uncatchable error.
        runtime.set_interrupt_handler(Some(Box::new(move || watchdog.deadline_passed())));
        let context = Context::custom::<Intrinsics>(&runtime).map_err(engine_failure)?;
        let source_lines = u32::try_from(source.lines().count().max(1)).unwrap_or(u32::MAX);
        state.begin(deadline, None);
        let factory = context.with(|ctx| {
            install_prelude(&ctx, &state)?;
            compile(&ctx, source, source_lines, &state)
        });
        state.end();
        let factory = factory?;
        // Rule 3: the memory limit is a budget per run, on top of what the sandbox itself holds.
        let baseline = usize::try_from(runtime.memory_usage().malloc_size).unwrap_or(0);
        runtime.set_memory_limit(baseline.saturating_add(limits.memory_bytes));
        // The context keeps the runtime alive; it is freed after the factory and the context.
        Ok(Sandbox { factory, context, state, source_lines })
    }

    /// Runs `f` with the deadline armed and `fetch` scoped to this run, then disarms both and
    /// returns what the run recorded. A leftover exception is cleared so the next run starts
    /// clean.
    pub(crate) fn with_run<T>(
        &self,
        deadline: Instant,
        fetch: Option<FetchScope>,
        f: impl for<'js> FnOnce(&Ctx<'js>, Function<'js>, &Rc<RunState>) -> Result<T, ScriptFailure>,
    ) -> (Result<T, ScriptFailure>, RunTrace) {
        self.state.begin(deadline, fetch);
        let result = self.context.with(|ctx| {
            // `restore` only fails for a value of another runtime; the factory is this one's.
            let result = match self.factory.clone().restore(&ctx) {
                Ok(factory) => f(&ctx, factory, &self.state),
                Err(error) => Err(engine_failure(error)),
            };
            if ctx.has_exception() {
                let _ = ctx.catch();
            }
            result
        });
        (result, self.state.end())
    }

    /// Number of lines of the source, to map positions back into it.
    pub(crate) fn source_lines(&self) -> u32 {
        self.source_lines
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

    fn log(&self, level: &str, line: &str) {
        let mut logs = self.logs.borrow_mut();
        if logs.len() < MAX_LOG_LINES {
            let prefix = if level == "log" { String::new() } else { format!("[{level}] ") };
            logs.push(format!("{prefix}{}", outcome::truncate(line, MAX_LOG_LINE)));
        } else if logs.len() == MAX_LOG_LINES {
            logs.push(format!("(further console output dropped after {MAX_LOG_LINES} lines)"));
        }
    }
}

/// Evaluates the prelude and hands it the native `fetch` and `log`, which it keeps private.
fn install_prelude(ctx: &Ctx<'_>, state: &Rc<RunState>) -> Result<(), ScriptFailure> {
    let log_state = Rc::clone(state);
    let log = Function::new(ctx.clone(), move |level: String, line: Opt<String>| {
        log_state.log(&level, line.0.as_deref().unwrap_or_default());
    })
    .map_err(engine_failure)?;
    let native_fetch = fetch::native_function(ctx, Rc::clone(state)).map_err(engine_failure)?;
    let mut options = EvalOptions::default();
    options.filename = Some(PRELUDE_NAME.to_owned());
    let installed = ctx
        .eval_with_options::<Function, _>(PRELUDE, options)
        .and_then(|install| install.call::<_, Value>((native_fetch, log)));
    installed.map(drop).map_err(|error| {
        let failure = outcome::failure(ctx, error, None, 0);
        engine_failure(format!("prelude failed: {failure}"))
    })
}

/// Rule 8: the script is parsed once per sandbox; runs only call the resulting factory.
fn compile(
    ctx: &Ctx<'_>,
    source: &str,
    source_lines: u32,
    state: &RunState,
) -> Result<Persistent<Function<'static>>, ScriptFailure> {
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
            Some(factory) => Ok(Persistent::save(ctx, factory)),
            // Only a source that closes the wrapper early (`});…`) evaluates to something else.
            None => Err(ScriptError::Syntax { message: "unexpected '}'".to_owned(), line: 1, column: 1 }.into()),
        },
        Err(error) => Err(outcome::compile_failure(ctx, error, source, source_lines, state)),
    }
}

pub(crate) fn engine_failure(error: impl std::fmt::Display) -> ScriptFailure {
    ScriptFailure::Engine { message: error.to_string() }
}
