//! Hostile and malformed requests to every endpoint: missing, repeated, overlong (10 kB,
//! 100 kB), non-UTF-8 (`%FF`, raw bytes in the body and the request line), NUL bytes and
//! wrongly typed parameters, odd headers and content types. None may answer 5xx, panic or
//! hang (every request has a timeout), and the server must still work afterwards. On
//! SQLite and Postgres.

use std::io::{Read, Write};
use std::time::Duration;

use reqwest::Method;
use reqwest::blocking::Client;
use tessera_domain::ClaimValueType;
use tessera_store::scopes::{self, ClaimTypeInput};

use crate::common::{self, security::*};

/// Every parameter name any endpoint reads.
const NAMES: &[&str] = &[
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "prompt",
    "max_age",
    "id_token_hint",
    "login_hint",
    "response_mode",
    "ui_locales",
    "request",
    "csrf",
    "login",
    "password",
    "username",
    "email",
    "decision",
    "claim.employee_id",
    "grant_type",
    "code",
    "code_verifier",
    "refresh_token",
    "client_secret",
    "client_assertion",
    "client_assertion_type",
    "token",
    "token_type_hint",
    "access_token",
    "post_logout_redirect_uri",
    "resource",
];

/// Values of the wrong type or shape, for every parameter.
const ODD_VALUES: &[&str] = &[
    "%FF%FE",
    "%C0%AF",
    "%ED%A0%80",
    "a%00b",
    "%00",
    "-1",
    "99999999999999999999999999",
    "1e309",
    "NaN",
    "%7B%22a%22%3A1%7D",
    "%5B1%2C2%5D",
    "true",
    "a.b.c",
    "eyJhbGciOiJub25lIn0.e30.",
    "eyJhbGciOiJub25lIn0.e30",
    "..",
    "%2e%2e%2f%2e%2e",
    "%20",
    "+",
    "%",
    "%zz",
    "%E2%80%AE",
    "%3Cscript%3E",
    "javascript%3Aalert(1)",
    "http%3A%2F%2Fevil.test",
    "none+login",
    "code+id_token",
    "S256",
    "plain",
    "allow",
    "deny",
    "logout",
];

/// An endpoint and how it takes parameters.
struct Endpoint {
    name: String,
    method: Method,
    path: String,
    /// Parameters always sent first (a grant type, a valid request handle and CSRF token…).
    base: String,
    /// Whether the parameters go in a form body (else the query string).
    form: bool,
    /// Credentials sent with the request.
    basic: Option<(String, String)>,
}

fn endpoint(method: Method, path: &str, base: &str, form: bool) -> Endpoint {
    Endpoint {
        name: format!("{method} {path} [{base}]"),
        method,
        path: path.into(),
        base: base.into(),
        form,
        basic: None,
    }
}

fn payloads() -> Vec<(String, Vec<u8>)> {
    let mut all: Vec<(String, Vec<u8>)> = Vec::new();
    let mut add = |name: String, body: String| all.push((name, body.into_bytes()));
    add("nothing".into(), String::new());
    add("every parameter repeated".into(), NAMES.iter().map(|n| format!("{n}=a&{n}=b")).collect::<Vec<_>>().join("&"));
    add(
        "every parameter 10 kB".into(),
        NAMES.iter().map(|n| format!("{n}={}", "A".repeat(10_000))).collect::<Vec<_>>().join("&"),
    );
    add("one parameter 100 kB".into(), format!("scope={}", "A".repeat(100_000)));
    add("a 10 kB name".into(), format!("{}=1", "n".repeat(10_000)));
    add("2000 parameters".into(), (0..2000).map(|i| format!("p{i}=1")).collect::<Vec<_>>().join("&"));
    add("a %FF name".into(), "%FF%FE=1".into());
    add("a NUL name".into(), "%00=2&a%00=3".into());
    add("client_secret_post with NUL".into(), "client_id=fussy%00&client_secret=x".into());
    add("a NUL login".into(), "login=alice%00&password=x&username=alice%00".into());
    add("separators only".into(), "&&&=&=x&y=&%&%%&==".into());
    for value in ODD_VALUES {
        add(
            format!("every parameter = {value}"),
            NAMES.iter().map(|n| format!("{n}={value}")).collect::<Vec<_>>().join("&"),
        );
    }
    for name in NAMES {
        add(format!("{name} alone with a NUL byte"), format!("{name}=a%00b"));
        add(format!("{name}[]"), format!("{name}[]=x&{name}[a]=y"));
        add(format!("{name} 100 kB"), format!("{name}={}", "%FF".repeat(33_000)));
    }
    all.push((
        "raw invalid UTF-8".into(),
        [b"scope=".as_slice(), &[0xff, 0xfe, 0x80], b"&state=", &[0xc0, 0xaf], b"&login=", &[0xed, 0xa0, 0x80]]
            .concat(),
    ));
    all.push(("raw bytes only".into(), vec![0xff, 0x00, 0xfe, b'=', 0x80, b'&', 0x01]));
    all
}

/// Sends `params` to `endpoint`: the status, or why there was none.
fn send(
    client: &Client,
    base_url: &str,
    cookie: Option<&str>,
    endpoint: &Endpoint,
    params: &[u8],
) -> Result<u16, String> {
    let mut all = endpoint.base.clone().into_bytes();
    if !all.is_empty() && !params.is_empty() {
        all.push(b'&');
    }
    all.extend_from_slice(params);
    let mut url = format!("{base_url}{}", endpoint.path);
    let mut request = if endpoint.form {
        client
            .request(endpoint.method.clone(), &url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(all)
    } else {
        // Bytes that may not appear in a URL are percent-encoded, as a browser would.
        let query: String = all
            .iter()
            .map(|&b| if b.is_ascii_graphic() { (b as char).to_string() } else { format!("%{b:02X}") })
            .collect();
        url.push('?');
        url.push_str(&query);
        if url.len() > 60_000 {
            // Longer than the HTTP client will build: sent by hand.
            let target = &url[base_url.len()..];
            let mut head = format!("{} {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n", endpoint.method);
            if let Some(cookie) = cookie {
                head.push_str(&format!("Cookie: tessera_session={cookie}\r\n"));
            }
            head.push_str("\r\n");
            return raw(base_url.trim_start_matches("http://"), head.as_bytes())
                .ok_or_else(|| "connection closed without an answer".to_owned());
        }
        client.request(endpoint.method.clone(), &url)
    };
    if let Some(cookie) = cookie {
        request = request.header("cookie", format!("tessera_session={cookie}"));
    }
    if let Some((id, secret)) = &endpoint.basic {
        request = request.basic_auth(id, Some(secret));
    }
    request.send().map(|r| r.status().as_u16()).map_err(|e| format!("{e:?}"))
}

/// Sends raw bytes on a new connection: the status of the answer, if any.
fn raw(address: &str, request: &[u8]) -> Option<u16> {
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream.write_all(request).ok()?;
    // The whole request is sent: a body shorter than announced ends here.
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&buffer[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut => {
                panic!("no answer within 10 s to {:?}", String::from_utf8_lossy(&request[..request.len().min(200)]))
            }
            Err(_) => break,
        }
    }
    let text = String::from_utf8_lossy(&answer);
    text.split(' ').nth(1).and_then(|s| s.parse().ok())
}

/// The endpoints, with valid context where one gets further in: a pending request of a
/// signed-in browser (at the required-claims step) and its CSRF token.
fn endpoints(w: &World, request: &str, csrf: &str) -> Vec<Endpoint> {
    let page = format!("request={request}&csrf={csrf}");
    let authorize = authorize_path("fussy", REDIRECT, &[]).trim_start_matches("/connect/authorize?").to_owned();
    let mut all = vec![
        endpoint(Method::GET, "/.well-known/openid-configuration", "", false),
        endpoint(Method::GET, "/.well-known/openid-configuration/jwks", "", false),
        endpoint(Method::GET, "/healthz", "", false),
        endpoint(Method::GET, "/readyz", "", false),
        endpoint(Method::GET, "/connect/authorize", "", false),
        endpoint(Method::POST, "/connect/authorize", "", true),
        endpoint(Method::GET, "/connect/authorize", &authorize, false),
        endpoint(Method::POST, "/connect/authorize", &authorize, true),
        endpoint(Method::GET, "/connect/authorize/resume", "", false),
        endpoint(Method::GET, "/connect/authorize/resume", &format!("request={request}"), false),
        endpoint(Method::GET, "/connect/userinfo", "", false),
        endpoint(Method::POST, "/connect/userinfo", "", true),
        endpoint(Method::GET, "/connect/endsession", "", false),
        endpoint(Method::POST, "/connect/endsession", "", true),
        endpoint(Method::POST, "/connect/endsession/confirm", "", true),
        endpoint(Method::POST, "/connect/endsession/confirm", &format!("csrf={csrf}"), true),
        endpoint(Method::GET, "/static/tessera.css", "", false),
        endpoint(Method::GET, "/static/%FF%FE", "", false),
        endpoint(Method::GET, &format!("/static/{}", "a".repeat(10_000)), "", false),
        endpoint(Method::GET, "/static/..%2f..%2fCargo.toml", "", false),
        endpoint(Method::GET, "/connect/token", "", false),
    ];
    for path in ["/login", "/register", "/login/claims", "/consent"] {
        all.push(endpoint(Method::GET, path, "", false));
        all.push(endpoint(Method::GET, path, &format!("request={request}"), false));
        all.push(endpoint(Method::POST, path, "", true));
        all.push(endpoint(Method::POST, path, &page, true));
    }
    for grant in [
        "authorization_code",
        "refresh_token",
        "client_credentials",
        "password",
        "urn:ietf:params:oauth:grant-type:device_code",
    ] {
        let base = format!("grant_type={}", url::form_urlencoded::byte_serialize(grant.as_bytes()).collect::<String>());
        all.push(endpoint(Method::POST, "/connect/token", &base, true));
        let mut authenticated = endpoint(Method::POST, "/connect/token", &base, true);
        authenticated.basic = Some(("fussy".into(), w.secret.clone()));
        authenticated.name.push_str(" authenticated");
        all.push(authenticated);
    }
    for path in ["/connect/introspect", "/connect/revocation"] {
        all.push(endpoint(Method::POST, path, "", true));
        let mut authenticated = endpoint(Method::POST, path, "", true);
        authenticated.basic = Some(("fussy".into(), w.secret.clone()));
        authenticated.name.push_str(" authenticated");
        all.push(authenticated);
    }
    all
}

/// Requests whose headers are odd, to the endpoints that read headers.
fn odd_headers(client: &Client, base_url: &str) -> Vec<(String, Result<u16, String>)> {
    let targets = [
        (Method::POST, "/connect/token", "grant_type=client_credentials"),
        (Method::POST, "/connect/introspect", "token=x"),
        (Method::POST, "/connect/revocation", "token=x"),
        (Method::GET, "/connect/userinfo", ""),
        (Method::POST, "/connect/userinfo", "access_token=x"),
        (Method::GET, "/connect/authorize", ""),
        (Method::GET, "/connect/endsession", ""),
    ];
    let invalid_utf8_basic =
        format!("Basic {}", base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [0xff, b':', 0xfe]));
    let headers: Vec<(&str, Vec<u8>)> = vec![
        ("authorization", b"Basic %%%".to_vec()),
        ("authorization", invalid_utf8_basic.into_bytes()),
        ("authorization", b"Basic ".to_vec()),
        // Marked "NUL": Basic credentials whose client id carries a NUL byte, raw or escaped.
        (
            "authorization NUL",
            format!("Basic {}", base64::Engine::encode(&base64::engine::general_purpose::STANDARD, b"fussy\0:x"))
                .into_bytes(),
        ),
        (
            "authorization NUL",
            format!("Basic {}", base64::Engine::encode(&base64::engine::general_purpose::STANDARD, b"fussy%00:x"))
                .into_bytes(),
        ),
        ("authorization", b"Bearer".to_vec()),
        ("authorization", b"Bearer ".to_vec()),
        ("authorization", b"Bearer a.b.c".to_vec()),
        ("authorization", [b"Bearer ".as_slice(), &[0xff, 0xfe]].concat()),
        ("authorization", format!("Bearer {}", "A".repeat(10_000)).into_bytes()),
        ("authorization", b"DPoP x".to_vec()),
        ("authorization", b"Digest username=x".to_vec()),
        ("cookie", [b"tessera_session=".as_slice(), &[0xff, 0xfe]].concat()),
        ("cookie", format!("tessera_session={}", "A".repeat(10_000)).into_bytes()),
        ("cookie", b"tessera_session=a; tessera_session=b; __Host-tessera_session=c".to_vec()),
        ("content-type", b"application/x-www-form-urlencoded; charset=latin1".to_vec()),
        ("content-type", b"application/json".to_vec()),
        ("content-type", [b"application/x-www-form-urlencoded; x=".as_slice(), &[0xff]].concat()),
        ("accept", b"application/token-introspection+jwt, */*;q=0.1".to_vec()),
        ("accept", [b"application/".as_slice(), &[0xff]].concat()),
        ("origin", b"null".to_vec()),
        ("x-forwarded-for", b"not an address, 999.1.1.1".to_vec()),
        ("host", b"evil.test".to_vec()),
    ];
    let mut results = Vec::new();
    for (method, path, body) in &targets {
        for (label, value) in &headers {
            let name = label.trim_end_matches(" NUL");
            let shown: String = String::from_utf8_lossy(value).chars().take(40).collect();
            let request = client
                .request(method.clone(), format!("{base_url}{path}"))
                .header("content-type", "application/x-www-form-urlencoded")
                .header(name, reqwest::header::HeaderValue::from_bytes(value).unwrap())
                .body(body.to_string());
            let outcome = request.send().map(|r| r.status().as_u16()).map_err(|e| format!("{e:?}"));
            results.push((format!("{method} {path} with {label}: {shown:?}"), outcome));
        }
    }
    results
}

/// A NUL byte, raw or percent-encoded.
fn has_nul(bytes: &[u8]) -> bool {
    bytes.contains(&0) || bytes.windows(3).any(|w| w == b"%00")
}

/// Sends every payload (those with a NUL byte, or all the others) to every endpoint.
fn run(db: &common::TestDatabase, nul: bool) {
    let w = world(db);
    let input = ClaimTypeInput {
        name: "employee_id".into(),
        display_name: "Employee id".into(),
        description: String::new(),
        value_type: ClaimValueType::Date,
        user_editable: false,
    };
    w.store.write_transaction(|c| scopes::create_claim_type(c, &input, tessera::now())).unwrap();
    let mut fussy = web_app(&[REDIRECT], &[]);
    fussy.require_consent = true;
    fussy.required_claims = vec!["employee_id".into()];
    add_app(&w, "fussy", &fussy);
    // A signed-in browser stopped at the required-claims page.
    let b = Browser::new(&w.app);
    let to_login = b.get(&authorize_path("fussy", REDIRECT, &[])).see_other();
    let (request, csrf) = form_of(&b, &to_login);
    let signed =
        b.post("/login", &[("request", &request), ("csrf", &csrf), ("login", "alice"), ("password", PASSWORD)]);
    let to_claims = b.get(&signed.see_other()).see_other();
    let (_, csrf) = form_of(&b, &to_claims);
    let cookie = b.session().unwrap();

    let client =
        Client::builder().redirect(reqwest::redirect::Policy::none()).timeout(Duration::from_secs(20)).build().unwrap();
    let mut failures = Vec::new();
    let mut sent = 0;
    for endpoint in endpoints(&w, &request, &csrf) {
        for (name, params) in payloads().into_iter().filter(|(_, p)| has_nul(p) == nul) {
            for cookie in [None, Some(cookie.as_str())] {
                sent += 1;
                match send(&client, &w.app.base, cookie, &endpoint, &params) {
                    Ok(status) if status < 500 => {}
                    outcome => {
                        let outcome: String = format!("{outcome:?}").chars().take(200).collect();
                        failures.push(format!(
                            "{} with {name} (cookie: {}): {outcome}",
                            endpoint.name,
                            cookie.is_some()
                        ));
                    }
                }
            }
        }
    }
    for (label, outcome) in
        odd_headers(&client, &w.app.base).into_iter().filter(|(label, _)| label.contains("NUL") == nul)
    {
        sent += 1;
        if !matches!(outcome, Ok(status) if status < 500) {
            failures.push(format!("{label}: {outcome:?}"));
        }
    }
    // Raw bytes the HTTP client would not send: in the request line, the headers, the body.
    let address = w.app.base.trim_start_matches("http://").to_owned();
    let raw_requests: Vec<Vec<u8>> = vec![
        [b"GET /connect/authorize?client_id=".as_slice(), &[0xff, 0xfe], b"&scope=\x80 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"].concat(),
        [b"GET /login?request=".as_slice(), &[0xc0, 0xaf], b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"].concat(),
        [b"POST /connect/token HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 8\r\n\r\n".as_slice(), &[b'a', b'=', 0xff, 0xfe, 0x00, b'&', b'b', b'=']].concat(),
        b"POST /connect/token HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nshort".to_vec(),
        b"POST /login HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n".to_vec(),
        [b"GET /connect/userinfo HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer ".as_slice(), &[0xff, 0x00], b"\r\n\r\n"].concat(),
        format!("GET /connect/authorize?{} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "a".repeat(100_000)).into_bytes(),
        format!("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Big: {}\r\n\r\n", "a".repeat(100_000)).into_bytes(),
    ];
    for bytes in raw_requests.iter().filter(|b| b.contains(&0) == nul) {
        sent += 1;
        // No answer at all (the connection closed) is acceptable for garbage; a 5xx is not.
        if let Some(status) = raw(&address, bytes)
            && status >= 500
        {
            failures.push(format!("raw {:?}: {status}", String::from_utf8_lossy(&bytes[..bytes.len().min(80)])));
        }
    }
    let shown: Vec<&str> = failures.iter().take(80).map(|f| &f[..f.len().min(400)]).collect();
    assert!(failures.is_empty(), "{} of {sent} requests failed; the first:\n{}", failures.len(), shown.join("\n"));

    // The server still works.
    assert_eq!(w.app.get("/healthz").status(), 200);
    let fresh = Browser::new(&w.app);
    let callback = code_for(&fresh, &authorize_path("webapp", REDIRECT, &[]));
    assert_eq!(redeem(&w, "webapp", &callback["code"], REDIRECT, Some(VERIFIER)).status, 200);
}

crate::both_backends! {
    fn no_malformed_input_to_any_endpoint_answers_a_server_error_or_hangs(db: TestDatabase) {
        run(&db, false);
    }
}

/// Bugs these tests found, fixed: they stay as regression tests.
mod regressions {
    use super::*;

    crate::both_backends! {
        fn no_parameter_with_a_nul_byte_answers_a_server_error(db: TestDatabase) {
            run(&db, true);
        }
    }
}

/// The 2026-12 security review, finding 14: a body sent a byte at a time held its
/// connection open for as long as the client liked.
mod review_2026_12 {
    use super::*;
    use std::time::Instant;

    crate::both_backends! {
        fn a_body_that_does_not_arrive_in_time_gets_408_and_the_connection_closes(db: TestDatabase) {
            let app = common::TestApp::spawn(&db);
            let address = app.base.trim_start_matches("http://").to_owned();
            let mut stream = std::net::TcpStream::connect(&address).unwrap();
            stream.set_read_timeout(Some(Duration::from_secs(40))).unwrap();
            let head = "POST /connect/token HTTP/1.1\r\nHost: tessera\r\n\
                        Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\ngrant_type=";
            stream.write_all(head.as_bytes()).unwrap();
            let started = Instant::now();
            // One more byte every 2 s, as a slow-body attack sends them.
            let mut dripping = stream.try_clone().unwrap();
            std::thread::spawn(move || {
                for _ in 0..30 {
                    std::thread::sleep(Duration::from_secs(2));
                    if dripping.write_all(b"x").is_err() {
                        return;
                    }
                }
            });
            let mut answer = Vec::new();
            let mut buffer = [0u8; 4096];
            loop {
                match stream.read(&mut buffer) {
                    Ok(0) => break,
                    Ok(n) => answer.extend_from_slice(&buffer[..n]),
                    Err(e) => panic!("no answer and no close after {:?}: {e}", started.elapsed()),
                }
            }
            let elapsed = started.elapsed();
            let text = String::from_utf8_lossy(&answer);
            assert!(text.starts_with("HTTP/1.1 408"), "{text}");
            assert!(elapsed < Duration::from_secs(20), "closed after {elapsed:?}");
            // Other requests were served meanwhile, and still are.
            assert_eq!(app.get("/healthz").status(), 200);
        }
    }
}
