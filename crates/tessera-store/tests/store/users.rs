use std::collections::BTreeMap;

use serde_json::json;
use tessera_domain::{ClaimValueType, UserId};
use tessera_store::scopes::{self, ClaimTypeInput};
use tessera_store::users::{self, NewUser, UserChanges};
use tessera_store::{Page, StoreError, organizations};

use tessera_testkit::NOW;

fn alice() -> NewUser {
    NewUser {
        username: "alice".into(),
        email: Some("alice@example.com".into()),
        password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA".into()),
        ..Default::default()
    }
}

crate::both_backends! {
    fn created_user_is_found_by_username_or_email(store: Store) {
        let created = store.write_transaction(|c| users::create(c, &alice(), NOW)).unwrap();
        let by_name = store.read_transaction(|c| users::find_by_login(c, "ALICE")).unwrap().unwrap();
        let by_email = store.read_transaction(|c| users::find_by_login(c, "alice@example.com")).unwrap().unwrap();
        assert_eq!(by_name, created);
        assert_eq!(by_email.id, created.id);
        assert_eq!(created.app_metadata, json!({}));
        assert!(store.read_transaction(|c| users::find_by_login(c, "bob")).unwrap().is_none());
    }

    fn duplicate_username_is_a_conflict_naming_the_field(store: Store) {
        store.write_transaction(|c| users::create(c, &alice(), NOW)).unwrap();
        let again = NewUser { email: Some("other@example.com".into()), ..alice() };
        match store.write_transaction(|c| users::create(c, &again, NOW)) {
            Err(StoreError::Conflict { field }) => assert_eq!(field, "username"),
            other => panic!("expected a conflict, got {other:?}"),
        }
        let same_email = NewUser { username: "alice2".into(), ..alice() };
        match store.write_transaction(|c| users::create(c, &same_email, NOW)) {
            Err(StoreError::Conflict { field }) => assert_eq!(field, "email"),
            other => panic!("expected a conflict, got {other:?}"),
        }
        assert_eq!(store.read_transaction(users::count).unwrap(), 1);
    }

    fn a_username_cannot_be_another_accounts_email_nor_the_reverse(store: Store) {
        store.write_transaction(|c| users::create(c, &alice(), NOW)).unwrap();
        let shadow = NewUser { username: "alice@example.com".into(), ..Default::default() };
        match store.write_transaction(|c| users::create(c, &shadow, NOW)) {
            Err(StoreError::Conflict { field }) => assert_eq!(field, "username"),
            other => panic!("expected a conflict, got {other:?}"),
        }
        store.write_transaction(|c| users::create(c, &NewUser { username: "bob@example.org".into(), ..Default::default() }, NOW)).unwrap();
        let clash = NewUser { username: "carol".into(), email: Some("bob@example.org".into()), ..Default::default() };
        match store.write_transaction(|c| users::create(c, &clash, NOW)) {
            Err(StoreError::Conflict { field }) => assert_eq!(field, "email"),
            other => panic!("expected a conflict, got {other:?}"),
        }
        let carol = store.write_transaction(|c| users::create(c, &NewUser { username: "carol".into(), ..Default::default() }, NOW)).unwrap();
        let changes = UserChanges { email: Some(Some("bob@example.org".into())), ..Default::default() };
        assert!(matches!(store.write_transaction(|c| users::update(c, &carol.id, &changes, NOW)), Err(StoreError::Conflict { .. })));
        // A user may keep their own values on update.
        let own = UserChanges { username: Some("carol".into()), ..Default::default() };
        store.write_transaction(|c| users::update(c, &carol.id, &own, NOW)).unwrap();
    }

    fn missing_user_is_not_found(store: Store) {
        assert!(matches!(store.read_transaction(|c| users::get(c, &UserId::from("nope"))), Err(StoreError::NotFound { entity: "user" })));
        assert!(matches!(store.write_transaction(|c| users::delete(c, &UserId::from("nope"))), Err(StoreError::NotFound { .. })));
    }

    fn update_changes_only_what_is_given(store: Store) {
        let user = store.write_transaction(|c| users::create(c, &alice(), NOW)).unwrap();
        let changes = UserChanges { disabled: Some(true), app_metadata: Some(json!({"plan": "pro"})), ..Default::default() };
        let updated = store.write_transaction(|c| users::update(c, &user.id, &changes, NOW + 5)).unwrap();
        assert!(updated.disabled);
        assert_eq!(updated.app_metadata, json!({"plan": "pro"}));
        assert_eq!(updated.email, user.email);
        assert_eq!(updated.updated_at, NOW + 5);
        store.write_transaction(|c| users::set_password_hash(c, &user.id, "$argon2id$new", NOW + 6)).unwrap();
        assert_eq!(store.read_transaction(|c| users::get(c, &user.id)).unwrap().password_hash.as_deref(), Some("$argon2id$new"));
    }

    fn of_eight_concurrent_password_replacements_from_one_verified_hash_exactly_one_writes(store: Store) {
        let user = store.write_transaction(|c| users::create(c, &alice(), NOW)).unwrap();
        let verified = user.password_hash.clone().unwrap();
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(8));
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let (store, barrier, id, verified) = (store.clone(), barrier.clone(), user.id.clone(), verified.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    let new = format!("$argon2id$new-{i}");
                    let written = store.write_transaction(|c| users::replace_password_hash(c, &id, &verified, &new, NOW + 1)).unwrap();
                    written.then_some(new)
                })
            })
            .collect();
        let written: Vec<String> = threads.into_iter().filter_map(|t| t.join().unwrap()).collect();
        assert_eq!(written.len(), 1, "{written:?}");
        let stored = store.read_transaction(|c| users::get(c, &user.id)).unwrap().password_hash;
        assert_eq!(stored.as_ref(), Some(&written[0]));
        let stale = store.write_transaction(|c| users::replace_password_hash(c, &user.id, &verified, "$argon2id$late", NOW + 2));
        assert!(!stale.unwrap(), "the hash it checked is gone");
    }

    fn claim_values_round_trip_and_null_removes(store: Store) {
        let user = store.write_transaction(|c| users::create(c, &alice(), NOW)).unwrap();
        let input = ClaimTypeInput {
            name: "employee_id".into(),
            display_name: "Employee id".into(),
            description: String::new(),
            value_type: ClaimValueType::String,
            user_editable: false,
        };
        store.write_transaction(|c| scopes::create_claim_type(c, &input, NOW)).unwrap();
        let mut values = BTreeMap::new();
        values.insert("employee_id".to_owned(), json!("E-42"));
        values.insert("given_name".to_owned(), json!("Alice"));
        store.write_transaction(|c| users::set_claim_values(c, &user.id, &values, NOW)).unwrap();
        let user = store.read_transaction(|c| users::get(c, &user.id)).unwrap();
        let read = store.read_transaction(|c| users::claim_values(c, &user)).unwrap();
        assert_eq!(read["employee_id"], json!("E-42"));
        assert_eq!(read["given_name"], json!("Alice"));
        assert_eq!(read["email"], json!("alice@example.com"));
        assert_eq!(read["email_verified"], json!(false));
        assert_eq!(read["preferred_username"], json!("alice"));

        let mut removal = BTreeMap::new();
        removal.insert("employee_id".to_owned(), serde_json::Value::Null);
        store.write_transaction(|c| users::set_claim_values(c, &user.id, &removal, NOW)).unwrap();
        let read = store.read_transaction(|c| users::claim_values(c, &user)).unwrap();
        assert!(!read.contains_key("employee_id"));
    }

    fn claim_value_for_unknown_claim_is_invalid_and_writes_nothing(store: Store) {
        let user = store.write_transaction(|c| users::create(c, &alice(), NOW)).unwrap();
        let mut values = BTreeMap::new();
        values.insert("given_name".to_owned(), json!("Alice"));
        values.insert("no_such_claim".to_owned(), json!("x"));
        match store.write_transaction(|c| users::set_claim_values(c, &user.id, &values, NOW)) {
            Err(StoreError::Invalid { field, .. }) => assert_eq!(field.as_deref(), Some("no_such_claim")),
            other => panic!("expected invalid, got {other:?}"),
        }
        let read = store.read_transaction(|c| users::claim_values(c, &user)).unwrap();
        assert!(!read.contains_key("given_name"), "half of the change was kept");
    }

    fn list_searches_and_paginates(store: Store) {
        for i in 0..5 {
            let user = NewUser { username: format!("user{i}"), email: Some(format!("u{i}@example.com")), ..Default::default() };
            store.write_transaction(|c| users::create(c, &user, NOW)).unwrap();
        }
        store.write_transaction(|c| users::create(c, &NewUser { username: "zed_x".into(), ..Default::default() }, NOW)).unwrap();
        let first = store.read_transaction(|c| users::list(c, None, &Page::first(4))).unwrap();
        assert_eq!(first.items.len(), 4);
        let next = first.next.clone().expect("a second page");
        let second = store.read_transaction(|c| users::list(c, None, &Page { after: Some(next), limit: 4 })).unwrap();
        assert_eq!(second.items.len(), 2);
        assert!(second.next.is_none());
        let all: Vec<String> = first.items.iter().chain(&second.items).map(|u| u.username.clone()).collect();
        assert_eq!(all, ["user0", "user1", "user2", "user3", "user4", "zed_x"]);

        let found = store.read_transaction(|c| users::list(c, Some("USER3"), &Page::first(10))).unwrap();
        assert_eq!(found.items.iter().map(|u| u.username.as_str()).collect::<Vec<_>>(), ["user3"]);
        // `_` is a literal in a search, not a LIKE wildcard.
        let underscore = store.read_transaction(|c| users::list(c, Some("d_x"), &Page::first(10))).unwrap();
        assert_eq!(underscore.items.len(), 1);
        let none = store.read_transaction(|c| users::list(c, Some("r_"), &Page::first(10))).unwrap();
        assert_eq!(none.items.len(), 0);
    }

    fn roles_are_given_and_taken(store: Store) {
        let user = store.write_transaction(|c| users::create(c, &alice(), NOW)).unwrap();
        let admin = store.read_transaction(|c| organizations::find_role_by_name(c, organizations::ADMIN_ROLE)).unwrap().unwrap();
        store.write_transaction(|c| users::add_role(c, &user.id, &admin.id)).unwrap();
        store.write_transaction(|c| users::add_role(c, &user.id, &admin.id)).unwrap();
        assert!(store.read_transaction(|c| users::has_role(c, &user.id, organizations::ADMIN_ROLE)).unwrap());
        assert_eq!(store.read_transaction(|c| users::roles(c, &user.id)).unwrap().len(), 1);
        store.write_transaction(|c| users::remove_role(c, &user.id, &admin.id)).unwrap();
        assert!(!store.read_transaction(|c| users::has_role(c, &user.id, organizations::ADMIN_ROLE)).unwrap());
    }

    fn deleting_a_user_removes_claim_values_and_roles(store: Store) {
        let user = store.write_transaction(|c| users::create(c, &alice(), NOW)).unwrap();
        let mut values = BTreeMap::new();
        values.insert("given_name".to_owned(), json!("Alice"));
        store.write_transaction(|c| users::set_claim_values(c, &user.id, &values, NOW)).unwrap();
        let admin = store.read_transaction(|c| organizations::find_role_by_name(c, organizations::ADMIN_ROLE)).unwrap().unwrap();
        store.write_transaction(|c| users::add_role(c, &user.id, &admin.id)).unwrap();
        store.write_transaction(|c| users::delete(c, &user.id)).unwrap();
        assert!(store.read_transaction(|c| users::roles(c, &user.id)).unwrap().is_empty());
        assert_eq!(store.read_transaction(users::count).unwrap(), 0);
    }
}
