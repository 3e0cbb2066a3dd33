use serde_json::json;
use tessera_domain::{ClaimRuleInput, Output};

use super::*;
use crate::context::{ApplicationInfo, UserProfile};

fn rule(source: &str, path: &str, name: &str, outputs: &[&str], freshness: &str) -> ClaimRule {
    let outputs: Vec<String> = outputs.iter().map(|s| (*s).to_owned()).collect();
    ClaimRule::parse(&ClaimRuleInput {
        subject: "user",
        source,
        path,
        namespace: "",
        name,
        outputs: &outputs,
        freshness,
    })
    .unwrap()
}

fn user(plan: &str) -> UserProfile {
    UserProfile {
        id: "u".into(),
        username: "ada".into(),
        email: None,
        email_verified: false,
        claims: Map::new(),
        roles: vec!["admin".into()],
        organizations: vec![],
        app_metadata: json!({ "plan": plan }),
        user_metadata: json!({}),
        created_at: 0,
        updated_at: 0,
    }
}

fn app() -> ApplicationInfo {
    ApplicationInfo {
        id: "a".into(),
        client_id: "web".into(),
        name: "Web".into(),
        app_type: "web".into(),
        app_metadata: json!({}),
    }
}

fn obj(value: Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap()
}

#[test]
fn later_sources_override_earlier_ones_and_each_claim_goes_where_its_rule_says() {
    let plan = rule("app_metadata", "/plan", "plan", &["id_token", "access_token"], "");
    let roles = rule("roles", "", "roles", &["userinfo"], "");
    let tier = rule("script", "", "tier", &["introspection"], "");
    let rules = vec![
        Rule { id: "m1", global: true, rule: &plan },
        Rule { id: "m2", global: false, rule: &roles },
        Rule { id: "m3", global: true, rule: &tier },
    ];
    let (user, app) = (user("gold"), app());
    let mut composer = Composer::new(rules);
    composer.map(&MappingData { user: Some(&user), application: &app });
    composer.script(obj(json!({ "plan": "silver", "tier": 2, "undeclared": true })));
    composer.attributes(&obj(json!({ "tier": 3, "sub": "evil" })));
    let issued = composer.finish();

    assert_eq!(issued.get("plan").unwrap().value, json!("silver"), "the script overrides the mapping");
    assert_eq!(issued.get("plan").unwrap().source, ClaimSource::Script);
    assert_eq!(issued.get("tier").unwrap().value, json!(3), "an attribute overrides the script");
    assert_eq!(issued.get("roles").unwrap().source, ClaimSource::Mapping { id: "m2".into(), global: false });
    assert!(issued.get("sub").is_none(), "no registered claim, whatever the source");

    assert_eq!(issued.output(Output::IdToken), obj(json!({ "plan": "silver" })));
    assert_eq!(issued.output(Output::AccessToken), obj(json!({ "plan": "silver", "undeclared": true })));
    assert_eq!(issued.output(Output::Userinfo), obj(json!({ "roles": ["admin"] })));
    assert_eq!(issued.output(Output::Introspection), obj(json!({ "tier": 3, "undeclared": true })));
}

#[test]
fn a_grant_fixed_claim_keeps_its_first_value_through_refresh_and_a_fresh_one_follows() {
    let fixed = rule("app_metadata", "/plan", "plan_at_sign_in", &[], "grant");
    let fresh = rule("app_metadata", "/plan", "plan", &[], "refresh");
    let rules = || vec![Rule { id: "f", global: true, rule: &fixed }, Rule { id: "r", global: true, rule: &fresh }];
    let app = app();

    let first_user = user("gold");
    let mut first = Composer::new(rules());
    first.map(&MappingData { user: Some(&first_user), application: &app });
    let at_grant = first.finish();
    assert!(at_grant.get("plan_at_sign_in").unwrap().fixed);

    let later_user = user("free");
    let mut refresh = Composer::new(rules());
    refresh.map(&MappingData { user: Some(&later_user), application: &app });
    refresh.keep_fixed(&at_grant);
    let refreshed = refresh.finish();
    assert_eq!(refreshed.get("plan_at_sign_in").unwrap().value, json!("gold"));
    assert_eq!(refreshed.get("plan").unwrap().value, json!("free"));

    // Absent at grant time: stays absent, even if a value appears later.
    let mut nothing = Composer::new(rules());
    nothing.keep_fixed(&IssuedClaims::default());
    assert!(nothing.finish().get("plan_at_sign_in").is_none());
}

#[test]
fn issued_claims_round_trip_through_their_stored_form() {
    let plan = rule("app_metadata", "/plan", "plan", &["userinfo", "introspection"], "grant");
    let (user, app) = (user("gold"), app());
    let mut composer = Composer::new(vec![Rule { id: "m", global: true, rule: &plan }]);
    composer.map(&MappingData { user: Some(&user), application: &app });
    composer.attributes(&obj(json!({ "team": "blue" })));
    let issued = composer.finish();
    let stored = issued.to_map();
    assert_eq!(stored["plan"]["outputs"], json!(["userinfo", "introspection"]));
    assert_eq!(stored["team"]["source"], json!({ "kind": "attribute" }));
    assert_eq!(IssuedClaims::from_map(&stored), issued);
    assert!(IssuedClaims::from_map(&obj(json!({ "junk": 1 }))).is_empty());
}

#[test]
fn merging_never_overrides_what_the_payload_has() {
    let mut payload = obj(json!({ "sub": "u", "email": "a@example.com" }));
    IssuedClaims::merge_into(&mut payload, obj(json!({ "email": "other", "plan": "gold", "ISS": "x" })));
    assert_eq!(payload, obj(json!({ "sub": "u", "email": "a@example.com", "plan": "gold" })));
}

#[test]
fn introspection_answers_what_is_declared_for_it() {
    let hidden = rule("script", "", "hidden", &["access_token"], "");
    let private = rule("script", "", "private", &["introspection"], "");
    let mut composer = Composer::new(vec![
        Rule { id: "a", global: true, rule: &hidden },
        Rule { id: "b", global: true, rule: &private },
    ]);
    composer.script(obj(json!({ "hidden": 1, "private": 2, "shared": 3 })));
    let issued = composer.finish();
    let token = obj(json!({ "sub": "u", "hidden": 1, "shared": "as carried" }));
    assert_eq!(issued.introspection_view(token), obj(json!({ "sub": "u", "private": 2, "shared": "as carried" })));
}
