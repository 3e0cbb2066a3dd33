//! Authentication factors on the account page (docs/authentication.md): the
//! authenticator app (TOTP, codes computed here with `tessera-factors`), recovery codes,
//! passkey options, re-authentication before a change, CSRF; the administrators' view and
//! reset of a user's factors; the console's sign-in with a one-time code. Every test runs
//! on SQLite and Postgres.

use diesel::prelude::*;
use serde_json::Value;
use tessera_factors::TotpSecret;
use tessera_factors::totp::STEP_SECONDS;
use tessera_store::factors::{self, recovery_codes, totp};
use tessera_store::{audit, browser_sessions, users};

use crate::common::security::*;
use crate::common::{LOCALHOST_TEST_ISSUER, TestApp, settings_for};

fn events(w: &World, action: &str) -> Vec<audit::AuditEvent> {
    let page = tessera_store::Page::first(500);
    let listed = w.store.read_transaction(|c| audit::list(c, &audit::AuditFilter::default(), &page)).unwrap();
    listed.items.into_iter().filter(|e| e.action == action).collect()
}

/// A browser signed in as `login` on the account page's own sign-in.
fn signed_in_as(w: &World, login: &str, password: &str) -> Browser {
    let b = Browser::new(&w.app);
    let form = b.get("/account/sign-in");
    let csrf = hidden(&form.body, "csrf");
    let done = b.post("/account/sign-in", &[("csrf", &csrf), ("login", login), ("password", password)]);
    assert_eq!(done.see_other(), "/account?notice=signed-in", "{}", done.body);
    b
}

fn csrf_of(b: &Browser) -> String {
    let page = b.get("/account");
    assert_eq!(page.status, 200, "{}", page.body);
    hidden(&page.body, "csrf")
}

/// Posts a form of the account page with its CSRF token.
fn post(b: &Browser, path: &str, fields: &[(&str, &str)]) -> Reply {
    let csrf = csrf_of(b);
    let mut form = vec![("csrf", csrf.as_str())];
    form.extend_from_slice(fields);
    b.post(path, &form)
}

/// The text of the element whose id is `id`.
pub(crate) fn element_text(html: &str, id: &str) -> String {
    let marker = format!("id=\"{id}\"");
    let at = html.find(&marker).unwrap_or_else(|| panic!("no #{id} in {html}"));
    let start = at + html[at..].find('>').unwrap() + 1;
    html[start..start + html[start..].find('<').unwrap()].to_owned()
}

/// Starts enrolling an authenticator app: the secret the enrolment page shows.
fn begin_totp(b: &Browser) -> TotpSecret {
    let begun = post(b, "/account/security/totp", &[]);
    assert_eq!(begun.see_other(), "/account/security/totp", "{}", begun.body);
    let page = b.get("/account/security/totp");
    assert_eq!(page.status, 200, "{}", page.body);
    assert_no_store(&page, "the TOTP enrolment page");
    assert!(page.body.contains("<svg"), "the QR code is drawn inline");
    TotpSecret::from_base32(&element_text(&page.body, "totp-secret")).unwrap()
}

fn confirm_totp(b: &Browser, code: &str) -> Reply {
    let page = b.get("/account/security/totp");
    let csrf = hidden(&page.body, "csrf");
    b.post("/account/security/totp/confirm", &[("csrf", &csrf), ("code", code)])
}

/// A six-digit code that is none of `secret`'s around `now`.
fn wrong_code(secret: &TotpSecret, now: i64) -> String {
    (0..1_000_000)
        .map(|n| format!("{n:06}"))
        .find(|c| (-1..=1).all(|d| secret.code_at(now + d * STEP_SECONDS) != *c))
        .unwrap()
}

/// Enrols an authenticator app for the browser's user: the secret.
fn enrol_totp(b: &Browser) -> TotpSecret {
    let secret = begin_totp(b);
    let done = confirm_totp(b, &secret.code_at(tessera::now()));
    assert_eq!(done.see_other(), "/account?notice=totp-enabled", "{}", done.body);
    secret
}

/// Makes the browser's session a sign-in of 10 minutes ago.
pub(crate) fn age_session(w: &World, b: &Browser) {
    let (_, cookie) = b.cookie().unwrap();
    let hash = tessera_tokens::SecretHash::of(&cookie);
    let old = tessera::now() - 600;
    let aged = w.store.write_transaction(|c| {
        diesel::update(tessera_store::schema::browser_sessions::table.find(hash.as_str()))
            .set(tessera_store::schema::browser_sessions::auth_time.eq(Some(old)))
            .execute(c)
            .map_err(tessera_store::StoreError::from)
    });
    assert_eq!(aged.unwrap(), 1);
}

/// The codes shown on the recovery codes page.
pub(crate) fn shown_codes(body: &str) -> Vec<String> {
    body.split("<code>").skip(1).map(|part| part[..part.find("</code>").unwrap()].to_owned()).collect()
}

/// A console session of the bootstrap administrator (who has no second factor): its cookie.
fn console_session(w: &World) -> String {
    let admin_password = w.app.bootstrap_password.clone().unwrap();
    let page = Reply::read(http().get(w.app.url("/admin/sign-in")).send().unwrap());
    let cookie = page
        .set_cookies()
        .iter()
        .find(|c| c.starts_with("tessera_admin_signin="))
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let csrf = hidden(&page.body, "csrf");
    let form = [("csrf", csrf.as_str()), ("login", "admin"), ("password", admin_password.as_str()), ("next", "/admin")];
    let reply =
        Reply::read(http().post(w.app.url("/admin/sign-in")).header("cookie", &cookie).form(&form).send().unwrap());
    assert_eq!(reply.see_other(), "/admin", "{}", reply.body);
    reply.set_cookies().iter().find(|c| c.starts_with("tessera_admin=")).unwrap().split(';').next().unwrap().to_owned()
}

crate::both_backends! {
    fn an_authenticator_app_is_enrolled_with_a_code_computed_from_the_shown_secret(db: TestDatabase) {
        let w = world(&db);
        let b = signed_in_as(&w, "alice", PASSWORD);
        let secret = begin_totp(&b);
        // Pending: not a factor yet.
        assert!(!w.store.read_transaction(|c| factors::summary(c, &w.alice)).unwrap().totp);
        let now = tessera::now();
        let wrong = confirm_totp(&b, &wrong_code(&secret, now));
        assert_eq!(wrong.status, 400, "{}", wrong.body);
        assert!(wrong.body.contains("This code is not right."), "{}", wrong.body);
        assert!(!w.store.read_transaction(|c| factors::summary(c, &w.alice)).unwrap().totp);
        let done = confirm_totp(&b, &secret.code_at(now));
        assert_eq!(done.see_other(), "/account?notice=totp-enabled");
        let stored = w.store.read_transaction(|c| totp::find_confirmed(c, &w.alice)).unwrap().unwrap();
        assert_eq!(stored.last_used_step, now.div_euclid(STEP_SECONDS), "the confirming code's step is spent");
        assert!(!stored.secret.contains(&secret.base32()), "sealed at rest");
        assert_eq!(events(&w, "user.totp_enabled").len(), 1);
        assert_eq!(events(&w, "user.totp_enabled")[0].actor, format!("user:{}", w.alice));
        let page = b.get("/account");
        assert!(page.body.contains("Set up since"), "{}", page.body);
        // Enabled: the enrolment page leads back to the account.
        assert_eq!(b.get("/account/security/totp").see_other(), "/account");
    }

    fn a_totp_code_is_accepted_once(db: TestDatabase) {
        let w = world(&db);
        let b = signed_in_as(&w, "alice", PASSWORD);
        let secret = enrol_totp(&b);
        let user = w.store.read_transaction(|c| users::get(c, &w.alice)).unwrap();
        // The code that confirmed the enrolment cannot be used again.
        let now = tessera::now();
        let step = now.div_euclid(STEP_SECONDS);
        assert!(!w.store.write_statement(|c| totp::use_step(c, &user.id, step)).unwrap());
        // The next step's code is accepted once.
        let next = secret.code_at(now + STEP_SECONDS);
        assert_eq!(secret.verify(&next, now, Some(step)), Some(step + 1));
        assert!(w.store.write_statement(|c| totp::use_step(c, &user.id, step + 1)).unwrap());
        assert!(!w.store.write_statement(|c| totp::use_step(c, &user.id, step + 1)).unwrap(), "replayed");
    }

    fn removing_the_authenticator_app_after_five_minutes_asks_for_the_password(db: TestDatabase) {
        let w = world(&db);
        let b = signed_in_as(&w, "alice", PASSWORD);
        enrol_totp(&b);
        age_session(&w, &b);
        let page = b.get("/account");
        assert!(page.body.contains("id=\"totp_remove_password\""), "{}", page.body);
        let missing = post(&b, "/account/security/totp/remove", &[]);
        assert_eq!(missing.status, 400);
        assert!(missing.body.contains("Enter your current password"), "{}", missing.body);
        let wrong = post(&b, "/account/security/totp/remove", &[("current_password", "not it at all")]);
        assert_eq!(wrong.status, 400);
        assert!(wrong.body.contains("This is not your current password."));
        assert_eq!(events(&w, "user.sign_in_failed").len(), 1, "a wrong password counts as a failed sign-in");
        assert!(w.store.read_transaction(|c| factors::summary(c, &w.alice)).unwrap().totp, "nothing removed");
        let done = post(&b, "/account/security/totp/remove", &[("current_password", PASSWORD)]);
        assert_eq!(done.see_other(), "/account?notice=totp-disabled");
        assert!(!w.store.read_transaction(|c| factors::summary(c, &w.alice)).unwrap().totp);
        assert_eq!(events(&w, "user.totp_disabled").len(), 1);
    }

    fn recovery_codes_are_shown_once_and_a_new_set_replaces_the_old(db: TestDatabase) {
        let w = world(&db);
        let b = signed_in_as(&w, "alice", PASSWORD);
        let made = post(&b, "/account/security/recovery-codes", &[]);
        assert_eq!(made.status, 200, "{}", made.body);
        assert_no_store(&made, "the recovery codes page");
        let codes = shown_codes(&made.body);
        assert_eq!(codes.len(), 10, "{}", made.body);
        assert_eq!(w.store.read_transaction(|c| recovery_codes::count_left(c, &w.alice)).unwrap(), 10);
        let page = b.get("/account");
        assert!(page.body.contains("10 of your codes"), "{}", page.body);
        assert!(codes.iter().all(|code| !page.body.contains(code.as_str())), "shown once only");
        // A code spends once, typed in any case and without dashes.
        let first = tessera_factors::recovery_codes::hash_of_input(&codes[0].replace('-', "").to_uppercase()).unwrap();
        assert!(w.store.write_statement(|c| recovery_codes::spend(c, &w.alice, first.as_str(), tessera::now())).unwrap());
        assert!(!w.store.write_statement(|c| recovery_codes::spend(c, &w.alice, first.as_str(), tessera::now())).unwrap());
        let again = post(&b, "/account/security/recovery-codes", &[]);
        let new = shown_codes(&again.body);
        assert_eq!(new.len(), 10);
        assert!(new.iter().all(|code| !codes.contains(code)));
        let old = tessera_factors::recovery_codes::hash_of_input(&codes[1]).unwrap();
        assert!(!w.store.write_statement(|c| recovery_codes::spend(c, &w.alice, old.as_str(), tessera::now())).unwrap(), "the old set no longer works");
        assert_eq!(events(&w, "user.recovery_codes_generated").len(), 2);
    }

    fn factor_forms_with_a_forged_csrf_token_change_nothing(db: TestDatabase) {
        let w = world(&db);
        let b = signed_in_as(&w, "alice", PASSWORD);
        for path in ["/account/security/totp", "/account/security/totp/remove", "/account/security/recovery-codes", "/account/security/passkeys/remove", "/account/security/passkeys/rename", "/account/security/passkeys"] {
            let forged = b.post(path, &[("csrf", "forged"), ("current_password", PASSWORD), ("id", "x"), ("name", "y")]);
            assert_eq!(forged.status, 403, "{path}: {}", forged.body);
        }
        let json = b.post("/account/security/passkeys/options", &[("csrf", "forged")]);
        assert!(json.status == 403 || json.status == 404, "{}", json.body);
        assert_eq!(w.store.read_transaction(|c| factors::summary(c, &w.alice)).unwrap(), factors::Summary::default());
        assert!(w.store.read_transaction(|c| totp::find(c, &w.alice)).unwrap().is_none());
        // Not signed in: to the sign-in.
        let stranger = Browser::new(&w.app);
        assert_eq!(stranger.post("/account/security/recovery-codes", &[("csrf", "x")]).see_other(), "/account/sign-in");
    }

    fn the_passkey_options_name_the_issuers_host_as_relying_party(db: TestDatabase) {
        let data = std::env::temp_dir().join(format!("tessera-factors-{}", uuid::Uuid::now_v7().simple()));
        let mut raw = settings_for(&db, &data);
        raw.issuer = LOCALHOST_TEST_ISSUER.into();
        let w = world_on(&db, TestApp::spawn_with(raw));
        let b = signed_in_as(&w, "alice", PASSWORD);
        let page = b.get("/account");
        assert!(page.body.contains("data-passkey=\"register\""), "{}", page.body);
        assert!(page.body.contains("/static/passkeys.js"));
        let csp = page.header("content-security-policy").unwrap();
        assert!(csp.contains("connect-src 'self'") && csp.contains("script-src 'self'"), "{csp}");
        let answer = post(&b, "/account/security/passkeys/options", &[("name", "Laptop")]);
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert_no_store(&answer, "passkey options");
        let options: Value = answer.json();
        assert_eq!(options["publicKey"]["rp"]["id"], "localhost");
        assert_eq!(options["publicKey"]["user"]["name"], "alice@example.com");
        assert_eq!(options["publicKey"]["authenticatorSelection"]["residentKey"], "required");
        assert_eq!(options["publicKey"]["authenticatorSelection"]["userVerification"], "required");
        let ceremony = options["ceremony"].as_str().unwrap();
        // A made-up answer is refused and the ceremony is spent.
        let bogus = post(&b, "/account/security/passkeys", &[("ceremony", ceremony), ("credential", "{}"), ("name", "Laptop")]);
        assert_eq!(bogus.status, 400, "{}", bogus.body);
        let again = post(&b, "/account/security/passkeys", &[("ceremony", ceremony), ("credential", "{}"), ("name", "Laptop")]);
        assert!(again.body.contains("expired"), "the ceremony is single use: {}", again.body);
        assert_eq!(w.store.read_transaction(|c| factors::summary(c, &w.alice)).unwrap().passkeys, 0);
        let script = b.get("/static/passkeys.js");
        assert_eq!(script.status, 200);
        assert!(script.body.contains("TesseraPasskeys"));
    }

    fn an_issuer_on_an_ip_address_offers_no_passkeys(db: TestDatabase) {
        let w = world(&db);
        let b = signed_in_as(&w, "alice", PASSWORD);
        let page = b.get("/account");
        assert!(!page.body.contains("data-passkey=\"register\""));
        let answer = post(&b, "/account/security/passkeys/options", &[]);
        assert_eq!(answer.status, 404, "{}", answer.body);
    }

    fn administrators_list_and_reset_a_users_factors(db: TestDatabase) {
        let w = world(&db);
        let b = signed_in_as(&w, "alice", PASSWORD);
        enrol_totp(&b);
        post(&b, "/account/security/recovery-codes", &[]);
        let key = tessera_testkit::management_key(&w.store, "cli", None);
        let path = format!("/api/v1/users/{}/factors", w.alice);
        let listed = w.app.api(reqwest::Method::GET, &path, &key, &Value::Null);
        assert_eq!(listed.status(), 200);
        let listed: Value = listed.json().unwrap();
        assert_eq!(listed["totp"], true);
        assert_eq!(listed["recovery_codes_left"], 10);
        assert_eq!(listed["passkeys"], serde_json::json!([]));
        let reset = w.app.api(reqwest::Method::DELETE, &path, &key, &Value::Null);
        assert_eq!(reset.status(), 200);
        let reset: Value = reset.json().unwrap();
        assert_eq!(reset["totp_removed"], true);
        assert_eq!(reset["recovery_codes_removed"], 10);
        assert_eq!(reset["sessions_ended"], 1);
        assert_eq!(w.store.read_transaction(|c| factors::summary(c, &w.alice)).unwrap(), factors::Summary::default());
        let audited = events(&w, "user.factors_reset");
        assert_eq!(audited.len(), 1);
        assert_eq!(audited[0].target, format!("user:{}", w.alice));
        // The user's sessions ended: the account page asks to sign in again.
        assert_eq!(b.get("/account").see_other(), "/account/sign-in");
        let open = w.store.read_transaction(|c| browser_sessions::list_active_of_user(c, &w.alice, 7200, tessera::now())).unwrap();
        assert!(open.is_empty());
        let unknown = w.app.api(reqwest::Method::GET, "/api/v1/users/nobody/factors", &key, &Value::Null);
        assert_eq!(unknown.status(), 404);
        let openapi: Value = w.app.get("/api/v1/openapi.json").json().unwrap();
        assert!(openapi["paths"]["/api/v1/users/{id}/factors"]["delete"].is_object());
    }

    fn an_administrator_with_an_authenticator_app_signs_in_to_the_console_with_its_code(db: TestDatabase) {
        let w = world(&db);
        let admin_password = w.app.bootstrap_password.clone().unwrap();
        let b = signed_in_as(&w, "admin", &admin_password);
        let secret = enrol_totp(&b);
        post(&b, "/account/security/recovery-codes", &[]);
        let codes = shown_codes(&post(&b, "/account/security/recovery-codes", &[]).body);

        let console_password_step = || {
            let page = Reply::read(http().get(w.app.url("/admin/sign-in")).send().unwrap());
            let form_cookie = page.set_cookies().iter().find(|c| c.starts_with("tessera_admin_signin=")).unwrap().split(';').next().unwrap().to_owned();
            let csrf = hidden(&page.body, "csrf");
            let form = [("csrf", csrf.as_str()), ("login", "admin"), ("password", admin_password.as_str()), ("next", "/admin")];
            let reply = Reply::read(http().post(w.app.url("/admin/sign-in")).header("cookie", &form_cookie).form(&form).send().unwrap());
            assert_eq!(reply.status, 200, "{}", reply.body);
            assert!(reply.set_cookies().iter().all(|c| !c.starts_with("tessera_admin=")), "no session before the code");
            let pending = reply.set_cookies().iter().find(|c| c.starts_with("tessera_admin_factor=")).unwrap().split(';').next().unwrap().to_owned();
            (pending, hidden(&reply.body, "csrf"))
        };
        let send_code = |pending: &str, csrf: &str, code: &str| {
            let form = [("csrf", csrf), ("code", code), ("next", "/admin")];
            Reply::read(http().post(w.app.url("/admin/sign-in/code")).header("cookie", pending).form(&form).send().unwrap())
        };

        let (pending, csrf) = console_password_step();
        let now = tessera::now();
        let wrong = send_code(&pending, &csrf, &wrong_code(&secret, now));
        assert_eq!(wrong.status, 200);
        assert!(wrong.body.contains("This code is not right."), "{}", wrong.body);
        // The enrolment used this step: the next one's code signs in.
        let code = secret.code_at(now + STEP_SECONDS);
        let done = send_code(&pending, &csrf, &code);
        assert_eq!(done.see_other(), "/admin", "{}", done.body);
        let session = done.set_cookies().iter().find(|c| c.starts_with("tessera_admin=")).unwrap().split(';').next().unwrap().to_owned();
        let console = Reply::read(http().get(w.app.url("/admin")).header("cookie", &session).send().unwrap());
        assert_eq!(console.status, 200, "{}", console.body);
        assert!(events(&w, "admin.sign_in").iter().any(|e| e.summary["second_factor"] == "totp"));
        assert!(events(&w, "admin.sign_in_failed").iter().any(|e| e.summary["reason"] == "wrong_code"));
        // The pending sign-in was used up.
        assert_eq!(send_code(&pending, &csrf, &code).status, 403);

        // The same code again, in a new sign-in: a replay.
        let (pending, csrf) = console_password_step();
        let replay = send_code(&pending, &csrf, &code);
        assert_eq!(replay.status, 200);
        assert!(replay.body.contains("This code is not right."), "{}", replay.body);
        // A recovery code works once.
        let done = send_code(&pending, &csrf, &codes[0]);
        assert_eq!(done.see_other(), "/admin", "{}", done.body);
        assert!(events(&w, "admin.sign_in").iter().any(|e| e.summary["second_factor"] == "recovery_code"));
        let (pending, csrf) = console_password_step();
        assert_eq!(send_code(&pending, &csrf, &codes[0]).status, 200, "a recovery code is single use");
    }

    fn the_console_user_page_shows_the_factors_and_resets_them(db: TestDatabase) {
        let w = world(&db);
        let b = signed_in_as(&w, "alice", PASSWORD);
        enrol_totp(&b);
        let session = console_session(&w);
        let user_page = format!("/admin/users/{}", w.alice);
        let page = Reply::read(http().get(w.app.url(&user_page)).header("cookie", &session).send().unwrap());
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.body.contains("Sign-in factors") && page.body.contains("set up since"), "{}", page.body);
        assert!(page.body.contains(&format!("{user_page}/factors/reset")));
        let csrf = hidden(&page.body, "csrf");
        let forged = Reply::read(http().post(w.app.url(&format!("{user_page}/factors/reset"))).header("cookie", &session).form(&[("csrf", "forged")]).send().unwrap());
        assert!(forged.status >= 400, "{}", forged.status);
        assert!(w.store.read_transaction(|c| factors::summary(c, &w.alice)).unwrap().totp);
        let reset = Reply::read(http().post(w.app.url(&format!("{user_page}/factors/reset"))).header("cookie", &session).form(&[("csrf", csrf.as_str())]).send().unwrap());
        assert!(reset.see_other().starts_with(&format!("{user_page}?notice=factors_reset")), "{}", reset.body);
        assert_eq!(w.store.read_transaction(|c| factors::summary(c, &w.alice)).unwrap(), factors::Summary::default());
        let audited = events(&w, "user.factors_reset");
        assert_eq!(audited.len(), 1);
        assert!(audited[0].actor.starts_with("user:"), "{}", audited[0].actor);
        assert_ne!(audited[0].actor, format!("user:{}", w.alice), "the administrator acted");
        assert_eq!(b.get("/account").see_other(), "/account/sign-in", "the user's sessions ended");
    }
}
