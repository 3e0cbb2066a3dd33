//! Claim mappings end to end: every kind of source, with and without a namespace, goes
//! to exactly the outputs it declares (ID token, access token, userinfo, introspection)
//! with the same value in each, for JWT and reference access tokens; freshness `grant`
//! keeps a value through refresh while `refresh` follows the user's data; machine tokens
//! map the application's metadata; and the one order (standard claims → mappings →
//! script → custom attributes) holds through authorize → token → refresh → introspect.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use tessera_domain::{ClaimRule, ClaimRuleInput, ClaimValueType, TokenFormat};
use tessera_store::connections::{self, NewApiConnection};
use tessera_store::scopes::{self, ClaimTypeInput};
use tessera_store::scripts::{self, OnFailure, ScriptInput, ScriptKind};
use tessera_store::{applications, mappings, organizations, users};
use tessera_tokens::generate_secret;

use crate::common::{self, security::*};
use tessera_testkit::apps;

struct Fixture {
    w: World,
    connection_secret: String,
}

/// `webapp` may ask for `orders-api` and has `app_metadata.tenant`; alice has a badge,
/// app and user metadata, the role `support`, and membership of `acme` as `owner`; the
/// machine application `robot` has `app_metadata.tenant` too.
fn fixture(db: &common::TestDatabase) -> Fixture {
    let w = world(db);
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
    settings.app_metadata = json!({ "tenant": "acme-web" });
    w.store.write_transaction(|c| applications::update(c, &app.id, &settings, now)).unwrap();
    let robot = applications::ApplicationSettings {
        app_metadata: json!({ "tenant": "robots-inc", "tier": 3 }),
        ..apps::machine_app("Web app", &["orders-api"])
    };
    add_app(&w, "robot", &robot);
    let badge = ClaimTypeInput {
        name: "badge".into(),
        display_name: "Badge".into(),
        description: String::new(),
        value_type: ClaimValueType::String,
        user_editable: false,
    };
    w.store
        .write_transaction(|c| {
            scopes::create_claim_type(c, &badge, now)?;
            users::set_claim_values(c, &w.alice, &BTreeMap::from([("badge".to_owned(), json!("B-7"))]), now)?;
            users::update(
                c,
                &w.alice,
                &users::UserChanges {
                    app_metadata: Some(json!({ "plan": "pro", "billing": { "tier": "gold" } })),
                    user_metadata: Some(json!({ "theme": "dark" })),
                    ..Default::default()
                },
                now,
            )?;
            let role = organizations::create_role(c, "support", "", now)?;
            users::add_role(c, &w.alice, &role.id)?;
            let owner = organizations::create_role(c, "owner", "", now)?;
            let org = organizations::create_organization(c, "acme", "Acme", &json!({}), now)?;
            organizations::set_membership(c, &org.id, &w.alice, std::slice::from_ref(&owner.id), now)?;
            Ok(())
        })
        .unwrap();
    Fixture { w, connection_secret: connection_secret.expose().to_owned() }
}

/// A mapping: `spec` is `subject source path namespace name outputs freshness`, `-` for
/// an empty part, outputs comma-separated.
fn map(f: &Fixture, application: Option<&str>, spec: &str) -> String {
    let parts: Vec<&str> = spec.split(' ').map(|p| if p == "-" { "" } else { p }).collect();
    let outputs: Vec<String> = parts[5].split(',').filter(|o| !o.is_empty()).map(str::to_owned).collect();
    let rule = ClaimRule::parse(&ClaimRuleInput {
        subject: parts[0],
        source: parts[1],
        path: parts[2],
        namespace: parts[3],
        name: parts[4],
        outputs: &outputs,
        freshness: parts[6],
    })
    .unwrap();
    let application_id = application.map(|client_id| {
        f.w.store.read_transaction(|c| applications::find_by_client_id(c, &client_id.into())).unwrap().unwrap().id
    });
    f.w.store.write_transaction(|c| mappings::create(c, application_id.as_ref(), &rule, tessera::now())).unwrap().id
}

fn save_script(f: &Fixture, kind: ScriptKind, source: &str) {
    let input = ScriptInput { source: source.into(), enabled: true, on_failure: OnFailure::Deny };
    f.w.store.write_transaction(|c| scripts::save(c, kind, &input, tessera::now())).unwrap();
}

fn set_format(f: &Fixture, format: TokenFormat) {
    let app = f.w.store.read_transaction(|c| applications::find_by_client_id(c, &"webapp".into())).unwrap().unwrap();
    let mut settings = app.settings.clone();
    settings.access_token_format = format;
    f.w.store.write_transaction(|c| applications::update(c, &app.id, &settings, tessera::now())).unwrap();
}

fn sign_in(f: &Fixture) -> Value {
    let b = Browser::new(&f.w.app);
    let scope = "openid profile email offline_access orders-api";
    let callback = code_for(&b, &authorize_path("webapp", REDIRECT, &[("scope", scope)]));
    let reply = redeem(&f.w, "webapp", &callback["code"], REDIRECT, Some(VERIFIER));
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()
}

fn introspect(f: &Fixture, token: &str) -> Value {
    let answer: Value = f.w.app.introspect(("orders-api", &f.connection_secret), &[("token", token)]).json().unwrap();
    assert_eq!(answer["active"], true, "{answer}");
    answer
}

/// The four outputs of one issuance (the access token's payload only for a JWT).
struct Outputs {
    id_token: Value,
    access_token: Option<Value>,
    userinfo: Value,
    introspection: Value,
}

fn outputs(f: &Fixture, issued: &Value) -> Outputs {
    let access = issued["access_token"].as_str().unwrap();
    let info = userinfo(&f.w, access);
    assert_eq!(info.status, 200, "{}", info.body);
    Outputs {
        id_token: payload(issued["id_token"].as_str().unwrap()),
        access_token: (access.matches('.').count() == 2).then(|| payload(access)),
        userinfo: info.json(),
        introspection: introspect(f, access),
    }
}

impl Outputs {
    /// Asserts `claim` is `value` in each output `expected` names and absent elsewhere.
    fn assert(&self, claim: &str, value: &Value, expected: &[&str]) {
        let mut all =
            vec![("id_token", &self.id_token), ("userinfo", &self.userinfo), ("introspection", &self.introspection)];
        if let Some(access) = &self.access_token {
            all.push(("access_token", access));
        }
        for (name, output) in all {
            if expected.contains(&name) {
                assert_eq!(output.get(claim), Some(value), "{claim} in {name}: {output}");
            } else {
                assert!(output.get(claim).is_none(), "{claim} must not be in {name}: {output}");
            }
        }
    }
}

crate::both_backends! {
    fn every_kind_of_source_goes_to_the_outputs_it_declares_and_no_other(db: TestDatabase) {
        let f = fixture(&db);
        map(&f, None, "user claim badge - badge id_token,userinfo -");
        map(&f, None, "user app_metadata /billing/tier https://example.com/ tier - -");
        map(&f, None, "user user_metadata /theme - theme access_token -");
        map(&f, None, "user roles - https://example.com roles access_token,introspection -");
        map(&f, None, "user organization_id - - org_ids introspection -");
        map(&f, None, "user organization_name acme - org id_token,access_token -");
        map(&f, None, "user organization_roles acme - org_roles userinfo,introspection -");
        map(&f, Some("webapp"), "user application_metadata /tenant - tenant - -");
        map(&f, None, "user script - - from_script userinfo -");
        save_script(&f, ScriptKind::User, "function getCustomJwtClaims() { return { from_script: 's', undeclared: 1 }; }");
        let org_id = f.w.store.read_transaction(|c| organizations::memberships_of_user(c, &f.w.alice)).unwrap()[0].organization.id.clone();

        for format in [TokenFormat::Jwt, TokenFormat::Reference] {
            set_format(&f, format);
            let out = outputs(&f, &sign_in(&f));
            let every = ["id_token", "access_token", "userinfo", "introspection"];
            out.assert("badge", &json!("B-7"), &["id_token", "userinfo"]);
            out.assert("https://example.com/tier", &json!("gold"), &every);
            out.assert("theme", &json!("dark"), &["access_token"]);
            out.assert("https://example.com/roles", &json!(["support"]), &["access_token", "introspection"]);
            out.assert("org_ids", &json!([org_id]), &["introspection"]);
            out.assert("org", &json!("acme"), &["id_token", "access_token"]);
            out.assert("org_roles", &json!(["owner"]), &["userinfo", "introspection"]);
            out.assert("tenant", &json!("acme-web"), &every);
            out.assert("from_script", &json!("s"), &["userinfo"]);
            // A claim no rule declares goes to the access token and introspection.
            out.assert("undeclared", &json!(1), &["access_token", "introspection"]);
        }
    }

    fn a_grant_fixed_claim_keeps_its_value_through_refresh_and_a_fresh_one_follows_the_user(db: TestDatabase) {
        let f = fixture(&db);
        map(&f, None, "user app_metadata /plan - plan_at_sign_in - grant");
        map(&f, None, "user app_metadata /plan - plan - refresh");
        let first = sign_in(&f);
        let out = outputs(&f, &first);
        let every = ["id_token", "access_token", "userinfo", "introspection"];
        out.assert("plan_at_sign_in", &json!("pro"), &every);
        out.assert("plan", &json!("pro"), &every);

        let changes = users::UserChanges { app_metadata: Some(json!({ "plan": "free" })), ..Default::default() };
        f.w.store.write_transaction(|c| users::update(c, &f.w.alice, &changes, tessera::now())).unwrap();
        let mut current = first["refresh_token"].as_str().unwrap().to_owned();
        for _ in 0..2 {
            let rotated = refresh(&f.w, "webapp", &current, None);
            assert_eq!(rotated.status, 200, "{}", rotated.body);
            let rotated = rotated.json();
            let out = outputs(&f, &rotated);
            out.assert("plan_at_sign_in", &json!("pro"), &every);
            out.assert("plan", &json!("free"), &every);
            current = rotated["refresh_token"].as_str().unwrap().to_owned();
        }
    }

    fn the_order_holds_from_authorize_through_refresh_to_introspection(db: TestDatabase) {
        let f = fixture(&db);
        // Mappings: a global rule, replaced for webapp by its own rule for the same claim.
        map(&f, None, "user app_metadata /plan - tier - -");
        map(&f, Some("webapp"), "user user_metadata /theme - tier - -");
        map(&f, None, "user user_metadata /theme - layer - -");
        // A custom claim never replaces a standard one: email stays the user's address.
        map(&f, None, "user user_metadata /theme - email id_token,userinfo -");
        let issued = sign_in(&f);
        let out = outputs(&f, &issued);
        out.assert("tier", &json!("dark"), &["id_token", "access_token", "userinfo", "introspection"]);
        assert_eq!(out.id_token["email"], "alice@example.com");
        assert_eq!(out.userinfo["email"], "alice@example.com");

        // The script overrides the mappings.
        save_script(&f, ScriptKind::User, "function getCustomJwtClaims() { return { tier: 'script', layer: 'script' }; }");
        let issued = sign_in(&f);
        let access = payload(issued["access_token"].as_str().unwrap());
        assert_eq!((access["tier"].clone(), access["layer"].clone()), (json!("script"), json!("script")));

        // Custom attributes override the script, and persist through refresh.
        let key = tessera_testkit::management_key(&f.w.store, "cli", None);
        let body = json!({ "token": issued["access_token"], "custom_attributes": { "tier": "attribute" },
                           "refresh_token": issued["refresh_token"] });
        let answer: Value = f.w.app.api(reqwest::Method::POST, "/api/v1/token/custom", &key, &body).json().unwrap();
        let resigned = answer["token"].as_str().unwrap();
        assert_eq!(payload(resigned)["tier"], "attribute", "{answer}");
        assert_eq!(introspect(&f, resigned)["tier"], "attribute");
        assert_eq!(userinfo(&f.w, resigned).json()["tier"], "attribute", "userinfo agrees at once");

        let rotated = refresh(&f.w, "webapp", answer["refresh_token"].as_str().unwrap(), None).json();
        let out = outputs(&f, &rotated);
        out.assert("tier", &json!("attribute"), &["id_token", "access_token", "userinfo", "introspection"]);
        out.assert("layer", &json!("script"), &["id_token", "access_token", "userinfo", "introspection"]);
    }

    fn machine_tokens_map_the_application_metadata_and_user_rules_stay_apart(db: TestDatabase) {
        let f = fixture(&db);
        map(&f, None, "machine application_metadata /tenant https://example.com/ tenant - -");
        map(&f, Some("robot"), "machine application_metadata /tier - tier - -");
        map(&f, None, "machine script - - from_script - -");
        map(&f, None, "user app_metadata /plan - plan - -");
        save_script(&f, ScriptKind::Machine, "function getCustomJwtClaims() { return { from_script: true }; }");
        for format in [TokenFormat::Jwt, TokenFormat::Reference] {
            let app = f.w.store.read_transaction(|c| applications::find_by_client_id(c, &"robot".into())).unwrap().unwrap();
            let mut settings = app.settings.clone();
            settings.access_token_format = format;
            f.w.store.write_transaction(|c| applications::update(c, &app.id, &settings, tessera::now())).unwrap();
            let reply = token(&f.w, "robot", &[("grant_type", "client_credentials"), ("scope", "orders-api")]);
            assert_eq!(reply.status, 200, "{}", reply.body);
            let access = reply.json()["access_token"].as_str().unwrap().to_owned();
            let mut seen = vec![introspect(&f, &access)];
            if format == TokenFormat::Jwt {
                seen.push(payload(&access));
            }
            for claims in seen {
                assert_eq!(claims["https://example.com/tenant"], "robots-inc", "{claims}");
                assert_eq!(claims["tier"], 3, "{claims}");
                assert_eq!(claims["from_script"], true, "{claims}");
                assert!(claims.get("plan").is_none(), "a user rule does not apply: {claims}");
            }
        }
        // And the machine rules stay out of user tokens.
        let access = payload(sign_in(&f)["access_token"].as_str().unwrap());
        assert_eq!(access["plan"], "pro");
        assert!(access.get("https://example.com/tenant").is_none() && access.get("tier").is_none(), "{access}");
    }
}
