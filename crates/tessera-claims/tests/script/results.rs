//! Rule 4, rule 5 and rule 10: only a plain JSON object within the size cap is a result; thrown
//! values become bounded messages with the script line.

use serde_json::json;
use tessera_claims::ScriptFailure;

use super::support::{claims, engine, engine_with, run};

fn assert_invalid(source: &str) {
    match run(&engine(), source) {
        Err(ScriptFailure::InvalidResult { message }) => assert!(!message.is_empty()),
        other => panic!("{source}: expected InvalidResult, got {other:?}"),
    }
}

#[test]
fn anything_but_an_object_is_an_invalid_result() {
    for body in [
        "return 42;",
        "return 'claims';",
        "return true;",
        "return [1, 2];",
        "return null;",
        "return undefined;",
        "",
        "return Symbol('s');",
        "return 10n;",
        "return () => 1;",
        "return new Date(0);",
        "return Promise.resolve([1]);",
    ] {
        assert_invalid(&format!("function getCustomJwtClaims() {{ {body} }}"));
    }
}

#[test]
fn unserializable_objects_are_invalid_results() {
    for body in [
        "const o = { a: 1 }; o.self = o; return o;",
        "return { big: 10n };",
        "return { get boom() { throw new Error('getter'); } };",
        "return { toJSON() { throw 'nope'; } };",
        "return new Proxy({}, { ownKeys() { throw new Error('trap'); } });",
    ] {
        assert_invalid(&format!("function getCustomJwtClaims() {{ {body} }}"));
    }
}

#[test]
fn results_larger_than_the_cap_are_invalid() {
    let engine = engine_with(|limits| limits.max_result_bytes = 1024);
    let source = "function getCustomJwtClaims() { return { blob: 'x'.repeat(2000) }; }";
    match run(&engine, source) {
        Err(ScriptFailure::InvalidResult { message }) => assert!(message.contains("at most 1024"), "{message}"),
        other => panic!("{other:?}"),
    }
    assert_invalid("function getCustomJwtClaims() { return { blob: 'x'.repeat(20 * 1024) }; }");
}

#[test]
fn nested_json_values_come_back_as_json() {
    let source = r#"function getCustomJwtClaims() {
        return { s: "é✓", n: 1.5, i: -3, t: true, z: null, a: [1, "two", { three: 3 }], o: { deep: { er: [] } }, skipped: undefined, nan: NaN };
    }"#;
    assert_eq!(
        claims(&engine(), source),
        json!({ "s": "é✓", "n": 1.5, "i": -3, "t": true, "z": null, "a": [1, "two", { "three": 3 }], "o": { "deep": { "er": [] } }, "nan": null })
    );
}

#[test]
fn proxies_and_class_instances_serialize_like_json_stringify() {
    let source = r#"
        class Claims { constructor() { this.kind = "class"; } }
        function getCustomJwtClaims() {
          return { proxy: new Proxy({ a: 1 }, { get: (target, key) => (key === "a" ? 2 : target[key]) }), instance: new Claims() };
        }"#;
    assert_eq!(claims(&engine(), source), json!({ "proxy": { "a": 2 }, "instance": { "kind": "class" } }));
}

#[test]
fn a_thrown_error_gives_its_message_and_script_line() {
    let source = "function getCustomJwtClaims({ context }) {\n  const plan = context.user.customData.plan;\n  throw new TypeError(`no claims for ${plan}`);\n}";
    assert_eq!(
        run(&engine(), source),
        Err(ScriptFailure::Thrown { message: "TypeError: no claims for pro".to_owned(), line: Some(3) })
    );
    let source = "\n\nfunction getCustomJwtClaims({ context }) {\n  return { x: context.missing.field };\n}";
    match run(&engine(), source) {
        Err(ScriptFailure::Thrown { message, line }) => {
            assert!(message.starts_with("TypeError: "), "{message}");
            assert_eq!(line, Some(4));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_rejected_promise_is_thrown_with_its_line() {
    let source = "async function getCustomJwtClaims() {\n  await null;\n  throw new Error('later');\n}";
    assert_eq!(
        run(&engine(), source),
        Err(ScriptFailure::Thrown { message: "Error: later".to_owned(), line: Some(3) })
    );
}

#[test]
fn thrown_values_that_are_not_errors_are_described() {
    let cases = [
        ("throw 'plain string';", "plain string"),
        ("throw 42;", "42"),
        ("throw undefined;", "undefined"),
        ("throw { code: 7 };", "uncaught {\"code\":7}"),
        ("throw Symbol('s');", "uncaught a symbol"),
        (
            "throw new Proxy({}, { get() { throw new Error('trap'); }, ownKeys() { throw new Error('trap'); } });",
            "uncaught an object",
        ),
        ("throw { toJSON() { throw 1; }, toString() { throw 2; } };", "uncaught an object"),
        ("const e = new Error('m'); Object.defineProperty(e, 'message', { get() { throw 3; } }); throw e;", "Error"),
    ];
    for (body, expected) in cases {
        match run(&engine(), &format!("function getCustomJwtClaims() {{ {body} }}")) {
            Err(ScriptFailure::Thrown { message, .. }) => assert_eq!(message, expected, "{body}"),
            other => panic!("{body}: {other:?}"),
        }
    }
}

#[test]
fn a_thrown_null_counts_as_out_of_memory() {
    // QuickJS's own signal for "the heap is too full to build an error".
    assert_eq!(run(&engine(), "function getCustomJwtClaims() { throw null; }"), Err(ScriptFailure::OutOfMemory));
}

#[test]
fn huge_thrown_strings_are_cut() {
    match run(&engine(), "function getCustomJwtClaims() { throw 'x'.repeat(5000000); }") {
        Err(ScriptFailure::Thrown { message, .. }) => assert_eq!(message.len(), 1000),
        other => panic!("{other:?}"),
    }
}
