//! Passkeys in a real headless Chromium with the Chrome DevTools Protocol's virtual
//! authenticator (issue 18): `tests/browser/passkeys.mjs` registers a passkey on the
//! account page; steps the password session up to `phr` with it (`acr_values=phr`); signs
//! out and signs in to an application with the passkey alone (conditional UI, then the
//! button), and with the password and the passkey as the second factor (to an
//! application, and to the account page itself); then a user with
//! only a password signs in to an application whose policy requires a passkey and
//! registers one on the way. This test checks the ID tokens' `acr` and `amr`, and that
//! the ID token, the JWT access token and its introspection agree on `acr`, `amr` and
//! `auth_time` for every passkey sign-in; it prints the claims. Tessera's issuer is
//! `http://localhost:PORT` (an IP address cannot be a WebAuthn relying party).
//! Screenshots go to `target/screenshots/passkey-*.png`. Skipped, loudly, where the
//! console's browser test is (`console::Chromium::find`).

use std::process::Command;

use serde_json::Value;
use tessera_domain::SignInPolicy;
use tessera_store::applications::ApplicationSettings;

use crate::common::security::*;
use crate::common::{LOCALHOST_TEST_ISSUER, TestApp, settings_for};
use crate::console::Chromium;
use crate::lifecycle::callback_receiver;

/// The JSON the script printed as `<kind> <what> <json>`.
fn printed(stdout: &str, kind: &str, what: &str) -> Value {
    let prefix = format!("{kind} {what} ");
    let line =
        stdout.lines().find_map(|l| l.strip_prefix(prefix.as_str())).unwrap_or_else(|| panic!("no {kind} {what}"));
    serde_json::from_str(line).unwrap()
}

/// The `amr` of the ID token claims printed as `CLAIMS <what>`.
fn amr_of(stdout: &str, what: &str) -> Vec<String> {
    let claims = printed(stdout, "CLAIMS", what);
    claims["amr"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect()
}

/// The ID token, the JWT access token and the introspection answer of the sign-in
/// `what` carry the same `acr`, `amr` and `auth_time`: the `acr`.
fn consistent(stdout: &str, what: &str) -> Value {
    let tokens = printed(stdout, "TOKENS", what);
    let id_token = payload(tokens["id_token"].as_str().unwrap());
    let access_token = payload(tokens["access_token"].as_str().unwrap());
    let introspection = &tokens["introspection"];
    for claim in ["acr", "amr", "auth_time"] {
        assert!(!id_token[claim].is_null(), "{what}: no {claim} in the ID token {id_token}");
        assert_eq!(access_token[claim], id_token[claim], "{what}: {claim} of the access token {access_token}");
        assert_eq!(introspection[claim], id_token[claim], "{what}: {claim} of the introspection {introspection}");
    }
    assert_eq!(introspection["sub"], id_token["sub"], "{what}");
    id_token["acr"].clone()
}

fn has_passkey(amr: &[String]) -> bool {
    amr.iter().any(|a| a == "hwk" || a == "swk")
}

crate::both_backends! {
    fn a_passkey_registered_on_the_account_page_steps_up_signs_in_alone_and_as_a_second_factor(db: TestDatabase) {
        let Some(Chromium { executable, scripts, screenshots }) = Chromium::find() else { return };
        let data = std::env::temp_dir().join(format!("tessera-passkeys-{}", uuid::Uuid::now_v7().simple()));
        let raw = tessera::settings::RawSettings { issuer: LOCALHOST_TEST_ISSUER.into(), ..settings_for(&db, &data) };
        let w = world_on(&db, TestApp::spawn_with(raw));
        let issuer = w.app.base.replace("127.0.0.1", "localhost");
        let api_secret = with_api(&w);
        let callback = callback_receiver();
        let scopes = vec!["openid".to_owned(), "orders.read".to_owned()];
        let notes = ApplicationSettings { name: "Notes".into(), allowed_scopes: scopes.clone(), ..web_app(&[&callback], &[]) };
        add_app(&w, "notes", &notes);
        let vault = ApplicationSettings {
            name: "Vault".into(),
            sign_in_policy: Some(SignInPolicy::Passkey),
            allowed_scopes: scopes,
            ..web_app(&[&callback], &[])
        };
        add_app(&w, "vault", &vault);
        add_user(&w.store, "bob", PASSWORD);

        let output = Command::new("node")
            .arg(scripts.join("passkeys.mjs"))
            .env("TESSERA_URL", &issuer)
            .env("CHROMIUM", &executable)
            .env("SCREENSHOTS", &screenshots)
            .env("CLIENT_SECRET", &w.secret)
            .env("WEBAPP", format!("notes {callback}"))
            .env("SCOPE", "openid orders.read")
            .env("API", format!("orders-api {api_secret}"))
            .env("LOGIN", "alice")
            .env("PASSWORD", PASSWORD)
            .env("NEWCOMER", "bob vault")
            .output()
            .expect("running node");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "the passkey flow failed\n--- stdout\n{stdout}\n--- stderr\n{stderr}");
        assert!(stdout.contains("passkeys passed"), "{stdout}");
        println!("{stdout}");

        // The account page's password session, then the same session stepped up.
        assert_eq!(consistent(&stdout, "before-step-up"), "1fa");
        assert_eq!(amr_of(&stdout, "before-step-up"), ["pwd"]);
        assert_eq!(consistent(&stdout, "step-up-phr"), "phr");
        let stepped = amr_of(&stdout, "step-up-phr");
        assert!(has_passkey(&stepped) && stepped.contains(&"pwd".to_owned()), "{stepped:?}");
        assert!(stepped.contains(&"mfa".to_owned()) && stepped.contains(&"user".to_owned()), "{stepped:?}");
        let (before, after) = (printed(&stdout, "CLAIMS", "before-step-up"), printed(&stdout, "CLAIMS", "step-up-phr"));
        assert_eq!(after["sid"], before["sid"], "the same session, stepped up");
        assert!(after["auth_time"].as_i64() >= before["auth_time"].as_i64(), "{before} {after}");

        for what in ["passkey-conditional", "passkey-alone"] {
            assert_eq!(consistent(&stdout, what), "phr", "{what}");
            let alone = amr_of(&stdout, what);
            assert!(alone.contains(&"user".to_owned()) && alone.contains(&"mfa".to_owned()), "{what}: {alone:?}");
            assert!(has_passkey(&alone), "{what}: {alone:?}");
            assert!(!alone.contains(&"pwd".to_owned()), "{what}: {alone:?}");
        }
        for what in ["password-then-passkey", "enrolled-at-sign-in"] {
            assert_eq!(consistent(&stdout, what), "phr", "{what}");
            let both = amr_of(&stdout, what);
            assert!(both.contains(&"pwd".to_owned()) && both.contains(&"mfa".to_owned()), "{what}: {both:?}");
            assert!(has_passkey(&both), "{what}: {both:?}");
        }
        // Bob's passkey is his, and registering it during sign-in was audited and mailed
        // like one added on the account page.
        let bob = printed(&stdout, "CLAIMS", "enrolled-at-sign-in");
        assert_ne!(bob["sub"], printed(&stdout, "CLAIMS", "passkey-alone")["sub"]);
        let page = tessera_store::Page::first(500);
        let audit = w
            .store
            .read_transaction(|c| tessera_store::audit::list(c, &tessera_store::audit::AuditFilter::default(), &page))
            .unwrap();
        let added: Vec<_> = audit.items.iter().filter(|e| e.action == "user.passkey_added").collect();
        assert_eq!(added.len(), 2, "alice's and bob's: {:?}", added.iter().map(|e| &e.target).collect::<Vec<_>>());
        let pages = [
            "passkey-account",
            "passkey-step-up",
            "passkey-sign-in",
            "passkey-second-factor",
            "passkey-account-second-factor",
            "passkey-enrol",
        ];
        for page in pages {
            assert!(screenshots.join(format!("{page}.png")).is_file(), "no screenshot of {page}");
        }
    }
}
