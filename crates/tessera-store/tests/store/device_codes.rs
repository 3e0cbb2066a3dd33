//! Device authorization requests (RFC 8628): approval, the poll's interval, and the
//! single redemption.

use std::sync::{Arc, Barrier};

use tessera_domain::{ApplicationId, GrantId};
use tessera_store::device_codes::{self, Approval, DeviceStatus, NewDeviceCode};
use tessera_store::{Store, grants, grants::NewGrant, refresh_tokens};

use crate::fixtures::{Parties, grant, parties};
use tessera_testkit::NOW;

fn pending(store: &Store, p: &Parties, hash: &str) {
    let new = NewDeviceCode {
        device_code_hash: hash.into(),
        user_code_hash: format!("user-{hash}"),
        application_id: p.app.clone(),
        scope: "openid offline_access".into(),
        resources: vec![],
        poll_interval: 5,
        expires_at: NOW + 600,
    };
    store.write_transaction(|c| device_codes::create(c, &new, NOW)).unwrap();
}

fn approve(store: &Store, p: &Parties, hash: &str) -> bool {
    let approval = Approval {
        user_id: p.alice.clone(),
        sid: Some("sid-1".into()),
        auth_time: NOW - 5,
        amr: vec!["pwd".into()],
        scope: "openid offline_access".into(),
    };
    store.write_transaction(|c| device_codes::approve(c, hash, &approval, NOW + 1)).unwrap()
}

fn redeem(store: &Store, p: &Parties, hash: &str, refresh: &str, now: i64) -> bool {
    let code = store.read_transaction(|c| device_codes::get(c, hash)).unwrap().unwrap();
    let new = NewGrant { id: Some(code.grant_id), ..grant(p, "sid-1", now + 3600) };
    store.write_transaction(|c| device_codes::redeem(c, hash, &new, Some(refresh), None, now)).unwrap()
}

crate::both_backends! {
    fn a_pending_code_is_found_by_its_user_code_until_approved(store: Store) {
        let p = parties(&store);
        pending(&store, &p, "dev-1");
        let found = store.read_transaction(|c| device_codes::find_pending_by_user_code(c, "user-dev-1", NOW)).unwrap();
        assert_eq!(found.unwrap().status, DeviceStatus::Pending);
        assert!(store.read_transaction(|c| device_codes::find_pending_by_user_code(c, "user-dev-1", NOW + 600)).unwrap().is_none());
        // A pending code cannot be redeemed.
        assert!(!redeem(&store, &p, "dev-1", "refresh-0", NOW + 2));
        assert!(approve(&store, &p, "dev-1"));
        assert!(!approve(&store, &p, "dev-1"), "approved once");
        assert!(!store.write_transaction(|c| device_codes::deny(c, "dev-1", NOW + 2)).unwrap());
        assert!(store.read_transaction(|c| device_codes::find_pending_by_user_code(c, "user-dev-1", NOW + 2)).unwrap().is_none());
        let code = store.read_transaction(|c| device_codes::get(c, "dev-1")).unwrap().unwrap();
        assert_eq!((code.status, code.user_id, code.auth_time), (DeviceStatus::Approved, Some(p.alice.clone()), Some(NOW - 5)));
    }

    fn polling_within_the_interval_grows_it_by_five_seconds(store: Store) {
        let p = parties(&store);
        pending(&store, &p, "dev-1");
        let poll = |app: &ApplicationId, now| store.write_transaction(|c| device_codes::poll(c, "dev-1", app, now)).unwrap().unwrap();
        let first = poll(&p.app, NOW);
        assert_eq!((first.too_fast, first.poll_interval, first.last_polled_at), (false, 5, Some(NOW)));
        let fast = poll(&p.app, NOW + 4);
        assert_eq!((fast.too_fast, fast.poll_interval), (true, 10));
        let still_fast = poll(&p.app, NOW + 12);
        assert_eq!((still_fast.too_fast, still_fast.poll_interval), (true, 15));
        let slow = poll(&p.app, NOW + 27);
        assert_eq!((slow.too_fast, slow.poll_interval), (false, 15));
        // Another application's poll changes nothing.
        let other = poll(&ApplicationId::from("another"), NOW + 28);
        assert_eq!((other.too_fast, other.poll_interval, other.last_polled_at), (false, 15, Some(NOW + 27)));
        assert!(store.write_transaction(|c| device_codes::poll(c, "nope", &p.app, NOW)).unwrap().is_none());
    }

    fn of_eight_concurrent_redemptions_of_an_approved_code_exactly_one_spends(store: Store) {
        let p = Arc::new(parties(&store));
        pending(&store, &p, "dev-1");
        assert!(approve(&store, &p, "dev-1"));
        let barrier = Arc::new(Barrier::new(8));
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let (store, p, barrier) = (store.clone(), Arc::clone(&p), Arc::clone(&barrier));
                std::thread::spawn(move || {
                    barrier.wait();
                    redeem(&store, &p, "dev-1", &format!("refresh-{i}"), NOW + 2)
                })
            })
            .collect();
        let spent: Vec<bool> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        assert_eq!(spent.iter().filter(|s| **s).count(), 1, "{spent:?}");
        let stored = (0..8)
            .filter(|i| store.read_transaction(|c| refresh_tokens::find_refresh_token(c, &format!("refresh-{i}"))).unwrap().is_some())
            .count();
        assert_eq!(stored, 1);
        let code = store.read_transaction(|c| device_codes::get(c, "dev-1")).unwrap().unwrap();
        assert_eq!(code.consumed_at, Some(NOW + 2));
        assert!(store.read_transaction(|c| grants::get_grant(c, &code.grant_id)).is_ok());
    }

    fn a_denied_or_expired_code_is_never_redeemed_and_expired_ones_are_purged(store: Store) {
        let p = parties(&store);
        pending(&store, &p, "dev-1");
        assert!(store.write_transaction(|c| device_codes::deny(c, "dev-1", NOW + 1)).unwrap());
        assert!(!redeem(&store, &p, "dev-1", "refresh-1", NOW + 2));
        pending(&store, &p, "dev-2");
        assert!(approve(&store, &p, "dev-2"));
        assert!(!redeem(&store, &p, "dev-2", "refresh-2", NOW + 600));
        assert!(store.read_transaction(|c| grants::get_grant(c, &GrantId::from("nope"))).is_err());
        let purged = store.write_transaction(|c| tessera_store::purge::purge_expired(c, NOW + 600)).unwrap();
        assert_eq!(purged.device_codes, 2);
        assert!(store.read_transaction(|c| device_codes::get(c, "dev-2")).unwrap().is_none());
    }
}
