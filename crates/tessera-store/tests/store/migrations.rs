use diesel::connection::SimpleConnection;
use tessera_store::{scopes, users};

use tessera_testkit::NOW;

crate::both_backends! {
    fn migrating_again_applies_nothing_and_seeds_nothing(store: Store) {
        let report = tessera_store::migrate(&mut store.conn().unwrap(), NOW).unwrap();
        assert!(report.applied.is_empty(), "second run applied {:?}", report.applied);
        let seeded = store.write_transaction(|c| tessera_store::seed_standard_data(c, NOW)).unwrap();
        assert!(seeded.is_empty(), "second seeding added {seeded:?}");
    }

    fn first_start_seeds_standard_claims_and_scopes(store: Store) {
        let claims = store.read_transaction(scopes::list_claim_types).unwrap();
        let names: Vec<&str> = claims.iter().map(|c| c.name.as_str()).collect();
        for expected in ["sub", "name", "email", "email_verified", "phone_number", "address", "birthdate", "updated_at"] {
            assert!(names.contains(&expected), "missing standard claim {expected}");
        }
        assert!(claims.iter().all(|c| c.standard));
        let profile = store.read_transaction(|c| scopes::get_scope(c, "profile")).unwrap();
        assert!(profile.standard);
        assert!(profile.claims.contains(&"given_name".to_owned()));
        let openid = store.read_transaction(|c| scopes::get_scope(c, "openid")).unwrap();
        assert_eq!(openid.claims, vec!["sub".to_owned()]);
        for scope in ["email", "address", "phone", "offline_access"] {
            store.read_transaction(|c| scopes::get_scope(c, scope)).unwrap();
        }
    }

    fn a_removed_standard_scope_is_seeded_again(store: Store) {
        store.write_transaction(|c| {
            c.batch_execute("DELETE FROM scopes WHERE name = 'phone'")?;
            Ok(())
        }).unwrap();
        let report = store.write_transaction(|c| tessera_store::seed_standard_data(c, NOW)).unwrap();
        assert_eq!(report.scopes_added, 1);
        let phone = store.read_transaction(|c| scopes::get_scope(c, "phone")).unwrap();
        assert_eq!(phone.claims, vec!["phone_number".to_owned(), "phone_number_verified".to_owned()]);
    }

    fn a_failed_operation_leaves_nothing_written(store: Store) {
        let result: Result<(), _> = store.write_transaction(|c| {
            users::create(c, &users::NewUser { username: "half".into(), ..Default::default() }, NOW)?;
            Err(tessera_store::StoreError::invalid("x", "fail after a write"))
        });
        assert!(result.is_err());
        assert!(store.read_transaction(|c| users::find_by_login(c, "half")).unwrap().is_none());
    }
}
