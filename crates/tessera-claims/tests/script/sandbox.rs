//! Rule 6: no host access beyond what the engine grants; the standard library works.

use serde_json::json;
use tessera_claims::{FetchPolicy, ScriptFailure};

use super::support::{claims, engine, run, user_input};

#[test]
fn no_file_system_modules_or_host_objects_are_reachable() {
    let source = r#"function getCustomJwtClaims() {
        const names = ["require", "process", "std", "os", "module", "exports", "Deno", "Bun", "setTimeout", "setInterval", "XMLHttpRequest", "performance", "WeakRef", "print", "scriptArgs", "bjson"];
        return Object.fromEntries(names.map((name) => [name, typeof globalThis[name]]));
    }"#;
    let result = claims(&engine(), source);
    for (name, kind) in result.as_object().unwrap() {
        assert_eq!(kind, "undefined", "{name} should not exist");
    }
}

#[test]
fn dynamic_import_fails() {
    for specifier in ["std", "os", "./other.js", "/etc/passwd"] {
        let source = format!("async function getCustomJwtClaims() {{ await import({specifier:?}); return {{}}; }}");
        assert!(matches!(run(&engine(), &source), Err(ScriptFailure::Thrown { .. })), "{specifier}");
    }
}

#[test]
fn date_math_json_regexp_and_collections_work() {
    let source = r#"function getCustomJwtClaims() {
        const when = new Date(Date.UTC(2026, 0, 2));
        const parsed = JSON.parse('{"k":[1,2]}');
        const set = new Set([1, 1, 2]);
        const map = new Map([["a", 1]]);
        const bytes = new Uint8Array([1, 2, 3]);
        return {
          iso: when.toISOString(), now: typeof Date.now(), max: Math.max(3, 9), floor: Math.floor(2.7), random: Math.random() < 1,
          json: parsed.k.length, match: /^ab+c$/.test("abbc"), set: set.size, map: map.get("a"), bytes: bytes.reduce((a, b) => a + b, 0),
          text: "a-b-c".split("-").reverse().join(""), padded: "7".padStart(3, "0"), symbol: typeof Symbol.iterator,
        };
    }"#;
    assert_eq!(
        claims(&engine(), source),
        json!({ "iso": "2026-01-02T00:00:00.000Z", "now": "number", "max": 9, "floor": 2, "random": true, "json": 2, "match": true, "set": 2, "map": 1, "bytes": 6, "text": "cba", "padded": "007", "symbol": "symbol" })
    );
}

#[test]
fn eval_and_the_function_constructor_stay_inside_the_sandbox() {
    let source = "function getCustomJwtClaims() { return { e: eval('1 + 1'), f: new Function('a', 'return a * 3')(5), g: typeof (0, eval)('globalThis') }; }";
    assert_eq!(claims(&engine(), source), json!({ "e": 2, "f": 15, "g": "object" }));
}

#[test]
fn console_output_is_collected_not_printed() {
    let source = r#"function getCustomJwtClaims({ token }) {
        console.log("issuing for", token.sub, { n: 1 }, [2]);
        console.warn("careful");
        console.error(new Error("shown"));
        return {};
    }"#;
    let report = engine().run_with_report(source, &user_input(), &FetchPolicy::disabled());
    assert_eq!(report.outcome, Ok(serde_json::Map::new()));
    assert_eq!(report.logs, ["issuing for user-1 {\"n\":1} [2]", "[warn] careful", "[error] Error: shown"]);
}

#[test]
fn console_output_is_bounded() {
    let source =
        "function getCustomJwtClaims() { for (let i = 0; i < 1000; i++) console.log('x'.repeat(10000)); return {}; }";
    let report = engine().run_with_report(source, &user_input(), &FetchPolicy::disabled());
    assert_eq!(report.logs.len(), 101);
    assert!(report.logs.iter().all(|line| line.len() <= 2_000));
}

#[test]
fn the_sandbox_globals_cannot_be_replaced() {
    let source = r#"function getCustomJwtClaims() {
        fetch = () => "hijacked";
        console = null;
        return { fetch: typeof fetch, console: typeof console.log };
    }"#;
    assert_eq!(claims(&engine(), source), json!({ "fetch": "function", "console": "function" }));
}
