//! `POST /api/v1/token/custom` (Cotter-style): custom claims added to an issued access
//! token, visible in the new token and in introspection, kept by the refresh family
//! through every rotation; registered claims, foreign, expired and revoked tokens are
//! refused.

use serde_json::{Value, json};
use tessera_domain::TokenFormat;
use tessera_store::applications;
use tessera_store::connections::{self, NewApiConnection};
use tessera_tokens::generate_secret;

use crate::common::{self, security::*};

struct Fixture {
    w: World,
    key: String,
    connection_secret: String,
}

fn fixture(db: &common::TestDatabase, format: TokenFormat) -> Fixture {
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
    settings.access_token_format = format;
    w.store.write_transaction(|c| applications::update(c, &app.id, &settings, now)).unwrap();
    Fixture {
        key: tessera_testkit::management_key(&w.store, "cli", None),
        w,
        connection_secret: connection_secret.expose().to_owned(),
    }
}

fn custom(f: &Fixture, body: Value) -> (u16, Value) {
    let response = f.w.app.api(reqwest::Method::POST, "/api/v1/token/custom", &f.key, &body);
    (response.status().as_u16(), response.json().unwrap_or(Value::Null))
}

fn introspect(f: &Fixture, token: &str) -> Value {
    f.w.app.introspect(("orders-api", &f.connection_secret), &[("token", token)]).json().unwrap()
}

fn sign_in(f: &Fixture) -> Value {
    tokens(&f.w, &Browser::new(&f.w.app), &[("scope", "openid offline_access orders-api")])
}

fn claims_of(f: &Fixture, token: &str) -> Value {
    if token.contains('.') { payload(token) } else { introspect(f, token) }
}

crate::both_backends! {
    fn custom_claims_reach_the_new_token_and_introspection_and_survive_three_rotations(db: TestDatabase) {
        for format in [TokenFormat::Jwt, TokenFormat::Reference] {
            let fresh = db_for(&db);
            let f = fixture(&fresh, format);
            let issued = sign_in(&f);
            let access = issued["access_token"].as_str().unwrap();
            let refresh_token = issued["refresh_token"].as_str().unwrap();
            let (status, body) = custom(&f, json!({
                "token": access,
                "custom_attributes": { "https://example.com/plan": "pro", "tier": 3 },
                "refresh_token": refresh_token,
            }));
            assert_eq!(status, 200, "{body}");
            let token = body["token"].as_str().unwrap();
            let before = claims_of(&f, access);
            let after = claims_of(&f, token);
            assert_eq!(after["https://example.com/plan"], "pro", "{format:?}");
            assert_eq!(after["tier"], 3);
            assert_eq!(after["exp"], before["exp"], "same expiry");
            assert_eq!(after["sub"], before["sub"]);
            let seen = introspect(&f, token);
            assert_eq!(seen["active"], true);
            assert_eq!(seen["https://example.com/plan"], "pro");
            // The refresh token given was spent (presenting it again would revoke the
            // family); the new one carries the claims on.
            let mut current = body["refresh_token"].as_str().unwrap().to_owned();
            for round in 0..3 {
                let rotated = refresh(&f.w, "webapp", &current, None);
                assert_eq!(rotated.status, 200, "round {round}: {}", rotated.body);
                let json = rotated.json();
                let access = json["access_token"].as_str().unwrap();
                assert_eq!(claims_of(&f, access)["https://example.com/plan"], "pro", "round {round} ({format:?})");
                current = json["refresh_token"].as_str().unwrap().to_owned();
            }
            let events = f.w.store.read_transaction(|c| tessera_store::audit::list(c, &Default::default(), &tessera_store::Page::first(100))).unwrap();
            let event = events.items.iter().find(|e| e.action == "token.custom_claims").unwrap();
            assert!(!event.summary.to_string().contains("pro"), "claim values stay out of the audit log");
        }
    }

    fn registered_claims_are_refused_naming_the_claim(db: TestDatabase) {
        let f = fixture(&db, TokenFormat::Jwt);
        let access = sign_in(&f)["access_token"].as_str().unwrap().to_owned();
        for claim in ["sub", "iss", "aud", "exp", "scope", "client_id", "grant_id", "gty"] {
            let (status, body) = custom(&f, json!({ "token": access, "custom_attributes": { claim: "x" } }));
            assert_eq!(status, 400, "{claim}");
            assert_eq!(body["field"], format!("custom_attributes.{claim}"), "{body}");
        }
    }

    fn foreign_expired_and_revoked_tokens_are_refused(db: TestDatabase) {
        let f = fixture(&db, TokenFormat::Jwt);
        let issued = sign_in(&f);
        let access = issued["access_token"].as_str().unwrap();
        // Signed by another issuer's key.
        let (status, body) = custom(&f, json!({ "token": foreign(access), "custom_attributes": { "a": 1 } }));
        assert_eq!((status, body["field"].as_str()), (400, Some("token")));
        // Garbage and an unknown reference.
        assert_eq!(custom(&f, json!({ "token": "nope", "custom_attributes": {} })).0, 400);
        // Revoked: revoking the refresh token ends its grant.
        let revoked = f.w.app.revoke(("webapp", &f.w.secret), &[("token", issued["refresh_token"].as_str().unwrap())]);
        assert_eq!(revoked.status(), 200);
        let (status, body) = custom(&f, json!({ "token": access, "custom_attributes": { "a": 1 } }));
        assert_eq!((status, body["field"].as_str()), (400, Some("token")), "{body}");
        // Expired: a reference token whose row is past its expiry.
        let fresh = db_for(&db);
        let g = fixture(&fresh, TokenFormat::Reference);
        let reference = sign_in(&g)["access_token"].as_str().unwrap().to_owned();
        let hash = tessera_tokens::SecretHash::of(&reference);
        g.w.store.write_transaction(|c| {
            let claims = tessera_store::reference_tokens::find_active(c, hash.as_str(), tessera::now())?.unwrap().claims;
            let app = applications::find_by_client_id(c, &"webapp".into())?.unwrap();
            let expired = generate_secret();
            tessera_store::reference_tokens::insert_reference_token(c, &tessera_store::reference_tokens::NewReferenceToken {
                token_hash: expired.hash().as_str().to_owned(), grant_id: None, application_id: app.id,
                user_id: None, claims, expires_at: tessera::now() - 5,
            }, tessera::now() - 60)?;
            let (status, _) = custom(&g, json!({ "token": expired.expose(), "custom_attributes": { "a": 1 } }));
            assert_eq!(status, 400);
            Ok(())
        }).unwrap();
        // Without a management key: 401.
        let anonymous = http().post(f.w.app.url("/api/v1/token/custom")).json(&json!({ "token": access, "custom_attributes": {} })).send().unwrap();
        assert_eq!(anonymous.status(), 401);
    }
}

/// A second, fresh database of the same backend (each fixture starts its own server).
fn db_for(db: &common::TestDatabase) -> common::TestDatabase {
    match db.url {
        tessera_store::DatabaseUrl::Postgres(_) => common::TestDatabase::postgres().unwrap(),
        tessera_store::DatabaseUrl::Sqlite(_) => common::TestDatabase::sqlite(),
    }
}
