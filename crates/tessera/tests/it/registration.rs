//! Dynamic client registration (RFC 7591) at `/connect/register`: closed by default,
//! gated by initial access tokens (expiry, quota spent atomically), or open and rate
//! limited per address; the metadata checked by the applications' rules with the
//! RFC 7591 §3.2.2 error codes; a registered client completing the code flow with PKCE
//! and consent; RFC 7592 read, update and delete with the registration access token.
//! Client ID Metadata Documents are in `cimd`. Each test runs on SQLite and Postgres.

mod cimd;

use serde_json::{Value, json};
use tessera::settings::RawSettings;
use tessera_admin::api::initial_access_tokens::{self as tokens_api, NewInitialAccessToken};
use tessera_domain::ApplicationSettings;
use tessera_store::applications::{self, RegistrationKind};
use tessera_store::audit::{self, AuditFilter};
use tessera_store::client_registrations;
use tessera_store::initial_access_tokens;
use tessera_tokens::SecretHash;

use crate::common::security::*;
use crate::common::{TestApp, TestDatabase, settings_for};

/// A server whose `client_registration` is `mode`, with `more` settings, and the security
/// world (alice, `webapp`, `other`) on it.
fn registration_world(
    db: &TestDatabase,
    mode: &str,
    more: impl FnOnce(RawSettings) -> RawSettings,
) -> (World, tempfile::TempDir) {
    let data = tempfile::tempdir().unwrap();
    let raw = RawSettings { client_registration: mode.into(), ..settings_for(db, data.path()) };
    let app = TestApp::spawn_with(more(raw));
    (world_on(db, app), data)
}

/// `POST /connect/register` with `body` as JSON, and `Authorization: Bearer <token>`.
fn register(w: &World, token: Option<&str>, body: &Value) -> Reply {
    let request = http().post(w.app.url("/connect/register")).json(body);
    let request = match token {
        Some(token) => request.bearer_auth(token),
        None => request,
    };
    Reply::read(request.send().unwrap())
}

/// A request to the client configuration endpoint `uri` with the registration access
/// token `token` (no header when `None`).
fn manage(method: reqwest::Method, uri: &str, token: Option<&str>, body: Option<&Value>) -> Reply {
    let mut request = http().request(method, uri);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    Reply::read(request.send().unwrap())
}

/// Issues an initial access token with `quota` uses: its id and the token.
fn initial_access_token(w: &World, quota: i64) -> (String, String) {
    let input = NewInitialAccessToken { quota: Some(quota), expires_in: Some(3600), note: Some("test".into()) };
    let (created, token) = tokens_api::issue(&w.store, &tessera::commands::CommandLine, input).unwrap();
    (created.id, token.expose().to_owned())
}

fn native_metadata() -> Value {
    json!({
        "redirect_uris": [LOOPBACK],
        "application_type": "native",
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"],
        "client_name": "Agent CLI",
        "software_id": "agent-cli",
        "software_version": "1.2.3",
    })
}

fn registered_apps(w: &World) -> usize {
    let all = w.store.read_transaction(applications::all).unwrap();
    all.iter().filter(|a| a.registration.is_some()).count()
}

fn events(w: &World, action: &str) -> Vec<audit::AuditEvent> {
    let filter = AuditFilter { action: Some(action.into()), ..Default::default() };
    w.store.read_transaction(|c| audit::list(c, &filter, &tessera_store::Page::first(50))).unwrap().items
}

fn uses_left(w: &World, id: &str) -> i64 {
    w.store.read_transaction(|c| initial_access_tokens::get(c, id)).unwrap().uses_left
}

crate::both_backends! {
    fn a_client_registers_its_jwks_uri_and_request_uris_and_gets_them_back(db: TestDatabase) {
        let (w, _data) = registration_world(&db, "open", |raw| raw);
        let reply = register(&w, None, &json!({
            "redirect_uris": [REDIRECT],
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks_uri": "https://app.example.test/jwks.json",
            "request_uris": ["https://app.example.test/requests/1.jwt"],
        }));
        assert_eq!(reply.status, 201, "{}", reply.body);
        let body = reply.json();
        assert_eq!(body["jwks_uri"], "https://app.example.test/jwks.json");
        assert_eq!(body["request_uris"], json!(["https://app.example.test/requests/1.jwt"]));
        assert!(body.get("client_secret").is_none(), "private_key_jwt: no secret");
        let client_id = body["client_id"].as_str().unwrap();
        let app = w.store.read_transaction(|c| applications::find_by_client_id(c, &client_id.into())).unwrap().unwrap();
        assert_eq!(app.settings.jwks_uri.as_deref(), Some("https://app.example.test/jwks.json"));
        assert_eq!(app.settings.request_uris, ["https://app.example.test/requests/1.jwt"]);
    }

    fn open_registration_creates_a_confidential_client_shown_its_secret_once(db: TestDatabase) {
        let (w, _data) = registration_world(&db, "open", |raw| raw);
        let reply = register(&w, None, &json!({
            "redirect_uris": [REDIRECT],
            "client_name": "Orders dashboard",
            "client_uri": "https://app.example.test",
            "contacts": ["ops@app.example.test"],
            "ignored_metadata": true,
        }));
        assert_eq!(reply.status, 201, "{}", reply.body);
        assert_no_store(&reply, "registration");
        let body = reply.json();
        let client_id = body["client_id"].as_str().unwrap().to_owned();
        let secret = body["client_secret"].as_str().unwrap();
        let token = body["registration_access_token"].as_str().unwrap();
        assert!(secret.len() >= 43 && token.len() >= 43, "256-bit secrets: {body}");
        assert_eq!(body["client_secret_expires_at"], 0);
        assert!(body["client_id_issued_at"].as_i64().unwrap() > 0);
        assert_eq!(body["registration_client_uri"], format!("{}/connect/register/{client_id}", w.app.base));
        assert_eq!(body["redirect_uris"], json!([REDIRECT]));
        assert_eq!(body["grant_types"], json!(["authorization_code"]));
        assert_eq!(body["response_types"], json!(["code"]));
        assert_eq!(body["token_endpoint_auth_method"], "client_secret_basic");
        assert_eq!(body["application_type"], "web");
        assert_eq!(body["scope"], "email openid profile");
        assert_eq!(body["client_name"], "Orders dashboard");
        assert_eq!(body["client_uri"], "https://app.example.test");
        assert_eq!(body["contacts"], json!(["ops@app.example.test"]));
        assert!(body.get("ignored_metadata").is_none());

        let app = w.store.read_transaction(|c| applications::find_by_client_id(c, &client_id.as_str().into())).unwrap().unwrap();
        assert_eq!(app.registration, Some(RegistrationKind::Dynamic));
        assert!(app.settings.require_consent, "consent is always asked of registered clients");
        assert_eq!(app.settings.allowed_scopes, ["email", "openid", "profile"]);
        let secrets = w.store.read_transaction(|c| applications::live_secrets(c, &app.id, tessera::now())).unwrap();
        assert_eq!(secrets.len(), 1);
        assert_eq!(secrets[0].secret_hash, SecretHash::of(secret).as_str(), "only the hash is kept");
        let registration = w.store.read_transaction(|c| client_registrations::get(c, &app.id)).unwrap().unwrap();
        assert_eq!(registration.access_token_hash.as_deref(), Some(SecretHash::of(token).as_str()));
        let audited = events(&w, "application.registered");
        assert_eq!(audited.len(), 1);
        assert_eq!(audited[0].actor, "anonymous");
        assert_eq!(audited[0].target, format!("application:{}", app.id));
        assert!(!audited[0].summary.to_string().contains(secret));

        // The client authenticates with its secret at once.
        let reply = Reply::read(w.app.token(Some((&client_id, secret)), &[("grant_type", "authorization_code"), ("code", "x")]));
        assert_oauth_error(&reply, 400, "invalid_grant", "authenticated, then the code is refused");
        let discovery = w.app.discovery();
        assert_eq!(discovery["registration_endpoint"], format!("{}/connect/register", w.app.base));
    }

    fn a_registered_native_client_completes_the_code_flow_with_pkce_after_consent(db: TestDatabase) {
        let (w, _data) = registration_world(&db, "open", |raw| raw);
        let reply = register(&w, None, &native_metadata());
        assert_eq!(reply.status, 201, "{}", reply.body);
        let body = reply.json();
        assert!(body.get("client_secret").is_none(), "a public client has no secret: {body}");
        assert!(body.get("client_secret_expires_at").is_none());
        assert_eq!(body["application_type"], "native");
        assert_eq!(body["software_id"], "agent-cli");
        let client_id = body["client_id"].as_str().unwrap().to_owned();

        let b = Browser::new(&w.app);
        // RFC 8252 §7.3: a native client's loopback redirect may come back on any port.
        let redirect = "http://127.0.0.1:4711/cb";
        // Consent is asked (complete() answers the consent page), then the code comes.
        let first = b.get(&authorize_path(&client_id, redirect, &[("scope", "openid profile")]));
        let login = first.location().unwrap().to_owned();
        assert!(login.starts_with("/login?"), "{login}");
        let (request, csrf) = form_of(&b, &login);
        let signed_in = b.post("/login", &[("request", &request), ("csrf", &csrf), ("login", "alice"), ("password", PASSWORD)]);
        let mut reply = signed_in;
        let mut consent_asked = false;
        while let Some(next) = reply.location().map(str::to_owned) {
            if next.starts_with("/consent?") {
                consent_asked = true;
                break;
            }
            if !next.starts_with('/') {
                break;
            }
            reply = b.get(&next);
        }
        assert!(consent_asked, "consent is required of a registered client: {reply:?}");
        let reply = complete(&b, reply, "alice", PASSWORD);
        let callback = reply.callback();
        assert_eq!(callback["state"], "st-1");
        let consents = w.store.read_transaction(|c| tessera_store::consents::list_of_user(c, &w.alice)).unwrap();
        assert!(consents.iter().any(|(_, app)| app.client_id.as_str() == client_id), "alice consented");
        let tokens = redeem_public(&w, &client_id, &callback["code"], redirect, VERIFIER);
        assert_eq!(tokens.status, 200, "{}", tokens.body);
        let tokens = tokens.json();
        assert_eq!(tokens["scope"], "openid profile");
        let id_token = verified(&w, tokens["id_token"].as_str().unwrap());
        assert_eq!(id_token["aud"], client_id.as_str());
        assert!(tokens["refresh_token"].is_string() || tokens.get("refresh_token").is_none());
    }

    fn the_consent_page_says_a_registered_client_named_itself_and_shows_its_redirect_host(db: TestDatabase) {
        let (w, _data) = registration_world(&db, "open", |raw| raw);
        let reply = register(&w, None, &json!({
            "redirect_uris": [REDIRECT],
            "client_name": "Tessera Admin",
            "logo_uri": "https://logo.example.test/trust-me.png",
        }));
        assert_eq!(reply.status, 201, "{}", reply.body);
        let client_id = reply.json()["client_id"].as_str().unwrap().to_owned();
        let b = Browser::new(&w.app);
        let page = consent_page(&b, &authorize_path(&client_id, REDIRECT, &[]));
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.body.contains("<span class=\"client\">Tessera Admin</span>"), "{}", page.body);
        assert!(page.body.contains("<strong>This application registered itself.</strong>"), "{}", page.body);
        assert!(
            page.body.contains("you will be sent to <strong class=\"host\">app.example.test</strong>"),
            "{}",
            page.body
        );
        assert!(!page.body.contains("logo.example.test") && !page.body.contains("<img"), "no client logo");

        // An application an administrator registered gets no such notice.
        add_app(&w, "vouched", &ApplicationSettings { require_consent: true, ..web_app(&[REDIRECT], &[]) });
        let page = consent_page(&Browser::new(&w.app), &authorize_path("vouched", REDIRECT, &[]));
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(!page.body.contains("registered itself"), "{}", page.body);
    }

    fn registration_is_closed_by_default_and_not_in_discovery(db: TestDatabase) {
        let w = world(&db);
        let reply = register(&w, None, &native_metadata());
        assert_oauth_error(&reply, 403, "access_denied", "closed");
        assert_eq!(registered_apps(&w), 0);
        let discovery = w.app.discovery();
        assert!(discovery.get("registration_endpoint").is_none(), "{discovery}");
        assert!(discovery.get("client_id_metadata_document_supported").is_none(), "{discovery}");
        let reply = Reply::read(http().get(w.app.url("/connect/register")).send().unwrap());
        assert_eq!(reply.status, 405);
    }

    fn with_initial_access_tokens_a_registration_needs_a_valid_unexpired_token_with_uses_left(db: TestDatabase) {
        let (w, _data) = registration_world(&db, "initial_access_token", |raw| raw);
        let missing = register(&w, None, &native_metadata());
        assert_oauth_error(&missing, 401, "invalid_token", "no initial access token");
        assert_invalid_token(&missing, "no initial access token");
        let wrong = register(&w, Some("not-a-token"), &native_metadata());
        assert_invalid_token(&wrong, "unknown token");

        let (id, token) = initial_access_token(&w, 2);
        let reply = register(&w, Some(&token), &native_metadata());
        assert_eq!(reply.status, 201, "{}", reply.body);
        assert_eq!(uses_left(&w, &id), 1);
        let audited = events(&w, "application.registered");
        assert_eq!(audited[0].actor, format!("initial_access_token:{id}"));

        // Bad metadata spends nothing: the use and the client are one transaction.
        let bad = register(&w, Some(&token), &json!({ "redirect_uris": ["http://app.example.test/cb"] }));
        assert_oauth_error(&bad, 400, "invalid_redirect_uri", "plain http");
        assert_eq!(uses_left(&w, &id), 1);
        assert_eq!(register(&w, Some(&token), &native_metadata()).status, 201);
        assert_eq!(uses_left(&w, &id), 0);
        let spent = register(&w, Some(&token), &native_metadata());
        assert_invalid_token(&spent, "quota used up");
        assert_eq!(registered_apps(&w), 2);

        // An expired token is refused.
        let expired = tessera_tokens::generate_secret();
        let now = tessera::now();
        w.store.write_transaction(|c| initial_access_tokens::create(c, expired.hash().as_str(), "old", 5, now - 1, now - 100)).unwrap();
        assert_invalid_token(&register(&w, Some(expired.expose()), &native_metadata()), "expired token");
        assert_eq!(registered_apps(&w), 2);
        assert_eq!(w.app.discovery()["registration_endpoint"], format!("{}/connect/register", w.app.base));
    }

    fn a_bad_initial_access_token_is_refused_before_the_metadata_is_read(db: TestDatabase) {
        let (w, _data) = registration_world(&db, "initial_access_token", |raw| raw);
        let bad_metadata = json!({ "redirect_uris": ["http://app.example.test/cb"] });
        let not_json = || {
            http().post(w.app.url("/connect/register")).header("content-type", "text/plain").body("{")
        };
        assert_invalid_token(&register(&w, Some("not-a-token"), &bad_metadata), "unknown token, bad metadata");
        assert_invalid_token(&Reply::read(not_json().bearer_auth("not-a-token").send().unwrap()), "unknown token, no JSON");

        let now = tessera::now();
        let expired = tessera_tokens::generate_secret();
        w.store.write_transaction(|c| initial_access_tokens::create(c, expired.hash().as_str(), "old", 5, now - 1, now - 100)).unwrap();
        assert_invalid_token(&register(&w, Some(expired.expose()), &bad_metadata), "expired token, bad metadata");

        let (id, token) = initial_access_token(&w, 1);
        // A valid token with bad metadata: the metadata's error, and the use is kept.
        assert_oauth_error(&register(&w, Some(&token), &bad_metadata), 400, "invalid_redirect_uri", "valid token");
        let reply = Reply::read(not_json().bearer_auth(&token).send().unwrap());
        assert_oauth_error(&reply, 400, "invalid_client_metadata", "valid token, no JSON");
        assert_eq!(uses_left(&w, &id), 1);
        assert_eq!(register(&w, Some(&token), &native_metadata()).status, 201);
        // Spent: the token's error, not the metadata's.
        assert_invalid_token(&register(&w, Some(&token), &bad_metadata), "spent token, bad metadata");
        assert_eq!(registered_apps(&w), 1);
        assert_eq!(uses_left(&w, &id), 0);
    }

    fn parallel_registrations_on_a_quota_of_three_give_exactly_three_clients(db: TestDatabase) {
        let (w, _data) = registration_world(&db, "initial_access_token", |raw| raw);
        let (id, token) = initial_access_token(&w, 3);
        let statuses: Vec<u16> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..10)
                .map(|_| scope.spawn(|| register(&w, Some(&token), &native_metadata()).status))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 3, "{statuses:?}");
        assert_eq!(statuses.iter().filter(|s| **s == 401).count(), 7, "{statuses:?}");
        assert_eq!(registered_apps(&w), 3);
        assert_eq!(uses_left(&w, &id), 0);
    }

    fn every_metadata_refusal_has_its_rfc_7591_code_and_writes_nothing(db: TestDatabase) {
        // Refusals count against the per-address budget too: a larger one for this test.
        let (w, _data) = registration_world(&db, "open", |raw| RawSettings {
            rate_limit_client_registration_per_ip: "1000/h".into(),
            ..raw
        });
        let ok = |more: Value| {
            let mut doc = json!({ "redirect_uris": [REDIRECT] });
            for (k, v) in more.as_object().unwrap() {
                doc[k] = v.clone();
            }
            doc
        };
        let cases: Vec<(&str, Value, &str)> = vec![
            ("no redirect URI", json!({ "client_name": "x" }), "invalid_redirect_uri"),
            ("plain http", json!({ "redirect_uris": ["http://app.example.test/cb"] }), "invalid_redirect_uri"),
            ("fragment", json!({ "redirect_uris": ["https://app.example.test/cb#x"] }), "invalid_redirect_uri"),
            ("javascript", json!({ "redirect_uris": ["javascript:alert(1)"] }), "invalid_redirect_uri"),
            ("software statement", ok(json!({ "software_statement": "a.b.c" })), "invalid_software_statement"),
            ("jwks_uri on a private address", ok(json!({ "token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "https://10.0.0.1/jwks" })), "invalid_client_metadata"),
            ("request_uris on a private address", ok(json!({ "request_uris": ["https://10.0.0.1/request.jwt"] })), "invalid_client_metadata"),
            ("request_uris over http", ok(json!({ "request_uris": ["http://app.example.test/request.jwt"] })), "invalid_client_metadata"),
            ("implicit", ok(json!({ "response_types": ["token"] })), "invalid_client_metadata"),
            ("hybrid", ok(json!({ "response_types": ["code id_token"] })), "invalid_client_metadata"),
            ("client credentials", ok(json!({ "grant_types": ["client_credentials"] })), "invalid_client_metadata"),
            ("password", ok(json!({ "grant_types": ["authorization_code", "password"] })), "invalid_client_metadata"),
            ("unknown grant", ok(json!({ "grant_types": ["magic"] })), "invalid_client_metadata"),
            ("closed scope", ok(json!({ "scope": "openid offline_access" })), "invalid_client_metadata"),
            ("unknown auth method", ok(json!({ "token_endpoint_auth_method": "tls_client_auth" })), "invalid_client_metadata"),
            ("native with a secret", ok(json!({ "application_type": "native" })), "invalid_client_metadata"),
            ("unknown application type", ok(json!({ "application_type": "tv" })), "invalid_client_metadata"),
            ("private_key_jwt without keys", ok(json!({ "token_endpoint_auth_method": "private_key_jwt" })), "invalid_client_metadata"),
            ("http logo", ok(json!({ "logo_uri": "http://app.example.test/logo.png" })), "invalid_client_metadata"),
            ("too many contacts", ok(json!({ "contacts": vec!["a@b.test"; 11] })), "invalid_client_metadata"),
            ("list as a string", json!({ "redirect_uris": REDIRECT }), "invalid_client_metadata"),
            ("array document", json!([REDIRECT]), "invalid_client_metadata"),
            ("http back-channel logout", ok(json!({ "backchannel_logout_uri": "http://app.example.test/bc" })), "invalid_client_metadata"),
            ("empty name", ok(json!({ "client_name": "" })), "invalid_client_metadata"),
        ];
        for (what, doc, code) in cases {
            let reply = register(&w, None, &doc);
            assert_oauth_error(&reply, 400, code, what);
            assert!(reply.json().get("client_id").is_none(), "{what}");
        }
        let not_json = Reply::read(http().post(w.app.url("/connect/register"))
            .header("content-type", "application/json").body("{").send().unwrap());
        assert_oauth_error(&not_json, 400, "invalid_client_metadata", "not JSON");
        let form = Reply::read(http().post(w.app.url("/connect/register"))
            .form(&[("redirect_uris", REDIRECT)]).send().unwrap());
        assert_oauth_error(&form, 400, "invalid_client_metadata", "a form");
        assert_eq!(registered_apps(&w), 0);
        assert!(events(&w, "application.registered").is_empty());
    }

    fn open_registration_is_rate_limited_per_address(db: TestDatabase) {
        let (w, _data) = registration_world(&db, "open", |raw| RawSettings {
            rate_limit_client_registration_per_ip: "2/h".into(),
            ..raw
        });
        assert_eq!(register(&w, None, &native_metadata()).status, 201);
        assert_eq!(register(&w, None, &native_metadata()).status, 201);
        let third = register(&w, None, &native_metadata());
        assert_oauth_error(&third, 429, "temporarily_unavailable", "third registration within the hour");
        let wait: u64 = third.header("retry-after").unwrap().parse().unwrap();
        assert!((1..=1800).contains(&wait), "{wait}");
        assert_eq!(registered_apps(&w), 2);
    }

    fn the_client_reads_updates_and_deletes_its_registration_with_its_access_token(db: TestDatabase) {
        let (w, _data) = registration_world(&db, "open", |raw| raw);
        let created = register(&w, None, &json!({ "redirect_uris": [REDIRECT], "client_name": "Before" })).json();
        let uri = created["registration_client_uri"].as_str().unwrap().to_owned();
        let token = created["registration_access_token"].as_str().unwrap().to_owned();
        let client_id = created["client_id"].as_str().unwrap().to_owned();
        let secret = created["client_secret"].as_str().unwrap().to_owned();

        let read = manage(reqwest::Method::GET, &uri, Some(&token), None);
        assert_eq!(read.status, 200, "{}", read.body);
        assert_no_store(&read, "read");
        let read = read.json();
        assert_eq!(read["client_id"], client_id.as_str());
        assert_eq!(read["client_name"], "Before");
        assert_eq!(read["registration_client_uri"], uri.as_str());
        assert!(read.get("client_secret").is_none() && read.get("registration_access_token").is_none(), "{read}");

        let mut update = json!({ "client_id": client_id, "redirect_uris": [OTHER_REDIRECT], "client_name": "After",
            "grant_types": ["authorization_code", "refresh_token"], "scope": "openid email" });
        let wrong_secret = manage(reqwest::Method::PUT, &uri, Some(&token), Some(&json!({
            "client_id": client_id, "client_secret": "nope", "redirect_uris": [OTHER_REDIRECT] })));
        assert_oauth_error(&wrong_secret, 400, "invalid_client_metadata", "a client_secret that is not its own");
        let without_id = manage(reqwest::Method::PUT, &uri, Some(&token), Some(&json!({ "redirect_uris": [OTHER_REDIRECT] })));
        assert_oauth_error(&without_id, 400, "invalid_client_metadata", "no client_id");
        let bad = manage(reqwest::Method::PUT, &uri, Some(&token), Some(&json!({ "client_id": client_id, "redirect_uris": ["http://x.test/cb"] })));
        assert_oauth_error(&bad, 400, "invalid_redirect_uri", "same rules as registration");
        update["client_secret"] = json!(secret);
        let updated = manage(reqwest::Method::PUT, &uri, Some(&token), Some(&update));
        assert_eq!(updated.status, 200, "{}", updated.body);
        let updated = updated.json();
        assert_eq!(updated["client_name"], "After");
        assert_eq!(updated["redirect_uris"], json!([OTHER_REDIRECT]));
        assert_eq!(updated["scope"], "email openid");
        assert!(updated.get("client_secret").is_none(), "the secret is unchanged and not shown: {updated}");
        let app = w.store.read_transaction(|c| applications::find_by_client_id(c, &client_id.as_str().into())).unwrap().unwrap();
        assert_eq!(app.settings.name, "After");
        assert_eq!(app.settings.redirect_uris, [OTHER_REDIRECT]);
        assert_eq!(events(&w, "application.registration_updated").len(), 1);
        // The registration access token is not rotated: it still reads.
        assert_eq!(manage(reqwest::Method::GET, &uri, Some(&token), None).json()["client_name"], "After");

        let deleted = manage(reqwest::Method::DELETE, &uri, Some(&token), None);
        assert_eq!(deleted.status, 204, "{}", deleted.body);
        assert!(w.store.read_transaction(|c| applications::find_by_client_id(c, &client_id.as_str().into())).unwrap().is_none());
        assert_invalid_token(&manage(reqwest::Method::GET, &uri, Some(&token), None), "deleted");
        let audited = events(&w, "application.registration_deleted");
        assert_eq!(audited.len(), 1);
        assert_eq!(audited[0].actor, format!("client:{client_id}"));
    }

    fn deleting_a_registration_ends_the_tokens_it_was_issued(db: TestDatabase) {
        let (w, _data) = registration_world(&db, "open", |raw| raw);
        let created = register(&w, None, &native_metadata()).json();
        let client_id = created["client_id"].as_str().unwrap().to_owned();
        let b = Browser::new(&w.app);
        let callback = code_for(&b, &authorize_path(&client_id, LOOPBACK, &[]));
        let tokens = redeem_public(&w, &client_id, &callback["code"], LOOPBACK, VERIFIER).json();
        let access_token = tokens["access_token"].as_str().unwrap().to_owned();
        assert_eq!(userinfo(&w, &access_token).status, 200);
        let uri = created["registration_client_uri"].as_str().unwrap();
        let token = created["registration_access_token"].as_str().unwrap();
        assert_eq!(manage(reqwest::Method::DELETE, uri, Some(token), None).status, 204);
        assert_invalid_token(&userinfo(&w, &access_token), "the deleted client's token");
    }

    fn a_wrong_registration_access_token_gets_the_same_401_whether_or_not_the_client_exists(db: TestDatabase) {
        let (w, _data) = registration_world(&db, "open", |raw| raw);
        let first = register(&w, None, &native_metadata()).json();
        let second = register(&w, None, &native_metadata()).json();
        let uri = first["registration_client_uri"].as_str().unwrap();
        let others = second["registration_access_token"].as_str().unwrap();
        let unknown = format!("{}/connect/register/no-such-client", w.app.base);
        let cases = [
            ("no token", uri, None),
            ("wrong token", uri, Some("wrong")),
            ("another client's token", uri, Some(others)),
            ("unknown client", unknown.as_str(), Some(others)),
        ];
        let mut bodies = Vec::new();
        for (what, target, token) in cases {
            for method in [reqwest::Method::GET, reqwest::Method::PUT, reqwest::Method::DELETE] {
                let reply = manage(method.clone(), target, token, Some(&json!({})));
                assert_invalid_token(&reply, &format!("{what} {method}"));
                bodies.push(reply.body);
            }
        }
        bodies.dedup();
        assert_eq!(bodies.len(), 1, "one answer for all: {bodies:?}");
        assert_eq!(registered_apps(&w), 2, "nothing deleted");
        // An administrator's application has no registration to manage.
        let admin_app = format!("{}/connect/register/webapp", w.app.base);
        assert_invalid_token(&manage(reqwest::Method::GET, &admin_app, Some(others), None), "admin app");
    }
}
