use tessera_store::{StoreError, consents};

use crate::fixtures::parties;
use tessera_testkit::NOW;

crate::both_backends! {
    fn consent_merges_scopes_into_canonical_order(store: Store) {
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

    fn consent_with_a_malformed_scope_is_refused_and_nothing_is_written(store: Store) {
        let p = parties(&store);
        match store.write_transaction(|c| consents::upsert_consent(c, &p.alice, &p.app, "openid \"email\"", NOW)) {
            Err(StoreError::Invalid { field, .. }) => assert_eq!(field.as_deref(), Some("scope")),
            other => panic!("expected invalid scope, got {other:?}"),
        }
        assert!(store.read_transaction(|c| consents::get_consent(c, &p.alice, &p.app)).unwrap().is_none());
    }
}
