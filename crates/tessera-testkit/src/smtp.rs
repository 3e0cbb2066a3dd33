//! A real SMTP server on loopback for the mail tests: enough of RFC 5321 (EHLO/HELO,
//! MAIL, RCPT, DATA with dot-unstuffing, RSET, NOOP, QUIT) for a client such as lettre
//! to deliver to it, keeping every message it accepts. It can be told to refuse the next
//! transactions with a reply of the test's choosing (`451` transient, `550` permanent).

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// One message the server accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMail {
    /// The envelope sender (`MAIL FROM`).
    pub from: String,
    /// The envelope recipients (`RCPT TO`).
    pub to: Vec<String>,
    /// The message as sent (headers and body), dot-unstuffed, CRLF line ends.
    pub data: String,
}

impl ReceivedMail {
    /// The value of the first header `name` (case-insensitive), unfolded.
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next()?;
        let mut value: Option<String> = None;
        for line in head.split("\r\n") {
            match &mut value {
                Some(v) if line.starts_with([' ', '\t']) => v.push_str(line),
                Some(_) => break,
                None => {
                    if let Some((n, v)) = line.split_once(':')
                        && n.eq_ignore_ascii_case(name)
                    {
                        value = Some(v.trim().to_owned());
                    }
                }
            }
        }
        value
    }

    /// The whole message with quoted-printable soft line breaks and `=XX` escapes
    /// decoded: what a test searches for a link.
    pub fn decoded(&self) -> String {
        let text = self.data.replace("=\r\n", "");
        let bytes = text.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            if bytes[i] == b'='
                && i + 2 < bytes.len()
                && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
            {
                out.push(u8::try_from(h * 16 + l).unwrap());
                i += 3;
                continue;
            }
            out.push(bytes[i]);
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

#[derive(Default)]
struct Shared {
    received: Mutex<Vec<ReceivedMail>>,
    arrived: Condvar,
    refusals: Mutex<VecDeque<String>>,
    stop: AtomicBool,
}

/// The server; it stops when dropped.
pub struct SmtpServer {
    pub port: u16,
    shared: Arc<Shared>,
}

impl SmtpServer {
    pub fn start() -> SmtpServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared::default());
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
        SmtpServer { port, shared }
    }

    /// The `smtp_url` reaching this server (no TLS: loopback).
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}?tls=none", self.port)
    }

    /// Answers the next `MAIL FROM` with `reply` (e.g. `451 4.3.0 try later`) instead of
    /// accepting it; several calls queue several refusals.
    pub fn refuse_next(&self, reply: &str) {
        self.shared.refusals.lock().unwrap().push_back(reply.to_owned());
    }

    /// The messages accepted so far.
    pub fn received(&self) -> Vec<ReceivedMail> {
        self.shared.received.lock().unwrap().clone()
    }

    /// Waits until `count` messages arrived (or `timeout` passed) and returns them all.
    pub fn wait_for(&self, count: usize, timeout: Duration) -> Vec<ReceivedMail> {
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

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Strips `<` `>` and any ESMTP parameters from a `MAIL FROM:`/`RCPT TO:` argument.
fn path(argument: &str) -> String {
    let argument = argument.trim();
    let end = argument.find('>').map_or(argument.len(), |i| i + 1);
    argument[..end].trim_start_matches('<').trim_end_matches('>').to_owned()
}

fn serve(stream: TcpStream, shared: &Shared) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    let mut reply = |text: &str| writer.write_all(format!("{text}\r\n").as_bytes());
    reply("220 tessera-testkit ESMTP")?;
    let (mut from, mut to): (Option<String>, Vec<String>) = (None, Vec::new());
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let command = line.trim_end_matches(['\r', '\n']);
        let upper = command.to_ascii_uppercase();
        if upper.starts_with("EHLO") {
            reply("250-tessera-testkit")?;
            reply("250 8BITMIME")?;
        } else if upper.starts_with("HELO") || upper == "NOOP" {
            reply("250 OK")?;
        } else if upper.starts_with("MAIL FROM:") {
            let refusal = shared.refusals.lock().unwrap().pop_front();
            match refusal {
                Some(refusal) => reply(&refusal)?,
                None => {
                    from = Some(path(&command["MAIL FROM:".len()..]));
                    to.clear();
                    reply("250 OK")?;
                }
            }
        } else if upper.starts_with("RCPT TO:") {
            if from.is_none() {
                reply("503 5.5.1 MAIL first")?;
            } else {
                to.push(path(&command["RCPT TO:".len()..]));
                reply("250 OK")?;
            }
        } else if upper == "DATA" {
            if from.is_none() || to.is_empty() {
                reply("503 5.5.1 MAIL and RCPT first")?;
                continue;
            }
            reply("354 End data with <CR><LF>.<CR><LF>")?;
            let mut data = String::new();
            loop {
                line.clear();
                if reader.read_line(&mut line)? == 0 {
                    return Ok(());
                }
                let text = line.trim_end_matches(['\r', '\n']);
                if text == "." {
                    break;
                }
                data.push_str(text.strip_prefix('.').unwrap_or(text));
                data.push_str("\r\n");
            }
            let mail = ReceivedMail { from: from.take().unwrap_or_default(), to: std::mem::take(&mut to), data };
            shared.received.lock().unwrap().push(mail);
            shared.arrived.notify_all();
            reply("250 2.0.0 OK queued")?;
        } else if upper == "RSET" {
            (from, to) = (None, Vec::new());
            reply("250 OK")?;
        } else if upper == "QUIT" {
            reply("221 2.0.0 Bye")?;
            return Ok(());
        } else {
            reply("502 5.5.2 Command not implemented")?;
        }
    }
}
