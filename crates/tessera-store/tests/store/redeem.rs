//! The token endpoint's reads and writes: each read is one statement on both backends,
//! each write one statement on Postgres, and a write that cannot spend writes nothing.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};

use diesel::connection::{Connection, InstrumentationEvent};
use serde_json::{Map, Value, json};
use tessera_domain::GrantId;
use tessera_store::codes;
use tessera_store::redeem::{self, Rotate};
use tessera_store::{AnyConnection, Backend, Store, StoreResult, users};
use tessera_store::{grants, grants::NewGrant, reference_tokens, reference_tokens::NewReferenceToken, refresh_tokens};

use crate::fixtures::{Parties, code, parties, rotate};
use tessera_testkit::NOW;

/// Runs `f` and counts the statements it sent (`BEGIN`/`COMMIT` included, had there
/// been any). Reads run outside a transaction, writes through `write_statement`, as the
/// token endpoint runs them.
fn counted<T>(store: &Store, write: bool, f: impl FnOnce(&mut AnyConnection) -> StoreResult<T>) -> (T, usize) {
    let count = Arc::new(AtomicUsize::new(0));
    let run = |c: &mut AnyConnection| {
        let counter = Arc::clone(&count);
        c.set_instrumentation(move |event: InstrumentationEvent<'_>| {
            if matches!(event, InstrumentationEvent::StartQuery { .. }) {
                counter.fetch_add(1, Ordering::SeqCst);
            }
        });
        let result = f(c);
        c.set_instrumentation(|_: InstrumentationEvent<'_>| {});
        result
    };
    let result = if write { store.write_statement(run) } else { store.read_statement(run) }.unwrap();
    (result, count.load(Ordering::SeqCst))
}

fn grant_of_code(p: &Parties, grant_id: &str) -> NewGrant {
    NewGrant {
        id: Some(grant_id.into()),
        application_id: p.app.clone(),
        user_id: Some(p.alice.clone()),
        sid: Some("sid-1".into()),
        scope: "offline_access openid".into(),
        resources: vec!["https://api.example.com".into()],
        auth_time: Some(NOW - 5),
        amr: vec!["pwd".into()],
        custom_claims: Map::new(),
        issued_claims: object(json!({"tier": {"value": "gold"}})),
        expires_at: NOW + 3600,
        dpop_jkt: None,
    }
}

fn reference(p: &Parties, hash: &str, grant_id: &str) -> NewReferenceToken {
    NewReferenceToken {
        token_hash: hash.into(),
        grant_id: Some(grant_id.into()),
        application_id: p.app.clone(),
        user_id: Some(p.alice.clone()),
        claims: object(json!({"sub": p.alice, "scope": "openid", "client_id": "web-app"})),
        expires_at: NOW + 300,
    }
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

fn redeem(store: &Store, p: &Parties, code_hash: &str, grant_id: &str, refresh: Option<&str>, now: i64) -> bool {
    let grant = grant_of_code(p, grant_id);
    store.write_statement(|c| redeem::redeem_code(c, code_hash, &grant, refresh, None, now)).unwrap()
}

fn set_nickname(store: &Store, p: &Parties) {
    let values = BTreeMap::from([("nickname".to_owned(), json!("Ally"))]);
    store.write_transaction(|c| users::set_claim_values(c, &p.alice, &values, NOW)).unwrap();
}

/// A redeemed code's grant with a refresh token `refresh`, ready to rotate.
fn granted(store: &Store, p: &Parties, refresh: &str) {
    store.write_transaction(|c| codes::insert_code(c, &code(p, "code-1", "grant-1"), NOW)).unwrap();
    assert!(redeem(store, p, "code-1", "grant-1", Some(refresh), NOW + 1));
}

fn spent_at(store: &Store, hash: &str) -> Option<i64> {
    store.read_transaction(|c| refresh_tokens::find_refresh_token(c, hash)).unwrap().unwrap().0.consumed_at
}

crate::both_backends! {
    fn a_code_is_read_with_its_user_and_claim_values_in_one_statement(store: Store) {
        let p = parties(&store);
        set_nickname(&store, &p);
        store.write_transaction(|c| codes::insert_code(c, &code(&p, "code-1", "grant-1"), NOW)).unwrap();
        let (found, statements) = counted(&store, false, |c| codes::get_code_with_user(c, "code-1"));
        assert_eq!(statements, 1);
        let (found_code, user) = found.unwrap();
        assert_eq!(found_code, store.read_transaction(|c| codes::get_code(c, "code-1")).unwrap().unwrap());
        let (user, values) = user.unwrap();
        assert_eq!(user.id, p.alice);
        assert_eq!(values, store.read_transaction(|c| users::claim_values(c, &user)).unwrap());
        assert_eq!(values["nickname"], json!("Ally"));
        assert_eq!(values["preferred_username"], json!("alice"));

        // A user with no stored value, and no code at all.
        store.write_transaction(|c| codes::insert_code(c, &codes::NewAuthorizationCode {
            user_id: p.bob.clone(),
            ..code(&p, "code-2", "grant-2")
        }, NOW)).unwrap();
        let (_, bob) = store.read_statement(|c| codes::get_code_with_user(c, "code-2")).unwrap().unwrap();
        let (bob, values) = bob.unwrap();
        assert_eq!(bob.id, p.bob);
        assert_eq!(values.keys().collect::<Vec<_>>(), ["preferred_username", "updated_at"]);
        assert!(store.read_statement(|c| codes::get_code_with_user(c, "nope")).unwrap().is_none());
    }

    fn redeeming_a_code_spends_it_and_stores_all_it_issued_in_one_statement(store: Store) {
        let p = parties(&store);
        store.write_transaction(|c| codes::insert_code(c, &code(&p, "code-1", "grant-1"), NOW)).unwrap();
        let grant = grant_of_code(&p, "grant-1");
        let access = reference(&p, "access-1", "grant-1");
        let (spent, statements) = counted(&store, true, |c| {
            redeem::redeem_code(c, "code-1", &grant, Some("refresh-1"), Some(&access), NOW + 1)
        });
        assert!(spent);
        if store.backend() == Backend::Postgres {
            assert_eq!(statements, 1, "one round trip on Postgres");
        }
        assert_eq!(store.read_transaction(|c| codes::get_code(c, "code-1")).unwrap().unwrap().consumed_at, Some(NOW + 1));
        let stored = store.read_transaction(|c| grants::get_grant(c, &GrantId::from("grant-1"))).unwrap();
        assert_eq!(stored.application_id, p.app);
        assert_eq!(stored.user_id.as_ref(), Some(&p.alice));
        assert_eq!(stored.sid.as_deref(), Some("sid-1"));
        assert_eq!(stored.scope, "offline_access openid");
        assert_eq!(stored.resources, vec!["https://api.example.com".to_owned()]);
        assert_eq!(stored.auth_time, Some(NOW - 5));
        assert_eq!(stored.amr, vec!["pwd".to_owned()]);
        assert_eq!(stored.issued_claims, grant.issued_claims);
        assert_eq!(stored.created_at, NOW + 1);
        assert_eq!(stored.expires_at, NOW + 3600);
        let (refresh, of) = store.read_transaction(|c| refresh_tokens::find_refresh_token(c, "refresh-1")).unwrap().unwrap();
        assert_eq!(of.id.as_str(), "grant-1");
        assert_eq!((refresh.created_at, refresh.expires_at, refresh.consumed_at), (NOW + 1, NOW + 3600, None));
        let active = store.read_transaction(|c| reference_tokens::find_active(c, "access-1", NOW + 2)).unwrap().unwrap();
        assert_eq!(active.claims, access.claims);
        assert_eq!(active.issued_claims, grant.issued_claims);
    }

    fn postgres_prepares_each_write_once_per_connection(store: Store) {
        if store.backend() != Backend::Postgres {
            return;
        }
        let p = parties(&store);
        for i in 0..3 {
            store.write_transaction(|c| codes::insert_code(c, &code(&p, &format!("code-{i}"), &format!("grant-{i}")), NOW)).unwrap();
        }
        #[derive(diesel::QueryableByName)]
        struct Prepared {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            redeem: i64,
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            rotate: i64,
        }
        // One connection: three redemptions and two rotations, then what it holds prepared.
        let prepared = store
            .read_statement(|c| {
                for i in 0..3 {
                    let grant = grant_of_code(&p, &format!("grant-{i}"));
                    let refresh = format!("refresh-{i}");
                    assert!(redeem::redeem_code(c, &format!("code-{i}"), &grant, Some(&refresh), None, NOW + 1)?);
                }
                let issued = Map::new();
                for (old, new) in [("refresh-0", "next-0"), ("refresh-1", "next-1")] {
                    let rotation = Rotate {
                        old_hash: old,
                        grant_id: &GrantId::from(if old == "refresh-0" { "grant-0" } else { "grant-1" }),
                        new_hash: new,
                        new_expires_at: NOW + 1800,
                        issued_claims: &issued,
                        reference: None,
                    };
                    assert!(redeem::rotate_refresh(c, &rotation, NOW + 2)?);
                }
                use diesel::RunQueryDsl;
                let AnyConnection::Postgres(pg) = c else { unreachable!() };
                Ok(diesel::sql_query(
                    "SELECT count(*) FILTER (WHERE statement LIKE '%INSERT INTO grants%') AS redeem, \
                            count(*) FILTER (WHERE statement LIKE '%successor AS%') AS rotate \
                     FROM pg_prepared_statements",
                )
                .get_result::<Prepared>(pg)?)
            })
            .unwrap();
        assert_eq!((prepared.redeem, prepared.rotate), (1, 1));
    }

    fn a_code_that_cannot_be_spent_writes_nothing(store: Store) {
        let p = parties(&store);
        store.write_transaction(|c| codes::insert_code(c, &code(&p, "code-1", "grant-1"), NOW)).unwrap();
        // Expired (the code lives 60 s): nothing spent, no grant.
        assert!(!redeem(&store, &p, "code-1", "grant-1", Some("refresh-1"), NOW + 60));
        assert_eq!(store.read_transaction(|c| codes::get_code(c, "code-1")).unwrap().unwrap().consumed_at, None);
        assert!(store.read_transaction(|c| grants::get_grant(c, &GrantId::from("grant-1"))).is_err());
        assert!(store.read_transaction(|c| refresh_tokens::find_refresh_token(c, "refresh-1")).unwrap().is_none());
        // Unknown.
        assert!(!redeem(&store, &p, "nope", "grant-9", None, NOW + 1));
        assert!(store.read_transaction(|c| grants::get_grant(c, &GrantId::from("grant-9"))).is_err());
        // Spent once; the second redemption writes nothing more.
        assert!(redeem(&store, &p, "code-1", "grant-1", None, NOW + 1));
        assert!(!redeem(&store, &p, "code-1", "grant-1", Some("refresh-2"), NOW + 2));
        assert_eq!(store.read_transaction(|c| codes::get_code(c, "code-1")).unwrap().unwrap().consumed_at, Some(NOW + 1));
        assert!(store.read_transaction(|c| refresh_tokens::find_refresh_token(c, "refresh-2")).unwrap().is_none());
        // No refresh token was asked for the first time.
        assert!(store.read_transaction(|c| refresh_tokens::find_refresh_token(c, "refresh-1")).unwrap().is_none());
    }

    fn of_eight_concurrent_redemptions_exactly_one_spends_and_stores(store: Store) {
        let p = Arc::new(parties(&store));
        store.write_transaction(|c| codes::insert_code(c, &code(&p, "code-1", "grant-1"), NOW)).unwrap();
        let barrier = Arc::new(Barrier::new(8));
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let (store, p, barrier) = (store.clone(), Arc::clone(&p), Arc::clone(&barrier));
                std::thread::spawn(move || {
                    barrier.wait();
                    redeem(&store, &p, "code-1", "grant-1", Some(&format!("refresh-{i}")), NOW + 1)
                })
            })
            .collect();
        let spent: Vec<bool> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        assert_eq!(spent.iter().filter(|s| **s).count(), 1, "{spent:?}");
        let stored: usize = (0..8)
            .filter(|i| store.read_transaction(|c| refresh_tokens::find_refresh_token(c, &format!("refresh-{i}"))).unwrap().is_some())
            .count();
        assert_eq!(stored, 1);
    }

    fn a_refresh_token_is_read_with_its_grant_and_user_in_one_statement(store: Store) {
        let p = parties(&store);
        set_nickname(&store, &p);
        granted(&store, &p, "refresh-1");
        let (found, statements) = counted(&store, false, |c| refresh_tokens::find_refresh_token_with_user(c, "refresh-1"));
        assert_eq!(statements, 1);
        let (token, grant, user) = found.unwrap();
        assert_eq!(
            (token.clone(), grant.clone()),
            store.read_transaction(|c| refresh_tokens::find_refresh_token(c, "refresh-1")).unwrap().unwrap()
        );
        let (user, values) = user.unwrap();
        assert_eq!(user.id, p.alice);
        assert_eq!(values["nickname"], json!("Ally"));
        assert!(store.read_statement(|c| refresh_tokens::find_refresh_token_with_user(c, "nope")).unwrap().is_none());

        let (found, statements) = counted(&store, false, |c| grants::get_grant_with_user(c, &GrantId::from("grant-1")));
        assert_eq!(statements, 1);
        let (same, user) = found.unwrap();
        assert_eq!(same, grant);
        assert_eq!(user.unwrap().1["nickname"], json!("Ally"));
        assert!(store.read_statement(|c| grants::get_grant_with_user(c, &GrantId::from("nope"))).unwrap().is_none());
    }

    fn rotating_spends_the_token_and_stores_its_successor_in_one_statement(store: Store) {
        let p = parties(&store);
        granted(&store, &p, "refresh-1");
        let issued = object(json!({"tier": {"value": "platinum"}}));
        let access = reference(&p, "access-1", "grant-1");
        let rotation = Rotate {
            old_hash: "refresh-1",
            grant_id: &GrantId::from("grant-1"),
            new_hash: "refresh-2",
            new_expires_at: NOW + 1800,
            issued_claims: &issued,
            reference: Some(&access),
        };
        let (spent, statements) = counted(&store, true, |c| redeem::rotate_refresh(c, &rotation, NOW + 10));
        assert!(spent);
        if store.backend() == Backend::Postgres {
            assert_eq!(statements, 1, "one round trip on Postgres");
        }
        assert_eq!(spent_at(&store, "refresh-1"), Some(NOW + 10));
        let (successor, grant) = store.read_transaction(|c| refresh_tokens::find_refresh_token(c, "refresh-2")).unwrap().unwrap();
        assert_eq!((successor.grant_id.as_str(), successor.created_at), ("grant-1", NOW + 10));
        assert_eq!((successor.expires_at, successor.consumed_at), (NOW + 1800, None));
        assert_eq!(grant.issued_claims, issued);
        let active = store.read_transaction(|c| reference_tokens::find_active(c, "access-1", NOW + 11)).unwrap().unwrap();
        assert_eq!((active.claims, active.issued_claims), (access.claims.clone(), issued.clone()));
        // Spent: a second rotation writes nothing.
        assert!(!rotate(&store, "refresh-1", "grant-1", "refresh-3", NOW + 1800, NOW + 11));
        assert!(store.read_transaction(|c| refresh_tokens::find_refresh_token(c, "refresh-3")).unwrap().is_none());
    }

    fn a_refresh_token_that_cannot_be_spent_writes_nothing(store: Store) {
        let p = parties(&store);
        granted(&store, &p, "refresh-1");
        let untouched = |store: &Store, new: &str| {
            assert_eq!(spent_at(store, "refresh-1"), None);
            assert!(store.read_transaction(|c| refresh_tokens::find_refresh_token(c, new)).unwrap().is_none());
            let grant = store.read_transaction(|c| grants::get_grant(c, &GrantId::from("grant-1"))).unwrap();
            assert_eq!(grant.issued_claims, object(json!({"tier": {"value": "gold"}})));
        };
        // Another grant's id, an unknown token, a token past its expiry.
        assert!(!rotate(&store, "refresh-1", "grant-2", "refresh-2", NOW + 1800, NOW + 10));
        untouched(&store, "refresh-2");
        assert!(!rotate(&store, "nope", "grant-1", "refresh-2", NOW + 1800, NOW + 10));
        untouched(&store, "refresh-2");
        assert!(!rotate(&store, "refresh-1", "grant-1", "refresh-2", NOW + 1800, NOW + 3600));
        untouched(&store, "refresh-2");
        // The grant revoked.
        store.write_transaction(|c| grants::revoke_grant(c, &GrantId::from("grant-1"), NOW + 20)).unwrap();
        assert!(!rotate(&store, "refresh-1", "grant-1", "refresh-2", NOW + 1800, NOW + 21));
        untouched(&store, "refresh-2");
    }

    fn of_eight_concurrent_rotations_exactly_one_spends_and_stores(store: Store) {
        let p = parties(&store);
        granted(&store, &p, "refresh-1");
        let barrier = Arc::new(Barrier::new(8));
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let (store, barrier) = (store.clone(), Arc::clone(&barrier));
                std::thread::spawn(move || {
                    barrier.wait();
                    rotate(&store, "refresh-1", "grant-1", &format!("next-{i}"), NOW + 1800, NOW + 10)
                })
            })
            .collect();
        let spent: Vec<bool> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        assert_eq!(spent.iter().filter(|s| **s).count(), 1, "{spent:?}");
        let stored: usize = (0..8)
            .filter(|i| store.read_transaction(|c| refresh_tokens::find_refresh_token(c, &format!("next-{i}"))).unwrap().is_some())
            .count();
        assert_eq!(stored, 1);
    }

    fn an_active_reference_token_is_read_with_its_user_in_one_statement(store: Store) {
        let p = parties(&store);
        set_nickname(&store, &p);
        granted(&store, &p, "refresh-1");
        store.write_transaction(|c| reference_tokens::insert_reference_token(c, &reference(&p, "access-1", "grant-1"), NOW)).unwrap();
        let (found, statements) = counted(&store, false, |c| reference_tokens::find_active_with_user(c, "access-1", NOW + 1));
        assert_eq!(statements, 1);
        let (active, user) = found.unwrap();
        assert_eq!(active, store.read_transaction(|c| reference_tokens::find_active(c, "access-1", NOW + 1)).unwrap().unwrap());
        let (user, values) = user.unwrap();
        assert_eq!(user.id, p.alice);
        assert_eq!(values["nickname"], json!("Ally"));
        // Expired, unknown, or of a revoked grant: not found.
        assert!(store.read_statement(|c| reference_tokens::find_active_with_user(c, "access-1", NOW + 300)).unwrap().is_none());
        assert!(store.read_statement(|c| reference_tokens::find_active_with_user(c, "nope", NOW + 1)).unwrap().is_none());
        store.write_transaction(|c| grants::revoke_grant(c, &GrantId::from("grant-1"), NOW + 2)).unwrap();
        assert!(store.read_statement(|c| reference_tokens::find_active_with_user(c, "access-1", NOW + 3)).unwrap().is_none());
        // A machine token has no user.
        let machine = NewReferenceToken { grant_id: None, user_id: None, ..reference(&p, "machine-1", "") };
        store.write_transaction(|c| reference_tokens::insert_reference_token(c, &machine, NOW)).unwrap();
        let (_, user) = store.read_statement(|c| reference_tokens::find_active_with_user(c, "machine-1", NOW + 1)).unwrap().unwrap();
        assert!(user.is_none());
    }
}
