use serde_json::{Map, Value, json};
use tessera_store::sessions::{self, NewAuthorizationCode, NewAuthorizationRequest, NewSession};
use tessera_store::tokens::{self, Grant, NewGrant, NewReferenceToken, PurgeCounts, Rotation};
use tessera_store::{Store, StoreError};

use crate::sessions::{Parties, code, parties};
use tessera_testkit::NOW;

fn grant(p: &Parties, sid: &str, expires_at: i64) -> NewGrant {
    NewGrant {
        id: None,
        application_id: p.app.clone(),
        user_id: Some(p.alice.clone()),
        sid: Some(sid.into()),
        scope: "offline_access openid".into(),
        resources: vec![],
        auth_time: Some(NOW - 5),
        amr: vec!["pwd".into()],
        custom_claims: Map::new(),
        issued_claims: Map::new(),
        expires_at,
    }
}

fn create_grant(store: &Store, new: &NewGrant) -> Grant {
    store.write(|c| tokens::create_grant(c, new, NOW)).unwrap()
}

fn reference(p: &Parties, hash: &str, grant_id: Option<&str>, expires_at: i64) -> NewReferenceToken {
    NewReferenceToken {
        token_hash: hash.into(),
        grant_id: grant_id.map(str::to_owned),
        application_id: p.app.clone(),
        user_id: Some(p.alice.clone()),
        claims: claims(json!({"sub": p.alice, "scope": "openid", "client_id": "web-app"})),
        expires_at,
    }
}

fn claims(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

fn insert_reference(store: &Store, new: &NewReferenceToken) {
    store.write(|c| tokens::insert_reference_token(c, new, NOW)).unwrap();
}

fn rotate(store: &Store, old: &str, new: &str, now: i64) -> Rotation {
    store.write(|c| tokens::rotate(c, old, new, NOW + 1000, now)).unwrap()
}

fn for_app(p: &Parties, application_id: &str, sid: &str) -> NewGrant {
    NewGrant { application_id: application_id.to_owned(), ..grant(p, sid, NOW + 3600) }
}

fn active(store: &Store, hash: &str, now: i64) -> bool {
    store.read(|c| tokens::find_active(c, hash, now)).unwrap().is_some()
}

fn rotated(outcome: Rotation) -> Grant {
    match outcome {
        Rotation::Rotated { grant } => grant,
        other => panic!("expected Rotated, got {other:?}"),
    }
}

crate::both_backends! {
    fn grant_is_created_with_the_id_its_code_carried(store: Store) {
        let p = parties(&store);
        let from_code = NewGrant { id: Some("grant-from-code".into()), ..grant(&p, "sid-1", NOW + 3600) };
        let created = create_grant(&store, &from_code);
        assert_eq!(created.id, "grant-from-code");
        let read = store.read(|c| tokens::get_grant(c, "grant-from-code")).unwrap();
        assert_eq!(read, created);
        assert_eq!(read.amr, vec!["pwd".to_owned()]);
        assert_eq!(read.revoked_at, None);
        let fresh = create_grant(&store, &grant(&p, "sid-1", NOW + 3600));
        assert_eq!(fresh.id.len(), 36);
        assert!(matches!(store.read(|c| tokens::get_grant(c, "nope")), Err(StoreError::NotFound { entity: "grant" })));
    }

    fn refresh_rotation_then_reuse_of_the_spent_token_gives_reused(store: Store) {
        let p = parties(&store);
        let g = create_grant(&store, &grant(&p, "sid-1", NOW + 3600));
        store.write(|c| tokens::insert_refresh_token(c, "rt-1", &g.id, NOW + 1000, NOW)).unwrap();

        let after = rotated(rotate(&store, "rt-1", "rt-2", NOW + 10));
        assert_eq!(after, g);
        let (old, _) = store.read(|c| tokens::find_refresh_token(c, "rt-1")).unwrap().unwrap();
        assert_eq!(old.consumed_at, Some(NOW + 10));
        let (new, family) = store.read(|c| tokens::find_refresh_token(c, "rt-2")).unwrap().unwrap();
        assert_eq!((new.grant_id.as_str(), new.expires_at, new.consumed_at), (g.id.as_str(), NOW + 1000, None));
        assert_eq!(family.id, g.id);

        assert_eq!(
            rotate(&store, "rt-1", "rt-3", NOW + 20),
            Rotation::Reused { grant_id: g.id.clone() }
        );
        assert!(store.read(|c| tokens::find_refresh_token(c, "rt-3")).unwrap().is_none());
        // The caller revokes the family; the live successor is then refused too.
        assert!(store.write(|c| tokens::revoke_grant(c, &g.id, NOW + 20)).unwrap());
        assert_eq!(rotate(&store, "rt-2", "rt-4", NOW + 21), Rotation::Revoked);
        assert!(store.read(|c| tokens::find_refresh_token(c, "rt-4")).unwrap().is_none());
    }

    fn concurrent_rotations_of_one_refresh_token_give_exactly_one_rotated(store: Store) {
        let p = parties(&store);
        let g = create_grant(&store, &grant(&p, "sid-1", NOW + 3600));
        store.write(|c| tokens::insert_refresh_token(c, "rt-1", &g.id, NOW + 1000, NOW)).unwrap();
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(8));
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let store = store.clone();
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    barrier.wait();
                    store.write(|c| tokens::rotate(c, "rt-1", &format!("rt-new-{i}"), NOW + 1000, NOW + 1)).unwrap()
                })
            })
            .collect();
        let outcomes: Vec<Rotation> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        let won = outcomes.iter().filter(|o| matches!(o, Rotation::Rotated { .. })).count();
        let reused = outcomes.iter().filter(|o| matches!(o, Rotation::Reused { .. })).count();
        assert_eq!((won, reused), (1, 7), "{outcomes:?}");
        let successors = (0..8)
            .filter(|i| store.read(|c| tokens::find_refresh_token(c, &format!("rt-new-{i}"))).unwrap().is_some())
            .count();
        assert_eq!(successors, 1);
    }

    fn rotation_never_outlives_the_grant_absolute_expiry(store: Store) {
        let p = parties(&store);
        let g = create_grant(&store, &grant(&p, "sid-1", NOW + 100));
        store.write(|c| tokens::insert_refresh_token(c, "rt-1", &g.id, NOW + 1000, NOW)).unwrap();
        let (first, _) = store.read(|c| tokens::find_refresh_token(c, "rt-1")).unwrap().unwrap();
        assert_eq!(first.expires_at, NOW + 100);
        rotated(rotate(&store, "rt-1", "rt-2", NOW + 50));
        let (second, _) = store.read(|c| tokens::find_refresh_token(c, "rt-2")).unwrap().unwrap();
        assert_eq!(second.expires_at, NOW + 100);
        assert_eq!(rotate(&store, "rt-2", "rt-3", NOW + 100), Rotation::Expired);
        assert!(store.read(|c| tokens::find_refresh_token(c, "rt-3")).unwrap().is_none());
    }

    fn expired_refresh_token_gives_expired_and_stays_unspent(store: Store) {
        let p = parties(&store);
        let g = create_grant(&store, &grant(&p, "sid-1", NOW + 3600));
        store.write(|c| tokens::insert_refresh_token(c, "rt-1", &g.id, NOW + 10, NOW)).unwrap();
        assert_eq!(rotate(&store, "rt-1", "rt-2", NOW + 10), Rotation::Expired);
        let (token, _) = store.read(|c| tokens::find_refresh_token(c, "rt-1")).unwrap().unwrap();
        assert_eq!(token.consumed_at, None);
        assert!(store.read(|c| tokens::find_refresh_token(c, "rt-2")).unwrap().is_none());
        assert_eq!(rotate(&store, "nope", "rt-2", NOW), Rotation::Unknown);
    }

    fn custom_claims_of_a_grant_persist_through_rotation(store: Store) {
        let p = parties(&store);
        let g = create_grant(&store, &grant(&p, "sid-1", NOW + 3600));
        store.write(|c| tokens::insert_refresh_token(c, "rt-1", &g.id, NOW + 1000, NOW)).unwrap();
        let custom = claims(json!({"tenant": "acme", "tier": 3}));
        store.write(|c| tokens::set_custom_claims(c, &g.id, &custom)).unwrap();
        let after = rotated(rotate(&store, "rt-1", "rt-2", NOW + 1));
        assert_eq!(after.custom_claims, custom);
        let again = rotated(rotate(&store, "rt-2", "rt-3", NOW + 2));
        assert_eq!(again.custom_claims, custom);
        assert!(matches!(
            store.write(|c| tokens::set_custom_claims(c, "nope", &custom)),
            Err(StoreError::NotFound { entity: "grant" })
        ));
    }

    fn revoking_a_grant_makes_its_reference_tokens_inactive(store: Store) {
        let p = parties(&store);
        let g = create_grant(&store, &grant(&p, "sid-1", NOW + 3600));
        let other = create_grant(&store, &grant(&p, "sid-1", NOW + 3600));
        insert_reference(&store, &reference(&p, "at-1", Some(&g.id), NOW + 600));
        insert_reference(&store, &reference(&p, "at-2", Some(&g.id), NOW + 600));
        insert_reference(&store, &reference(&p, "at-3", Some(&other.id), NOW + 600));
        insert_reference(&store, &reference(&p, "at-m2m", None, NOW + 600));
        let issued = json!({ "plan": { "value": "gold", "outputs": ["userinfo"], "source": { "kind": "script" } } });
        store.write(|c| tokens::set_issued_claims(c, &g.id, issued.as_object().unwrap())).unwrap();
        let found = store.read(|c| tokens::find_active(c, "at-1", NOW + 1)).unwrap().unwrap();
        assert_eq!(found.claims["client_id"], json!("web-app"));
        assert_eq!(Value::Object(found.issued_claims), issued, "the grant's latest issued claims come along");
        let machine = store.read(|c| tokens::find_active(c, "at-m2m", NOW + 1)).unwrap().unwrap();
        assert!(machine.issued_claims.is_empty(), "a machine token has no grant");

        assert!(store.write(|c| tokens::revoke_grant(c, &g.id, NOW + 2)).unwrap());
        assert!(!store.write(|c| tokens::revoke_grant(c, &g.id, NOW + 3)).unwrap());
        assert!(!active(&store, "at-1", NOW + 4));
        assert!(!active(&store, "at-2", NOW + 4));
        assert!(active(&store, "at-3", NOW + 4));
        assert!(active(&store, "at-m2m", NOW + 4));
        assert_eq!(store.read(|c| tokens::get_grant(c, &g.id)).unwrap().revoked_at, Some(NOW + 2));
        assert_eq!(store.read(|c| tokens::get_grant(c, &other.id)).unwrap().revoked_at, None);
    }

    fn reference_token_is_inactive_when_expired_unknown_or_revoked_by_its_client(store: Store) {
        let p = parties(&store);
        insert_reference(&store, &reference(&p, "at-1", None, NOW + 600));
        assert!(active(&store, "at-1", NOW + 599));
        assert!(!active(&store, "at-1", NOW + 600));
        assert!(!active(&store, "unknown", NOW));

        assert!(!store.write(|c| tokens::revoke_reference_token(c, "at-1", &p.other_app, NOW + 1)).unwrap());
        assert!(active(&store, "at-1", NOW + 2));
        assert!(store.write(|c| tokens::revoke_reference_token(c, "at-1", &p.app, NOW + 2)).unwrap());
        assert!(!active(&store, "at-1", NOW + 3));
        assert!(!store.write(|c| tokens::revoke_reference_token(c, "at-1", &p.app, NOW + 3)).unwrap());
        assert!(!store.write(|c| tokens::revoke_reference_token(c, "unknown", &p.app, NOW + 3)).unwrap());
    }

    fn revoking_the_grants_of_a_session_leaves_other_sessions_alone(store: Store) {
        let p = parties(&store);
        let a = create_grant(&store, &grant(&p, "sid-1", NOW + 3600));
        let b = create_grant(&store, &for_app(&p, &p.other_app, "sid-1"));
        let c2 = create_grant(&store, &grant(&p, "sid-2", NOW + 3600));
        insert_reference(&store, &reference(&p, "at-b", Some(&b.id), NOW + 600));
        assert_eq!(store.write(|c| tokens::revoke_grants_of_session(c, "sid-1", NOW + 1)).unwrap(), 2);
        assert_eq!(store.read(|c| tokens::get_grant(c, &a.id)).unwrap().revoked_at, Some(NOW + 1));
        assert_eq!(store.read(|c| tokens::get_grant(c, &b.id)).unwrap().revoked_at, Some(NOW + 1));
        assert_eq!(store.read(|c| tokens::get_grant(c, &c2.id)).unwrap().revoked_at, None);
        assert!(!active(&store, "at-b", NOW + 2));
        assert_eq!(store.write(|c| tokens::revoke_grants_of_session(c, "sid-1", NOW + 2)).unwrap(), 0);
    }

    fn revoking_the_grants_of_a_user_for_one_application_leaves_other_applications_alone(store: Store) {
        let p = parties(&store);
        let web = create_grant(&store, &grant(&p, "sid-1", NOW + 3600));
        let other = create_grant(&store, &for_app(&p, &p.other_app, "sid-1"));
        let bobs = create_grant(&store, &NewGrant { user_id: Some(p.bob.clone()), ..grant(&p, "sid-b", NOW + 3600) });
        let revoked = store.write(|c| tokens::revoke_grants_of_user_application(c, &p.alice, &p.app, NOW + 1));
        assert_eq!(revoked.unwrap(), 1);
        assert_eq!(store.read(|c| tokens::get_grant(c, &web.id)).unwrap().revoked_at, Some(NOW + 1));
        assert_eq!(store.read(|c| tokens::get_grant(c, &other.id)).unwrap().revoked_at, None);
        assert_eq!(store.read(|c| tokens::get_grant(c, &bobs.id)).unwrap().revoked_at, None);
        assert_eq!(store.write(|c| tokens::revoke_grants_of_user(c, &p.alice, NOW + 2)).unwrap(), 1);
        assert_eq!(store.read(|c| tokens::get_grant(c, &other.id)).unwrap().revoked_at, Some(NOW + 2));
        assert_eq!(store.read(|c| tokens::get_grant(c, &bobs.id)).unwrap().revoked_at, None);
    }

    fn client_assertion_jti_replay_is_refused_until_its_record_expires(store: Store) {
        let p = parties(&store);
        assert!(store.write(|c| tokens::record_jti(c, &p.app, "jti-1", NOW + 60, NOW)).unwrap());
        assert!(!store.write(|c| tokens::record_jti(c, &p.app, "jti-1", NOW + 120, NOW + 59)).unwrap());
        // Another client may use the same jti value.
        assert!(store.write(|c| tokens::record_jti(c, &p.other_app, "jti-1", NOW + 60, NOW)).unwrap());
        // Once the first record expired, the value is recorded anew.
        assert!(store.write(|c| tokens::record_jti(c, &p.app, "jti-1", NOW + 200, NOW + 60)).unwrap());
        assert!(!store.write(|c| tokens::record_jti(c, &p.app, "jti-1", NOW + 200, NOW + 199)).unwrap());
    }

    fn purge_expired_removes_only_expired_rows(store: Store) {
        let p = parties(&store);
        let at = NOW + 1000;
        store.write(|c| {
            // Authorization codes: one expired, one live.
            for (hash, expires_at) in [("code-dead", at), ("code-live", at + 1)] {
                sessions::insert_code(c, &NewAuthorizationCode { expires_at, ..code(&p, hash, "g") }, NOW)?;
            }
            // Pending requests.
            for (hash, expires_at) in [("req-dead", at - 1), ("req-live", at + 60)] {
                let request = NewAuthorizationRequest {
                    id_hash: hash.into(),
                    application_id: p.app.clone(),
                    session_id_hash: None,
                    parameters: json!({}),
                    expires_at,
                };
                sessions::create_request(c, &request, NOW)?;
            }
            // Browser sessions.
            for (hash, expires_at) in [("s-dead", at), ("s-live", at + 1)] {
                let sid = format!("sid-{hash}");
                sessions::create(c, &NewSession { id_hash: hash.into(), sid, expires_at, ..Default::default() }, NOW)?;
            }
            // jti records.
            tokens::record_jti(c, &p.app, "jti-dead", at, NOW)?;
            tokens::record_jti(c, &p.app, "jti-live", at + 1, NOW)?;
            Ok(())
        })
        .unwrap();
        // Grants: expired with nothing live; expired but still holding a live reference
        // token; live with an expired refresh token and an expired reference token.
        let dead = create_grant(&store, &NewGrant { id: Some("g-dead".into()), ..grant(&p, "sid-1", at) });
        let holding = create_grant(&store, &NewGrant { id: Some("g-holding".into()), ..grant(&p, "sid-1", at) });
        let live = create_grant(&store, &NewGrant { id: Some("g-live".into()), ..grant(&p, "sid-1", at + 3600) });
        store
            .write(|c| {
                tokens::insert_refresh_token(c, "rt-of-dead", &dead.id, at, NOW)?;
                tokens::insert_refresh_token(c, "rt-dead", &live.id, at, NOW)?;
                tokens::insert_refresh_token(c, "rt-live", &live.id, at + 1, NOW)?;
                tokens::insert_reference_token(c, &reference(&p, "at-holding", Some(&holding.id), at + 300), NOW)?;
                tokens::insert_reference_token(c, &reference(&p, "at-dead", Some(&live.id), at), NOW)?;
                tokens::insert_reference_token(c, &reference(&p, "at-live", Some(&live.id), at + 1), NOW)
            })
            .unwrap();

        let counts = store.write(|c| tokens::purge_expired(c, at)).unwrap();
        assert_eq!(
            counts,
            PurgeCounts {
                authorization_codes: 1,
                authorization_requests: 1,
                refresh_tokens: 2,
                reference_tokens: 1,
                client_assertion_jtis: 1,
                grants: 1,
                browser_sessions: 1,
                admin_sessions: 0,
                sign_in_buckets: 0,
            }
        );
        assert_eq!(counts.total(), 8);

        assert!(store.read(|c| sessions::get_code(c, "code-dead")).unwrap().is_none());
        assert!(store.read(|c| sessions::get_code(c, "code-live")).unwrap().is_some());
        assert!(store.read(|c| sessions::get_request(c, "req-live", NOW)).unwrap().is_some());
        assert!(store.read(|c| sessions::find_by_sid(c, "sid-s-dead")).unwrap().is_none());
        assert!(store.read(|c| sessions::find_by_sid(c, "sid-s-live")).unwrap().is_some());
        assert!(!store.write(|c| tokens::record_jti(c, &p.app, "jti-live", at + 1, at)).unwrap());
        assert!(matches!(store.read(|c| tokens::get_grant(c, "g-dead")), Err(StoreError::NotFound { .. })));
        assert!(store.read(|c| tokens::get_grant(c, "g-holding")).is_ok());
        assert!(store.read(|c| tokens::get_grant(c, "g-live")).is_ok());
        assert!(store.read(|c| tokens::find_refresh_token(c, "rt-dead")).unwrap().is_none());
        assert!(store.read(|c| tokens::find_refresh_token(c, "rt-live")).unwrap().is_some());
        assert!(active(&store, "at-holding", at));
        assert!(active(&store, "at-live", at));

        // Nothing else is due: a second run deletes nothing.
        assert_eq!(store.write(|c| tokens::purge_expired(c, at)).unwrap(), PurgeCounts::default());
    }

    fn logout_revokes_the_sessions_online_grants_and_keeps_offline_ones(store: Store) {
        let p = parties(&store);
        let online = create_grant(&store, &NewGrant { scope: "openid profile".into(), ..grant(&p, "sid-9", NOW + 3600) });
        let offline = create_grant(&store, &NewGrant { scope: "offline_access openid".into(), ..grant(&p, "sid-9", NOW + 3600) });
        assert_eq!(store.write(|c| tokens::revoke_online_grants_of_session(c, "sid-9", NOW + 1)).unwrap(), 1);
        assert_eq!(store.read(|c| tokens::get_grant(c, &online.id)).unwrap().revoked_at, Some(NOW + 1));
        assert_eq!(store.read(|c| tokens::get_grant(c, &offline.id)).unwrap().revoked_at, None);
    }
}
