use serde_json::json;
use tessera_store::organizations::{self, ADMIN_ROLE};
use tessera_store::users::{self, NewUser};
use tessera_store::{Page, StoreError};

use tessera_testkit::NOW;

crate::both_backends! {
    fn membership_carries_the_members_roles(store: Store) {
        let user = store.write_transaction(|c| users::create(c, &NewUser { username: "bob".into(), ..Default::default() }, NOW)).unwrap();
        let org = store.write_transaction(|c| organizations::create_organization(c, "acme", "ACME", &json!({"region": "eu"}), NOW)).unwrap();
        let editor = store.write_transaction(|c| organizations::create_role(c, "editor", "", NOW)).unwrap();
        let viewer = store.write_transaction(|c| organizations::create_role(c, "viewer", "", NOW)).unwrap();
        store.write_transaction(|c| organizations::set_membership(c, &org.id, &user.id, &[editor.id.clone(), viewer.id.clone()], NOW)).unwrap();
        let memberships = store.read_transaction(|c| organizations::memberships_of_user(c, &user.id)).unwrap();
        assert_eq!(memberships.len(), 1);
        assert_eq!(memberships[0].organization.name, "acme");
        assert_eq!(memberships[0].organization.metadata, json!({"region": "eu"}));
        assert_eq!(memberships[0].roles.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), ["editor", "viewer"]);
        // Setting again replaces the roles.
        store.write_transaction(|c| organizations::set_membership(c, &org.id, &user.id, std::slice::from_ref(&viewer.id), NOW)).unwrap();
        let memberships = store.read_transaction(|c| organizations::memberships_of_user(c, &user.id)).unwrap();
        assert_eq!(memberships[0].roles.len(), 1);
        assert_eq!(store.read_transaction(|c| organizations::member_ids(c, &org.id)).unwrap(), vec![user.id.clone()]);
        store.write_transaction(|c| organizations::remove_membership(c, &org.id, &user.id)).unwrap();
        assert!(store.read_transaction(|c| organizations::memberships_of_user(c, &user.id)).unwrap().is_empty());
    }

    fn the_admin_role_cannot_be_renamed_or_deleted(store: Store) {
        let admin = store.read_transaction(|c| organizations::find_role_by_name(c, ADMIN_ROLE)).unwrap().unwrap();
        assert!(matches!(store.write_transaction(|c| organizations::delete_role(c, &admin.id)), Err(StoreError::Invalid { .. })));
        assert!(matches!(store.write_transaction(|c| organizations::update_role(c, &admin.id, "root", "", NOW)), Err(StoreError::Invalid { .. })));
        store.write_transaction(|c| organizations::update_role(c, &admin.id, ADMIN_ROLE, "Admins", NOW)).unwrap();
    }

    fn roles_and_organizations_have_unique_names(store: Store) {
        store.write_transaction(|c| organizations::create_role(c, "editor", "", NOW)).unwrap();
        assert!(matches!(store.write_transaction(|c| organizations::create_role(c, "editor", "", NOW)), Err(StoreError::Conflict { .. })));
        store.write_transaction(|c| organizations::create_organization(c, "acme", "ACME", &json!({}), NOW)).unwrap();
        match store.write_transaction(|c| organizations::create_organization(c, "acme", "Other", &json!({}), NOW)) {
            Err(StoreError::Conflict { field }) => assert_eq!(field, "name"),
            other => panic!("expected conflict, got {other:?}"),
        }
    }

    fn deleting_an_organization_ends_its_memberships(store: Store) {
        let user = store.write_transaction(|c| users::create(c, &NewUser { username: "bob".into(), ..Default::default() }, NOW)).unwrap();
        let org = store.write_transaction(|c| organizations::create_organization(c, "acme", "ACME", &json!({}), NOW)).unwrap();
        store.write_transaction(|c| organizations::set_membership(c, &org.id, &user.id, &[], NOW)).unwrap();
        store.write_transaction(|c| organizations::delete_organization(c, &org.id)).unwrap();
        assert!(store.read_transaction(|c| organizations::memberships_of_user(c, &user.id)).unwrap().is_empty());
        let page = store.read_transaction(|c| organizations::list_organizations(c, &Page::first(10))).unwrap();
        assert!(page.items.is_empty());
    }
}
