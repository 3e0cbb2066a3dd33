//! The `tessera` command as a user runs it: help, configuration errors (one line, exit
//! status 2), migrate, create-user, config check, and `serve` until SIGTERM.

mod apps;
mod connections;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A scratch working directory in which `tessera` runs with a clean environment.
struct Workdir(PathBuf);

impl Workdir {
    fn new() -> Workdir {
        let dir = std::env::temp_dir().join(format!("tessera-cli-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        Workdir(dir)
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tessera"));
        command.args(args).current_dir(&self.0).env_clear().env("PATH", std::env::var("PATH").unwrap_or_default());
        command.env("TESSERA_ARGON2_MEMORY_KIB", "64").env("TESSERA_ARGON2_ITERATIONS", "1");
        command
    }

    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut command = self.command(args);
        for (k, v) in env {
            command.env(k, v);
        }
        command.stdin(Stdio::null()).output().unwrap()
    }

    /// Runs `tessera ARGS…` with no extra environment.
    fn tessera(&self, args: &[&str]) -> Output {
        self.run(args, &[])
    }

    /// Runs `tessera ARGS…`, expects success, and parses standard output as JSON.
    fn json(&self, args: &[&str]) -> serde_json::Value {
        let output = self.tessera(args);
        assert!(output.status.success(), "{args:?}: {}", stderr(&output));
        serde_json::from_slice(&output.stdout).unwrap()
    }

    /// The database the commands wrote (the embedded default), opened through the store.
    fn store(&self) -> tessera_store::Store {
        let path = self.0.join("tessera-data/tessera.db");
        let url = tessera_store::DatabaseUrl::parse(&format!("sqlite://{}", path.display())).unwrap();
        tessera_store::Store::connect(&url, &tessera_store::PoolOptions::for_backend(url.backend())).unwrap()
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Workdir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Exit status 2 and exactly one line on standard error, starting with `error: SETTING`.
fn assert_config_error(output: &Output, setting: &str) {
    let err = stderr(output);
    assert_eq!(output.status.code(), Some(2), "stderr: {err}");
    assert_eq!(err.lines().count(), 1, "one line expected, got: {err}");
    assert!(err.starts_with(&format!("error: {setting}")), "expected error about {setting}, got: {err}");
    assert!(!err.contains("panicked") && !err.contains("backtrace"), "{err}");
}

#[test]
fn every_command_has_help() {
    let dir = Workdir::new();
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["migrate", "--help"],
        vec!["admin", "--help"],
        vec!["admin", "create-user", "--help"],
        vec!["admin", "create-api-key", "--help"],
        vec!["config", "check", "--help"],
        vec!["config", "generate-master-key", "--help"],
        vec!["keys", "list", "--help"],
        vec!["keys", "rotate", "--help"],
        vec!["registration-token", "create", "--help"],
        vec!["registration-token", "list", "--help"],
        vec!["registration-token", "revoke", "--help"],
    ] {
        let output = dir.run(&args, &[]);
        assert!(output.status.success(), "{args:?}: {}", stderr(&output));
        assert!(stdout(&output).contains("Usage:"), "{args:?}");
    }
}

#[test]
fn a_database_url_with_an_unknown_scheme_is_one_line_and_status_2() {
    let dir = Workdir::new();
    let output = dir.run(&["serve"], &[("TESSERA_DATABASE_URL", "mysql://db/tessera")]);
    assert_config_error(&output, "database_url");
}

#[test]
fn an_unreachable_postgres_is_one_line_and_status_2() {
    let dir = Workdir::new();
    let url = "postgres://tessera:hunter2@127.0.0.1:1/tessera";
    let output = dir.run(
        &["serve"],
        &[
            ("TESSERA_DATABASE_URL", url),
            ("TESSERA_MASTER_KEY", &fresh_key()),
            ("TESSERA_BIND", "127.0.0.1:0"),
            // No waiting for the database at start (the default waits 60 s).
            ("TESSERA_DATABASE_STARTUP_WAIT", "0"),
        ],
    );
    assert_config_error(&output, "database_url");
    assert!(!stderr(&output).contains("hunter2"), "the password leaked: {}", stderr(&output));
}

#[test]
fn an_unreadable_config_file_is_one_line_and_status_2() {
    let dir = Workdir::new();
    std::fs::create_dir(dir.path().join("tessera.toml")).unwrap();
    assert_config_error(&dir.run(&["serve"], &[]), "config");
    let missing = dir.run(&["serve", "--config", "nope.toml"], &[]);
    assert_config_error(&missing, "config");
}

#[test]
fn a_config_file_that_is_not_toml_is_one_line_and_status_2() {
    let dir = Workdir::new();
    std::fs::write(dir.path().join("tessera.toml"), "issuer = [unclosed\n").unwrap();
    assert_config_error(&dir.run(&["config", "check"], &[]), "config");
}

#[test]
fn an_unknown_setting_in_the_file_or_the_environment_is_one_line_and_status_2() {
    let dir = Workdir::new();
    std::fs::write(dir.path().join("tessera.toml"), "databse_url = \"sqlite://x.db\"\n").unwrap();
    let output = dir.run(&["serve"], &[]);
    assert_config_error(&output, "databse_url");
    std::fs::remove_file(dir.path().join("tessera.toml")).unwrap();
    let output = dir.run(&["serve"], &[("TESSERA_DATABSE_URL", "sqlite://x.db")]);
    assert_config_error(&output, "TESSERA_DATABSE_URL");
}

#[test]
fn bad_values_name_their_setting() {
    let dir = Workdir::new();
    assert_config_error(&dir.run(&["config", "check"], &[("TESSERA_ISSUER", "not a url")]), "issuer");
    assert_config_error(&dir.run(&["config", "check"], &[("TESSERA_BIND", "localhost")]), "bind");
    assert_config_error(&dir.run(&["config", "check"], &[("TESSERA_LOG_FORMAT", "xml")]), "log_format");
    assert_config_error(&dir.run(&["config", "check"], &[("TESSERA_MASTER_KEY", "short")]), "master_key");
    assert_config_error(
        &dir.run(&["config", "check"], &[("TESSERA_REGISTRATION_ENABLED", "maybe")]),
        "registration_enabled",
    );
    assert_config_error(
        &dir.run(&["config", "check"], &[("TESSERA_PRIVATE_KEY_JWT_LEGACY_AUDIENCES", "maybe")]),
        "private_key_jwt_legacy_audiences",
    );
    assert_config_error(&dir.run(&["config", "check"], &[("TESSERA_PASSWORD_MIN_SCORE", "5")]), "password_min_score");
}

#[test]
fn migrate_twice_changes_nothing_the_second_time() {
    let dir = Workdir::new();
    let first = dir.run(&["migrate"], &[]);
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(stdout(&first).starts_with("Applied 37 migration(s):"), "{}", stdout(&first));
    let second = dir.run(&["migrate"], &[]);
    assert!(second.status.success(), "{}", stderr(&second));
    assert_eq!(stdout(&second).trim(), "The database schema is up to date; nothing to apply.");
    assert!(dir.path().join("tessera-data/tessera.db").exists());
}

#[test]
fn create_user_makes_an_administrator_and_refuses_a_duplicate() {
    let dir = Workdir::new();
    let mut child = dir
        .command(&[
            "admin",
            "create-user",
            "--username",
            "Carol",
            "--email",
            "carol@example.com",
            "--admin",
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"a long enough password\n").unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("Created user carol"), "{}", stdout(&output));
    assert!(!stdout(&output).contains("a long enough password"));

    let again = dir.run(&["admin", "create-user", "--username", "carol"], &[]);
    assert_eq!(again.status.code(), Some(2));
    assert!(
        stderr(&again).starts_with("error: --username: a user with this username already exists"),
        "{}",
        stderr(&again)
    );

    let generated = dir.run(&["admin", "create-user", "--username", "dave"], &[]);
    assert!(generated.status.success());
    assert!(stdout(&generated).contains("Password (shown once): "));

    let short = dir.run(&["admin", "create-user", "--username", "x"], &[]);
    assert_eq!(short.status.code(), Some(2));
    assert!(stderr(&short).starts_with("error: --username"), "{}", stderr(&short));
}

#[test]
fn create_user_refuses_a_common_password_or_one_built_from_the_username_and_creates_nothing() {
    let dir = Workdir::new();
    let create = |password: &[u8]| {
        let mut child = dir
            .command(&["admin", "create-user", "--username", "quokkaorbit", "--password-stdin"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child.stdin.take().unwrap().write_all(password).unwrap();
        child.wait_with_output().unwrap()
    };
    for (password, why) in [
        (&b"password\n"[..], "error: password: This password is too common"),
        (b"quokkaorbit42\n", "error: password: This password is too easy to guess: it is built from your username"),
    ] {
        let refused = create(password);
        assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
        assert!(stderr(&refused).starts_with(why), "{}", stderr(&refused));
        assert!(!stderr(&refused).contains("quokkaorbit42"), "the password is never repeated");
    }
    let created = create(b"a long enough password\n");
    assert!(created.status.success(), "nothing was left behind: {}", stderr(&created));
}

#[test]
fn config_check_prints_the_settings_without_secrets() {
    let dir = Workdir::new();
    let key = fresh_key();
    let output = dir.run(&["config", "check"], &[("TESSERA_MASTER_KEY", &key)]);
    assert!(output.status.success(), "{}", stderr(&output));
    let out = stdout(&output);
    assert!(out.starts_with("Configuration is valid"), "{out}");
    assert!(out.contains("sqlite://tessera-data/tessera.db (answers)"), "{out}");
    assert!(out.contains("password_min_score    = 3"), "{out}");
    assert!(out.contains("smtp_url              = none: files in tessera-data/mail"), "{out}");
    assert!(!out.contains(&key));
}

#[test]
fn config_check_hides_the_smtp_password() {
    let dir = Workdir::new();
    let env = [
        ("TESSERA_MASTER_KEY", fresh_key()),
        ("TESSERA_SMTP_URL", "smtps://mailer:hunter2-smtp@mail.example.com".to_owned()),
        ("TESSERA_MAIL_FROM", "Example ID <id@example.com>".to_owned()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let output = dir.run(&["config", "check"], &env);
    assert!(output.status.success(), "{}", stderr(&output));
    let out = stdout(&output);
    assert!(out.contains("smtp_url              = smtps://mailer:(hidden)@mail.example.com:465"), "{out}");
    assert!(out.contains("mail_from             = Example ID <id@example.com>"), "{out}");
    assert!(!out.contains("hunter2"), "{out}");
}

#[test]
fn generate_master_key_prints_32_bytes_of_base64() {
    let key = fresh_key();
    assert_eq!(key.len(), 44);
    assert!(tessera_tokens::MasterKey::from_base64(&key).is_ok());
}

fn fresh_key() -> String {
    let output = Workdir::new().run(&["config", "generate-master-key"], &[]);
    assert!(output.status.success());
    stdout(&output).trim().to_owned()
}

/// The README's run command: `tessera serve` with no configuration answers health and
/// readiness, prints the first administrator's password once, and stops on SIGTERM.
#[test]
fn serve_with_no_configuration_answers_and_stops_on_sigterm() {
    let dir = Workdir::new();
    let port = free_port();
    let mut child = dir
        .command(&["serve"])
        .env("TESSERA_BIND", format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let client = reqwest::blocking::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(response) = client.get(format!("{base}/healthz")).send() {
            assert_eq!(response.status(), 200);
            break;
        }
        assert!(Instant::now() < deadline, "the server did not come up");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(client.get(format!("{base}/readyz")).send().unwrap().status(), 200);
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        assert!(Instant::now() < deadline, "serve did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "serve exited with {exit}");
    let mut err = String::new();
    use std::io::Read;
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert_eq!(err.matches("password: ").count(), 1, "{err}");
    assert!(dir.path().join("tessera-data/master.key").exists());
    assert!(dir.path().join("tessera-data/tessera.db").exists());
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn keys_rotate_creates_a_next_key_and_list_shows_it() {
    let dir = Workdir::new();
    let rotated = dir.run(&["keys", "rotate", "--alg", "EdDSA"], &[]);
    assert!(rotated.status.success(), "{}", stderr(&rotated));
    let out = stdout(&rotated);
    assert!(out.starts_with("EdDSA: new key ") && out.contains("starts signing in 120 s"), "{out}");
    let listed = stdout(&dir.run(&["keys", "list"], &[]));
    assert_eq!(listed.lines().filter(|l| l.contains(" next ")).count(), 1, "{listed}");
    assert_eq!(listed.lines().filter(|l| l.contains(" active ")).count(), 3, "{listed}");
    let now = dir.run(&["keys", "rotate", "--alg", "ES256", "--now"], &[]);
    assert!(stdout(&now).contains("is active now"), "{}", stdout(&now));
    let listed = stdout(&dir.run(&["keys", "list"], &[]));
    assert_eq!(listed.lines().filter(|l| l.contains(" retired ")).count(), 1, "{listed}");
    let bad = dir.run(&["keys", "rotate", "--alg", "HS256"], &[]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).starts_with("error: --alg"), "{}", stderr(&bad));
}

/// A key created on the command line opens the management API.
#[test]
fn create_api_key_prints_a_key_the_api_accepts() {
    let dir = Workdir::new();
    let output = dir.run(&["admin", "create-api-key", "--name", "automation"], &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let out = stdout(&output);
    let key = out.lines().nth(1).unwrap().trim().to_owned();
    assert!(key.contains('.') && key.len() > 60, "{out}");
    let port = free_port();
    let mut child = dir
        .command(&["serve"])
        .env("TESSERA_BIND", format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let client = reqwest::blocking::Client::new();
    let url = format!("http://127.0.0.1:{port}/api/v1/applications");
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Ok(response) = client.get(&url).bearer_auth(&key).send() {
            break response.status();
        }
        assert!(Instant::now() < deadline, "the server did not come up");
        std::thread::sleep(Duration::from_millis(50));
    };
    let unauthenticated = client.get(&url).send().unwrap().status();
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(status, 200);
    assert_eq!(unauthenticated, 401);
    assert_config_error(&dir.run(&["admin", "create-api-key", "--name", ""], &[]), "--name");
}

#[test]
fn registration_token_create_prints_the_token_once_and_list_and_revoke_manage_it() {
    let dir = Workdir::new();
    let created = dir.json(&[
        "registration-token",
        "create",
        "--quota",
        "3",
        "--expires-in",
        "600",
        "--note",
        "partner",
        "--json",
    ]);
    let token = created["token"].as_str().unwrap().to_owned();
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!((created["quota"].as_i64(), created["uses_left"].as_i64()), (Some(3), Some(3)));
    let stored = dir.store().read_transaction(|c| tessera_store::initial_access_tokens::get(c, &id)).unwrap();
    assert_eq!(stored.token_hash, tessera_tokens::SecretHash::of(&token).as_str(), "only the hash is kept");
    let listed = dir.json(&["registration-token", "list", "--json"]);
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert!(!listed.to_string().contains(&token), "{listed}");
    assert_config_error(&dir.run(&["registration-token", "create", "--quota", "0"], &[]), "--quota");
    let revoked = dir.run(&["registration-token", "revoke", &id], &[]);
    assert!(revoked.status.success(), "{}", stderr(&revoked));
    assert_eq!(dir.json(&["registration-token", "list", "--json"]), serde_json::json!([]));
}
