//! Custom claims scripts at the token endpoint: every input reaches the script, its
//! claims reach the token, `api.denyAccess` refuses every grant type, failures follow
//! the failure setting and are audited, user and machine scripts stay apart, and the
//! attributes of `POST /api/v1/token/custom` override a script's claims through refresh.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tessera_domain::GrantType;
use tessera_store::connections::{self, NewApiConnection};
use tessera_store::scripts::{self, OnFailure, ScriptInput, ScriptKind};
use tessera_store::{applications, audit, organizations, users};
use tessera_tokens::{MasterKey, generate_secret};

use crate::common::{self, security::*};
use tessera_testkit::apps;

struct Fixture {
    w: World,
    master_key: MasterKey,
    connection_secret: String,
}

/// A world whose master key the test knows (to set encrypted variables), with an API
/// connection `orders-api` allowed to `webapp`, and a machine application `robot`.
fn fixture(db: &common::TestDatabase, time_limit_ms: u64) -> Fixture {
    fixture_with(db, time_limit_ms, Vec::new())
}

fn fixture_with(db: &common::TestDatabase, time_limit_ms: u64, fetch_hosts: Vec<String>) -> Fixture {
    let dir = std::env::temp_dir().join(format!("tessera-scripts-{}", uuid::Uuid::now_v7().simple()));
    let master_key = MasterKey::generate().unwrap();
    let mut raw = common::settings_for(db, &dir);
    raw.master_key = Some(master_key.to_base64().to_owned());
    raw.script_time_limit_ms = time_limit_ms;
    raw.script_fetch_allowed_hosts = fetch_hosts;
    let w = world_on(db, common::TestApp::spawn_with(raw));
    let now = tessera::now();
    let connection_secret = generate_secret();
    let new = NewApiConnection {
        name: "orders-api".into(),
        display_name: "Orders".into(),
        description: String::new(),
        access_token_format: None,
        resource_uri: None,
        requirement: None,
    };
    w.store.write_transaction(|c| connections::create(c, &new, connection_secret.hash().as_str(), now)).unwrap();
    let app = w.store.read_transaction(|c| applications::find_by_client_id(c, &"webapp".into())).unwrap().unwrap();
    let mut settings = app.settings.clone();
    settings.allowed_scopes.push("orders-api".into());
    settings.grant_types.push(GrantType::Password);
    settings.app_metadata = json!({ "tenant": "acme" });
    w.store.write_transaction(|c| applications::update(c, &app.id, &settings, now)).unwrap();
    let robot = apps::machine_app("Web app", &["orders-api"]);
    add_app(&w, "robot", &robot);
    Fixture { w, master_key, connection_secret: connection_secret.expose().to_owned() }
}

fn save(f: &Fixture, kind: ScriptKind, source: &str, on_failure: OnFailure) {
    let input = ScriptInput { source: source.into(), enabled: true, on_failure };
    f.w.store.write_transaction(|c| scripts::save(c, kind, &input, tessera::now())).unwrap();
}

fn variable(f: &Fixture, name: &str, value: &str) {
    let sealed = f.master_key.encrypt(value.as_bytes(), &format!("script_variable:{name}")).unwrap();
    f.w.store.write_transaction(|c| scripts::set_variable(c, name, &sealed, true, tessera::now())).unwrap();
}

fn sign_in(f: &Fixture) -> Reply {
    let b = Browser::new(&f.w.app);
    let callback = code_for(&b, &authorize_path("webapp", REDIRECT, &[("scope", "openid offline_access orders-api")]));
    redeem(&f.w, "webapp", &callback["code"], REDIRECT, Some(VERIFIER))
}

fn machine(f: &Fixture) -> Reply {
    token(&f.w, "robot", &[("grant_type", "client_credentials"), ("scope", "orders-api")])
}

fn events(f: &Fixture, action: &str) -> Vec<audit::AuditEvent> {
    let filter = audit::AuditFilter { action: Some(action.into()), ..Default::default() };
    f.w.store.read_transaction(|c| audit::list(c, &filter, &tessera_store::Page::first(50))).unwrap().items
}

fn introspect(f: &Fixture, token: &str) -> Value {
    f.w.app.introspect(("orders-api", &f.connection_secret), &[("token", token)]).json().unwrap()
}

fn assert_denied(reply: &Reply, description: &str) {
    assert_eq!(reply.status, 400, "{}", reply.body);
    let body = reply.json();
    assert_eq!(body["error"], "access_denied", "{body}");
    assert!(body["error_description"].as_str().unwrap().contains(description), "{body}");
    assert!(body.get("access_token").is_none());
}

const EVERY_INPUT: &str = r#"
async function getCustomJwtClaims({ token, context, environmentVariables, api }) {
  const org = context.user.organizations[0];
  await Promise.resolve();
  return {
    seen_kind: token.kind,
    seen_client: token.clientId,
    seen_account: token.accountId,
    seen_grant: token.grantId,
    seen_scope: token.scope,
    seen_aud: token.aud,
    seen_jti: token.jti === token.payload.jti,
    seen_username: context.user.username,
    seen_email: context.user.claims.email,
    seen_roles: context.user.roles,
    seen_org: org.name + ":" + org.roles.join(","),
    seen_plan: context.user.app_metadata.plan,
    seen_theme: context.user.user_metadata.theme,
    seen_app: context.application.client_id + "/" + context.application.app_metadata.tenant,
    seen_granted: context.grant.scope,
    seen_amr: context.grant.amr,
    seen_secret: environmentVariables.API_TOKEN,
    seen_api: typeof api.denyAccess,
  };
}
"#;

/// A one-answer-per-connection HTTP server on loopback answering `body` as JSON.
fn json_server(body: &'static str) -> std::net::SocketAddr {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut stream = stream;
            let mut buffer = [0u8; 4096];
            let _ = stream.read(&mut buffer);
            let answer = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(answer.as_bytes());
        }
    });
    address
}

crate::both_backends! {
    fn a_script_fetches_only_from_the_hosts_the_settings_list(db: TestDatabase) {
        let listed = json_server(r#"{"tier":"platinum"}"#);
        let unlisted = json_server(r#"{"tier":"stolen"}"#);
        let f = fixture_with(&db, 2000, vec![listed.to_string()]);
        let script = format!(
            "async function getCustomJwtClaims() {{ const r = await fetch('http://{listed}/tier'); return {{ tier: (await r.json()).tier }}; }}"
        );
        save(&f, ScriptKind::Machine, &script, OnFailure::Deny);
        let issued = machine(&f);
        assert_eq!(issued.status, 200, "{}", issued.body);
        assert_eq!(payload(issued.json()["access_token"].as_str().unwrap())["tier"], "platinum");
        let script = format!(
            "async function getCustomJwtClaims() {{ const r = await fetch('http://{unlisted}/tier'); return {{ tier: (await r.json()).tier }}; }}"
        );
        save(&f, ScriptKind::Machine, &script, OnFailure::Deny);
        assert_denied(&machine(&f), "a custom claims script failed");
        let failed = events(&f, "script.failed");
        assert_eq!(failed[0].summary["failure"], "thrown", "{:?}", failed[0].summary);
        assert!(failed[0].summary["message"].as_str().unwrap().contains("not"), "{:?}", failed[0].summary);
    }


    fn every_input_reaches_the_user_script_and_its_claims_reach_the_token(db: TestDatabase) {
        let f = fixture(&db, 500);
        let now = tessera::now();
        f.w.store.write_transaction(|c| {
            users::update(c, &f.w.alice, &users::UserChanges {
                app_metadata: Some(json!({ "plan": "pro" })),
                user_metadata: Some(json!({ "theme": "dark" })),
                ..Default::default()
            }, now)?;
            let role = organizations::create_role(c, "support", "", now)?;
            users::add_role(c, &f.w.alice, &role.id)?;
            let org = organizations::create_organization(c, "acme", "Acme", &json!({}), now)?;
            organizations::set_membership(c, &org.id, &f.w.alice, std::slice::from_ref(&role.id), now)?;
            Ok(())
        }).unwrap();
        variable(&f, "API_TOKEN", "s3cr3t");
        save(&f, ScriptKind::User, EVERY_INPUT, OnFailure::Deny);

        let reply = sign_in(&f);
        assert_eq!(reply.status, 200, "{}", reply.body);
        let issued = reply.json();
        let access = payload(issued["access_token"].as_str().unwrap());
        assert_eq!(access["seen_kind"], "AccessToken");
        assert_eq!(access["seen_client"], "webapp");
        assert_eq!(access["seen_account"], access["sub"]);
        assert_eq!(access["seen_grant"], access["grant_id"]);
        assert_eq!(access["seen_scope"], access["scope"]);
        assert_eq!(access["seen_aud"], "orders-api");
        assert_eq!(access["seen_jti"], true);
        assert_eq!(access["seen_username"], "alice");
        assert_eq!(access["seen_email"], "alice@example.com");
        assert_eq!(access["seen_roles"], json!(["support"]));
        assert_eq!(access["seen_org"], "acme:support");
        assert_eq!(access["seen_plan"], "pro");
        assert_eq!(access["seen_theme"], "dark");
        assert_eq!(access["seen_app"], "webapp/acme");
        assert_eq!(access["seen_granted"], "offline_access openid orders-api");
        assert_eq!(access["seen_amr"], json!(["pwd"]));
        assert_eq!(access["seen_secret"], "s3cr3t");
        assert_eq!(access["seen_api"], "function");
        // The claims go to the access token, not to the ID token.
        assert!(payload(issued["id_token"].as_str().unwrap()).get("seen_kind").is_none());
        // A refresh computes them again.
        let rotated = refresh(&f.w, "webapp", issued["refresh_token"].as_str().unwrap(), None);
        assert_eq!(rotated.status, 200, "{}", rotated.body);
        assert_eq!(payload(rotated.json()["access_token"].as_str().unwrap())["seen_plan"], "pro");
    }

    fn deny_access_refuses_every_grant_type_and_is_audited(db: TestDatabase) {
        let f = fixture(&db, 500);
        // Tokens issued before the script exists, to refresh afterwards.
        let earlier = sign_in(&f).json();
        let script = r#"function getCustomJwtClaims({ context, api }) {
            if (context.user.username === "alice") { api.denyAccess("alice is suspended"); }
            return {};
        }"#;
        save(&f, ScriptKind::User, script, OnFailure::IssueWithoutClaims);
        save(&f, ScriptKind::Machine, "function getCustomJwtClaims({ api }) { api.denyAccess('robots rest today'); }", OnFailure::IssueWithoutClaims);

        assert_denied(&sign_in(&f), "alice is suspended");
        let password = token(&f.w, "webapp", &[("grant_type", "password"), ("username", "alice"), ("password", PASSWORD), ("scope", "openid")]);
        assert_denied(&password, "alice is suspended");
        let refresh_token = earlier["refresh_token"].as_str().unwrap();
        assert_denied(&refresh(&f.w, "webapp", refresh_token, None), "alice is suspended");
        // The refused family is over: the refresh token does not come back to life.
        save(&f, ScriptKind::User, "function getCustomJwtClaims() { return {}; }", OnFailure::Deny);
        assert_eq!(refresh(&f.w, "webapp", refresh_token, None).json()["error"], "invalid_grant");
        assert_denied(&machine(&f), "robots rest today");

        let denied = events(&f, "script.denied");
        assert_eq!(denied.len(), 4, "{denied:?}");
        assert!(denied.iter().any(|e| e.target == "script:machine" && e.summary["client_id"] == "robot"));
        assert!(denied.iter().filter(|e| e.target == "script:user").count() == 3);
    }

    fn a_failed_scripts_audit_summary_holds_no_secret_value_or_url_query(db: TestDatabase) {
        let f = fixture_with(&db, 2000, vec!["api.example.com".into()]);
        variable(&f, "STRIPE_KEY", "sk_live_51HxQ");
        let script = "async function getCustomJwtClaims({ environmentVariables: env }) {\n  try { await fetch('https://ops:pw@other.example.com/v1/charges?key=' + env.STRIPE_KEY); }\n  catch (error) { throw new Error(String(error) + ' (key ' + env.STRIPE_KEY + ')'); }\n}";
        save(&f, ScriptKind::Machine, script, OnFailure::Deny);
        assert_denied(&machine(&f), "a custom claims script failed");
        let failed = events(&f, "script.failed");
        let summary = &failed[0].summary;
        assert!(!summary.to_string().contains("sk_live_51HxQ") && !summary.to_string().contains("pw@"), "{summary}");
        assert_eq!(summary["failure"], "thrown", "{summary}");
        let message = summary["message"].as_str().unwrap();
        assert!(message.contains("fetch to https://other.example.com/v1/charges refused"), "{message}");
        assert!(message.ends_with("(key [secret:STRIPE_KEY])"), "{message}");
    }

    fn a_looping_script_stops_at_the_limit_and_follows_the_failure_setting(db: TestDatabase) {
        let f = fixture(&db, 200);
        save(&f, ScriptKind::Machine, "function getCustomJwtClaims() { while (true) {} }", OnFailure::Deny);
        let started = Instant::now();
        assert_denied(&machine(&f), "a custom claims script failed");
        assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
        save(&f, ScriptKind::Machine, "function getCustomJwtClaims() { while (true) {} }", OnFailure::IssueWithoutClaims);
        let issued = machine(&f);
        assert_eq!(issued.status, 200, "{}", issued.body);
        let failed = events(&f, "script.failed");
        assert_eq!(failed.len(), 2);
        let outcomes: Vec<&str> = failed.iter().map(|e| e.summary["outcome"].as_str().unwrap()).collect();
        assert!(outcomes.contains(&"denied") && outcomes.contains(&"issued_without_claims"), "{outcomes:?}");
        assert_eq!(failed[0].summary["failure"], "timeout", "{:?}", failed[0].summary);
        assert!(failed[0].summary["message"].as_str().unwrap().contains("time"), "{:?}", failed[0].summary);
    }

    fn a_memory_bomb_fails_like_any_failure(db: TestDatabase) {
        let f = fixture(&db, 2000);
        let bomb = "function getCustomJwtClaims() { const a = []; while (true) { a.push('x'.repeat(1 << 20) + a.length); } }";
        save(&f, ScriptKind::Machine, bomb, OnFailure::Deny);
        assert_denied(&machine(&f), "a custom claims script failed");
        let failed = events(&f, "script.failed");
        assert_eq!(failed[0].summary["failure"], "out_of_memory", "{:?}", failed[0].summary);
        assert!(failed[0].summary["message"].as_str().unwrap().contains("memory"), "{:?}", failed[0].summary);
        // The engine recovers: the next request with a sane script is answered.
        save(&f, ScriptKind::Machine, "function getCustomJwtClaims() { return { fine: true }; }", OnFailure::Deny);
        assert_eq!(payload(machine(&f).json()["access_token"].as_str().unwrap())["fine"], true);
    }

    fn user_and_machine_scripts_are_kept_apart(db: TestDatabase) {
        let f = fixture(&db, 500);
        save(&f, ScriptKind::User, "function getCustomJwtClaims({ context }) { return { from: 'user', who: context.user.username }; }", OnFailure::Deny);
        save(&f, ScriptKind::Machine, "function getCustomJwtClaims({ token, context }) { return { from: 'machine', kind: token.kind, context: typeof context }; }", OnFailure::Deny);
        let machine_token = payload(machine(&f).json()["access_token"].as_str().unwrap());
        assert_eq!(machine_token["from"], "machine");
        assert_eq!(machine_token["kind"], "ClientCredentials");
        assert_eq!(machine_token["context"], "undefined");
        let user_token = payload(sign_in(&f).json()["access_token"].as_str().unwrap());
        assert_eq!(user_token["from"], "user");
        assert_eq!(user_token["who"], "alice");
    }

    fn a_script_returning_a_registered_claim_fails_and_is_audited(db: TestDatabase) {
        let f = fixture(&db, 500);
        save(&f, ScriptKind::User, "function getCustomJwtClaims() { return { sub: 'someone-else', tier: 1 }; }", OnFailure::IssueWithoutClaims);
        let issued = sign_in(&f);
        assert_eq!(issued.status, 200);
        let access = payload(issued.json()["access_token"].as_str().unwrap());
        assert_ne!(access["sub"], "someone-else");
        assert!(access.get("tier").is_none(), "a failed script adds nothing");
        let failed = events(&f, "script.failed");
        assert_eq!(failed[0].summary["failure"], "invalid_result", "{:?}", failed[0].summary);
        assert!(failed[0].summary["message"].as_str().unwrap().contains("sub"), "{:?}", failed[0].summary);
    }

    fn custom_attributes_override_script_claims_through_refresh_and_introspection(db: TestDatabase) {
        let f = fixture(&db, 500);
        save(&f, ScriptKind::User, "function getCustomJwtClaims() { return { tier: 'silver', plan: 'from-script' }; }", OnFailure::Deny);
        let issued = sign_in(&f).json();
        let access = issued["access_token"].as_str().unwrap();
        assert_eq!(payload(access)["tier"], "silver");
        // A management key, and the Cotter-style call attaching attributes to the family.
        let key = tessera_testkit::management_key(&f.w.store, "cli", None);
        let body = json!({ "token": access, "custom_attributes": { "tier": "gold" }, "refresh_token": issued["refresh_token"] });
        let answer: Value = f.w.app.api(reqwest::Method::POST, "/api/v1/token/custom", &key, &body).json().unwrap();
        assert_eq!(payload(answer["token"].as_str().unwrap())["tier"], "gold", "{answer}");
        let mut current = answer["refresh_token"].as_str().unwrap().to_owned();
        for round in 0..2 {
            let rotated = refresh(&f.w, "webapp", &current, None).json();
            let access = rotated["access_token"].as_str().unwrap();
            let claims = payload(access);
            assert_eq!(claims["tier"], "gold", "round {round}: the attribute wins over the script");
            assert_eq!(claims["plan"], "from-script", "round {round}: the script's other claims stay");
            let seen = introspect(&f, access);
            assert_eq!((seen["active"].clone(), seen["tier"].clone()), (json!(true), json!("gold")));
            current = rotated["refresh_token"].as_str().unwrap().to_owned();
        }
    }
}
