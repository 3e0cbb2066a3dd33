use tessera_store::management_keys::{self, NewManagementKey};
use tessera_store::{Page, StoreError};

use tessera_testkit::NOW;

fn new_key(id: &str, expires_at: Option<i64>) -> NewManagementKey {
    NewManagementKey {
        id: id.into(),
        name: format!("key {id}"),
        secret_hash: format!("sha256-of-{id}"),
        created_by: "admin".into(),
        expires_at,
        parent_id: None,
    }
}

crate::both_backends! {
    fn created_key_is_usable_until_it_is_revoked(store: Store) {
        let created = store.write_transaction(|c| management_keys::create(c, &new_key("mk_1", None), NOW)).unwrap();
        assert_eq!((created.created_at, created.revoked_at, created.last_used_at), (NOW, None, None));
        assert_eq!(store.read_transaction(|c| management_keys::find_usable(c, "mk_1", NOW + 1)).unwrap(), Some(created));

        let (revoked, derived) = store.write_transaction(|c| management_keys::revoke(c, "mk_1", NOW + 2)).unwrap();
        assert_eq!((revoked.revoked_at, derived), (Some(NOW + 2), 0));
        assert!(store.read_transaction(|c| management_keys::find_usable(c, "mk_1", NOW + 3)).unwrap().is_none());
        // Revoking again keeps the first time; the key is still listed for the console.
        assert_eq!(store.write_transaction(|c| management_keys::revoke(c, "mk_1", NOW + 9)).unwrap().0.revoked_at, Some(NOW + 2));
        assert_eq!(store.read_transaction(|c| management_keys::get(c, "mk_1")).unwrap().revoked_at, Some(NOW + 2));
    }

    fn expired_or_unknown_key_is_not_usable(store: Store) {
        store.write_transaction(|c| management_keys::create(c, &new_key("mk_1", Some(NOW + 60)), NOW)).unwrap();
        assert!(store.read_transaction(|c| management_keys::find_usable(c, "mk_1", NOW + 59)).unwrap().is_some());
        assert!(store.read_transaction(|c| management_keys::find_usable(c, "mk_1", NOW + 60)).unwrap().is_none());
        assert!(store.read_transaction(|c| management_keys::find_usable(c, "mk_unknown", NOW)).unwrap().is_none());
        assert!(matches!(
            store.write_transaction(|c| management_keys::revoke(c, "mk_unknown", NOW)),
            Err(StoreError::NotFound { entity: "management key" })
        ));
    }

    fn touch_records_the_last_use(store: Store) {
        store.write_transaction(|c| management_keys::create(c, &new_key("mk_1", None), NOW)).unwrap();
        store.write_transaction(|c| management_keys::touch(c, "mk_1", NOW + 30)).unwrap();
        assert_eq!(store.read_transaction(|c| management_keys::get(c, "mk_1")).unwrap().last_used_at, Some(NOW + 30));
        assert!(matches!(
            store.write_transaction(|c| management_keys::touch(c, "mk_unknown", NOW)),
            Err(StoreError::NotFound { entity: "management key" })
        ));
    }

    fn duplicate_key_id_is_a_conflict(store: Store) {
        store.write_transaction(|c| management_keys::create(c, &new_key("mk_1", None), NOW)).unwrap();
        match store.write_transaction(|c| management_keys::create(c, &new_key("mk_1", None), NOW)) {
            Err(StoreError::Conflict { field }) => assert_eq!(field, "id"),
            other => panic!("expected a conflict, got {other:?}"),
        }
    }

    fn keys_are_listed_page_by_page_in_id_order(store: Store) {
        for id in ["mk_c", "mk_a", "mk_b"] {
            store.write_transaction(|c| management_keys::create(c, &new_key(id, None), NOW)).unwrap();
        }
        let first = store.read_transaction(|c| management_keys::list(c, &Page::first(2))).unwrap();
        assert_eq!(first.items.iter().map(|k| k.id.as_str()).collect::<Vec<_>>(), ["mk_a", "mk_b"]);
        assert_eq!(first.next.as_deref(), Some("mk_b"));
        let second = store.read_transaction(|c| management_keys::list(c, &Page { after: first.next, limit: 2 })).unwrap();
        assert_eq!(second.items.iter().map(|k| k.id.as_str()).collect::<Vec<_>>(), ["mk_c"]);
        assert_eq!(second.next, None);
    }

    fn debug_output_never_shows_the_secret_hash(store: Store) {
        let created = store.write_transaction(|c| management_keys::create(c, &new_key("mk_1", None), NOW)).unwrap();
        let shown = format!("{created:?} {:?}", new_key("mk_1", None));
        assert!(shown.contains("mk_1"));
        assert!(!shown.contains("sha256-of"), "{shown}");
    }

    fn revoking_a_key_revokes_every_key_derived_from_it(store: Store) {
        // Finding 6 of the 2026-12 review: a child key outlived its revoked parent.
        let child = |id: &str, parent: &str| NewManagementKey { parent_id: Some(parent.into()), ..new_key(id, None) };
        store.write_transaction(|c| {
            management_keys::create(c, &new_key("mk_root", None), NOW)?;
            management_keys::create(c, &child("mk_child", "mk_root"), NOW)?;
            management_keys::create(c, &child("mk_grandchild", "mk_child"), NOW)?;
            management_keys::create(c, &new_key("mk_other", None), NOW)
        })
        .unwrap();
        assert_eq!(store.read_transaction(|c| management_keys::get(c, "mk_child")).unwrap().parent_id.as_deref(), Some("mk_root"));
        let (_, derived) = store.write_transaction(|c| management_keys::revoke(c, "mk_root", NOW + 1)).unwrap();
        assert_eq!(derived, 2);
        for id in ["mk_root", "mk_child", "mk_grandchild"] {
            assert!(store.read_transaction(|c| management_keys::find_usable(c, id, NOW + 2)).unwrap().is_none(), "{id}");
        }
        assert!(store.read_transaction(|c| management_keys::find_usable(c, "mk_other", NOW + 2)).unwrap().is_some());
    }
}
