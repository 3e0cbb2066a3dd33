use std::sync::{Arc, Barrier};

use tessera_store::throttle::{self, Limit, Reservation};

use tessera_testkit::NOW;

const LIMIT: Limit = Limit { attempts: 3, window: 60, lockout: 300 };

fn allowed(reservation: &Reservation) -> bool {
    matches!(reservation, Reservation::Allowed { .. })
}

fn reserve(store: &tessera_store::Store, key: &str, now: i64) -> Reservation {
    store.write_statement(|c| throttle::reserve(c, key, LIMIT, now)).unwrap()
}

crate::both_backends! {
    fn the_attempt_after_the_budget_locks_the_bucket_until_the_lockout_ends(store: Store) {
        for at in 0..3 {
            assert!(allowed(&reserve(&store, "account:alice", NOW + at)), "attempt {at}");
        }
        assert_eq!(
            reserve(&store, "account:alice", NOW + 3),
            Reservation::Locked { until: NOW + 303, refused: 1, audit: true }
        );
        assert_eq!(store.read_transaction(|c| throttle::locked_until(c, "account:alice", NOW + 4)).unwrap(), Some(NOW + 303));
        // Still locked after the window: only the end of the lock lifts it.
        assert!(!allowed(&reserve(&store, "account:alice", NOW + 200)));
        assert!(allowed(&reserve(&store, "account:alice", NOW + 303)));
        assert!(allowed(&reserve(&store, "ip:192.0.2.1", NOW)), "buckets are separate");
    }

    fn refusals_during_a_lock_are_counted_and_due_for_audit_once_a_minute(store: Store) {
        for _ in 0..3 {
            reserve(&store, "account:bob", NOW);
        }
        assert_eq!(reserve(&store, "account:bob", NOW), Reservation::Locked { until: NOW + 300, refused: 1, audit: true });
        assert_eq!(reserve(&store, "account:bob", NOW + 1), Reservation::Locked { until: NOW + 300, refused: 2, audit: false });
        assert_eq!(reserve(&store, "account:bob", NOW + 59), Reservation::Locked { until: NOW + 300, refused: 3, audit: false });
        assert_eq!(reserve(&store, "account:bob", NOW + 60), Reservation::Locked { until: NOW + 300, refused: 4, audit: true });
    }

    fn a_later_refusal_never_lifts_or_shortens_a_lock(store: Store) {
        // Finding 1 of the 2026-12 review: a failure recorded after the lock cleared it.
        for _ in 0..4 {
            reserve(&store, "account:carol", NOW);
        }
        for at in 1..10 {
            assert!(!allowed(&reserve(&store, "account:carol", NOW + at)));
            assert_eq!(store.read_transaction(|c| throttle::locked_until(c, "account:carol", NOW + at)).unwrap(), Some(NOW + 300));
        }
    }

    fn a_new_window_starts_a_new_budget(store: Store) {
        reserve(&store, "ip:192.0.2.1", NOW);
        reserve(&store, "ip:192.0.2.1", NOW + 1);
        assert!(allowed(&reserve(&store, "ip:192.0.2.1", NOW + 60)));
        assert!(allowed(&reserve(&store, "ip:192.0.2.1", NOW + 61)));
        assert!(allowed(&reserve(&store, "ip:192.0.2.1", NOW + 62)));
        assert!(!allowed(&reserve(&store, "ip:192.0.2.1", NOW + 63)));
    }

    fn a_refund_gives_back_one_attempt_of_its_own_window(store: Store) {
        let first = reserve(&store, "account:dave", NOW);
        reserve(&store, "account:dave", NOW);
        let third = reserve(&store, "account:dave", NOW);
        store.write_transaction(|c| throttle::refund(c, &third)).unwrap();
        assert!(allowed(&reserve(&store, "account:dave", NOW + 1)), "the refunded attempt is available again");
        assert!(!allowed(&reserve(&store, "account:dave", NOW + 2)), "the earlier failures still count");
        // A lock is never lifted by a refund.
        store.write_transaction(|c| throttle::refund(c, &first)).unwrap();
        assert!(!allowed(&reserve(&store, "account:dave", NOW + 3)));
        // A reservation of an earlier window gives nothing back in the next one.
        let old = reserve(&store, "account:erin", NOW);
        reserve(&store, "account:erin", NOW + 60);
        reserve(&store, "account:erin", NOW + 60);
        reserve(&store, "account:erin", NOW + 60);
        store.write_transaction(|c| throttle::refund(c, &old)).unwrap();
        assert!(!allowed(&reserve(&store, "account:erin", NOW + 61)));
    }

    fn of_25_parallel_reservations_exactly_the_budget_is_allowed(store: Store) {
        let limit = Limit { attempts: 5, window: 900, lockout: 900 };
        let barrier = Arc::new(Barrier::new(25));
        let threads: Vec<_> = (0..25)
            .map(|_| {
                let (store, barrier) = (store.clone(), Arc::clone(&barrier));
                std::thread::spawn(move || {
                    barrier.wait();
                    store.write_statement(|c| throttle::reserve(c, "account:frank", limit, NOW)).unwrap()
                })
            })
            .collect();
        let results: Vec<Reservation> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        assert_eq!(results.iter().filter(|r| allowed(r)).count(), 5, "{results:?}");
        let audited = results.iter().filter(|r| matches!(r, Reservation::Locked { audit: true, .. })).count();
        assert_eq!(audited, 1, "one refusal of the burst reaches the audit log: {results:?}");
    }

    fn purge_deletes_buckets_whose_window_and_lock_are_over(store: Store) {
        reserve(&store, "ip:192.0.2.9", NOW);
        for _ in 0..4 {
            reserve(&store, "account:gina", NOW);
        }
        let window = throttle::PURGE_AFTER;
        assert_eq!(store.write_transaction(|c| throttle::purge(c, NOW + window - 1)).unwrap(), 0);
        // The ip bucket's window is over; gina's lock (LIMIT's 300 s) is over too.
        assert_eq!(store.write_transaction(|c| throttle::purge(c, NOW + window)).unwrap(), 2);
        assert!(allowed(&reserve(&store, "account:gina", NOW + window)));
    }
}
