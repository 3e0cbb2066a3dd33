//! The guarded client against real sockets on loopback: what it refuses before any
//! connection, what it does with the answers it gets (no redirect followed, the size cap,
//! the timeout), and the User-Agent it sends.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tessera_outbound::{OutboundClient, OutboundError, OutboundSettings, PrivateHosts, USER_AGENT};
use url::Url;

/// A one-shot server on 127.0.0.1 answering every connection with `answer` after
/// `delay`, keeping what it received.
struct Raw {
    port: u16,
    seen: Arc<Mutex<Vec<String>>>,
}

fn serve(answer: &'static str, delay: Duration) -> Raw {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let keep = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let keep = keep.clone();
            std::thread::spawn(move || {
                stream.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
                let mut buffer = [0_u8; 8192];
                let read = stream.read(&mut buffer).unwrap_or(0);
                keep.lock().unwrap().push(String::from_utf8_lossy(&buffer[..read]).into_owned());
                std::thread::sleep(delay);
                let _ = stream.write_all(answer.as_bytes());
            });
        }
    });
    Raw { port, seen }
}

fn client(private: &[&str], timeout: Duration, max: usize) -> OutboundClient {
    let settings = OutboundSettings {
        private_hosts: PrivateHosts::parse(&private.iter().map(|h| (*h).to_owned()).collect::<Vec<_>>()).unwrap(),
        connect_timeout: timeout,
        timeout,
        max_response_bytes: max,
    };
    OutboundClient::new(&settings).unwrap()
}

fn post(client: &OutboundClient, url: &str) -> Result<tessera_outbound::OutboundResponse, OutboundError> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(client.post_form(&Url::parse(url).unwrap(), &[("logout_token", "a.b.c")]))
}

const OK: &str = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";

#[test]
fn a_listed_loopback_address_is_reached_with_the_form_and_the_user_agent() {
    let server = serve(OK, Duration::ZERO);
    let answer =
        post(&client(&["127.0.0.1"], Duration::from_secs(5), 1024), &format!("http://127.0.0.1:{}/bcl", server.port))
            .unwrap();
    assert_eq!((answer.status, answer.body.as_slice()), (200, b"ok".as_slice()));
    let seen = server.seen.lock().unwrap().join("");
    assert!(seen.starts_with("POST /bcl HTTP/1.1\r\n"), "{seen}");
    assert!(seen.to_ascii_lowercase().contains(&format!("user-agent: {}", USER_AGENT.to_ascii_lowercase())), "{seen}");
    assert!(seen.contains("application/x-www-form-urlencoded"), "{seen}");
    assert!(seen.ends_with("logout_token=a.b.c"), "{seen}");
}

#[test]
fn an_unlisted_private_address_is_refused_without_connecting() {
    let server = serve(OK, Duration::ZERO);
    let none = client(&[], Duration::from_secs(5), 1024);
    for url in [format!("https://127.0.0.1:{}/bcl", server.port), format!("http://127.0.0.1:{}/bcl", server.port)] {
        let error = post(&none, &url).unwrap_err();
        assert!(error.is_refusal(), "{url}: {error}");
    }
    std::thread::sleep(Duration::from_millis(100));
    assert!(server.seen.lock().unwrap().is_empty(), "never contacted");
}

#[test]
fn a_name_that_resolves_to_loopback_is_refused_unless_listed() {
    let server = serve(OK, Duration::ZERO);
    // `localhost` resolves to loopback addresses only: DNS rebinding's shape.
    let error =
        post(&client(&["127.0.0.1"], Duration::from_secs(5), 1024), &format!("https://localhost:{}/bcl", server.port))
            .unwrap_err();
    assert!(matches!(error, OutboundError::Refused(ref text) if text.contains("non-public")), "{error}");
    assert!(server.seen.lock().unwrap().is_empty(), "never contacted");
    // Listed by name, it is reached (over http, which listing allows).
    let answer =
        post(&client(&["localhost"], Duration::from_secs(5), 1024), &format!("http://localhost:{}/bcl", server.port));
    // `localhost` may resolve to ::1 first where nothing listens; 127.0.0.1 is tried too.
    assert_eq!(answer.unwrap().status, 200);
}

#[test]
fn redirects_are_answers_not_followed() {
    let server = serve(
        "HTTP/1.1 302 Found\r\nLocation: http://169.254.169.254/latest/meta-data\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        Duration::ZERO,
    );
    let answer =
        post(&client(&["127.0.0.1"], Duration::from_secs(5), 1024), &format!("http://127.0.0.1:{}/bcl", server.port))
            .unwrap();
    assert_eq!(answer.status, 302);
    assert_eq!(server.seen.lock().unwrap().len(), 1);
}

#[test]
fn an_answer_past_the_size_cap_is_an_error() {
    let declared = serve("HTTP/1.1 200 OK\r\nContent-Length: 100\r\nConnection: close\r\n\r\n", Duration::ZERO);
    let error =
        post(&client(&["127.0.0.1"], Duration::from_secs(5), 10), &format!("http://127.0.0.1:{}/", declared.port))
            .unwrap_err();
    assert_eq!(error, OutboundError::TooLarge(10));
    let streamed = serve(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n8\r\n12345678\r\n8\r\n12345678\r\n0\r\n\r\n",
        Duration::ZERO,
    );
    let error =
        post(&client(&["127.0.0.1"], Duration::from_secs(5), 10), &format!("http://127.0.0.1:{}/", streamed.port))
            .unwrap_err();
    assert_eq!(error, OutboundError::TooLarge(10));
}

#[test]
fn a_slow_receiver_times_out() {
    let server = serve(OK, Duration::from_secs(3));
    let started = Instant::now();
    let error =
        post(&client(&["127.0.0.1"], Duration::from_millis(300), 1024), &format!("http://127.0.0.1:{}/", server.port))
            .unwrap_err();
    assert_eq!(error, OutboundError::Timeout(Duration::from_millis(300)));
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
}

#[test]
fn a_closed_port_is_a_network_error_worth_retrying() {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let error =
        post(&client(&["127.0.0.1"], Duration::from_secs(2), 1024), &format!("http://127.0.0.1:{port}/")).unwrap_err();
    assert!(matches!(error, OutboundError::Network(_)), "{error}");
    assert!(!error.is_refusal());
}
