//! One refresh token rotation: the token endpoint and `POST /api/v1/token/custom` spend
//! refresh tokens the same way, so a spent token presented to either revokes its grant
//! (RFC 9700 §4.14.2), audited as `token.refresh_reused`, whichever path spent it.
use crate::common::security::*;
use serde_json::{Value, json};

/// A management key for the custom claims API.
fn management_key(w: &World) -> String {
    tessera_testkit::management_key(&w.store, "cli", None)
}

fn custom(w: &World, key: &str, access_token: &str, refresh_token: &str) -> (u16, Value) {
    let body = json!({ "token": access_token, "custom_attributes": { "tier": 3 }, "refresh_token": refresh_token });
    let response = http().post(w.app.url("/api/v1/token/custom")).bearer_auth(key).json(&body).send().unwrap();
    (response.status().as_u16(), response.json().unwrap_or(Value::Null))
}

fn text(value: &Value, name: &str) -> String {
    value[name].as_str().unwrap_or_else(|| panic!("no {name} in {value}")).to_owned()
}

fn reuse_events(w: &World) -> usize {
    let page = tessera_store::Page::first(100);
    let events = w.store.read_transaction(|c| tessera_store::audit::list(c, &Default::default(), &page)).unwrap();
    events.items.iter().filter(|e| e.action == "token.refresh_reused").count()
}

crate::both_backends! {
    fn a_token_spent_at_the_token_endpoint_and_presented_to_the_custom_claims_api_revokes_its_grant(db: TestDatabase) {
        let w = world(&db);
        let key = management_key(&w);
        let issued = tokens(&w, &Browser::new(&w.app), &[("scope", "openid offline_access")]);
        let spent = text(&issued, "refresh_token");
        let rotated = refresh(&w, "webapp", &spent, None);
        assert_eq!(rotated.status, 200, "{}", rotated.body);
        let live = text(&rotated.json(), "refresh_token");

        let (status, body) = custom(&w, &key, &text(&rotated.json(), "access_token"), &spent);
        assert_eq!((status, body["field"].as_str()), (400, Some("refresh_token")), "{body}");
        assert_eq!(reuse_events(&w), 1);
        let after = refresh(&w, "webapp", &live, None);
        assert_eq!((after.status, after.json()["error"].as_str()), (400, Some("invalid_grant")), "{}", after.body);
        assert_eq!(after.json()["error_description"], "the refresh token was revoked");
    }

    fn a_token_spent_at_the_custom_claims_api_and_presented_to_the_token_endpoint_revokes_its_grant(db: TestDatabase) {
        let w = world(&db);
        let key = management_key(&w);
        let issued = tokens(&w, &Browser::new(&w.app), &[("scope", "openid offline_access")]);
        let spent = text(&issued, "refresh_token");
        let (status, body) = custom(&w, &key, &text(&issued, "access_token"), &spent);
        assert_eq!(status, 200, "{body}");
        let live = text(&body, "refresh_token");

        let reused = refresh(&w, "webapp", &spent, None);
        assert_eq!((reused.status, reused.json()["error"].as_str()), (400, Some("invalid_grant")), "{}", reused.body);
        assert_eq!(reused.json()["error_description"], "the refresh token was already used; its grant is revoked");
        assert_eq!(reuse_events(&w), 1);
        let (status, body) = custom(&w, &key, &text(&issued, "access_token"), &live);
        assert_eq!(status, 400, "the grant is revoked: {body}");
        assert_eq!(refresh(&w, "webapp", &live, None).json()["error_description"], "the refresh token was revoked");
    }

    fn a_token_spent_at_the_custom_claims_api_and_presented_to_it_again_revokes_its_grant(db: TestDatabase) {
        let w = world(&db);
        let key = management_key(&w);
        let issued = tokens(&w, &Browser::new(&w.app), &[("scope", "openid offline_access")]);
        let spent = text(&issued, "refresh_token");
        let (status, body) = custom(&w, &key, &text(&issued, "access_token"), &spent);
        assert_eq!(status, 200, "{body}");
        let live = text(&body, "refresh_token");
        let (status, body) = custom(&w, &key, &text(&body, "token"), &spent);
        assert_eq!((status, body["field"].as_str()), (400, Some("refresh_token")), "{body}");
        assert_eq!(reuse_events(&w), 1);
        assert_eq!(refresh(&w, "webapp", &live, None).json()["error_description"], "the refresh token was revoked");
    }
}
