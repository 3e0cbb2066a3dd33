//! `tessera app create|list|show|delete` as an operator or a script runs it: the secret
//! is printed once and stored only as its hash, every invalid flag is one line naming it
//! (exit status 2) and writes nothing, and every change leaves an audit event.

use std::process::Output;

use serde_json::Value;
use tessera_store::audit::{self, AuditFilter};
use tessera_store::{Page, Store, applications};
use tessera_tokens::SecretHash;

use super::{Workdir, stderr, stdout};

impl Workdir {
    /// Runs `tessera app ARGS…` and expects success.
    fn app(&self, args: &[&str]) -> String {
        let output = self.tessera(&[&["app"], args].concat());
        assert!(output.status.success(), "app {args:?}: {}", stderr(&output));
        stdout(&output)
    }

    /// Runs `tessera app ARGS… --json` and parses standard output.
    fn app_json(&self, args: &[&str]) -> Value {
        serde_json::from_str(&self.app(&[args, &["--json"]].concat())).unwrap()
    }
}

/// Exit status 2 and exactly one line on standard error, starting with `error: FLAG: `.
fn assert_flag_error(output: &Output, flag: &str) {
    let err = stderr(output);
    assert_eq!(output.status.code(), Some(2), "{flag}: stderr: {err}");
    assert_eq!(err.lines().count(), 1, "one line expected, got: {err}");
    assert!(err.starts_with(&format!("error: {flag}: ")), "expected an error about {flag}, got: {err}");
    assert!(stdout(output).is_empty(), "{}", stdout(output));
}

fn audit_events(store: &Store, action: &str) -> Vec<audit::AuditEvent> {
    let filter = AuditFilter { action: Some(action.into()), ..AuditFilter::default() };
    store.read_transaction(|c| audit::list(c, &filter, &Page::first(100))).unwrap().items
}

fn secret_from(out: &str) -> String {
    let lines: Vec<&str> = out.lines().filter(|l| l.starts_with("Client secret (shown once): ")).collect();
    assert_eq!(lines.len(), 1, "{out}");
    lines[0].trim_start_matches("Client secret (shown once): ").to_owned()
}

const WEB_APP: &[&str] = &[
    "create",
    "--name",
    "Billing portal",
    "--type",
    "web",
    "--client-id",
    "billing",
    "--redirect-uri",
    "https://billing.example.com/callback",
    "--redirect-uri",
    "http://127.0.0.1/callback",
    "--scope",
    "openid",
    "--scope",
    "profile",
];

#[test]
fn create_help_lists_every_flag_with_its_meaning() {
    let dir = Workdir::new();
    let help = stdout(&dir.tessera(&["app", "create", "--help"]));
    for flag in [
        "--name",
        "--type",
        "--client-id",
        "--redirect-uri",
        "--post-logout-redirect-uri",
        "--grant-type",
        "--auth-method",
        "--scope",
        "--required-claim",
        "--token-format",
        "--signing-alg",
        "--access-token-lifetime",
        "--id-token-lifetime",
        "--refresh-token-lifetime",
        "--code-lifetime",
        "--refresh-token-retry-grace",
        "--no-consent",
        "--always-issue-refresh-token",
        "--require-par",
        "--require-dpop",
        "--description",
        "--app-metadata",
        "--jwks",
        "--disabled",
        "--json",
    ] {
        assert!(help.contains(&format!("{flag} ")) || help.contains(&format!("{flag}\n")), "{flag} missing:\n{help}");
    }
    assert!(help.contains("Default: 3600") && help.contains("Default: ES256"), "{help}");
    for args in [["app", "--help"], ["app", "list"], ["app", "show"], ["app", "delete"]] {
        let args = [&args[..], &["--help"]].concat();
        let output = dir.tessera(&args);
        assert!(output.status.success() && stdout(&output).contains("Usage:"), "{args:?}");
    }
}

#[test]
fn a_web_app_gets_a_secret_printed_once_that_show_never_prints() {
    let dir = Workdir::new();
    let out = dir.app(WEB_APP);
    assert!(out.starts_with("Created application \"Billing portal\" (web), client_id billing."), "{out}");
    let secret = secret_from(&out);
    assert_eq!(secret.len(), 43);
    let hash = SecretHash::of(&secret);

    let shown = dir.app(&["show", "billing"]);
    for expected in [
        "Billing portal",
        "web (confidential client)",
        "client_secret_basic",
        "https://billing.example.com/callback",
        "http://127.0.0.1/callback",
        "openid",
        "profile",
        "authorization_code, refresh_token",
        "3600 s",
        "1 live",
    ] {
        assert!(shown.contains(expected), "{expected} missing:\n{shown}");
    }
    let json = dir.app_json(&["show", "billing"]);
    assert_eq!(json["allowed_scopes"], serde_json::json!(["openid", "profile"]));
    for text in [shown, json.to_string(), dir.app(&["list"]), dir.app_json(&["list"]).to_string()] {
        assert!(!text.contains(&secret) && !text.contains(hash.as_str()), "a secret leaked: {text}");
    }

    let store = dir.store();
    let app = store.read_transaction(|c| applications::find_by_client_id(c, &"billing".into())).unwrap().unwrap();
    let secrets = store.read_transaction(|c| applications::live_secrets(c, &app.id, tessera::now())).unwrap();
    assert_eq!(secrets.len(), 1);
    assert_eq!(secrets[0].secret_hash, hash.as_str());
    assert!(SecretHash::from_stored(&secrets[0].secret_hash).matches(&secret));
}

#[test]
fn public_clients_get_no_secret_and_authenticate_with_none() {
    let dir = Workdir::new();
    let out = dir.app(&[
        "create",
        "--name",
        "Shop",
        "--type",
        "spa",
        "--client-id",
        "shop-spa",
        "--redirect-uri",
        "https://shop.example.com/callback",
    ]);
    assert!(!out.contains("Client secret"), "{out}");
    let native = dir.app_json(&[
        "create",
        "--name",
        "Phone app",
        "--type",
        "native",
        "--redirect-uri",
        "com.example.app:/callback",
        "--redirect-uri",
        "http://[::1]/callback",
    ]);
    assert!(native.get("client_secret").is_none(), "{native}");
    for client_id in ["shop-spa", native["client_id"].as_str().unwrap()] {
        let json = dir.app_json(&["show", client_id]);
        assert_eq!(json["token_endpoint_auth_method"], "none");
        assert_eq!(json["grant_types"], serde_json::json!(["authorization_code", "refresh_token"]));
        assert_eq!(json["allowed_scopes"], serde_json::json!(["openid"]));
        let store = dir.store();
        let app = store.read_transaction(|c| applications::find_by_client_id(c, &client_id.into())).unwrap().unwrap();
        assert!(store.read_transaction(|c| applications::live_secrets(c, &app.id, tessera::now())).unwrap().is_empty());
    }
}

#[test]
fn json_output_is_one_object_with_the_secret_only_at_creation() {
    let dir = Workdir::new();
    let created =
        dir.app_json(&["create", "--name", "Reports", "--type", "web", "--redirect-uri", "https://r.example/cb"]);
    let client_id = created["client_id"].as_str().unwrap().to_owned();
    assert_eq!(client_id.len(), 24);
    assert!(client_id.chars().all(|c| c.is_ascii_alphanumeric()), "{client_id}");
    let secret = created["client_secret"].as_str().unwrap().to_owned();
    assert_eq!(created["name"], "Reports");
    assert_eq!(created["access_token_format"], "jwt");
    assert_eq!(created["id_token_signed_response_alg"], "ES256");
    assert_eq!(created["require_consent"], true);

    let listed = dir.app_json(&["list"]);
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["client_id"], client_id.as_str());
    assert!(listed[0].get("client_secret").is_none());
    let shown = dir.app_json(&["show", &client_id]);
    assert!(shown.get("client_secret").is_none());
    assert!(!shown.to_string().contains(&secret));
    let table = dir.app(&["list"]);
    assert!(table.starts_with("CLIENT_ID"), "{table}");
    assert!(table.lines().nth(1).unwrap().starts_with(&client_id), "{table}");
}

#[test]
fn a_machine_app_defaults_to_client_credentials_with_a_secret() {
    let dir = Workdir::new();
    let created = dir.app_json(&["create", "--name", "Nightly export", "--type", "machine"]);
    assert_eq!(created["grant_types"], serde_json::json!(["client_credentials"]));
    assert_eq!(created["token_endpoint_auth_method"], "client_secret_basic");
    assert_eq!(created["allowed_scopes"], serde_json::json!([]));
    assert_eq!(created["client_secret"].as_str().unwrap().len(), 43);
}

#[test]
fn every_setting_given_as_a_flag_is_stored() {
    let dir = Workdir::new();
    let out = dir.app(&[
        "create",
        "--name",
        "  Intranet  ",
        "--type",
        "web",
        "--client-id",
        "intranet.v2",
        "--redirect-uri",
        "https://intranet.example.com/cb",
        "--post-logout-redirect-uri",
        "https://intranet.example.com/",
        "--grant-type",
        "authorization_code",
        "--grant-type",
        "refresh_token",
        "--auth-method",
        "client_secret_post",
        "--scope",
        "openid",
        "--scope",
        "email",
        "--required-claim",
        "email",
        "--token-format",
        "reference",
        "--signing-alg",
        "EdDSA",
        "--access-token-lifetime",
        "600",
        "--id-token-lifetime",
        "900",
        "--refresh-token-lifetime",
        "86400",
        "--code-lifetime",
        "30",
        "--refresh-token-retry-grace",
        "0",
        "--no-consent",
        "--always-issue-refresh-token",
        "--require-par",
        "--require-dpop",
        "--description",
        "Staff portal",
        "--app-metadata",
        r#"{"team":"it"}"#,
        "--disabled",
    ]);
    secret_from(&out);
    let store = dir.store();
    let app = store.read_transaction(|c| applications::find_by_client_id(c, &"intranet.v2".into())).unwrap().unwrap();
    let s = &app.settings;
    assert_eq!(s.name, "Intranet");
    assert_eq!(s.description, "Staff portal");
    assert_eq!(s.token_endpoint_auth_method.as_str(), "client_secret_post");
    assert_eq!(s.access_token_format.as_str(), "reference");
    assert_eq!(s.id_token_signed_response_alg.as_str(), "EdDSA");
    assert_eq!(
        (s.lifetimes.access_token, s.lifetimes.id_token, s.lifetimes.refresh_token, s.lifetimes.authorization_code),
        (600, 900, 86_400, 30)
    );
    assert_eq!(s.lifetimes.refresh_token_retry_grace, 0);
    let listed = dir.app_json(&["list"]);
    assert_eq!(listed[0]["refresh_token_retry_grace_seconds"], 0, "{listed}");
    assert!(dir.app(&["show", "intranet.v2"]).contains("refresh token retry grace:  0 s"));
    assert!(!s.require_consent && s.always_issue_refresh_token && !s.enabled);
    assert!(s.require_pushed_authorization_requests);
    assert!(s.dpop_bound_access_tokens);
    assert_eq!(s.post_logout_redirect_uris, ["https://intranet.example.com/"]);
    assert_eq!(s.allowed_scopes, ["email", "openid"]);
    assert_eq!(s.required_claims, ["email"]);
    assert_eq!(s.app_metadata, serde_json::json!({"team": "it"}));
    assert!(dir.app(&["list"]).contains("Intranet (disabled)"));
}

#[test]
fn private_key_jwt_takes_public_keys_and_gets_no_secret() {
    let dir = Workdir::new();
    let jwks = r#"{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#;
    let created = dir.app_json(&[
        "create",
        "--name",
        "Batch",
        "--type",
        "machine",
        "--auth-method",
        "private_key_jwt",
        "--jwks",
        jwks,
    ]);
    assert!(created.get("client_secret").is_none(), "{created}");
    assert_eq!(created["jwks"]["keys"][0]["crv"], "Ed25519");
    let private = r#"{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qY","d":"nWGx"}]}"#;
    let output = dir.tessera(&[
        "app",
        "create",
        "--name",
        "B",
        "--type",
        "machine",
        "--auth-method",
        "private_key_jwt",
        "--jwks",
        private,
    ]);
    assert_flag_error(&output, "--jwks");
    assert!(!stderr(&output).contains("nWGx"), "{}", stderr(&output));
}

#[test]
fn a_web_app_may_require_signed_request_objects_with_its_keys() {
    let dir = Workdir::new();
    let jwks = r#"{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#;
    let web = ["create", "--name", "Signed", "--type", "web", "--redirect-uri", "https://signed.example.com/cb"];
    let created = dir.app_json(&[&web[..], &["--require-signed-request-object", "--jwks", jwks]].concat());
    assert_eq!(created["require_signed_request_object"], true, "{created}");
    assert_eq!(created["token_endpoint_auth_method"], "client_secret_basic");
    assert!(created["client_secret"].is_string());
    let client_id = created["client_id"].as_str().unwrap();
    assert!(dir.app(&["show", client_id]).contains("require signed request objects"));
    // Without keys the flag names what is missing.
    let mut args = vec!["app"];
    args.extend_from_slice(&web);
    args.push("--require-signed-request-object");
    assert_flag_error(&dir.tessera(&args), "--jwks");
}

#[test]
fn each_invalid_flag_is_one_line_naming_it_and_writes_nothing() {
    let dir = Workdir::new();
    let web = |extra: &[&'static str]| -> Vec<&'static str> {
        [&["create", "--name", "Bad", "--type", "web", "--redirect-uri", "https://ok.example/cb"], extra].concat()
    };
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["create", "--name", "Bad", "--type", "web", "--redirect-uri", "http://app.example.com/cb"],
            "--redirect-uri",
        ),
        (
            vec!["create", "--name", "Bad", "--type", "web", "--redirect-uri", "https://app.example.com/cb#x"],
            "--redirect-uri",
        ),
        (vec!["create", "--name", "Bad", "--type", "web", "--redirect-uri", "javascript:alert(1)"], "--redirect-uri"),
        (vec!["create", "--name", "Bad", "--type", "web", "--redirect-uri", "com.example.app:/cb"], "--redirect-uri"),
        (vec!["create", "--name", "Bad", "--type", "web"], "--redirect-uri"),
        (web(&["--post-logout-redirect-uri", "http://evil.example/"]), "--post-logout-redirect-uri"),
        (web(&["--scope", "no-such-scope"]), "--scope"),
        (web(&["--scope", "Not A Scope"]), "--scope"),
        (web(&["--required-claim", "no_such_claim"]), "--required-claim"),
        (
            vec![
                "create",
                "--name",
                "Bad",
                "--type",
                "spa",
                "--redirect-uri",
                "https://a.example/cb",
                "--auth-method",
                "client_secret_basic",
            ],
            "--auth-method",
        ),
        (web(&["--auth-method", "none"]), "--auth-method"),
        (web(&["--access-token-lifetime", "30"]), "--access-token-lifetime"),
        (web(&["--code-lifetime", "601"]), "--code-lifetime"),
        (web(&["--refresh-token-lifetime", "600", "--access-token-lifetime", "3600"]), "--refresh-token-lifetime"),
        (web(&["--id-token-lifetime", "soon"]), "--id-token-lifetime"),
        (web(&["--refresh-token-retry-grace", "61"]), "--refresh-token-retry-grace"),
        (web(&["--refresh-token-retry-grace=-1"]), "--refresh-token-retry-grace"),
        (web(&["--refresh-token-retry-grace", "soon"]), "--refresh-token-retry-grace"),
        (web(&["--app-metadata", "[1,2]"]), "--app-metadata"),
        (web(&["--app-metadata", "{not json"]), "--app-metadata"),
        (web(&["--jwks", r#"{"keys":[]}"#]), "--jwks"),
        (web(&["--token-format", "paseto"]), "--token-format"),
        (web(&["--signing-alg", "HS256"]), "--signing-alg"),
        (web(&["--grant-type", "implicit"]), "--grant-type"),
        (web(&["--client-id", "has space"]), "--client-id"),
        (web(&["--always-issue-refresh-token", "--grant-type", "authorization_code"]), "--always-issue-refresh-token"),
        (vec!["create", "--name", "Bad", "--type", "machine", "--grant-type", "authorization_code"], "--grant-type"),
        (
            vec!["create", "--name", "Bad", "--type", "machine", "--redirect-uri", "https://a.example/cb"],
            "--redirect-uri",
        ),
        (vec!["create", "--name", "   ", "--type", "web"], "--name"),
        (vec!["create", "--name", "Bad", "--type", "daemon"], "--type"),
    ];
    for (args, flag) in &cases {
        let output = dir.tessera(&[&["app"], &args[..]].concat());
        assert_flag_error(&output, flag);
    }
    assert_eq!(dir.app_json(&["list"]), serde_json::json!([]));
    let store = dir.store();
    assert_eq!(store.read_transaction(applications::count).unwrap(), 0);
    assert!(audit_events(&store, "application.create").is_empty());
}

#[test]
fn a_client_id_shaped_like_a_uuid_is_refused_and_nothing_is_written() {
    // RFC 9068 §5: a client_credentials token's `sub` is its client_id, and user ids are
    // UUIDs, so a client id of that shape could name a user (finding 17).
    let dir = Workdir::new();
    let user_id = uuid::Uuid::now_v7();
    let shapes = [
        user_id.hyphenated().to_string(),
        user_id.simple().to_string(),
        user_id.hyphenated().to_string().to_uppercase(),
        user_id.simple().to_string().to_uppercase(),
        "f47ac10b-58cc-4372-a567-0e02b2c3d479".to_owned(),
        "00000000-0000-0000-0000-000000000000".to_owned(),
    ];
    for client_id in &shapes {
        let output = dir.tessera(&["app", "create", "--name", "Robot", "--type", "machine", "--client-id", client_id]);
        assert_flag_error(&output, "--client-id");
        assert!(stderr(&output).contains("UUID"), "{client_id}: {}", stderr(&output));
    }
    assert_eq!(dir.app_json(&["list"]), serde_json::json!([]));
    let store = dir.store();
    assert_eq!(store.read_transaction(applications::count).unwrap(), 0);
    assert!(audit_events(&store, "application.create").is_empty());
    // Hex digits and hyphens in another shape are an ordinary client id.
    let created = dir.app_json(&["create", "--name", "Robot", "--type", "machine", "--client-id", "robot-0190a1b2"]);
    assert_eq!(created["client_id"], "robot-0190a1b2");
}

#[test]
fn a_duplicate_client_id_is_a_conflict_and_changes_nothing() {
    let dir = Workdir::new();
    let first = dir.app(WEB_APP);
    let second = dir.tessera(&[&["app"], WEB_APP].concat());
    assert_flag_error(&second, "--client-id");
    assert!(stderr(&second).contains("already exists"), "{}", stderr(&second));
    assert_eq!(dir.app_json(&["list"]).as_array().unwrap().len(), 1);
    let store = dir.store();
    assert_eq!(audit_events(&store, "application.create").len(), 1);
    let app = store.read_transaction(|c| applications::find_by_client_id(c, &"billing".into())).unwrap().unwrap();
    let secrets = store.read_transaction(|c| applications::live_secrets(c, &app.id, tessera::now())).unwrap();
    assert_eq!(secrets.len(), 1);
    assert!(SecretHash::from_stored(&secrets[0].secret_hash).matches(&secret_from(&first)));
}

#[test]
fn create_and_delete_are_audited_and_a_second_delete_is_status_2() {
    let dir = Workdir::new();
    let secret = secret_from(&dir.app(WEB_APP));
    let deleted = dir.app(&["delete", "billing"]);
    assert_eq!(deleted.trim(), "Deleted application \"Billing portal\" (client_id billing).");
    assert_eq!(dir.app_json(&["list"]), serde_json::json!([]));

    assert_flag_error(&dir.tessera(&["app", "delete", "billing"]), "CLIENT_ID");
    assert_flag_error(&dir.tessera(&["app", "show", "billing"]), "CLIENT_ID");

    let store = dir.store();
    assert_eq!(store.read_transaction(applications::count).unwrap(), 0);
    let created = audit_events(&store, "application.create");
    let removed = audit_events(&store, "application.delete");
    assert_eq!((created.len(), removed.len()), (1, 1));
    // The same events, in the same shape, as the management API writes: the target is
    // the application's id, the summary its settings.
    for event in created.iter().chain(&removed) {
        assert_eq!(event.actor, "cli");
        assert_eq!(event.target, created[0].target);
    }
    assert!(created[0].target.starts_with("application:") && created[0].target != "application:billing");
    let summary = created[0].summary.to_string();
    assert!(!summary.contains(&secret) && !summary.contains(SecretHash::of(&secret).as_str()), "{summary}");
    assert_eq!(created[0].summary["client_id"], "billing");
    assert_eq!(created[0].summary["redirect_uris"].as_array().unwrap().len(), 2);
    assert_eq!(created[0].summary["secret_issued"], true);
    assert_eq!(
        (&removed[0].summary["client_id"], &removed[0].summary["name"]),
        (&"billing".into(), &"Billing portal".into())
    );
}
