//! The retry of a refresh token rotation whose answer was lost (review
//! `reliability-2026-12`, finding 1): within the application's grace, the token rotated
//! last, presented again while its successor is unused, spends that successor and stores
//! a new one (`redeem::retry_rotation`); anything else spent is a reuse that revokes the
//! grant (`redeem::refuse_rotation`). At most one refresh token of a family is alive at
//! any time.

use std::sync::{Arc, Barrier};

use diesel::prelude::*;
use serde_json::Map;
use tessera_domain::GrantId;
use tessera_store::audit::{self, AuditFilter};
use tessera_store::redeem::{self, NotRotated, Rotate};
use tessera_store::refresh_tokens::{self, RefreshToken};
use tessera_store::{Page, Store, grants};

use crate::fixtures::{Parties, create_grant, grant, parties, refuse_within, rotate};
use tessera_testkit::NOW;

/// The application's retry grace in these tests.
const GRACE: i64 = 10;

fn find(store: &Store, hash: &str) -> RefreshToken {
    store.read_transaction(|c| refresh_tokens::find_refresh_token(c, hash)).unwrap().unwrap().0
}

/// Retries the rotation of `old` (of `grant_id`) into `new`, as the token endpoint does:
/// one [`redeem::retry_rotation`] in a write transaction.
fn retry(store: &Store, old: &str, grant_id: &GrantId, new: &str, grace: i64, now: i64) -> bool {
    let issued = Map::new();
    let rotation = Rotate {
        old_hash: old,
        grant_id,
        new_hash: new,
        new_expires_at: NOW + 1000,
        issued_claims: &issued,
        reference: None,
    };
    store.write_transaction(|c| redeem::retry_rotation(c, &rotation, grace, "client:web-app", now)).unwrap()
}

/// The hashes of the grant's refresh tokens that are unspent, sorted.
fn live(store: &Store, grant_id: &GrantId) -> Vec<String> {
    use tessera_store::schema::refresh_tokens::dsl;
    store
        .read_transaction(|c| {
            Ok(dsl::refresh_tokens
                .filter(dsl::grant_id.eq(grant_id.as_str()))
                .filter(dsl::consumed_at.is_null())
                .select(dsl::token_hash)
                .order(dsl::token_hash)
                .load::<String>(c)?)
        })
        .unwrap()
}

fn revoked_at(store: &Store, grant_id: &GrantId) -> Option<i64> {
    store.read_transaction(|c| grants::get_grant(c, grant_id)).unwrap().revoked_at
}

fn events(store: &Store, action: &str) -> usize {
    let filter = AuditFilter { action: Some(action.into()), ..Default::default() };
    store.read_transaction(|c| audit::list(c, &filter, &Page::first(100))).unwrap().items.len()
}

/// A grant with `rt-1` rotated into `rt-2` at `NOW + 10`.
fn rotated(store: &Store) -> GrantId {
    family(store, &parties(store), "rt")
}

/// A grant of `p` with `{prefix}-1` rotated into `{prefix}-2` at `NOW + 10`.
fn family(store: &Store, p: &Parties, prefix: &str) -> GrantId {
    let g = create_grant(store, &grant(p, &format!("sid-{prefix}"), NOW + 3600));
    let (first, second) = (format!("{prefix}-1"), format!("{prefix}-2"));
    store.write_transaction(|c| refresh_tokens::insert_refresh_token(c, &first, &g.id, NOW + 1000, NOW)).unwrap();
    assert!(rotate(store, &first, g.id.as_str(), &second, NOW + 1000, NOW + 10));
    g.id
}

crate::both_backends! {
    fn a_rotation_names_the_successor_of_the_spent_token(store: Store) {
        let g = rotated(&store);
        let old = find(&store, "rt-1");
        assert_eq!((old.consumed_at, old.replaced_by.as_deref()), (Some(NOW + 10), Some("rt-2")));
        assert_eq!(find(&store, "rt-2").replaced_by, None);
        // A retry within the grace, not after it, and never with a grace of 0.
        assert!(old.is_retry(GRACE, NOW + 10) && old.is_retry(GRACE, NOW + 20));
        assert!(!old.is_retry(GRACE, NOW + 21) && !old.is_retry(0, NOW + 10));
        assert!(!find(&store, "rt-2").is_retry(GRACE, NOW + 11), "an unspent token is no retry");
        assert_eq!(live(&store, &g), ["rt-2"]);
    }

    fn a_retry_within_the_grace_spends_the_unused_successor_and_stores_a_new_one(store: Store) {
        let g = rotated(&store);
        assert!(retry(&store, "rt-1", &g, "rt-3", GRACE, NOW + 15));
        // The first answer's token is spent; the retry's is the one live token.
        let first = find(&store, "rt-2");
        assert_eq!((first.consumed_at, first.replaced_by), (Some(NOW + 15), None));
        let new = find(&store, "rt-3");
        assert_eq!((new.grant_id.clone(), new.consumed_at, new.expires_at), (g.clone(), None, NOW + 1000));
        assert_eq!(live(&store, &g), ["rt-3"]);
        // The old token keeps the time of its rotation and now names the retry's token.
        let old = find(&store, "rt-1");
        assert_eq!((old.consumed_at, old.replaced_by.as_deref()), (Some(NOW + 10), Some("rt-3")));
        assert_eq!(revoked_at(&store, &g), None);
        assert_eq!((events(&store, "token.refresh_retried"), events(&store, "token.refresh_reused")), (1, 0));

        // A retry can be lost too: retried again, still within the grace of the rotation.
        assert!(retry(&store, "rt-1", &g, "rt-4", GRACE, NOW + 20));
        assert_eq!(live(&store, &g), ["rt-4"]);
        // Not after it: the retries did not extend the grace.
        assert!(!retry(&store, "rt-1", &g, "rt-5", GRACE, NOW + 21));
        assert_eq!(live(&store, &g), ["rt-4"]);
        assert_eq!(refuse_within(&store, "rt-1", GRACE, NOW + 21), NotRotated::Reused { grant_id: g.clone() });
        assert_eq!(revoked_at(&store, &g), Some(NOW + 21));
    }

    fn the_successor_a_retry_spent_is_a_reuse_when_presented(store: Store) {
        let g = rotated(&store);
        assert!(retry(&store, "rt-1", &g, "rt-3", GRACE, NOW + 11));
        // Whoever holds the first answer's token (not the client that lost it) revokes
        // the grant with it, even within the grace: it was spent by a retry, not rotated.
        assert!(!rotate(&store, "rt-2", g.as_str(), "rt-4", NOW + 1000, NOW + 12));
        assert!(!retry(&store, "rt-2", &g, "rt-4", GRACE, NOW + 12));
        assert_eq!(refuse_within(&store, "rt-2", GRACE, NOW + 12), NotRotated::Reused { grant_id: g.clone() });
        assert_eq!(revoked_at(&store, &g), Some(NOW + 12));
        assert!(!rotate(&store, "rt-3", g.as_str(), "rt-5", NOW + 1000, NOW + 13));
    }

    fn a_retry_after_the_grace_is_a_reuse_and_revokes_the_grant(store: Store) {
        let g = rotated(&store);
        assert!(!retry(&store, "rt-1", &g, "rt-3", GRACE, NOW + 21));
        assert_eq!(live(&store, &g), ["rt-2"], "nothing spent, nothing stored");
        assert_eq!(refuse_within(&store, "rt-1", GRACE, NOW + 21), NotRotated::Reused { grant_id: g.clone() });
        assert_eq!(revoked_at(&store, &g), Some(NOW + 21));
        assert_eq!((events(&store, "token.refresh_retried"), events(&store, "token.refresh_reused")), (0, 1));
    }

    fn without_a_grace_a_retry_is_a_reuse(store: Store) {
        let g = rotated(&store);
        assert!(!retry(&store, "rt-1", &g, "rt-3", 0, NOW + 10));
        assert_eq!(live(&store, &g), ["rt-2"]);
        assert_eq!(refuse_within(&store, "rt-1", 0, NOW + 10), NotRotated::Reused { grant_id: g.clone() });
        assert_eq!(revoked_at(&store, &g), Some(NOW + 10));
    }

    fn a_retry_after_the_successor_was_used_revokes_the_grant(store: Store) {
        let p = parties(&store);
        let g = family(&store, &p, "rt");
        // The family moved on: the successor was rotated itself.
        assert!(rotate(&store, "rt-2", g.as_str(), "rt-3", NOW + 1000, NOW + 12));
        assert!(!retry(&store, "rt-1", &g, "rt-4", GRACE, NOW + 13));
        assert_eq!(live(&store, &g), ["rt-3"], "nothing spent, nothing stored");
        assert_eq!(refuse_within(&store, "rt-1", GRACE, NOW + 13), NotRotated::Reused { grant_id: g.clone() });
        assert_eq!(revoked_at(&store, &g), Some(NOW + 13));

        // The same when the successor that moved on was a retry's.
        let g = family(&store, &p, "b");
        assert!(retry(&store, "b-1", &g, "b-3", GRACE, NOW + 11));
        assert!(rotate(&store, "b-3", g.as_str(), "b-4", NOW + 1000, NOW + 12));
        assert!(!retry(&store, "b-1", &g, "b-5", GRACE, NOW + 13));
        assert_eq!(refuse_within(&store, "b-1", GRACE, NOW + 13), NotRotated::Reused { grant_id: g.clone() });
        assert_eq!(revoked_at(&store, &g), Some(NOW + 13));
    }

    fn an_older_generation_within_the_grace_revokes_the_grant(store: Store) {
        // django-oauth-toolkit#1617: only the token rotated last may be retried.
        let g = rotated(&store);
        assert!(rotate(&store, "rt-2", g.as_str(), "rt-3", NOW + 1000, NOW + 11));
        assert!(find(&store, "rt-1").is_retry(GRACE, NOW + 12), "rt-1 is within its own grace");
        assert!(!retry(&store, "rt-1", &g, "rt-4", GRACE, NOW + 12));
        assert_eq!(live(&store, &g), ["rt-3"]);
        assert_eq!(refuse_within(&store, "rt-1", GRACE, NOW + 12), NotRotated::Reused { grant_id: g.clone() });
        assert_eq!(revoked_at(&store, &g), Some(NOW + 12));
    }

    fn a_retry_for_another_grant_or_a_revoked_one_spends_nothing(store: Store) {
        let g = rotated(&store);
        assert!(!retry(&store, "rt-1", &GrantId::from("another"), "rt-3", GRACE, NOW + 11));
        assert_eq!(live(&store, &g), ["rt-2"]);
        store.write_transaction(|c| grants::revoke_grant(c, &g, NOW + 11)).unwrap();
        assert!(!retry(&store, "rt-1", &g, "rt-3", GRACE, NOW + 12));
        assert_eq!(live(&store, &g), ["rt-2"]);
        assert_eq!(refuse_within(&store, "rt-1", GRACE, NOW + 12), NotRotated::Revoked);
    }

    fn a_retry_that_a_concurrent_request_answered_first_revokes_nothing(store: Store) {
        // What the loser of a race for the same successor finds when it asks why.
        let g = rotated(&store);
        assert!(retry(&store, "rt-1", &g, "rt-3", GRACE, NOW + 11));
        assert_eq!(refuse_within(&store, "rt-1", GRACE, NOW + 11), NotRotated::Superseded);
        assert_eq!(revoked_at(&store, &g), None);
        assert_eq!(live(&store, &g), ["rt-3"]);
        // The same for the loser of a race to rotate: the token was rotated a moment ago.
        assert!(rotate(&store, "rt-3", g.as_str(), "rt-4", NOW + 1000, NOW + 12));
        assert_eq!(refuse_within(&store, "rt-3", GRACE, NOW + 12), NotRotated::Superseded);
        assert_eq!(revoked_at(&store, &g), None);
        assert_eq!(events(&store, "token.refresh_retried"), 3);
        // Not once the grace is over.
        assert_eq!(refuse_within(&store, "rt-3", GRACE, NOW + 23), NotRotated::Reused { grant_id: g.clone() });
    }

    fn of_eight_concurrent_retries_one_token_of_the_family_stays_alive_and_the_grant_lives(store: Store) {
        let g = rotated(&store);
        let barrier = Arc::new(Barrier::new(8));
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let (store, barrier, g) = (store.clone(), Arc::clone(&barrier), g.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    let new = format!("next-{i}");
                    // As the token endpoint: the retry, and when it spent nothing, its refusal.
                    if retry(&store, "rt-1", &g, &new, GRACE, NOW + 11) {
                        Ok(new)
                    } else {
                        Err(refuse_within(&store, "rt-1", GRACE, NOW + 11))
                    }
                })
            })
            .collect();
        let outcomes: Vec<Result<String, NotRotated>> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        let answered: Vec<&String> = outcomes.iter().filter_map(|o| o.as_ref().ok()).collect();
        assert!(!answered.is_empty(), "{outcomes:?}");
        assert!(outcomes.iter().all(|o| matches!(o, Ok(_) | Err(NotRotated::Superseded))), "{outcomes:?}");
        // Each retry spent the token before it: the one alive is the old token's
        // successor, answered to one of them.
        let alive = live(&store, &g);
        assert_eq!(alive.len(), 1, "{alive:?} of {outcomes:?}");
        assert!(answered.contains(&&alive[0]), "{alive:?} of {outcomes:?}");
        assert_eq!(find(&store, "rt-1").replaced_by.as_ref(), Some(&alive[0]));
        assert_eq!(revoked_at(&store, &g), None);
        assert_eq!(events(&store, "token.refresh_reused"), 0);
    }

    fn retries_racing_the_successor_s_own_rotation_revoke_the_grant(store: Store) {
        // Someone used the successor while someone else retried: one of them holds a
        // token the other spent. Whoever wins, the loser's refusal revokes the family.
        let g = rotated(&store);
        let barrier = Arc::new(Barrier::new(8));
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let (store, barrier, g) = (store.clone(), Arc::clone(&barrier), g.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    let new = format!("next-{i}");
                    let (old, spent) = if i % 2 == 0 {
                        ("rt-1", retry(&store, "rt-1", &g, &new, GRACE, NOW + 11))
                    } else {
                        ("rt-2", rotate(&store, "rt-2", g.as_str(), &new, NOW + 1000, NOW + 11))
                    };
                    if !spent {
                        refuse_within(&store, old, GRACE, NOW + 11);
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert!(revoked_at(&store, &g).is_some());
        assert!(events(&store, "token.refresh_reused") >= 1);
    }
}
