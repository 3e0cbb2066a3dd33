//! A refresh token's life as the token endpoint sees it: rotated by
//! `redeem::rotate_refresh`, and when that cannot spend it, refused by
//! `redeem::refuse_rotation` (the statements themselves are in `redeem.rs`).

use tessera_store::audit::{self, AuditFilter};
use tessera_store::redeem::NotRotated;
use tessera_store::refresh_tokens::{self, RefreshToken};
use tessera_store::{Page, Store, grants};

use crate::fixtures::{create_grant, grant, parties, refuse, rotate};
use tessera_testkit::NOW;

fn find(store: &Store, hash: &str) -> Option<RefreshToken> {
    store.read_transaction(|c| refresh_tokens::find_refresh_token(c, hash)).unwrap().map(|(token, _)| token)
}

crate::both_backends! {
    fn refresh_rotation_then_reuse_of_the_spent_token_gives_reused(store: Store) {
        let p = parties(&store);
        let g = create_grant(&store, &grant(&p, "sid-1", NOW + 3600));
        store.write_transaction(|c| refresh_tokens::insert_refresh_token(c, "rt-1", &g.id, NOW + 1000, NOW)).unwrap();

        assert!(rotate(&store, "rt-1", g.id.as_str(), "rt-2", NOW + 1000, NOW + 10));
        assert_eq!(find(&store, "rt-1").unwrap().consumed_at, Some(NOW + 10));
        let (new, family) = store.read_transaction(|c| refresh_tokens::find_refresh_token(c, "rt-2")).unwrap().unwrap();
        assert_eq!((new.grant_id.as_str(), new.expires_at, new.consumed_at), (g.id.as_str(), NOW + 1000, None));
        assert_eq!(family.id, g.id);

        // The spent token again: nothing rotates, and its refusal revokes the grant
        // (RFC 9700 §4.14.2), audited.
        assert!(!rotate(&store, "rt-1", g.id.as_str(), "rt-3", NOW + 1000, NOW + 20));
        assert!(find(&store, "rt-3").is_none());
        assert_eq!(refuse(&store, "rt-1", NOW + 20), NotRotated::Reused { grant_id: g.id.clone() });
        assert_eq!(store.read_transaction(|c| grants::get_grant(c, &g.id)).unwrap().revoked_at, Some(NOW + 20));
        let reused = AuditFilter { action: Some("token.refresh_reused".into()), ..Default::default() };
        let events = store.read_transaction(|c| audit::list(c, &reused, &Page::first(10))).unwrap().items;
        assert_eq!(events.len(), 1);
        assert_eq!((events[0].actor.as_str(), events[0].target.clone()), ("client:web-app", format!("grant:{}", g.id)));
        // The live successor is refused too, and stays unspent.
        assert!(!rotate(&store, "rt-2", g.id.as_str(), "rt-4", NOW + 1000, NOW + 21));
        assert_eq!(refuse(&store, "rt-2", NOW + 21), NotRotated::Revoked);
        assert_eq!(find(&store, "rt-2").unwrap().consumed_at, None);
        assert!(find(&store, "rt-4").is_none());
    }

    fn rotation_never_outlives_the_grant_absolute_expiry(store: Store) {
        let p = parties(&store);
        let g = create_grant(&store, &grant(&p, "sid-1", NOW + 100));
        store.write_transaction(|c| refresh_tokens::insert_refresh_token(c, "rt-1", &g.id, NOW + 1000, NOW)).unwrap();
        assert_eq!(find(&store, "rt-1").unwrap().expires_at, NOW + 100);
        // A successor stored with an expiry past the grant's (the token endpoint caps it;
        // this one is not capped) still cannot be spent once the grant has expired.
        assert!(rotate(&store, "rt-1", g.id.as_str(), "rt-2", NOW + 1000, NOW + 50));
        assert_eq!(find(&store, "rt-2").unwrap().expires_at, NOW + 1000);
        assert!(!rotate(&store, "rt-2", g.id.as_str(), "rt-3", NOW + 1000, NOW + 100));
        assert_eq!(refuse(&store, "rt-2", NOW + 100), NotRotated::Expired);
        assert_eq!(find(&store, "rt-2").unwrap().consumed_at, None);
        assert!(find(&store, "rt-3").is_none());
    }

    fn expired_refresh_token_gives_expired_and_stays_unspent(store: Store) {
        let p = parties(&store);
        let g = create_grant(&store, &grant(&p, "sid-1", NOW + 3600));
        store.write_transaction(|c| refresh_tokens::insert_refresh_token(c, "rt-1", &g.id, NOW + 10, NOW)).unwrap();
        assert!(!rotate(&store, "rt-1", g.id.as_str(), "rt-2", NOW + 1000, NOW + 10));
        assert_eq!(refuse(&store, "rt-1", NOW + 10), NotRotated::Expired);
        assert_eq!(find(&store, "rt-1").unwrap().consumed_at, None);
        assert!(find(&store, "rt-2").is_none());
        assert_eq!(store.read_transaction(|c| grants::get_grant(c, &g.id)).unwrap().revoked_at, None);
        // An unknown token is unknown.
        assert!(!rotate(&store, "nope", g.id.as_str(), "rt-2", NOW + 1000, NOW));
        assert_eq!(refuse(&store, "nope", NOW), NotRotated::Unknown);
        assert!(find(&store, "rt-2").is_none());
    }
}
