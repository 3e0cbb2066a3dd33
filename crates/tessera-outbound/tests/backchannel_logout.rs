//! The logout-token handler of the outbox runner against the store (both backends) and
//! the test kit's receiver: what is queued for a session and a user, one delivery each
//! when two runners race, a killed worker's claim expiring, and the jobs that end without
//! a request (application deleted, URI removed).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Barrier};
use std::time::Duration;

use serde_json::Map;
use tessera_domain::{ApplicationSettings, SigningAlgorithm, UserId};
use tessera_outbound::{LogoutDelivery, OutboundSettings, PrivateHosts, RetryPolicy, Runner};
use tessera_store::backchannel_logout::{self, KIND, LogoutNotice};
use tessera_store::browser_sessions::{self, NewSession};
use tessera_store::grants::{self, NewGrant};
use tessera_store::users::{self, NewUser};
use tessera_store::{Store, applications, outbox};
use tessera_testkit::http::HttpReceiver;
use tessera_testkit::{NOW, both_backends};
use tessera_tokens::{KeySet, LoadedKey, SharedKeySet};

fn keys() -> SharedKeySet {
    let key = tessera_tokens::signing::generate(SigningAlgorithm::ES256).unwrap();
    let mut jwk = key.public_jwk.clone();
    jwk["kid"] = "k1".into();
    SharedKeySet::new(
        KeySet::new(vec![LoadedKey {
            kid: "k1".into(),
            alg: SigningAlgorithm::ES256,
            signing_pkcs8: Some(key.pkcs8.clone()),
            public_jwk: jwk,
        }])
        .unwrap(),
    )
}

fn settings(uri: Option<&str>) -> ApplicationSettings {
    ApplicationSettings {
        backchannel_logout_uri: uri.map(str::to_owned),
        ..tessera_testkit::apps::web_app("Web", &["https://app.example/cb"])
    }
}

/// A user signed in in session `sid` (a grant of `client_id` carries the sid).
fn signed_in(store: &Store, username: &str, sid: &str, client_id: &str) -> UserId {
    store
        .write_transaction(|c| {
            let user = match users::find_by_login(c, username)? {
                Some(user) => user,
                None => users::create(c, &NewUser { username: username.into(), ..Default::default() }, NOW)?,
            };
            let app = applications::find_by_client_id(c, &client_id.into())?.unwrap();
            browser_sessions::create(
                c,
                &NewSession {
                    id_hash: format!("hash-{sid}"),
                    sid: sid.into(),
                    user_id: Some(user.id.clone()),
                    auth_time: Some(NOW),
                    amr: vec!["pwd".into()],
                    expires_at: NOW + 3600,
                    ..NewSession::default()
                },
                NOW,
            )?;
            grants::create_grant(
                c,
                &NewGrant {
                    id: None,
                    application_id: app.id.clone(),
                    user_id: Some(user.id.clone()),
                    sid: Some(sid.into()),
                    scope: "openid".into(),
                    resources: vec![],
                    auth_time: Some(NOW),
                    amr: vec!["pwd".into()],
                    custom_claims: Map::new(),
                    issued_claims: Map::new(),
                    expires_at: NOW + 3600,
                    dpop_jkt: None,
                },
                NOW,
            )?;
            Ok(user.id)
        })
        .unwrap()
}

fn add_app(store: &Store, client_id: &str, uri: Option<&str>) {
    store.write_transaction(|c| applications::create(c, &client_id.into(), &settings(uri), Some("h"), NOW)).unwrap();
}

fn delivery(store: &Store, keys: &SharedKeySet) -> LogoutDelivery {
    let outbound = OutboundSettings {
        private_hosts: PrivateHosts::parse(&["127.0.0.1".to_owned()]).unwrap(),
        timeout: Duration::from_secs(5),
        ..OutboundSettings::default()
    };
    LogoutDelivery::new(store.clone(), keys.clone(), "https://id.example.test", &outbound)
        .unwrap()
        .with_policy(RetryPolicy { first_delay: 0, max_delay: 0, max_attempts: 3 })
}

fn pending(store: &Store) -> Vec<outbox::Pending> {
    store.read_transaction(|c| outbox::pending(c, KIND)).unwrap()
}

both_backends! {
    fn a_session_queues_one_job_per_application_with_a_uri(store: Store) {
        add_app(&store, "with-uri", Some("https://rp.example.test/bcl"));
        add_app(&store, "without", None);
        let alice = signed_in(&store, "alice", "sid-1", "with-uri");
        signed_in_again(&store, "sid-1", "without");
        let queued = store.write_transaction(|c| backchannel_logout::enqueue_for_session(c, "sid-1", NOW)).unwrap();
        assert_eq!(queued, 1);
        let jobs = pending(&store);
        assert_eq!(jobs.len(), 1);
        let payload = store.write_statement(|c| outbox::claim(c, KIND, "w", 1, 60, NOW)).unwrap();
        let notice = LogoutNotice::from_payload(&payload[0].payload).unwrap();
        let app = store.read_transaction(|c| applications::find_by_client_id(c, &"with-uri".into())).unwrap().unwrap();
        assert_eq!(notice, LogoutNotice { application_id: app.id.as_str().into(), sid: "sid-1".into(), sub: alice.as_str().into() });
        // An unknown sid, or a session nobody signed in to, queues nothing.
        assert_eq!(store.write_transaction(|c| backchannel_logout::enqueue_for_session(c, "nope", NOW)).unwrap(), 0);
    }

    fn a_user_queues_for_open_sessions_only(store: Store) {
        add_app(&store, "rp", Some("https://rp.example.test/bcl"));
        let alice = signed_in(&store, "alice", "open", "rp");
        signed_in(&store, "alice", "ended", "rp");
        store.write_transaction(|c| browser_sessions::end(c, "hash-ended", NOW)).unwrap();
        let bob = signed_in(&store, "bob", "bobs", "rp");
        assert_eq!(store.write_transaction(|c| backchannel_logout::enqueue_for_user(c, &alice, NOW + 1)).unwrap(), 1);
        // Past the absolute timeout, a session is over: nothing to tell.
        assert_eq!(store.write_transaction(|c| backchannel_logout::enqueue_for_user(c, &bob, NOW + 3600)).unwrap(), 0);
    }

    fn two_runners_in_parallel_deliver_each_token_once(store: Store) {
        let receiver = HttpReceiver::start();
        add_app(&store, "rp", Some(&receiver.url("/bcl")));
        for i in 0..6 {
            signed_in(&store, &format!("user{i}"), &format!("sid-{i}"), "rp");
            store.write_transaction(|c| backchannel_logout::enqueue_for_session(c, &format!("sid-{i}"), tessera_outbound::runner::now())).unwrap();
        }
        let keys = keys();
        let barrier = Arc::new(Barrier::new(2));
        let runs: Vec<_> = (0..2)
            .map(|_| {
                let (runner, barrier) = (Runner::new(store.clone()).with(delivery(&store, &keys)), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    runner.run_due(tessera_outbound::runner::now()).unwrap().delivered
                })
            })
            .collect();
        let delivered: usize = runs.into_iter().map(|r| r.join().unwrap()).sum();
        assert_eq!(delivered, 6);
        let received = receiver.wait_for(6, Duration::from_secs(5));
        assert_eq!(received.len(), 6);
        let sids: std::collections::BTreeSet<String> = received
            .iter()
            .map(|r| {
                let token = r.form_value("logout_token").unwrap();
                let verified = tessera_tokens::jwt::verify(&token, keys.current().verifying_keys(), SigningAlgorithm::ALL).unwrap();
                assert_eq!(verified.typ.as_deref(), Some("logout+jwt"));
                assert_eq!(verified.claims["aud"], "rp");
                assert_eq!(verified.claims["iss"], "https://id.example.test");
                verified.claims["sid"].as_str().unwrap().to_owned()
            })
            .collect();
        assert_eq!(sids.len(), 6, "each session once");
        assert!(pending(&store).is_empty());
    }

    fn a_killed_workers_claim_expires_and_another_delivers(store: Store) {
        let receiver = HttpReceiver::start();
        add_app(&store, "rp", Some(&receiver.url("/bcl")));
        signed_in(&store, "alice", "sid-1", "rp");
        store.write_transaction(|c| backchannel_logout::enqueue_for_session(c, "sid-1", tessera_outbound::runner::now())).unwrap();
        // A worker claims the job and dies.
        let now = tessera_outbound::runner::now();
        assert_eq!(store.write_statement(|c| outbox::claim(c, KIND, "dead", 1, 30, now)).unwrap().len(), 1);
        let runner = Runner::new(store.clone()).with(delivery(&store, &keys()));
        assert_eq!(runner.run_due(now).unwrap().delivered, 0, "held by the dead worker");
        assert!(receiver.received().is_empty());
        assert_eq!(runner.run_due(now + 30).unwrap().delivered, 1, "taken once the claim expired");
        assert_eq!(receiver.wait_for(1, Duration::from_secs(5)).len(), 1);
    }

    fn a_deleted_application_or_a_removed_uri_ends_the_job_without_a_request(store: Store) {
        let receiver = HttpReceiver::start();
        add_app(&store, "gone", Some(&receiver.url("/bcl")));
        add_app(&store, "changed", Some(&receiver.url("/bcl")));
        signed_in(&store, "alice", "sid-1", "gone");
        signed_in_again(&store, "sid-1", "changed");
        assert_eq!(store.write_transaction(|c| backchannel_logout::enqueue_for_session(c, "sid-1", tessera_outbound::runner::now())).unwrap(), 2);
        store.write_transaction(|c| {
            let gone = applications::find_by_client_id(c, &"gone".into())?.unwrap();
            applications::delete(c, &gone.id)?;
            let changed = applications::find_by_client_id(c, &"changed".into())?.unwrap();
            applications::update(c, &changed.id, &settings(None), NOW)?;
            Ok(())
        }).unwrap();
        let runner = Runner::new(store.clone()).with(delivery(&store, &keys()));
        assert_eq!(runner.run_due(tessera_outbound::runner::now()).unwrap().delivered, 2);
        assert!(pending(&store).is_empty());
        std::thread::sleep(Duration::from_millis(100));
        assert!(receiver.received().is_empty());
    }
}

/// Another application's grant in the existing session `sid`.
fn signed_in_again(store: &Store, sid: &str, client_id: &str) {
    store
        .write_transaction(|c| {
            let session = browser_sessions::find_by_sid(c, sid)?.unwrap();
            let app = applications::find_by_client_id(c, &client_id.into())?.unwrap();
            grants::create_grant(
                c,
                &NewGrant {
                    id: None,
                    application_id: app.id,
                    user_id: session.user_id,
                    sid: Some(sid.into()),
                    scope: "openid".into(),
                    resources: vec![],
                    auth_time: Some(NOW),
                    amr: vec![],
                    custom_claims: Map::new(),
                    issued_claims: Map::new(),
                    expires_at: NOW + 3600,
                    dpop_jkt: None,
                },
                NOW,
            )?;
            Ok(())
        })
        .unwrap();
}
