//! PostgreSQL clusters of a test's own, made with the machine's PostgreSQL binaries
//! (`/usr/lib/postgresql/*/bin`, or `TESSERA_TEST_PG_BIN`) on free loopback ports: a
//! primary, a streaming-replication standby of it, and the operations a failover drill
//! needs (stop fast or immediate, start, promote). Each cluster is removed when dropped.
//!
//! `initdb` refuses to run as root: as root (CI) every PostgreSQL command runs as the
//! `postgres` OS user through `runuser`. Where none of this is possible the caller is told
//! why ([`PgCluster::primary`] gives `None` after printing it loudly); under `CI=true`
//! that is a failure instead.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// How a cluster is stopped (`pg_ctl stop -m`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopMode {
    /// Disconnects clients, writes a checkpoint and sends the standby all WAL first.
    Fast,
    /// Kills every server process at once, like a crash: recovery at the next start.
    Immediate,
}

/// One PostgreSQL cluster on `127.0.0.1:port`.
pub struct PgCluster {
    pub port: u16,
    dir: PathBuf,
    bin: PathBuf,
}

impl PgCluster {
    /// A new primary cluster, started, with an empty database `tessera`; `None` (after
    /// saying why on stderr) when the machine cannot run one. Under `CI=true` that panics.
    pub fn primary(what: &str) -> Option<PgCluster> {
        let bin = match binaries() {
            Ok(bin) => bin,
            Err(why) => {
                if std::env::var("CI").is_ok_and(|v| v == "true") {
                    panic!("CI=true and a PostgreSQL cluster of the test's own cannot be made: {why}");
                }
                eprintln!("POSTGRES CLUSTER SKIPPED ({what}): {why}; set CI=true to make this a failure");
                return None;
            }
        };
        let dir = std::env::temp_dir().join(format!("tessera-pg-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        own(&dir);
        let cluster = PgCluster { port: free_port(), dir, bin };
        cluster
            .run(
                "initdb",
                &[
                    "-D",
                    &cluster.data(),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--no-instructions",
                    "--no-sync",
                ],
            )
            .unwrap_or_else(|e| panic!("initdb: {e}"));
        cluster.start();
        cluster.psql("postgres", "CREATE DATABASE tessera");
        Some(cluster)
    }

    /// A streaming-replication standby of this primary (`pg_basebackup -R`), started.
    pub fn standby(&self) -> PgCluster {
        let dir = std::env::temp_dir().join(format!("tessera-pg-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        own(&dir);
        let standby = PgCluster { port: free_port(), dir, bin: self.bin.clone() };
        let port = self.port.to_string();
        standby
            .run(
                "pg_basebackup",
                &[
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &port,
                    "-U",
                    "postgres",
                    "-D",
                    &standby.data(),
                    "-R",
                    "-X",
                    "stream",
                    "-c",
                    "fast",
                    "--no-sync",
                ],
            )
            .unwrap_or_else(|e| panic!("pg_basebackup: {e}"));
        standby.start();
        standby
    }

    /// Makes every commit on this primary wait until a standby has flushed it
    /// (`synchronous_standby_names = '*'`, `synchronous_commit = on`): a commit
    /// acknowledged to Tessera is then on the standby too. Call once the standby streams.
    pub fn require_synchronous_standby(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.query("postgres", "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'") != "1" {
            assert!(Instant::now() < deadline, "the standby never streamed");
            std::thread::sleep(Duration::from_millis(50));
        }
        // In this cluster's own postgresql.auto.conf: the standby copied the files before,
        // so once promoted it does not wait for a standby of its own.
        self.psql("postgres", "ALTER SYSTEM SET synchronous_standby_names = '*'");
        self.psql("postgres", "SELECT pg_reload_conf()");
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.query("postgres", "SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync'") != "1" {
            assert!(Instant::now() < deadline, "the standby never became synchronous");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `postgres://postgres@127.0.0.1:port/tessera`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/tessera", self.port)
    }

    pub fn start(&self) {
        // `fsync = off`: the faults these clusters see are process deaths (`stop -m
        // immediate`, SIGKILL), after which the kernel still holds every write; a power
        // loss is not simulated. It keeps the tests fast on a slow disk.
        let options = format!("-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off", self.port, self.dir.display());
        let log = self.dir.join("log").display().to_string();
        self.run("pg_ctl", &["-D", &self.data(), "-l", &log, "-w", "-t", "60", "-o", &options, "start"])
            .unwrap_or_else(|e| panic!("pg_ctl start: {e}\n{}", self.log_tail()));
    }

    pub fn stop(&self, mode: StopMode) {
        let mode = match mode {
            StopMode::Fast => "fast",
            StopMode::Immediate => "immediate",
        };
        self.run("pg_ctl", &["-D", &self.data(), "-m", mode, "-w", "-t", "60", "stop"])
            .unwrap_or_else(|e| panic!("pg_ctl stop: {e}"));
    }

    /// Ends recovery on a standby: it becomes a primary that accepts writes.
    pub fn promote(&self) {
        self.run("pg_ctl", &["-D", &self.data(), "-w", "-t", "60", "promote"])
            .unwrap_or_else(|e| panic!("pg_ctl promote: {e}\n{}", self.log_tail()));
    }

    /// Runs `sql` in `database`, panicking on an error.
    pub fn psql(&self, database: &str, sql: &str) {
        self.query(database, sql);
    }

    /// The first column of the first row `sql` returns in `database`, as text.
    pub fn query(&self, database: &str, sql: &str) -> String {
        let port = self.port.to_string();
        let out = self
            .run("psql", &["-h", "127.0.0.1", "-p", &port, "-U", "postgres", "-d", database, "-XAtq", "-c", sql])
            .unwrap_or_else(|e| panic!("psql {sql:?}: {e}"));
        String::from_utf8_lossy(&out.stdout).lines().next().unwrap_or("").trim().to_owned()
    }

    fn data(&self) -> String {
        self.dir.join("data").display().to_string()
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("log")).unwrap_or_default();
        log.lines().rev().take(20).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n")
    }

    /// Runs a PostgreSQL program, as the `postgres` OS user when we are root.
    fn run(&self, program: &str, args: &[&str]) -> Result<Output, String> {
        let program = self.bin.join(program);
        let mut command = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        let out = command
            .args(args)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("{}: {e}", program.display()))?;
        if !out.status.success() {
            return Err(format!(
                "{} {args:?}: {}\n{}{}",
                program.display(),
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(out)
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let _ = self.run("pg_ctl", &["-D", &self.data(), "-m", "immediate", "-w", "stop"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The folder of the newest PostgreSQL's programs, once it is known they can run here.
fn binaries() -> Result<PathBuf, String> {
    let bin = match std::env::var_os("TESSERA_TEST_PG_BIN") {
        Some(bin) => PathBuf::from(bin),
        None => {
            let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
                .map_err(|e| format!("no PostgreSQL binaries in /usr/lib/postgresql ({e})"))?
                .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
                .filter(|b| b.join("initdb").exists())
                .collect();
            found.sort_by_key(|b| {
                b.parent()
                    .and_then(|v| v.file_name())
                    .and_then(|v| v.to_str())
                    .and_then(|v| v.parse::<u32>().ok())
                    .unwrap_or(0)
            });
            found.pop().ok_or("no initdb under /usr/lib/postgresql/*/bin")?
        }
    };
    if is_root() {
        let ok = Command::new("runuser")
            .args(["-u", "postgres", "--", "true"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            return Err("running as root, and `runuser -u postgres` does not work (initdb refuses root)".into());
        }
    }
    Ok(bin)
}

fn is_root() -> bool {
    // The owner of our own /proc entry is our effective user.
    std::fs::metadata("/proc/self").map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0).unwrap_or(false)
}

/// Gives `dir` to the `postgres` user when we are root, and lets it reach `dir`.
fn own(dir: &Path) {
    if is_root() {
        let status = Command::new("chown").args(["postgres:postgres"]).arg(dir).status().unwrap();
        assert!(status.success(), "chown postgres {}", dir.display());
    }
}

/// A loopback port nothing listens on now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}
