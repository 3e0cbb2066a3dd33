//! Rule 2: `api.denyAccess(message)` denies, and the script cannot take it back.

use serde_json::json;
use tessera_claims::{FetchPolicy, ScriptFailure};

use super::support::{claims, engine, run, user_input};

fn denied(message: &str) -> Result<serde_json::Map<String, serde_json::Value>, ScriptFailure> {
    Err(ScriptFailure::Denied { message: message.to_owned() })
}

#[test]
fn deny_access_from_sync_code_denies_with_its_message() {
    let source = r#"function getCustomJwtClaims({ context, api }) {
        if (context.user.customData.plan === "pro") api.denyAccess("pro users need MFA");
        return { a: 1 };
    }"#;
    assert_eq!(run(&engine(), source), denied("pro users need MFA"));
}

#[test]
fn deny_access_inside_async_code_denies() {
    let source = r#"async function getCustomJwtClaims({ api }) {
        await Promise.resolve();
        api.denyAccess("not today");
        return { a: 1 };
    }"#;
    assert_eq!(run(&engine(), source), denied("not today"));
}

#[test]
fn catching_the_denial_does_not_let_issuance_continue() {
    let source = r#"async function getCustomJwtClaims({ api }) {
        try { api.denyAccess("blocked"); } catch (error) { /* ignore it */ }
        try { await Promise.reject(0).catch(() => api.denyAccess("again")); } catch {}
        return { sneaky: true };
    }"#;
    assert_eq!(run(&engine(), source), denied("blocked"));
}

#[test]
fn the_thrown_denial_is_an_access_denied_error() {
    let source = r#"function getCustomJwtClaims({ api }) {
        try { api.denyAccess("x"); } catch (error) { console.log(error instanceof Error, error.name, error.message); }
        return {};
    }"#;
    let report = engine().run_with_report(source, &user_input(), &FetchPolicy::disabled());
    assert_eq!(report.outcome, denied("x"));
    assert_eq!(report.logs, ["true AccessDeniedError x"]);
}

#[test]
fn deny_access_without_a_usable_message_uses_a_default() {
    assert_eq!(run(&engine(), "function getCustomJwtClaims({ api }) { api.denyAccess(); }"), denied("Access denied."));
    let throwing =
        "function getCustomJwtClaims({ api }) { api.denyAccess({ toString() { throw new Error('no'); } }); }";
    assert_eq!(run(&engine(), throwing), denied("Access denied."));
    assert_eq!(run(&engine(), "function getCustomJwtClaims({ api }) { api.denyAccess(42); }"), denied("42"));
}

#[test]
fn a_denial_in_an_unawaited_promise_still_denies() {
    let source = r#"function getCustomJwtClaims({ api }) {
        Promise.resolve().then(() => api.denyAccess("late"));
        return { a: 1 };
    }"#;
    assert_eq!(run(&engine(), source), denied("late"));
}

#[test]
fn an_api_kept_from_an_earlier_run_cannot_deny_a_later_run() {
    let source = r#"function getCustomJwtClaims({ api }) {
        const earlier = globalThis.keptApi;
        globalThis.keptApi = api;
        if (earlier) { try { earlier.denyAccess("stale"); } catch {} }
        return { ok: true };
    }"#;
    let engine = engine();
    assert_eq!(claims(&engine, source), json!({ "ok": true }));
    assert_eq!(claims(&engine, source), json!({ "ok": true }));
}

#[test]
fn a_denial_followed_by_an_endless_loop_is_still_a_denial() {
    let engine = engine();
    let source = "function getCustomJwtClaims({ api }) { try { api.denyAccess('stop'); } catch {} while (true) {} }";
    assert_eq!(run(&engine, source), denied("stop"));
    assert_eq!(engine.stats().discarded, 1, "the timed-out sandbox is not reused");
}
