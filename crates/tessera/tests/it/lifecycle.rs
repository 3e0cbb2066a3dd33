//! An account's whole life in a real headless Chromium (issue 17): `tests/browser/lifecycle.mjs`
//! registers through the sign-in pages, confirms the address with the link of a mail that
//! this test's SMTP server received, signs in, recovers a forgotten password, sees the
//! old refresh tokens refused, then uses the account page: sessions and consents listed,
//! bad input, a consent revoked (that application's refresh token refused), the other
//! sessions ended, the account deleted. Screenshots go to `target/screenshots/`
//! (`lifecycle-*.png`, `account-*.png`). Skipped, loudly, where the console's browser
//! test is (`console::Chromium::find`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::json;
use tessera_store::applications::ApplicationSettings;
use tessera_store::scopes;
use tessera_testkit::smtp::SmtpServer;

use crate::common::security::*;
use crate::common::{TestApp, settings_for};
use crate::console::Chromium;

/// The applications' redirect URI: a loopback server answering every request with a
/// plain page (the script reads the code from the address bar). It lives as long as the
/// test process.
pub(crate) fn callback_receiver() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut request = Vec::new();
            let mut buffer = [0; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buffer) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buffer[..n]),
                }
            }
            let _ = stream.write_all(
                b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 9\r\nconnection: close\r\n\r\nsigned in",
            );
        }
    });
    format!("http://{address}/cb")
}

crate::both_backends! {
    fn an_account_lives_its_whole_life_through_the_real_pages_in_chromium(db: TestDatabase) {
        let Some(Chromium { executable, scripts, screenshots }) = Chromium::find() else { return };
        let smtp = SmtpServer::start();
        let data = std::env::temp_dir().join(format!("tessera-lifecycle-{}", uuid::Uuid::now_v7().simple()));
        let raw = tessera::settings::RawSettings {
            smtp_url: Some(smtp.url()),
            mail_from: Some("id@quokka.test".into()),
            issuer_name: "Quokka ID".into(),
            account_self_deletion: true,
            ..settings_for(&db, &data)
        };
        let w = world_on(&db, TestApp::spawn_with(raw));
        let callback = callback_receiver();
        add_app(&w, "notes", &ApplicationSettings { name: "Notes".into(), ..web_app(&[&callback], &[]) });
        let gallery = ApplicationSettings { name: "Photo Gallery".into(), require_consent: true, ..web_app(&[&callback], &[]) };
        add_app(&w, "gallery", &gallery);
        w.store.write_transaction(|c| scopes::set_claim_type_user_editable(c, "name", true, tessera::now())).unwrap();

        let mut child = Command::new("node")
            .arg(scripts.join("lifecycle.mjs"))
            .env("TESSERA_URL", &w.app.base)
            .env("CHROMIUM", &executable)
            .env("SCREENSHOTS", &screenshots)
            .env("CLIENT_SECRET", &w.secret)
            .env("WEBAPP", format!("notes {callback}"))
            .env("GALLERY", format!("gallery {callback}"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("running node");
        let mut to_script = child.stdin.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let errors = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
        let mut output = Vec::new();
        for line in BufReader::new(child.stdout.take().unwrap()).lines() {
            let line = line.unwrap();
            if let Some(n) = line.strip_prefix("MAIL? ") {
                let n: usize = n.trim().parse().unwrap();
                let received = smtp.wait_for(n, Duration::from_secs(20));
                let text = received.get(n - 1).map(|m| m.decoded()).unwrap_or_default();
                writeln!(to_script, "{}", json!({ "text": text })).unwrap();
                to_script.flush().unwrap();
            } else {
                output.push(line);
            }
        }
        drop(to_script);
        let status = child.wait().unwrap();
        let stdout = output.join("\n");
        let stderr = errors.join().unwrap();
        assert!(status.success(), "the lifecycle failed\n--- stdout\n{stdout}\n--- stderr\n{stderr}");
        assert!(stdout.contains("lifecycle passed"), "{stdout}");
        println!("{stdout}");

        let received = smtp.received();
        let subjects: Vec<_> = received.iter().map(|m| m.header("Subject").unwrap_or_default()).collect();
        assert_eq!(
            subjects,
            [
                "Quokka ID: confirm your email address",
                "Quokka ID: set a new password",
                "Quokka ID: your password was changed",
            ]
        );
        // One message as the test's SMTP server received it, for the record.
        let decoded = received[0].decoded();
        let text_part = decoded.split("Content-Type: text/html").next().unwrap_or_default();
        println!("--- the verification mail as received (envelope to {:?}), its text part\n{text_part}", received[0].to);
        for page in ["lifecycle-register", "lifecycle-verify", "lifecycle-recover", "account-sign-in", "account", "account-errors", "account-consent-revoked", "account-deleted"] {
            assert!(screenshots.join(format!("{page}.png")).is_file(), "no screenshot of {page}");
        }
    }
}
