use serde_json::json;
use tessera_store::keys::{self, KeyState, NewSigningKey, SigningKey};
use tessera_store::{Store, StoreError};

use tessera_testkit::NOW;

fn key(kid: &str, alg: &str, state: KeyState) -> NewSigningKey {
    NewSigningKey {
        kid: kid.into(),
        alg: alg.into(),
        state,
        private_key: format!("encrypted:{kid}"),
        public_jwk: json!({"kty": "EC", "crv": "P-256", "kid": kid, "x": "x", "y": "y"}),
        publish_until: None,
    }
}

fn insert(store: &Store, new: &NewSigningKey, now: i64) -> SigningKey {
    store.write_transaction(|c| keys::insert(c, new, now)).unwrap()
}

fn kids(list: &[SigningKey]) -> Vec<&str> {
    list.iter().map(|k| k.kid.as_str()).collect()
}

crate::both_backends! {
    fn inserted_key_reads_back_with_its_state_and_jwk(store: Store) {
        let created = insert(&store, &key("k1", "ES256", KeyState::Active), NOW);
        assert_eq!(created.state, KeyState::Active);
        assert_eq!(created.activated_at, Some(NOW));
        assert_eq!(created.private_key, "encrypted:k1");
        assert_eq!(created.public_jwk["kid"], json!("k1"));
        assert_eq!(store.read_transaction(|c| keys::get(c, "k1")).unwrap(), created);
        assert_eq!(store.read_transaction(|c| keys::active(c, "ES256")).unwrap(), Some(created));
        assert!(store.read_transaction(|c| keys::active(c, "RS256")).unwrap().is_none());
        assert!(matches!(store.read_transaction(|c| keys::get(c, "nope")), Err(StoreError::NotFound { entity: "signing key" })));
        match store.write_transaction(|c| keys::insert(c, &key("k1", "ES256", KeyState::Next), NOW)) {
            Err(StoreError::Conflict { field }) => assert_eq!(field, "kid"),
            other => panic!("expected a conflict, got {other:?}"),
        }
    }

    fn debug_output_never_shows_the_private_key(store: Store) {
        let created = insert(&store, &key("k1", "ES256", KeyState::Next), NOW);
        let shown = format!("{created:?} {:?}", key("k1", "ES256", KeyState::Next));
        assert!(shown.contains("k1"));
        assert!(!shown.contains("encrypted:"), "{shown}");
    }

    fn a_second_active_key_of_one_algorithm_is_refused(store: Store) {
        insert(&store, &key("k1", "ES256", KeyState::Active), NOW);
        match store.write_transaction(|c| keys::insert(c, &key("k2", "ES256", KeyState::Active), NOW)) {
            Err(StoreError::Invalid { field, .. }) => assert_eq!(field.as_deref(), Some("state")),
            other => panic!("expected invalid state, got {other:?}"),
        }
        assert!(matches!(store.read_transaction(|c| keys::get(c, "k2")), Err(StoreError::NotFound { .. })));
        // Another algorithm has its own active key.
        insert(&store, &key("r1", "RS256", KeyState::Active), NOW);
        assert_eq!(store.read_transaction(|c| keys::active(c, "RS256")).unwrap().unwrap().kid, "r1");
    }

    fn activation_retires_the_previous_active_key_which_stays_published_until_publish_until(store: Store) {
        insert(&store, &key("k1", "ES256", KeyState::Active), NOW);
        insert(&store, &key("k2", "ES256", KeyState::Next), NOW + 1);
        insert(&store, &key("r1", "RS256", KeyState::Active), NOW + 2);
        assert_eq!(kids(&store.read_transaction(|c| keys::publishable(c, NOW + 3)).unwrap()), ["k1", "k2", "r1"]);

        let until = NOW + 100 + 3600;
        let activated = store.write_transaction(|c| keys::activate(c, "k2", until, NOW + 100)).unwrap();
        assert_eq!((activated.state, activated.activated_at), (KeyState::Active, Some(NOW + 100)));
        assert_eq!(store.read_transaction(|c| keys::active(c, "ES256")).unwrap().unwrap().kid, "k2");
        let old = store.read_transaction(|c| keys::get(c, "k1")).unwrap();
        assert_eq!((old.state, old.retired_at, old.publish_until), (KeyState::Retired, Some(NOW + 100), Some(until)));
        // The RS256 key is not touched.
        assert_eq!(store.read_transaction(|c| keys::get(c, "r1")).unwrap().state, KeyState::Active);

        assert_eq!(kids(&store.read_transaction(|c| keys::publishable(c, until - 1)).unwrap()), ["k1", "k2", "r1"]);
        assert_eq!(kids(&store.read_transaction(|c| keys::publishable(c, until)).unwrap()), ["k2", "r1"]);
        assert_eq!(kids(&store.read_transaction(keys::list).unwrap()), ["k1", "k2", "r1"]);
    }

    fn activating_the_active_key_changes_nothing_and_a_retired_key_cannot_return(store: Store) {
        let k1 = insert(&store, &key("k1", "ES256", KeyState::Active), NOW);
        assert_eq!(store.write_transaction(|c| keys::activate(c, "k1", NOW + 50, NOW + 10)).unwrap(), k1);
        insert(&store, &key("k2", "ES256", KeyState::Next), NOW);
        store.write_transaction(|c| keys::activate(c, "k2", NOW + 50, NOW + 10)).unwrap();
        match store.write_transaction(|c| keys::activate(c, "k1", NOW + 60, NOW + 20)) {
            Err(StoreError::Invalid { field, .. }) => assert_eq!(field.as_deref(), Some("kid")),
            other => panic!("expected invalid kid, got {other:?}"),
        }
        assert_eq!(store.read_transaction(|c| keys::active(c, "ES256")).unwrap().unwrap().kid, "k2");
        assert!(matches!(store.write_transaction(|c| keys::activate(c, "nope", NOW, NOW)), Err(StoreError::NotFound { .. })));
    }

    fn retiring_a_compromised_key_at_now_withdraws_it_from_the_jwks(store: Store) {
        insert(&store, &key("k1", "ES256", KeyState::Active), NOW);
        let retired = store.write_transaction(|c| keys::retire(c, "k1", NOW + 5, NOW + 5)).unwrap();
        assert_eq!(retired.state, KeyState::Retired);
        assert_eq!((retired.retired_at, retired.publish_until), (Some(NOW + 5), Some(NOW + 5)));
        assert!(store.read_transaction(|c| keys::publishable(c, NOW + 5)).unwrap().is_empty());
        assert!(store.read_transaction(|c| keys::active(c, "ES256")).unwrap().is_none());
        // Retiring again keeps the first retirement time.
        let again = store.write_transaction(|c| keys::retire(c, "k1", NOW + 9, NOW + 9)).unwrap();
        assert_eq!((again.retired_at, again.publish_until), (Some(NOW + 5), Some(NOW + 9)));
    }

    fn only_retired_keys_past_publish_until_are_deleted(store: Store) {
        insert(&store, &key("k1", "ES256", KeyState::Active), NOW);
        insert(&store, &key("k2", "ES256", KeyState::Next), NOW);
        insert(&store, &key("k3", "ES256", KeyState::Next), NOW);
        store.write_transaction(|c| keys::activate(c, "k2", NOW + 100, NOW + 10)).unwrap();
        store.write_transaction(|c| keys::activate(c, "k3", NOW + 200, NOW + 20)).unwrap();
        assert_eq!(store.write_transaction(|c| keys::delete_unpublished(c, NOW + 99)).unwrap(), 0);
        assert_eq!(store.write_transaction(|c| keys::delete_unpublished(c, NOW + 100)).unwrap(), 1);
        assert_eq!(kids(&store.read_transaction(keys::list).unwrap()), ["k2", "k3"]);
        assert_eq!(store.write_transaction(|c| keys::delete_unpublished(c, NOW + 200)).unwrap(), 1);
        assert_eq!(kids(&store.read_transaction(keys::list).unwrap()), ["k3"]);
        store.write_transaction(|c| keys::delete(c, "k3")).unwrap();
        assert!(store.read_transaction(keys::list).unwrap().is_empty());
        assert!(matches!(store.write_transaction(|c| keys::delete(c, "k3")), Err(StoreError::NotFound { .. })));
    }
}
