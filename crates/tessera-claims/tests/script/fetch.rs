//! Rule 7: `fetch` reaches only listed hosts, never private addresses through DNS names, and
//! stays within the run's time and size limits.

use std::time::{Duration, Instant};

use serde_json::json;
use tessera_claims::{FetchPolicy, ScriptFailure};

use super::support::{TestServer, engine, engine_with, http_response, policy, user_input};

/// A script that fetches `url` and returns either the response or the rejection message.
fn probe(url: &str) -> String {
    format!(
        r#"async function getCustomJwtClaims() {{
            try {{
              const response = await fetch({url:?});
              return {{ status: response.status, ok: response.ok, body: await response.text() }};
            }} catch (error) {{
              return {{ error: String(error) }};
            }}
        }}"#
    )
}

fn error_of(policy: &FetchPolicy, url: &str) -> String {
    let claims = engine().run(&probe(url), &user_input(), policy).unwrap();
    claims
        .get("error")
        .and_then(|error| error.as_str())
        .unwrap_or_else(|| panic!("expected a rejection, got {claims:?}"))
        .to_owned()
}

#[test]
fn fetch_rejects_clearly_when_no_host_is_allowed() {
    let error = error_of(&FetchPolicy::disabled(), "https://api.example.com/");
    assert_eq!(error, "TypeError: fetch is disabled: no hosts are allowed for custom claims scripts");
}

#[test]
fn an_unlisted_host_is_refused() {
    let server = TestServer::start(1, |_| http_response("200 OK", &[], "should not be reached"));
    let policy = policy(&["api.example.com", "127.0.0.2"]);
    let error = error_of(&policy, &format!("http://127.0.0.1:{}/", server.port()));
    assert!(error.contains("is not in the fetch allow list"), "{error}");
    assert!(error_of(&policy, "https://evil.example.com/").contains("not in the fetch allow list"));
    assert!(error_of(&policy, "file:///etc/passwd").contains("only http and https"));
    assert!(error_of(&policy, "not a url").contains("invalid URL"));
    assert!(server.requests().is_empty());
}

#[test]
fn a_listed_loopback_ip_literal_is_reachable() {
    let server = TestServer::start(1, |request| {
        let echo = json!({ "head": request.head.lines().next(), "body": request.body }).to_string();
        http_response("201 Created", &[("Content-Type", "application/json"), ("X-Trace", "t-1")], &echo)
    });
    let source = r#"async function getCustomJwtClaims({ environmentVariables }) {
        const response = await fetch(`http://127.0.0.1:${environmentVariables.PORT}/roles?user=1`, {
          method: "POST",
          headers: { "Content-Type": "application/json", Authorization: `Bearer ${environmentVariables.API_KEY}` },
          body: JSON.stringify({ user: 1 }),
        });
        const data = await response.json();
        return { status: response.status, ok: response.ok, type: response.headers.get("content-type"), trace: response.headers.get("X-TRACE"), missing: response.headers.get("nope"), data };
    }"#;
    let mut input = user_input();
    input.environment_variables.insert("PORT".to_owned(), server.port().to_string());
    let policy = policy(&[&format!("127.0.0.1:{}", server.port())]);
    let claims = engine().run(source, &input, &policy).unwrap();
    assert_eq!(
        serde_json::Value::Object(claims),
        json!({
            "status": 201, "ok": true, "type": "application/json", "trace": "t-1", "missing": null,
            "data": { "head": "POST /roles?user=1 HTTP/1.1", "body": "{\"user\":1}" }
        })
    );
    let seen = server.requests();
    assert_eq!(seen.len(), 1);
    let head = seen[0].head.to_ascii_lowercase();
    assert!(head.contains("authorization: bearer k-123"), "{head}");
}

#[test]
fn a_listed_dns_name_that_resolves_to_loopback_is_refused() {
    let server = TestServer::start(1, |_| http_response("200 OK", &[], "should not be reached"));
    let policy = policy(&["localhost"]);
    let error = error_of(&policy, &format!("http://localhost:{}/", server.port()));
    assert!(error.contains("resolves only to non-public addresses"), "{error}");
    assert!(server.requests().is_empty());
}

#[test]
fn the_port_must_match_an_entry_that_names_one() {
    let server = TestServer::start(1, |_| http_response("200 OK", &[], "reached"));
    let policy = policy(&[&format!("127.0.0.1:{}", server.port().wrapping_add(1).max(1))]);
    let error = error_of(&policy, &format!("http://127.0.0.1:{}/", server.port()));
    assert!(error.contains("not in the fetch allow list"), "{error}");
}

#[test]
fn redirects_are_returned_not_followed() {
    let server = TestServer::start(2, |_| {
        http_response("302 Found", &[("Location", "http://169.254.169.254/latest/meta-data")], "")
    });
    let policy = policy(&[&format!("127.0.0.1:{}", server.port())]);
    let claims = engine().run(&probe(&format!("http://127.0.0.1:{}/", server.port())), &user_input(), &policy).unwrap();
    assert_eq!(serde_json::Value::Object(claims), json!({ "status": 302, "ok": false, "body": "" }));
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn response_bodies_over_the_cap_are_refused() {
    let server = TestServer::start(1, |_| http_response("200 OK", &[], &"x".repeat(4096)));
    let engine = engine_with(|limits| limits.max_fetch_body_bytes = 1024);
    let policy = policy(&[&format!("127.0.0.1:{}", server.port())]);
    let claims = engine.run(&probe(&format!("http://127.0.0.1:{}/", server.port())), &user_input(), &policy).unwrap();
    let error = claims["error"].as_str().unwrap_or_default();
    assert!(error.contains("larger than 1024 bytes"), "{error}");
}

#[test]
fn a_slow_server_cannot_stretch_the_run_past_its_deadline() {
    let server = TestServer::start(1, |_| {
        std::thread::sleep(Duration::from_secs(5));
        http_response("200 OK", &[], "late")
    });
    let engine = engine_with(|limits| limits.wall_time = Duration::from_millis(300));
    let policy = policy(&[&format!("127.0.0.1:{}", server.port())]);
    let source = format!(
        "async function getCustomJwtClaims() {{ const r = await fetch('http://127.0.0.1:{}/'); return {{ body: await r.text() }}; }}",
        server.port()
    );
    let started = Instant::now();
    let result = engine.run(&source, &user_input(), &policy);
    let elapsed = started.elapsed();
    assert!(matches!(result, Err(ScriptFailure::Timeout | ScriptFailure::Thrown { .. })), "{result:?}");
    // The server answers after 5 s; the run ends at its 300 ms deadline. The bound is
    // far from both so that a loaded machine (CI) cannot fail it by scheduling alone.
    assert!(elapsed < Duration::from_secs(2), "took {elapsed:?}");
}

#[test]
fn only_string_bodies_and_valid_headers_are_sent() {
    let policy = policy(&["127.0.0.1:9"]);
    let cases = [
        ("{ method: 'POST', body: { a: 1 } }", "only string bodies"),
        ("{ headers: { 'bad header': 'x' } }", "invalid header name"),
        ("{ headers: { Host: 'internal' } }", "Host header cannot be set"),
        ("{ method: 'GE T' }", "invalid method"),
    ];
    for (init, expected) in cases {
        let source = format!(
            "async function getCustomJwtClaims() {{ try {{ await fetch('http://127.0.0.1:9/', {init}); return {{}}; }} catch (e) {{ return {{ error: String(e) }}; }} }}"
        );
        let claims = engine().run(&source, &user_input(), &policy).unwrap();
        let error = claims["error"].as_str().unwrap_or_default();
        assert!(error.contains(expected), "{init}: {error}");
    }
}

#[test]
fn fetch_works_from_a_blocking_task_of_an_async_runtime() {
    // How the web crates will call the engine: `spawn_blocking` / `web::block`.
    let server = TestServer::start(1, |_| http_response("200 OK", &[], "from the server"));
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let port = server.port();
    let task = runtime.spawn_blocking(move || {
        engine().run(
            &probe(&format!("http://127.0.0.1:{port}/")),
            &user_input(),
            &policy(&[&format!("127.0.0.1:{port}")]),
        )
    });
    let claims = runtime.block_on(task).unwrap().unwrap();
    assert_eq!(serde_json::Value::Object(claims), json!({ "status": 200, "ok": true, "body": "from the server" }));
}
