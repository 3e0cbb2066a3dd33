//! Custom-claims scripts over the management API, on both backends: saving (checked by
//! the engine), the test runner, and the encrypted environment variables.

use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::{Method, StatusCode};
use serde_json::{Value, json};
use tessera_store::scripts;
use tessera_testkit::{admin_key, both_backends};

use crate::common::{SCRIPT_WALL_TIME, app, app_with, assert_error, audit_events, call, script_support};

const CLAIMS: &str = "const getCustomJwtClaims = async ({ token, context, environmentVariables }) => {\n  console.log('hello', context.user.username);\n  return { tier: environmentVariables.TIER, name: context.user.username, sub_seen: token.accountId };\n};";

/// A user token's input as the console's sample builds it, cut down.
fn user_input(source: &str) -> Value {
    json!({
        "source": source,
        "token": { "iss": "(issuer)", "sub": "u-1", "client_id": "shop", "scope": "openid", "exp": 10 },
        "context": { "user": { "id": "u-1", "username": "ada" }, "application": { "id": "a-1" }, "grant": {} },
    })
}

async fn run<S>(app: &S, key: &str, kind: &str, body: Value) -> Value
where
    S: Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>,
{
    let (status, result) =
        call(app, Method::POST, &format!("/api/v1/scripts/{kind}/test"), Some(key), Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{result}");
    result
}

async fn set_variable<S>(app: &S, key: &str, name: &str, body: Value) -> (StatusCode, Value)
where
    S: Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>,
{
    call(app, Method::PUT, &format!("/api/v1/script-variables/{name}"), Some(key), Some(body)).await
}

both_backends! {
    async fn scripts_are_shown_empty_until_saved_then_read_back_with_a_version(store: Store) {
        let app = app(&store).await;
        let key = admin_key(&store);
        let (status, list) = call(&app, Method::GET, "/api/v1/scripts", Some(&key), None).await;
        assert_eq!(status, 200, "{list}");
        assert_eq!(list["items"][0], json!({ "kind": "user", "source": "", "enabled": false, "on_failure": "deny", "version": 0, "updated_at": null }));
        assert_eq!(list["items"][1]["kind"], "machine");

        let body = json!({ "source": CLAIMS, "enabled": true, "on_failure": "issue_without_claims" });
        let (status, saved) = call(&app, Method::PUT, "/api/v1/scripts/user", Some(&key), Some(body.clone())).await;
        assert_eq!(status, 200, "{saved}");
        assert_eq!((saved["version"].as_i64(), saved["enabled"].as_bool()), (Some(1), Some(true)));
        let (_, saved) = call(&app, Method::PUT, "/api/v1/scripts/user", Some(&key), Some(body)).await;
        assert_eq!(saved["version"], 2);
        let (status, got) = call(&app, Method::GET, "/api/v1/scripts/user", Some(&key), None).await;
        assert_eq!(status, 200);
        assert_eq!((got["source"].as_str(), got["on_failure"].as_str()), (Some(CLAIMS), Some("issue_without_claims")));
        let (_, machine) = call(&app, Method::GET, "/api/v1/scripts/machine", Some(&key), None).await;
        assert_eq!(machine["version"], 0);
        assert_error(&call(&app, Method::GET, "/api/v1/scripts/robot", Some(&key), None).await, 404, "not_found", None);

        let events = audit_events(&store, "script.save");
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].target, "script:user");
        assert_eq!(events[0].summary, json!({ "kind": "user", "enabled": true, "on_failure": "issue_without_claims", "version": 2 }));
        assert!(events[0].actor.starts_with("key:"));
    }

    async fn a_syntax_error_is_refused_on_source_with_its_line_and_column(store: Store) {
        let app = app(&store).await;
        let key = admin_key(&store);
        let body = json!({ "source": "function getCustomJwtClaims() {\n  return { a: 1 ;\n}", "enabled": true });
        let got = call(&app, Method::PUT, "/api/v1/scripts/user", Some(&key), Some(body)).await;
        assert_error(&got, 400, "invalid_request", Some("source"));
        assert!(got.1["message"].as_str().unwrap().contains("line 2, column 17"), "{}", got.1);

        let body = json!({ "source": "function getClaims() { return {}; }", "enabled": false });
        let got = call(&app, Method::PUT, "/api/v1/scripts/machine", Some(&key), Some(body)).await;
        assert_error(&got, 400, "invalid_request", Some("source"));
        assert!(got.1["message"].as_str().unwrap().contains("getCustomJwtClaims"));

        let body = json!({ "source": CLAIMS, "enabled": true, "on_failure": "shrug" });
        assert_error(&call(&app, Method::PUT, "/api/v1/scripts/user", Some(&key), Some(body)).await, 400, "invalid_request", Some("on_failure"));
        assert!(store.read_transaction(|c| scripts::get(c, scripts::ScriptKind::User)).unwrap().is_none(), "nothing saved");
        assert!(audit_events(&store, "script.save").is_empty());
    }

    async fn an_empty_script_cannot_be_enabled_but_can_be_cleared(store: Store) {
        let app = app(&store).await;
        let key = admin_key(&store);
        let got = call(&app, Method::PUT, "/api/v1/scripts/user", Some(&key), Some(json!({ "source": " \n ", "enabled": true }))).await;
        assert_error(&got, 400, "invalid_request", Some("enabled"));
        let (status, saved) = call(&app, Method::PUT, "/api/v1/scripts/user", Some(&key), Some(json!({ "source": " \n ", "enabled": false }))).await;
        assert_eq!(status, 200, "{saved}");
        assert_eq!((saved["source"].as_str(), saved["version"].as_i64()), (Some(""), Some(1)));
    }

    async fn the_test_runner_returns_claims_logs_and_the_payload_as_issued(store: Store) {
        let app = app(&store).await;
        let key = admin_key(&store);
        assert_eq!(set_variable(&app, &key, "TIER", json!({ "value": "gold" })).await.0, 200);
        let result = run(&app, &key, "user", user_input(CLAIMS)).await;
        assert_eq!(result["claims"], json!({ "tier": "gold", "name": "ada", "sub_seen": "u-1" }), "{result}");
        assert_eq!(result["logs"], json!(["hello ada"]));
        assert!(result["elapsed_ms"].is_u64());
        assert!(result.get("error").is_none());
        assert_eq!(result["payload"]["sub"], "u-1");
        assert_eq!(result["payload"]["tier"], "gold");
        assert_eq!(result["payload"]["iss"], "(issuer)");

        // Variables given for the run override the stored ones; the saved source is the default.
        let mut input = user_input(CLAIMS);
        input["environment_variables"] = json!({ "TIER": "silver" });
        assert_eq!(run(&app, &key, "user", input).await["claims"]["tier"], "silver");
        call(&app, Method::PUT, "/api/v1/scripts/user", Some(&key), Some(json!({ "source": "function getCustomJwtClaims() { return { saved: true }; }", "enabled": false }))).await;
        let mut input = user_input("");
        input.as_object_mut().unwrap().remove("source");
        assert_eq!(run(&app, &key, "user", input).await["claims"], json!({ "saved": true }));

        let tests = audit_events(&store, "script.test");
        assert_eq!(tests.len(), 3);
        assert_eq!(tests[0].summary, json!({ "kind": "user", "source": "saved", "variables_overridden": [], "outcome": "claims" }));
        assert_eq!(tests[1].summary["variables_overridden"], json!(["TIER"]));
        assert!(tests.iter().all(|e| !e.summary.to_string().contains("gold") && !e.summary.to_string().contains("silver")));
    }

    async fn the_test_runner_shows_a_secret_variable_as_its_marker_never_its_value(store: Store) {
        let app = app(&store).await;
        let key = admin_key(&store);
        assert_eq!(set_variable(&app, &key, "STRIPE_KEY", json!({ "value": "sk_live_51HxQ", "secret": true })).await.0, 200);
        assert_eq!(set_variable(&app, &key, "TIER", json!({ "value": "gold" })).await.0, 200);
        let source = "function getCustomJwtClaims({ environmentVariables: env }) {\n  console.log(env.STRIPE_KEY);\n  console.log('key=' + env.STRIPE_KEY + ' tier=' + env.TIER);\n  return { key: env.STRIPE_KEY, length: env.STRIPE_KEY.length, [env.STRIPE_KEY]: 1, tier: env.TIER };\n}";
        let result = run(&app, &key, "user", user_input(source)).await;
        assert!(!result.to_string().contains("sk_live_51HxQ"), "{result}");
        assert_eq!(result["logs"], json!(["[secret:STRIPE_KEY]", "key=[secret:STRIPE_KEY] tier=gold"]));
        // The script itself reads the secret (it runs with it); only what it shows is redacted.
        assert_eq!(result["claims"], json!({ "key": "[secret:STRIPE_KEY]", "length": 13, "[secret:STRIPE_KEY]": 1, "tier": "gold" }));
        assert_eq!(result["payload"]["key"], "[secret:STRIPE_KEY]");

        let thrower = "function getCustomJwtClaims({ environmentVariables: env }) {\n  throw new Error('bad key ' + env.STRIPE_KEY);\n}";
        let result = run(&app, &key, "user", user_input(thrower)).await;
        assert_eq!(result["error"], json!({ "kind": "thrown", "message": "Error: bad key [secret:STRIPE_KEY]", "line": 2 }), "{result}");

        // A value given for the run is the caller's own: shown as is.
        let mut input = user_input(source);
        input["environment_variables"] = json!({ "STRIPE_KEY": "sk_test_given" });
        assert_eq!(run(&app, &key, "user", input).await["logs"][0], "sk_test_given");
        assert!(audit_events(&store, "script.test").iter().all(|e| !e.summary.to_string().contains("sk_live_51HxQ")));
    }

    async fn the_test_runner_reports_a_denial_with_its_message(store: Store) {
        let app = app(&store).await;
        let key = admin_key(&store);
        let source = "function getCustomJwtClaims({ api }) {\n  api.denyAccess('no MFA');\n  return { a: 1 };\n}";
        let result = run(&app, &key, "user", user_input(source)).await;
        assert_eq!(result["error"], json!({ "kind": "denied", "message": "no MFA" }), "{result}");
        assert!(result.get("claims").is_none() && result.get("payload").is_none());
        assert_eq!(audit_events(&store, "script.test")[0].summary["outcome"], "denied");
    }

    async fn the_test_runner_reports_a_thrown_error_with_its_line(store: Store) {
        let app = app(&store).await;
        let key = admin_key(&store);
        let source = "function getCustomJwtClaims() {\n  const x = 1;\n  throw new Error('boom');\n}";
        let result = run(&app, &key, "user", user_input(source)).await;
        assert_eq!(result["error"], json!({ "kind": "thrown", "message": "Error: boom", "line": 3 }), "{result}");
    }

    async fn the_test_runner_stops_a_runaway_script_at_the_wall_time_limit(store: Store) {
        let app = app(&store).await;
        let key = admin_key(&store);
        let source = "function getCustomJwtClaims() {\n  console.log('start');\n  while (true) {}\n}";
        let started = std::time::Instant::now();
        let result = run(&app, &key, "user", user_input(source)).await;
        assert_eq!(result["error"]["kind"], "timeout", "{result}");
        assert_eq!(result["logs"], json!(["start"]));
        let elapsed = result["elapsed_ms"].as_u64().unwrap();
        let limit = SCRIPT_WALL_TIME.as_millis() as u64;
        assert!((limit..limit + 1000).contains(&elapsed), "{elapsed} ms");
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    async fn the_test_runner_reports_a_protected_claim_by_name_and_no_payload(store: Store) {
        let app = app(&store).await;
        let key = admin_key(&store);
        let source = "function getCustomJwtClaims() { return { scope: 'admin', plan: 'pro' }; }";
        let result = run(&app, &key, "user", user_input(source)).await;
        assert_eq!(result["error"]["kind"], "invalid_result", "{result}");
        assert!(result["error"]["message"].as_str().unwrap().ends_with(": scope"), "{result}");
        assert_eq!(result["claims"], json!({ "scope": "admin", "plan": "pro" }));
        assert!(result.get("payload").is_none());
    }

    async fn the_test_runner_reports_a_syntax_error_with_its_line_instead_of_refusing(store: Store) {
        let app = app(&store).await;
        let key = admin_key(&store);
        let result = run(&app, &key, "user", user_input("function getCustomJwtClaims() {\n  return { a: 1 ;\n}")).await;
        assert_eq!(result["error"]["kind"], "invalid", "{result}");
        assert_eq!((result["error"]["line"].as_u64(), result["error"]["column"].as_u64()), (Some(2), Some(17)));
    }

    async fn the_machine_script_gets_no_context_and_a_client_credentials_token(store: Store) {
        let app = app(&store).await;
        let key = admin_key(&store);
        let source = "function getCustomJwtClaims({ token, context }) { return { kind: token.kind, gty: token.gty, context: typeof context }; }";
        let body = json!({ "source": source, "token": { "sub": "svc", "client_id": "svc" } });
        let result = run(&app, &key, "machine", body.clone()).await;
        assert_eq!(result["claims"], json!({ "kind": "ClientCredentials", "gty": "client_credentials", "context": "undefined" }), "{result}");
        let mut with_context = body;
        with_context["context"] = json!({ "user": {} });
        let got = call(&app, Method::POST, "/api/v1/scripts/machine/test", Some(&key), Some(with_context)).await;
        assert_error(&got, 400, "invalid_request", Some("context"));
        let got = call(&app, Method::POST, "/api/v1/scripts/user/test", Some(&key), Some(json!({ "token": "x" }))).await;
        assert_error(&got, 400, "invalid_request", Some("token"));
        let got = call(&app, Method::POST, "/api/v1/scripts/user/test", Some(&key), Some(json!({ "token": {}, "environment_variables": { "BAD-NAME": "x" } }))).await;
        assert_error(&got, 400, "invalid_request", Some("environment_variables.BAD-NAME"));
    }

    async fn variables_are_stored_encrypted_and_secret_values_never_shown(store: Store) {
        let support = script_support();
        let app = app_with(&store, support.clone()).await;
        let key = admin_key(&store);
        let (status, tier) = set_variable(&app, &key, "TIER", json!({ "value": "gold" })).await;
        assert_eq!(status, 200, "{tier}");
        assert_eq!((tier["value"].as_str(), tier["secret"].as_bool()), (Some("gold"), Some(false)));
        let (status, secret) = set_variable(&app, &key, "API_KEY", json!({ "value": "k-123", "secret": true })).await;
        assert_eq!(status, 200, "{secret}");
        assert!(secret.get("value").is_none(), "{secret}");
        // Updated without saying: it stays secret.
        let (_, secret) = set_variable(&app, &key, "API_KEY", json!({ "value": "k-456" })).await;
        assert_eq!(secret["secret"], true);
        assert!(secret.get("value").is_none());

        let (status, list) = call(&app, Method::GET, "/api/v1/script-variables", Some(&key), None).await;
        assert_eq!(status, 200);
        let names: Vec<&str> = list["items"].as_array().unwrap().iter().map(|v| v["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["API_KEY", "TIER"]);
        assert!(list["items"][0].get("value").is_none(), "{list}");
        assert_eq!(list["items"][1]["value"], "gold");

        for (name, plain) in [("API_KEY", "k-456"), ("TIER", "gold")] {
            let raw = store.read_transaction(|c| scripts::get_variable(c, name)).unwrap().unwrap();
            assert_ne!(raw.value, plain, "{name} is stored in the clear");
            assert!(!raw.value.contains(plain));
            let opened = support.master_key.decrypt(&raw.value, &format!("script_variable:{name}")).unwrap();
            assert_eq!(opened, plain.as_bytes());
            assert!(support.master_key.decrypt(&raw.value, "script_variable:OTHER").is_err(), "bound to its name");
        }

        assert_error(&set_variable(&app, &key, "2FA", json!({ "value": "x" })).await, 400, "invalid_request", Some("name"));
        assert_error(&set_variable(&app, &key, "API-KEY", json!({ "value": "x" })).await, 400, "invalid_request", Some("name"));
        assert_error(&set_variable(&app, &key, &"N".repeat(65), json!({ "value": "x" })).await, 400, "invalid_request", Some("name"));
        assert_error(&set_variable(&app, &key, "BIG", json!({ "value": "x".repeat(4097) })).await, 400, "invalid_request", Some("value"));
        assert_eq!(set_variable(&app, &key, "BIG", json!({ "value": "x".repeat(4096) })).await.0, 200);

        let (status, _) = call(&app, Method::DELETE, "/api/v1/script-variables/TIER", Some(&key), None).await;
        assert_eq!(status, 204);
        assert!(store.read_transaction(|c| scripts::get_variable(c, "TIER")).unwrap().is_none());
        assert_error(&call(&app, Method::DELETE, "/api/v1/script-variables/TIER", Some(&key), None).await, 404, "not_found", None);

        let set = audit_events(&store, "script_variable.set");
        assert_eq!(set.len(), 4);
        assert_eq!(set.last().unwrap().summary, json!({ "name": "TIER", "secret": false, "created": true }));
        assert_eq!(audit_events(&store, "script_variable.delete")[0].target, "script_variable:TIER");
        let everything = serde_json::to_string(&store.read_transaction(|c| tessera_store::audit::list(c, &Default::default(), &tessera_store::Page::first(100))).unwrap().items.iter().map(|e| e.summary.clone()).collect::<Vec<_>>()).unwrap();
        assert!(!everything.contains("k-123") && !everything.contains("k-456") && !everything.contains("gold"), "a value reached the audit log");
    }
}
