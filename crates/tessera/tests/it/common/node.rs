//! `tessera serve` as a process of its own, for the tests that kill a node (SIGKILL) or
//! limit what it may write: the in-process `TestApp` cannot be killed.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tessera::settings::RawSettings;

/// A running `tessera serve`.
pub struct Node {
    pub base: String,
    pub port: u16,
    child: Child,
}

/// How the node's process is started.
#[derive(Clone, Copy, Default)]
pub struct Limits {
    /// The largest file the process may write, in bytes (`ulimit -f`, with `SIGXFSZ`
    /// ignored so that a write past it fails with `EFBIG` as on a full disk).
    pub file_size: Option<u64>,
}

impl Node {
    /// Starts `tessera serve` on `port` with `raw`'s database, master key, issuer and
    /// data folder (the settings a test node needs, given as `TESSERA_*` variables),
    /// and waits until `/readyz` answers 200.
    pub fn start(raw: &RawSettings, port: u16, limits: Limits) -> Node {
        let binary = PathBuf::from(env!("CARGO_BIN_EXE_tessera"));
        let mut command = match limits.file_size {
            Some(bytes) => {
                // POSIX `ulimit -f` counts 512-byte blocks.
                let mut c = Command::new("sh");
                c.args(["-c", &format!("trap '' XFSZ; ulimit -f {}; exec \"$0\" serve", bytes / 512)]).arg(&binary);
                c
            }
            None => {
                let mut c = Command::new(&binary);
                c.arg("serve");
                c
            }
        };
        command.env_clear().env("PATH", std::env::var("PATH").unwrap_or_default());
        let vars = [
            ("TESSERA_BIND", format!("127.0.0.1:{port}")),
            ("TESSERA_ISSUER", raw.issuer.clone()),
            ("TESSERA_DATA_DIR", raw.data_dir.display().to_string()),
            ("TESSERA_DATABASE_URL", raw.database_url.clone()),
            ("TESSERA_ARGON2_MEMORY_KIB", raw.argon2_memory_kib.to_string()),
            ("TESSERA_ARGON2_ITERATIONS", raw.argon2_iterations.to_string()),
            ("TESSERA_CONFIG_REFRESH_INTERVAL_MS", raw.config_refresh_interval_ms.to_string()),
            ("TESSERA_LOG_LEVEL", "warn".to_owned()),
        ];
        command.envs(vars);
        if let Some(key) = &raw.master_key {
            command.env("TESSERA_MASTER_KEY", key);
        }
        let log = std::fs::File::create(raw.data_dir.join(format!("serve-{port}.log")));
        match (log, limits.file_size) {
            // A limited process could not write its log either: it goes nowhere.
            (Ok(log), None) => command.stdout(log.try_clone().unwrap()).stderr(log),
            _ => command.stdout(Stdio::null()).stderr(Stdio::null()),
        };
        let child = command.stdin(Stdio::null()).spawn().unwrap();
        let node = Node { base: format!("http://127.0.0.1:{port}"), port, child };
        node.wait_ready(&raw.data_dir);
        node
    }

    fn wait_ready(&self, data_dir: &Path) {
        let client = reqwest::blocking::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if client.get(format!("{}/readyz", self.base)).send().is_ok_and(|r| r.status() == 200) {
                return;
            }
            let log = std::fs::read_to_string(data_dir.join(format!("serve-{}.log", self.port))).unwrap_or_default();
            assert!(Instant::now() < deadline, "the node did not become ready:\n{log}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL: the process ends at once, whatever it was doing.
    pub fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
