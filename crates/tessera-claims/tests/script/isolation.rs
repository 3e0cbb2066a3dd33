//! Rule 3 and review finding 13: every run starts from a fresh context, and the heap the engine
//! keeps between runs is bounded whatever the scripts do.

use serde_json::json;

use super::support::{claims, engine};

/// Reads what earlier runs may have left on the global object, on a built-in prototype and in
/// an implicit (undeclared) global, then leaves its own marks there.
const STASHER: &str = r#"function getCustomJwtClaims() {
    const seen = {
      global: globalThis.stash ?? null,
      prototype: Object.prototype.stash ?? null,
      implicit: typeof implicitStash === "undefined" ? null : implicitStash,
    };
    globalThis.stash = "global";
    Object.prototype.stash = "prototype";
    implicitStash = "implicit";
    return seen;
}"#;

#[test]
fn a_value_put_on_global_this_is_not_seen_by_the_next_run_of_the_same_script_or_of_another() {
    let engine = engine();
    let nothing = json!({ "global": null, "prototype": null, "implicit": null });
    assert_eq!(claims(&engine, STASHER), nothing);
    assert_eq!(claims(&engine, STASHER), nothing, "the same script, run again");
    let another = STASHER.replace("function getCustomJwtClaims", "const unused = 1;\nfunction getCustomJwtClaims");
    assert_eq!(claims(&engine, &another), nothing, "another script");
    assert_eq!(claims(&engine, STASHER), nothing, "the first script after the other");
}

/// The same through the engine's own native functions: their prototype and constructor must
/// belong to the run's context, not to an earlier one the runtime keeps.
const NATIVE_STASHER: &str = r#"function getCustomJwtClaims({ api }) {
    const natives = [console.log, api.denyAccess, Object.getOwnPropertyDescriptor(globalThis, "fetch").get]
      .filter((native) => typeof native === "function");
    const realms = natives.map((native) => native.constructor("return globalThis")());
    const seen = {
      realm: realms.some((realm) => realm.stash !== undefined),
      prototype: Object.getPrototypeOf(console.log).stash ?? null,
      own: realms.every((realm) => realm === globalThis) && Object.getPrototypeOf(console.log) === Function.prototype,
    };
    realms.forEach((realm) => { realm.stash = "realm"; });
    Object.getPrototypeOf(console.log).stash = "prototype";
    return seen;
}"#;

#[test]
fn a_value_put_through_a_native_function_is_not_seen_by_the_next_run() {
    let engine = engine();
    let nothing = json!({ "realm": false, "prototype": null, "own": true });
    assert_eq!(claims(&engine, NATIVE_STASHER), nothing);
    assert_eq!(claims(&engine, NATIVE_STASHER), nothing, "the same script, run again");
}

#[test]
fn the_heap_kept_between_runs_stays_bounded_when_scripts_stash_large_arrays_on_global_this() {
    // Each run keeps 24 MiB of typed arrays reachable from globalThis (review finding 13's
    // reproduction), each with a distinct source.
    let engine = engine();
    for run in 0..32 {
        let source = format!(
            "function getCustomJwtClaims() {{ globalThis.k{run} = Array.from({{ length: 6 }}, () => new Uint8Array(4 << 20)); return {{ run: {run} }}; }}"
        );
        assert_eq!(claims(&engine, &source), json!({ "run": run }));
    }
    let stats = engine.stats();
    assert!(stats.cached_bytes <= engine.limits().cache_bytes, "{stats:?}");
    assert!(stats.cached_bytes < 1 << 20, "this thread's cached runtime holds no run's arrays: {stats:?}");
}
