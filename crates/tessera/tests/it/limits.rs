//! Limits (issue 20 point 6): per-client and per-address rate limits on the token
//! endpoint family and introspection (`429` with `Retry-After`, in the endpoint's error
//! format, exactly the budget admitted when requests arrive in parallel); the client's
//! address behind a trusted proxy (and not behind any other peer); request heads that
//! are too large; and slow clients that hold connections while others are served.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::resource_servers::{World, issue, world_with_settings};

fn client_credentials(world: &World, client: &str, forwarded_for: Option<&str>) -> reqwest::blocking::Response {
    let mut request = world
        .app
        .client
        .post(world.app.url("/connect/token"))
        .basic_auth(client, Some(&world.client_secret))
        .form(&[("grant_type", "client_credentials"), ("scope", "orders.read")]);
    if let Some(address) = forwarded_for {
        request = request.header("x-forwarded-for", address);
    }
    request.send().unwrap()
}

fn assert_rate_limited(response: reqwest::blocking::Response, who: &str) {
    assert_eq!(response.status(), 429);
    let retry_after: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "Retry-After {retry_after}");
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
    assert!(body["error_description"].as_str().unwrap().contains(who), "{body}");
}

crate::both_backends! {
    fn a_client_over_its_token_budget_gets_429_and_other_clients_do_not(db: TestDatabase) {
        let world = world_with_settings(&db, |raw| raw.rate_limit_token_per_client = "3/min".into());
        for _ in 0..3 {
            assert_eq!(client_credentials(&world, "machine", None).status(), 200);
        }
        assert_rate_limited(client_credentials(&world, "machine", None), "this client");
        // The budget is the client's: another client, and revocation by another, go on.
        assert_eq!(client_credentials(&world, "ref-machine", None).status(), 200);
        // Revocation and PAR draw on the same budget as the token endpoint.
        let revoke = world.app.revoke(("machine", &world.client_secret), &[("token", "x")]);
        assert_rate_limited(revoke, "this client");
        // A client is limited whether or not it authenticates: guessing costs budget too.
        let wrong = world
            .app
            .client
            .post(world.app.url("/connect/token"))
            .basic_auth("machine", Some("wrong"))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .unwrap();
        assert_rate_limited(wrong, "this client");
    }

    fn parallel_requests_get_exactly_the_budget(db: TestDatabase) {
        let world = world_with_settings(&db, |raw| raw.rate_limit_token_per_client = "5/min".into());
        let statuses: Vec<u16> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..16)
                .map(|_| scope.spawn(|| client_credentials(&world, "machine", None).status().as_u16()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 5, "{statuses:?}");
        assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 11, "{statuses:?}");
    }

    fn introspection_has_its_own_budget_per_connection(db: TestDatabase) {
        let world = world_with_settings(&db, |raw| raw.rate_limit_introspection_per_client = "2/min".into());
        let token = issue(&world, "machine", "orders.read");
        for _ in 0..2 {
            let response = world.app.introspect((&world.orders.0, &world.orders.1), &[("token", &token)]);
            assert_eq!(response.status(), 200);
        }
        let over = world.app.introspect((&world.orders.0, &world.orders.1), &[("token", &token)]);
        assert_rate_limited(over, "this client");
        let other = world.app.introspect((&world.billing.0, &world.billing.1), &[("token", &token)]);
        assert_eq!(other.status(), 200);
        // The token endpoint has no limit here.
        for _ in 0..4 {
            assert_eq!(client_credentials(&world, "machine", None).status(), 200);
        }
    }

    fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_budget(db: TestDatabase) {
        let world = world_with_settings(&db, |raw| {
            raw.rate_limit_token_per_ip = "2/min".into();
            raw.trusted_proxies = vec!["127.0.0.1".into()];
        });
        for _ in 0..2 {
            assert_eq!(client_credentials(&world, "machine", Some("203.0.113.7")).status(), 200);
        }
        assert_rate_limited(client_credentials(&world, "machine", Some("203.0.113.7")), "this address");
        // A forged entry to the left of what the proxy appended changes nothing.
        assert_rate_limited(client_credentials(&world, "machine", Some("198.51.100.1, 203.0.113.7")), "this address");
        // Another client behind the same proxy has its own budget, whichever client it names.
        assert_eq!(client_credentials(&world, "machine", Some("203.0.113.8")).status(), 200);
        // Without the header the client is the proxy itself.
        assert_eq!(client_credentials(&world, "machine", None).status(), 200);
    }

    fn without_trusted_proxies_the_forwarded_header_is_ignored(db: TestDatabase) {
        let world = world_with_settings(&db, |raw| raw.rate_limit_token_per_ip = "2/min".into());
        assert_eq!(client_credentials(&world, "machine", Some("203.0.113.7")).status(), 200);
        assert_eq!(client_credentials(&world, "machine", Some("203.0.113.8")).status(), 200);
        // The peer (127.0.0.1) is over its budget whatever it claims to forward.
        assert_rate_limited(client_credentials(&world, "ref-machine", Some("203.0.113.9")), "this address");
    }

    fn the_audit_log_records_the_client_a_trusted_proxy_names(db: TestDatabase) {
        let world = world_with_settings(&db, |raw| raw.trusted_proxies = vec!["127.0.0.0/8".into()]);
        let response = world
            .app
            .client
            .post(world.app.url("/connect/token"))
            .basic_auth("machine", Some("wrong-secret"))
            .header("x-forwarded-for", "192.0.2.44")
            .form(&[("grant_type", "client_credentials")])
            .send()
            .unwrap();
        assert_eq!(response.status(), 401);
        let page = world
            .store
            .read_transaction(|c| tessera_store::audit::list(c, &tessera_store::audit::AuditFilter::default(), &tessera_store::Page::first(50)))
            .unwrap();
        let failure = page
            .items
            .iter()
            .find(|e| e.action == "client.authentication_failed")
            .unwrap_or_else(|| panic!("no authentication failure in {:?}", page.items.iter().map(|e| &e.action).collect::<Vec<_>>()));
        assert_eq!(failure.client_ip.as_deref(), Some("192.0.2.44"));
    }
}

/// Sends `head` on a fresh connection and returns the status line of the answer (empty
/// when the server closed the connection without one).
fn raw_status(address: std::net::SocketAddr, head: &[u8]) -> String {
    let mut stream = TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // The server may answer and close before it has read everything.
    let _ = stream.write_all(head);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).lines().next().unwrap_or_default().to_owned()
}

#[test]
fn too_many_or_too_large_headers_are_refused_not_failed() {
    let db = crate::common::TestDatabase::sqlite();
    let app = crate::common::TestApp::spawn(&db);
    let address = app.server.as_ref().unwrap().address;
    let mut many = String::from("GET /healthz HTTP/1.1\r\nHost: t\r\n");
    for i in 0..200 {
        many.push_str(&format!("X-Filler-{i}: x\r\n"));
    }
    many.push_str("\r\n");
    let status = raw_status(address, many.as_bytes());
    assert!(status.starts_with("HTTP/1.1 431"), "200 headers: {status:?}");
    let large = format!("GET /healthz HTTP/1.1\r\nHost: t\r\nX-Large: {}\r\n\r\n", "a".repeat(200 * 1024));
    let status = raw_status(address, large.as_bytes());
    assert!(status.starts_with("HTTP/1.1 431") || status.is_empty(), "a 200 KiB header: {status:?}");
    // The server is still there.
    assert_eq!(app.get("/healthz").status(), 200);
}

/// Slowloris: a few dozen connections that send their request head a byte at a time
/// do not keep other clients from being served, and the server closes them once the
/// head has taken longer than it allows (5 s) instead of holding them forever.
#[test]
fn slow_clients_do_not_starve_others_and_are_cut_off() {
    let db = crate::common::TestDatabase::sqlite();
    let app = crate::common::TestApp::spawn(&db);
    let address = app.server.as_ref().unwrap().address;
    let started = Instant::now();
    let mut slow: Vec<TcpStream> = (0..40)
        .map(|_| {
            let mut stream = TcpStream::connect(address).unwrap();
            stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n").unwrap();
            stream
        })
        .collect();
    // Everyone else is served while the slow clients dribble.
    let mut served = 0;
    while started.elapsed() < Duration::from_secs(3) {
        for stream in &mut slow {
            let _ = stream.write_all(b"X");
        }
        assert_eq!(app.get("/.well-known/openid-configuration").status(), 200);
        served += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(served >= 10, "served {served} requests in 3 s beside the slow clients");
    // The head never completes: the server gives up on each connection (408 or a close).
    let mut closed = 0;
    for mut stream in slow {
        stream.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
        let mut answer = Vec::new();
        match stream.read_to_end(&mut answer) {
            Ok(_) => closed += 1,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => closed += 1,
            Err(e) => panic!("a slow connection was still open after {:?}: {e}", started.elapsed()),
        }
        let text = String::from_utf8_lossy(&answer);
        assert!(text.is_empty() || text.starts_with("HTTP/1.1 408"), "{text}");
    }
    assert_eq!(closed, 40);
}
