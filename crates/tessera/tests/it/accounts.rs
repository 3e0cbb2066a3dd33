//! Account lifecycle (docs/accounts.md): registration sends a verification link, the link
//! verifies the address once, "forgot password" answers alike for every name and mails a
//! single-use link, and a recovery ends every session and token of the user. Mail is read
//! from a real SMTP server on loopback; every test runs on SQLite and Postgres.

mod from_account_page;

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use tessera_store::account_tokens::{self, Purpose};
use tessera_store::applications::ApplicationSettings;
use tessera_store::{audit, users};
use tessera_testkit::smtp::{ReceivedMail, SmtpServer};

use crate::common::security::*;
use crate::common::{TestApp, TestDatabase, settings_for};

const NEW_PASSWORD: &str = "quiet lantern orbit meadow";

/// A world whose server sends mail to `smtp`, with `raw` tweaks.
fn mail_world(db: &TestDatabase, smtp: &SmtpServer, tweak: impl FnOnce(&mut tessera::settings::RawSettings)) -> World {
    let data = std::env::temp_dir().join(format!("tessera-accounts-{}", uuid::Uuid::now_v7().simple()));
    let mut raw = tessera::settings::RawSettings {
        smtp_url: Some(smtp.url()),
        mail_from: Some("id@quokka.test".into()),
        issuer_name: "Quokka ID".into(),
        ..settings_for(db, &data)
    };
    tweak(&mut raw);
    world_on(db, TestApp::spawn_with(raw))
}

/// The `n`th message (1-based) once it arrived.
fn mail(smtp: &SmtpServer, n: usize) -> ReceivedMail {
    let all = smtp.wait_for(n, Duration::from_secs(20));
    assert!(all.len() >= n, "expected {n} messages, got {}", all.len());
    all[n - 1].clone()
}

/// The link to `path` (`/account/verify/` or `/account/recover/`) in a message.
fn link(message: &ReceivedMail, path: &str) -> String {
    let text = message.decoded();
    let at = text.find(path).unwrap_or_else(|| panic!("no {path} link in {text}"));
    let token: String =
        text[at + path.len()..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect();
    assert!(token.len() >= 40, "{token}");
    format!("{path}{token}")
}

fn audited(w: &World, action: &str) -> usize {
    let page = tessera_store::Page::first(500);
    let events = w.store.read_transaction(|c| audit::list(c, &audit::AuditFilter::default(), &page)).unwrap();
    events.items.iter().filter(|e| e.action == action).count()
}

fn user(w: &World, login: &str) -> users::User {
    w.store.read_transaction(|c| users::find_by_login(c, login)).unwrap().unwrap()
}

/// Registers `username` with `email` through a `webapp` request: the browser and reply.
fn register(w: &World, username: &str, email: &str, password: &str) -> (Browser, Reply) {
    let b = Browser::new(&w.app);
    let to_login = b.get(&authorize_path("webapp", REDIRECT, &[])).see_other();
    let page = b.get(&to_login.replacen("/login", "/register", 1));
    let (request, csrf) = (hidden(&page.body, "request"), hidden(&page.body, "csrf"));
    let form = [
        ("request", request.as_str()),
        ("csrf", csrf.as_str()),
        ("username", username),
        ("email", email),
        ("password", password),
    ];
    let reply = b.post("/register", &form);
    (b, reply)
}

/// Follows a link's confirmation page and posts its form.
fn follow(b: &Browser, link: &str, form: &[(&str, &str)]) -> Reply {
    let page = b.get(link);
    assert_eq!(page.status, 200, "{}", page.body);
    assert_no_store(&page, link);
    assert_eq!(page.header("referrer-policy"), Some("no-referrer"));
    let csrf = hidden(&page.body, "csrf");
    let mut fields = vec![("csrf", csrf.as_str())];
    fields.extend_from_slice(form);
    b.post(link, &fields)
}

/// The forgot-password form of a new `webapp` request, posted with `login`.
fn forgot(w: &World, login: &str) -> Reply {
    let b = Browser::new(&w.app);
    let to_login = b.get(&authorize_path("webapp", REDIRECT, &[])).see_other();
    let sign_in = b.get(&to_login);
    assert!(sign_in.body.contains("/login/forgot?request="), "the sign-in page offers recovery");
    let (request, csrf) = form_of(&b, &to_login.replacen("/login", "/login/forgot", 1));
    b.post("/login/forgot", &[("request", &request), ("csrf", &csrf), ("login", login)])
}

crate::both_backends! {
    fn register_verify_sign_in_recover_and_the_old_refresh_token_is_refused(db: TestDatabase) {
        let smtp = SmtpServer::start();
        let w = mail_world(&db, &smtp, |_| {});
        let (b, reply) = register(&w, "carol", "Carol@Example.com", PASSWORD);
        assert_eq!(reply.status, 303, "{}", reply.body);
        assert!(complete(&b, reply, "carol", PASSWORD).callback().contains_key("code"));
        assert!(!user(&w, "carol").email_verified, "registration never vouches for the address");

        let verification = mail(&smtp, 1);
        assert_eq!(verification.to, ["carol@example.com"]);
        assert_eq!(verification.header("Subject").as_deref(), Some("Quokka ID: confirm your email address"));
        let verify = link(&verification, "/account/verify/");
        // Opening the link changes nothing: only the confirmation does.
        assert_eq!(b.get(&verify).status, 200);
        assert!(!user(&w, "carol").email_verified);
        let csrf = hidden(&b.get(&verify).body, "csrf");
        let done = b.post(&verify, &[("csrf", &csrf)]);
        assert_eq!(done.status, 200, "{}", done.body);
        assert!(done.body.contains("is confirmed"));
        assert!(user(&w, "carol").email_verified);
        assert_eq!(audited(&w, "user.email_verified"), 1);
        assert_eq!(b.post(&verify, &[("csrf", &csrf)]).status, 400, "a spent link");
        assert_eq!(b.get(&verify).status, 400);

        // Signed in elsewhere with a refresh token.
        let other = Browser::new(&w.app);
        let callback = {
            let first = other.get(&authorize_path("webapp", REDIRECT, &[("scope", "openid offline_access")]));
            complete(&other, first, "carol", PASSWORD).callback()
        };
        let issued = redeem(&w, "webapp", &callback["code"], REDIRECT, Some(VERIFIER));
        assert_eq!(issued.status, 200, "{}", issued.body);
        let refresh_token = issued.json()["refresh_token"].as_str().unwrap().to_owned();

        let asked = forgot(&w, "carol");
        assert_eq!(asked.status, 200, "{}", asked.body);
        assert!(asked.body.contains("a link to set a new password is on its way"));
        let recovery = mail(&smtp, 2);
        assert_eq!(recovery.header("Subject").as_deref(), Some("Quokka ID: set a new password"));
        let recover = link(&recovery, "/account/recover/");
        assert_eq!(audited(&w, "user.recovery_requested"), 1);

        // Bad input: errors beside the fields, nothing changed.
        let stranger = Browser::new(&w.app);
        let differ = follow(&stranger, &recover, &[("password", NEW_PASSWORD), ("password_confirm", "something else")]);
        assert_eq!(differ.status, 400);
        assert!(differ.body.contains("id=\"confirm-error\""), "{}", differ.body);
        let weak = follow(&stranger, &recover, &[("password", "carol"), ("password_confirm", "carol")]);
        assert_eq!(weak.status, 400);
        assert!(weak.body.contains("id=\"password-error\""), "{}", weak.body);
        let forged = stranger.post(&recover, &[("csrf", "0"), ("password", NEW_PASSWORD), ("password_confirm", NEW_PASSWORD)]);
        assert_eq!(forged.status, 400);
        let rotated = refresh(&w, "webapp", &refresh_token, None);
        assert_eq!(rotated.status, 200, "nothing revoked yet: {}", rotated.body);
        let refresh_token = rotated.json()["refresh_token"].as_str().unwrap().to_owned();

        let changed = follow(&stranger, &recover, &[("password", NEW_PASSWORD), ("password_confirm", NEW_PASSWORD)]);
        assert_eq!(changed.status, 200, "{}", changed.body);
        assert!(changed.body.contains("Your password was changed"));
        assert_no_store(&changed, "recovered");
        assert_eq!(audited(&w, "user.password_recovered"), 1);

        // Every session and token of the user is gone.
        let refused = refresh(&w, "webapp", &refresh_token, None);
        assert_eq!(refused.status, 400);
        assert_eq!(refused.json()["error"], "invalid_grant");
        let silent = other.get(&authorize_path("webapp", REDIRECT, &[("prompt", "none")])).callback();
        assert_eq!(silent.get("error").map(String::as_str), Some("login_required"));

        let notice = mail(&smtp, 3);
        assert_eq!(notice.header("Subject").as_deref(), Some("Quokka ID: your password was changed"));
        assert!(!notice.decoded().contains("/account/recover/"));

        // The link works once; the old password no longer does, the new one does.
        assert_eq!(stranger.get(&recover).status, 400);
        let reused = stranger.post(&recover, &[("csrf", "x"), ("password", PASSWORD), ("password_confirm", PASSWORD)]);
        assert_eq!(reused.status, 400);
        let fresh = Browser::new(&w.app);
        let first = fresh.get(&authorize_path("webapp", REDIRECT, &[]));
        let wrong = complete(&fresh, first, "carol", PASSWORD);
        assert_eq!(wrong.status, 200);
        assert!(wrong.body.contains("The username or password is incorrect."));
        let first = fresh.get(&authorize_path("webapp", REDIRECT, &[]));
        assert!(complete(&fresh, first, "carol", NEW_PASSWORD).callback().contains_key("code"));
    }

    fn forgot_password_answers_alike_for_unknown_names_and_mails_only_real_accounts(db: TestDatabase) {
        let smtp = SmtpServer::start();
        let w = mail_world(&db, &smtp, |_| {});
        let known = forgot(&w, "alice");
        let unknown = forgot(&w, "nobody-at-all");
        assert_eq!((known.status, unknown.status), (200, 200));
        let answer = |r: &Reply| r.body.contains("a link to set a new password is on its way");
        assert!(answer(&known) && answer(&unknown));
        let normal = |r: &Reply, login: &str| {
            r.body.replace(&hidden(&r.body, "request"), "R").replace(&hidden(&r.body, "csrf"), "C").replace(login, "L")
        };
        assert_eq!(normal(&known, "alice"), normal(&unknown, "nobody-at-all"), "the same page");
        // Within the resend interval, a second request mails nothing more (same answer).
        assert!(answer(&forgot(&w, "ALICE@example.com")));
        let received = smtp.wait_for(2, Duration::from_secs(3));
        assert_eq!(received.len(), 1, "one mail, to alice");
        assert_eq!(received[0].to, ["alice@example.com"]);
        let links = w.store.read_transaction(|c| account_tokens::count_of_user(c, &w.alice, Purpose::ResetPassword));
        assert_eq!(links.unwrap(), 1);

        // Bad input: an error beside the field, nothing sent.
        let empty = forgot(&w, "  ");
        assert_eq!(empty.status, 400);
        assert!(empty.body.contains("id=\"login-error\""), "{}", empty.body);
        let b = Browser::new(&w.app);
        let to_login = b.get(&authorize_path("webapp", REDIRECT, &[])).see_other();
        let (request, _) = form_of(&b, &to_login.replacen("/login", "/login/forgot", 1));
        let forged = b.post("/login/forgot", &[("request", &request), ("csrf", "nope"), ("login", "alice")]);
        assert_eq!(forged.status, 400);
        assert_eq!(smtp.received().len(), 1);
    }

    fn a_link_of_another_purpose_or_an_unknown_token_does_nothing(db: TestDatabase) {
        let smtp = SmtpServer::start();
        let w = mail_world(&db, &smtp, |_| {});
        let key = tessera_testkit::management_key(&w.store, "cli", None);
        let path = format!("/api/v1/users/{}/send-verification", w.alice);
        assert_eq!(w.app.api(Method::POST, &path, &key, &json!({})).status(), 202);
        let verify = link(&mail(&smtp, 1), "/account/verify/");
        let b = Browser::new(&w.app);
        let as_recovery = verify.replace("/account/verify/", "/account/recover/");
        assert_eq!(b.get(&as_recovery).status, 400);
        for bogus in ["/account/verify/short", "/account/recover/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "/account/verify/%00%00"] {
            let page = b.get(bogus);
            assert_eq!(page.status, 400, "{bogus}");
        }
        // A link for an address the account no longer has verifies nothing.
        let changes = users::UserChanges { email: Some(Some("alice@new.example.com".into())), ..Default::default() };
        w.store.write_transaction(|c| users::update(c, &w.alice, &changes, tessera::now())).unwrap();
        let page = b.get(&verify);
        assert_eq!(page.status, 200);
        let stale = b.post(&verify, &[("csrf", &hidden(&page.body, "csrf"))]);
        assert_eq!(stale.status, 400);
        assert!(!user(&w, "alice").email_verified);
    }

    fn the_admin_api_sends_verification_and_recovery_links_without_showing_them(db: TestDatabase) {
        let smtp = SmtpServer::start();
        let w = mail_world(&db, &smtp, |_| {});
        let key = tessera_testkit::management_key(&w.store, "cli", None);
        let send = |id: &str, what: &str| {
            let response = w.app.api(Method::POST, &format!("/api/v1/users/{id}/{what}"), &key, &json!({}));
            let status = response.status().as_u16();
            let cache = response.headers().get("cache-control").map(|v| v.to_str().unwrap().to_owned());
            (status, cache, response.json::<Value>().unwrap())
        };
        let (status, cache, body) = send(w.alice.as_str(), "send-recovery-link");
        assert_eq!(status, 202, "{body}");
        assert_eq!(cache.as_deref(), Some("no-store"));
        assert_eq!(body, json!({ "purpose": "reset_password", "sent_to": "alice@example.com", "expires_in": 1800 }));
        assert!(mail(&smtp, 1).decoded().contains("/account/recover/"));
        assert_eq!(audited(&w, "user.recovery_link_sent"), 1);
        let (status, _, body) = send(w.alice.as_str(), "send-verification");
        assert_eq!((status, body["expires_in"].as_i64()), (202, Some(86_400)));
        assert!(mail(&smtp, 2).decoded().contains("/account/verify/"));
        assert_eq!(audited(&w, "user.verification_sent"), 1);

        let (status, _, body) = send("no-such-user", "send-verification");
        assert_eq!((status, body["error"].as_str()), (404, Some("not_found")));
        let bare = w.store.write_transaction(|c| users::create(c, &users::NewUser { username: "bare".into(), ..Default::default() }, tessera::now())).unwrap();
        let (status, _, body) = send(bare.id.as_str(), "send-recovery-link");
        assert_eq!((status, body["field"].as_str()), (409, Some("email")), "{body}");
        let disabled = users::UserChanges { disabled: Some(true), ..Default::default() };
        w.store.write_transaction(|c| users::update(c, &w.alice, &disabled, tessera::now())).unwrap();
        let (status, _, body) = send(w.alice.as_str(), "send-recovery-link");
        assert_eq!((status, body["field"].as_str()), (409, Some("disabled")), "{body}");

        // A new address set by an administrator is unverified and gets a link.
        let patched = w.app.api(Method::PATCH, &format!("/api/v1/users/{}", bare.id), &key, &json!({ "email": "bare@example.com" }));
        assert_eq!(patched.status(), 200);
        let third = mail(&smtp, 3);
        assert_eq!(third.to, ["bare@example.com"]);
        assert!(!user(&w, "bare").email_verified);
        let openapi: Value = w.app.get("/api/v1/openapi.json").json().unwrap();
        assert!(openapi["paths"]["/api/v1/users/{id}/send-verification"]["post"].is_object());
        assert!(openapi["paths"]["/api/v1/users/{id}/send-recovery-link"]["post"].is_object());
    }

    fn with_unverified_sign_in_off_the_authorization_waits_for_a_verified_address(db: TestDatabase) {
        let smtp = SmtpServer::start();
        let w = mail_world(&db, &smtp, |raw| raw.unverified_sign_in = false);
        let b = Browser::new(&w.app);
        let first = b.get(&authorize_path("webapp", REDIRECT, &[]));
        let waiting = complete(&b, first, "alice", PASSWORD);
        let step = waiting.location().map(str::to_owned).unwrap_or_default();
        assert!(step.is_empty(), "a page, not a redirect: {step}");
        assert_eq!(waiting.status, 200);
        assert!(waiting.body.contains("Check your mail"), "{}", waiting.body);
        let (request, csrf) = (hidden(&waiting.body, "request"), hidden(&waiting.body, "csrf"));
        // prompt=none cannot show the page: interaction_required.
        let silent = b.get(&authorize_path("webapp", REDIRECT, &[("prompt", "none")])).callback();
        assert_eq!(silent.get("error").map(String::as_str), Some("interaction_required"));

        let sent = b.post("/login/verify-email", &[("request", &request), ("csrf", &csrf)]);
        assert_eq!(sent.status, 200, "{}", sent.body);
        assert!(sent.body.contains("A new link is on its way"));
        let throttled = b.post("/login/verify-email", &[("request", &request), ("csrf", &csrf)]);
        assert_eq!(throttled.status, 429);
        assert!(throttled.header("retry-after").is_some());
        assert_eq!(b.post("/login/verify-email", &[("request", &request), ("csrf", "bad")]).status, 400);

        let verify = link(&mail(&smtp, 1), "/account/verify/");
        assert_eq!(follow(&Browser::new(&w.app), &verify, &[]).status, 200);
        let resumed = b.get(&format!("/connect/authorize/resume?request={request}"));
        assert!(resumed.callback().contains_key("code"), "{resumed:?}");
        assert_eq!(smtp.wait_for(2, Duration::from_millis(300)).len(), 1, "the throttled resend sent nothing");
    }

    fn an_application_may_require_a_verified_address_and_close_self_registration(db: TestDatabase) {
        let smtp = SmtpServer::start();
        let w = mail_world(&db, &smtp, |_| {});
        let strict = ApplicationSettings { require_verified_email: true, ..web_app(&[OTHER_REDIRECT], &[]) };
        add_app(&w, "strict", &strict);
        let closed = ApplicationSettings { self_registration: false, ..web_app(&[OTHER_REDIRECT], &[]) };
        add_app(&w, "closed", &closed);

        // The server allows unverified sign-in; `strict` does not.
        let b = Browser::new(&w.app);
        assert!(code_for(&b, &authorize_path("webapp", REDIRECT, &[])).contains_key("code"));
        let waiting = b.get(&authorize_path("strict", OTHER_REDIRECT, &[])).see_other();
        assert!(waiting.starts_with("/login/verify-email?request="), "{waiting}");
        assert!(b.get(&waiting).body.contains("alice@example.com"));

        // `closed` offers no registration, and its registration pages are closed.
        let b = Browser::new(&w.app);
        let to_login = b.get(&authorize_path("closed", OTHER_REDIRECT, &[])).see_other();
        let sign_in = b.get(&to_login);
        assert!(!sign_in.body.contains("/register?request="), "{}", sign_in.body);
        let open = b.get(&authorize_path("webapp", REDIRECT, &[])).see_other();
        assert!(b.get(&open).body.contains("/register?request="));
        let (request, csrf) = (hidden(&sign_in.body, "request"), hidden(&sign_in.body, "csrf"));
        assert_eq!(b.get(&to_login.replacen("/login", "/register", 1)).status, 404);
        let form = [("request", request.as_str()), ("csrf", csrf.as_str()), ("username", "erin"), ("password", PASSWORD)];
        assert_eq!(b.post("/register", &form).status, 404);
        assert!(w.store.read_transaction(|c| users::find_by_login(c, "erin")).unwrap().is_none());
    }

    fn registration_with_a_bad_email_writes_nothing_and_sends_nothing(db: TestDatabase) {
        let smtp = SmtpServer::start();
        let w = mail_world(&db, &smtp, |_| {});
        let (_, reply) = register(&w, "dave", "not-an-address", PASSWORD);
        assert_eq!(reply.status, 400);
        assert!(reply.body.contains("id=\"email-error\""), "{}", reply.body);
        assert!(w.store.read_transaction(|c| users::find_by_login(c, "dave")).unwrap().is_none());
        assert!(smtp.wait_for(1, Duration::from_millis(300)).is_empty());
    }

    fn four_parallel_uses_of_one_recovery_link_change_the_password_once(db: TestDatabase) {
        let smtp = SmtpServer::start();
        let w = mail_world(&db, &smtp, |_| {});
        assert_eq!(forgot(&w, "alice").status, 200);
        let recover = link(&mail(&smtp, 1), "/account/recover/");
        let csrf = hidden(&Browser::new(&w.app).get(&recover).body, "csrf");
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(4));
        let threads: Vec<_> = (0..4)
            .map(|i| {
                let (url, csrf, barrier) = (w.app.url(&recover), csrf.clone(), barrier.clone());
                std::thread::spawn(move || {
                    let password = format!("{NEW_PASSWORD} {i}");
                    barrier.wait();
                    http().post(url).form(&[("csrf", csrf.as_str()), ("password", &password), ("password_confirm", &password)]).send().unwrap().status().as_u16()
                })
            })
            .collect();
        let mut statuses: Vec<u16> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 400, 400, 400]);
        assert_eq!(audited(&w, "user.password_recovered"), 1);
    }
}
