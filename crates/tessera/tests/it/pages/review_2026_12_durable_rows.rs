use super::*;
use tessera_store::audit::{self, AuditFilter};
use tessera_store::purge;

crate::both_backends! {
    fn an_anonymous_session_lives_only_as_long_as_its_pending_request(db: TestDatabase) {
        let w = world(&db);
        let before = tessera::now();
        let b = Browser::new(&w.app);
        b.get(&authorize_path("webapp", REDIRECT, &[])).see_other();
        let cookie = b.session().expect("a session binds the pending request");
        let hash = SecretHash::of(&cookie);
        let session = w.store.read_transaction(|c| browser_sessions::get_active(c, hash.as_str(), 3600, tessera::now())).unwrap().unwrap();
        assert!(session.user_id.is_none());
        assert!(session.expires_at <= tessera::now() + 30 * 60, "{} vs {before}", session.expires_at);
        // Past the pending request's life, the purge takes both.
        let purged = w.store.write_transaction(|c| purge::purge_expired(c, before + 31 * 60 + 5)).unwrap();
        assert_eq!((purged.browser_sessions, purged.authorization_requests), (1, 1), "{purged:?}");
        // Signing in makes a session of the full lifetime.
        let b = Browser::new(&w.app);
        code_for(&b, &authorize_path("webapp", REDIRECT, &[]));
        let hash = SecretHash::of(&b.session().unwrap());
        let signed_in = w.store.read_transaction(|c| browser_sessions::get_active(c, hash.as_str(), 3600, tessera::now())).unwrap().unwrap();
        assert!(signed_in.expires_at >= tessera::now() + 11 * 3600, "{}", signed_in.expires_at);
    }

    fn failed_client_authentications_from_one_address_make_one_audit_row_a_minute(db: TestDatabase) {
        let w = world(&db);
        for i in 0..40 {
            let reply = Reply::read(http().post(w.app.url("/connect/token")).basic_auth(format!("nobody-{i}"), Some("x"))
                .form(&[("grant_type", "client_credentials")]).send().unwrap());
            assert_eq!(reply.status, 401);
        }
        let filter = AuditFilter { action: Some("client.authentication_failed".into()), ..Default::default() };
        let events = w.store.read_transaction(|c| audit::list(c, &filter, &tessera_store::Page::first(100))).unwrap().items;
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0].target, "client:nobody-0");
    }
}
