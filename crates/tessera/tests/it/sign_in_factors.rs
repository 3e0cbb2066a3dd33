//! Signing in with a second factor (docs/authentication.md, "Signing in" and "Step-up"):
//! the password then a TOTP code (computed here with `tessera-factors`) or a recovery
//! code on `/login/factor`; what a wrong, reused or throttled code gets; a user with a
//! factor cannot skip the page; enrolment during sign-in under a `second_factor` policy;
//! step-up through `acr_values`; parallel submissions of one code; the account page's own
//! sign-in; wrong codes confirming a new authenticator app count in the throttle. Every
//! test runs on SQLite and Postgres.

use std::time::Duration;

use serde_json::Value;
use tessera_domain::SignInPolicy;
use tessera_factors::TotpSecret;
use tessera_factors::totp::STEP_SECONDS;
use tessera_store::applications::{self, ApplicationSettings};
use tessera_store::{audit, factors, throttle};
use tessera_testkit::smtp::SmtpServer;

use crate::account_factors::{age_session, element_text, shown_codes};
use crate::common::security::*;
use crate::common::{TestApp, settings_for};

fn events(w: &World, action: &str) -> Vec<audit::AuditEvent> {
    let page = tessera_store::Page::first(500);
    let listed = w.store.read_transaction(|c| audit::list(c, &audit::AuditFilter::default(), &page)).unwrap();
    listed.items.into_iter().filter(|e| e.action == action).collect()
}

/// A browser signed in as alice on the account page (no factor yet).
fn account_browser(w: &World) -> Browser {
    let b = Browser::new(&w.app);
    let form = b.get("/account/sign-in");
    let csrf = hidden(&form.body, "csrf");
    let done = b.post("/account/sign-in", &[("csrf", &csrf), ("login", "alice"), ("password", PASSWORD)]);
    assert_eq!(done.see_other(), "/account?notice=signed-in", "{}", done.body);
    b
}

fn account_post(b: &Browser, path: &str, fields: &[(&str, &str)]) -> Reply {
    let csrf = hidden(&b.get("/account").body, "csrf");
    let mut form = vec![("csrf", csrf.as_str())];
    form.extend_from_slice(fields);
    b.post(path, &form)
}

/// Begins setting up an authenticator app on the account page of `b`: the secret shown,
/// and the CSRF token of the confirmation form.
fn begin_totp(b: &Browser) -> (TotpSecret, String) {
    assert_eq!(account_post(b, "/account/security/totp", &[]).see_other(), "/account/security/totp");
    let page = b.get("/account/security/totp");
    let secret = TotpSecret::from_base32(&element_text(&page.body, "totp-secret")).unwrap();
    (secret, hidden(&page.body, "csrf"))
}

/// Enrols an authenticator app for alice on the account page: the secret. The code of
/// the current step is spent by the enrolment.
fn enrol_totp(w: &World) -> TotpSecret {
    let b = account_browser(w);
    let (secret, csrf) = begin_totp(&b);
    let code = secret.code_at(tessera::now());
    let done = b.post("/account/security/totp/confirm", &[("csrf", &csrf), ("code", &code)]);
    assert_eq!(done.see_other(), "/account?notice=totp-enabled", "{}", done.body);
    secret
}

/// Makes alice's recovery codes on the account page: the codes shown.
fn make_recovery_codes(w: &World) -> Vec<String> {
    let b = account_browser(w);
    let made = account_post(&b, "/account/security/recovery-codes", &[]);
    assert_eq!(made.status, 200, "{}", made.body);
    shown_codes(&made.body)
}

/// A code of the step after the current one (the current one may be spent already).
fn next_code(secret: &TotpSecret) -> String {
    secret.code_at(tessera::now() + STEP_SECONDS)
}

/// A six-digit code that is none of `secret`'s around now.
fn wrong_code(secret: &TotpSecret) -> String {
    let now = tessera::now();
    (0..1_000_000)
        .map(|n| format!("{n:06}"))
        .find(|c| (-2..=2).all(|d| secret.code_at(now + d * STEP_SECONDS) != *c))
        .unwrap()
}

/// Starts an authorization of `webapp` with `extra` parameters and types alice's
/// password: the answer to the password (the factor page, when one is due).
fn password_step(b: &Browser, extra: &[(&str, &str)]) -> Reply {
    let start = b.get(&authorize_path("webapp", REDIRECT, extra));
    let location = start.see_other();
    assert!(location.starts_with("/login?"), "{location}");
    let (request, csrf) = form_of(b, &location);
    b.post("/login", &[("request", &request), ("csrf", &csrf), ("login", "alice"), ("password", PASSWORD)])
}

/// The factor page a reply leads to: its `request` and `csrf`, and the page.
fn factor_page(b: &Browser, reply: &Reply) -> (String, String, Reply) {
    let location = reply.see_other();
    assert!(location.starts_with("/login/factor?request="), "{location}: {}", reply.body);
    let page = b.get(&location);
    assert_eq!(page.status, 200, "{}", page.body);
    (hidden(&page.body, "request"), hidden(&page.body, "csrf"), page)
}

fn send_code(b: &Browser, request: &str, csrf: &str, code: &str) -> Reply {
    b.post("/login/factor", &[("request", request), ("csrf", csrf), ("code", code)])
}

/// Follows the pages to the client's callback and redeems its code: the tokens.
fn finish(w: &World, b: &Browser, reply: Reply) -> Value {
    let callback = complete(b, reply, "alice", PASSWORD).callback();
    let redeemed = redeem(w, "webapp", &callback["code"], REDIRECT, Some(VERIFIER));
    assert_eq!(redeemed.status, 200, "{}", redeemed.body);
    redeemed.json()
}

fn amr_of(id_token: &Value) -> Vec<String> {
    let claims = payload(id_token.as_str().unwrap());
    claims["amr"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect()
}

crate::both_backends! {
    fn a_password_then_a_totp_code_signs_in_with_both_factors(db: TestDatabase) {
        let w = world(&db);
        let secret = enrol_totp(&w);
        let b = Browser::new(&w.app);
        let after_password = password_step(&b, &[]);
        assert!(after_password.set_cookies().is_empty(), "no new session before the second factor");
        let (request, csrf, page) = factor_page(&b, &after_password);
        assert!(page.body.contains("Code from your authenticator app"), "{}", page.body);
        assert!(b.get("/account").see_other().starts_with("/account/sign-in"), "not signed in yet");
        let done = send_code(&b, &request, &csrf, &next_code(&secret));
        assert_eq!(done.see_other(), format!("/connect/authorize/resume?request={request}"), "{}", done.body);
        assert_eq!(done.set_cookies().len(), 1, "a new session id");
        let tokens = finish(&w, &b, done);
        assert_eq!(amr_of(&tokens["id_token"]), ["mfa", "otp", "pwd"]);
        assert_eq!(payload(tokens["id_token"].as_str().unwrap())["acr"], "2fa");
        let two_factors = serde_json::json!(["mfa", "otp", "pwd"]);
        assert!(events(&w, "user.sign_in").iter().any(|e| e.summary["amr"] == two_factors && e.summary["client_id"] == "webapp"));
    }

    fn a_wrong_or_reused_code_is_refused(db: TestDatabase) {
        let w = world(&db);
        let secret = enrol_totp(&w);
        let b = Browser::new(&w.app);
        let (request, csrf, _) = factor_page(&b, &password_step(&b, &[]));
        let wrong = send_code(&b, &request, &csrf, &wrong_code(&secret));
        assert_eq!(wrong.status, 400, "{}", wrong.body);
        assert!(wrong.body.contains("This code is not right"), "{}", wrong.body);
        assert!(wrong.set_cookies().is_empty());
        assert!(events(&w, "user.sign_in_failed").iter().any(|e| e.summary["factor"] == "code"));
        let code = next_code(&secret);
        assert_eq!(send_code(&b, &request, &csrf, &code).status, 303);
        // The same code in another sign-in: a replay.
        let other = Browser::new(&w.app);
        let (request, csrf, _) = factor_page(&other, &password_step(&other, &[]));
        let replay = send_code(&other, &request, &csrf, &code);
        assert_eq!(replay.status, 400, "{}", replay.body);
        assert!(replay.set_cookies().is_empty());
    }

    fn wrong_codes_lock_the_account_like_wrong_passwords(db: TestDatabase) {
        let w = world(&db);
        let secret = enrol_totp(&w);
        let b = Browser::new(&w.app);
        let (request, csrf, _) = factor_page(&b, &password_step(&b, &[]));
        let wrong = wrong_code(&secret);
        for attempt in 0..throttle::ACCOUNT_LIMIT.attempts {
            assert_eq!(send_code(&b, &request, &csrf, &wrong).status, 400, "attempt {attempt}");
        }
        let locked = send_code(&b, &request, &csrf, &next_code(&secret));
        assert_eq!(locked.status, 429, "{}", locked.body);
        assert!(locked.header("retry-after").is_some_and(|s| s.parse::<i64>().unwrap() > 0));
        assert!(locked.body.contains("Too many failed sign-ins"), "{}", locked.body);
        // The password form is locked too: the same bucket.
        let again = Browser::new(&w.app);
        assert_eq!(password_step(&again, &[]).status, 429);
    }

    fn wrong_codes_confirming_a_new_app_are_throttled_like_wrong_passwords(db: TestDatabase) {
        let w = world(&db);
        let b = account_browser(&w);
        let (secret, csrf) = begin_totp(&b);
        let wrong = wrong_code(&secret);
        for attempt in 0..throttle::ACCOUNT_LIMIT.attempts {
            let refused = b.post("/account/security/totp/confirm", &[("csrf", &csrf), ("code", &wrong)]);
            assert_eq!(refused.status, 400, "attempt {attempt}: {}", refused.body);
        }
        // Locked: even the right code is not checked, and the secret stays pending.
        let code = secret.code_at(tessera::now());
        let locked = b.post("/account/security/totp/confirm", &[("csrf", &csrf), ("code", &code)]);
        assert_eq!(locked.status, 429, "{}", locked.body);
        assert!(locked.header("retry-after").is_some_and(|s| s.parse::<i64>().unwrap() > 0));
        assert!(locked.body.contains("Too many failed sign-ins"), "{}", locked.body);
        assert!(w.store.read_transaction(|c| factors::totp::find_confirmed(c, &w.alice)).unwrap().is_none());
        // The same bucket as the password form's.
        assert_eq!(password_step(&Browser::new(&w.app), &[]).status, 429);
    }

    fn a_recovery_code_signs_in_once_and_its_use_is_mailed(db: TestDatabase) {
        let smtp = SmtpServer::start();
        let data = std::env::temp_dir().join(format!("tessera-factors-{}", uuid::Uuid::now_v7().simple()));
        let raw = tessera::settings::RawSettings {
            smtp_url: Some(smtp.url()),
            mail_from: Some("id@quokka.test".into()),
            ..settings_for(&db, &data)
        };
        let w = world_on(&db, TestApp::spawn_with(raw));
        let codes = make_recovery_codes(&w);
        enrol_totp(&w);
        let before = smtp.wait_for(100, Duration::from_millis(500)).len();
        let b = Browser::new(&w.app);
        let (request, csrf, _) = factor_page(&b, &password_step(&b, &[]));
        let done = send_code(&b, &request, &csrf, &codes[3].to_uppercase());
        assert_eq!(done.status, 303, "{}", done.body);
        let tokens = finish(&w, &b, done);
        assert_eq!(amr_of(&tokens["id_token"]), ["mfa", "otp", "pwd"]);
        assert_eq!(events(&w, "user.recovery_code_used").len(), 1);
        assert_eq!(events(&w, "user.recovery_code_used")[0].summary["codes_left"], 9);
        let mail = smtp.wait_for(before + 1, Duration::from_secs(20));
        assert!(mail.len() > before, "the use is mailed");
        assert!(mail[before].decoded().to_lowercase().contains("recovery code"), "{}", mail[before].decoded());
        // The same code again: refused.
        let other = Browser::new(&w.app);
        let (request, csrf, _) = factor_page(&other, &password_step(&other, &[]));
        assert_eq!(send_code(&other, &request, &csrf, &codes[3]).status, 400);
        assert_eq!(w.store.read_transaction(|c| factors::recovery_codes::count_left(c, &w.alice)).unwrap(), 9);
    }

    fn a_user_with_a_factor_cannot_skip_the_factor_page(db: TestDatabase) {
        let w = world(&db);
        enrol_totp(&w);
        let b = Browser::new(&w.app);
        let (request, _, _) = factor_page(&b, &password_step(&b, &[]));
        let resumed = b.get(&format!("/connect/authorize/resume?request={request}"));
        assert_eq!(resumed.see_other(), format!("/login/factor?request={request}"), "back to the factor page");
        // A new authorization on the same browser starts from the password again.
        let again = b.get(&authorize_path("webapp", REDIRECT, &[]));
        assert!(again.see_other().starts_with("/login?"), "{}", again.see_other());
        // Other pages of the request do not continue it either.
        let consent = b.get(&format!("/consent?request={request}"));
        assert!(consent.location().is_none_or(|l| !l.contains("code=")), "no code");
        assert!(b.get("/account").see_other().starts_with("/account/sign-in"));
    }

    fn parallel_submissions_of_one_code_sign_in_once(db: TestDatabase) {
        let w = world(&db);
        let secret = enrol_totp(&w);
        let b = Browser::new(&w.app);
        let (request, csrf, _) = factor_page(&b, &password_step(&b, &[]));
        let code = next_code(&secret);
        let before = events(&w, "user.sign_in").len();
        let (name, value) = b.cookie().unwrap();
        let replies: Vec<Reply> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    let browser = Browser::new(&w.app);
                    browser.set_session(&name, Some(&value));
                    let (request, csrf, code) = (request.clone(), csrf.clone(), code.clone());
                    s.spawn(move || send_code(&browser, &request, &csrf, &code))
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let resumed = format!("/connect/authorize/resume?request={request}");
        let won = replies.iter().filter(|r| r.location() == Some(resumed.as_str())).count();
        assert_eq!(won, 1, "{:?}", replies.iter().map(|r| (r.status, r.location().map(str::to_owned))).collect::<Vec<_>>());
        assert_eq!(events(&w, "user.sign_in").len(), before + 1);
    }

    fn the_account_pages_sign_in_asks_the_second_factor_too(db: TestDatabase) {
        let w = world(&db);
        let secret = enrol_totp(&w);
        let b = Browser::new(&w.app);
        let csrf = hidden(&b.get("/account/sign-in").body, "csrf");
        let asked = b.post("/account/sign-in", &[("csrf", &csrf), ("login", "alice"), ("password", PASSWORD)]);
        assert_eq!(asked.status, 200, "{}", asked.body);
        assert!(asked.body.contains("action=\"/account/sign-in/factor\""), "{}", asked.body);
        assert!(asked.set_cookies().is_empty(), "no session before the factor");
        assert!(b.get("/account").see_other().starts_with("/account/sign-in"), "not signed in yet");
        let csrf = hidden(&asked.body, "csrf");
        let wrong = b.post("/account/sign-in/factor", &[("csrf", &csrf), ("code", &wrong_code(&secret))]);
        assert_eq!(wrong.status, 400, "{}", wrong.body);
        let done = b.post("/account/sign-in/factor", &[("csrf", &csrf), ("code", &next_code(&secret))]);
        assert_eq!(done.see_other(), "/account?notice=signed-in", "{}", done.body);
        assert_eq!(b.get("/account").status, 200);
        let two_factors = serde_json::json!(["mfa", "otp", "pwd"]);
        assert!(events(&w, "user.sign_in").iter().any(|e| e.summary["page"] == "account" && e.summary["amr"] == two_factors));
        // Taken once: the old form again starts nothing.
        let again = b.post("/account/sign-in/factor", &[("csrf", &csrf), ("code", &next_code(&secret))]);
        assert_eq!(again.see_other(), "/account/sign-in");
        assert!(again.set_cookies().is_empty());
    }

    fn a_second_factor_policy_leads_a_password_only_user_through_enrolment(db: TestDatabase) {
        let w = world(&db);
        let app = w.store.read_transaction(|c| applications::find_by_client_id(c, &"webapp".into())).unwrap().unwrap();
        let settings = ApplicationSettings { sign_in_policy: Some(SignInPolicy::SecondFactor), ..app.settings };
        w.store.write_transaction(|c| applications::update(c, &app.id, &settings, tessera::now())).unwrap();
        let b = Browser::new(&w.app);
        let after_password = password_step(&b, &[]);
        assert!(after_password.set_cookies().is_empty(), "not signed in before the second factor");
        let factor = b.get(&after_password.see_other());
        let enrol = factor.see_other();
        assert!(enrol.starts_with("/login/enrol?request="), "{enrol}");
        let page = b.get(&enrol);
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.body.contains("Set up an authenticator app"), "{}", page.body);
        assert!(!page.body.contains("Add a passkey"), "no passkeys on an IP issuer");
        let (request, csrf) = (hidden(&page.body, "request"), hidden(&page.body, "csrf"));
        let setup = b.post("/login/enrol/totp", &[("request", &request), ("csrf", &csrf)]);
        assert_eq!(setup.status, 200, "{}", setup.body);
        assert!(setup.body.contains("<svg"), "the QR code is drawn inline");
        let secret = TotpSecret::from_base32(&element_text(&setup.body, "totp-secret")).unwrap();
        let wrong = b.post("/login/enrol/totp", &[("request", &request), ("csrf", &csrf), ("code", &wrong_code(&secret))]);
        assert_eq!(wrong.status, 400, "{}", wrong.body);
        let code = secret.code_at(tessera::now());
        let done = b.post("/login/enrol/totp", &[("request", &request), ("csrf", &csrf), ("code", &code)]);
        assert_eq!(done.see_other(), format!("/login/enrol/recovery-codes?request={request}"), "{}", done.body);
        assert_eq!(done.set_cookies().len(), 1, "signed in: a new session id");
        assert_eq!(events(&w, "user.totp_enabled").len(), 1);
        let offer = b.get(&done.see_other());
        assert_eq!(offer.status, 200, "{}", offer.body);
        let csrf = hidden(&offer.body, "csrf");
        let made = b.post("/login/enrol/recovery-codes", &[("request", &request), ("csrf", &csrf)]);
        assert_eq!(made.status, 200, "{}", made.body);
        assert_eq!(shown_codes(&made.body).len(), 10);
        assert_eq!(w.store.read_transaction(|c| factors::recovery_codes::count_left(c, &w.alice)).unwrap(), 10);
        let resumed = b.get(&format!("/connect/authorize/resume?request={request}"));
        let tokens = finish(&w, &b, resumed);
        assert_eq!(amr_of(&tokens["id_token"]), ["mfa", "otp", "pwd"]);
        assert_eq!(payload(tokens["id_token"].as_str().unwrap())["acr"], "2fa");
    }

    fn acr_values_step_a_password_session_up_with_only_the_code(db: TestDatabase) {
        let w = world(&db);
        // A session signed in with the password alone, before an authenticator app was set up.
        let b = account_browser(&w);
        let (secret, csrf) = begin_totp(&b);
        let confirmed = b.post("/account/security/totp/confirm", &[("csrf", &csrf), ("code", &secret.code_at(tessera::now()))]);
        assert_eq!(confirmed.see_other(), "/account?notice=totp-enabled");
        age_session(&w, &b);
        let before = payload(tokens(&w, &b, &[])["id_token"].as_str().unwrap());
        assert_eq!(before["amr"], serde_json::json!(["pwd"]));
        assert_eq!(before["acr"], "1fa");
        let start = b.get(&authorize_path("webapp", REDIRECT, &[("acr_values", "2fa")]));
        let location = start.see_other();
        assert!(location.starts_with("/login/factor?request="), "{location}");
        let page = b.get(&location);
        assert!(page.body.contains("Confirm it is you"), "{}", page.body);
        assert!(!page.body.contains("name=\"password\""), "no password asked");
        let (request, csrf) = (hidden(&page.body, "request"), hidden(&page.body, "csrf"));
        let done = send_code(&b, &request, &csrf, &next_code(&secret));
        assert_eq!(done.see_other(), format!("/connect/authorize/resume?request={request}"), "{}", done.body);
        let tokens = finish(&w, &b, done);
        let after = payload(tokens["id_token"].as_str().unwrap());
        assert_eq!(after["amr"], serde_json::json!(["mfa", "otp", "pwd"]));
        assert_eq!(after["acr"], "2fa");
        assert!(after["auth_time"].as_i64().unwrap() > before["auth_time"].as_i64().unwrap(), "{before} {after}");
        assert_eq!(after["sid"], before["sid"], "the same session, stepped up");
    }
}
