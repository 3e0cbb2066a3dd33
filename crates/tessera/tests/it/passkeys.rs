//! Passkeys in a real headless Chromium with the Chrome DevTools Protocol's virtual
//! authenticator (issue 18): `tests/browser/passkeys.mjs` registers a passkey on the
//! account page, signs out, signs in to an application with the passkey alone (conditional UI,
//! then the button), and with the password and the passkey as the second factor; this test checks the ID tokens'
//! `amr` and prints their claims. Tessera's issuer is `http://localhost:PORT` (an IP
//! address cannot be a WebAuthn relying party). Screenshots go to
//! `target/screenshots/passkey-*.png`. Skipped, loudly, where the console's browser test
//! is (`console::Chromium::find`).

use std::process::Command;

use serde_json::Value;
use tessera_store::applications::ApplicationSettings;

use crate::common::security::*;
use crate::common::{LOCALHOST_TEST_ISSUER, TestApp, settings_for};
use crate::console::Chromium;
use crate::lifecycle::callback_receiver;

/// The `amr` of the claims the script printed as `CLAIMS <what> <json>`.
fn amr_of(stdout: &str, what: &str) -> Vec<String> {
    let prefix = format!("CLAIMS {what} ");
    let line =
        stdout.lines().find_map(|l| l.strip_prefix(prefix.as_str())).unwrap_or_else(|| panic!("no {what} claims"));
    let claims: Value = serde_json::from_str(line).unwrap();
    claims["amr"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect()
}

crate::both_backends! {
    fn a_passkey_registered_on_the_account_page_signs_in_alone_and_as_a_second_factor(db: TestDatabase) {
        let Some(Chromium { executable, scripts, screenshots }) = Chromium::find() else { return };
        let data = std::env::temp_dir().join(format!("tessera-passkeys-{}", uuid::Uuid::now_v7().simple()));
        let raw = tessera::settings::RawSettings { issuer: LOCALHOST_TEST_ISSUER.into(), ..settings_for(&db, &data) };
        let w = world_on(&db, TestApp::spawn_with(raw));
        let issuer = w.app.base.replace("127.0.0.1", "localhost");
        let callback = callback_receiver();
        add_app(&w, "notes", &ApplicationSettings { name: "Notes".into(), ..web_app(&[&callback], &[]) });

        let output = Command::new("node")
            .arg(scripts.join("passkeys.mjs"))
            .env("TESSERA_URL", &issuer)
            .env("CHROMIUM", &executable)
            .env("SCREENSHOTS", &screenshots)
            .env("CLIENT_SECRET", &w.secret)
            .env("WEBAPP", format!("notes {callback}"))
            .env("LOGIN", "alice")
            .env("PASSWORD", PASSWORD)
            .output()
            .expect("running node");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "the passkey flow failed\n--- stdout\n{stdout}\n--- stderr\n{stderr}");
        assert!(stdout.contains("passkeys passed"), "{stdout}");
        println!("{stdout}");

        for what in ["passkey-conditional", "passkey-alone"] {
            let alone = amr_of(&stdout, what);
            assert!(alone.contains(&"user".to_owned()) && alone.contains(&"mfa".to_owned()), "{what}: {alone:?}");
            assert!(alone.iter().any(|a| a == "hwk" || a == "swk"), "{what}: {alone:?}");
            assert!(!alone.contains(&"pwd".to_owned()), "{what}: {alone:?}");
        }
        let second = amr_of(&stdout, "password-then-passkey");
        assert!(second.contains(&"pwd".to_owned()) && second.contains(&"mfa".to_owned()), "{second:?}");
        assert!(second.iter().any(|a| a == "hwk" || a == "swk"), "{second:?}");
        for page in ["passkey-account", "passkey-sign-in", "passkey-second-factor"] {
            assert!(screenshots.join(format!("{page}.png")).is_file(), "no screenshot of {page}");
        }
    }
}
