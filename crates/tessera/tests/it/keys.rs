//! Signing keys: the JWKS publishes one key per algorithm from the first start, a
//! rotated key is published by every node before it signs, and the key it replaces
//! stays published.

use std::time::{Duration, Instant};

use serde_json::Value;
use tessera_domain::SigningAlgorithm;
use tessera_store::keys::{self, KeyState};
use tessera_store::{PoolOptions, Store};

use crate::common::{TestApp, settings_for};

fn kids(jwks: &Value) -> Vec<String> {
    jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_owned()).collect()
}

fn wait_until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(40);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

crate::both_backends! {
    fn jwks_publishes_one_public_key_per_algorithm(db: TestDatabase) {
        let app = TestApp::spawn(&db);
        let response = app.get("/.well-known/openid-configuration/jwks");
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "application/jwk-set+json");
        assert_eq!(response.headers()["access-control-allow-origin"], "*");
        assert!(response.headers()["cache-control"].to_str().unwrap().contains("max-age=60"));
        let body: Value = response.json().unwrap();
        let keys = body["keys"].as_array().unwrap();
        let mut algs: Vec<&str> = keys.iter().map(|k| k["alg"].as_str().unwrap()).collect();
        algs.sort_unstable();
        assert_eq!(algs, ["ES256", "EdDSA", "RS256"]);
        for key in keys {
            assert_eq!(key["use"], "sig");
            for private in ["d", "p", "q", "dp", "dq", "qi"] {
                assert!(key.get(private).is_none(), "private member {private} published");
            }
            assert!(tessera_tokens::VerifyingKey::from_jwk(key, None).is_some());
        }
    }

    fn a_rotated_key_is_published_by_every_node_before_it_signs(db: TestDatabase) {
        let data_dir = std::env::temp_dir().join(format!("tessera-rot-{}", uuid::Uuid::now_v7().simple()));
        let mut raw = settings_for(&db, &data_dir);
        raw.key_refresh_interval = 1;
        // Generous, so that a loaded machine still publishes before the key activates.
        raw.key_activation_delay = 10;
        let node_a = TestApp::spawn_with(raw.clone());
        let node_b = TestApp::spawn_with(raw.clone());
        let before = kids(&node_a.jwks());
        assert_eq!(before, kids(&node_b.jwks()));

        let settings = tessera::settings::Settings::from_raw(raw.clone(), vec![]).unwrap();
        let store = Store::connect(&db.url, &PoolOptions::for_backend(db.url.backend())).unwrap();
        let master_key = tessera::bootstrap::master_key(&settings, &store).unwrap();
        let old_active = store.read_transaction(|c| keys::active(c, "ES256")).unwrap().unwrap();
        let started = Instant::now();
        let kid = tessera::keys::rotate(&store, &master_key, SigningAlgorithm::ES256, false, "test", tessera::now()).unwrap();

        wait_until("both nodes publish the new key", || {
            kids(&node_a.jwks()).contains(&kid) && kids(&node_b.jwks()).contains(&kid)
        });
        assert!(started.elapsed() < Duration::from_secs(8), "published within a few refresh intervals");
        assert_eq!(store.read_transaction(|c| keys::get(c, &kid)).unwrap().state, KeyState::Next, "published before it signs");

        wait_until("the new key signs", || store.read_transaction(|c| keys::get(c, &kid)).unwrap().state == KeyState::Active);
        let retired = store.read_transaction(|c| keys::get(c, &old_active.kid)).unwrap();
        assert_eq!(retired.state, KeyState::Retired);
        assert!(retired.publish_until.unwrap() >= tessera::now() + 86_400, "published until its tokens expire");
        wait_until("the nodes reload", || kids(&node_a.jwks()).len() == before.len() + 1);
        let published = kids(&node_b.jwks());
        assert!(published.contains(&old_active.kid), "the retired key stays published");
        assert!(published.contains(&kid));
        let events = store.read_transaction(|c| tessera_store::audit::list(c, &Default::default(), &tessera_store::Page::first(50))).unwrap();
        assert!(events.items.iter().any(|e| e.action == "signing_key.rotate" && e.target == kid));
        assert!(events.items.iter().any(|e| e.action == "signing_key.activate" && e.target == kid));
        drop((node_a, node_b));
        let _ = std::fs::remove_dir_all(&data_dir);
    }
}
