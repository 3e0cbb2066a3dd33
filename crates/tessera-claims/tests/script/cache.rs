//! Rule 8: a script is compiled once per version (per thread) and runs are cheap afterwards.

use std::time::{Duration, Instant};

use serde_json::json;
use tessera_claims::{FetchPolicy, ScriptEngine, ScriptFailure};

use super::support::{claims, engine, user_input};

const TRIVIAL: &str = "function getCustomJwtClaims() { return { a: 1 }; }";

#[test]
fn the_engine_is_send_sync_and_cheap_to_clone() {
    fn shareable<T: Send + Sync + Clone + 'static>() {}
    shareable::<ScriptEngine>();
}

#[test]
fn a_script_is_compiled_once_and_reused() {
    let engine = engine();
    for _ in 0..20 {
        assert_eq!(claims(&engine, TRIVIAL), json!({ "a": 1 }));
    }
    assert_eq!(engine.check(TRIVIAL), Ok(()));
    let stats = engine.stats();
    assert_eq!((stats.runs, stats.compilations, stats.discarded), (20, 1, 0));
}

#[test]
fn an_edited_script_is_compiled_anew() {
    let engine = engine();
    assert_eq!(claims(&engine, TRIVIAL), json!({ "a": 1 }));
    assert_eq!(claims(&engine, "function getCustomJwtClaims() { return { a: 2 }; }"), json!({ "a": 2 }));
    assert_eq!(claims(&engine, TRIVIAL), json!({ "a": 1 }));
    assert_eq!(engine.stats().compilations, 2);
}

#[test]
fn engines_do_not_share_sandboxes() {
    // The same source on the same thread: each engine's runtime has its own memory limit.
    let source = "function getCustomJwtClaims() { const a = []; for (let i = 0; i < 100000; i++) a.push({ i }); return { n: a.length }; }";
    let tight = super::support::engine_with(|limits| {
        limits.memory_bytes = 1 << 20;
        limits.wall_time = Duration::from_secs(10);
    });
    let roomy = super::support::engine_with(|limits| limits.wall_time = Duration::from_secs(10));
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
    assert!(stats.compilations <= 4, "{stats:?}");
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
