//! The redirect URI: a loopback listener that waits for the one request the browser makes
//! when Tessera sends it back (RFC 8252 §7.3), answers it with a short page, and hands
//! over the authorization response's query parameters.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use crate::Error;

/// The path of the redirect URI.
pub const CALLBACK_PATH: &str = "/callback";
/// How long one connection may take to send its request.
const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// How often to look for a new connection while waiting.
const POLL_INTERVAL: Duration = Duration::from_millis(25);
/// More than any browser sends for this request line and its headers.
const MAX_REQUEST_BYTES: u64 = 64 * 1024;

const PAGE: &str = "<!doctype html><meta charset=\"utf-8\"><title>relying-party</title>\
    <p>Tessera sent you back to the relying party. You can close this tab; the result is in the terminal.</p>";

/// The authorization response (RFC 6749 §4.1.2, RFC 9207): every query parameter of the
/// callback, first value kept.
#[derive(Debug, Default)]
pub struct AuthorizationResponse(pub HashMap<String, String>);

impl AuthorizationResponse {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

/// A listener on `127.0.0.1`, bound before the browser is sent to Tessera.
pub struct CallbackListener {
    listener: TcpListener,
    port: u16,
}

impl CallbackListener {
    /// Listens on `127.0.0.1:port` (0 picks a free port).
    pub fn bind(port: u16) -> Result<CallbackListener, Error> {
        let listen_error = |e: std::io::Error| Error::Listen { port, reason: e.to_string() };
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port)).map_err(listen_error)?;
        let port = listener.local_addr().map_err(listen_error)?.port();
        listener.set_nonblocking(true).map_err(listen_error)?;
        Ok(CallbackListener { listener, port })
    }

    pub fn redirect_uri(&self) -> String {
        format!("http://127.0.0.1:{}{CALLBACK_PATH}", self.port)
    }

    /// Waits up to `timeout` for `GET /callback?…`, answers the browser and returns the
    /// query parameters. Other requests get a 404 and the wait goes on.
    pub fn wait(self, timeout: Duration) -> Result<AuthorizationResponse, Error> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.listener.accept() {
                Ok((stream, _)) => {
                    if let Some(response) = serve(stream) {
                        return Ok(response);
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if Instant::now() >= deadline {
                        return Err(Error::CallbackTimeout {
                            redirect_uri: self.redirect_uri(),
                            seconds: timeout.as_secs_f64(),
                        });
                    }
                    std::thread::sleep(POLL_INTERVAL);
                }
                Err(e) => return Err(Error::Listen { port: self.port, reason: e.to_string() }),
            }
        }
    }
}

/// Reads one request from the browser and answers it. A connection that sends nothing
/// usable in time is dropped.
fn serve(mut stream: TcpStream) -> Option<AuthorizationResponse> {
    stream.set_nonblocking(false).ok()?;
    stream.set_read_timeout(Some(READ_TIMEOUT)).ok()?;
    stream.set_write_timeout(Some(READ_TIMEOUT)).ok()?;
    let mut reader = BufReader::new((&stream).take(MAX_REQUEST_BYTES));
    let mut request_line = String::new();
    reader.read_line(&mut request_line).ok()?;
    // Read the headers too: closing a socket with unread data makes the browser see a reset.
    let mut header = String::new();
    while reader.read_line(&mut header).ok()? > 2 {
        header.clear();
    }
    let response = parse_request_line(&request_line);
    let (status, body) = if response.is_some() { ("200 OK", PAGE) } else { ("404 Not Found", "Not found") };
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.flush();
    response
}

/// `GET /callback?code=…&state=…&iss=… HTTP/1.1` → the query parameters.
fn parse_request_line(line: &str) -> Option<AuthorizationResponse> {
    let mut parts = line.trim_end().split(' ');
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    if method != "GET" || !version.starts_with("HTTP/1.") || parts.next().is_some() {
        return None;
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if path != CALLBACK_PATH {
        return None;
    }
    let mut parameters = HashMap::new();
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        parameters.entry(name.into_owned()).or_insert_with(|| value.into_owned());
    }
    Some(AuthorizationResponse(parameters))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_callback_request_line_gives_its_query_parameters() {
        let response =
            parse_request_line("GET /callback?code=abc&state=x%2By&iss=http%3A%2F%2Flocalhost%3A8080 HTTP/1.1\r\n")
                .unwrap();
        assert_eq!(response.get("code"), Some("abc"));
        assert_eq!(response.get("state"), Some("x+y"));
        assert_eq!(response.get("iss"), Some("http://localhost:8080"));
    }

    #[test]
    fn other_requests_are_not_the_callback() {
        for line in ["GET /favicon.ico HTTP/1.1", "POST /callback?code=a HTTP/1.1", "GET /callback", "", "garbage"] {
            assert!(parse_request_line(line).is_none(), "{line:?}");
        }
    }

    #[test]
    fn the_wait_ends_after_the_timeout() {
        let listener = CallbackListener::bind(0).unwrap();
        let started = Instant::now();
        let error = listener.wait(Duration::from_millis(100)).unwrap_err();
        assert!(matches!(error, Error::CallbackTimeout { .. }), "{error}");
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn the_browser_gets_a_page_and_the_wait_gets_the_parameters() {
        let listener = CallbackListener::bind(0).unwrap();
        let address = listener.redirect_uri().replace("http://", "").replace(CALLBACK_PATH, "");
        let browser = std::thread::spawn(move || {
            let mut stray = TcpStream::connect(&address).unwrap();
            stray.write_all(b"GET /favicon.ico HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
            let mut answer = String::new();
            stray.read_to_string(&mut answer).unwrap();
            assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
            let mut stream = TcpStream::connect(&address).unwrap();
            stream.write_all(b"GET /callback?code=c&state=s HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
            let mut answer = String::new();
            stream.read_to_string(&mut answer).unwrap();
            answer
        });
        let response = listener.wait(Duration::from_secs(5)).unwrap();
        assert_eq!((response.get("code"), response.get("state")), (Some("c"), Some("s")));
        let answer = browser.join().unwrap();
        assert!(answer.starts_with("HTTP/1.1 200 OK") && answer.contains("You can close this tab"), "{answer}");
    }
}
