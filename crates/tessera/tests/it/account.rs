//! The account page (`/account`, docs/accounts.md): its own sign-in, the profile and the
//! user-editable claims, the email address, the password, the sessions, the consents and
//! self-service deletion. Every form: success, bad input with the message beside the
//! field and nothing written, a forged CSRF token (403, nothing changed), and a browser
//! that is not signed in (sent to sign in). Every test runs on SQLite and Postgres.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};
use tessera_store::applications::ApplicationSettings;
use tessera_store::{audit, browser_sessions, consents, scopes, users};
use tessera_testkit::smtp::SmtpServer;

use crate::common::security::*;
use crate::common::{TestApp, TestDatabase, settings_for};

const NEW_PASSWORD: &str = "quiet lantern orbit meadow";

/// A world with `tweak`ed settings, its mail going to `smtp` if given.
fn world_with(
    db: &TestDatabase,
    smtp: Option<&SmtpServer>,
    tweak: impl FnOnce(&mut tessera::settings::RawSettings),
) -> World {
    let data = std::env::temp_dir().join(format!("tessera-account-{}", uuid::Uuid::now_v7().simple()));
    let mut raw = settings_for(db, &data);
    if let Some(smtp) = smtp {
        raw.smtp_url = Some(smtp.url());
        raw.mail_from = Some("id@quokka.test".into());
        raw.issuer_name = "Quokka ID".into();
    }
    tweak(&mut raw);
    world_on(db, TestApp::spawn_with(raw))
}

fn audited(w: &World, action: &str) -> usize {
    let page = tessera_store::Page::first(500);
    let events = w.store.read_transaction(|c| audit::list(c, &audit::AuditFilter::default(), &page)).unwrap();
    events.items.iter().filter(|e| e.action == action).count()
}

fn alice(w: &World) -> users::User {
    w.store.read_transaction(|c| users::get(c, &w.alice)).unwrap()
}

fn claims_of(w: &World) -> BTreeMap<String, Value> {
    w.store
        .read_transaction(|c| {
            let user = users::get(c, &w.alice)?;
            users::claim_values(c, &user)
        })
        .unwrap()
}

/// A browser signed in as alice through `webapp` with `scope`: it and the refresh token.
fn signed_in(w: &World, scope: &str) -> (Browser, String) {
    let b = Browser::new(&w.app);
    let issued = tokens(w, &b, &[("scope", scope)]);
    (b, issued["refresh_token"].as_str().unwrap_or_default().to_owned())
}

/// The account page of `b` (200) and its CSRF token.
fn account(b: &Browser) -> (Reply, String) {
    let page = b.get("/account");
    assert_eq!(page.status, 200, "{}", page.body);
    let csrf = hidden(&page.body, "csrf");
    (page, csrf)
}

/// Posts a form of the account page with its CSRF token.
fn post(b: &Browser, path: &str, fields: &[(&str, &str)]) -> Reply {
    let (_, csrf) = account(b);
    let mut form = vec![("csrf", csrf.as_str())];
    form.extend_from_slice(fields);
    b.post(path, &form)
}

/// The page a `303` from a form leads to (with its notice).
fn after(b: &Browser, reply: &Reply) -> String {
    let page = b.get(&reply.see_other());
    assert_eq!(page.status, 200, "{}", page.body);
    page.body
}

fn refused_grant(w: &World, client: &str, refresh_token: &str) -> bool {
    let reply = refresh(w, client, refresh_token, None);
    reply.status == 400 && reply.json()["error"] == "invalid_grant"
}

fn mark_editable(w: &World, claim: &str) {
    w.store.write_transaction(|c| scopes::set_claim_type_user_editable(c, claim, true, tessera::now())).unwrap();
}

crate::both_backends! {
    fn a_browser_that_is_not_signed_in_signs_in_on_the_account_page_and_comes_back(db: TestDatabase) {
        let w = world(&db);
        let b = Browser::new(&w.app);
        assert_eq!(b.get("/account").see_other(), "/account/sign-in");
        for path in ["/account/profile", "/account/email", "/account/password", "/account/sessions/end-others", "/account/consents/revoke"] {
            assert_eq!(b.post(path, &[("csrf", "x")]).see_other(), "/account/sign-in", "{path}");
        }
        let form = b.get("/account/sign-in");
        assert_eq!(form.status, 200);
        assert_no_store(&form, "account sign-in");
        assert!(form.header("content-security-policy").unwrap().contains("frame-ancestors 'none'"));
        let csrf = hidden(&form.body, "csrf");
        let forged = b.post("/account/sign-in", &[("csrf", "nope"), ("login", "alice"), ("password", PASSWORD)]);
        assert_eq!(forged.status, 403);
        let wrong = b.post("/account/sign-in", &[("csrf", &csrf), ("login", "alice"), ("password", "not it at all")]);
        assert_eq!(wrong.status, 200);
        assert!(wrong.body.contains("The username or password is incorrect."), "{}", wrong.body);
        let unknown = b.post("/account/sign-in", &[("csrf", &csrf), ("login", "nobody"), ("password", "not it at all")]);
        assert_eq!(unknown.body.replace("nobody", "alice"), wrong.body, "the same answer for an unknown name");
        assert_eq!(audited(&w, "user.sign_in_failed"), 2);
        let before = b.session();
        let done = b.post("/account/sign-in", &[("csrf", &csrf), ("login", "Alice"), ("password", PASSWORD)]);
        assert_eq!(done.see_other(), "/account?notice=signed-in");
        assert_ne!(b.session(), before, "a new session id at sign-in");
        let (page, _) = account(&b);
        assert_no_store(&page, "account");
        assert!(page.header("content-security-policy").unwrap().contains("frame-ancestors 'none'"));
        assert!(page.body.contains("Signed in as <strong>alice</strong>"));
        assert!(page.body.contains("alice@example.com"));
        assert_eq!(b.get("/account/sign-in").see_other(), "/account");

        // The sign-in session of an application is the account page's too.
        let (other, _) = signed_in(&w, "openid");
        assert!(account(&other).0.body.contains("Signed in as <strong>alice</strong>"));
        // Signing out ends the session: the old cookie gets the sign-in again.
        let cookie = b.session().unwrap();
        let out = post(&b, "/account/sign-out", &[]);
        assert_eq!(out.status, 200);
        assert!(out.body.contains("You have signed out."));
        b.set_session("tessera_session", Some(&cookie));
        assert_eq!(b.get("/account").see_other(), "/account/sign-in");
    }

    fn the_profile_saves_user_editable_claims_and_refuses_an_invalid_value_beside_its_field(db: TestDatabase) {
        let w = world(&db);
        mark_editable(&w, "birthdate");
        mark_editable(&w, "phone_number");
        mark_editable(&w, "phone_number_verified");
        let now = tessera::now();
        let verified = BTreeMap::from([("phone_number".to_owned(), json!("+15551234567")), ("phone_number_verified".to_owned(), json!(true))]);
        w.store.write_transaction(|c| users::set_claim_values(c, &w.alice, &verified, now)).unwrap();
        let (b, _) = signed_in(&w, "openid");
        let (page, csrf) = account(&b);
        assert!(page.body.contains(r#"name="claim.birthdate""#), "{}", page.body);
        assert!(page.body.contains(r#"value="+15551234567""#));
        assert!(!page.body.contains("claim.phone_number_verified"), "a verified flag is never a field");
        assert!(!page.body.contains("claim.given_name"), "not editable");

        let invalid = b.post("/account/profile", &[("csrf", &csrf), ("claim.birthdate", "31/12/1990"), ("claim.phone_number", "+15550000000")]);
        assert_eq!(invalid.status, 400);
        assert!(invalid.body.contains(r#"id="claim-birthdate-error""#), "{}", invalid.body);
        assert!(invalid.body.contains(r#"value="31/12/1990""#), "what was typed is kept");
        assert_eq!(claims_of(&w).get("phone_number"), Some(&json!("+15551234567")), "nothing written");
        assert_eq!(claims_of(&w).get("phone_number_verified"), Some(&json!(true)));

        let forged = b.post("/account/profile", &[("csrf", "0000"), ("claim.birthdate", "1990-12-31"), ("claim.phone_number", "+15550000000")]);
        assert_eq!(forged.status, 403);
        assert!(!claims_of(&w).contains_key("birthdate"));

        let saved = b.post("/account/profile", &[
            ("csrf", &csrf),
            ("claim.birthdate", "1990-12-31"),
            ("claim.phone_number", "+15550000000"),
            ("claim.phone_number_verified", "true"),
            ("claim.email_verified", "true"),
        ]);
        assert_eq!(saved.see_other(), "/account?notice=profile");
        assert!(after(&b, &saved).contains("Your profile was saved."));
        let claims = claims_of(&w);
        assert_eq!(claims.get("birthdate"), Some(&json!("1990-12-31")));
        assert_eq!(claims.get("phone_number"), Some(&json!("+15550000000")));
        assert_eq!(claims.get("phone_number_verified"), None, "a new number is not verified");
        assert!(!alice(&w).email_verified || alice(&w).email.is_none(), "the form never vouches for an address");
        assert_eq!(audited(&w, "user.profile_update"), 1);

        // An empty field removes an optional value; a claim an application requires cannot be emptied.
        let removed = post(&b, "/account/profile", &[("claim.birthdate", ""), ("claim.phone_number", "+15550000000")]);
        assert_eq!(removed.status, 303);
        assert!(!claims_of(&w).contains_key("birthdate"));
        let mut fussy = web_app(&[REDIRECT], &[]);
        fussy.required_claims = vec!["phone_number".into()];
        add_app(&w, "fussy", &fussy);
        let emptied = post(&b, "/account/profile", &[("claim.birthdate", ""), ("claim.phone_number", "  ")]);
        assert_eq!(emptied.status, 400);
        assert!(emptied.body.contains(r#"id="claim-phone_number-error""#), "{}", emptied.body);
        assert_eq!(claims_of(&w).get("phone_number"), Some(&json!("+15550000000")));
    }

    fn a_new_email_address_is_unverified_and_gets_a_verification_link(db: TestDatabase) {
        let smtp = SmtpServer::start();
        let w = world_with(&db, Some(&smtp), |_| {});
        let changes = users::UserChanges { email_verified: Some(true), ..Default::default() };
        w.store.write_transaction(|c| users::update(c, &w.alice, &changes, tessera::now())).unwrap();
        add_user(&w.store, "bob", PASSWORD);
        let (b, _) = signed_in(&w, "openid");
        assert!(account(&b).0.body.contains(r#"<span class="badge">verified</span>"#));

        for (typed, message) in [("", "Enter an email address."), ("not an address", ""), ("BOB@example.com", "This address cannot be used")] {
            let refused = post(&b, "/account/email", &[("email", typed)]);
            assert_eq!(refused.status, 400, "{typed}");
            assert!(refused.body.contains(r#"id="email-error""#), "{typed}: {}", refused.body);
            assert!(refused.body.contains(message), "{typed}");
        }
        let forged = b.post("/account/email", &[("csrf", "x"), ("email", "alice@new.example")]);
        assert_eq!(forged.status, 403);
        assert_eq!(alice(&w).email.as_deref(), Some("alice@example.com"));
        assert!(alice(&w).email_verified, "nothing changed");

        let changed = post(&b, "/account/email", &[("email", "Alice@New.Example")]);
        assert_eq!(changed.see_other(), "/account?notice=email");
        let after = alice(&w);
        assert_eq!(after.email.as_deref(), Some("alice@new.example"));
        assert!(!after.email_verified);
        let mail = smtp.wait_for(1, Duration::from_secs(20));
        assert_eq!(mail[0].to, ["alice@new.example"]);
        assert!(mail[0].decoded().contains("/account/verify/"));
        assert_eq!(audited(&w, "user.email_change"), 1);
        assert!(account(&b).0.body.contains(r#"<span class="badge">not verified</span>"#));
    }

    fn a_password_change_keeps_this_session_and_refuses_the_refresh_tokens_of_the_others(db: TestDatabase) {
        let smtp = SmtpServer::start();
        let w = world_with(&db, Some(&smtp), |_| {});
        let (here, kept) = signed_in(&w, "openid offline_access");
        let (there, lost) = signed_in(&w, "openid offline_access");

        let wrong = post(&here, "/account/password", &[("current_password", "not my password"), ("password", NEW_PASSWORD), ("password_confirm", NEW_PASSWORD)]);
        assert_eq!(wrong.status, 400);
        assert!(wrong.body.contains(r#"id="current_password-error""#), "{}", wrong.body);
        assert_eq!(audited(&w, "user.sign_in_failed"), 1, "a wrong current password is a failed sign-in");
        let weak = post(&here, "/account/password", &[("current_password", PASSWORD), ("password", "alice123"), ("password_confirm", "alice123")]);
        assert_eq!(weak.status, 400);
        assert!(weak.body.contains(r#"id="password-error""#), "{}", weak.body);
        let differ = post(&here, "/account/password", &[("current_password", PASSWORD), ("password", NEW_PASSWORD), ("password_confirm", "something else")]);
        assert_eq!(differ.status, 400);
        assert!(differ.body.contains(r#"id="confirm-error""#));
        let forged = here.post("/account/password", &[("csrf", "x"), ("current_password", PASSWORD), ("password", NEW_PASSWORD), ("password_confirm", NEW_PASSWORD)]);
        assert_eq!(forged.status, 403);
        assert_eq!(audited(&w, "user.password_change"), 0);
        let rotated = refresh(&w, "webapp", &lost, None);
        assert_eq!(rotated.status, 200, "nothing revoked yet: {}", rotated.body);
        let lost = rotated.json()["refresh_token"].as_str().unwrap().to_owned();

        let changed = post(&here, "/account/password", &[("current_password", PASSWORD), ("password", NEW_PASSWORD), ("password_confirm", NEW_PASSWORD)]);
        assert_eq!(changed.see_other(), "/account?notice=password");
        assert!(after(&here, &changed).contains("Your password was changed."), "this browser stays signed in");
        assert_eq!(audited(&w, "user.password_change"), 1);
        assert!(refused_grant(&w, "webapp", &lost), "the other session's refresh token");
        let still = refresh(&w, "webapp", &kept, None);
        assert_eq!(still.status, 200, "this session's refresh token: {}", still.body);
        assert_eq!(there.get("/account").see_other(), "/account/sign-in");
        let notice = smtp.wait_for(1, Duration::from_secs(20));
        assert_eq!(notice[0].header("Subject").as_deref(), Some("Quokka ID: your password was changed"));

        let fresh = Browser::new(&w.app);
        let first = fresh.get(&authorize_path("webapp", REDIRECT, &[]));
        assert!(complete(&fresh, first, "alice", NEW_PASSWORD).callback().contains_key("code"));
    }

    fn ending_a_session_signs_that_browser_out_and_ending_the_others_keeps_this_one(db: TestDatabase) {
        let w = world(&db);
        let (here, _) = signed_in(&w, "openid");
        let (second, second_token) = signed_in(&w, "openid offline_access");
        let third = Browser::new(&w.app);
        let third_access = field(&tokens(&w, &third, &[]), "access_token");
        assert_eq!(userinfo(&w, &third_access).status, 200);
        let (page, _) = account(&here);
        assert_eq!(page.body.matches(r#"name="sid""#).count(), 3);
        assert_eq!(page.body.matches("this browser").count(), 1);
        assert!(page.body.contains("127.0.0.1"));

        let sessions = |w: &World| {
            let now = tessera::now();
            w.store.read_transaction(|c| browser_sessions::list_active_of_user(c, &w.alice, 7200, now)).unwrap()
        };
        let second_sid = {
            let (page, _) = account(&second);
            let current = page.body.find("this browser").unwrap();
            let before = &page.body[..current];
            hidden(&page.body[before.rfind("<li").unwrap()..], "sid")
        };
        let forged = here.post("/account/sessions/end", &[("csrf", "x"), ("sid", &second_sid)]);
        assert_eq!(forged.status, 403);
        assert_eq!(sessions(&w).len(), 3);
        let ended = post(&here, "/account/sessions/end", &[("sid", &second_sid)]);
        assert_eq!(ended.see_other(), "/account?notice=session");
        assert_eq!(second.get("/account").see_other(), "/account/sign-in");
        assert_eq!(sessions(&w).len(), 2);
        assert_eq!(refresh(&w, "webapp", &second_token, None).status, 200, "offline_access outlives the session");
        assert_eq!(audited(&w, "user.session_end"), 1);

        let others = post(&here, "/account/sessions/end-others", &[]);
        assert!(after(&here, &others).contains("Every other session was signed out."));
        assert_eq!(third.get("/account").see_other(), "/account/sign-in");
        assert_eq!(userinfo(&w, &third_access).status, 401, "a grant of an ended session");
        assert_eq!(sessions(&w).len(), 1);
    }

    fn revoking_a_consent_makes_that_applications_refresh_token_invalid_grant(db: TestDatabase) {
        let w = world(&db);
        let gallery = ApplicationSettings { name: "Photo Gallery".into(), require_consent: true, ..web_app(&[OTHER_REDIRECT], &[]) };
        add_app(&w, "gallery", &gallery);
        let b = Browser::new(&w.app);
        let first = b.get(&authorize_path("gallery", OTHER_REDIRECT, &[("scope", "openid profile offline_access")]));
        let callback = complete(&b, first, "alice", PASSWORD).callback();
        let issued = redeem(&w, "gallery", &callback["code"], OTHER_REDIRECT, Some(VERIFIER));
        assert_eq!(issued.status, 200, "{}", issued.body);
        let gallery_token = field(&issued.json(), "refresh_token");
        let webapp_token = tokens(&w, &b, &[("scope", "openid offline_access")])["refresh_token"].as_str().unwrap().to_owned();

        let (page, _) = account(&b);
        assert!(page.body.contains("Applications you allowed"));
        assert!(page.body.contains(r#"<span class="item-name">Photo Gallery</span>"#), "{}", page.body);
        assert!(page.body.contains("offline_access openid profile"), "the scopes allowed");
        let application_id = hidden(&page.body, "application_id");
        let forged = b.post("/account/consents/revoke", &[("csrf", "x"), ("application_id", &application_id)]);
        assert_eq!(forged.status, 403);
        assert_eq!(w.store.read_transaction(|c| consents::list_of_user(c, &w.alice)).unwrap().len(), 1);

        let revoked = post(&b, "/account/consents/revoke", &[("application_id", &application_id)]);
        assert!(after(&b, &revoked).contains("The application&#39;s access was revoked."));
        assert!(refused_grant(&w, "gallery", &gallery_token));
        assert_eq!(refresh(&w, "webapp", &webapp_token, None).status, 200, "another application keeps its grant");
        let left = w.store.read_transaction(|c| consents::list_of_user(c, &w.alice)).unwrap();
        assert!(left.is_empty());
        assert_eq!(audited(&w, "user.consent_revoke"), 1);
    }

    fn self_deletion_is_off_by_default(db: TestDatabase) {
        let w = world(&db);
        let (b, _) = signed_in(&w, "openid");
        assert!(!account(&b).0.body.contains("/account/delete"));
        let refused = post(&b, "/account/delete", &[("current_password", PASSWORD)]);
        assert_eq!(refused.status, 404);
        assert!(w.store.read_transaction(|c| users::find(c, &w.alice)).unwrap().is_some());
    }

    fn self_deletion_when_on_asks_the_password_and_deletes_as_an_administrator_would(db: TestDatabase) {
        let w = world_with(&db, None, |raw| raw.account_self_deletion = true);
        let (b, token) = signed_in(&w, "openid offline_access");
        assert!(account(&b).0.body.contains("Delete your account"));
        let wrong = post(&b, "/account/delete", &[("current_password", "not my password")]);
        assert_eq!(wrong.status, 400);
        assert!(wrong.body.contains(r#"id="delete_password-error""#), "{}", wrong.body);
        let forged = b.post("/account/delete", &[("csrf", "x"), ("current_password", PASSWORD)]);
        assert_eq!(forged.status, 403);
        assert!(w.store.read_transaction(|c| users::find(c, &w.alice)).unwrap().is_some());

        let cookie = b.session().unwrap();
        let deleted = post(&b, "/account/delete", &[("current_password", PASSWORD)]);
        assert_eq!(deleted.status, 200, "{}", deleted.body);
        assert!(deleted.body.contains("Your account was deleted."));
        assert!(w.store.read_transaction(|c| users::find(c, &w.alice)).unwrap().is_none());
        assert!(refused_grant(&w, "webapp", &token));
        assert_eq!(audited(&w, "user.self_delete"), 1);
        b.set_session("tessera_session", Some(&cookie));
        assert_eq!(b.get("/account").see_other(), "/account/sign-in");
    }
}
