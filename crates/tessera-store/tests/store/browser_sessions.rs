use tessera_domain::UserId;
use tessera_store::browser_sessions::{self, NewSession};
use tessera_store::{StoreError, authorization_requests};

use crate::fixtures::{parties, request};
use tessera_testkit::NOW;

fn session(id_hash: &str, sid: &str, user_id: Option<&UserId>) -> NewSession {
    NewSession {
        id_hash: id_hash.into(),
        sid: sid.into(),
        user_id: user_id.cloned(),
        auth_time: user_id.map(|_| NOW),
        amr: if user_id.is_some() { vec!["pwd".into()] } else { vec![] },
        expires_at: NOW + 3600,
        ..NewSession::default()
    }
}

crate::both_backends! {
    fn session_is_active_until_its_idle_timeout_passes(store: Store) {
        let p = parties(&store);
        store.write_transaction(|c| browser_sessions::create(c, &session("h1", "sid-1", Some(&p.alice)), NOW)).unwrap();
        let idle = 600;
        let active = store.read_transaction(|c| browser_sessions::get_active(c, "h1", idle, NOW + 599)).unwrap().unwrap();
        assert_eq!(active.user_id.as_ref(), Some(&p.alice));
        assert_eq!(active.amr, vec!["pwd".to_owned()]);
        assert_eq!(active.last_seen_at, NOW);
        assert!(store.read_transaction(|c| browser_sessions::get_active(c, "h1", idle, NOW + 600)).unwrap().is_none());

        // Activity restarts the idle timeout.
        store.write_transaction(|c| browser_sessions::touch(c, "h1", NOW + 500)).unwrap();
        let touched = store.read_transaction(|c| browser_sessions::get_active(c, "h1", idle, NOW + 1099)).unwrap().unwrap();
        assert_eq!(touched.last_seen_at, NOW + 500);
        assert!(store.read_transaction(|c| browser_sessions::get_active(c, "h1", idle, NOW + 1100)).unwrap().is_none());
    }

    fn session_ends_at_its_absolute_timeout_however_active(store: Store) {
        let p = parties(&store);
        store.write_transaction(|c| browser_sessions::create(c, &session("h1", "sid-1", Some(&p.alice)), NOW)).unwrap();
        store.write_transaction(|c| browser_sessions::touch(c, "h1", NOW + 3599)).unwrap();
        assert!(store.read_transaction(|c| browser_sessions::get_active(c, "h1", 600, NOW + 3599)).unwrap().is_some());
        assert!(store.read_transaction(|c| browser_sessions::get_active(c, "h1", 600, NOW + 3600)).unwrap().is_none());
        assert!(store.read_transaction(|c| browser_sessions::get_active(c, "unknown", 600, NOW)).unwrap().is_none());
    }

    fn authenticate_records_the_user_auth_time_and_amr(store: Store) {
        let p = parties(&store);
        store.write_transaction(|c| browser_sessions::create(c, &session("h1", "sid-1", None), NOW)).unwrap();
        let amr = vec!["pwd".to_owned(), "otp".to_owned()];
        let signed_in = store.write_transaction(|c| browser_sessions::authenticate(c, "h1", &p.alice, NOW + 10, &amr, NOW + 10)).unwrap();
        assert_eq!(signed_in.user_id.as_ref(), Some(&p.alice));
        assert_eq!(signed_in.auth_time, Some(NOW + 10));
        assert_eq!(signed_in.amr, amr);
        assert_eq!(signed_in.last_seen_at, NOW + 10);
        assert_eq!(store.read_transaction(|c| browser_sessions::get_active(c, "h1", 600, NOW + 11)).unwrap(), Some(signed_in));
    }

    fn replace_ends_the_old_session_and_moves_its_pending_requests_to_the_new_one(store: Store) {
        let p = parties(&store);
        store.write_transaction(|c| browser_sessions::create(c, &session("old", "sid-old", None), NOW)).unwrap();
        store.write_transaction(|c| authorization_requests::create_request(c, &request(&p, "req", Some("old")), NOW)).unwrap();
        let new = store
            .write_transaction(|c| browser_sessions::replace(c, Some("old"), &session("new", "sid-new", Some(&p.alice)), NOW + 20))
            .unwrap();
        assert_eq!(new.sid, "sid-new");
        assert_eq!(new.created_at, NOW + 20);
        assert!(store.read_transaction(|c| browser_sessions::get_active(c, "old", 600, NOW + 21)).unwrap().is_none());
        assert_eq!(store.read_transaction(|c| browser_sessions::find_by_sid(c, "sid-old")).unwrap().unwrap().ended_at, Some(NOW + 20));
        assert_eq!(store.read_transaction(|c| browser_sessions::get_active(c, "new", 600, NOW + 21)).unwrap(), Some(new));
        let moved = store.read_transaction(|c| authorization_requests::get_request(c, "req", NOW + 21)).unwrap().unwrap();
        assert_eq!(moved.session_id_hash.as_deref(), Some("new"));
    }

    fn replace_without_an_old_session_just_creates_one(store: Store) {
        let p = parties(&store);
        let new = store.write_transaction(|c| browser_sessions::replace(c, None, &session("new", "sid-new", Some(&p.alice)), NOW)).unwrap();
        assert_eq!(store.read_transaction(|c| browser_sessions::get_active(c, "new", 600, NOW)).unwrap(), Some(new));
    }

    fn ended_session_is_inactive_and_cannot_be_touched_or_signed_into(store: Store) {
        let p = parties(&store);
        store.write_transaction(|c| browser_sessions::create(c, &session("h1", "sid-1", Some(&p.alice)), NOW)).unwrap();
        assert!(store.write_transaction(|c| browser_sessions::end(c, "h1", NOW + 5)).unwrap());
        assert!(!store.write_transaction(|c| browser_sessions::end(c, "h1", NOW + 6)).unwrap());
        assert!(store.read_transaction(|c| browser_sessions::get_active(c, "h1", 600, NOW + 6)).unwrap().is_none());
        assert!(matches!(
            store.write_transaction(|c| browser_sessions::touch(c, "h1", NOW + 7)),
            Err(StoreError::NotFound { entity: "session" })
        ));
        assert!(matches!(
            store.write_transaction(|c| browser_sessions::authenticate(c, "h1", &p.alice, NOW + 7, &[], NOW + 7)),
            Err(StoreError::NotFound { entity: "session" })
        ));
        assert_eq!(store.read_transaction(|c| browser_sessions::find_by_sid(c, "sid-1")).unwrap().unwrap().ended_at, Some(NOW + 5));
    }

    fn ending_all_sessions_of_a_user_leaves_other_users_signed_in(store: Store) {
        let p = parties(&store);
        store.write_transaction(|c| browser_sessions::create(c, &session("a1", "sid-a1", Some(&p.alice)), NOW)).unwrap();
        store.write_transaction(|c| browser_sessions::create(c, &session("a2", "sid-a2", Some(&p.alice)), NOW + 1)).unwrap();
        store.write_transaction(|c| browser_sessions::create(c, &session("b1", "sid-b1", Some(&p.bob)), NOW)).unwrap();
        let listed = store.read_transaction(|c| browser_sessions::list_active_of_user(c, &p.alice, 600, NOW + 2)).unwrap();
        assert_eq!(listed.iter().map(|s| s.sid.as_str()).collect::<Vec<_>>(), ["sid-a2", "sid-a1"]);

        assert_eq!(store.write_transaction(|c| browser_sessions::end_all_of_user(c, &p.alice, NOW + 3)).unwrap(), 2);
        assert!(store.read_transaction(|c| browser_sessions::list_active_of_user(c, &p.alice, 600, NOW + 4)).unwrap().is_empty());
        assert!(store.read_transaction(|c| browser_sessions::get_active(c, "a1", 600, NOW + 4)).unwrap().is_none());
        assert!(store.read_transaction(|c| browser_sessions::get_active(c, "b1", 600, NOW + 4)).unwrap().is_some());
        assert_eq!(store.write_transaction(|c| browser_sessions::end_all_of_user(c, &p.alice, NOW + 5)).unwrap(), 0);
    }

    fn listing_active_sessions_skips_idle_and_expired_ones(store: Store) {
        let p = parties(&store);
        store.write_transaction(|c| browser_sessions::create(c, &session("a1", "sid-a1", Some(&p.alice)), NOW)).unwrap();
        store.write_transaction(|c| browser_sessions::create(c, &session("a2", "sid-a2", Some(&p.alice)), NOW + 500)).unwrap();
        let listed = store.read_transaction(|c| browser_sessions::list_active_of_user(c, &p.alice, 600, NOW + 700)).unwrap();
        assert_eq!(listed.iter().map(|s| s.sid.as_str()).collect::<Vec<_>>(), ["sid-a2"]);
    }

    fn duplicate_sid_is_a_conflict(store: Store) {
        store.write_transaction(|c| browser_sessions::create(c, &session("h1", "sid-1", None), NOW)).unwrap();
        match store.write_transaction(|c| browser_sessions::create(c, &session("h2", "sid-1", None), NOW)) {
            Err(StoreError::Conflict { field }) => assert_eq!(field, "sid"),
            other => panic!("expected a conflict, got {other:?}"),
        }
        assert!(store.read_transaction(|c| browser_sessions::get_active(c, "h2", 600, NOW)).unwrap().is_none());
    }

    fn a_session_keeps_the_device_it_signed_in_from(store: Store) {
        let p = parties(&store);
        let agent = "x".repeat(browser_sessions::USER_AGENT_LIMIT + 50);
        let new = NewSession {
            client_ip: Some("203.0.113.9".into()),
            user_agent: Some(agent),
            ..session("h1", "sid-1", Some(&p.alice))
        };
        let created = store.write_transaction(|c| browser_sessions::create(c, &new, NOW)).unwrap();
        let listed = store.read_transaction(|c| browser_sessions::list_active_of_user(c, &p.alice, 600, NOW)).unwrap();
        assert_eq!(listed, [created]);
        assert_eq!(listed[0].client_ip.as_deref(), Some("203.0.113.9"));
        assert_eq!(listed[0].user_agent.as_ref().map(|a| a.chars().count()), Some(browser_sessions::USER_AGENT_LIMIT));
    }

    fn ending_a_users_session_by_sid_revokes_its_online_grants_and_only_for_that_user(store: Store) {
        let p = parties(&store);
        store.write_transaction(|c| browser_sessions::create(c, &session("h1", "sid-1", Some(&p.alice)), NOW)).unwrap();
        let online = crate::fixtures::create_grant(
            &store,
            &tessera_store::grants::NewGrant { scope: "openid".into(), ..crate::fixtures::grant(&p, "sid-1", NOW + 3600) },
        );
        // Bob cannot end Alice's session, whatever sid he names.
        assert_eq!(store.write_transaction(|c| browser_sessions::end_of_user(c, &p.bob, "sid-1", NOW + 1)).unwrap(), None);
        assert!(store.read_transaction(|c| browser_sessions::get_active(c, "h1", 600, NOW + 1)).unwrap().is_some());
        assert_eq!(store.write_transaction(|c| browser_sessions::end_of_user(c, &p.alice, "sid-1", NOW + 2)).unwrap(), Some(1));
        assert!(store.read_transaction(|c| browser_sessions::get_active(c, "h1", 600, NOW + 2)).unwrap().is_none());
        let grant = store.read_transaction(|c| tessera_store::grants::get_grant(c, &online.id)).unwrap();
        assert_eq!(grant.revoked_at, Some(NOW + 2));
        assert_eq!(store.write_transaction(|c| browser_sessions::end_of_user(c, &p.alice, "sid-1", NOW + 3)).unwrap(), None);
    }
}
