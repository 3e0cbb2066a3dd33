use tessera_store::{StoreError, consents};

use crate::common::NOW;
use crate::fixtures::parties;

crate::both_backends! {
    fn consent_merges_scopes_into_canonical_order(store) {
        let p = parties(&store);
        assert!(store.read_transaction(|c| consents::get_consent(c, &p.alice, &p.app)).unwrap().is_none());
        let first = store.write_transaction(|c| consents::upsert_consent(c, &p.alice, &p.app, "openid  email", NOW)).unwrap();
        assert_eq!(first.scope, "email openid");
        let merged = store.write_transaction(|c| consents::upsert_consent(c, &p.alice, &p.app, "profile openid", NOW + 9)).unwrap();
        assert_eq!(merged.scope, "email openid profile");
        assert_eq!(merged.created_at, NOW);
        assert_eq!(merged.updated_at, NOW + 9);
        assert_eq!(store.read_transaction(|c| consents::get_consent(c, &p.alice, &p.app)).unwrap(), Some(merged));
    }

    fn consent_with_a_malformed_scope_is_refused_and_nothing_is_written(store) {
        let p = parties(&store);
        match store.write_transaction(|c| consents::upsert_consent(c, &p.alice, &p.app, "openid \"email\"", NOW)) {
            Err(StoreError::Invalid { field, .. }) => assert_eq!(field.as_deref(), Some("scope")),
            other => panic!("expected invalid scope, got {other:?}"),
        }
        assert!(store.read_transaction(|c| consents::get_consent(c, &p.alice, &p.app)).unwrap().is_none());
    }

    fn consents_are_listed_per_user_and_can_be_withdrawn(store) {
        let p = parties(&store);
        store.write_transaction(|c| consents::upsert_consent(c, &p.alice, &p.app, "openid", NOW)).unwrap();
        store.write_transaction(|c| consents::upsert_consent(c, &p.alice, &p.other_app, "openid email", NOW)).unwrap();
        store.write_transaction(|c| consents::upsert_consent(c, &p.bob, &p.app, "openid", NOW)).unwrap();
        let mut expected = vec![p.app.clone(), p.other_app.clone()];
        expected.sort();
        let listed = store.read_transaction(|c| consents::consents_of_user(c, &p.alice)).unwrap();
        assert_eq!(listed.iter().map(|c| c.application_id.clone()).collect::<Vec<_>>(), expected);

        store.write_transaction(|c| consents::delete_consent(c, &p.alice, &p.app)).unwrap();
        assert!(store.read_transaction(|c| consents::get_consent(c, &p.alice, &p.app)).unwrap().is_none());
        assert!(store.read_transaction(|c| consents::get_consent(c, &p.bob, &p.app)).unwrap().is_some());
        assert!(matches!(
            store.write_transaction(|c| consents::delete_consent(c, &p.alice, &p.app)),
            Err(StoreError::NotFound { entity: "consent" })
        ));
    }
}
