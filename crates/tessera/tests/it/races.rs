//! Races, as one suite (docs/security.md, "Races"): each test sends the competing requests
//! at once, from threads released together by a barrier, on SQLite and Postgres, and
//! checks exactly the outcome the docs promise, then the state after: which tokens still
//! work. A check and the write it guards are one atomic step, so the outcome never depends
//! on who wins.

use std::sync::Barrier;

use serde_json::{Value, json};

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
}
