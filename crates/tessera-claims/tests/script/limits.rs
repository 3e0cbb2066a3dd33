//! Rule 3 and rule 10: time, memory and stack are bounded by the engine, and a run that hits a
//! limit leaves the engine usable.

use std::time::{Duration, Instant};

use serde_json::json;
use tessera_claims::ScriptFailure;

use super::support::{claims, engine, engine_with, run};

const NORMAL: &str = "function getCustomJwtClaims({ token }) { return { sub: token.sub }; }";

fn assert_times_out_within_the_limit(source: &str) {
    let engine = engine();
    let started = Instant::now();
    let result = run(&engine, source);
    let elapsed = started.elapsed();
    assert_eq!(result, Err(ScriptFailure::Timeout));
    // The script would run forever; the limit ends it. The margin is wide enough that a
    // loaded machine (CI) cannot fail this by scheduling alone.
    let bound = engine.limits().wall_time + Duration::from_secs(1);
    assert!(elapsed <= bound, "took {elapsed:?}, more than {bound:?}");
    assert_eq!(claims(&engine, NORMAL), json!({ "sub": "user-1" }), "the engine works after a timeout");
}

#[test]
fn an_endless_loop_times_out_within_the_limit_plus_100ms() {
    assert_times_out_within_the_limit("function getCustomJwtClaims() { while (true) {} }");
}

#[test]
fn an_endless_loop_that_catches_everything_still_times_out() {
    assert_times_out_within_the_limit(
        "function getCustomJwtClaims() { for (;;) { try { while (true) {} } catch (e) {} finally { continue; } } }",
    );
}

#[test]
fn an_endless_async_loop_times_out() {
    assert_times_out_within_the_limit("async function getCustomJwtClaims() { for (let i = 0; ; i++) { await null; } }");
}

#[test]
fn an_endless_loop_in_an_unawaited_promise_times_out() {
    assert_times_out_within_the_limit(
        "function getCustomJwtClaims() { (async () => { while (true) await Promise.resolve(); })(); return { a: 1 }; }",
    );
}

#[test]
fn a_never_settling_promise_times_out() {
    let source = "function getCustomJwtClaims() { return new Promise(() => {}); }";
    assert_eq!(run(&engine(), source), Err(ScriptFailure::Timeout));
    let awaiting = "async function getCustomJwtClaims() { await new Promise(() => {}); return { a: 1 }; }";
    assert_eq!(run(&engine(), awaiting), Err(ScriptFailure::Timeout));
}

#[test]
fn catastrophic_regex_backtracking_times_out() {
    assert_times_out_within_the_limit(
        r#"function getCustomJwtClaims() { return { m: /^(a+)+$/.test("a".repeat(40) + "b") }; }"#,
    );
}

#[test]
fn a_memory_bomb_ends_with_out_of_memory_and_the_engine_recovers() {
    // A generous wall time, so that a loaded machine still hits the memory limit first.
    let engine = engine_with(|limits| {
        limits.memory_bytes = 8 << 20;
        limits.wall_time = Duration::from_secs(10);
    });
    let bombs = [
        "function getCustomJwtClaims() { const a = []; for (let i = 0; ; i++) a.push('x'.repeat(100) + i); }",
        "function getCustomJwtClaims() { const kept = []; for (let n = 1; ; n *= 2) kept.push('x'.repeat(n)); }",
        "function getCustomJwtClaims() { const m = new Map(); for (let i = 0; ; i++) m.set(i, { i }); }",
        "async function getCustomJwtClaims() { const a = []; while (true) { a.push(new Array(1000).fill(1)); await null; } }",
        "function getCustomJwtClaims() { try { const a = []; while (true) a.push(new Array(1000).fill(1)); } catch (e) { return { survived: String(e) }; } }",
    ];
    for bomb in bombs {
        let result = run(&engine, bomb);
        assert!(
            matches!(result, Err(ScriptFailure::OutOfMemory))
                || matches!(&result, Ok(claims) if claims.contains_key("survived")),
            "{bomb}: {result:?}"
        );
        assert_eq!(claims(&engine, NORMAL), json!({ "sub": "user-1" }), "the engine works after {bomb}");
    }
    assert!(engine.stats().discarded >= 4, "{:?}", engine.stats());
}

#[test]
fn a_huge_string_is_out_of_memory_not_a_crash() {
    let engine = engine_with(|limits| limits.memory_bytes = 4 << 20);
    assert_eq!(
        run(&engine, "function getCustomJwtClaims() { return { s: 'x'.repeat(64 * 1024 * 1024) }; }"),
        Err(ScriptFailure::OutOfMemory)
    );
    assert_eq!(claims(&engine, NORMAL), json!({ "sub": "user-1" }));
}

#[test]
fn deep_recursion_is_a_thrown_range_error_not_a_crash() {
    let engine = engine();
    for source in [
        "function getCustomJwtClaims() { const f = (n) => f(n + 1) + 1; return { n: f(0) }; }",
        "async function getCustomJwtClaims() { const f = async (n) => (await f(n + 1)) + 1; return { n: await f(0) }; }",
        "function getCustomJwtClaims() { let o = {}; for (let i = 0; i < 200000; i++) o = { o }; return JSON.parse(JSON.stringify(o)); }",
    ] {
        match run(&engine, source) {
            Err(ScriptFailure::Thrown { message, .. }) => {
                assert!(message.contains("RangeError") || message.contains("stack"), "{message}")
            }
            Err(ScriptFailure::InvalidResult { .. } | ScriptFailure::OutOfMemory | ScriptFailure::Timeout) => {}
            other => panic!("{source}: {other:?}"),
        }
    }
    assert_eq!(claims(&engine, NORMAL), json!({ "sub": "user-1" }));
}

#[test]
fn a_deeply_nested_result_is_invalid_not_a_crash() {
    let source = "function getCustomJwtClaims() { let o = {}; for (let i = 0; i < 5000; i++) o = { o }; return o; }";
    assert!(matches!(run(&engine(), source), Err(ScriptFailure::InvalidResult { .. })));
}
