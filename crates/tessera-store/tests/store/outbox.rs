//! The outbox: claims are exclusive until they expire, retries wait, and two workers
//! claiming in parallel never take the same job.

use std::collections::HashSet;
use std::sync::{Arc, Barrier};

use tessera_store::{Store, outbox};
use tessera_testkit::NOW;

fn enqueue(store: &Store, kind: &str, payload: &str) -> String {
    store.write_transaction(|c| outbox::enqueue(c, kind, payload, NOW)).unwrap()
}

fn claim(store: &Store, kind: &str, worker: &str, limit: i64, now: i64) -> Vec<outbox::Job> {
    store.write_statement(|c| outbox::claim(c, kind, worker, limit, 60, now)).unwrap()
}

crate::both_backends! {
    fn a_claimed_job_is_nobody_elses_until_its_claim_expires(store: Store) {
        let id = enqueue(&store, "mail", "one");
        let jobs = claim(&store, "mail", "w1", 10, NOW);
        assert_eq!(jobs.len(), 1);
        assert_eq!((jobs[0].id.as_str(), jobs[0].payload.as_str(), jobs[0].attempts), (id.as_str(), "one", 1));
        assert!(claim(&store, "mail", "w2", 10, NOW + 59).is_empty(), "held by w1");
        // w1 died: after the lease another worker takes it, and w1 can no longer finish it.
        let again = claim(&store, "mail", "w2", 10, NOW + 60);
        assert_eq!((again.len(), again[0].attempts), (1, 2));
        assert!(!store.write_statement(|c| outbox::complete(c, &id, "w1")).unwrap());
        assert!(store.write_statement(|c| outbox::complete(c, &id, "w2")).unwrap());
        assert!(store.read_transaction(|c| outbox::pending(c, "mail")).unwrap().is_empty());
    }

    fn a_job_is_claimed_only_by_its_kind_and_only_when_due(store: Store) {
        enqueue(&store, "backchannel_logout", "other");
        assert!(claim(&store, "mail", "w1", 10, NOW).is_empty());
        assert!(claim(&store, "mail", "w1", 10, NOW - 1).is_empty());
        let id = enqueue(&store, "mail", "m");
        assert!(claim(&store, "mail", "w1", 10, NOW - 1).is_empty(), "not due before it was queued");
        assert_eq!(claim(&store, "mail", "w1", 10, NOW).len(), 1);
        // A failed attempt waits for its retry time, keeping its error.
        assert!(store.write_statement(|c| outbox::retry_later(c, &id, "w1", "451 try later", NOW + 30)).unwrap());
        assert!(claim(&store, "mail", "w2", 10, NOW + 29).is_empty());
        let retried = claim(&store, "mail", "w2", 10, NOW + 30);
        assert_eq!((retried[0].attempts, retried[0].last_error.as_deref()), (2, Some("451 try later")));
        assert!(!store.write_statement(|c| outbox::retry_later(c, &id, "w1", "late", NOW + 90)).unwrap(), "w1's claim is over");
        assert!(store.write_statement(|c| outbox::give_up(c, &id, "w2")).unwrap());
        assert!(store.read_transaction(|c| outbox::pending(c, "mail")).unwrap().is_empty());
        assert_eq!(store.read_transaction(|c| outbox::pending(c, "backchannel_logout")).unwrap().len(), 1);
    }

    fn the_limit_bounds_a_claim_and_the_oldest_due_job_comes_first(store: Store) {
        let ids: Vec<String> = (0..5).map(|i| enqueue(&store, "mail", &format!("m{i}"))).collect();
        let first = claim(&store, "mail", "w1", 2, NOW);
        assert_eq!(first.iter().map(|j| j.id.clone()).collect::<Vec<_>>(), ids[..2]);
        assert_eq!(claim(&store, "mail", "w2", 10, NOW).len(), 3);
    }

    fn two_workers_claiming_in_parallel_never_take_the_same_job(store: Store) {
        let ids: HashSet<String> = (0..40).map(|i| enqueue(&store, "mail", &format!("m{i}"))).collect();
        let barrier = Arc::new(Barrier::new(2));
        let workers: Vec<_> = ["w1", "w2"]
            .into_iter()
            .map(|worker| {
                let (store, barrier) = (store.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    let mut taken = Vec::new();
                    loop {
                        let jobs = claim(&store, "mail", worker, 3, NOW);
                        if jobs.is_empty() {
                            break;
                        }
                        for job in jobs {
                            assert!(store.write_statement(|c| outbox::complete(c, &job.id, worker)).unwrap());
                            taken.push(job.id);
                        }
                    }
                    taken
                })
            })
            .collect();
        let taken: Vec<String> = workers.into_iter().flat_map(|w| w.join().unwrap()).collect();
        assert_eq!(taken.len(), 40, "each job once");
        assert_eq!(taken.into_iter().collect::<HashSet<_>>(), ids);
    }
}
