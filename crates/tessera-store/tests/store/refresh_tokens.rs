use tessera_store::grants;
use tessera_store::refresh_tokens::{self, Rotation};

use crate::fixtures::{create_grant, grant, parties, rotate, rotated};
use tessera_testkit::NOW;

crate::both_backends! {
    fn refresh_rotation_then_reuse_of_the_spent_token_gives_reused(store: Store) {
        let p = parties(&store);
        let g = create_grant(&store, &grant(&p, "sid-1", NOW + 3600));
        store.write_transaction(|c| refresh_tokens::insert_refresh_token(c, "rt-1", &g.id, NOW + 1000, NOW)).unwrap();

        let after = rotated(rotate(&store, "rt-1", "rt-2", NOW + 10));
        assert_eq!(after, g);
        let (old, _) = store.read_transaction(|c| refresh_tokens::find_refresh_token(c, "rt-1")).unwrap().unwrap();
        assert_eq!(old.consumed_at, Some(NOW + 10));
        let (new, family) = store.read_transaction(|c| refresh_tokens::find_refresh_token(c, "rt-2")).unwrap().unwrap();
        assert_eq!((new.grant_id.as_str(), new.expires_at, new.consumed_at), (g.id.as_str(), NOW + 1000, None));
        assert_eq!(family.id, g.id);

        assert_eq!(
            rotate(&store, "rt-1", "rt-3", NOW + 20),
            Rotation::Reused { grant_id: g.id.clone() }
        );
        assert!(store.read_transaction(|c| refresh_tokens::find_refresh_token(c, "rt-3")).unwrap().is_none());
        // The caller revokes the family; the live successor is then refused too.
        assert!(store.write_transaction(|c| grants::revoke_grant(c, &g.id, NOW + 20)).unwrap());
        assert_eq!(rotate(&store, "rt-2", "rt-4", NOW + 21), Rotation::Revoked);
        assert!(store.read_transaction(|c| refresh_tokens::find_refresh_token(c, "rt-4")).unwrap().is_none());
    }

    fn concurrent_rotations_of_one_refresh_token_give_exactly_one_rotated(store: Store) {
        let p = parties(&store);
        let g = create_grant(&store, &grant(&p, "sid-1", NOW + 3600));
        store.write_transaction(|c| refresh_tokens::insert_refresh_token(c, "rt-1", &g.id, NOW + 1000, NOW)).unwrap();
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(8));
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let store = store.clone();
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    barrier.wait();
                    store.write_transaction(|c| refresh_tokens::rotate(c, "rt-1", &format!("rt-new-{i}"), NOW + 1000, NOW + 1)).unwrap()
                })
            })
            .collect();
        let outcomes: Vec<Rotation> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        let won = outcomes.iter().filter(|o| matches!(o, Rotation::Rotated { .. })).count();
        let reused = outcomes.iter().filter(|o| matches!(o, Rotation::Reused { .. })).count();
        assert_eq!((won, reused), (1, 7), "{outcomes:?}");
        let successors = (0..8)
            .filter(|i| store.read_transaction(|c| refresh_tokens::find_refresh_token(c, &format!("rt-new-{i}"))).unwrap().is_some())
            .count();
        assert_eq!(successors, 1);
    }

    fn rotation_never_outlives_the_grant_absolute_expiry(store: Store) {
        let p = parties(&store);
        let g = create_grant(&store, &grant(&p, "sid-1", NOW + 100));
        store.write_transaction(|c| refresh_tokens::insert_refresh_token(c, "rt-1", &g.id, NOW + 1000, NOW)).unwrap();
        let (first, _) = store.read_transaction(|c| refresh_tokens::find_refresh_token(c, "rt-1")).unwrap().unwrap();
        assert_eq!(first.expires_at, NOW + 100);
        rotated(rotate(&store, "rt-1", "rt-2", NOW + 50));
        let (second, _) = store.read_transaction(|c| refresh_tokens::find_refresh_token(c, "rt-2")).unwrap().unwrap();
        assert_eq!(second.expires_at, NOW + 100);
        assert_eq!(rotate(&store, "rt-2", "rt-3", NOW + 100), Rotation::Expired);
        assert!(store.read_transaction(|c| refresh_tokens::find_refresh_token(c, "rt-3")).unwrap().is_none());
    }

    fn expired_refresh_token_gives_expired_and_stays_unspent(store: Store) {
        let p = parties(&store);
        let g = create_grant(&store, &grant(&p, "sid-1", NOW + 3600));
        store.write_transaction(|c| refresh_tokens::insert_refresh_token(c, "rt-1", &g.id, NOW + 10, NOW)).unwrap();
        assert_eq!(rotate(&store, "rt-1", "rt-2", NOW + 10), Rotation::Expired);
        let (token, _) = store.read_transaction(|c| refresh_tokens::find_refresh_token(c, "rt-1")).unwrap().unwrap();
        assert_eq!(token.consumed_at, None);
        assert!(store.read_transaction(|c| refresh_tokens::find_refresh_token(c, "rt-2")).unwrap().is_none());
        assert_eq!(rotate(&store, "nope", "rt-2", NOW), Rotation::Unknown);
    }
}
