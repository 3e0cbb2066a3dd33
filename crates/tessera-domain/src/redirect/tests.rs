use proptest::prelude::*;

use super::*;
use crate::application::ApplicationType::{self, Machine, Native, Spa, Web};

const ALL_TYPES: [ApplicationType; 4] = [Web, Spa, Native, Machine];

fn problem(raw: &str, app_type: ApplicationType) -> RedirectProblem {
    RedirectUri::parse(raw, app_type).unwrap_err().problem
}

fn web(raw: &str) -> RedirectUri {
    RedirectUri::parse(raw, Web).unwrap()
}

fn native(raw: &str) -> RedirectUri {
    RedirectUri::parse(raw, Native).unwrap()
}

// ---- registration ----

#[test]
fn https_uris_are_accepted_for_every_application_type() {
    for t in ALL_TYPES {
        let uri = RedirectUri::parse("https://app.example.com/callback?x=1", t).unwrap();
        assert_eq!(uri.as_str(), "https://app.example.com/callback?x=1");
        assert!(!uri.is_loopback_ip());
    }
    assert!(RedirectUri::parse("https://app.example.com:8443/cb", Web).is_ok());
}

#[test]
fn the_original_string_is_kept_exactly() {
    for raw in [
        "https://App.Example.com/cb",
        "https://app.example.com",
        "https://app.example.com:443/cb",
        "https://app.example.com/a%20b",
    ] {
        assert_eq!(web(raw).as_str(), raw);
        assert_eq!(web(raw).to_string(), raw);
    }
}

#[test]
fn a_fragment_is_refused() {
    assert_eq!(problem("https://app.example.com/cb#x", Web), RedirectProblem::Fragment);
    assert_eq!(problem("https://app.example.com/cb#", Web), RedirectProblem::Fragment);
}

#[test]
fn userinfo_is_refused_even_with_several_at_signs() {
    for raw in [
        "https://user@app.example.com/cb",
        "https://user:pw@app.example.com/cb",
        "https://@app.example.com/cb",
        "https://evil.test@app.example.com@evil.test/cb",
        "http://127.0.0.1@evil.test/cb",
    ] {
        assert_eq!(problem(raw, Web), RedirectProblem::UserInfo, "{raw}");
    }
    assert_eq!(problem("com.example.app://user@host/cb", Native), RedirectProblem::UserInfo);
}

#[test]
fn an_at_sign_in_the_path_is_not_userinfo() {
    assert!(RedirectUri::parse("https://app.example.com/u/@me", Web).is_ok());
}

#[test]
fn dangerous_schemes_are_refused_in_any_case() {
    for raw in [
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        "JAVASCRIPT://app.example.com/%0aalert(1)",
        "javascript:alert(\"x\")",
        "data:text/html,<script>alert(1)</script>",
        "Data:text/html;base64,PHNjcmlwdD4=",
        "vbscript:msgbox(1)",
        "file:///etc/passwd",
        "about:blank",
        "blob:https://app.example.com/uuid",
    ] {
        for t in ALL_TYPES {
            assert!(matches!(problem(raw, t), RedirectProblem::DangerousScheme { .. }), "{raw} {t}");
        }
    }
    let err = RedirectUri::parse("JavaScript:alert(1)", Native).unwrap_err();
    assert_eq!(
        err.to_string(),
        "redirect URI \"JavaScript:alert(1)\" uses the javascript: scheme, which is never allowed"
    );
}

#[test]
fn plain_http_to_a_non_loopback_host_is_refused() {
    for raw in [
        "http://app.example.com/cb",
        "http://localhost.evil.test/cb",
        "http://127.0.0.1.evil.test/cb",
        "http://10.0.0.1/cb",
        "http://2130706433/cb",
        "http://127.1/cb",
        "http://[0:0:0:0:0:0:0:1]/cb",
    ] {
        for t in ALL_TYPES {
            assert!(matches!(problem(raw, t), RedirectProblem::HttpNotLoopback { .. }), "{raw} {t}");
        }
    }
}

#[test]
fn http_loopback_is_allowed_for_every_application_type() {
    for raw in [
        "http://127.0.0.1/cb",
        "http://127.0.0.1:8080/cb",
        "http://[::1]:8080/cb",
        "http://localhost:3000/cb",
        "http://localhost/cb",
    ] {
        for t in ALL_TYPES {
            assert!(RedirectUri::parse(raw, t).is_ok(), "{raw} {t}");
        }
    }
    assert!(web("http://127.0.0.1:1/").is_loopback_ip());
    assert!(web("http://[::1]").is_loopback_ip());
    assert!(!web("http://localhost:3000/cb").is_loopback_ip());
}

#[test]
fn private_use_schemes_are_only_for_native_applications() {
    for raw in ["com.example.app:/callback", "com.example.app://callback", "myapp://cb"] {
        assert!(RedirectUri::parse(raw, Native).is_ok(), "{raw}");
        for t in [Web, Spa, Machine] {
            assert_eq!(
                problem(raw, t),
                RedirectProblem::CustomSchemeNotAllowed { scheme: raw.split(':').next().unwrap().into(), app_type: t }
            );
        }
    }
}

#[test]
fn other_special_schemes_are_refused() {
    for raw in ["ftp://example.com/", "ws://127.0.0.1/", "wss://example.com/"] {
        assert!(matches!(problem(raw, Native), RedirectProblem::UnsupportedScheme { .. }));
    }
}

#[test]
fn relative_and_empty_uris_are_refused() {
    assert_eq!(problem("", Web), RedirectProblem::Empty);
    assert_eq!(problem("/callback", Web), RedirectProblem::NotAbsolute);
    assert_eq!(problem("app.example.com/cb", Web), RedirectProblem::NotAbsolute);
    assert_eq!(problem("//app.example.com/cb", Web), RedirectProblem::NotAbsolute);
    assert_eq!(problem("1http://x.example/", Web), RedirectProblem::NotAbsolute);
}

#[test]
fn https_without_a_double_slash_host_is_refused() {
    assert_eq!(problem("https:app.example.com/cb", Web), RedirectProblem::MissingHost);
    assert_eq!(problem("https:/app.example.com/cb", Web), RedirectProblem::MissingHost);
    assert!(matches!(problem("https:///cb", Web), RedirectProblem::MissingHost | RedirectProblem::Malformed { .. }));
}

#[test]
fn characters_outside_rfc_3986_are_refused() {
    for (raw, ch) in [
        ("https://app.example.com/c b", ' '),
        ("https://app.example.com/cb\t", '\t'),
        ("https://app.example.com\\@evil.test/", '\\'),
        ("https://app.example.com/<script>", '<'),
        ("https://app.example.com/é", 'é'),
        ("https://app.example.com/\"", '"'),
        (" https://app.example.com/cb", ' '),
        ("https://app.example.com/%zz", '%'),
        ("https://app.example.com/%2", '%'),
    ] {
        assert_eq!(problem(raw, Web), RedirectProblem::InvalidCharacter { ch }, "{raw:?}");
    }
}

#[test]
fn dot_segments_are_refused_plain_encoded_or_with_parameters() {
    for raw in [
        "https://app.example.com/a/../cb",
        "https://app.example.com/a/./cb",
        "https://app.example.com/a/..",
        "https://app.example.com/a/..;/cb",
        "https://app.example.com/a/%2e%2e/cb",
        "https://app.example.com/a/%2E./cb",
        "com.example.app:/../cb",
    ] {
        assert_eq!(problem(raw, Native), RedirectProblem::DotSegment, "{raw}");
    }
    assert!(RedirectUri::parse("https://app.example.com/a..b/.well", Web).is_ok());
}

#[test]
fn overlong_uris_are_refused() {
    let raw = format!("https://app.example.com/{}", "a".repeat(MAX_REDIRECT_URI_LEN));
    assert_eq!(problem(&raw, Web), RedirectProblem::TooLong { max: MAX_REDIRECT_URI_LEN });
}

#[test]
fn malformed_ports_are_refused() {
    assert!(matches!(problem("https://app.example.com:99999/cb", Web), RedirectProblem::Malformed { .. }));
}

#[test]
fn errors_name_the_uri() {
    let err = RedirectUri::parse("http://app.example.com/cb", Spa).unwrap_err();
    assert_eq!(err.uri, "http://app.example.com/cb");
    assert!(err.to_string().starts_with("redirect URI \"http://app.example.com/cb\" uses http"));
}

// ---- matching ----

#[test]
fn an_identical_uri_matches() {
    let uri = web("https://app.example.com/callback?a=1");
    assert!(uri.matches("https://app.example.com/callback?a=1"));
}

#[test]
fn near_misses_do_not_match() {
    let uri = web("https://app.example.com/callback");
    for presented in [
        "https://app.example.com/callback/",
        "https://app.example.com/Callback",
        "https://APP.example.com/callback",
        "HTTPS://app.example.com/callback",
        "https://app.example.com/callback?x=1",
        "https://app.example.com/callback#frag",
        "https://user@app.example.com/callback",
        "https://app.example.com@evil.test/callback",
        "https://a@b@app.example.com/callback",
        "https://app.example.com/callback/..;/evil",
        "https://app.example.com/evil/..;/callback",
        "https://app.example.com/callback/%2e%2e/evil",
        "https://app.example.com/%2e%2e/callback",
        "https://app.example.com:443/callback",
        "https://app.example.com:8443/callback",
        "http://app.example.com/callback",
        "https://app.example.com/callback ",
        "https://app.example.com.evil.test/callback",
        "",
    ] {
        assert!(!uri.matches(presented), "{presented:?}");
    }
}

#[test]
fn a_native_applications_loopback_ip_uri_matches_any_port() {
    let uri = native("http://127.0.0.1/callback");
    assert!(uri.port_may_vary());
    assert!(uri.matches("http://127.0.0.1/callback"));
    assert!(uri.matches("http://127.0.0.1:51004/callback"));
    assert!(uri.matches("http://127.0.0.1:1/callback"));
    assert!(uri.matches("http://127.0.0.1:65535/callback"));
    let with_port = native("http://[::1]:8080/cb?x=1");
    assert!(with_port.matches("http://[::1]:9090/cb?x=1"));
    assert!(with_port.matches("http://[::1]/cb?x=1"));
    let bare = native("http://127.0.0.1");
    assert!(bare.matches("http://127.0.0.1:5000"));
}

#[test]
fn a_loopback_ip_uri_of_any_other_application_type_matches_only_exactly() {
    // RFC 9700 §4.1.3: port variance is the native-app exception (RFC 8252 §7.3).
    for t in [Web, Spa, Machine] {
        for (registered, other_port) in [
            ("http://127.0.0.1/callback", "http://127.0.0.1:51004/callback"),
            ("http://127.0.0.1:8080/callback", "http://127.0.0.1:9090/callback"),
            ("http://127.0.0.1:8080/callback", "http://127.0.0.1/callback"),
            ("http://[::1]:8080/cb?x=1", "http://[::1]:9090/cb?x=1"),
            ("http://127.0.0.1", "http://127.0.0.1:5000"),
        ] {
            let uri = RedirectUri::parse(registered, t).unwrap();
            assert!(uri.is_loopback_ip(), "{registered} {t}");
            assert!(!uri.port_may_vary(), "{registered} {t}");
            assert!(uri.matches(registered), "{registered} {t}");
            assert!(!uri.matches(other_port), "{t}: {registered} matched {other_port}");
        }
    }
    let https = native("https://app.example.com/cb");
    assert!(!https.port_may_vary(), "only loopback IP URIs");
    assert!(!native("http://localhost:3000/cb").port_may_vary(), "localhost is not an IP literal");
}

#[test]
fn a_loopback_ip_uri_matches_nothing_else_than_another_port() {
    let uri = native("http://127.0.0.1:8080/callback");
    for presented in [
        "http://127.0.0.1:8080/callback/",
        "http://127.0.0.1:8080/Callback",
        "http://127.0.0.1:8080/callback?x=1",
        "http://127.0.0.1:8080/callback#x",
        "http://127.0.0.1:0/callback",
        "http://127.0.0.1:65536/callback",
        "http://127.0.0.1:080/callback",
        "http://127.0.0.1:/callback",
        "http://127.0.0.1:80@evil.test/callback",
        "http://127.0.0.1.evil.test/callback",
        "http://127.0.0.1:8080.evil.test/callback",
        "http://localhost:8080/callback",
        "https://127.0.0.1:8080/callback",
        "HTTP://127.0.0.1:8080/callback",
        "http://[::1]:8080/callback",
        "http://127.0.0.1:8080/callback/..;/x",
        "http://127.0.0.1:8080/x/%2e%2e/callback",
    ] {
        assert!(!uri.matches(presented), "{presented:?}");
    }
}

#[test]
fn localhost_is_matched_exactly_including_the_port() {
    let uri = web("http://localhost:3000/cb");
    assert!(uri.matches("http://localhost:3000/cb"));
    assert!(!uri.matches("http://localhost:3001/cb"));
    assert!(!uri.matches("http://localhost.evil.test:3000/cb"));
}

#[test]
fn a_non_loopback_uri_does_not_match_another_port() {
    let uri = web("https://app.example.com:8443/cb");
    assert!(!uri.matches("https://app.example.com:9443/cb"));
    assert!(!uri.matches("https://app.example.com/cb"));
}

#[test]
fn post_logout_uris_follow_the_same_rules() {
    let uri = PostLogoutRedirectUri::parse("https://app.example.com/bye", Spa).unwrap();
    assert_eq!(uri.as_str(), "https://app.example.com/bye");
    assert_eq!(uri.to_string(), "https://app.example.com/bye");
    assert!(uri.matches("https://app.example.com/bye"));
    assert!(!uri.matches("https://app.example.com/bye/"));
    assert!(PostLogoutRedirectUri::parse("https://app.example.com/#x", Web).is_err());
    assert!(PostLogoutRedirectUri::parse("http://app.example.com/", Web).is_err());
    let lb = PostLogoutRedirectUri::parse("http://127.0.0.1/bye", Native).unwrap();
    assert!(lb.matches("http://127.0.0.1:4000/bye"));
}

#[test]
fn redirect_uris_serialize_as_their_string() {
    let uri = web("https://app.example.com/cb");
    assert_eq!(serde_json::to_string(&uri).unwrap(), "\"https://app.example.com/cb\"");
}

proptest! {
    #[test]
    fn parsing_never_panics(raw in any::<String>()) {
        for t in ALL_TYPES {
            let _ = RedirectUri::parse(&raw, t);
        }
    }

    #[test]
    fn parsing_uri_like_input_never_panics(raw in "(https?|com\\.x|javascript|[a-z]{1,4}):(//)?[a-z0-9.:@\\[\\]%/?#;=&-]{0,30}") {
        for t in ALL_TYPES {
            if let Ok(uri) = RedirectUri::parse(&raw, t) {
                prop_assert!(uri.matches(&raw));
                prop_assert!(!raw.contains('#'));
            }
        }
    }

    #[test]
    fn a_parsed_uri_matches_its_own_string(path in "[a-z0-9/._~-]{0,20}", query in "(\\?[a-z0-9=&]{0,10})?") {
        for host in ["app.example.com", "127.0.0.1", "[::1]", "localhost:8080"] {
            let scheme = if host.contains('.') && !host.starts_with("127") { "https" } else { "http" };
            let raw = format!("{scheme}://{host}/{path}{query}");
            if let Ok(uri) = RedirectUri::parse(&raw, Native) {
                prop_assert!(uri.matches(&raw));
                prop_assert!(uri.matches(uri.as_str()));
            }
        }
    }

    #[test]
    fn matching_never_panics(presented in any::<String>()) {
        let _ = native("http://127.0.0.1:8080/cb").matches(&presented);
        let _ = web("http://127.0.0.1:8080/cb").matches(&presented);
        let _ = web("https://app.example.com/cb").matches(&presented);
    }
}
