use tessera_domain::UserId;
use tessera_store::admin_sessions;
use tessera_store::purge;
use tessera_store::users::{self, NewUser};

use tessera_testkit::NOW;

const IDLE: i64 = 900;

fn admin(store: &tessera_store::Store) -> UserId {
    store
        .write_transaction(|c| users::create(c, &NewUser { username: "root".into(), ..Default::default() }, NOW))
        .unwrap()
        .id
}

crate::both_backends! {
    fn a_console_session_lives_until_idle_or_absolute_timeout(store: Store) {
        let user = admin(&store);
        store.write_transaction(|c| admin_sessions::create(c, "hash-a", &user, Some("192.0.2.7"), NOW + 3600, NOW)).unwrap();
        let found = store.read_transaction(|c| admin_sessions::get_active(c, "hash-a", IDLE, NOW + 10)).unwrap().unwrap();
        assert_eq!(found.user_id, user);
        assert_eq!(found.client_ip.as_deref(), Some("192.0.2.7"));
        assert_eq!(store.read_transaction(|c| admin_sessions::get_active(c, "hash-a", IDLE, NOW + IDLE)).unwrap(), None, "idle");
        store.write_transaction(|c| admin_sessions::touch(c, "hash-a", NOW + IDLE - 1)).unwrap();
        assert!(store.read_transaction(|c| admin_sessions::get_active(c, "hash-a", IDLE, NOW + IDLE + 5)).unwrap().is_some());
        assert_eq!(store.read_transaction(|c| admin_sessions::get_active(c, "hash-a", IDLE, NOW + 3600)).unwrap(), None, "absolute");
        assert_eq!(store.read_transaction(|c| admin_sessions::get_active(c, "unknown", IDLE, NOW)).unwrap(), None);
    }

    fn ending_a_console_session_is_final_and_purge_removes_expired_ones(store: Store) {
        let user = admin(&store);
        store.write_transaction(|c| admin_sessions::create(c, "hash-a", &user, None, NOW + 3600, NOW)).unwrap();
        store.write_transaction(|c| admin_sessions::create(c, "hash-b", &user, None, NOW + 3600, NOW)).unwrap();
        assert!(store.write_transaction(|c| admin_sessions::end(c, "hash-a", NOW + 1)).unwrap());
        assert!(!store.write_transaction(|c| admin_sessions::end(c, "hash-a", NOW + 2)).unwrap(), "already ended");
        store.write_transaction(|c| admin_sessions::touch(c, "hash-a", NOW + 3)).unwrap();
        assert_eq!(store.read_transaction(|c| admin_sessions::get_active(c, "hash-a", IDLE, NOW + 3)).unwrap(), None);
        assert_eq!(store.write_transaction(|c| admin_sessions::end_all_of_user(c, &user, NOW + 4)).unwrap(), 1);
        assert_eq!(store.read_transaction(|c| admin_sessions::get_active(c, "hash-b", IDLE, NOW + 4)).unwrap(), None);
        let purged = store.write_transaction(|c| purge::purge_expired(c, NOW + 3600)).unwrap();
        assert_eq!(purged.admin_sessions, 2);
    }

    fn deleting_a_user_deletes_their_console_sessions(store: Store) {
        let user = admin(&store);
        store.write_transaction(|c| admin_sessions::create(c, "hash-a", &user, None, NOW + 3600, NOW)).unwrap();
        store.write_transaction(|c| users::delete(c, &user)).unwrap();
        assert_eq!(store.read_transaction(|c| admin_sessions::get_active(c, "hash-a", IDLE, NOW)).unwrap(), None);
    }
}
