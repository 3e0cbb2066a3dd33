//! The records of authentication factors: passkeys, TOTP secrets, recovery codes and
//! WebAuthn ceremonies, with their single-use races.

use std::sync::{Arc, Barrier};

use tessera_store::factors::ceremonies::{self, Kind, NewCeremony};
use tessera_store::factors::passkeys::{self, NewPasskey};
use tessera_store::factors::{self, Summary, recovery_codes, totp};
use tessera_store::{Store, StoreError, purge, users};
use tessera_testkit::NOW;

use crate::fixtures::parties;

/// Runs `f` on `n` threads released together; how many returned `true`.
fn race(store: &Store, n: usize, f: impl Fn(&Store) -> bool + Send + Sync + 'static) -> usize {
    let barrier = Arc::new(Barrier::new(n));
    let f = Arc::new(f);
    let threads: Vec<_> = (0..n)
        .map(|_| {
            let (store, barrier, f) = (store.clone(), barrier.clone(), f.clone());
            std::thread::spawn(move || {
                barrier.wait();
                f(&store)
            })
        })
        .collect();
    threads.into_iter().map(|t| t.join().unwrap()).filter(|won| *won).count()
}

fn passkey<'a>(user: &'a tessera_domain::UserId, name: &'a str, credential_id: &'a str) -> NewPasskey<'a> {
    NewPasskey { user_id: user, name, credential: "{\"cred\":{}}", credential_id, device_bound: false }
}

crate::both_backends! {
    fn passkeys_are_listed_renamed_used_and_removed_per_user(store: Store) {
        let p = parties(&store);
        let first = store.write_transaction(|c| passkeys::create(c, &passkey(&p.alice, "Laptop", "cred-1"), NOW)).unwrap();
        store.write_transaction(|c| passkeys::create(c, &passkey(&p.alice, "Phone", "cred-2"), NOW + 1)).unwrap();
        store.write_transaction(|c| passkeys::create(c, &passkey(&p.bob, "Bob's", "cred-3"), NOW)).unwrap();
        let listed = store.read_transaction(|c| passkeys::list_of_user(c, &p.alice)).unwrap();
        assert_eq!(listed.iter().map(|k| k.name.as_str()).collect::<Vec<_>>(), ["Laptop", "Phone"]);
        assert_eq!(listed[0], first);

        let found = store.read_transaction(|c| passkeys::find_by_credential_id(c, "cred-3")).unwrap().unwrap();
        assert_eq!(found.user_id, p.bob);
        store.write_transaction(|c| passkeys::record_use(c, &first.id, Some("{\"cred\":{\"counter\":2}}"), NOW + 5)).unwrap();
        let used = store.read_transaction(|c| passkeys::find_of_user(c, &p.alice, &first.id)).unwrap().unwrap();
        assert_eq!(used.last_used_at, Some(NOW + 5));
        assert_eq!(used.credential, "{\"cred\":{\"counter\":2}}");

        store.write_transaction(|c| passkeys::rename(c, &p.alice, &first.id, "Work laptop")).unwrap();
        // Another user's passkey is not theirs to rename or remove.
        assert!(matches!(store.write_transaction(|c| passkeys::rename(c, &p.bob, &first.id, "x")), Err(StoreError::NotFound { .. })));
        assert!(matches!(store.write_transaction(|c| passkeys::delete(c, &p.bob, &first.id)), Err(StoreError::NotFound { .. })));
        store.write_transaction(|c| passkeys::delete(c, &p.alice, &first.id)).unwrap();
        let left = store.read_transaction(|c| passkeys::list_of_user(c, &p.alice)).unwrap();
        assert_eq!(left.iter().map(|k| k.name.as_str()).collect::<Vec<_>>(), ["Phone"]);
    }

    fn a_credential_is_registered_once_across_users(store: Store) {
        let p = parties(&store);
        store.write_transaction(|c| passkeys::create(c, &passkey(&p.alice, "A", "cred-1"), NOW)).unwrap();
        match store.write_transaction(|c| passkeys::create(c, &passkey(&p.bob, "B", "cred-1"), NOW)) {
            Err(StoreError::Conflict { field }) => assert_eq!(field, "credential_id"),
            other => panic!("expected a conflict, got {other:?}"),
        }
        assert_eq!(store.read_transaction(|c| passkeys::count_of_user(c, &p.bob)).unwrap(), 0);
    }

    fn a_totp_secret_is_a_factor_only_once_confirmed(store: Store) {
        let p = parties(&store);
        assert!(store.write_transaction(|c| totp::begin(c, &p.alice, "v1.sealed-1", NOW)).unwrap());
        assert_eq!(store.read_transaction(|c| factors::summary(c, &p.alice)).unwrap(), Summary::default());
        // A new enrolment replaces a pending one.
        assert!(store.write_transaction(|c| totp::begin(c, &p.alice, "v1.sealed-2", NOW + 1)).unwrap());
        assert_eq!(store.read_transaction(|c| totp::find(c, &p.alice)).unwrap().unwrap().secret, "v1.sealed-2");
        assert!(store.write_transaction(|c| totp::confirm(c, &p.alice, 100, NOW + 2)).unwrap());
        assert!(!store.write_transaction(|c| totp::confirm(c, &p.alice, 101, NOW + 3)).unwrap(), "confirmed once");
        let confirmed = store.read_transaction(|c| totp::find_confirmed(c, &p.alice)).unwrap().unwrap();
        assert_eq!((confirmed.confirmed_at, confirmed.last_used_step), (Some(NOW + 2), 100));
        assert!(!format!("{confirmed:?}").contains("sealed"));
        // A confirmed secret is not replaced by a new enrolment.
        assert!(!store.write_transaction(|c| totp::begin(c, &p.alice, "v1.sealed-3", NOW + 4)).unwrap());
        assert!(store.read_transaction(|c| factors::summary(c, &p.alice)).unwrap().totp);
        assert!(store.write_transaction(|c| totp::delete(c, &p.alice)).unwrap());
        assert!(!store.write_transaction(|c| totp::delete(c, &p.alice)).unwrap());
    }

    fn a_totp_step_is_accepted_once_and_never_an_earlier_one(store: Store) {
        let p = parties(&store);
        store.write_transaction(|c| totp::begin(c, &p.alice, "v1.sealed", NOW)).unwrap();
        store.write_transaction(|c| totp::confirm(c, &p.alice, 100, NOW)).unwrap();
        assert!(!store.write_statement(|c| totp::use_step(c, &p.alice, 100)).unwrap(), "the confirming code");
        assert!(store.write_statement(|c| totp::use_step(c, &p.alice, 101)).unwrap());
        assert!(!store.write_statement(|c| totp::use_step(c, &p.alice, 101)).unwrap(), "replay");
        assert!(!store.write_statement(|c| totp::use_step(c, &p.alice, 99)).unwrap(), "earlier");
        assert!(!store.write_statement(|c| totp::use_step(c, &p.bob, 500)).unwrap(), "no secret");
    }

    fn of_eight_parallel_uses_of_one_totp_code_exactly_one_wins(store: Store) {
        let p = parties(&store);
        store.write_transaction(|c| totp::begin(c, &p.alice, "v1.sealed", NOW)).unwrap();
        store.write_transaction(|c| totp::confirm(c, &p.alice, 100, NOW)).unwrap();
        let alice = p.alice.clone();
        let won = race(&store, 8, move |s| s.write_transaction(|c| totp::use_step(c, &alice, 101)).unwrap());
        assert_eq!(won, 1);
    }

    fn recovery_codes_are_spent_once_and_replaced_whole(store: Store) {
        let p = parties(&store);
        let hashes: Vec<String> = (0..10).map(|i| format!("hash-{i}")).collect();
        let refs: Vec<&str> = hashes.iter().map(String::as_str).collect();
        store.write_transaction(|c| recovery_codes::replace(c, &p.alice, &refs, NOW)).unwrap();
        assert_eq!(store.read_transaction(|c| recovery_codes::count_left(c, &p.alice)).unwrap(), 10);
        assert!(store.write_transaction(|c| recovery_codes::spend(c, &p.alice, "hash-3", NOW + 1)).unwrap());
        assert!(!store.write_transaction(|c| recovery_codes::spend(c, &p.alice, "hash-3", NOW + 2)).unwrap(), "used");
        assert!(!store.write_transaction(|c| recovery_codes::spend(c, &p.bob, "hash-4", NOW + 2)).unwrap(), "not bob's");
        assert!(!store.write_transaction(|c| recovery_codes::spend(c, &p.alice, "hash-x", NOW + 2)).unwrap());
        let summary = store.read_transaction(|c| factors::summary(c, &p.alice)).unwrap();
        assert_eq!(summary.recovery_codes_left, 9);
        assert!(!summary.has_second_factor(), "recovery codes alone are no enrolled factor");
        store.write_transaction(|c| recovery_codes::replace(c, &p.alice, &["new-1", "new-2"], NOW + 3)).unwrap();
        assert!(!store.write_transaction(|c| recovery_codes::spend(c, &p.alice, "hash-5", NOW + 4)).unwrap(), "old set gone");
        assert_eq!(store.read_transaction(|c| recovery_codes::count_left(c, &p.alice)).unwrap(), 2);
        assert_eq!(store.read_transaction(|c| recovery_codes::generated_at(c, &p.alice)).unwrap(), Some(NOW + 3));
        assert_eq!(store.read_transaction(|c| recovery_codes::generated_at(c, &p.bob)).unwrap(), None);
    }

    fn of_eight_parallel_uses_of_one_recovery_code_exactly_one_wins(store: Store) {
        let p = parties(&store);
        store.write_transaction(|c| recovery_codes::replace(c, &p.alice, &["h-1", "h-2"], NOW)).unwrap();
        let alice = p.alice.clone();
        let won = race(&store, 8, move |s| s.write_transaction(|c| recovery_codes::spend(c, &alice, "h-1", NOW + 1)).unwrap());
        assert_eq!(won, 1);
        assert_eq!(store.read_transaction(|c| recovery_codes::count_left(c, &p.alice)).unwrap(), 1);
    }

    fn a_ceremony_is_taken_once_for_its_kind_until_it_expires_then_purged(store: Store) {
        let p = parties(&store);
        let new = |hash: &'static str, user, kind| NewCeremony { id_hash: hash, user_id: user, kind, state: "{\"rs\":1}", expires_at: NOW + 300 };
        store.write_transaction(|c| ceremonies::start(c, &new("c-1", Some(&p.alice), Kind::Registration), NOW)).unwrap();
        store.write_transaction(|c| ceremonies::start(c, &new("c-2", None, Kind::Discoverable), NOW)).unwrap();
        store.write_transaction(|c| ceremonies::start(c, &new("c-3", Some(&p.alice), Kind::Authentication), NOW)).unwrap();
        assert_eq!(store.write_transaction(|c| ceremonies::take(c, "c-1", Kind::Authentication, NOW + 1)).unwrap(), None, "another kind");
        let taken = store.write_transaction(|c| ceremonies::take(c, "c-1", Kind::Registration, NOW + 1)).unwrap().unwrap();
        assert_eq!(taken.user_id, Some(p.alice.clone()));
        assert_eq!(taken.state, "{\"rs\":1}");
        assert_eq!(store.write_transaction(|c| ceremonies::take(c, "c-1", Kind::Registration, NOW + 2)).unwrap(), None, "once");
        assert_eq!(store.write_transaction(|c| ceremonies::take(c, "c-2", Kind::Discoverable, NOW + 300)).unwrap(), None, "expired");
        let counts = store.write_transaction(|c| purge::purge_expired(c, NOW + 300)).unwrap();
        assert_eq!(counts.webauthn_ceremonies, 3);
    }

    fn of_eight_parallel_answers_to_one_ceremony_exactly_one_takes_it(store: Store) {
        store.write_transaction(|c| ceremonies::start(c, &NewCeremony { id_hash: "c-1", user_id: None, kind: Kind::Discoverable, state: "{}", expires_at: NOW + 300 }, NOW)).unwrap();
        let won = race(&store, 8, |s| s.write_transaction(|c| ceremonies::take(c, "c-1", Kind::Discoverable, NOW + 1)).unwrap().is_some());
        assert_eq!(won, 1);
    }

    fn resetting_or_deleting_a_user_removes_their_factors(store: Store) {
        let p = parties(&store);
        for user in [&p.alice, &p.bob] {
            store.write_transaction(|c| {
                passkeys::create(c, &passkey(user, "Key", &format!("cred-{user}")), NOW)?;
                totp::begin(c, user, "v1.sealed", NOW)?;
                totp::confirm(c, user, 100, NOW)?;
                recovery_codes::replace(c, user, &["h-1", "h-2"], NOW)?;
                ceremonies::start(c, &NewCeremony { id_hash: &format!("c-{user}"), user_id: Some(user), kind: Kind::Registration, state: "{}", expires_at: NOW + 300 }, NOW)
            }).unwrap();
        }
        let removed = store.write_transaction(|c| factors::remove_all(c, &p.alice)).unwrap();
        assert_eq!((removed.totp, removed.passkeys, removed.recovery_codes, removed.ceremonies), (true, 1, 2, 1));
        assert_eq!(store.read_transaction(|c| factors::summary(c, &p.alice)).unwrap(), Summary::default());
        let bob = store.read_transaction(|c| factors::summary(c, &p.bob)).unwrap();
        assert_eq!(bob, Summary { totp: true, passkeys: 1, recovery_codes_left: 2 });
        store.write_transaction(|c| users::delete(c, &p.bob)).unwrap();
        assert_eq!(store.read_transaction(|c| factors::summary(c, &p.bob)).unwrap(), Summary::default());
        assert!(store.read_transaction(|c| passkeys::find_by_credential_id(c, &format!("cred-{}", p.bob))).unwrap().is_none());
        let ceremony = format!("c-{}", p.bob);
        assert_eq!(store.write_transaction(|c| ceremonies::take(c, &ceremony, Kind::Registration, NOW + 1)).unwrap(), None);
    }
}
