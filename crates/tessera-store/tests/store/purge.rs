use serde_json::json;
use tessera_domain::GrantId;
use tessera_store::authorization_requests::{self, NewAuthorizationRequest};
use tessera_store::browser_sessions::{self, NewSession};
use tessera_store::codes::{self, NewAuthorizationCode};
use tessera_store::dpop_proofs;
use tessera_store::grants::{self, NewGrant};
use tessera_store::purge::{self, PurgeCounts};
use tessera_store::pushed_authorization_requests::{self, NewPushedRequest};
use tessera_store::{StoreError, client_assertions, reference_tokens, refresh_tokens};

use crate::fixtures::{active, code, create_grant, grant, parties, reference};
use tessera_testkit::NOW;

crate::both_backends! {
    fn purge_expired_removes_only_expired_rows(store: Store) {
        let p = parties(&store);
        let at = NOW + 1000;
        store.write_transaction(|c| {
            // Authorization codes: one expired, one live.
            for (hash, expires_at) in [("code-dead", at), ("code-live", at + 1)] {
                codes::insert_code(c, &NewAuthorizationCode { expires_at, ..code(&p, hash, "g") }, NOW)?;
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
                authorization_requests::create_request(c, &request, NOW)?;
            }
            // Pushed requests (RFC 9126).
            for (hash, expires_at) in [("par-dead", at), ("par-live", at + 1)] {
                let pushed = NewPushedRequest {
                    request_uri_hash: hash.into(),
                    application_id: p.app.clone(),
                    parameters: json!({}),
                    expires_at,
                };
                pushed_authorization_requests::create(c, &pushed, NOW)?;
            }
            // Browser sessions.
            for (hash, expires_at) in [("s-dead", at), ("s-live", at + 1)] {
                let sid = format!("sid-{hash}");
                browser_sessions::create(c, &NewSession { id_hash: hash.into(), sid, expires_at, ..Default::default() }, NOW)?;
            }
            // jti records.
            client_assertions::record_jti(c, &p.app, "jti-dead", at, NOW)?;
            client_assertions::record_jti(c, &p.app, "jti-live", at + 1, NOW)?;
            dpop_proofs::record(c, "dpop-dead", at)?;
            dpop_proofs::record(c, "dpop-live", at + 1)?;
            Ok(())
        })
        .unwrap();
        // Grants: expired with nothing live; expired but still holding a live reference
        // token; live with an expired refresh token and an expired reference token.
        let dead = create_grant(&store, &NewGrant { id: Some("g-dead".into()), ..grant(&p, "sid-1", at) });
        let holding = create_grant(&store, &NewGrant { id: Some("g-holding".into()), ..grant(&p, "sid-1", at) });
        let live = create_grant(&store, &NewGrant { id: Some("g-live".into()), ..grant(&p, "sid-1", at + 3600) });
        store
            .write_transaction(|c| {
                refresh_tokens::insert_refresh_token(c, "rt-of-dead", &dead.id, at, NOW)?;
                refresh_tokens::insert_refresh_token(c, "rt-dead", &live.id, at, NOW)?;
                refresh_tokens::insert_refresh_token(c, "rt-live", &live.id, at + 1, NOW)?;
                reference_tokens::insert_reference_token(c, &reference(&p, "at-holding", Some(holding.id.as_str()), at + 300), NOW)?;
                reference_tokens::insert_reference_token(c, &reference(&p, "at-dead", Some(live.id.as_str()), at), NOW)?;
                reference_tokens::insert_reference_token(c, &reference(&p, "at-live", Some(live.id.as_str()), at + 1), NOW)
            })
            .unwrap();

        let counts = store.write_transaction(|c| purge::purge_expired(c, at)).unwrap();
        assert_eq!(
            counts,
            PurgeCounts {
                authorization_codes: 1,
                authorization_requests: 1,
                pushed_authorization_requests: 1,
                device_codes: 0,
                refresh_tokens: 2,
                reference_tokens: 1,
                client_assertion_jtis: 1,
                dpop_proofs: 1,
                grants: 1,
                browser_sessions: 1,
                admin_sessions: 0,
                sign_in_buckets: 0,
                account_tokens: 0,
                initial_access_tokens: 0,
                metadata_document_clients: 0,
                webauthn_ceremonies: 0,
            }
        );
        assert_eq!(counts.total(), 10);
        // The live proof is still recorded: a replay of it is refused.
        assert!(!store.write_statement(|c| dpop_proofs::record(c, "dpop-live", at + 1)).unwrap());
        assert!(store.write_statement(|c| dpop_proofs::record(c, "dpop-dead", at + 1)).unwrap());
        assert_eq!(store.read_statement(pushed_authorization_requests::count).unwrap(), 1);
        assert!(store.write_statement(|c| pushed_authorization_requests::spend(c, "par-live", &p.app, at)).unwrap().is_some());

        assert!(store.read_transaction(|c| codes::get_code(c, "code-dead")).unwrap().is_none());
        assert!(store.read_transaction(|c| codes::get_code(c, "code-live")).unwrap().is_some());
        assert!(store.read_transaction(|c| authorization_requests::get_request(c, "req-live", NOW)).unwrap().is_some());
        assert!(store.read_transaction(|c| browser_sessions::find_by_sid(c, "sid-s-dead")).unwrap().is_none());
        assert!(store.read_transaction(|c| browser_sessions::find_by_sid(c, "sid-s-live")).unwrap().is_some());
        assert!(!store.write_transaction(|c| client_assertions::record_jti(c, &p.app, "jti-live", at + 1, at)).unwrap());
        assert!(matches!(store.read_transaction(|c| grants::get_grant(c, &GrantId::from("g-dead"))), Err(StoreError::NotFound { .. })));
        assert!(store.read_transaction(|c| grants::get_grant(c, &GrantId::from("g-holding"))).is_ok());
        assert!(store.read_transaction(|c| grants::get_grant(c, &GrantId::from("g-live"))).is_ok());
        assert!(store.read_transaction(|c| refresh_tokens::find_refresh_token(c, "rt-dead")).unwrap().is_none());
        assert!(store.read_transaction(|c| refresh_tokens::find_refresh_token(c, "rt-live")).unwrap().is_some());
        assert!(active(&store, "at-holding", at));
        assert!(active(&store, "at-live", at));

        // Nothing else is due: a second run deletes nothing.
        assert_eq!(store.write_transaction(|c| purge::purge_expired(c, at)).unwrap(), PurgeCounts::default());
    }
}
