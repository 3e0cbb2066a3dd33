use tessera_domain::ClaimValueType;
use tessera_store::StoreError;
use tessera_store::scopes::{self, ClaimTypeInput, IdentityScopeInput, ScopeKind};

use tessera_testkit::NOW;

fn department() -> ClaimTypeInput {
    ClaimTypeInput {
        name: "department".into(),
        display_name: "Department".into(),
        description: "Where the user works".into(),
        value_type: ClaimValueType::String,
        user_editable: false,
    }
}

fn work_scope(claims: &[&str]) -> IdentityScopeInput {
    IdentityScopeInput {
        name: "work".into(),
        display_name: "Work profile".into(),
        description: "Your department".into(),
        show_in_discovery: true,
        claims: claims.iter().map(|c| (*c).to_owned()).collect(),
    }
}

crate::both_backends! {
    fn custom_claim_type_is_created_updated_and_deleted(store: Store) {
        let created = store.write_transaction(|c| scopes::create_claim_type(c, &department(), NOW)).unwrap();
        assert!(!created.standard);
        assert_eq!(created.value_type, ClaimValueType::String);
        let changed = ClaimTypeInput { display_name: "Dept".into(), value_type: ClaimValueType::Json, ..department() };
        let updated = store.write_transaction(|c| scopes::update_claim_type(c, &changed, NOW + 1)).unwrap();
        assert_eq!(updated.display_name, "Dept");
        assert_eq!(updated.value_type, ClaimValueType::Json);
        store.write_transaction(|c| scopes::delete_claim_type(c, "department")).unwrap();
        assert!(matches!(store.read_transaction(|c| scopes::get_claim_type(c, "department")), Err(StoreError::NotFound { .. })));
    }

    fn standard_claims_and_scopes_are_read_only(store: Store) {
        let email = ClaimTypeInput { name: "email".into(), ..department() };
        assert!(matches!(store.write_transaction(|c| scopes::update_claim_type(c, &email, NOW)), Err(StoreError::Invalid { .. })));
        assert!(matches!(store.write_transaction(|c| scopes::delete_claim_type(c, "email")), Err(StoreError::Invalid { .. })));
        assert!(matches!(store.write_transaction(|c| scopes::delete_scope(c, "profile")), Err(StoreError::Invalid { .. })));
        let profile = IdentityScopeInput { name: "profile".into(), ..work_scope(&[]) };
        assert!(matches!(store.write_transaction(|c| scopes::update_identity_scope(c, &profile, NOW)), Err(StoreError::Invalid { .. })));
        let standard = tessera_domain::standard_claim("email").unwrap();
        assert_eq!(store.read_transaction(|c| scopes::get_claim_type(c, "email")).unwrap().display_name, standard.display_name);
    }

    fn duplicate_claim_type_is_a_conflict(store: Store) {
        store.write_transaction(|c| scopes::create_claim_type(c, &department(), NOW)).unwrap();
        match store.write_transaction(|c| scopes::create_claim_type(c, &department(), NOW)) {
            Err(StoreError::Conflict { field }) => assert_eq!(field, "name"),
            other => panic!("expected conflict, got {other:?}"),
        }
    }

    fn custom_identity_scope_carries_its_claims(store: Store) {
        store.write_transaction(|c| scopes::create_claim_type(c, &department(), NOW)).unwrap();
        let scope = store.write_transaction(|c| scopes::create_identity_scope(c, &work_scope(&["department", "name", "department"]), NOW)).unwrap();
        assert_eq!(scope.kind, ScopeKind::Identity);
        assert_eq!(scope.claims, ["department", "name"]);
        let updated = store.write_transaction(|c| scopes::update_identity_scope(c, &work_scope(&["department"]), NOW)).unwrap();
        assert_eq!(updated.claims, ["department"]);
        // Deleting the claim type removes it from the scope.
        store.write_transaction(|c| scopes::delete_claim_type(c, "department")).unwrap();
        assert!(store.read_transaction(|c| scopes::get_scope(c, "work")).unwrap().claims.is_empty());
        store.write_transaction(|c| scopes::delete_scope(c, "work")).unwrap();
        assert!(matches!(store.read_transaction(|c| scopes::get_scope(c, "work")), Err(StoreError::NotFound { .. })));
    }

    fn identity_scope_with_unknown_claim_is_refused_and_not_created(store: Store) {
        match store.write_transaction(|c| scopes::create_identity_scope(c, &work_scope(&["nope"]), NOW)) {
            Err(StoreError::Invalid { field, .. }) => assert_eq!(field.as_deref(), Some("claims")),
            other => panic!("expected invalid, got {other:?}"),
        }
        assert!(store.read_transaction(|c| scopes::get_scope(c, "work")).is_err());
    }

    fn identity_scope_cannot_take_a_used_scope_name(store: Store) {
        let taken = IdentityScopeInput { name: "email".into(), ..work_scope(&[]) };
        match store.write_transaction(|c| scopes::create_identity_scope(c, &taken, NOW)) {
            Err(StoreError::Conflict { field }) => assert_eq!(field, "name"),
            other => panic!("expected conflict, got {other:?}"),
        }
    }

    fn list_filters_by_kind(store: Store) {
        let identity = store.read_transaction(|c| scopes::list_scopes(c, Some(ScopeKind::Identity))).unwrap();
        assert!(identity.iter().any(|s| s.name == "openid"));
        assert!(store.read_transaction(|c| scopes::list_scopes(c, Some(ScopeKind::Api))).unwrap().is_empty());
        assert_eq!(store.read_transaction(|c| scopes::list_scopes(c, None)).unwrap().len(), identity.len());
    }
}
