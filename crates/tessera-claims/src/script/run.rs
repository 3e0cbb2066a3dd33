//! One run of a script in a fresh context: build the argument, call `getCustomJwtClaims`, drive
//! the promise it returns, drain the job queue, take the result.

use std::rc::Rc;
use std::time::Instant;

use rquickjs::function::Opt;
use rquickjs::{Ctx, Exception, Function, Object, Value};
use serde_json::{Map, Value as Json};

use super::engine::ScriptInput;
use super::error::{ScriptError, ScriptFailure};
use super::fetch::FetchScope;
use super::globals;
use super::outcome::{self, MAX_MESSAGE, failure};
use super::sandbox::{RunState, RunTrace, Sandbox};

const DEFAULT_DENIAL: &str = "Access denied.";

/// Runs the script against `input`. The result is the claims object or a failure; the caller
/// lets a denial recorded in the trace win over it (rule 2), after deciding from the result
/// whether the sandbox can be reused.
pub(crate) fn run(
    sandbox: &Sandbox,
    source: &str,
    input: &ScriptInput,
    deadline: Instant,
    fetch: FetchScope,
    max_result_bytes: usize,
) -> (Result<Map<String, Json>, ScriptFailure>, RunTrace) {
    let (result, trace) = sandbox.with_run(source, deadline, Some(fetch), |ctx, factory, state, lines| {
        let result = (|| {
            let function = script_function(ctx, factory, state, lines)?;
            let argument = argument(ctx, input, state).map_err(|error| failure(ctx, error, Some(state), lines))?;
            let value =
                function.call::<_, Value>((argument,)).map_err(|error| failure(ctx, error, Some(state), lines))?;
            let value = settle(ctx, value, state, lines)?;
            outcome::claims(ctx, value, max_result_bytes, state, lines)
        })();
        drain(ctx, state)?;
        result
    });
    (result, trace)
}

/// Runs the script's top level and checks that it yields `getCustomJwtClaims`.
pub(crate) fn check(sandbox: &Sandbox, source: &str, deadline: Instant) -> Result<(), ScriptFailure> {
    let (result, _) = sandbox.with_run(source, deadline, None, |ctx, factory, state, lines| {
        let result = script_function(ctx, factory, state, lines).map(drop);
        drain(ctx, state)?;
        result
    });
    result
}

/// Calls the factory: the script's top level runs afresh and hands back its function.
fn script_function<'js>(
    ctx: &Ctx<'js>,
    factory: Function<'js>,
    state: &RunState,
    lines: u32,
) -> Result<Function<'js>, ScriptFailure> {
    let value: Value = factory.call(()).map_err(|error| failure(ctx, error, Some(state), lines))?;
    value.into_function().ok_or(ScriptFailure::Invalid(ScriptError::MissingFunction))
}

/// Rule 1: `{ token, context, environmentVariables, api }`; `context` is absent (so
/// `undefined`) for machine-to-machine tokens.
fn argument<'js>(ctx: &Ctx<'js>, input: &ScriptInput, state: &Rc<RunState>) -> rquickjs::Result<Object<'js>> {
    let argument = Object::new(ctx.clone())?;
    argument.set("token", json(ctx, &input.token)?)?;
    if let Some(context) = &input.context {
        argument.set("context", json(ctx, context)?)?;
    }
    let variables = serde_json::to_string(&input.environment_variables).unwrap_or_else(|_| "{}".to_owned());
    argument.set("environmentVariables", ctx.json_parse(variables)?)?;
    let api = Object::new(ctx.clone())?;
    api.set("denyAccess", deny_access(ctx, state)?)?;
    argument.set("api", api)?;
    Ok(argument)
}

fn json<'js>(ctx: &Ctx<'js>, value: &Json) -> rquickjs::Result<Value<'js>> {
    ctx.json_parse(value.to_string())
}

/// Rule 2: `api.denyAccess(message)` records the denial in Rust, then throws an
/// `AccessDeniedError` to stop the script. The function is bound to its run: its context is
/// dropped after the run, and were it ever called during a later one, it would throw without
/// denying that run.
fn deny_access<'js>(ctx: &Ctx<'js>, state: &Rc<RunState>) -> rquickjs::Result<Function<'js>> {
    let state = Rc::clone(state);
    let run = state.generation();
    globals::native(ctx, move |ctx: Ctx<'js>, message: Opt<Value<'js>>| -> rquickjs::Result<()> {
        let message = message.0.filter(|value| !value.is_undefined()).and_then(|value| outcome::coerce(&ctx, value));
        let message = outcome::truncate(message.as_deref().unwrap_or(DEFAULT_DENIAL), MAX_MESSAGE).to_owned();
        if state.generation() == run {
            state.deny(message.clone());
        }
        let error = Exception::from_message(ctx.clone(), &message)?;
        error.as_object().set("name", "AccessDeniedError")?;
        Err(ctx.throw(error.into_value()))
    })
}

/// Rule 1: a returned promise is driven to completion by running QuickJS's job queue. When
/// the queue is empty and the promise still pending, nothing can ever settle it (there are no
/// timers, and `fetch` settles before it returns): that is a timeout, reported at once.
fn settle<'js>(ctx: &Ctx<'js>, value: Value<'js>, state: &RunState, lines: u32) -> Result<Value<'js>, ScriptFailure> {
    let Some(promise) = value.as_promise().cloned() else {
        return Ok(value);
    };
    loop {
        match promise.result::<Value>() {
            Some(Ok(value)) => return Ok(value),
            Some(Err(error)) => return Err(failure(ctx, error, Some(state), lines)),
            None if state.timed_out() || !ctx.execute_pending_job() => return Err(ScriptFailure::Timeout),
            None => {}
        }
    }
}

/// Runs whatever jobs the script left queued (promises it did not await) before its context is
/// dropped, so that a denial in one of them still counts (rule 2) and none is left in the
/// runtime's queue for the next run; they count against the same deadline.
fn drain(ctx: &Ctx<'_>, state: &RunState) -> Result<(), ScriptFailure> {
    while ctx.execute_pending_job() {
        if state.timed_out() {
            return Err(ScriptFailure::Timeout);
        }
    }
    Ok(())
}
