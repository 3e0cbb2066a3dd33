//! The example against a real Tessera started in-process on a fresh SQLite database
//! (`support`: the connections and applications the tests use).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use resource_server::Config;
use serde_json::{Value, json};
use support::{DpopKey, Example, Tessera, challenge, example_with_metadata};

const CHALLENGE: &str = r#"Bearer realm="resource-server""#;
const INVALID_TOKEN: &str = r#"Bearer realm="resource-server", error="invalid_token""#;

#[test]
fn the_metadata_document_is_served_at_its_well_known_url_and_named_in_every_401() {
    let tessera = Tessera::start();
    let (example, document) = example_with_metadata(&tessera);
    let base = example.base.clone();

    let response = example.get("/.well-known/oauth-protected-resource", None);
    assert_eq!(response.status(), 200);
    let served: Value = response.json().unwrap();
    assert_eq!(served, document);
    assert_eq!(served["resource"], base.as_str());
    assert_eq!(served["authorization_servers"], json!([tessera.base]));
    assert_eq!(served["bearer_methods_supported"], json!(["header"]));
    assert_eq!(example.get("/.well-known/oauth-protected-resource/other", None).status(), 404);

    // RFC 9728 §5.1: every challenge names the document, beside the RFC 6750 error.
    let url = format!("{base}/.well-known/oauth-protected-resource");
    let response = example.get("/protected", None);
    assert_eq!(response.status(), 401);
    assert_eq!(challenge(&response), format!(r#"{CHALLENGE}, resource_metadata="{url}""#));
    let response = example.protected("not-a-token");
    assert_eq!(challenge(&response), format!(r#"{INVALID_TOKEN}, resource_metadata="{url}""#));
    let bound = tessera.issue_bound("machine", "orders-api", &DpopKey::new());
    let response = example.protected(&bound);
    assert_eq!(response.status(), 401);
    let dpop = challenge(&response);
    assert!(dpop.starts_with("DPoP algs=") && dpop.contains(r#"error="invalid_token""#), "{dpop}");
    assert!(dpop.ends_with(&format!(r#"resource_metadata="{url}""#)), "{dpop}");

    // What an agent does next: a token for the resource the document names.
    let token = tessera.issue_with("machine", &[("resource", served["resource"].as_str().unwrap())]);
    let response = example.protected(&token);
    assert_eq!(response.status(), 200);
    let body: Value = response.json().unwrap();
    let mut scopes: Vec<&str> = body["scope"].as_str().unwrap().split(' ').collect();
    scopes.sort();
    assert_eq!(scopes, ["orders-api", "orders.read"], "only this API's scopes: {body}");
}

#[test]
fn the_public_route_needs_no_token() {
    let tessera = Tessera::start();
    let example = Example::start(tessera.config());
    let response = example.get("/public", None);
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().unwrap(), json!({"message": "hello, anyone"}));
    assert_eq!(example.calls(), 0);
}

#[test]
fn a_request_without_a_bearer_token_is_challenged_without_asking_tessera() {
    let tessera = Tessera::start();
    let example = Example::start(tessera.config());
    for authorization in [None, Some("Basic b3JkZXJzLWFwaTp4"), Some("Bearer"), Some("Bearer two words")] {
        let response = example.get("/protected", authorization);
        assert_eq!(response.status(), 401, "{authorization:?}");
        assert_eq!(challenge(&response), CHALLENGE, "{authorization:?}");
    }
    assert_eq!(example.calls(), 0);
}

#[test]
fn an_active_token_with_the_connection_scope_is_accepted() {
    let tessera = Tessera::start();
    let example = Example::start(tessera.config());
    for client_id in ["machine", "ref-machine"] {
        let token = tessera.issue(client_id, "orders-api billing-api");
        let response = example.protected(&token);
        assert_eq!(response.status(), 200, "{client_id}");
        assert_eq!(
            response.json::<Value>().unwrap(),
            json!({"message": "hello", "sub": client_id, "client_id": client_id, "scope": "orders-api"}),
            "introspection shows only this connection's scopes"
        );
    }
}

#[test]
fn a_token_for_another_connection_is_an_invalid_token_here() {
    let tessera = Tessera::start();
    let example = Example::start(tessera.config());
    let token = tessera.issue("machine", "billing-api billing.read");
    let response = example.protected(&token);
    assert_eq!(response.status(), 401);
    assert_eq!(challenge(&response), INVALID_TOKEN);
    assert_eq!(response.json::<Value>().unwrap()["error"], "invalid_token");
}

#[test]
fn a_garbage_token_is_invalid_and_inactive_answers_are_not_cached() {
    let tessera = Tessera::start();
    let example = Example::start(tessera.config());
    for _ in 0..2 {
        let response = example.protected("not-a-token");
        assert_eq!(response.status(), 401);
        assert_eq!(challenge(&response), INVALID_TOKEN);
    }
    assert_eq!(example.calls(), 2);
    assert_eq!(example.state.cached_tokens(), 0);
}

#[test]
fn an_active_token_without_the_required_scope_is_forbidden() {
    let tessera = Tessera::start();
    let example = Example::start(Config { required_scope: "orders.read".into(), ..tessera.config() });
    let response = example.protected(&tessera.issue("machine", "orders-api"));
    assert_eq!(response.status(), 403);
    assert_eq!(
        challenge(&response),
        r#"Bearer realm="resource-server", error="insufficient_scope", scope="orders.read""#
    );
    assert_eq!(response.json::<Value>().unwrap()["error"], "insufficient_scope");

    let response = example.protected(&tessera.issue("machine", "orders-api orders.read"));
    assert_eq!(response.status(), 200);
    let body: Value = response.json().unwrap();
    let mut scopes: Vec<&str> = body["scope"].as_str().unwrap().split(' ').collect();
    scopes.sort();
    assert_eq!(scopes, ["orders-api", "orders.read"], "only this API's scopes: {body}");
}

#[test]
fn a_second_call_with_the_same_token_is_served_from_the_cache() {
    let mut tessera = Tessera::start();
    let example = Example::start(tessera.config());
    let token = tessera.issue("machine", "orders-api");
    assert_eq!(example.protected(&token).status(), 200);
    assert_eq!(example.protected(&token).status(), 200);
    assert_eq!(example.calls(), 1);
    assert_eq!(example.state.cached_tokens(), 1);

    tessera.stop();
    let response = example.protected(&token);
    assert_eq!(response.status(), 200, "within the TTL the cached answer stands in for Tessera");
    assert_eq!(response.json::<Value>().unwrap()["sub"], "machine");
    assert_eq!(example.calls(), 1);
}

#[test]
fn a_revoked_token_stays_accepted_while_its_answer_is_cached() {
    let tessera = Tessera::start();
    let example = Example::start(tessera.config());
    let cached = tessera.issue("ref-machine", "orders-api");
    let fresh = tessera.issue("ref-machine", "orders-api");
    assert_eq!(example.protected(&cached).status(), 200);
    tessera.revoke(&cached);
    tessera.revoke(&fresh);
    assert_eq!(example.protected(&cached).status(), 200, "accepted for up to CACHE_MAX_TTL seconds");
    assert_eq!(example.protected(&fresh).status(), 401, "never cached, so refused at once");
}

#[test]
fn with_tessera_stopped_an_uncached_token_is_503_not_401() {
    let mut tessera = Tessera::start();
    let example = Example::start(tessera.config());
    let token = tessera.issue("machine", "orders-api");
    tessera.stop();
    let response = example.protected(&token);
    assert_eq!(response.status(), 503);
    assert!(response.headers().get("www-authenticate").is_none());
    assert_eq!(response.headers()["retry-after"], "5");
    assert_eq!(response.json::<Value>().unwrap()["error"], "temporarily_unavailable");
    assert_eq!(example.state.cached_tokens(), 0);
}

#[test]
fn a_wrong_connection_secret_is_503_for_every_token() {
    let tessera = Tessera::start();
    let example = Example::start(Config { connection_secret: "wrong".into(), ..tessera.config() });
    let response = example.protected(&tessera.issue("machine", "orders-api"));
    assert_eq!(response.status(), 503, "Tessera answered 401 invalid_client: no verdict on the token");
    assert_eq!(example.calls(), 1);
}

#[test]
fn a_dpop_bound_token_is_accepted_only_with_a_proof_of_its_key() {
    let tessera = Tessera::start();
    let example = Example::start(tessera.config());
    let key = DpopKey::new();
    let url = format!("{}/protected", example.base);
    let send = |scheme: &str, token: &str, proof: Option<String>| {
        let mut request = example.http.get(&url).header("Authorization", format!("{scheme} {token}"));
        if let Some(proof) = proof {
            request = request.header("DPoP", proof);
        }
        request.send().unwrap()
    };
    for client in ["machine", "ref-machine"] {
        let token = tessera.issue_bound(client, "orders-api", &key);
        let ok = send("DPoP", &token, Some(key.proof("GET", &url, Some(&token))));
        assert_eq!(ok.status(), 200, "{client}");

        let bearer = send("Bearer", &token, None);
        assert_eq!(bearer.status(), 401, "{client}: a bound token as a bearer token");
        assert_eq!(challenge(&bearer), r#"DPoP algs="ES256 EdDSA RS256 PS256", error="invalid_token""#);

        let refused = |response: reqwest::blocking::Response, what: &str| {
            assert_eq!(response.status(), 401, "{client}: {what}");
            assert!(challenge(&response).contains(r#"error="invalid_dpop_proof""#), "{client}: {what}");
        };
        refused(send("DPoP", &token, None), "no proof");
        let once = key.proof("GET", &url, Some(&token));
        assert_eq!(send("DPoP", &token, Some(once.clone())).status(), 200);
        refused(send("DPoP", &token, Some(once)), "replayed proof");
        refused(send("DPoP", &token, Some(DpopKey::new().proof("GET", &url, Some(&token)))), "another key");
        refused(send("DPoP", &token, Some(key.proof("GET", &url, Some("another token")))), "wrong ath");
        refused(send("DPoP", &token, Some(key.proof("GET", &url, None))), "no ath");
        refused(send("DPoP", &token, Some(key.proof("POST", &url, Some(&token)))), "wrong htm");
        let elsewhere = format!("{}/public", example.base);
        refused(send("DPoP", &token, Some(key.proof("GET", &elsewhere, Some(&token)))), "wrong htu");
    }
    // An unbound token under the DPoP scheme.
    let plain = tessera.issue("machine", "orders-api");
    let unbound = send("DPoP", &plain, Some(key.proof("GET", &url, Some(&plain))));
    assert_eq!(unbound.status(), 401);
    assert_eq!(challenge(&unbound), INVALID_TOKEN);
}
