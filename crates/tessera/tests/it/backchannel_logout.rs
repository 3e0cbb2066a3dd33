//! OpenID Connect Back-Channel Logout 1.0: when a browser session ends (RP-initiated end
//! session, an administrator ending it or disabling the user), each application the
//! session signed in to that registered a `backchannel_logout_uri` gets a logout token
//! POSTed by the outbox runner: signed with the published keys, `typ: logout+jwt`, the
//! back-channel logout event, `sid` and `sub`, never `nonce`. Failed deliveries are
//! retried, then given up and audited; a destination the outbound guard refuses is never
//! contacted. A receiver on loopback (the test kit's) records the POSTs; each test runs on
//! SQLite and Postgres.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use tessera::settings::RawSettings;
use tessera_store::audit::{self, AuditFilter};
use tessera_store::backchannel_logout::{self, KIND};
use tessera_store::{applications, browser_sessions, outbox};
use tessera_testkit::http::{HttpReceiver, ReceivedRequest};

use crate::common::security::*;
use crate::common::{TestApp, TestDatabase, settings_for};

const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
const WAIT: Duration = Duration::from_secs(15);

/// A server that may reach 127.0.0.1 (`outbound_private_hosts`), polls its outbox every
/// 100 ms and retries at once, three attempts; `webapp` has `uri` as its
/// `backchannel_logout_uri`.
fn logout_world(db: &TestDatabase, private_hosts: &[&str], uri: &str) -> (World, tempfile::TempDir) {
    let data = tempfile::tempdir().unwrap();
    let app = TestApp::spawn_with(RawSettings {
        outbound_private_hosts: private_hosts.iter().map(|h| (*h).to_owned()).collect(),
        outbox_poll_interval_ms: 100,
        backchannel_logout_retry_delay: 0,
        backchannel_logout_max_attempts: 3,
        ..settings_for(db, data.path())
    });
    let w = world_on(db, app);
    set_backchannel_uri(&w, "webapp", Some(uri));
    (w, data)
}

fn set_backchannel_uri(w: &World, client_id: &str, uri: Option<&str>) {
    let app = w.store.read_transaction(|c| applications::find_by_client_id(c, &client_id.into())).unwrap().unwrap();
    let mut settings = app.settings;
    settings.backchannel_logout_uri = uri.map(str::to_owned);
    w.store.write_transaction(|c| applications::update(c, &app.id, &settings, tessera::now())).unwrap();
}

fn endsession(b: &Browser, params: &[(&str, &str)]) -> Reply {
    let query: String = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(params).finish();
    b.get(&format!("/connect/endsession?{query}"))
}

/// Alice signed in to `webapp` in a new browser: the browser and her ID token's claims.
fn signed_in(w: &World) -> (Browser, String, Value) {
    let b = Browser::new(&w.app);
    let id_token = tokens(w, &b, &[])["id_token"].as_str().unwrap().to_owned();
    let claims = payload(&id_token);
    (b, id_token, claims)
}

fn events(w: &World, action: &str) -> Vec<audit::AuditEvent> {
    let filter = AuditFilter { action: Some(action.into()), ..Default::default() };
    w.store.read_transaction(|c| audit::list(c, &filter, &tessera_store::Page::first(50))).unwrap().items
}

/// Waits until no back-channel logout job is left in the outbox.
fn wait_until_drained(w: &World) {
    let deadline = Instant::now() + WAIT;
    while !w.store.read_transaction(|c| outbox::pending(c, KIND)).unwrap().is_empty() {
        assert!(Instant::now() < deadline, "logout jobs still pending");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Checks one delivered request: a form POST of a logout token Tessera signed for
/// `client_id` about `sid` and alice, verified with the published JWKS.
fn assert_logout_token(w: &World, request: &ReceivedRequest, client_id: &str, sid: &str) {
    assert_eq!(request.method, "POST");
    assert_eq!(request.target, "/bcl");
    assert_eq!(request.header("content-type"), Some("application/x-www-form-urlencoded"));
    assert!(request.header("user-agent").is_some_and(|ua| ua.starts_with("Tessera/")), "{:?}", request.headers);
    let token = request.form_value("logout_token").expect("a logout_token field");
    assert_eq!(request.form().len(), 1, "only logout_token: {:?}", request.form());
    let jwks = w.app.jwks();
    let keys: Vec<tessera_tokens::VerifyingKey> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|k| tessera_tokens::VerifyingKey::from_jwk(k, None))
        .collect();
    let verified = tessera_tokens::jwt::verify(&token, &keys, tessera_domain::SigningAlgorithm::ALL).unwrap();
    assert_eq!(verified.typ.as_deref(), Some("logout+jwt"));
    let claims = verified.claims;
    assert_eq!(claims["iss"], w.app.base.as_str());
    assert_eq!(claims["aud"], client_id);
    assert_eq!(claims["sub"], w.alice.as_str());
    assert_eq!(claims["sid"], sid);
    assert_eq!(claims["events"], json!({ EVENT: {} }));
    assert!(claims.get("nonce").is_none(), "never a nonce: {claims:?}");
    assert!(claims["jti"].as_str().is_some_and(|j| !j.is_empty()));
    let (iat, exp) = (claims["iat"].as_i64().unwrap(), claims["exp"].as_i64().unwrap());
    assert!((iat - tessera::now()).abs() <= 30, "iat {iat}");
    assert_eq!(exp - iat, 120, "a short lifetime");
}

crate::both_backends! {
    fn rp_initiated_logout_sends_a_logout_token_to_the_application(db: TestDatabase) {
        let receiver = HttpReceiver::start();
        let (w, _data) = logout_world(&db, &["127.0.0.1"], &receiver.url("/bcl"));
        let (b, id_token, claims) = signed_in(&w);
        // The ID token carries the session's public sid, not the cookie's value.
        let sid = claims["sid"].as_str().expect("sid in the ID token").to_owned();
        let cookie = b.session().expect("a session cookie");
        assert_ne!(sid, cookie);
        let session = w.store.read_transaction(|c| browser_sessions::find_by_sid(c, &sid)).unwrap().unwrap();
        assert_eq!(session.id_hash, tessera_tokens::SecretHash::of(&cookie).as_str());
        let reply = endsession(&b, &[("id_token_hint", &id_token), ("post_logout_redirect_uri", LOGOUT)]);
        assert_eq!(reply.see_other(), LOGOUT);
        let received = receiver.wait_for(1, WAIT);
        assert_eq!(received.len(), 1, "one logout token");
        assert_logout_token(&w, &received[0], "webapp", &sid);
        wait_until_drained(&w);
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(receiver.received().len(), 1, "delivered once");
        assert!(events(&w, "backchannel_logout.gave_up").is_empty());
    }

    fn every_code_flow_id_token_carries_the_sessions_sid(db: TestDatabase) {
        let w = world(&db);
        let b = Browser::new(&w.app);
        let first = payload(tokens(&w, &b, &[]).get("id_token").and_then(Value::as_str).unwrap());
        // A second code in the same session (no page), and one with prompt=none.
        let second = payload(tokens(&w, &b, &[]).get("id_token").and_then(Value::as_str).unwrap());
        let silent = payload(tokens(&w, &b, &[("prompt", "none")]).get("id_token").and_then(Value::as_str).unwrap());
        let sid = first["sid"].as_str().expect("sid");
        assert_eq!(second["sid"], sid);
        assert_eq!(silent["sid"], sid);
        assert!(w.store.read_transaction(|c| browser_sessions::find_by_sid(c, sid)).unwrap().is_some());
    }

    fn only_applications_with_a_uri_that_the_session_signed_in_to_are_told(db: TestDatabase) {
        let receiver = HttpReceiver::start();
        let (w, _data) = logout_world(&db, &["127.0.0.1"], &receiver.url("/bcl"));
        // A third application with a URI that this session never signed in to.
        add_app(&w, "unused", &web_app(&["https://unused.example.test/cb"], &[]));
        set_backchannel_uri(&w, "unused", Some(&receiver.url("/unused")));
        let (b, id_token, claims) = signed_in(&w);
        let sid = claims["sid"].as_str().unwrap().to_owned();
        // The same session signs in to `other`, which has no URI.
        let callback = code_for(&b, &authorize_path("other", OTHER_REDIRECT, &[]));
        assert_eq!(redeem(&w, "other", &callback["code"], OTHER_REDIRECT, Some(VERIFIER)).status, 200);
        let webapp = w.store.read_transaction(|c| applications::find_by_client_id(c, &"webapp".into())).unwrap().unwrap();
        let told = w.store.read_transaction(|c| backchannel_logout::applications_of_session(c, &sid)).unwrap();
        assert_eq!(told, [webapp.id.as_str().to_owned()]);
        endsession(&b, &[("id_token_hint", &id_token)]);
        let received = receiver.wait_for(1, WAIT);
        assert_eq!(received.len(), 1);
        assert_logout_token(&w, &received[0], "webapp", &sid);
        wait_until_drained(&w);
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(receiver.received().len(), 1, "nothing for `other` (no URI) nor `unused` (not signed in)");
    }

    fn a_session_without_any_application_with_a_uri_queues_nothing(db: TestDatabase) {
        let w = world(&db);
        let (b, id_token, claims) = signed_in(&w);
        let sid = claims["sid"].as_str().unwrap().to_owned();
        assert!(w.store.read_transaction(|c| backchannel_logout::applications_of_session(c, &sid)).unwrap().is_empty());
        let queued = w.store.write_transaction(|c| backchannel_logout::enqueue_for_session(c, &sid, tessera::now())).unwrap();
        assert_eq!(queued, 0);
        endsession(&b, &[("id_token_hint", &id_token)]);
        assert!(w.store.read_transaction(|c| outbox::pending(c, KIND)).unwrap().is_empty(), "no job");
    }

    fn an_administrator_ending_a_users_sessions_sends_logout_tokens(db: TestDatabase) {
        let receiver = HttpReceiver::start();
        let (w, _data) = logout_world(&db, &["127.0.0.1"], &receiver.url("/bcl"));
        let (_b1, _, first) = signed_in(&w);
        let (_b2, _, second) = signed_in(&w);
        // What the console's "end all sessions" composes: the jobs and the end, one transaction.
        let now = tessera::now();
        let queued = w.store.write_transaction(|c| {
            let queued = backchannel_logout::enqueue_for_user(c, &w.alice, now)?;
            browser_sessions::end_all_of_user(c, &w.alice, now)?;
            Ok(queued)
        }).unwrap();
        assert_eq!(queued, 2);
        let received = receiver.wait_for(2, WAIT);
        assert_eq!(received.len(), 2);
        let mut sids: Vec<String> = received.iter().map(|r| payload(&r.form_value("logout_token").unwrap())["sid"].as_str().unwrap().to_owned()).collect();
        sids.sort();
        let mut expected = vec![first["sid"].as_str().unwrap().to_owned(), second["sid"].as_str().unwrap().to_owned()];
        expected.sort();
        assert_eq!(sids, expected);
        for request in &received {
            let sid = payload(&request.form_value("logout_token").unwrap())["sid"].as_str().unwrap().to_owned();
            assert_logout_token(&w, request, "webapp", &sid);
        }
        // Ended sessions are not told twice.
        assert_eq!(w.store.write_transaction(|c| backchannel_logout::enqueue_for_user(c, &w.alice, now)).unwrap(), 0);
    }

    fn disabling_a_user_through_the_api_sends_logout_tokens(db: TestDatabase) {
        let receiver = HttpReceiver::start();
        let (w, _data) = logout_world(&db, &["127.0.0.1"], &receiver.url("/bcl"));
        let (_b, _, claims) = signed_in(&w);
        let key = tessera_testkit::admin_key(&w.store);
        let reply = w.app.api(Method::PATCH, &format!("/api/v1/users/{}", w.alice), &key, &json!({ "disabled": true }));
        assert_eq!(reply.status(), 200);
        let received = receiver.wait_for(1, WAIT);
        assert_eq!(received.len(), 1);
        assert_logout_token(&w, &received[0], "webapp", claims["sid"].as_str().unwrap());
    }

    fn an_administrator_ending_sessions_wakes_the_delivery_at_once(db: TestDatabase) {
        // With a poll of a minute, only the wake after the change's commit can deliver
        // within the wait: disabling through the API, then ending a session through it.
        let receiver = HttpReceiver::start();
        let data = tempfile::tempdir().unwrap();
        let app = TestApp::spawn_with(RawSettings {
            outbound_private_hosts: vec!["127.0.0.1".into()],
            outbox_poll_interval_ms: 60_000,
            ..settings_for(&db, data.path())
        });
        let w = world_on(&db, app);
        set_backchannel_uri(&w, "webapp", Some(&receiver.url("/bcl")));
        let key = tessera_testkit::admin_key(&w.store);
        let (_b, _, claims) = signed_in(&w);
        let sid = claims["sid"].as_str().unwrap();
        let path = format!("/api/v1/users/{}/sessions/{sid}", w.alice);
        assert_eq!(w.app.api(Method::DELETE, &path, &key, &Value::Null).status(), 204);
        let received = receiver.wait_for(1, Duration::from_secs(10));
        assert_eq!(received.len(), 1, "delivered on the wake, not the minute's poll");
        assert_logout_token(&w, &received[0], "webapp", sid);
        let (_b, _, claims) = signed_in(&w);
        let reply = w.app.api(Method::PATCH, &format!("/api/v1/users/{}", w.alice), &key, &json!({ "disabled": true }));
        assert_eq!(reply.status(), 200);
        let received = receiver.wait_for(2, Duration::from_secs(10));
        assert_eq!(received.len(), 2, "delivered on the wake, not the minute's poll");
        assert_logout_token(&w, &received[1], "webapp", claims["sid"].as_str().unwrap());
    }

    fn a_failing_receiver_is_retried_until_it_answers(db: TestDatabase) {
        let receiver = HttpReceiver::start();
        receiver.fail_next(&[500, 503]);
        let (w, _data) = logout_world(&db, &["127.0.0.1"], &receiver.url("/bcl"));
        let (b, id_token, claims) = signed_in(&w);
        endsession(&b, &[("id_token_hint", &id_token)]);
        let received = receiver.wait_for(3, WAIT);
        assert_eq!(received.len(), 3, "two failures, then the success");
        let sid = claims["sid"].as_str().unwrap();
        for request in &received {
            assert_logout_token(&w, request, "webapp", sid);
        }
        let jtis: std::collections::BTreeSet<String> = received
            .iter()
            .map(|r| payload(&r.form_value("logout_token").unwrap())["jti"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(jtis.len(), 3, "each attempt signs a fresh token");
        wait_until_drained(&w);
        assert!(events(&w, "backchannel_logout.gave_up").is_empty());
    }

    fn a_receiver_that_never_succeeds_is_given_up_and_audited(db: TestDatabase) {
        let receiver = HttpReceiver::answering(500);
        let (w, _data) = logout_world(&db, &["127.0.0.1"], &receiver.url("/bcl"));
        let (b, id_token, claims) = signed_in(&w);
        endsession(&b, &[("id_token_hint", &id_token)]);
        assert_eq!(receiver.wait_for(3, WAIT).len(), 3);
        wait_until_drained(&w);
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(receiver.received().len(), 3, "no attempt past the limit");
        let gave_up = events(&w, "backchannel_logout.gave_up");
        assert_eq!(gave_up.len(), 1);
        assert_eq!(gave_up[0].actor, "system");
        assert_eq!(gave_up[0].summary["attempts"], 3);
        assert_eq!(gave_up[0].summary["sid"], claims["sid"]);
        assert!(gave_up[0].summary["error"].as_str().unwrap().contains("answered 500"), "{}", gave_up[0].summary);
        assert!(gave_up[0].summary.get("logout_token").is_none());
    }

    fn a_private_address_not_listed_is_refused_and_never_contacted(db: TestDatabase) {
        let receiver = HttpReceiver::start();
        // 127.0.0.1 may be registered (loopback, for development) but is not listed.
        let (w, _data) = logout_world(&db, &[], &receiver.url("/bcl"));
        let (b, id_token, _) = signed_in(&w);
        endsession(&b, &[("id_token_hint", &id_token)]);
        let deadline = Instant::now() + WAIT;
        let gave_up = loop {
            let events = events(&w, "backchannel_logout.gave_up");
            if !events.is_empty() {
                break events;
            }
            assert!(Instant::now() < deadline, "not given up");
            std::thread::sleep(Duration::from_millis(50));
        };
        assert_eq!(gave_up[0].summary["attempts"], 1, "a refusal is not retried");
        let error = gave_up[0].summary["error"].as_str().unwrap();
        assert!(error.contains("refused") && error.contains("127.0.0.1"), "{error}");
        assert!(receiver.received().is_empty(), "never contacted");
    }

    fn the_api_validates_and_shows_the_backchannel_logout_settings(db: TestDatabase) {
        let w = world(&db);
        let key = tessera_testkit::admin_key(&w.store);
        let base = json!({
            "name": "Billing", "app_type": "web", "redirect_uris": ["https://billing.example.test/cb"],
        });
        let count = |w: &World| w.store.read_transaction(applications::count).unwrap();
        let before = count(&w);
        for bad in ["https://billing.example.test/bcl#x", "http://billing.example.test/bcl", "/bcl",
            "javascript:alert(1)", "https://user@billing.example.test/bcl", ""] {
            let mut body = base.clone();
            body["backchannel_logout_uri"] = json!(bad);
            let reply = w.app.api(Method::POST, "/api/v1/applications", &key, &body);
            assert_eq!(reply.status(), 400, "{bad}");
            let error: Value = reply.json().unwrap();
            assert_eq!(error["error"], "invalid_request", "{bad}: {error}");
            assert_eq!(error["field"], "backchannel_logout_uri", "{bad}: {error}");
        }
        assert_eq!(count(&w), before, "nothing created");
        let mut body = base.clone();
        body["backchannel_logout_uri"] = json!("https://billing.example.test/bcl");
        body["backchannel_logout_session_required"] = json!(true);
        let reply = w.app.api(Method::POST, "/api/v1/applications", &key, &body);
        assert_eq!(reply.status(), 201);
        let created: Value = reply.json().unwrap();
        assert_eq!(created["backchannel_logout_uri"], "https://billing.example.test/bcl");
        assert_eq!(created["backchannel_logout_session_required"], true);
        let audit = events(&w, "application.create");
        assert_eq!(audit[0].summary["backchannel_logout_uri"], "https://billing.example.test/bcl");
        let discovery = w.app.discovery();
        assert_eq!(discovery["backchannel_logout_supported"], true);
        assert_eq!(discovery["backchannel_logout_session_supported"], true);
    }
}
