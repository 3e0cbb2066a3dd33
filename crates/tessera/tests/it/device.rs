//! The device authorization grant (RFC 8628): `POST /connect/deviceauthorization` gives a
//! device code and a user code; the user enters the code at `/device`, signs in and
//! consents; the device polls the token endpoint (`authorization_pending`, `slow_down`,
//! `access_denied`, `expired_token`) until it gets tokens, once. Each test drives the
//! real server on SQLite and Postgres.

use std::cell::Cell;
use std::time::Duration;

use openidconnect::core::{CoreClient, CoreDeviceAuthorizationResponse, CoreProviderMetadata};
use openidconnect::{ClientId, DeviceAuthorizationUrl, IssuerUrl, Nonce, OAuth2TokenResponse, Scope, TokenResponse};
use serde_json::Value;
use tessera_domain::GrantType;
use tessera_store::applications::ApplicationSettings;
use tessera_store::device_codes;
use tessera_tokens::SecretHash;

use crate::common::security::*;

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// The world, with `tv` (a public native application with the device grant and refresh
/// tokens) and `tv2` (another one).
fn device_world(db: &tessera_testkit::TestDatabase) -> World {
    let w = world(db);
    for client_id in ["tv", "tv2"] {
        let settings = ApplicationSettings {
            grant_types: vec![GrantType::DeviceCode, GrantType::RefreshToken],
            ..native_app(&[])
        };
        add_app(&w, client_id, &settings);
    }
    w
}

/// `POST /connect/deviceauthorization` as the public client `client_id`.
fn authorize_device(w: &World, client_id: &str, scope: &str) -> Reply {
    let form = [("client_id", client_id), ("scope", scope)];
    Reply::read(http().post(w.app.url("/connect/deviceauthorization")).form(&form).send().unwrap())
}

/// A device authorization of `tv` for `openid offline_access`: its response.
fn started(w: &World) -> Value {
    let reply = authorize_device(w, "tv", "openid offline_access");
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()
}

/// One poll of the token endpoint by the public client `client_id`.
fn poll(w: &World, client_id: &str, device_code: &str) -> Reply {
    let form = [("grant_type", DEVICE_GRANT), ("device_code", device_code), ("client_id", client_id)];
    Reply::read(w.app.token(None, &form))
}

fn assert_token_error(reply: &Reply, error: &str, what: &str) {
    assert_eq!(reply.status, 400, "{what}: {}", reply.body);
    assert_eq!(reply.json()["error"], error, "{what}: {}", reply.body);
}

/// The verification page opened at `path`, then the code `typed` submitted: the reply.
fn enter(b: &Browser, path: &str, typed: &str) -> Reply {
    let page = b.get(path);
    assert_eq!(page.status, 200, "{}", page.body);
    assert_no_store(&page, "device page");
    let csrf = hidden(&page.body, "csrf");
    b.post("/device", &[("csrf", &csrf), ("user_code", typed)])
}

/// Follows the pages after a right code, signing in as alice; `decision` at consent.
fn decide(b: &Browser, reply: Reply, decision: &str) -> Reply {
    let mut reply = reply;
    for _ in 0..10 {
        let Some(next) = reply.location().map(str::to_owned) else { return reply };
        reply = if next.starts_with("/login?") {
            let (request, csrf) = form_of(b, &next);
            b.post("/login", &[("request", &request), ("csrf", &csrf), ("login", "alice"), ("password", PASSWORD)])
        } else if next.starts_with("/consent?") {
            let page = b.get(&next);
            assert!(page.body.contains("Web app") || page.body.contains("Allow"), "{}", page.body);
            let (request, csrf) = (hidden(&page.body, "request"), hidden(&page.body, "csrf"));
            b.post("/consent", &[("request", &request), ("csrf", &csrf), ("decision", decision)])
        } else {
            b.get(&next)
        };
    }
    panic!("the flow did not end: {reply:?}")
}

fn hash(device_code: &str) -> String {
    SecretHash::of(device_code).as_str().to_owned()
}

crate::both_backends! {
    fn a_device_gets_tokens_after_the_user_enters_the_code_signs_in_and_consents(db: TestDatabase) {
        let w = device_world(&db);
        let started = started(&w);
        let device_code = started["device_code"].as_str().unwrap();
        let user_code = started["user_code"].as_str().unwrap();
        assert!(device_code.len() >= 43, "256 bits: {device_code}");
        assert_eq!(user_code.len(), 9, "XXXX-XXXX: {user_code}");
        assert_eq!(&user_code[4..5], "-");
        assert!(user_code.bytes().filter(|b| *b != b'-').all(|b| b"BCDFGHJKLMNPQRSTVWXZ".contains(&b)), "{user_code}");
        assert_eq!(started["verification_uri"], format!("{}/device", w.app.base));
        assert_eq!(started["verification_uri_complete"], format!("{}/device?user_code={user_code}", w.app.base));
        assert_eq!((started["expires_in"].as_i64(), started["interval"].as_i64()), (Some(600), Some(5)));
        let stored = w.store.read_transaction(|c| device_codes::get(c, &hash(device_code))).unwrap().unwrap();
        assert_ne!(stored.device_code_hash, device_code, "stored as a hash");

        assert_token_error(&poll(&w, "tv", device_code), "authorization_pending", "before the user");

        // The complete URI pre-fills the code.
        let b = Browser::new(&w.app);
        let page = b.get(&format!("/device?user_code={user_code}"));
        assert!(page.body.contains(user_code), "{}", page.body);
        let done = decide(&b, enter(&b, &format!("/device?user_code={user_code}"), user_code), "allow");
        assert_eq!(done.status, 200, "{}", done.body);
        assert!(done.body.contains("return to your device"), "{}", done.body);

        let reply = poll(&w, "tv", device_code);
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_no_store(&reply, "token");
        let tokens = reply.json();
        assert_eq!(tokens["scope"], "offline_access openid");
        let id_token = verified(&w, tokens["id_token"].as_str().unwrap());
        assert_eq!(id_token["aud"], "tv");
        assert_eq!(id_token["sub"], w.alice.as_str());
        assert!(id_token["auth_time"].is_i64());
        // The refresh token works.
        let refresh = tokens["refresh_token"].as_str().unwrap();
        let form = [("grant_type", "refresh_token"), ("refresh_token", refresh), ("client_id", "tv")];
        let refreshed = Reply::read(w.app.token(None, &form));
        assert_eq!(refreshed.status, 200, "{}", refreshed.body);

        // Spent once.
        assert_token_error(&poll(&w, "tv", device_code), "invalid_grant", "a second poll after success");
    }

    fn the_openidconnect_crate_completes_the_device_flow_polling_until_the_user_allows(db: TestDatabase) {
        let w = device_world(&db);
        let http = http();
        let metadata = CoreProviderMetadata::discover(&IssuerUrl::new(w.app.base.clone()).unwrap(), &http).unwrap();
        let device_url = w.app.discovery()["device_authorization_endpoint"].as_str().unwrap().to_owned();
        let client = CoreClient::from_provider_metadata(metadata, ClientId::new("tv".into()), None)
            .set_device_authorization_url(DeviceAuthorizationUrl::new(device_url).unwrap());
        let details: CoreDeviceAuthorizationResponse = client
            .exchange_device_code()
            .add_scope(Scope::new("offline_access".into()))
            .request(&http)
            .unwrap();
        assert_eq!(details.interval(), Duration::from_secs(5));
        let user_code = details.user_code().secret().clone();
        // The first poll is pending; while the device waits, the user allows it.
        let b = Browser::new(&w.app);
        let waits = Cell::new(0);
        let sleep = |interval: Duration| {
            waits.set(waits.get() + 1);
            if waits.get() == 1 {
                let done = decide(&b, enter(&b, "/device", &user_code), "allow");
                assert_eq!(done.status, 200, "{}", done.body);
            }
            std::thread::sleep(interval);
        };
        let tokens = client.exchange_device_access_token(&details).unwrap().request(&http, sleep, None).unwrap();
        assert_eq!(waits.get(), 1, "one authorization_pending, then tokens");
        let id_token = tokens.id_token().expect("an ID token with openid");
        let no_nonce = |nonce: Option<&Nonce>| if nonce.is_none() { Ok(()) } else { Err("a nonce".to_owned()) };
        let claims = id_token.claims(&client.id_token_verifier(), no_nonce).unwrap();
        assert_eq!(claims.subject().as_str(), w.alice.as_str());
        assert!(tokens.refresh_token().is_some());
    }

    fn polling_faster_than_the_interval_is_slow_down_and_the_interval_grows(db: TestDatabase) {
        let w = device_world(&db);
        let started = started(&w);
        let device_code = started["device_code"].as_str().unwrap();
        assert_token_error(&poll(&w, "tv", device_code), "authorization_pending", "first poll");
        assert_token_error(&poll(&w, "tv", device_code), "slow_down", "second poll at once");
        let stored = w.store.read_transaction(|c| device_codes::get(c, &hash(device_code))).unwrap().unwrap();
        assert_eq!(stored.poll_interval, 10);
    }

    fn a_denial_at_consent_is_access_denied(db: TestDatabase) {
        let w = device_world(&db);
        let started = started(&w);
        let device_code = started["device_code"].as_str().unwrap();
        let b = Browser::new(&w.app);
        let done = decide(&b, enter(&b, "/device", started["user_code"].as_str().unwrap()), "deny");
        assert_eq!(done.status, 200, "{}", done.body);
        assert!(done.body.contains("did not allow"), "{}", done.body);
        assert_token_error(&poll(&w, "tv", device_code), "access_denied", "denied");
    }

    fn an_expired_device_code_is_expired_token_and_its_user_code_unknown(db: TestDatabase) {
        let w = device_world(&db);
        let started = started(&w);
        let device_code = started["device_code"].as_str().unwrap();
        w.store.write_transaction(|c| device_codes::expire(c, &hash(device_code), tessera::now())).unwrap();
        assert_token_error(&poll(&w, "tv", device_code), "expired_token", "expired");
        let b = Browser::new(&w.app);
        let reply = enter(&b, "/device", started["user_code"].as_str().unwrap());
        assert_eq!(reply.status, 400, "{}", reply.body);
        assert!(reply.body.contains("not valid, or it has expired"), "{}", reply.body);
    }

    fn consent_is_asked_for_every_device_even_when_remembered(db: TestDatabase) {
        let w = device_world(&db);
        let b = Browser::new(&w.app);
        let first = started(&w);
        decide(&b, enter(&b, "/device", first["user_code"].as_str().unwrap()), "allow");
        assert_eq!(poll(&w, "tv", first["device_code"].as_str().unwrap()).status, 200);
        // Signed in, consent remembered: the next device still goes to the consent page.
        let second = started(&w);
        let reply = enter(&b, "/device", second["user_code"].as_str().unwrap());
        assert_eq!(reply.status, 303, "{}", reply.body);
        assert!(reply.location().unwrap().starts_with("/consent?"), "{:?}", reply.location());
        assert_token_error(&poll(&w, "tv", second["device_code"].as_str().unwrap()), "authorization_pending", "not yet");
    }

    fn another_client_cannot_redeem_the_device_code(db: TestDatabase) {
        let w = device_world(&db);
        let started = started(&w);
        let device_code = started["device_code"].as_str().unwrap();
        let b = Browser::new(&w.app);
        decide(&b, enter(&b, "/device", started["user_code"].as_str().unwrap()), "allow");
        assert_token_error(&poll(&w, "tv2", device_code), "invalid_grant", "another client");
        // Still redeemable by its own client.
        assert_eq!(poll(&w, "tv", device_code).status, 200);
    }

    fn an_application_without_the_device_grant_is_unauthorized_client(db: TestDatabase) {
        let w = device_world(&db);
        let form = [("scope", "openid")];
        let request = http().post(w.app.url("/connect/deviceauthorization")).form(&form).basic_auth("webapp", Some(&w.secret));
        let reply = Reply::read(request.send().unwrap());
        assert_token_error(&reply, "unauthorized_client", "no device grant");
        // A polling client without the grant is refused at the token endpoint too.
        let form = [("grant_type", DEVICE_GRANT), ("device_code", "x")];
        assert_token_error(&token(&w, "webapp", &form), "unauthorized_client", "token endpoint");
        // Unknown scopes are refused as at authorize.
        assert_token_error(&authorize_device(&w, "tv", "openid nope"), "invalid_scope", "unknown scope");
        let discovery = w.app.discovery();
        assert_eq!(discovery["device_authorization_endpoint"], format!("{}/connect/deviceauthorization", w.app.base));
        assert!(discovery["grant_types_supported"].as_array().unwrap().iter().any(|g| g == DEVICE_GRANT));
    }

    fn wrong_user_codes_are_throttled_and_then_even_a_right_one_is_refused(db: TestDatabase) {
        let w = device_world(&db);
        let started = started(&w);
        let b = Browser::new(&w.app);
        for i in 0..10 {
            let reply = enter(&b, "/device", "BCDF-GHJK");
            assert_eq!(reply.status, 400, "wrong code {i}: {}", reply.body);
        }
        let reply = enter(&b, "/device", started["user_code"].as_str().unwrap());
        assert_eq!(reply.status, 429, "{}", reply.body);
        assert!(reply.body.contains("Too many codes"), "{}", reply.body);
    }

    fn user_codes_are_case_insensitive_and_dashes_are_ignored(db: TestDatabase) {
        let w = device_world(&db);
        let started = started(&w);
        let typed = started["user_code"].as_str().unwrap().replace('-', "").to_lowercase();
        let b = Browser::new(&w.app);
        let reply = enter(&b, "/device", &typed);
        assert_eq!(reply.status, 303, "{}", reply.body);
        assert!(reply.location().unwrap().starts_with("/login?"), "{:?}", reply.location());
        // A CSRF token from another session is refused.
        let other = Browser::new(&w.app);
        other.get("/device");
        let reply = other.post("/device", &[("csrf", "forged"), ("user_code", &typed)]);
        assert_eq!(reply.status, 400);
    }
}
