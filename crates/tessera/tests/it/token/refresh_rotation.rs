//! One refresh token rotation: the token endpoint and `POST /api/v1/token/custom` spend
//! refresh tokens the same way, so a spent token presented to either revokes its grant
//! (RFC 9700 §4.14.2), audited as `token.refresh_reused`, whichever path spent it —
//! except a retry: within the application's `refresh_token_retry_grace_seconds`, the
//! token rotated last, presented again while its successor is unused, gets new tokens
//! (the answer to its rotation was lost: a timeout, a cut connection, a crashed node;
//! review `reliability-2026-12`, finding 1).
use crate::common::security::*;
use serde_json::{Value, json};
use tessera_store::refresh_tokens;
use tessera_tokens::SecretHash;

/// A management key for the custom claims API.
fn management_key(w: &World) -> String {
    tessera_testkit::management_key(&w.store, "cli", None)
}

fn custom(w: &World, key: &str, access_token: &str, refresh_token: &str) -> (u16, Value) {
    let body = json!({ "token": access_token, "custom_attributes": { "tier": 3 }, "refresh_token": refresh_token });
    let response = http().post(w.app.url("/api/v1/token/custom")).bearer_auth(key).json(&body).send().unwrap();
    (response.status().as_u16(), response.json().unwrap_or(Value::Null))
}

fn text(value: &Value, name: &str) -> String {
    value[name].as_str().unwrap_or_else(|| panic!("no {name} in {value}")).to_owned()
}

fn reuse_events(w: &World) -> usize {
    events(w, "token.refresh_reused")
}

fn events(w: &World, action: &str) -> usize {
    let page = tessera_store::Page::first(100);
    let events = w.store.read_transaction(|c| tessera_store::audit::list(c, &Default::default(), &page)).unwrap();
    events.items.iter().filter(|e| e.action == action).count()
}

/// Whether the refresh token could still be rotated: unspent, its grant not revoked.
fn alive(w: &World, refresh_token: &str) -> bool {
    let hash = SecretHash::of(refresh_token);
    let found = w.store.read_transaction(|c| refresh_tokens::find_refresh_token(c, hash.as_str())).unwrap();
    found.is_some_and(|(token, grant)| token.consumed_at.is_none() && grant.revoked_at.is_none())
}

/// Alice's first tokens at `webapp`, and the answer to their first refresh (the answer a
/// client may never have received).
fn rotated_once(w: &World) -> (Value, Value) {
    let issued = tokens(w, &Browser::new(&w.app), &[("scope", "openid offline_access")]);
    let rotated = refresh(w, "webapp", &text(&issued, "refresh_token"), None);
    assert_eq!(rotated.status, 200, "{}", rotated.body);
    (issued, rotated.json())
}

fn assert_reuse_revoked(reply: &Reply, what: &str) {
    assert_oauth_error(reply, 400, "invalid_grant", what);
    assert_eq!(reply.json()["error_description"], "the refresh token was already used; its grant is revoked", "{what}");
}

crate::both_backends! {
    fn a_token_spent_at_the_token_endpoint_and_presented_to_the_custom_claims_api_revokes_its_grant(db: TestDatabase) {
        let w = world(&db);
        // Presented at once: without a retry grace (within one, see below).
        set_retry_grace(&w, "webapp", 0);
        let key = management_key(&w);
        let issued = tokens(&w, &Browser::new(&w.app), &[("scope", "openid offline_access")]);
        let spent = text(&issued, "refresh_token");
        let rotated = refresh(&w, "webapp", &spent, None);
        assert_eq!(rotated.status, 200, "{}", rotated.body);
        let live = text(&rotated.json(), "refresh_token");

        let (status, body) = custom(&w, &key, &text(&rotated.json(), "access_token"), &spent);
        assert_eq!((status, body["field"].as_str()), (400, Some("refresh_token")), "{body}");
        assert_eq!(reuse_events(&w), 1);
        let after = refresh(&w, "webapp", &live, None);
        assert_eq!((after.status, after.json()["error"].as_str()), (400, Some("invalid_grant")), "{}", after.body);
        assert_eq!(after.json()["error_description"], "the refresh token was revoked");
    }

    fn a_token_spent_at_the_custom_claims_api_and_presented_to_the_token_endpoint_revokes_its_grant(db: TestDatabase) {
        let w = world(&db);
        // Presented at once: without a retry grace (within one, see below).
        set_retry_grace(&w, "webapp", 0);
        let key = management_key(&w);
        let issued = tokens(&w, &Browser::new(&w.app), &[("scope", "openid offline_access")]);
        let spent = text(&issued, "refresh_token");
        let (status, body) = custom(&w, &key, &text(&issued, "access_token"), &spent);
        assert_eq!(status, 200, "{body}");
        let live = text(&body, "refresh_token");

        let reused = refresh(&w, "webapp", &spent, None);
        assert_eq!((reused.status, reused.json()["error"].as_str()), (400, Some("invalid_grant")), "{}", reused.body);
        assert_eq!(reused.json()["error_description"], "the refresh token was already used; its grant is revoked");
        assert_eq!(reuse_events(&w), 1);
        let (status, body) = custom(&w, &key, &text(&issued, "access_token"), &live);
        assert_eq!(status, 400, "the grant is revoked: {body}");
        assert_eq!(refresh(&w, "webapp", &live, None).json()["error_description"], "the refresh token was revoked");
    }

    fn a_token_spent_at_the_custom_claims_api_and_presented_to_it_again_revokes_its_grant(db: TestDatabase) {
        let w = world(&db);
        // Presented at once: without a retry grace (within one, see below).
        set_retry_grace(&w, "webapp", 0);
        let key = management_key(&w);
        let issued = tokens(&w, &Browser::new(&w.app), &[("scope", "openid offline_access")]);
        let spent = text(&issued, "refresh_token");
        let (status, body) = custom(&w, &key, &text(&issued, "access_token"), &spent);
        assert_eq!(status, 200, "{body}");
        let live = text(&body, "refresh_token");
        let (status, body) = custom(&w, &key, &text(&body, "token"), &spent);
        assert_eq!((status, body["field"].as_str()), (400, Some("refresh_token")), "{body}");
        assert_eq!(reuse_events(&w), 1);
        assert_eq!(refresh(&w, "webapp", &live, None).json()["error_description"], "the refresh token was revoked");
    }

    fn a_retry_after_a_lost_answer_gets_new_tokens_and_the_grant_lives(db: TestDatabase) {
        let w = world(&db);
        let (issued, lost) = rotated_once(&w);
        // The client never saw `lost` and retries with the token it has.
        let retried = refresh(&w, "webapp", &text(&issued, "refresh_token"), None);
        assert_eq!(retried.status, 200, "{}", retried.body);
        let retried = retried.json();
        assert_ne!(text(&retried, "refresh_token"), text(&lost, "refresh_token"));
        assert_eq!(retried["scope"], lost["scope"]);
        assert_eq!(payload(&text(&retried, "access_token"))["sub"], payload(&text(&lost, "access_token"))["sub"]);
        assert_eq!(userinfo(&w, &text(&retried, "access_token")).status, 200);
        // One refresh token of the family is alive: the retry's.
        assert!(!alive(&w, &text(&lost, "refresh_token")) && alive(&w, &text(&retried, "refresh_token")));
        assert_eq!((events(&w, "token.refresh_retried"), reuse_events(&w)), (1, 0));
        // And the client goes on as usual.
        let next = refresh(&w, "webapp", &text(&retried, "refresh_token"), None);
        assert_eq!(next.status, 200, "{}", next.body);
        assert_eq!(userinfo(&w, &text(&next.json(), "access_token")).status, 200);
    }

    fn a_retry_whose_answer_was_lost_too_can_be_retried_again(db: TestDatabase) {
        let w = world(&db);
        let (issued, _) = rotated_once(&w);
        let old = text(&issued, "refresh_token");
        let mut answers = Vec::new();
        for _ in 0..3 {
            let retried = refresh(&w, "webapp", &old, None);
            assert_eq!(retried.status, 200, "{}", retried.body);
            answers.push(text(&retried.json(), "refresh_token"));
        }
        // Only the last answer's token is alive.
        assert_eq!(answers.iter().map(|t| alive(&w, t)).collect::<Vec<_>>(), [false, false, true]);
        assert_eq!(reuse_events(&w), 0);
    }

    fn the_lost_answer_s_refresh_token_presented_after_the_retry_revokes_the_grant(db: TestDatabase) {
        // The client that lost the first answer never has its token: whoever presents it
        // holds a token the retry spent, which is a reuse (docs/security.md).
        let w = world(&db);
        let (issued, lost) = rotated_once(&w);
        let retried = refresh(&w, "webapp", &text(&issued, "refresh_token"), None).json();
        assert_reuse_revoked(&refresh(&w, "webapp", &text(&lost, "refresh_token"), None), "the lost answer's token");
        let after = refresh(&w, "webapp", &text(&retried, "refresh_token"), None);
        assert_eq!(after.json()["error_description"], "the refresh token was revoked", "{}", after.body);
        assert_invalid_token(&userinfo(&w, &text(&retried, "access_token")), "the retry's access token");
    }

    fn a_retry_after_the_successor_was_used_revokes_the_grant(db: TestDatabase) {
        let w = world(&db);
        let (issued, first) = rotated_once(&w);
        let next = refresh(&w, "webapp", &text(&first, "refresh_token"), None);
        assert_eq!(next.status, 200, "{}", next.body);
        // Within the grace, but the family moved on: the old token is stolen or stale.
        assert_reuse_revoked(&refresh(&w, "webapp", &text(&issued, "refresh_token"), None), "a stale retry");
        assert!(!alive(&w, &text(&next.json(), "refresh_token")));
        assert_eq!((events(&w, "token.refresh_retried"), reuse_events(&w)), (0, 1));
    }

    fn a_token_two_rotations_old_revokes_the_grant_within_the_grace(db: TestDatabase) {
        // Only the token rotated last may be retried (django-oauth-toolkit#1617).
        let w = world(&db);
        let (issued, first) = rotated_once(&w);
        let second = refresh(&w, "webapp", &text(&first, "refresh_token"), None).json();
        let third = refresh(&w, "webapp", &text(&second, "refresh_token"), None).json();
        assert_reuse_revoked(&refresh(&w, "webapp", &text(&issued, "refresh_token"), None), "the grandparent");
        assert!(!alive(&w, &text(&third, "refresh_token")));
    }

    fn a_retry_after_the_grace_revokes_the_grant(db: TestDatabase) {
        let w = world(&db);
        set_retry_grace(&w, "webapp", 1);
        let (issued, lost) = rotated_once(&w);
        std::thread::sleep(std::time::Duration::from_millis(2200));
        assert_reuse_revoked(&refresh(&w, "webapp", &text(&issued, "refresh_token"), None), "after the grace");
        assert!(!alive(&w, &text(&lost, "refresh_token")));
    }

    fn with_a_grace_of_zero_a_retry_revokes_the_grant_at_once(db: TestDatabase) {
        let w = world(&db);
        set_retry_grace(&w, "webapp", 0);
        let (issued, lost) = rotated_once(&w);
        assert_reuse_revoked(&refresh(&w, "webapp", &text(&issued, "refresh_token"), None), "grace 0");
        assert!(!alive(&w, &text(&lost, "refresh_token")));
        assert_eq!((events(&w, "token.refresh_retried"), reuse_events(&w)), (0, 1));
    }

    fn a_retry_by_another_client_is_refused_and_spends_nothing(db: TestDatabase) {
        let w = world(&db);
        let (issued, lost) = rotated_once(&w);
        assert_oauth_error(&refresh(&w, "other", &text(&issued, "refresh_token"), None), 400, "invalid_grant", "another client");
        assert!(alive(&w, &text(&lost, "refresh_token")), "the successor is untouched");
        assert_eq!((events(&w, "token.refresh_retried"), reuse_events(&w)), (0, 0));
    }

    fn parallel_retries_leave_one_live_refresh_token_and_the_grant(db: TestDatabase) {
        let w = world(&db);
        let (issued, lost) = rotated_once(&w);
        let old = text(&issued, "refresh_token");
        let replies: Vec<Reply> = std::thread::scope(|s| {
            let threads: Vec<_> = (0..6).map(|_| s.spawn(|| refresh(&w, "webapp", &old, None))).collect();
            threads.into_iter().map(|t| t.join().unwrap()).collect()
        });
        let answered: Vec<String> =
            replies.iter().filter(|r| r.status == 200).map(|r| text(&r.json(), "refresh_token")).collect();
        assert!(!answered.is_empty(), "{replies:?}");
        for refused in replies.iter().filter(|r| r.status != 200) {
            assert_oauth_error(refused, 400, "invalid_grant", "a parallel retry");
            assert_eq!(refused.json()["error_description"], "the refresh token was already used by a concurrent request");
        }
        // Each answer spent the one before: exactly one of them is alive, and the grant.
        assert_eq!(answered.iter().filter(|t| alive(&w, t)).count(), 1, "{answered:?}");
        assert!(!alive(&w, &text(&lost, "refresh_token")));
        assert_eq!(reuse_events(&w), 0);
    }

    fn parallel_refreshes_of_a_fresh_token_leave_one_live_refresh_token_and_the_grant(db: TestDatabase) {
        // Finding 20 of the 2026-12 review: within the grace, the losers of a race to
        // rotate are refused without revoking, or answered as retries.
        let w = world(&db);
        let issued = tokens(&w, &Browser::new(&w.app), &[("scope", "openid offline_access")]);
        let old = text(&issued, "refresh_token");
        let replies: Vec<Reply> = std::thread::scope(|s| {
            let threads: Vec<_> = (0..6).map(|_| s.spawn(|| refresh(&w, "webapp", &old, None))).collect();
            threads.into_iter().map(|t| t.join().unwrap()).collect()
        });
        let answered: Vec<String> =
            replies.iter().filter(|r| r.status == 200).map(|r| text(&r.json(), "refresh_token")).collect();
        assert!(!answered.is_empty(), "{replies:?}");
        for refused in replies.iter().filter(|r| r.status != 200) {
            assert_eq!(refused.json()["error_description"], "the refresh token was already used by a concurrent request");
        }
        assert_eq!(answered.iter().filter(|t| alive(&w, t)).count(), 1, "{answered:?}");
        assert_eq!(reuse_events(&w), 0);
    }

    fn a_retry_at_the_custom_claims_api_within_the_grace_is_answered(db: TestDatabase) {
        // The same rotation: a token the token endpoint rotated a moment ago, presented to
        // the custom claims API while its successor is unused, is a retry there too.
        let w = world(&db);
        let key = management_key(&w);
        let (issued, lost) = rotated_once(&w);
        let (status, body) = custom(&w, &key, &text(&lost, "access_token"), &text(&issued, "refresh_token"));
        assert_eq!(status, 200, "{body}");
        assert!(alive(&w, &text(&body, "refresh_token")) && !alive(&w, &text(&lost, "refresh_token")));
        assert_eq!((events(&w, "token.refresh_retried"), reuse_events(&w)), (1, 0));
        // Once the family moved on, it is a reuse there as well.
        let moved = refresh(&w, "webapp", &text(&body, "refresh_token"), None);
        assert_eq!(moved.status, 200, "{}", moved.body);
        let (status, body) = custom(&w, &key, &text(&lost, "access_token"), &text(&issued, "refresh_token"));
        assert_eq!((status, body["field"].as_str()), (400, Some("refresh_token")), "{body}");
        assert_eq!(reuse_events(&w), 1);
        assert!(!alive(&w, &text(&moved.json(), "refresh_token")));
    }
}
