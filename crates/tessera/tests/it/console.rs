//! The admin console and the login pages in a real headless Chromium (Debian's
//! `chromium`, driven by npm's `playwright-core`): `tests/browser/console.mjs` signs in
//! as the administrator, creates a claim, an identity scope, an API connection and an
//! application requiring the claim, then signs a user in through the login pages and
//! checks the claim in userinfo. Screenshots go to `target/screenshots/`.
//!
//! Without Chromium or Node the test says `BROWSER TESTS SKIPPED` loudly; with
//! `CI=true` that is a failure (`.ci/run` installs both).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{TestApp, TestDatabase};

fn on_path(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?.to_str()?.split(':').map(|dir| Path::new(dir).join(program)).find(|p| p.is_file())
}

fn chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("TESSERA_CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    ["chromium", "chromium-browser", "google-chrome"].into_iter().find_map(on_path)
}

/// What a browser test needs: Chromium, the scripts' folder with `playwright-core`
/// installed, and where screenshots go (`target/screenshots/`).
pub struct Chromium {
    pub executable: PathBuf,
    pub scripts: PathBuf,
    pub screenshots: PathBuf,
}

impl Chromium {
    /// `None`, after saying so loudly, where the browser tests are skipped (a failure
    /// under `CI=true`).
    pub fn find() -> Option<Chromium> {
        let Some(executable) = chromium() else {
            skip("no chromium on PATH");
            return None;
        };
        if on_path("node").is_none() || on_path("npm").is_none() {
            skip("no node or npm on PATH");
            return None;
        }
        let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
        // One installation for every browser test of this run (they run in parallel).
        static INSTALL: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _installing = INSTALL.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if !scripts.join("node_modules/playwright-core").is_dir() {
            let status = Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
                .current_dir(&scripts)
                .status()
                .expect("running npm ci");
            assert!(status.success(), "npm ci failed in {}", scripts.display());
        }
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
        Some(Chromium { executable, scripts, screenshots: target.join("screenshots") })
    }
}

fn skip(why: &str) {
    assert!(std::env::var("CI").as_deref() != Ok("true"), "the browser tests cannot run under CI=true: {why}");
    eprintln!("BROWSER TESTS SKIPPED: {why} (install Debian's chromium and Node.js to run them)");
}

#[test]
fn an_admin_configures_a_required_claim_in_the_console_and_a_user_provides_it_at_sign_in() {
    let Some(Chromium { executable: chromium, scripts, screenshots }) = Chromium::find() else { return };
    let db = TestDatabase::sqlite();
    let app = TestApp::spawn(&db);
    let password = app.bootstrap_password.clone().expect("the first start creates an administrator");
    let output = Command::new("node")
        .arg(scripts.join("console.mjs"))
        .env("TESSERA_URL", &app.base)
        .env("ADMIN_LOGIN", "admin")
        .env("ADMIN_PASSWORD", password)
        .env("CHROMIUM", &chromium)
        .env("SCREENSHOTS", &screenshots)
        .output()
        .expect("running node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the browser flow failed\n--- stdout\n{stdout}\n--- stderr\n{stderr}");
    assert!(stdout.contains("browser flow passed"), "{stdout}");
    for page in ["console-dashboard", "console-application-error", "console-audit", "login-required-claim"] {
        assert!(screenshots.join(format!("{page}.png")).is_file(), "no screenshot of {page}");
    }
}
