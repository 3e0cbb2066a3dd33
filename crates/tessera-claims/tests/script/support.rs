//! Builders shared by the tests: engines, inputs, and a tiny local HTTP server.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use tessera_claims::{FetchPolicy, Limits, ScriptEngine, ScriptFailure, ScriptInput};

pub fn engine() -> ScriptEngine {
    ScriptEngine::new(Limits::default())
}

pub fn engine_with(change: impl FnOnce(&mut Limits)) -> ScriptEngine {
    let mut limits = Limits::default();
    change(&mut limits);
    ScriptEngine::new(limits)
}

/// An access token for a user, with its context and two environment variables.
pub fn user_input() -> ScriptInput {
    ScriptInput {
        token: json!({ "sub": "user-1", "client_id": "shop", "scope": "openid orders:read", "aud": ["orders"] }),
        context: Some(json!({
            "user": {
                "id": "user-1",
                "email": "ada@example.com",
                "roles": [{ "name": "admin" }, { "name": "editor" }],
                "customData": { "plan": "pro", "seats": 5 }
            },
            "application": { "id": "shop", "name": "Shop" },
            "grant": { "type": "authorization_code" }
        })),
        environment_variables: BTreeMap::from([
            ("TIER".to_owned(), "gold".to_owned()),
            ("API_KEY".to_owned(), "k-123".to_owned()),
        ]),
    }
}

/// A client-credentials token: no user, so no context.
pub fn machine_input() -> ScriptInput {
    ScriptInput {
        token: json!({ "sub": "svc", "client_id": "svc" }),
        context: None,
        environment_variables: BTreeMap::new(),
    }
}

pub fn run(engine: &ScriptEngine, source: &str) -> Result<Map<String, Value>, ScriptFailure> {
    engine.run(source, &user_input(), &FetchPolicy::disabled())
}

pub fn claims(engine: &ScriptEngine, source: &str) -> Value {
    match run(engine, source) {
        Ok(claims) => Value::Object(claims),
        Err(failure) => panic!("expected claims, got {failure:?}"),
    }
}

pub fn policy(entries: &[&str]) -> FetchPolicy {
    FetchPolicy::parse(&entries.iter().map(|entry| entry.to_string()).collect::<Vec<_>>()).unwrap()
}

/// A request as the test server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub head: String,
    pub body: String,
}

/// A one-thread HTTP/1.1 server on 127.0.0.1 that answers each connection with `respond`
/// and closes it. It serves at most `connections` and stops after 10 s whatever happens.
pub struct TestServer {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    thread: Option<JoinHandle<()>>,
}

impl TestServer {
    pub fn start(connections: usize, respond: impl Fn(&Seen) -> String + Send + 'static) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        let thread = thread::spawn(move || {
            let stop = Instant::now() + Duration::from_secs(10);
            let mut served = 0;
            while served < connections && Instant::now() < stop {
                match listener.accept() {
                    Ok((stream, _)) => {
                        served += 1;
                        if let Some(request) = read_request(stream.try_clone().unwrap()) {
                            log.lock().unwrap().push(request.clone());
                            let mut stream = stream;
                            let _ = stream.write_all(respond(&request).as_bytes());
                        }
                    }
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        TestServer { addr, seen, thread: Some(thread) }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        // Wake the accept loop so the thread ends promptly, then wait for it.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn read_request(mut stream: TcpStream) -> Option<Seen> {
    stream.set_nonblocking(false).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut data = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let read = stream.read(&mut buffer).ok()?;
        if read == 0 {
            return None;
        }
        data.extend_from_slice(&buffer[..read]);
        if let Some(end) = data.windows(4).position(|window| window == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&data[..end]).into_owned();
            let length = head
                .lines()
                .find_map(|line| line.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned()))
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0);
            while data.len() < end + 4 + length {
                let read = stream.read(&mut buffer).ok()?;
                if read == 0 {
                    break;
                }
                data.extend_from_slice(&buffer[..read]);
            }
            let body = String::from_utf8_lossy(&data[end + 4..]).into_owned();
            return Some(Seen { head, body });
        }
    }
}

/// A complete HTTP/1.1 response that closes the connection.
pub fn http_response(status: &str, headers: &[(&str, &str)], body: &str) -> String {
    let mut response = format!("HTTP/1.1 {status}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (name, value) in headers {
        response.push_str(&format!("{name}: {value}\r\n"));
    }
    response.push_str("\r\n");
    response.push_str(body);
    response
}
