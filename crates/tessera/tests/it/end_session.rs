//! End session (OpenID Connect RP-Initiated Logout; docs/security.md, "Redirects"): a
//! redirect only with a valid `id_token_hint`, to a registered URI of the hint's client;
//! without one the user is asked to confirm and nothing redirects; an ID token of another
//! user cannot end this browser's session. Each test drives the real server on SQLite and
//! Postgres.

use serde_json::Value;

use crate::common::security::*;

/// An ID token of `webapp` for alice, and the browser signed in with it.
fn signed_in(w: &World) -> (Browser, String) {
    let b = Browser::new(&w.app);
    let tokens = tokens(w, &b, &[]);
    (b, tokens["id_token"].as_str().unwrap().to_owned())
}

/// Whether the browser's session is still signed in: `prompt=none` gets a code.
fn still_signed_in(b: &Browser) -> bool {
    let reply = b.get(&authorize_path("webapp", REDIRECT, &[("prompt", "none")]));
    reply.callback().contains_key("code")
}

fn endsession(b: &Browser, params: &[(&str, &str)]) -> Reply {
    let query: String = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(params).finish();
    b.get(&format!("/connect/endsession?{query}"))
}

crate::both_backends! {
    fn logout_with_a_valid_hint_redirects_to_a_registered_post_logout_uri_of_the_hints_client(db: TestDatabase) {
        let w = world(&db);
        let (b, id_token) = signed_in(&w);
        let reply = endsession(&b, &[("id_token_hint", &id_token), ("post_logout_redirect_uri", LOGOUT), ("state", "bye-1")]);
        assert_eq!(reply.see_other(), format!("{LOGOUT}?state=bye-1"));
        assert_no_store(&reply, "logout redirect");
        assert!(b.session().is_none(), "the cookie is removed");
        // The session is over on the server too: the old cookie gets the sign-in page.
        let reply = b.get(&authorize_path("webapp", REDIRECT, &[]));
        assert!(reply.see_other().starts_with("/login?"), "{:?}", reply.location());
    }

    fn logout_never_redirects_to_a_uri_not_registered_for_the_hints_client(db: TestDatabase) {
        let w = world(&db);
        for uri in [OTHER_LOGOUT, "https://app.example.test/bye/", "https://app.example.test/BYE",
            "https://app.example.test/bye?x=1", "https://evil.test/bye", REDIRECT, "javascript:alert(1)"] {
            let (b, id_token) = signed_in(&w);
            let reply = endsession(&b, &[("id_token_hint", &id_token), ("post_logout_redirect_uri", uri), ("state", "s")]);
            assert_eq!(reply.status, 200, "{uri}: {}", reply.body);
            assert!(reply.location().is_none(), "{uri}: redirected to {:?}", reply.location());
            assert!(reply.body.contains("signed out"), "{uri}: {}", reply.body);
        }
    }

    fn logout_without_a_valid_hint_asks_to_confirm_and_never_redirects(db: TestDatabase) {
        let w = world(&db);
        let (b, id_token) = signed_in(&w);
        let mut tampered = id_token.clone();
        tampered.push('A');
        let other_issuer = {
            let mut claims: Value = payload(&id_token);
            claims["iss"] = serde_json::json!("https://evil.test");
            format!("{}.{}.{}", b64(&header_of(&id_token)), b64(&claims), id_token.rsplit('.').next().unwrap())
        };
        let hints = [None, Some("garbage".to_owned()), Some("a.b.c".to_owned()), Some(tampered), Some(alg_none(&id_token)),
            Some(foreign(&id_token)), Some(other_issuer)];
        for hint in hints {
            let mut params = vec![("post_logout_redirect_uri", LOGOUT), ("state", "s")];
            if let Some(hint) = &hint {
                params.push(("id_token_hint", hint));
            }
            let reply = endsession(&b, &params);
            assert_eq!(reply.status, 200, "{hint:?}: {}", reply.body);
            assert!(reply.location().is_none(), "{hint:?}: redirected to {:?}", reply.location());
            assert!(reply.body.contains("name=\"csrf\""), "{hint:?}: a confirmation form: {}", reply.body);
            assert!(still_signed_in(&b), "{hint:?}: nothing ends before the user confirms");
        }
        // Confirming signs out, and still does not redirect.
        let page = endsession(&b, &[("post_logout_redirect_uri", LOGOUT)]);
        let csrf = hidden(&page.body, "csrf");
        let reply = b.post("/connect/endsession/confirm", &[("csrf", &csrf), ("decision", "logout"), ("post_logout_redirect_uri", LOGOUT)]);
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert!(reply.location().is_none());
        assert!(b.session().is_none());
    }
}

/// The 2026-12 security review, finding 2: an ID token of another user cannot end this
/// browser's session (logout CSRF).
mod review_2026_12_logout {
    use super::*;
    use tessera_store::audit::{self, AuditFilter};

    fn events(w: &World, action: &str) -> Vec<audit::AuditEvent> {
        let filter = AuditFilter { action: Some(action.into()), ..Default::default() };
        w.store.read_transaction(|c| audit::list(c, &filter, &tessera_store::Page::first(50))).unwrap().items
    }

    crate::both_backends! {
        fn an_id_token_of_another_user_does_not_end_the_session_without_confirmation(db: TestDatabase) {
            let w = world(&db);
            let bob = add_user(&w.store, "bob", PASSWORD);
            // Bob signs in in his own browser and keeps his ID token.
            let bobs = Browser::new(&w.app);
            let callback = {
                let first = bobs.get(&authorize_path("webapp", REDIRECT, &[]));
                complete(&bobs, first, "bob", PASSWORD).callback()
            };
            let bob_tokens = redeem(&w, "webapp", &callback["code"], REDIRECT, Some(VERIFIER)).json();
            let bob_id_token = bob_tokens["id_token"].as_str().unwrap().to_owned();
            // Alice is signed in, with a token that dies with her session.
            let alice = Browser::new(&w.app);
            let alice_tokens = tokens(&w, &alice, &[]);
            let access = alice_tokens["access_token"].as_str().unwrap().to_owned();
            // A page sends alice's browser to end-session with bob's token.
            let reply = endsession(&alice, &[("id_token_hint", &bob_id_token), ("post_logout_redirect_uri", LOGOUT), ("state", "x")]);
            assert_eq!(reply.status, 200, "{}", reply.body);
            assert!(reply.location().is_none(), "no redirect: {:?}", reply.location());
            assert!(reply.set_cookies().is_empty(), "the cookie stays: {:?}", reply.set_cookies());
            assert!(reply.body.contains("asked to sign out an account that is not the one signed in here"), "{}", reply.body);
            assert!(reply.body.contains("You are signed in as <strong>alice</strong>"), "{}", reply.body);
            assert!(still_signed_in(&alice));
            assert_eq!(userinfo(&w, &access).status, 200, "alice's tokens live on");
            assert!(events(&w, "user.sign_out").is_empty());
            let mismatch = events(&w, "user.sign_out_hint_mismatch");
            assert_eq!(mismatch.len(), 1);
            assert_eq!(mismatch[0].target, format!("user:{}", w.alice));
            assert_eq!(mismatch[0].summary["hint_sub"], bob.as_str());
            // Alice confirms: she is signed out, by her own word, and not redirected.
            let csrf = hidden(&reply.body, "csrf");
            let confirmed = alice.post("/connect/endsession/confirm", &[("csrf", &csrf), ("decision", "logout")]);
            assert_eq!(confirmed.status, 200);
            assert!(confirmed.location().is_none());
            assert!(!still_signed_in(&alice));
            let signed_out = events(&w, "user.sign_out");
            assert_eq!(signed_out.len(), 1);
            assert_eq!(signed_out[0].actor, format!("user:{}", w.alice));
            assert_eq!(signed_out[0].summary["via"], "confirmation");
        }

        fn a_hint_of_an_earlier_session_of_the_same_user_asks_first(db: TestDatabase) {
            let w = world(&db);
            let b = Browser::new(&w.app);
            let old = tokens(&w, &b, &[])["id_token"].as_str().unwrap().to_owned();
            // The hint of this session signs out at once and redirects.
            let reply = endsession(&b, &[("id_token_hint", &old), ("post_logout_redirect_uri", LOGOUT), ("state", "s")]);
            assert_eq!(reply.see_other(), format!("{LOGOUT}?state=s"));
            let signed_out = events(&w, "user.sign_out");
            assert_eq!(signed_out[0].summary["client_id"], "webapp");
            assert_eq!(signed_out[0].summary["via"], "id_token_hint");
            // Signed in again: a new session, a new sid; the old hint no longer names it.
            let newer = tokens(&w, &b, &[])["id_token"].as_str().unwrap().to_owned();
            assert_ne!(payload(&old)["sid"], payload(&newer)["sid"]);
            let reply = endsession(&b, &[("id_token_hint", &old), ("post_logout_redirect_uri", LOGOUT)]);
            assert!(reply.location().is_none(), "{:?}", reply.location());
            assert!(still_signed_in(&b), "{}", reply.body);
        }
    }
}
