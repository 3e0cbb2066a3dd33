//! What the engine adds to each run's fresh context besides the intrinsics: `console`, `fetch`
//! and `Headers`.
//!
//! A context is built for every run (finding 13), so this is on the hot path: `console` is made
//! of native functions (no JavaScript to parse), and the JavaScript half of `fetch` and `Headers`
//! (`prelude.js`) is compiled only when a script first reads one of them.

use std::cell::Cell;
use std::rc::Rc;

use rquickjs::context::EvalOptions;
use rquickjs::function::{IntoJsFunc, Rest};
use rquickjs::object::Property;
use rquickjs::{Ctx, Function, Object, Value};

use super::fetch;
use super::outcome;
use super::sandbox::RunState;

const PRELUDE_NAME: &str = "tessera-prelude.js";
const PRELUDE: &str = include_str!("prelude.js");

/// The `console` methods; every level but `log` prefixes its lines with `[level] `.
const LEVELS: [&str; 5] = ["log", "info", "warn", "error", "debug"];

/// Rule 6: installs `console` (frozen, collected into the run's logs) and lazy `fetch` and
/// `Headers` on the context's global object.
pub(crate) fn install<'js>(ctx: &Ctx<'js>, state: &Rc<RunState>) -> rquickjs::Result<()> {
    let globals = ctx.globals();
    globals.prop("console", Property::from(console(ctx, state)?))?;
    let object: Object = globals.get("Object")?;
    let define: Function = object.get("defineProperty")?;
    let loaded = Rc::new(Cell::new(false));
    for name in ["fetch", "Headers"] {
        let state = Rc::clone(state);
        let loaded = Rc::clone(&loaded);
        let get = native(ctx, move |ctx: Ctx<'js>| -> rquickjs::Result<Value<'js>> {
            if !loaded.replace(true) {
                load_prelude(&ctx, &state)?;
            }
            ctx.globals().get(name)
        })?;
        // Configurable, so that loading the prelude can replace it with the fixed value.
        let descriptor = Object::new(ctx.clone())?;
        descriptor.set("get", get)?;
        descriptor.set("configurable", true)?;
        define.call::<_, Value>((globals.clone(), name, descriptor))?;
    }
    Ok(())
}

/// A native function that belongs to the run's context.
///
/// Finding 13: rquickjs gives every Rust function the `Function.prototype` of the first context
/// of the runtime that made one, and keeps it for the runtime's life. Left so, a script could
/// reach that older context through `console.log.constructor` or the prototype chain, and keep
/// state there for later runs; so the prototype is replaced with this context's own.
pub(crate) fn native<'js, P, F>(ctx: &Ctx<'js>, f: F) -> rquickjs::Result<Function<'js>>
where
    F: IntoJsFunc<'js, P> + 'js,
{
    let function = Function::new(ctx.clone(), f)?;
    function.set_prototype(Some(&Function::prototype(ctx.clone())))?;
    Ok(function)
}

/// `console.log(...values)` and the other levels: each value described as the browser would
/// show it in one line (a string as is, an `Error` as `Name: message`, anything else as JSON
/// when it has a JSON form), joined by spaces.
fn console<'js>(ctx: &Ctx<'js>, state: &Rc<RunState>) -> rquickjs::Result<Object<'js>> {
    let console = Object::new(ctx.clone())?;
    for level in LEVELS {
        let state = Rc::clone(state);
        let write = native(ctx, move |ctx: Ctx<'js>, values: Rest<Value<'js>>| {
            let line: Vec<String> = values.0.into_iter().map(|value| describe(&ctx, value)).collect();
            state.log(level, &line.join(" "));
        })?;
        console.prop(level, Property::from(write).enumerable())?;
    }
    let object: Object = ctx.globals().get("Object")?;
    let freeze: Function = object.get("freeze")?;
    freeze.call::<_, Value>((console.clone(),))?;
    Ok(console)
}

/// One `console` argument as text. Nothing the script does here (a throwing `toJSON`, getter or
/// `toString`) escapes: each attempt that throws falls through to the next.
fn describe<'js>(ctx: &Ctx<'js>, value: Value<'js>) -> String {
    if let Some(text) = value.as_string().and_then(|text| text.to_string().ok()) {
        return text;
    }
    if value.is_error()
        && let Some(text) = outcome::coerce(ctx, value.clone())
    {
        return text;
    }
    match ctx.json_stringify(value.clone()) {
        Ok(Some(json)) => {
            if let Ok(json) = json.to_string() {
                return json;
            }
        }
        Ok(None) => {}
        Err(_) => {
            let _ = ctx.catch();
        }
    }
    if let Some(symbol) = value.as_symbol() {
        let description = symbol.description().ok().filter(|description| !description.is_undefined());
        return format!(
            "Symbol({})",
            description.and_then(|description| outcome::coerce(ctx, description)).unwrap_or_default()
        );
    }
    outcome::coerce(ctx, value).unwrap_or_else(|| "[object]".to_owned())
}

/// Evaluates `prelude.js` in the current context and hands it the native `fetch`; it defines
/// `fetch` and `Headers` as fixed globals in place of the getters. An error is thrown into the
/// script that touched them.
fn load_prelude(ctx: &Ctx<'_>, state: &Rc<RunState>) -> rquickjs::Result<()> {
    let native_fetch = fetch::native_function(ctx, Rc::clone(state))?;
    let mut options = EvalOptions::default();
    options.filename = Some(PRELUDE_NAME.to_owned());
    let install: Function = ctx.eval_with_options(PRELUDE, options)?;
    install.call::<_, Value>((native_fetch,)).map(drop)
}
