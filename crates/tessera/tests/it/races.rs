//! Races, as one suite (docs/security.md, "Races"): each test sends the competing requests
//! at once, from threads released together by a barrier, on SQLite and Postgres, and
//! checks exactly the outcome the docs promise, then the state after: which tokens still
//! work. A check and the write it guards are one atomic step, so the outcome never depends
//! on who wins.

use std::sync::Barrier;

use serde_json::{Value, json};
use tessera_store::{audit, browser_sessions};

use crate::common::security::*;

/// Runs `work(i)` for `i` in `0..n` on `n` threads released together; the answers in order.
fn at_once<T: Send>(n: usize, work: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let barrier = Barrier::new(n);
    std::thread::scope(|scope| {
        let threads: Vec<_> = (0..n)
            .map(|i| {
                let (barrier, work) = (&barrier, &work);
                scope.spawn(move || {
                    barrier.wait();
                    work(i)
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    })
}

fn api(w: &World, key: &str, method: reqwest::Method, path: &str, body: Value) -> Reply {
    Reply::read(w.app.api(method, path, key, &body))
}

/// Every access token among `answers` is inactive at introspection and refused at
/// userinfo, and every refresh token is refused at the token endpoint.
fn assert_nothing_live(w: &World, api_secret: &str, client: &str, answers: &[Value], what: &str) {
    for tokens in answers {
        if let Some(access) = tokens["access_token"].as_str() {
            assert_eq!(introspect(w, api_secret, access), json!({"active": false}), "{what}: {tokens}");
            assert_invalid_token(&userinfo(w, access), what);
        }
        if let Some(refresh_token) = tokens["refresh_token"].as_str() {
            assert_oauth_error(&refresh(w, client, refresh_token, None), 400, "invalid_grant", what);
        }
    }
}

/// A browser signed in as alice on the account page.
fn on_account_page(w: &World) -> Browser {
    let b = Browser::new(&w.app);
    let form = b.get("/account/sign-in");
    let reply = b
        .post("/account/sign-in", &[("csrf", &hidden(&form.body, "csrf")), ("login", "alice"), ("password", PASSWORD)]);
    assert_eq!(reply.location(), Some("/account?notice=signed-in"), "{}", reply.body);
    b
}

/// Sends `send` from a browser on this thread holding `cookie`: the reply, and the
/// cookie that browser holds after it.
fn as_browser(
    w: &World,
    cookie: &Option<(String, String)>,
    send: impl FnOnce(&Browser) -> Reply,
) -> (Reply, Option<(String, String)>) {
    let b = Browser::new(&w.app);
    if let Some((name, value)) = cookie {
        b.set_session(name, Some(value));
    }
    let reply = send(&b);
    (reply, b.cookie())
}

/// The CSRF token of `b`'s account page.
fn account_csrf(b: &Browser) -> String {
    let page = b.get("/account");
    assert_eq!(page.status, 200, "{}", page.body);
    hidden(&page.body, "csrf")
}

/// Whether `b` is still signed in (its account page, not the sign-in).
fn still_signed_in(b: &Browser) -> bool {
    let page = b.get("/account");
    match page.status {
        200 => true,
        303 => {
            assert_eq!(page.location(), Some("/account/sign-in"));
            false
        }
        other => panic!("/account answered {other}: {}", page.body),
    }
}

fn audit_events(w: &World, action: &str) -> Vec<audit::AuditEvent> {
    let filter = audit::AuditFilter { action: Some(action.into()), ..Default::default() };
    w.store.read_transaction(|c| audit::list(c, &filter, &tessera_store::Page::first(100))).unwrap().items
}

crate::both_backends! {
    fn parallel_redemptions_of_one_code_give_exactly_one_success(db: TestDatabase) {
        let w = world(&db);
        let code = code_for(&Browser::new(&w.app), &authorize_path("webapp", REDIRECT, &[]))["code"].clone();
        let replies = at_once(8, |_| redeem(&w, "webapp", &code, REDIRECT, Some(VERIFIER)));
        let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
        assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
        for reply in replies.iter().filter(|r| r.status != 200) {
            assert_oauth_error(reply, 400, "invalid_grant", "a losing redemption");
        }
    }

    fn parallel_refreshes_of_one_token_without_a_retry_grace_give_one_success_and_revoke_the_grant(db: TestDatabase) {
        // Finding 20 of the 2026-12 review (info). Without a retry grace, of parallel
        // refreshes one rotates; the others are reuse, which revokes the grant (RFC 9700
        // §4.14.2), so the winner's new token dies too. With the grace (the default),
        // token/refresh_rotation.rs.
        let w = world(&db);
        set_retry_grace(&w, "webapp", 0);
        let issued = tokens(&w, &Browser::new(&w.app), &[("scope", "openid offline_access")]);
        let refresh_token = field(&issued, "refresh_token");
        let replies = at_once(6, |_| refresh(&w, "webapp", &refresh_token, None));
        let winners: Vec<&Reply> = replies.iter().filter(|r| r.status == 200).collect();
        assert_eq!(winners.len(), 1, "{:?}", replies.iter().map(|r| r.status).collect::<Vec<_>>());
        assert!(replies.iter().filter(|r| r.status != 200).all(|r| r.json()["error"] == "invalid_grant"));
        let next = field(&winners[0].json(), "refresh_token");
        assert_oauth_error(&refresh(&w, "webapp", &next, None), 400, "invalid_grant", "the grant is revoked");
    }

    fn revocation_racing_refreshes_leaves_no_token_of_the_grant_alive(db: TestDatabase) {
        // RFC 7009 §2.1: revoking a refresh token ends its grant and the access tokens of
        // it. A refresh that rotated just before must not leave a live successor behind,
        // nor one that rotates just after the revocation committed.
        let w = world(&db);
        let api_secret = with_api(&w);
        let issued = tokens_at(&w, "refapp", "openid offline_access orders.read");
        let refresh_token = field(&issued, "refresh_token");
        let answers = at_once(6, |i| {
            if i == 0 {
                assert_eq!(revoke(&w, "refapp", &refresh_token), 200);
                None
            } else {
                let reply = refresh(&w, "refapp", &refresh_token, None);
                assert!(matches!(reply.status, 200 | 400), "{}", reply.body);
                (reply.status == 200).then(|| reply.json())
            }
        });
        let mut every: Vec<Value> = answers.into_iter().flatten().collect();
        every.push(issued);
        assert_nothing_live(&w, &api_secret, "refapp", &every, "after the revocation");
    }

    fn withdrawing_consent_racing_refreshes_leaves_no_token_of_the_application_alive(db: TestDatabase) {
        let w = world(&db);
        let api_secret = with_api(&w);
        let key = tessera_testkit::management_key(&w.store, "cli", None);
        let issued = tokens_at(&w, "refapp", "openid offline_access orders.read");
        let refresh_token = field(&issued, "refresh_token");
        let app_id = w
            .store
            .read_transaction(|c| tessera_store::applications::find_by_client_id(c, &"refapp".into()))
            .unwrap()
            .unwrap()
            .id;
        let path = format!("/api/v1/users/{}/consents/{app_id}", w.alice);
        w.store
            .write_transaction(|c| {
                tessera_store::consents::upsert_consent(c, &w.alice, &app_id, "offline_access openid orders.read", 1)
            })
            .unwrap();
        let answers = at_once(5, |i| {
            if i == 0 {
                let reply = api(&w, &key, reqwest::Method::DELETE, &path, Value::Null);
                assert_eq!(reply.status, 204, "{}", reply.body);
                None
            } else {
                let reply = refresh(&w, "refapp", &refresh_token, None);
                (reply.status == 200).then(|| reply.json())
            }
        });
        let mut every: Vec<Value> = answers.into_iter().flatten().collect();
        every.push(issued);
        assert_nothing_live(&w, &api_secret, "refapp", &every, "after the consent was withdrawn");
    }

    fn disabling_a_user_racing_their_sign_ins_leaves_them_nothing_usable(db: TestDatabase) {
        // docs/security.md: disabling a user revokes what depended on them at once. A
        // sign-in that checked the password just before the disable committed may still
        // finish its page, but nothing it leads to may work: no code redeems to a live
        // token, and the session cannot authorize again.
        let w = world(&db);
        let api_secret = with_api(&w);
        let key = tessera_testkit::management_key(&w.store, "cli", None);
        let browsers: Vec<Browser> = (0..4).map(|_| Browser::new(&w.app)).collect();
        let path = authorize_path("refapp", REDIRECT, &[("scope", "openid offline_access orders.read")]);
        let forms: Vec<(String, String)> = browsers
            .iter()
            .map(|b| form_of(b, b.get(&path).location().unwrap_or_else(|| panic!("no sign-in page"))))
            .collect();
        let user = format!("/api/v1/users/{}", w.alice);
        // A `Browser` stays on this thread: the threads send its cookie by hand.
        let cookies: Vec<String> = browsers.iter().map(|b| b.session().unwrap()).collect();
        let signed_in = at_once(5, |i| {
            if i == 0 {
                let reply = api(&w, &key, reqwest::Method::PATCH, &user, json!({ "disabled": true }));
                assert_eq!(reply.status, 200, "{}", reply.body);
                None
            } else {
                let ((request, csrf), cookie) = (&forms[i - 1], &cookies[i - 1]);
                let form = [("request", request.as_str()), ("csrf", csrf), ("login", "alice"), ("password", PASSWORD)];
                let sent = http().post(w.app.url("/login")).header("cookie", format!("tessera_session={cookie}")).form(&form);
                Some(Reply::read(sent.send().unwrap()))
            }
        });
        let mut issued = Vec::new();
        for (b, reply) in browsers.iter().zip(signed_in.into_iter().flatten()) {
            for set in reply.set_cookies() {
                let pair = set.split(';').next().unwrap_or("");
                if let Some(("tessera_session", value)) = pair.split_once('=') {
                    b.set_session("tessera_session", Some(value));
                }
            }
            // Follow what the sign-in answered as far as it goes.
            let last = complete(b, reply, "alice", PASSWORD);
            if let Some(code) = last.location().and_then(|_| last.callback().get("code").cloned()) {
                let reply = redeem(&w, "refapp", &code, REDIRECT, Some(VERIFIER));
                if reply.status == 200 {
                    issued.push(reply.json());
                } else {
                    assert_oauth_error(&reply, 400, "invalid_grant", "a code of a disabled user");
                }
            }
            let again = b.get(&authorize_path("refapp", REDIRECT, &[("prompt", "none")]));
            assert_eq!(again.callback().get("error").map(String::as_str), Some("login_required"), "no live session");
        }
        assert_nothing_live(&w, &api_secret, "refapp", &issued, "a disabled user's tokens");
    }

    fn parallel_password_changes_proving_the_same_current_password_have_exactly_one_winner(db: TestDatabase) {
        let w = world(&db);
        let browsers = [on_account_page(&w), on_account_page(&w), on_account_page(&w)];
        // Four changes: one from each browser, and a second from the first one.
        let from = [0, 1, 2, 0];
        let csrf: Vec<String> = browsers.iter().map(account_csrf).collect();
        let cookies: Vec<_> = browsers.iter().map(Browser::cookie).collect();
        let new_password = |i: usize| format!("quiet lantern orbit meadow {i}");
        let replies: Vec<Reply> = at_once(4, |i| {
            let new = new_password(i);
            let form = [
                ("csrf", csrf[from[i]].as_str()), ("current_password", PASSWORD), ("password", &new), ("password_confirm", &new),
            ];
            as_browser(&w, &cookies[from[i]], |b| b.post("/account/password", &form)).0
        });
        let winners: Vec<usize> = (0..4).filter(|i| replies[*i].location() == Some("/account?notice=password")).collect();
        assert_eq!(winners.len(), 1, "{:?}", replies.iter().map(|r| (r.status, r.location())).collect::<Vec<_>>());
        let winner = winners[0];
        for (i, reply) in replies.iter().enumerate().filter(|(i, _)| *i != winner) {
            // A loser was signed out by the winner, or found the password changed: either
            // way an answer that says so, and nothing written.
            let signed_out = reply.status == 303 && reply.location() == Some("/account/sign-in");
            let changed = reply.status == 409 && reply.body.contains("changed by another request meanwhile");
            let wrong_now = reply.status == 400 && reply.body.contains("This is not your current password.");
            assert!(signed_out || changed || wrong_now, "request {i}: {} {}", reply.status, reply.body);
            if changed || wrong_now {
                assert!(reply.body.contains(r#"id="current_password-error""#), "{}", reply.body);
            }
        }
        assert_eq!(audit_events(&w, "user.password_change").len(), 1, "one audit per success");

        // The winner's browser stays signed in; every other one is signed out.
        for (n, b) in browsers.iter().enumerate() {
            assert_eq!(still_signed_in(b), n == from[winner], "browser {n} (winner: request {winner})");
        }
        let sessions = {
            let now = tessera::now();
            w.store.read_transaction(|c| browser_sessions::list_active_of_user(c, &w.alice, 7200, now)).unwrap()
        };
        assert_eq!(sessions.len(), 1);

        // The password is the winner's: it signs in, the old one does not.
        let fresh = Browser::new(&w.app);
        let first = fresh.get(&authorize_path("webapp", REDIRECT, &[]));
        assert!(complete(&fresh, first, "alice", &new_password(winner)).callback().contains_key("code"));
        let first = fresh.get(&authorize_path("webapp", REDIRECT, &[("prompt", "login")]));
        let old = complete(&fresh, first, "alice", PASSWORD);
        assert!(old.body.contains("The username or password is incorrect."), "{}", old.body);
    }

    fn ending_every_other_session_racing_sign_ins_ends_exactly_the_sessions_it_counts(db: TestDatabase) {
        let w = world(&db);
        let keeper = on_account_page(&w);
        let before = [on_account_page(&w), on_account_page(&w)];
        let racers: Vec<Browser> = (0..4).map(|_| Browser::new(&w.app)).collect();
        let racer_csrf: Vec<String> = racers.iter().map(|b| hidden(&b.get("/account/sign-in").body, "csrf")).collect();
        let keeper_csrf = account_csrf(&keeper);
        let (keeper_cookie, racer_cookies) = (keeper.cookie(), racers.iter().map(Browser::cookie).collect::<Vec<_>>());
        let answers = at_once(5, |i| match i {
            0 => as_browser(&w, &keeper_cookie, |b| b.post("/account/sessions/end-others", &[("csrf", &keeper_csrf)])),
            _ => as_browser(&w, &racer_cookies[i - 1], |b| {
                b.post("/account/sign-in", &[("csrf", &racer_csrf[i - 1]), ("login", "alice"), ("password", PASSWORD)])
            }),
        });
        // The racers' browsers keep the new sessions their sign-ins set.
        for (b, (_, cookie)) in racers.iter().zip(&answers[1..]) {
            let (name, value) = cookie.clone().unwrap();
            b.set_session(&name, Some(&value));
        }
        let replies: Vec<Reply> = answers.into_iter().map(|(reply, _)| reply).collect();
        assert_eq!(replies[0].location(), Some("/account?notice=sessions"), "{}", replies[0].body);
        for reply in &replies[1..] {
            assert_eq!(reply.location(), Some("/account?notice=signed-in"), "every sign-in succeeds: {}", reply.body);
        }

        // Every session that existed before is ended; each racing sign-in either began
        // before the ending (then it ended with them) or after (then it lives), and the
        // audit counts exactly those ended.
        assert!(still_signed_in(&keeper));
        for b in &before {
            assert!(!still_signed_in(b), "a session from before");
        }
        let racers_alive = racers.iter().filter(|b| still_signed_in(b)).count();
        let ended = audit_events(&w, "user.sessions_end");
        assert_eq!(ended.len(), 1);
        assert_eq!(ended[0].summary["sessions"], json!(before.len() + racers.len() - racers_alive), "{:?}", ended[0].summary);
        let live = {
            let now = tessera::now();
            w.store.read_transaction(|c| browser_sessions::list_active_of_user(c, &w.alice, 7200, now)).unwrap()
        };
        assert_eq!(live.len(), 1 + racers_alive);

        // Ending the others again leaves only this browser.
        let again = keeper.post("/account/sessions/end-others", &[("csrf", &keeper_csrf)]);
        assert_eq!(again.location(), Some("/account?notice=sessions"));
        assert!(racers.iter().all(|b| !still_signed_in(b)));
        assert!(still_signed_in(&keeper));
    }
}
