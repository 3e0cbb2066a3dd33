//! `tessera connection …` as a user runs it.

use std::process::Output;

use super::Workdir;

fn fails_naming(output: &Output, flag: &str) {
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with(&format!("error: {flag}")), "expected {flag}: {err}");
}

#[test]
fn a_connection_is_created_with_its_scope_and_a_secret_shown_once() {
    let dir = Workdir::new();
    let created = dir.tessera(&["connection", "create", "--name", "library-api", "--display-name", "Library API"]);
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    let out = String::from_utf8_lossy(&created.stdout);
    let secret = out.lines().find_map(|l| l.strip_prefix("Connection secret (shown once): ")).unwrap().to_owned();
    assert_eq!(secret.len(), 43);
    let shown = dir.json(&["connection", "show", "library-api", "--json"]);
    assert_eq!(shown["name"], "library-api");
    assert_eq!(shown["display_name"], "Library API");
    assert_eq!(shown["scopes"][0]["name"], "library-api");
    assert_eq!(shown["secrets"].as_array().unwrap().len(), 1);
    assert!(!shown.to_string().contains(&secret), "show never prints a secret");
    let human = String::from_utf8_lossy(&dir.tessera(&["connection", "show", "library-api"]).stdout).into_owned();
    assert!(!human.contains(&secret));

    let added = dir.tessera(&["connection", "add-scope", "library-api", "--scope", "library-api.checked-books"]);
    assert!(added.status.success());
    let shown = dir.json(&["connection", "show", "library-api", "--json"]);
    assert_eq!(shown["scopes"].as_array().unwrap().len(), 2);
    let listed = dir.json(&["connection", "list", "--json"]);
    assert_eq!(listed.as_array().unwrap().len(), 1);
}

#[test]
fn rotation_keeps_the_old_secret_for_the_grace_period() {
    let dir = Workdir::new();
    dir.json(&["connection", "create", "--name", "orders", "--json"]);
    let rotated = dir.json(&["connection", "rotate-secret", "orders", "--grace", "3600", "--json"]);
    assert_eq!(rotated["secret"].as_str().unwrap().len(), 43);
    let shown = dir.json(&["connection", "show", "orders", "--json"]);
    let secrets = shown["secrets"].as_array().unwrap();
    assert_eq!(secrets.len(), 2, "both valid during the grace period");
    assert!(secrets.iter().any(|s| s["expires_at"].is_i64()));
    dir.json(&["connection", "rotate-secret", "orders", "--grace", "0", "--json"]);
    let shown = dir.json(&["connection", "show", "orders", "--json"]);
    assert_eq!(shown["secrets"].as_array().unwrap().len(), 1, "a zero grace ends the old secrets at once");
}

#[test]
fn bad_input_is_one_line_naming_the_flag_and_writes_nothing() {
    let dir = Workdir::new();
    fails_naming(&dir.tessera(&["connection", "create", "--name", "Not Valid"]), "--name");
    fails_naming(&dir.tessera(&["connection", "create", "--name", "profile"]), "--name");
    fails_naming(
        &dir.tessera(&["connection", "create", "--name", "ok-api", "--token-format", "paseto"]),
        "--token-format",
    );
    assert_eq!(dir.json(&["connection", "list", "--json"]).as_array().unwrap().len(), 0);
    dir.json(&["connection", "create", "--name", "ok-api", "--json"]);
    fails_naming(&dir.tessera(&["connection", "create", "--name", "ok-api"]), "--name");
    fails_naming(&dir.tessera(&["connection", "add-scope", "ok-api", "--scope", "email"]), "--scope");
    fails_naming(&dir.tessera(&["connection", "show", "missing"]), "name");
    fails_naming(&dir.tessera(&["connection", "rotate-secret", "missing"]), "name");
}

#[test]
fn delete_removes_the_connection_and_its_scopes() {
    let dir = Workdir::new();
    dir.json(&["connection", "create", "--name", "gone-api", "--json"]);
    let deleted = dir.tessera(&["connection", "delete", "gone-api"]);
    assert!(deleted.status.success());
    assert_eq!(dir.json(&["connection", "list", "--json"]).as_array().unwrap().len(), 0);
    fails_naming(&dir.tessera(&["connection", "delete", "gone-api"]), "name");
    // The scope name is free again.
    dir.json(&["connection", "create", "--name", "gone-api", "--json"]);
}

#[test]
fn the_cli_audits_a_rotation_as_the_api_does() {
    let dir = Workdir::new();
    dir.json(&["connection", "create", "--name", "orders", "--json"]);
    dir.json(&["connection", "rotate-secret", "orders", "--grace", "3600", "--json"]);
    let store = dir.store();
    let all = tessera_store::audit::AuditFilter::default();
    let events =
        store.read_transaction(|c| tessera_store::audit::list(c, &all, &tessera_store::Page::first(50))).unwrap().items;
    let rotated = events.iter().find(|e| e.action == "connection.rotate_secret").expect("a rotation event");
    assert_eq!(rotated.actor, "cli");
    assert_eq!(rotated.target, "connection:orders");
    assert_eq!(rotated.summary, serde_json::json!({ "secret_issued": true, "grace_period_seconds": 3600 }));
}

#[test]
fn the_token_exchange_policy_is_shown_and_replaced_through_the_api_rules() {
    let dir = Workdir::new();
    dir.json(&["connection", "create", "--name", "orders-api", "--json"]);
    dir.json(&["connection", "create", "--name", "billing-api", "--json"]);
    let created = dir.tessera(&[
        "app",
        "create",
        "--name",
        "Orders backend",
        "--type",
        "machine",
        "--client-id",
        "orders-backend",
        "--grant-type",
        "client_credentials",
        "--grant-type",
        "urn:ietf:params:oauth:grant-type:token-exchange",
    ]);
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    let empty = dir.json(&["connection", "token-exchange", "billing-api"]);
    assert_eq!(empty["rules"], serde_json::json!([]));
    let rules =
        r#"{"rules": [{"client_id": "orders-backend", "source_audience": "orders-api", "scopes": ["billing-api"]}]}"#;
    let set = dir.json(&["connection", "token-exchange", "billing-api", "--set", rules]);
    assert_eq!(set["rules"][0]["client_id"], "orders-backend");
    assert_eq!(set["rules"][0]["impersonation"], false);
    let unknown =
        r#"{"rules": [{"client_id": "nobody-app", "source_audience": "orders-api", "scopes": ["billing-api"]}]}"#;
    fails_naming(&dir.tessera(&["connection", "token-exchange", "billing-api", "--set", unknown]), "--set");
    fails_naming(&dir.tessera(&["connection", "token-exchange", "billing-api", "--set", "{"]), "--set");
    let shown = dir.json(&["connection", "token-exchange", "billing-api"]);
    assert_eq!(shown["rules"].as_array().unwrap().len(), 1, "a refused change writes nothing");
}

#[test]
fn a_resource_uri_is_set_and_the_metadata_document_printed() {
    let dir = Workdir::new();
    let created = dir.tessera(&[
        "connection",
        "create",
        "--name",
        "orders-api",
        "--display-name",
        "Orders",
        "--resource-uri",
        "https://orders.example.com",
    ]);
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    let printed = dir.json(&["connection", "metadata", "orders-api"]);
    assert_eq!(printed["resource"], "https://orders.example.com");
    assert_eq!(printed["resource_name"], "Orders");
    assert_eq!(printed["scopes_supported"], serde_json::json!(["orders-api"]));
    assert_eq!(printed["bearer_methods_supported"], serde_json::json!(["header"]));
    assert!(printed["authorization_servers"][0].as_str().is_some_and(|s| s.starts_with("http")), "{printed}");
    let moved =
        dir.tessera(&["connection", "set-resource-uri", "orders-api", "--uri", "https://api.example.com/orders"]);
    assert!(moved.status.success(), "{}", String::from_utf8_lossy(&moved.stderr));
    assert_eq!(
        dir.json(&["connection", "show", "orders-api", "--json"])["resource_uri"],
        "https://api.example.com/orders"
    );
    fails_naming(
        &dir.tessera(&["connection", "set-resource-uri", "orders-api", "--uri", "http://api.example.com"]),
        "--uri",
    );
    fails_naming(
        &dir.tessera(&["connection", "create", "--name", "x-api", "--resource-uri", "https://a.example/#f"]),
        "--resource-uri",
    );
    dir.json(&["connection", "create", "--name", "billing-api", "--json"]);
    let taken =
        dir.tessera(&["connection", "set-resource-uri", "billing-api", "--uri", "https://api.example.com/orders"]);
    fails_naming(&taken, "--uri");
    assert!(dir.tessera(&["connection", "set-resource-uri", "orders-api", "--uri", ""]).status.success());
    let none = dir.tessera(&["connection", "metadata", "orders-api"]);
    assert!(!none.status.success(), "no resource URI, no document");
}
