//! docs/security.md, "Redirect URIs" and its requirements table: the exact comparison of
//! `redirect_uri` (only the port of a native application's loopback IP URI may vary), no
//! redirect for an unknown client or an unmatched URI, and the rules for registering a
//! redirect URI. Each test drives the real server on SQLite and Postgres.

use tessera_domain::{ApplicationType, PostLogoutRedirectUri, RedirectUri};

use crate::common::security::*;

/// Authorize with `redirect_uri` = `presented` for `webapp`: must be our error page.
fn assert_not_redirected(w: &World, presented: &str) {
    let b = Browser::new(&w.app);
    let reply = b.get(&authorize_path("webapp", presented, &[]));
    reply.assert_error_page(presented);
    assert!(reply.body.contains("not registered"), "{presented}: {}", reply.body);
    // The same by a form POST, and with another error that would otherwise be redirected.
    let reply = b.post(
        "/connect/authorize",
        &[("client_id", "webapp"), ("redirect_uri", presented), ("response_type", "token")],
    );
    reply.assert_error_page(presented);
    assert!(b.session().is_none(), "{presented}: nothing was started for an untrusted request");
}

crate::both_backends! {
    fn redirect_uri_with_a_trailing_slash_gets_an_error_page_and_no_location(db: TestDatabase) {
        let w = world(&db);
        assert_not_redirected(&w, "https://app.example.test/cb/");
    }

    fn redirect_uri_in_a_different_case_gets_an_error_page_and_no_location(db: TestDatabase) {
        let w = world(&db);
        assert_not_redirected(&w, "https://app.example.test/CB");
        assert_not_redirected(&w, "https://APP.example.test/cb");
        assert_not_redirected(&w, "HTTPS://app.example.test/cb");
    }

    fn redirect_uri_with_an_extra_query_gets_an_error_page_and_no_location(db: TestDatabase) {
        let w = world(&db);
        assert_not_redirected(&w, "https://app.example.test/cb?next=https://evil.test");
        assert_not_redirected(&w, "https://app.example.test/cb?");
    }

    fn redirect_uri_with_a_fragment_gets_an_error_page_and_no_location(db: TestDatabase) {
        let w = world(&db);
        assert_not_redirected(&w, "https://app.example.test/cb#x");
        assert_not_redirected(&w, "https://app.example.test/cb#");
    }

    fn redirect_uri_with_user_at_host_gets_an_error_page_and_no_location(db: TestDatabase) {
        let w = world(&db);
        assert_not_redirected(&w, "https://user@app.example.test/cb");
        assert_not_redirected(&w, "https://app.example.test@evil.test/cb");
    }

    fn redirect_uri_with_several_at_signs_gets_an_error_page_and_no_location(db: TestDatabase) {
        let w = world(&db);
        assert_not_redirected(&w, "https://evil.test@app.example.test@evil.test/cb");
        assert_not_redirected(&w, "https://a@b@app.example.test/cb");
    }

    fn redirect_uri_with_dot_dot_semicolon_gets_an_error_page_and_no_location(db: TestDatabase) {
        let w = world(&db);
        assert_not_redirected(&w, "https://app.example.test/cb/..;/evil");
        assert_not_redirected(&w, "https://app.example.test/evil/..;/cb");
    }

    fn redirect_uri_with_encoded_dot_dot_gets_an_error_page_and_no_location(db: TestDatabase) {
        let w = world(&db);
        assert_not_redirected(&w, "https://app.example.test/cb/%2e%2e/evil");
        assert_not_redirected(&w, "https://app.example.test/evil/%2E%2E/cb");
        assert_not_redirected(&w, "https://app.example.test/cb%2f..%2fevil");
    }

    fn redirect_uri_with_another_port_gets_an_error_page_and_no_location(db: TestDatabase) {
        let w = world(&db);
        assert_not_redirected(&w, "https://app.example.test:8443/cb");
        assert_not_redirected(&w, "https://app.example.test:443/cb");
        // `localhost` is not a loopback IP literal: its port may not vary either.
        assert_not_redirected(&w, "http://localhost:8080/cb");
    }

    fn redirect_uri_to_localhost_dot_evil_gets_an_error_page_and_no_location(db: TestDatabase) {
        let w = world(&db);
        assert_not_redirected(&w, "http://localhost.evil.test/cb");
        assert_not_redirected(&w, "http://127.0.0.1.evil.test/cb");
        assert_not_redirected(&w, "http://127.0.0.1:80@evil.test/cb");
    }

    fn redirect_uri_with_a_javascript_scheme_in_any_case_gets_an_error_page_and_no_location(db: TestDatabase) {
        let w = world(&db);
        for uri in ["javascript:alert(1)", "JavaScript:alert(1)", "JAVASCRIPT://app.example.test/cb%0aalert(1)", "data:text/html,x"] {
            assert_not_redirected(&w, uri);
        }
    }

    fn a_native_applications_loopback_redirect_uri_may_use_another_port_and_nothing_else(db: TestDatabase) {
        // RFC 8252 §7.3: a native app's loopback listener takes whatever port is free.
        let w = world(&db);
        add_app(&w, "nativeapp", &native_app(&[LOOPBACK, LOOPBACK_V6, LOCALHOST]));
        for presented in ["http://127.0.0.1:54321/cb", "http://[::1]:4000/cb", "http://127.0.0.1/cb"] {
            let b = Browser::new(&w.app);
            let callback = code_for(&b, &authorize_path("nativeapp", presented, &[]));
            let reply = redeem_public(&w, "nativeapp", &callback["code"], presented, VERIFIER);
            assert_eq!(reply.status, 200, "{presented}: {}", reply.body);
        }
        let b = Browser::new(&w.app);
        let first = b.get(&authorize_path("nativeapp", "http://127.0.0.1:54321/cb", &[]));
        let answer = complete(&b, first, "alice", PASSWORD).see_other();
        assert!(answer.starts_with("http://127.0.0.1:54321/cb?code="), "{answer}");
        for other in ["http://127.0.0.1:54321/cb/", "http://127.0.0.1:54321/CB", "http://127.0.0.1:0/cb",
            "http://127.0.0.1:99999/cb", "http://127.0.0.1:54321/cb?x=1", "http://127.0.0.2:54321/cb",
            "https://127.0.0.1:54321/cb", "http://[::1]:4000/cb/", "http://127.0.0.1:054321/cb",
            // `localhost` is not a loopback IP literal: its port may not vary, even for a native app.
            "http://localhost:8080/cb"] {
            let reply = b.get(&authorize_path("nativeapp", other, &[]));
            reply.assert_error_page(other);
        }
    }

    fn a_web_applications_loopback_redirect_uri_on_another_port_gets_an_error_page_and_no_location(db: TestDatabase) {
        // RFC 9700 §4.1.3: port variance is the exception for native apps; every other
        // client gets an exact match, loopback included.
        let w = world(&db);
        for presented in ["http://127.0.0.1:54321/cb", "http://127.0.0.1:1/cb", "http://[::1]:4000/cb"] {
            assert_not_redirected(&w, presented);
        }
        // A single-page application is held to the same exact match.
        add_app(&w, "spa", &spa(&[LOOPBACK]));
        let b = Browser::new(&w.app);
        let reply = b.get(&authorize_path("spa", "http://127.0.0.1:54321/cb", &[]));
        reply.assert_error_page("spa, another port");
        assert!(reply.body.contains("not registered"), "{}", reply.body);
        assert!(b.session().is_none(), "nothing was started for an untrusted request");
        // The registered string itself still works for the web app.
        let callback = code_for(&b, &authorize_path("webapp", LOOPBACK, &[]));
        assert_eq!(redeem(&w, "webapp", &callback["code"], LOOPBACK, Some(VERIFIER)).status, 200);
    }

    fn an_unknown_client_id_never_redirects(db: TestDatabase) {
        let w = world(&db);
        let b = Browser::new(&w.app);
        for client in ["nobody", "WEBAPP", "webapp ", " webapp", "web%61pp"] {
            let reply = b.get(&authorize_path(client, REDIRECT, &[]));
            reply.assert_error_page(client);
        }
        let reply = b.get(&authorize_path("", REDIRECT, &[]));
        reply.assert_error_page("no client_id");
        // A disabled application is unknown.
        let mut disabled = web_app(&[REDIRECT], &[]);
        disabled.enabled = false;
        add_app(&w, "disabled", &disabled);
        b.get(&authorize_path("disabled", REDIRECT, &[])).assert_error_page("disabled");
        // Even with errors that would otherwise go back to the client.
        let reply = b.get(&authorize_path("nobody", REDIRECT, &[("response_type", "token"), ("prompt", "none")]));
        reply.assert_error_page("unknown client with other errors");
    }

    fn an_unmatched_redirect_uri_never_redirects(db: TestDatabase) {
        let w = world(&db);
        let b = Browser::new(&w.app);
        // Another client's URI, a missing one, and one that is unmatched whatever else is wrong.
        b.get(&authorize_path("webapp", OTHER_REDIRECT, &[])).assert_error_page("another client's URI");
        b.get(&authorize_path("webapp", "", &[])).assert_error_page("no redirect_uri");
        for extra in [("response_type", "token"), ("scope", "nope"), ("prompt", "none"), ("code_challenge_method", "plain")] {
            b.get(&authorize_path("webapp", "https://evil.test/cb", &[extra])).assert_error_page(extra.0);
        }
        // A repeated redirect_uri or client_id: we cannot know which one to trust.
        let path = authorize_path("webapp", REDIRECT, &[]);
        b.get(&format!("{path}&redirect_uri=https%3A%2F%2Fevil.test%2Fcb")).assert_error_page("repeated redirect_uri");
        b.get(&format!("{path}&client_id=other")).assert_error_page("repeated client_id");
    }

    fn a_stored_redirect_uri_that_breaks_the_registration_rules_is_never_used(db: TestDatabase) {
        // The store accepts anything; the authorization endpoint still checks the registered
        // URIs against the rules before comparing.
        let w = world(&db);
        let bad = ["http://evil.test/cb", "javascript:alert(1)", "https://app.example.test/cb#frag", "https://u@evil.test/cb"];
        add_app(&w, "legacy", &web_app(&bad, &[]));
        let b = Browser::new(&w.app);
        for uri in bad {
            b.get(&authorize_path("legacy", uri, &[])).assert_error_page(uri);
        }
    }

    fn registering_a_redirect_uri_with_a_fragment_a_script_scheme_or_plain_remote_http_is_refused(db: TestDatabase) {
        let _ = db;
        let types = [ApplicationType::Web, ApplicationType::Spa, ApplicationType::Native, ApplicationType::Machine];
        let refused = [
            "https://app.example.test/cb#x", "https://app.example.test/cb#", "javascript:alert(1)", "JavaScript:alert(1)",
            "JAVASCRIPT://x/%0aalert(1)", "data:text/html,x", "DATA:text/html,x", "http://app.example.test/cb",
            "http://localhost.evil.test/cb", "http://127.0.0.1.evil.test/cb", "http://10.0.0.1/cb",
            "https://user@app.example.test/cb", "https://a@b@app.example.test/cb", "https://app.example.test/cb/..;/x",
            "https://app.example.test/%2e%2e/cb",
        ];
        for app_type in types {
            for uri in refused {
                assert!(RedirectUri::parse(uri, app_type).is_err(), "{app_type:?} may register {uri}");
                assert!(PostLogoutRedirectUri::parse(uri, app_type).is_err(), "{app_type:?} may register logout {uri}");
            }
            for uri in ["https://app.example.test/cb", "http://127.0.0.1/cb", "http://[::1]:8080/cb", "http://localhost/cb"] {
                assert!(RedirectUri::parse(uri, app_type).is_ok(), "{app_type:?} may not register {uri}");
            }
        }
    }
}

/// Bugs these tests found, fixed: they stay as regression tests.
mod regressions {
    use super::*;

    crate::both_backends! {
        fn an_unknown_client_id_with_a_nul_byte_gets_the_error_page(db: TestDatabase) {
            let w = world(&db);
            let b = Browser::new(&w.app);
            for client in ["webapp\u{0}", "\u{0}"] {
                b.get(&authorize_path(client, REDIRECT, &[])).assert_error_page("client_id with NUL");
            }
            b.get(&authorize_path("webapp", "https://app.example.test/cb\u{0}", &[])).assert_error_page("redirect_uri with NUL");
        }
    }
}
