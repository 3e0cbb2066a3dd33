use tessera_store::{StoreError, consents};

use tessera_store::grants::{self, NewGrant};

use crate::fixtures::{create_grant, grant, parties};
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

    fn a_users_consents_are_listed_by_application_name(store: Store) {
        let p = parties(&store);
        store.write_transaction(|c| consents::upsert_consent(c, &p.alice, &p.other_app, "openid", NOW)).unwrap();
        store.write_transaction(|c| consents::upsert_consent(c, &p.alice, &p.app, "email openid", NOW)).unwrap();
        store.write_transaction(|c| consents::upsert_consent(c, &p.bob, &p.app, "openid", NOW)).unwrap();
        let listed = store.read_transaction(|c| consents::list_of_user(c, &p.alice)).unwrap();
        let names: Vec<(&str, &str, &str)> =
            listed.iter().map(|(consent, app)| (app.name.as_str(), app.client_id.as_str(), consent.scope.as_str())).collect();
        assert_eq!(names, [("Other app", "other-app", "openid"), ("Web app", "web-app", "email openid")]);
    }

    fn revoking_a_consent_removes_it_and_revokes_what_the_user_granted_that_application(store: Store) {
        let p = parties(&store);
        store.write_transaction(|c| consents::upsert_consent(c, &p.alice, &p.app, "offline_access openid", NOW)).unwrap();
        let granted = create_grant(&store, &grant(&p, "sid-1", NOW + 3600));
        let other = create_grant(&store, &NewGrant { application_id: p.other_app.clone(), ..grant(&p, "sid-1", NOW + 3600) });
        let (removed, revoked) =
            store.write_transaction(|c| consents::revoke(c, &p.alice, &p.app, NOW + 5)).unwrap().unwrap();
        assert_eq!((removed.scope.as_str(), revoked), ("offline_access openid", 1));
        assert!(store.read_transaction(|c| consents::get_consent(c, &p.alice, &p.app)).unwrap().is_none());
        assert_eq!(store.read_transaction(|c| grants::get_grant(c, &granted.id)).unwrap().revoked_at, Some(NOW + 5));
        assert_eq!(store.read_transaction(|c| grants::get_grant(c, &other.id)).unwrap().revoked_at, None);
        // A second revocation finds nothing, and writes nothing.
        assert!(store.write_transaction(|c| consents::revoke(c, &p.alice, &p.app, NOW + 6)).unwrap().is_none());
    }
}
