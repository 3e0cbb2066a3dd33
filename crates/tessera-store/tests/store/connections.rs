use tessera_domain::{ConnectionId, TokenFormat};
use tessera_store::connections::{self, NewApiConnection};
use tessera_store::scopes::{self, IdentityScopeInput, NewApiScope, ScopeKind};
use tessera_store::{Page, StoreError};

use tessera_testkit::NOW;

fn library() -> NewApiConnection {
    NewApiConnection {
        name: "library-api".into(),
        display_name: "Library API".into(),
        description: "Books".into(),
        access_token_format: None,
        resource_uri: None,
        requirement: None,
    }
}

crate::both_backends! {
    fn creating_a_connection_creates_its_scope_and_secret(store: Store) {
        let connection = store.write_transaction(|c| connections::create(c, &library(), "hash1", NOW)).unwrap();
        let scope = store.read_transaction(|c| scopes::get_scope(c, "library-api")).unwrap();
        assert_eq!(scope.kind, ScopeKind::Api);
        assert_eq!(scope.connection, Some((connection.id.clone(), "library-api".to_owned())));
        let secrets = store.read_transaction(|c| connections::live_secrets(c, &connection.id, NOW)).unwrap();
        assert_eq!(secrets.iter().map(|s| s.secret_hash.as_str()).collect::<Vec<_>>(), ["hash1"]);
        assert_eq!(store.read_transaction(|c| connections::find_by_name(c, "library-api")).unwrap(), Some(connection));
    }

    fn the_scope_named_after_a_connection_cannot_be_deleted(store: Store) {
        store.write_transaction(|c| connections::create(c, &library(), "hash1", NOW)).unwrap();
        assert!(matches!(store.write_transaction(|c| scopes::delete_scope(c, "library-api")), Err(StoreError::Invalid { .. })));
        store.read_transaction(|c| scopes::get_scope(c, "library-api")).unwrap();
    }

    fn further_scopes_belong_to_the_connection_and_go_with_it(store: Store) {
        let connection = store.write_transaction(|c| connections::create(c, &library(), "hash1", NOW)).unwrap();
        let extra = NewApiScope { name: "library-api-checked-books".into(), display_name: "Checked books".into(), description: String::new(), requirement: None };
        store.write_transaction(|c| scopes::create_api_scope(c, &connection.id, &extra, NOW)).unwrap();
        let owned = store.read_transaction(|c| scopes::scopes_of_connection(c, &connection.id)).unwrap();
        assert_eq!(owned.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["library-api", "library-api-checked-books"]);
        // An extra scope may be removed; the connection's own may not.
        store.write_transaction(|c| scopes::delete_scope(c, "library-api-checked-books")).unwrap();
        store.write_transaction(|c| scopes::create_api_scope(c, &connection.id, &extra, NOW)).unwrap();
        store.write_transaction(|c| connections::delete(c, &connection.id)).unwrap();
        assert!(store.read_transaction(|c| scopes::list_scopes(c, Some(ScopeKind::Api))).unwrap().is_empty());
        assert!(store.read_transaction(|c| connections::live_secrets(c, &connection.id, NOW)).unwrap().is_empty());
    }

    fn a_connection_cannot_take_the_name_of_an_identity_scope(store: Store) {
        let clash = NewApiConnection { name: "profile".into(), ..library() };
        match store.write_transaction(|c| connections::create(c, &clash, "hash", NOW)) {
            Err(StoreError::Conflict { field }) => assert_eq!(field, "name"),
            other => panic!("expected conflict, got {other:?}"),
        }
        assert_eq!(store.read_transaction(connections::count).unwrap(), 0, "the connection row was kept");
    }

    fn an_identity_scope_cannot_take_the_name_of_a_connection(store: Store) {
        store.write_transaction(|c| connections::create(c, &library(), "hash1", NOW)).unwrap();
        let clash = IdentityScopeInput { name: "library-api".into(), display_name: "x".into(), description: String::new(), show_in_discovery: true, claims: vec![] };
        assert!(matches!(store.write_transaction(|c| scopes::create_identity_scope(c, &clash, NOW)), Err(StoreError::Conflict { .. })));
    }

    fn duplicate_connection_name_is_a_conflict(store: Store) {
        store.write_transaction(|c| connections::create(c, &library(), "hash1", NOW)).unwrap();
        assert!(matches!(store.write_transaction(|c| connections::create(c, &library(), "hash2", NOW)), Err(StoreError::Conflict { .. })));
    }

    fn a_resource_uri_is_unique_among_connections_and_finds_its_connection(store: Store) {
        let uri = "https://library.example.com";
        let first = NewApiConnection { resource_uri: Some(uri.into()), ..library() };
        let created = store.write_transaction(|c| connections::create(c, &first, "h1", NOW)).unwrap();
        assert_eq!(created.resource_uri.as_deref(), Some(uri));
        // Several connections without one are fine; a second one with it is a conflict on it.
        let plain = NewApiConnection { name: "plain-api".into(), ..library() };
        let other = NewApiConnection { name: "other-api".into(), ..library() };
        store.write_transaction(|c| connections::create(c, &plain, "h2", NOW)).unwrap();
        let other = store.write_transaction(|c| connections::create(c, &other, "h3", NOW)).unwrap();
        let clash = NewApiConnection { name: "clash-api".into(), resource_uri: Some(uri.into()), ..library() };
        match store.write_transaction(|c| connections::create(c, &clash, "h4", NOW)) {
            Err(StoreError::Conflict { field }) => assert_eq!(field, "resource_uri"),
            other => panic!("expected a conflict, got {other:?}"),
        }
        let taken = tessera_domain::ConnectionSettings {
            display_name: "Other".into(),
            description: String::new(),
            access_token_format: None,
            resource_uri: Some(uri.into()),
            requirement: None,
        };
        match store.write_transaction(|c| connections::update(c, &other.id, &taken, NOW)) {
            Err(StoreError::Conflict { field }) => assert_eq!(field, "resource_uri"),
            other => panic!("expected a conflict, got {other:?}"),
        }
        let found = store.read_transaction(|c| connections::find_by_resource_uri(c, uri)).unwrap().unwrap();
        assert_eq!(found.id, created.id);
        assert!(store.read_transaction(|c| connections::find_by_resource_uri(c, "https://x.example")).unwrap().is_none());
    }

    fn rotation_keeps_the_old_secret_for_the_grace_period(store: Store) {
        let connection = store.write_transaction(|c| connections::create(c, &library(), "old", NOW)).unwrap();
        store.write_transaction(|c| connections::rotate_secret(c, &connection.id, "new", NOW + 3600, NOW)).unwrap();
        let live = |at: i64| -> Vec<String> {
            store.read_transaction(|c| connections::live_secrets(c, &connection.id, at)).unwrap().into_iter().map(|s| s.secret_hash).collect()
        };
        assert_eq!(live(NOW + 10), ["old", "new"]);
        assert_eq!(live(NOW + 3601), ["new"]);
    }

    fn update_changes_display_name_and_format(store: Store) {
        let connection = store.write_transaction(|c| connections::create(c, &library(), "h", NOW)).unwrap();
        let updated = store
            .write_transaction(|c| connections::update(c, &connection.id, &tessera_domain::ConnectionSettings { display_name: "Books".into(), description: "All books".into(), access_token_format: Some(TokenFormat::Reference), resource_uri: None, requirement: None }, NOW + 1))
            .unwrap();
        assert_eq!(updated.name, "library-api");
        assert_eq!(updated.display_name, "Books");
        assert_eq!(updated.access_token_format, Some(TokenFormat::Reference));
        assert!(matches!(store.write_transaction(|c| connections::update(c, &ConnectionId::from("nope"), &tessera_domain::ConnectionSettings { display_name: "a".into(), description: "b".into(), access_token_format: None, resource_uri: None, requirement: None }, NOW)), Err(StoreError::NotFound { .. })));
    }

    fn list_paginates(store: Store) {
        for i in 0..3 {
            let new = NewApiConnection { name: format!("api-{i}"), ..library() };
            store.write_transaction(|c| connections::create(c, &new, "h", NOW)).unwrap();
        }
        let page = store.read_transaction(|c| connections::list(c, &Page::first(2))).unwrap();
        assert_eq!(page.items.len(), 2);
        let rest = store.read_transaction(|c| connections::list(c, &Page { after: page.next.clone(), limit: 2 })).unwrap();
        assert_eq!(rest.items.len(), 1);
        assert!(rest.next.is_none());
    }
}
