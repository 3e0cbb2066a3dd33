use tessera_domain::{ApplicationId, ClaimRule, ClaimRuleInput, TokenSubject};
use tessera_store::{Page, StoreError, applications, mappings};

use crate::applications::web_app;
use tessera_testkit::NOW;

fn rule(subject: &str, source: &str, path: &str, name: &str) -> ClaimRule {
    ClaimRule::parse(&ClaimRuleInput { subject, source, path, name, ..ClaimRuleInput::default() }).unwrap()
}

crate::both_backends! {
    fn a_mapping_round_trips_and_is_updated_and_deleted(store: Store) {
        let app = store.write_transaction(|c| applications::create(c, &"web".into(), &web_app(), None, NOW)).unwrap();
        let outputs = vec!["userinfo".to_owned(), "id_token".to_owned()];
        let namespaced = ClaimRule::parse(&ClaimRuleInput {
            subject: "user",
            source: "app_metadata",
            path: "/plan",
            namespace: "https://example.com/",
            name: "plan",
            outputs: &outputs,
            freshness: "grant",
        })
        .unwrap();
        let created = store.write_transaction(|c| mappings::create(c, Some(&app.id), &namespaced, NOW)).unwrap();
        assert_eq!(created.rule, namespaced);
        assert_eq!((created.application_id.as_ref().map(ApplicationId::as_str), created.created_at), (Some(app.id.as_str()), NOW));
        assert_eq!(store.read_transaction(|c| mappings::get(c, &created.id)).unwrap(), created);

        let replaced = rule("user", "roles", "", "roles");
        let updated = store.write_transaction(|c| mappings::update(c, &created.id, &replaced, NOW + 5)).unwrap();
        assert_eq!((updated.rule.clone(), updated.updated_at), (replaced, NOW + 5));
        assert_eq!(updated.application_id, created.application_id, "the application stays");

        store.write_transaction(|c| mappings::delete(c, &created.id)).unwrap();
        assert!(matches!(store.read_transaction(|c| mappings::get(c, &created.id)), Err(StoreError::NotFound { .. })));
        assert!(matches!(store.write_transaction(|c| mappings::delete(c, &created.id)), Err(StoreError::NotFound { .. })));
    }

    fn one_rule_per_claim_subject_and_application(store: Store) {
        let app = store.write_transaction(|c| applications::create(c, &"web".into(), &web_app(), None, NOW)).unwrap();
        let roles = rule("user", "roles", "", "roles");
        store.write_transaction(|c| mappings::create(c, None, &roles, NOW)).unwrap();
        let taken = store.write_transaction(|c| mappings::create(c, None, &rule("user", "user_metadata", "/r", "roles"), NOW));
        assert!(matches!(taken, Err(StoreError::Conflict { ref field }) if field == "name"), "{taken:?}");
        // The same claim for one application, or for machine tokens, is another rule.
        let own = store.write_transaction(|c| mappings::create(c, Some(&app.id), &roles, NOW)).unwrap();
        store.write_transaction(|c| mappings::create(c, None, &rule("machine", "script", "", "roles"), NOW)).unwrap();
        let again = store.write_transaction(|c| mappings::create(c, Some(&app.id), &roles, NOW));
        assert!(matches!(again, Err(StoreError::Conflict { .. })));
        // An update may not take another rule's claim either.
        let other = store.write_transaction(|c| mappings::create(c, Some(&app.id), &rule("user", "roles", "", "other"), NOW)).unwrap();
        let clash = store.write_transaction(|c| mappings::update(c, &other.id, &roles, NOW));
        assert!(matches!(clash, Err(StoreError::Conflict { .. })));
        // An update keeping its own claim is fine.
        store.write_transaction(|c| mappings::update(c, &own.id, &rule("user", "user_metadata", "/roles", "roles"), NOW)).unwrap();
        let unknown = store.write_transaction(|c| mappings::create(c, Some(&"no-such-app".into()), &rule("user", "roles", "", "x"), NOW));
        assert!(matches!(unknown, Err(StoreError::Invalid { field: Some(ref f), .. }) if f == "application_id"));
    }

    fn the_configuration_gives_each_application_its_rules_over_the_global_ones(store: Store) {
        let web = store.write_transaction(|c| applications::create(c, &"web".into(), &web_app(), None, NOW)).unwrap();
        let other = store.write_transaction(|c| applications::create(c, &"other".into(), &web_app(), None, NOW)).unwrap();
        let global_roles = store.write_transaction(|c| mappings::create(c, None, &rule("user", "roles", "", "roles"), NOW)).unwrap();
        let global_plan =
            store.write_transaction(|c| mappings::create(c, None, &rule("user", "app_metadata", "/plan", "plan"), NOW)).unwrap();
        let web_roles = store
            .write_transaction(|c| mappings::create(c, Some(&web.id), &rule("user", "user_metadata", "/roles", "roles"), NOW))
            .unwrap();
        let web_extra =
            store.write_transaction(|c| mappings::create(c, Some(&web.id), &rule("user", "roles", "", "extra"), NOW)).unwrap();
        let machine = store
            .write_transaction(|c| mappings::create(c, None, &rule("machine", "application_metadata", "/t", "tenant"), NOW))
            .unwrap();

        let config = store.config().unwrap();
        let ids = |subject, app: &ApplicationId| -> Vec<String> {
            config.rules_for(subject, app).into_iter().map(|m| m.id.clone()).collect()
        };
        assert_eq!(ids(TokenSubject::User, &web.id), [global_plan.id.clone(), web_roles.id, web_extra.id]);
        assert_eq!(ids(TokenSubject::User, &other.id), [global_roles.id.clone(), global_plan.id]);
        assert_eq!(ids(TokenSubject::Machine, &web.id), [machine.id]);

        // Deleting the application deletes its rules.
        store.write_transaction(|c| applications::delete(c, &web.id)).unwrap();
        let left = store.read_transaction(|c| mappings::list(c, None, &Page::first(50))).unwrap().items;
        assert_eq!(left.len(), 3);
        assert!(left.iter().all(|m| m.application_id.is_none()));
        assert_eq!(store.config().unwrap().mappings().len(), 3);
    }
}
