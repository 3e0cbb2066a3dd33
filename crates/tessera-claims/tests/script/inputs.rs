//! Rule 1: every input reaches the script, sync and async functions both work.

use serde_json::json;
use tessera_claims::FetchPolicy;

use super::support::{claims, engine, machine_input};

#[test]
fn every_input_field_reaches_the_script() {
    let source = r#"
        function getCustomJwtClaims({ token, context, environmentVariables, api }) {
          return {
            sub: token.sub,
            audience: token.aud[0],
            email: context.user.email,
            roles: context.user.roles.map((role) => role.name),
            plan: context.user.customData.plan,
            tier: environmentVariables.TIER,
            types: [typeof token, typeof context, typeof environmentVariables, typeof environmentVariables.API_KEY, typeof api.denyAccess],
          };
        }
    "#;
    assert_eq!(
        claims(&engine(), source),
        json!({
            "sub": "user-1",
            "audience": "orders",
            "email": "ada@example.com",
            "roles": ["admin", "editor"],
            "plan": "pro",
            "tier": "gold",
            "types": ["object", "object", "object", "string", "function"],
        })
    );
}

#[test]
fn context_is_undefined_for_machine_tokens() {
    let source = r#"
        function getCustomJwtClaims({ token, context, environmentVariables }) {
          return { hasContext: context !== undefined, kind: typeof context, client: token.client_id, variables: Object.keys(environmentVariables).length };
        }
    "#;
    let result = engine().run(source, &machine_input(), &FetchPolicy::disabled()).unwrap();
    assert_eq!(
        serde_json::Value::Object(result),
        json!({ "hasContext": false, "kind": "undefined", "client": "svc", "variables": 0 })
    );
}

#[test]
fn async_functions_are_driven_to_completion() {
    let source = r#"
        const pause = () => new Promise((resolve) => resolve());
        const getCustomJwtClaims = async ({ context }) => {
          const one = await Promise.resolve(1);
          await pause();
          await null;
          const [two, three] = await Promise.all([2, Promise.resolve(3)]);
          return { sum: one + two + three, email: context.user.email };
        };
    "#;
    assert_eq!(claims(&engine(), source), json!({ "sum": 6, "email": "ada@example.com" }));
}

#[test]
fn a_returned_promise_chain_is_driven_to_completion() {
    let source =
        "function getCustomJwtClaims() { return Promise.resolve(20).then((n) => n + 1).then((n) => ({ n: n * 2 })); }";
    assert_eq!(claims(&engine(), source), json!({ "n": 42 }));
}

#[test]
fn script_level_bindings_are_fresh_on_every_run() {
    let source = "let calls = 0; var seen = []; function getCustomJwtClaims({ token }) { calls += 1; seen.push(token.sub); return { calls, seen }; }";
    let engine = engine();
    for _ in 0..3 {
        assert_eq!(claims(&engine, source), json!({ "calls": 1, "seen": ["user-1"] }));
    }
}
