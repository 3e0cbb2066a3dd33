//! A real HTTP/1.1 receiver on loopback, for the tests of outbound requests (back-channel
//! logout tokens; JWK Sets, request objects and client metadata documents Tessera
//! fetches): it keeps every request it gets and answers each with the document the test
//! put at its path (`serve`), else with the next status the test queued (`fail_next`),
//! or its default one, carrying the headers and body of `serve_document` if any. One
//! request per connection (`Connection: close`), bodies by `Content-Length` only:
//! enough for a client such as reqwest.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// One request the receiver got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedRequest {
    pub method: String,
    /// The request target (path and query).
    pub target: String,
    /// Header names lowercased, in order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl ReceivedRequest {
    /// The first header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The body read as `application/x-www-form-urlencoded`.
    pub fn form(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(&self.body).into_owned().collect()
    }

    /// The first form field `name`.
    pub fn form_value(&self, name: &str) -> Option<String> {
        self.form().into_iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }
}

/// What the receiver answers at one path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Document {
    pub status: u16,
    /// Extra headers (`Content-Type`, `Cache-Control` …).
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// How long to wait before answering (a slow server).
    pub delay: Duration,
}

impl Document {
    /// `200 OK` with `body` as `content_type`.
    pub fn ok(content_type: &str, body: impl Into<Vec<u8>>) -> Document {
        Document {
            status: 200,
            headers: vec![("Content-Type".into(), content_type.into())],
            body: body.into(),
            delay: Duration::ZERO,
        }
    }

    /// The same document with one more header.
    pub fn with_header(mut self, name: &str, value: &str) -> Document {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The same document answered after `delay`.
    pub fn after(mut self, delay: Duration) -> Document {
        self.delay = delay;
        self
    }
}

/// Headers and body of an answer.
type HeadersAndBody = (Vec<(String, String)>, Vec<u8>);

#[derive(Default)]
struct Shared {
    documents: Mutex<std::collections::HashMap<String, Document>>,
    received: Mutex<Vec<ReceivedRequest>>,
    arrived: Condvar,
    statuses: Mutex<VecDeque<u16>>,
    default_status: Mutex<u16>,
    /// The headers and body of answers at paths without a document (none by default).
    answer: Mutex<HeadersAndBody>,
    stop: AtomicBool,
}

/// The receiver; it stops when dropped.
pub struct HttpReceiver {
    pub port: u16,
    shared: Arc<Shared>,
}

impl HttpReceiver {
    /// A receiver that answers `200 OK` unless told otherwise.
    pub fn start() -> HttpReceiver {
        HttpReceiver::answering(200)
    }

    /// A receiver that answers every request with `status` unless told otherwise.
    pub fn answering(status: u16) -> HttpReceiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared { default_status: Mutex::new(status), ..Shared::default() });
        let accepting = shared.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if accepting.stop.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let session = accepting.clone();
                std::thread::spawn(move || {
                    let _ = serve(stream, &session);
                });
            }
        });
        HttpReceiver { port, shared }
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Answers every request for `path` (the request target) with `document`, replacing
    /// what was served there.
    pub fn serve(&self, path: &str, document: Document) {
        self.shared.documents.lock().unwrap().insert(path.to_owned(), document);
    }

    /// How many requests arrived for `path`.
    pub fn count(&self, path: &str) -> usize {
        self.shared.received.lock().unwrap().iter().filter(|r| r.target == path).count()
    }

    /// Answers every request at a path without a document of its own (with its status)
    /// with these headers and this body: one document whatever the path (Client ID
    /// Metadata Documents).
    pub fn serve_document(&self, headers: &[(&str, &str)], body: &[u8]) {
        let headers = headers.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect();
        *self.shared.answer.lock().unwrap() = (headers, body.to_vec());
    }

    /// Answers the next requests with `statuses`, in order (then the default again).
    pub fn fail_next(&self, statuses: &[u16]) {
        self.shared.statuses.lock().unwrap().extend(statuses);
    }

    /// The requests so far.
    pub fn received(&self) -> Vec<ReceivedRequest> {
        self.shared.received.lock().unwrap().clone()
    }

    /// Waits until `count` requests arrived (or `timeout` passed) and returns them all.
    pub fn wait_for(&self, count: usize, timeout: Duration) -> Vec<ReceivedRequest> {
        let deadline = Instant::now() + timeout;
        let mut received = self.shared.received.lock().unwrap();
        while received.len() < count {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            received = self.shared.arrived.wait_timeout(received, left).unwrap().0;
        }
        received.clone()
    }
}

impl Drop for HttpReceiver {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn serve(stream: TcpStream, shared: &Shared) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(());
    }
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or("").to_owned(), parts.next().unwrap_or("").to_owned());
    let mut headers = Vec::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let text = line.trim_end_matches(['\r', '\n']);
        if text.is_empty() {
            break;
        }
        if let Some((name, value)) = text.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    let length: usize =
        headers.iter().find(|(n, _)| n == "content-length").and_then(|(_, v)| v.parse().ok()).unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let document = shared.documents.lock().unwrap().get(&target).cloned();
    {
        let mut received = shared.received.lock().unwrap();
        received.push(ReceivedRequest { method, target, headers, body });
        shared.arrived.notify_all();
    }
    let document = document.unwrap_or_else(|| {
        let (headers, body) = shared.answer.lock().unwrap().clone();
        Document {
            status: shared.statuses.lock().unwrap().pop_front().unwrap_or(*shared.default_status.lock().unwrap()),
            headers,
            body,
            delay: Duration::ZERO,
        }
    });
    std::thread::sleep(document.delay);
    let mut answer = format!("HTTP/1.1 {} Status\r\nContent-Length: {}\r\n", document.status, document.body.len());
    for (name, value) in &document.headers {
        answer.push_str(&format!("{name}: {value}\r\n"));
    }
    answer.push_str("Connection: close\r\n\r\n");
    writer.write_all(answer.as_bytes())?;
    writer.write_all(&document.body)?;
    writer.flush()
}
