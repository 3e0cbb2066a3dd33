//! Turning what QuickJS hands back (a value or an exception) into claims or a
//! [`ScriptFailure`], without trusting anything the script controls.

use rquickjs::convert::Coerced;
use rquickjs::{Ctx, Object, Type, Value};
use serde_json::{Map, Value as Json};

use super::error::{ScriptError, ScriptFailure};
use super::sandbox::{RunState, SCRIPT_NAME};

/// Messages taken from the script (thrown values, denials) are cut to this many bytes.
pub(crate) const MAX_MESSAGE: usize = 1_000;

/// Rule 4: the result must serialize to a JSON object of at most `max_bytes`. Serialization
/// runs the script's getters, `toJSON` and Proxy traps under the same deadline; if any of them
/// throws, the result is invalid.
pub(crate) fn claims<'js>(
    ctx: &Ctx<'js>,
    value: Value<'js>,
    max_bytes: usize,
    state: &RunState,
    source_lines: u32,
) -> Result<Map<String, Json>, ScriptFailure> {
    let invalid = |message: String| ScriptFailure::InvalidResult { message };
    let kind = match value.type_of() {
        Type::Object | Type::Proxy => None,
        Type::Array => Some("an array"),
        Type::Undefined | Type::Uninitialized => Some("undefined"),
        Type::Null => Some("null"),
        Type::Promise => Some("a promise that resolved to another promise"),
        other => Some(type_article(other)),
    };
    if let Some(kind) = kind {
        return Err(invalid(format!("getCustomJwtClaims returned {kind}; it must return an object of claims")));
    }
    let json = match ctx.json_stringify(value) {
        Ok(Some(json)) => json.to_string().map_err(|error| failure(ctx, error, Some(state), source_lines))?,
        Ok(None) => return Err(invalid("the result cannot be serialized as JSON".to_owned())),
        Err(error) => {
            return Err(match failure(ctx, error, Some(state), source_lines) {
                ScriptFailure::Thrown { message, .. } => {
                    invalid(format!("the result cannot be serialized as JSON: {message}"))
                }
                other => other,
            });
        }
    };
    if json.len() > max_bytes {
        return Err(invalid(format!("the result is {} bytes of JSON; at most {max_bytes} are allowed", json.len())));
    }
    match serde_json::from_str::<Json>(&json) {
        Ok(Json::Object(claims)) => Ok(claims),
        Ok(other) => Err(invalid(format!("the result serializes to {}, not an object", json_kind(&other)))),
        Err(error) => Err(invalid(format!("the result is not valid JSON: {error}"))),
    }
}

/// Maps an error out of QuickJS to a failure. Order matters: the deadline first (the interrupt
/// is uncatchable and may surface as any exception), then memory, then the thrown value.
pub(crate) fn failure(
    ctx: &Ctx<'_>,
    error: rquickjs::Error,
    state: Option<&RunState>,
    source_lines: u32,
) -> ScriptFailure {
    let thrown = match error {
        rquickjs::Error::Exception => Some(ctx.catch()),
        _ => None,
    };
    if state.is_some_and(RunState::timed_out) {
        return ScriptFailure::Timeout;
    }
    match (error, thrown) {
        (_, Some(value)) => {
            let thrown = describe(ctx, value, source_lines);
            if state.is_some_and(RunState::timed_out) {
                ScriptFailure::Timeout
            } else if thrown.out_of_memory {
                ScriptFailure::OutOfMemory
            } else {
                ScriptFailure::Thrown { message: thrown.message, line: thrown.position.map(|(line, _)| line) }
            }
        }
        (rquickjs::Error::Allocation, None) => ScriptFailure::OutOfMemory,
        (other, None) => ScriptFailure::Engine { message: other.to_string() },
    }
}

/// Rule 5 at save time: a parse error with its 1-based position in the admin's source.
pub(crate) fn compile_failure(
    ctx: &Ctx<'_>,
    error: rquickjs::Error,
    source: &str,
    source_lines: u32,
    state: &RunState,
) -> ScriptFailure {
    if !matches!(error, rquickjs::Error::Exception) || state.timed_out() {
        return failure(ctx, error, Some(state), source_lines);
    }
    let thrown = describe(ctx, ctx.catch(), source_lines);
    if thrown.out_of_memory {
        return ScriptFailure::OutOfMemory;
    }
    let Some(message) = thrown.message.strip_prefix("SyntaxError: ") else {
        // Code that ran while compiling (a source that closes the wrapper early) threw.
        return ScriptFailure::Thrown { message: thrown.message, line: thrown.position.map(|(line, _)| line) };
    };
    // A parse error past the end of the source (an unclosed brace or comment) is reported
    // inside the wrapper; point at the end of the source instead.
    let (line, column) = thrown.position.unwrap_or_else(|| {
        let last = source.lines().last().unwrap_or_default();
        (source_lines, u32::try_from(last.chars().count() + 1).unwrap_or(u32::MAX))
    });
    ScriptError::Syntax { message: message.to_owned(), line, column }.into()
}

/// A thrown value, described without trusting it.
struct Description {
    message: String,
    /// 1-based (line, column) in the admin's source, from the innermost script frame.
    position: Option<(u32, u32)>,
    out_of_memory: bool,
}

/// Rule 10: any thrown value (an `Error`, a string, a Proxy, an object whose `toString`
/// throws, a huge string) yields a bounded message and never a panic.
fn describe<'js>(ctx: &Ctx<'js>, value: Value<'js>, source_lines: u32) -> Description {
    if let Some(error) = value.as_object().filter(|object| object.is_error()) {
        let name = text_property(error, "name").unwrap_or_else(|| "Error".to_owned());
        let message = text_property(error, "message").unwrap_or_default();
        let position = text_property(error, "stack").and_then(|stack| script_position(&stack, source_lines));
        let out_of_memory = name == "InternalError" && message == "out of memory";
        let message = if message.is_empty() { name } else { format!("{name}: {message}") };
        return Description { message: truncate(&message, MAX_MESSAGE).to_owned(), position, out_of_memory };
    }
    // QuickJS throws a bare `null` when the heap is too full to build even its "out of memory"
    // error (`JS_ThrowError2`). A script's own `throw null` looks the same; both end the run.
    if value.is_null() {
        return Description { message: "null".to_owned(), position: None, out_of_memory: true };
    }
    let message = match value.type_of() {
        Type::String => value.as_string().and_then(|s| s.to_string().ok()),
        Type::Object | Type::Proxy | Type::Array => match ctx.json_stringify(value.clone()) {
            Ok(Some(json)) => json.to_string().ok().map(|json| format!("uncaught {json}")),
            _ => None,
        },
        Type::Function | Type::Constructor => None,
        _ => coerce(ctx, value.clone()),
    }
    .unwrap_or_else(|| format!("uncaught {}", type_article(value.type_of())));
    if ctx.has_exception() {
        let _ = ctx.catch();
    }
    Description { message: truncate(&message, MAX_MESSAGE).to_owned(), position: None, out_of_memory: false }
}

/// `String(value)`; a coercion that throws gives `None`.
pub(crate) fn coerce<'js>(ctx: &Ctx<'js>, value: Value<'js>) -> Option<String> {
    match rquickjs::FromJs::from_js(ctx, value) {
        Ok(Coerced(text)) => Some(text),
        Err(_) => {
            let _ = ctx.catch();
            None
        }
    }
}

/// A property read as text; getters and coercions that throw give `None`.
fn text_property(object: &Object<'_>, key: &str) -> Option<String> {
    match object.get::<_, Option<Coerced<String>>>(key) {
        Ok(text) => text.map(|Coerced(text)| text),
        Err(_) => {
            let _ = object.ctx().catch();
            None
        }
    }
}

/// Finds `custom-jwt-claims.js:LINE:COLUMN` in a QuickJS stack trace (the innermost frame of
/// the admin's script) and maps it back into the source (the wrapper adds one line).
fn script_position(stack: &str, source_lines: u32) -> Option<(u32, u32)> {
    stack.match_indices(SCRIPT_NAME).find_map(|(at, name)| {
        let rest = stack.get(at + name.len()..)?.strip_prefix(':')?;
        let (line, rest) = rest.split_once(':')?;
        let column: String = rest.chars().take_while(char::is_ascii_digit).collect();
        let line = line.parse::<u32>().ok()?.checked_sub(1).filter(|line| (1..=source_lines).contains(line))?;
        Some((line, column.parse().ok()?))
    })
}

/// Cuts `text` to at most `max` bytes on a character boundary.
pub(crate) fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

fn type_article(kind: Type) -> &'static str {
    match kind {
        Type::Bool => "a boolean",
        Type::Int | Type::Float => "a number",
        Type::String => "a string",
        Type::Symbol => "a symbol",
        Type::BigInt => "a bigint",
        Type::Function | Type::Constructor => "a function",
        Type::Array => "an array",
        Type::Object | Type::Proxy => "an object",
        Type::Null => "null",
        Type::Undefined | Type::Uninitialized => "undefined",
        _ => "a non-JSON value",
    }
}

fn json_kind(value: &Json) -> &'static str {
    match value {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_come_from_the_innermost_script_frame_minus_the_wrapper_line() {
        let stack = "    at fetch (tessera-prelude.js:90:5)\n    at f (custom-jwt-claims.js:4:13)\n    at g (custom-jwt-claims.js:9:1)\n";
        assert_eq!(script_position(stack, 20), Some((3, 13)));
        assert_eq!(script_position("    at custom-jwt-claims.js:3:11\n", 20), Some((2, 11)));
        assert_eq!(script_position("    at custom-jwt-claims.js:1:1\n", 20), None, "the wrapper's own line");
        assert_eq!(script_position("    at <eval> (native)\n", 20), None);
    }

    #[test]
    fn truncation_keeps_whole_characters() {
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("héllo", 3), "hé");
        assert_eq!(truncate("short", 100), "short");
    }
}
