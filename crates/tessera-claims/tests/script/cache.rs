//! Rule 8: a runtime is built once per thread and reused by every run, so runs stay cheap
//! although each gets a fresh context.

use std::time::{Duration, Instant};

use serde_json::json;
use tessera_claims::{FetchPolicy, ScriptEngine, ScriptFailure};

use super::support::{claims, engine, engine_with, user_input};

const TRIVIAL: &str = "function getCustomJwtClaims() { return { a: 1 }; }";

#[test]
fn the_engine_is_send_sync_and_cheap_to_clone() {
    fn shareable<T: Send + Sync + Clone + 'static>() {}
    shareable::<ScriptEngine>();
}

#[test]
fn one_runtime_per_thread_is_built_and_reused() {
    let engine = engine();
    for _ in 0..20 {
        assert_eq!(claims(&engine, TRIVIAL), json!({ "a": 1 }));
    }
    assert_eq!(engine.check(TRIVIAL), Ok(()));
    let stats = engine.stats();
    assert_eq!((stats.runs, stats.runtimes, stats.discarded, stats.released), (20, 1, 0, 0));
    assert!(stats.cached_bytes > 0 && stats.cached_bytes < 256 << 10, "{stats:?}");
}

#[test]
fn an_edited_script_runs_its_new_code_in_the_same_runtime() {
    let engine = engine();
    assert_eq!(claims(&engine, TRIVIAL), json!({ "a": 1 }));
    assert_eq!(claims(&engine, "function getCustomJwtClaims() { return { a: 2 }; }"), json!({ "a": 2 }));
    assert_eq!(claims(&engine, TRIVIAL), json!({ "a": 1 }));
    assert_eq!(engine.stats().runtimes, 1);
}

#[test]
fn a_runtime_whose_heap_grew_during_a_run_is_freed_not_kept() {
    // A hundred thousand property names grow the runtime's atom table, which outlives the
    // run's context and which QuickJS never shrinks.
    let grower = "function getCustomJwtClaims() { const o = {}; for (let i = 0; i < 100000; i++) o['k' + i] = i; return { a: 1 }; }";
    let engine = engine_with(|limits| limits.wall_time = Duration::from_secs(10));
    assert_eq!(claims(&engine, grower), json!({ "a": 1 }));
    let stats = engine.stats();
    assert_eq!((stats.runtimes, stats.released, stats.cached_bytes), (1, 1, 0), "{stats:?}");
    assert_eq!(claims(&engine, TRIVIAL), json!({ "a": 1 }));
    assert_eq!(engine.stats().runtimes, 2, "the next run builds a new runtime");
}

#[test]
fn runtimes_past_the_cache_budget_are_freed_after_their_run() {
    let engine = engine_with(|limits| limits.cache_bytes = 0);
    for _ in 0..3 {
        assert_eq!(claims(&engine, TRIVIAL), json!({ "a": 1 }));
    }
    let stats = engine.stats();
    assert_eq!((stats.runs, stats.runtimes, stats.released, stats.cached_bytes), (3, 3, 3, 0), "{stats:?}");
}

#[test]
fn a_cached_runtime_gives_its_bytes_back_when_its_thread_ends() {
    let engine = engine();
    let worker = engine.clone();
    // A joined (not scoped) thread: join waits until its thread-locals are dropped.
    std::thread::spawn(move || assert_eq!(claims(&worker, TRIVIAL), json!({ "a": 1 }))).join().unwrap();
    assert_eq!(engine.stats().cached_bytes, 0);
}

#[test]
fn engines_do_not_share_sandboxes() {
    // The same source on the same thread: each engine's runtime has its own memory limit.
    let source = "function getCustomJwtClaims() { const a = []; for (let i = 0; i < 100000; i++) a.push({ i }); return { n: a.length }; }";
    let tight = engine_with(|limits| {
        limits.memory_bytes = 1 << 20;
        limits.wall_time = Duration::from_secs(10);
    });
    let roomy = engine_with(|limits| limits.wall_time = Duration::from_secs(10));
    assert_eq!(claims(&roomy, source), json!({ "n": 100000 }));
    assert_eq!(tight.run(source, &user_input(), &FetchPolicy::disabled()), Err(ScriptFailure::OutOfMemory));
    assert_eq!(claims(&roomy, source), json!({ "n": 100000 }));
}

#[test]
fn one_engine_serves_many_threads() {
    let engine = engine();
    std::thread::scope(|scope| {
        for thread in 0..4 {
            let engine = engine.clone();
            scope.spawn(move || {
                let source = "function getCustomJwtClaims({ environmentVariables }) { return { n: Number(environmentVariables.N) }; }";
                let mut input = user_input();
                input.environment_variables.insert("N".to_owned(), thread.to_string());
                for _ in 0..10 {
                    let claims = engine.run(source, &input, &FetchPolicy::disabled()).unwrap();
                    assert_eq!(claims["n"], json!(thread));
                }
            });
        }
    });
    let stats = engine.stats();
    assert_eq!(stats.runs, 40);
    assert!(stats.runtimes <= 4, "{stats:?}");
}

#[test]
fn a_trivial_script_adds_well_under_a_millisecond() {
    let engine = engine();
    let input = user_input();
    let policy = FetchPolicy::disabled();
    for _ in 0..50 {
        engine.run(TRIVIAL, &input, &policy).unwrap();
    }
    let mut times: Vec<Duration> = (0..500)
        .map(|_| {
            let started = Instant::now();
            engine.run(TRIVIAL, &input, &policy).unwrap();
            started.elapsed()
        })
        .collect();
    times.sort();
    let median = times[times.len() / 2];
    assert!(median < Duration::from_micros(500), "median {median:?}");
}
