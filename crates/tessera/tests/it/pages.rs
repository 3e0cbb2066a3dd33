//! The sign-in, registration, claims and consent pages (docs/security.md, "Pages,
//! sessions, accounts", and the caching of the protocol endpoints): session ids that
//! change at sign-in and die at logout and after their timeouts, the cookie's attributes,
//! CSRF tokens on every form, the framing and caching policy of every page, 303 (never
//! 307) after a POST that carried credentials, sign-in throttling that proxies' headers
//! cannot dodge, and the password policy. Each test drives the real server on SQLite and
//! Postgres.

use std::time::{Duration, Instant};

use serde_json::Value;
use tessera_domain::{ClaimValueType, UserId};
use tessera_store::scopes::{self, ClaimTypeInput};
use tessera_store::{applications, connections, users};
use tessera_store::{browser_sessions, browser_sessions::NewSession, consents};
use tessera_tokens::{PasswordHasher, PasswordParams, SecretHash, generate_secret};

use crate::common::{self, security::*};

const LOCKED: &str = "Too many failed sign-ins. Try again in 15 minutes.";
const WRONG: &str = "The username or password is incorrect.";

/// `fussy`: requires consent and the custom claim `employee_id`.
fn with_fussy_app(w: &World) {
    let input = ClaimTypeInput {
        name: "employee_id".into(),
        display_name: "Employee id".into(),
        description: "Your number at work".into(),
        value_type: ClaimValueType::String,
        user_editable: false,
    };
    w.store.write_transaction(|c| scopes::create_claim_type(c, &input, tessera::now())).unwrap();
    let mut fussy = web_app(&[REDIRECT], &[LOGOUT]);
    fussy.require_consent = true;
    fussy.required_claims = vec!["employee_id".into()];
    add_app(w, "fussy", &fussy);
}

/// A new browser on the sign-in page of a `webapp` request: (browser, request, csrf).
fn on_sign_in_page(w: &World) -> (Browser, String, String) {
    let b = Browser::new(&w.app);
    let to_login = b.get(&authorize_path("webapp", REDIRECT, &[])).see_other();
    let (request, csrf) = form_of(&b, &to_login);
    (b, request, csrf)
}

fn sign_in_attempt(b: &Browser, request: &str, csrf: &str, login: &str, password: &str) -> Reply {
    b.post("/login", &[("request", request), ("csrf", csrf), ("login", login), ("password", password)])
}

/// The registration form of a new `webapp` request, submitted.
fn register(w: &World, username: &str, password: &str) -> (Browser, Reply) {
    let b = Browser::new(&w.app);
    let to_login = b.get(&authorize_path("webapp", REDIRECT, &[])).see_other();
    let page = b.get(&to_login.replacen("/login", "/register", 1));
    assert_eq!(page.status, 200, "{}", page.body);
    let (request, csrf) = (hidden(&page.body, "request"), hidden(&page.body, "csrf"));
    let reply =
        b.post("/register", &[("request", &request), ("csrf", &csrf), ("username", username), ("password", password)]);
    (b, reply)
}

fn signed_in(b: &Browser) -> bool {
    b.get(&authorize_path("webapp", REDIRECT, &[("prompt", "none")])).callback().contains_key("code")
}

fn set_cookie_of(reply: &Reply) -> String {
    let cookies = reply.set_cookies();
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    cookies[0].clone()
}

fn attributes(set_cookie: &str) -> Vec<String> {
    set_cookie.split(';').skip(1).map(|a| a.trim().to_ascii_lowercase()).collect()
}

fn assert_unframeable(reply: &Reply, what: &str) {
    let csp = reply.header("content-security-policy").unwrap_or_else(|| panic!("{what}: no CSP"));
    assert!(csp.split(';').any(|d| d.trim() == "frame-ancestors 'none'"), "{what}: {csp}");
    assert!(reply.header("content-type").unwrap().starts_with("text/html"), "{what}");
}

/// Starts a server whose issuer is https (it still listens on plain http for the test).
fn https_world(db: &common::TestDatabase) -> (World, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut raw = common::settings_for(db, dir.path());
    raw.issuer = "https://id.example.test".into();
    let app = common::TestApp::spawn_with(raw);
    (world_on(db, app), dir)
}

/// A session written straight to the store, for alice: its cookie value.
fn stored_session(w: &World, created: i64, expires_at: i64) -> String {
    let id = generate_secret();
    let new = NewSession {
        id_hash: id.hash().as_str().to_owned(),
        sid: generate_secret().expose()[..32].to_owned(),
        user_id: Some(w.alice.clone()),
        auth_time: Some(created),
        amr: vec!["pwd".into()],
        expires_at,
        ..NewSession::default()
    };
    w.store.write_transaction(|c| browser_sessions::create(c, &new, created)).unwrap();
    id.expose().to_owned()
}

fn error_text(body: &str) -> Option<&str> {
    [WRONG, LOCKED].into_iter().find(|m| body.contains(m))
}

/// The message shown beside the registration form's password field, unescaped.
fn password_error(body: &str) -> Option<String> {
    let start = r#"<p class="field-error" id="password-error"><span class="visually-hidden">Error: </span>"#;
    let rest = &body[body.find(start)? + start.len()..];
    Some(rest[..rest.find("</p>")?].replace("&#34;", "\"").replace("&quot;", "\""))
}

crate::both_backends! {
    fn the_session_id_changes_at_sign_in(db: TestDatabase) {
        let w = world(&db);
        let (b, request, csrf) = on_sign_in_page(&w);
        let anonymous = b.session().expect("authorize starts an anonymous session");
        let signed = sign_in_attempt(&b, &request, &csrf, "alice", PASSWORD);
        let after = b.session().expect("a session after sign-in");
        assert_ne!(after, anonymous, "a new session id at sign-in");
        assert!(set_cookie_of(&signed).contains(&after));
        // The pre-sign-in id is dead: it neither continues the request nor signs in.
        let old = Browser::new(&w.app);
        old.set_session("tessera_session", Some(&anonymous));
        let resume = old.get(&signed.see_other());
        assert_eq!(resume.status, 400, "the old id cannot continue the request: {}", resume.body);
        assert!(!signed_in(&old));
        assert!(b.get(&signed.see_other()).callback().contains_key("code"));
    }

    fn the_session_id_changes_at_registration(db: TestDatabase) {
        let w = world(&db);
        let b = Browser::new(&w.app);
        let to_login = b.get(&authorize_path("webapp", REDIRECT, &[])).see_other();
        let anonymous = b.session().unwrap();
        let page = b.get(&to_login.replacen("/login", "/register", 1));
        let (request, csrf) = (hidden(&page.body, "request"), hidden(&page.body, "csrf"));
        let reply = b.post("/register", &[("request", &request), ("csrf", &csrf), ("username", "bob"), ("password", "a long enough password")]);
        reply.see_other();
        assert_ne!(b.session().unwrap(), anonymous);
        let old = Browser::new(&w.app);
        old.set_session("tessera_session", Some(&anonymous));
        assert!(!signed_in(&old));
    }

    fn session_ids_carry_at_least_128_bits(db: TestDatabase) {
        let w = world(&db);
        let mut seen = Vec::new();
        for _ in 0..3 {
            let (b, request, csrf) = on_sign_in_page(&w);
            seen.push(b.session().unwrap());
            sign_in_attempt(&b, &request, &csrf, "alice", PASSWORD).see_other();
            seen.push(b.session().unwrap());
        }
        for id in &seen {
            let bytes = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, id)
                .unwrap_or_else(|e| panic!("{id}: {e}"));
            assert!(bytes.len() >= 16, "{id}");
        }
        let mut unique = seen.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), seen.len());
    }

    fn after_logout_the_old_cookie_gets_the_sign_in_page(db: TestDatabase) {
        let w = world(&db);
        // Logout confirmed on the page.
        let b = Browser::new(&w.app);
        tokens(&w, &b, &[]);
        let cookie = b.session().unwrap();
        let page = b.get("/connect/endsession");
        let csrf = hidden(&page.body, "csrf");
        let out = b.post("/connect/endsession/confirm", &[("csrf", &csrf), ("decision", "logout")]);
        assert_eq!(out.status, 200);
        assert!(b.session().is_none(), "the cookie is removed");
        // Logout with a hint.
        let b2 = Browser::new(&w.app);
        let id_token = tokens(&w, &b2, &[])["id_token"].as_str().unwrap().to_owned();
        let cookie2 = b2.session().unwrap();
        let query = format!("/connect/endsession?id_token_hint={id_token}");
        assert_eq!(b2.get(&query).status, 200);
        // The old cookies, replayed, get the sign-in page.
        for old in [cookie, cookie2] {
            let replay = Browser::new(&w.app);
            replay.set_session("tessera_session", Some(&old));
            let reply = replay.get(&authorize_path("webapp", REDIRECT, &[]));
            assert!(reply.see_other().starts_with("/login?"), "{:?}", reply.location());
            assert_ne!(replay.session().as_deref(), Some(old.as_str()), "a new session, not the old one");
            let replay = Browser::new(&w.app);
            replay.set_session("tessera_session", Some(&old));
            assert!(!signed_in(&replay));
        }
    }

    fn idle_and_absolute_session_timeouts_end_the_session(db: TestDatabase) {
        let w = world(&db);
        let now = tessera::now();
        let fresh = stored_session(&w, now - 60, now + 3600);
        let idle = stored_session(&w, now - 2 * 3600 - 60, now + 10 * 3600);
        let too_old = stored_session(&w, now - 13 * 3600, now - 3600);
        w.store.write_transaction(|c| browser_sessions::touch(c, SecretHash::of(&too_old).as_str(), now)).unwrap();
        let b = Browser::new(&w.app);
        b.set_session("tessera_session", Some(&fresh));
        assert!(signed_in(&b), "the control session is alive");
        for (what, id) in [("idle for over 2 hours", idle), ("past its absolute timeout", too_old)] {
            let b = Browser::new(&w.app);
            b.set_session("tessera_session", Some(&id));
            let reply = b.get(&authorize_path("webapp", REDIRECT, &[("prompt", "none")]));
            assert_eq!(reply.callback()["error"], "login_required", "{what}");
            let b = Browser::new(&w.app);
            b.set_session("tessera_session", Some(&id));
            assert!(b.get(&authorize_path("webapp", REDIRECT, &[])).see_other().starts_with("/login?"), "{what}");
        }
    }

    fn cookies_are_http_only_and_same_site_lax(db: TestDatabase) {
        let w = world(&db);
        let (b, request, csrf) = on_sign_in_page(&w);
        let signed = sign_in_attempt(&b, &request, &csrf, "alice", PASSWORD);
        let anonymous = Browser::new(&w.app).get(&authorize_path("webapp", REDIRECT, &[]));
        let (_, registered) = register(&w, "bob", "a long enough password");
        for (what, reply) in [("anonymous", &anonymous), ("sign-in", &signed), ("registration", &registered)] {
            let cookie = set_cookie_of(reply);
            assert!(cookie.starts_with("tessera_session="), "{what}: {cookie}");
            let attributes = attributes(&cookie);
            assert!(attributes.contains(&"httponly".to_owned()), "{what}: {cookie}");
            assert!(attributes.contains(&"samesite=lax".to_owned()), "{what}: {cookie}");
            assert!(attributes.contains(&"path=/".to_owned()), "{what}: {cookie}");
            assert!(!attributes.iter().any(|a| a.starts_with("domain")), "{what}: {cookie}");
            assert!(!attributes.contains(&"secure".to_owned()), "{what}: http issuer: {cookie}");
            assert!(reply.header("strict-transport-security").is_none(), "{what}: no HSTS over http");
        }
    }

    fn with_an_https_issuer_cookies_are_secure_and_host_prefixed_and_hsts_is_sent(db: TestDatabase) {
        let (w, _dir) = https_world(&db);
        let b = Browser::new(&w.app);
        let start = b.get(&authorize_path("webapp", REDIRECT, &[]));
        let to_login = start.see_other();
        let (request, csrf) = form_of(&b, &to_login);
        let signed = sign_in_attempt(&b, &request, &csrf, "alice", PASSWORD);
        for (what, reply) in [("anonymous", &start), ("sign-in", &signed)] {
            let cookie = set_cookie_of(reply);
            assert!(cookie.starts_with("__Host-tessera_session="), "{what}: {cookie}");
            let attributes = attributes(&cookie);
            for wanted in ["secure", "httponly", "samesite=lax", "path=/"] {
                assert!(attributes.contains(&wanted.to_owned()), "{what}: {wanted} missing in {cookie}");
            }
            assert!(!attributes.iter().any(|a| a.starts_with("domain")), "{what}: __Host- forbids Domain: {cookie}");
        }
        let callback = b.get(&signed.see_other()).callback();
        assert_eq!(callback["iss"], "https://id.example.test");
        // A cookie without the prefix is not the session.
        let plain = Browser::new(&w.app);
        plain.set_session("tessera_session", b.session().as_deref());
        assert!(plain.get(&authorize_path("webapp", REDIRECT, &[])).see_other().starts_with("/login?"));
        // HSTS on pages and protocol endpoints.
        for path in ["/.well-known/openid-configuration", &to_login, "/connect/endsession"] {
            let reply = Browser::new(&w.app).get(path);
            let hsts = reply.header("strict-transport-security").unwrap_or_else(|| panic!("{path}: no HSTS"));
            assert!(hsts.contains("max-age="), "{path}: {hsts}");
        }
    }

    fn every_form_requires_its_csrf_token(db: TestDatabase) {
        let w = world(&db);
        with_fussy_app(&w);
        let stranger = Browser::new(&w.app);
        let (_, stranger_csrf) = form_of(&stranger, &stranger.get(&authorize_path("fussy", REDIRECT, &[])).see_other());
        let bad_tokens: [Option<&str>; 4] = [None, Some(""), Some("0000000000000000000000000000000000000000000000000000000000000000"), Some(&stranger_csrf)];
        let post = |b: &Browser, path: &str, csrf: Option<&str>, fields: &[(&str, &str)]| {
            let mut form: Vec<(&str, &str)> = fields.to_vec();
            if let Some(csrf) = csrf {
                form.push(("csrf", csrf));
            }
            b.post(path, &form)
        };
        let assert_refused = |reply: &Reply, what: &str| {
            assert_eq!(reply.status, 400, "{what}: {}", reply.body);
            assert!(reply.set_cookies().is_empty(), "{what}: {:?}", reply.set_cookies());
            assert!(reply.location().is_none(), "{what}");
            assert_unframeable(reply, what);
        };
        let b = Browser::new(&w.app);
        let to_login = b.get(&authorize_path("fussy", REDIRECT, &[])).see_other();
        let (request, csrf) = form_of(&b, &to_login);
        // Registration: nothing created.
        for bad in bad_tokens {
            let reply = post(&b, "/register", bad, &[("request", &request), ("username", "mallory"), ("password", "a long enough password")]);
            assert_refused(&reply, &format!("register {bad:?}"));
        }
        assert!(w.store.read_transaction(|c| users::find_by_login(c, "mallory")).unwrap().is_none());
        // Sign-in: not signed in, even with the right password.
        for bad in bad_tokens {
            let reply = post(&b, "/login", bad, &[("request", &request), ("login", "alice"), ("password", PASSWORD)]);
            assert_refused(&reply, &format!("login {bad:?}"));
        }
        let resume = sign_in_attempt(&b, &request, &csrf, "alice", PASSWORD).see_other();
        // Required claims: nothing saved.
        let to_claims = b.get(&resume).see_other();
        assert!(to_claims.starts_with("/login/claims?"), "{to_claims}");
        let (_, csrf) = form_of(&b, &to_claims);
        for bad in bad_tokens {
            let reply = post(&b, "/login/claims", bad, &[("request", &request), ("claim.employee_id", "E-1")]);
            assert_refused(&reply, &format!("claims {bad:?}"));
        }
        let alice = w.store.read_transaction(|c| users::get(c, &w.alice)).unwrap();
        assert!(!w.store.read_transaction(|c| users::claim_values(c, &alice)).unwrap().contains_key("employee_id"));
        let saved = post(&b, "/login/claims", Some(&csrf), &[("request", &request), ("claim.employee_id", "E-1")]);
        // Consent: nothing remembered, nothing issued.
        let to_consent = b.get(&saved.see_other()).see_other();
        assert!(to_consent.starts_with("/consent?"), "{to_consent}");
        let (_, csrf) = form_of(&b, &to_consent);
        for bad in bad_tokens {
            for decision in ["allow", "deny"] {
                let reply = post(&b, "/consent", bad, &[("request", &request), ("decision", decision)]);
                assert_refused(&reply, &format!("consent {decision} {bad:?}"));
            }
        }
        let app = w.store.read_transaction(|c| applications::find_by_client_id(c, &"fussy".into())).unwrap().unwrap();
        assert!(w.store.read_transaction(|c| consents::get_consent(c, &w.alice, &app.id)).unwrap().is_none());
        let allowed = post(&b, "/consent", Some(&csrf), &[("request", &request), ("decision", "allow")]);
        assert!(b.get(&allowed.see_other()).callback().contains_key("code"));
        // Logout confirmation: still signed in.
        let page = b.get("/connect/endsession");
        let csrf = hidden(&page.body, "csrf");
        for bad in bad_tokens {
            let reply = post(&b, "/connect/endsession/confirm", bad, &[("decision", "logout")]);
            assert_refused(&reply, &format!("logout {bad:?}"));
            assert!(signed_in(&b), "logout {bad:?}");
        }
        let out = post(&b, "/connect/endsession/confirm", Some(&csrf), &[("decision", "logout")]);
        assert_eq!(out.status, 200);
        assert!(!signed_in(&b));
    }

    fn authorize_sign_in_consent_and_error_pages_forbid_framing(db: TestDatabase) {
        let w = world(&db);
        with_fussy_app(&w);
        let b = Browser::new(&w.app);
        let mut pages: Vec<(String, Reply)> = Vec::new();
        pages.push(("authorize error page".into(), b.get(&authorize_path("nobody", REDIRECT, &[]))));
        pages.push(("expired request".into(), b.get("/connect/authorize/resume?request=nope")));
        let to_login = b.get(&authorize_path("fussy", REDIRECT, &[])).see_other();
        let login = b.get(&to_login);
        let (request, csrf) = (hidden(&login.body, "request"), hidden(&login.body, "csrf"));
        pages.push(("sign-in".into(), login));
        pages.push(("registration".into(), b.get(&to_login.replacen("/login", "/register", 1))));
        pages.push(("wrong password".into(), sign_in_attempt(&b, &request, &csrf, "alice", "not the password")));
        pages.push(("bad form".into(), sign_in_attempt(&b, &request, "x", "alice", PASSWORD)));
        let resume = sign_in_attempt(&b, &request, &csrf, "alice", PASSWORD).see_other();
        let to_claims = b.get(&resume).see_other();
        let claims = b.get(&to_claims);
        let csrf = hidden(&claims.body, "csrf");
        pages.push(("required claims".into(), claims));
        let saved = b.post("/login/claims", &[("request", &request), ("csrf", &csrf), ("claim.employee_id", "E-1")]);
        let consent = b.get(&b.get(&saved.see_other()).see_other());
        pages.push(("consent".into(), consent));
        pages.push(("logout confirmation".into(), b.get("/connect/endsession")));
        pages.push(("form_post".into(), b.get(&authorize_path("webapp", REDIRECT, &[("response_mode", "form_post"), ("prompt", "none")]))));
        pages.push(("signed out".into(), Browser::new(&w.app).get("/connect/endsession")));
        for (what, reply) in &pages {
            assert_unframeable(reply, what);
            assert_eq!(reply.header("x-frame-options"), Some("DENY"), "{what}");
        }
    }

    fn failed_sign_ins_are_throttled_per_account_with_a_clear_message(db: TestDatabase) {
        let w = world(&db);
        add_user(&w.store, "bob", PASSWORD);
        let (b, request, csrf) = on_sign_in_page(&w);
        for login in ["alice", "nobody"] {
            for attempt in 1..=5 {
                let reply = sign_in_attempt(&b, &request, &csrf, login, "not the password");
                assert_eq!((reply.status, error_text(&reply.body)), (200, Some(WRONG)), "{login} attempt {attempt}");
            }
            // Locked, even with the right password.
            let reply = sign_in_attempt(&b, &request, &csrf, login, PASSWORD);
            assert_eq!((reply.status, error_text(&reply.body)), (429, Some(LOCKED)), "{login}: {}", reply.body);
            assert!(reply.set_cookies().is_empty() && reply.location().is_none(), "{login}");
        }
        // Letter case and spaces do not make another account.
        let reply = sign_in_attempt(&b, &request, &csrf, " ALICE ", PASSWORD);
        assert_eq!(reply.status, 429);
        assert!(!signed_in(&b));
        // Another account from the same address is not locked.
        let reply = sign_in_attempt(&b, &request, &csrf, "bob", PASSWORD);
        reply.see_other();
    }

    fn failed_sign_ins_are_throttled_per_ip(db: TestDatabase) {
        let w = world(&db);
        let (b, request, csrf) = on_sign_in_page(&w);
        for i in 0..30 {
            let reply = sign_in_attempt(&b, &request, &csrf, &format!("nobody-{i}"), "not the password");
            assert_eq!((reply.status, error_text(&reply.body)), (200, Some(WRONG)), "attempt {i}");
        }
        let reply = sign_in_attempt(&b, &request, &csrf, "alice", PASSWORD);
        assert_eq!((reply.status, error_text(&reply.body)), (429, Some(LOCKED)), "{}", reply.body);
        // From a new browser too: the lock is on the address.
        let (other, request, csrf) = on_sign_in_page(&w);
        assert_eq!(sign_in_attempt(&other, &request, &csrf, "alice", PASSWORD).status, 429);
        assert!(!signed_in(&other));
    }

    fn spoofed_x_forwarded_for_does_not_change_the_throttled_ip(db: TestDatabase) {
        let w = world(&db);
        let (b, request, csrf) = on_sign_in_page(&w);
        let attempt = |login: &str, password: &str, i: u32| {
            let spoof = format!("203.0.113.{i}");
            let form = [("request", request.as_str()), ("csrf", csrf.as_str()), ("login", login), ("password", password)];
            b.send(b.request(reqwest::Method::POST, "/login").form(&form)
                .header("x-forwarded-for", format!("{spoof}, 198.51.100.{i}"))
                .header("x-real-ip", spoof.clone())
                .header("forwarded", format!("for={spoof};proto=https")))
        };
        for i in 0..30 {
            let reply = attempt(&format!("nobody-{i}"), "not the password", i);
            assert_eq!(reply.status, 200, "attempt {i}");
        }
        let reply = attempt("alice", PASSWORD, 77);
        assert_eq!((reply.status, error_text(&reply.body)), (429, Some(LOCKED)), "{}", reply.body);
    }

    fn spoofed_forwarded_host_and_proto_change_nothing(db: TestDatabase) {
        let w = world(&db);
        let b = Browser::new(&w.app);
        let spoof = |request: reqwest::blocking::RequestBuilder| request
            .header("x-forwarded-host", "evil.test").header("x-forwarded-proto", "https")
            .header("forwarded", "host=evil.test;proto=https").header("x-forwarded-prefix", "/evil");
        let discovery = Reply::read(spoof(http().get(w.app.url("/.well-known/openid-configuration"))).send().unwrap());
        let metadata: Value = discovery.json();
        assert_eq!(metadata["issuer"], w.app.base);
        assert!(!discovery.body.contains("evil"), "{}", discovery.body);
        let start = b.send(spoof(b.request(reqwest::Method::GET, &authorize_path("webapp", REDIRECT, &[]))));
        assert!(start.see_other().starts_with("/login?"));
        let cookie = set_cookie_of(&start);
        assert!(cookie.starts_with("tessera_session=") && !attributes(&cookie).contains(&"secure".to_owned()), "{cookie}");
        assert!(start.header("strict-transport-security").is_none());
        let callback = complete(&b, start, "alice", PASSWORD).callback();
        assert_eq!(callback["iss"], w.app.base);
    }

    fn an_unknown_user_and_a_wrong_password_get_the_same_message_status_and_timing(db: TestDatabase) {
        // Real argon2 costs, so that skipping the hash for unknown users would show.
        let dir = tempfile::tempdir().unwrap();
        let mut raw = common::settings_for(&db, dir.path());
        raw.argon2_memory_kib = PasswordParams::OWASP.memory_kib;
        raw.argon2_iterations = PasswordParams::OWASP.iterations;
        let w = world_on(&db, common::TestApp::spawn_with(raw));
        let hasher = PasswordHasher::new(PasswordParams::OWASP).unwrap();
        let carol = users::NewUser { username: "carol".into(), password_hash: Some(hasher.hash(PASSWORD).unwrap()), ..Default::default() };
        w.store.write_transaction(|c| users::create(c, &carol, tessera::now())).unwrap();
        let (b, request, csrf) = on_sign_in_page(&w);
        let mut times = [Duration::MAX, Duration::MAX];
        let mut bodies = [String::new(), String::new()];
        for i in 0..4 {
            for (k, login) in [(0, "carol".to_owned()), (1, format!("carl{i}"))] {
                let started = Instant::now();
                let reply = sign_in_attempt(&b, &request, &csrf, &login, "not the password");
                times[k] = times[k].min(started.elapsed());
                assert_eq!(reply.status, 200, "{login}");
                assert_eq!(error_text(&reply.body), Some(WRONG), "{login}");
                bodies[k] = reply.body.replace(&login, "LOGIN");
            }
        }
        assert_eq!(bodies[0], bodies[1], "the same page for an unknown user and a wrong password");
        let (known, unknown) = (times[0].as_secs_f64(), times[1].as_secs_f64());
        assert!(unknown > known / 3.0 && known > unknown / 3.0, "wrong password {known:.3}s, unknown user {unknown:.3}s");
    }

    fn a_password_of_seven_characters_is_refused_at_registration(db: TestDatabase) {
        let w = world(&db);
        let (b, reply) = register(&w, "shorty", "1234567");
        assert_eq!(reply.status, 400, "{}", reply.body);
        assert!(reply.body.contains("at least 8"), "{}", reply.body);
        assert!(reply.location().is_none() && reply.set_cookies().is_empty());
        assert!(w.store.read_transaction(|c| users::find_by_login(c, "shorty")).unwrap().is_none());
        assert!(!signed_in(&b));
        // Eight characters pass the length rule; these eight are then refused as common.
        let (_, reply) = register(&w, "eighter", "12345678");
        assert_eq!(reply.status, 400, "{}", reply.body);
        let message = password_error(&reply.body).expect("a message beside the password field");
        assert!(message.starts_with("This password is too common"), "{message}");
    }

    fn registration_honours_the_password_min_score_setting(db: TestDatabase) {
        let dir = tempfile::tempdir().unwrap();
        let mut raw = common::settings_for(&db, dir.path());
        raw.password_min_score = 4;
        let w = world_on(&db, common::TestApp::spawn_with(raw));
        // zxcvbn scores it 3: accepted by default (the unit tests show it), not at 4.
        let (_, reply) = register(&w, "fine", "a fine password");
        assert_eq!(reply.status, 400, "{}", reply.body);
        let message = password_error(&reply.body).expect("a message beside the password field");
        assert!(message.starts_with("This password is too easy to guess"), "{message}");
        register(&w, "fine", "purple giraffes eat quietly at noon").1.see_other();
    }

    fn a_common_password_or_eight_spaces_is_refused_at_registration_beside_the_field(db: TestDatabase) {
        let w = world(&db);
        for (username, password, why) in [
            ("common", "password", "This password is too common"),
            ("spaces", "        ", "This password is too easy to guess. Repeats like"),
            ("quokkaorbit", "quokkaorbit42", "This password is too easy to guess: it is built from your username"),
        ] {
            let (b, reply) = register(&w, username, password);
            assert_eq!(reply.status, 400, "{password:?}: {}", reply.body);
            let message = password_error(&reply.body).expect("a message beside the password field");
            assert!(message.starts_with(why), "{password:?}: {message}");
            assert!(reply.body.contains(r#"aria-describedby="password-hint password-error""#));
            assert!(reply.location().is_none() && reply.set_cookies().is_empty());
            assert!(w.store.read_transaction(|c| users::find_by_login(c, username)).unwrap().is_none(), "{username} was created");
            assert!(!signed_in(&b));
        }
    }

    fn passwords_of_64_characters_and_more_are_accepted_and_never_truncated(db: TestDatabase) {
        let w = world(&db);
        let sixty_four = "purple giraffes eat quietly at noon while seven otters juggle ok".to_owned();
        assert_eq!(sixty_four.chars().count(), 64);
        register(&w, "sixtyfour", &sixty_four).1.see_other();
        let long: String = "Tr0ub4dor&3-é-".chars().cycle().take(100).collect();
        register(&w, "longpass", &long).1.see_other();
        for (login, password) in [("sixtyfour", &sixty_four), ("longpass", &long)] {
            let chars: Vec<char> = password.chars().collect();
            for cut in [chars.len() - 1, 72.min(chars.len() - 1), 63] {
                let prefix: String = chars[..cut].iter().collect();
                let (b, request, csrf) = on_sign_in_page(&w);
                let reply = sign_in_attempt(&b, &request, &csrf, login, &prefix);
                assert_eq!((reply.status, error_text(&reply.body)), (200, Some(WRONG)), "{login}: first {cut} characters");
            }
            let (b, request, csrf) = on_sign_in_page(&w);
            sign_in_attempt(&b, &request, &csrf, login, password).see_other();
        }
    }

    fn passwords_are_stored_with_argon2id(db: TestDatabase) {
        let w = world(&db);
        register(&w, "hashed", "a long enough password").1.see_other();
        let user = w.store.read_transaction(|c| users::find_by_login(c, "hashed")).unwrap().unwrap();
        let hash = user.password_hash.unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(!hash.contains("a long enough password"));
    }

    fn cache_control_no_store_on_token_userinfo_introspection_and_every_page(db: TestDatabase) {
        let w = world(&db);
        with_fussy_app(&w);
        let api_secret = generate_secret();
        let new = connections::NewApiConnection { name: "orders-api".into(), display_name: "Orders".into(), description: String::new(), access_token_format: None, resource_uri: None, requirement: None };
        w.store.write_transaction(|c| connections::create(c, &new, api_secret.hash().as_str(), tessera::now())).unwrap();
        let mut replies: Vec<(String, Reply)> = Vec::new();
        // Pages along a whole flow.
        let b = Browser::new(&w.app);
        let start = b.get(&authorize_path("fussy", REDIRECT, &[("scope", "openid offline_access")]));
        let to_login = start.location().unwrap().to_owned();
        replies.push(("authorize redirect".into(), start));
        let login = b.get(&to_login);
        let (request, csrf) = (hidden(&login.body, "request"), hidden(&login.body, "csrf"));
        replies.push(("sign-in".into(), login));
        replies.push(("registration".into(), b.get(&to_login.replacen("/login", "/register", 1))));
        replies.push(("wrong password".into(), sign_in_attempt(&b, &request, &csrf, "alice", "nope-nope")));
        replies.push(("bad form".into(), sign_in_attempt(&b, &request, "x", "alice", PASSWORD)));
        let signed = sign_in_attempt(&b, &request, &csrf, "alice", PASSWORD);
        let resume = b.get(signed.location().unwrap());
        replies.push(("sign-in redirect".into(), signed));
        let claims = b.get(resume.location().unwrap());
        replies.push(("resume".into(), resume));
        let csrf = hidden(&claims.body, "csrf");
        replies.push(("required claims".into(), claims));
        let saved = b.post("/login/claims", &[("request", &request), ("csrf", &csrf), ("claim.employee_id", "E-1")]);
        let consent = b.get(&b.get(saved.location().unwrap()).see_other());
        let csrf = hidden(&consent.body, "csrf");
        replies.push(("consent".into(), consent));
        let allowed = b.post("/consent", &[("request", &request), ("csrf", &csrf), ("decision", "allow")]);
        let answer = b.get(allowed.location().unwrap());
        let code = answer.callback()["code"].clone();
        replies.push(("code redirect".into(), answer));
        replies.push(("form_post".into(), b.get(&authorize_path("fussy", REDIRECT, &[("response_mode", "form_post")]))));
        replies.push(("error page".into(), b.get(&authorize_path("nobody", REDIRECT, &[]))));
        replies.push(("expired".into(), b.get("/connect/authorize/resume?request=nope")));
        replies.push(("logout confirmation".into(), b.get("/connect/endsession")));
        replies.push(("signed out".into(), Browser::new(&w.app).get("/connect/endsession")));
        // Token, userinfo, introspection, revocation.
        let issued = redeem(&w, "fussy", &code, REDIRECT, Some(VERIFIER));
        let tokens = issued.json();
        replies.push(("token".into(), issued));
        replies.push(("token error".into(), redeem(&w, "fussy", &code, REDIRECT, Some(VERIFIER))));
        replies.push(("token 401".into(), Reply::read(http().post(w.app.url("/connect/token")).basic_auth("fussy", Some("x"))
            .form(&[("grant_type", "refresh_token")]).send().unwrap())));
        replies.push(("token 405".into(), Reply::read(http().get(w.app.url("/connect/token")).send().unwrap())));
        let access = tokens["access_token"].as_str().unwrap();
        replies.push(("userinfo".into(), userinfo(&w, access)));
        replies.push(("userinfo 401".into(), userinfo(&w, "nope")));
        replies.push(("userinfo no token".into(), Reply::read(http().get(w.app.url("/connect/userinfo")).send().unwrap())));
        replies.push(("introspection".into(), Reply::read(http().post(w.app.url("/connect/introspect"))
            .basic_auth("orders-api", Some(api_secret.expose())).form(&[("token", access)]).send().unwrap())));
        replies.push(("introspection 401".into(), Reply::read(http().post(w.app.url("/connect/introspect"))
            .basic_auth("orders-api", Some("x")).form(&[("token", access)]).send().unwrap())));
        replies.push(("revocation".into(), Reply::read(http().post(w.app.url("/connect/revocation"))
            .basic_auth("fussy", Some(&w.secret)).form(&[("token", tokens["refresh_token"].as_str().unwrap())]).send().unwrap())));
        for (what, reply) in &replies {
            assert_no_store(reply, what);
        }
    }
    fn a_session_id_chosen_by_the_browser_is_never_adopted(db: TestDatabase) {
        let w = world(&db);
        let b = Browser::new(&w.app);
        let chosen = "attacker-chosen-session-id-0123456789";
        b.set_session("tessera_session", Some(chosen));
        let to_login = b.get(&authorize_path("webapp", REDIRECT, &[])).see_other();
        let anonymous = b.session().unwrap();
        assert_ne!(anonymous, chosen, "an unknown id is replaced, not adopted");
        let (request, csrf) = form_of(&b, &to_login);
        sign_in_attempt(&b, &request, &csrf, "alice", PASSWORD).see_other();
        let attacker = Browser::new(&w.app);
        attacker.set_session("tessera_session", Some(chosen));
        assert!(!signed_in(&attacker));
    }

    fn a_pending_request_and_its_csrf_token_are_bound_to_the_browser_that_started_it(db: TestDatabase) {
        let w = world(&db);
        let (victim, request, victim_csrf) = on_sign_in_page(&w);
        let (attacker, _, attacker_csrf) = on_sign_in_page(&w);
        // The attacker's own session and token with the victim's request, and the reverse.
        for (b, csrf) in [(&attacker, &attacker_csrf), (&attacker, &victim_csrf)] {
            let reply = sign_in_attempt(b, &request, csrf, "alice", PASSWORD);
            assert_eq!(reply.status, 400, "{}", reply.body);
            assert!(reply.set_cookies().is_empty());
        }
        assert!(!signed_in(&attacker));
        assert_eq!(attacker.get(&format!("/connect/authorize/resume?request={request}")).status, 400);
        sign_in_attempt(&victim, &request, &victim_csrf, "alice", PASSWORD).see_other();
    }

    fn credentials_in_a_url_are_never_accepted(db: TestDatabase) {
        let w = world(&db);
        let (b, request, csrf) = on_sign_in_page(&w);
        // GET with the sign-in form's fields in the query: the page, not a sign-in.
        let query = format!("/login?request={request}&csrf={csrf}&login=alice&password=correct+horse+battery+staple");
        let reply = b.get(&query);
        assert_eq!(reply.status, 200);
        assert!(reply.set_cookies().is_empty());
        assert!(!signed_in(&b));
        // The token endpoint reads client credentials from the body or the header, not the URL.
        let url = w.app.url(&format!("/connect/token?client_id=webapp&client_secret={}", w.secret));
        let reply = Reply::read(http().post(url).form(&[("grant_type", "refresh_token"), ("refresh_token", "x")]).send().unwrap());
        assert_eq!(reply.status, 401, "{}", reply.body);
        assert_eq!(reply.json()["error"], "invalid_client");
    }

    fn values_from_the_request_are_escaped_on_every_page(db: TestDatabase) {
        let w = world(&db);
        let b = Browser::new(&w.app);
        let hostile = "\"><script>alert(1)</script>";
        let to_login = b.get(&authorize_path("webapp", REDIRECT, &[("login_hint", hostile)])).see_other();
        let page = b.get(&to_login);
        assert!(!page.body.contains("<script>alert(1)"), "{}", page.body);
        let error = b.get(&authorize_path(hostile, REDIRECT, &[]));
        assert!(!error.body.contains("<script>alert(1)"), "{}", error.body);
        let (request, csrf) = (hidden(&page.body, "request"), hidden(&page.body, "csrf"));
        let failed = sign_in_attempt(&b, &request, &csrf, hostile, "not the password");
        assert!(!failed.body.contains("<script>alert(1)"), "{}", failed.body);
        let form_post = b.get(&authorize_path("webapp", REDIRECT, &[("response_mode", "form_post"), ("response_type", "token"), ("state", hostile)]));
        assert!(!form_post.body.contains("<script>alert(1)"), "{}", form_post.body);
    }

    fn a_post_that_carried_credentials_is_answered_with_303_never_307(db: TestDatabase) {
        let w = world(&db);
        let b = Browser::new(&w.app);
        // A form POST to authorize, the sign-in form and the consent form.
        let mut consenting = web_app(&[REDIRECT], &[LOGOUT]);
        consenting.require_consent = true;
        add_app(&w, "consenting", &consenting);
        let start = b.post("/connect/authorize", &[("response_type", "code"), ("client_id", "consenting"),
            ("redirect_uri", REDIRECT), ("scope", "openid"), ("code_challenge", CHALLENGE), ("code_challenge_method", "S256")]);
        let to_login = start.see_other();
        let (request, csrf) = form_of(&b, &to_login);
        let signed = b.post("/login", &[("request", &request), ("csrf", &csrf), ("login", "alice"), ("password", PASSWORD)]);
        let to_consent = b.get(&signed.see_other()).see_other();
        let (_, csrf) = form_of(&b, &to_consent);
        let allowed = b.post("/consent", &[("request", &request), ("csrf", &csrf), ("decision", "allow")]);
        let code = b.get(&allowed.see_other()).callback()["code"].clone();
        // Registration.
        let r = Browser::new(&w.app);
        let (request, csrf) = form_of(&r, &r.get(&authorize_path("webapp", REDIRECT, &[])).see_other());
        let registered = r.post("/register", &[("request", &request), ("csrf", &csrf), ("username", "bob"), ("password", "a long enough password")]);
        registered.see_other();
        // Logout with a hint, as a POST.
        let tokens = redeem(&w, "consenting", &code, REDIRECT, Some(VERIFIER)).json();
        let id_token = tokens["id_token"].as_str().unwrap();
        let out = b.post("/connect/endsession", &[("id_token_hint", id_token), ("post_logout_redirect_uri", LOGOUT)]);
        out.see_other();
        for reply in [&start, &signed, &allowed, &registered, &out] {
            assert_ne!(reply.status, 307);
            assert_ne!(reply.status, 308);
        }
    }
}

/// The 2026-12 security review (findings 1, 8 and 10): throttling under parallel
/// attempts, one bucket per account, lockouts in the audit log.
mod review_2026_12;

/// The 2026-12 security review, findings 3, 4 and 9: verified flags are the provider's
/// to set, and a taken email on the required-claims page is a field error.
mod review_2026_12_claims;

/// The 2026-12 security review, finding 15: unauthenticated requests leave little behind,
/// and not for long.
mod review_2026_12_durable_rows;

/// The 2026-12 security review, finding 9: registration tells no more than it must, and
/// only at a bounded rate.
mod review_2026_12_registration;
