//! `/readyz` follows the database: 503 while Postgres is unreachable, 200 again when it
//! is back, without restarting Tessera; and a node started while the database is away
//! waits for it (`database_startup_wait`). Postgres is reached through a TCP proxy the
//! test cuts and restores, standing in for a database restart.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::{TestApp, TestDatabase, settings_for};

/// Forwards connections from a local port to `target` until cut.
struct Proxy {
    address: SocketAddr,
    target: SocketAddr,
    running: Arc<AtomicBool>,
    streams: Arc<Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let proxy = Proxy { address, target, running: Arc::new(AtomicBool::new(false)), streams: Arc::default() };
        proxy.serve(listener);
        proxy
    }

    fn serve(&self, listener: TcpListener) {
        listener.set_nonblocking(true).unwrap();
        self.running.store(true, Ordering::SeqCst);
        let (running, streams, target) = (self.running.clone(), self.streams.clone(), self.target);
        std::thread::spawn(move || {
            while running.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => {
                        client.set_nonblocking(false).unwrap();
                        let Ok(server) = TcpStream::connect(target) else {
                            continue;
                        };
                        let mut all = streams.lock().unwrap();
                        all.push(client.try_clone().unwrap());
                        all.push(server.try_clone().unwrap());
                        pipe(client.try_clone().unwrap(), server.try_clone().unwrap());
                        pipe(server, client);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
    }

    /// Stops listening and breaks every forwarded connection.
    fn cut(&self) {
        self.running.store(false, Ordering::SeqCst);
        for stream in self.streams.lock().unwrap().drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
        std::thread::sleep(Duration::from_millis(50));
    }

    fn restore(&self) {
        let listener = TcpListener::bind(self.address).unwrap();
        self.serve(listener);
    }
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    std::thread::spawn(move || {
        let mut buffer = [0u8; 16 * 1024];
        while let Ok(n) = from.read(&mut buffer) {
            if n == 0 || to.write_all(&buffer[..n]).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Both);
    });
}

fn wait_for_status(app: &TestApp, status: u16) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let response = app.get("/readyz");
        if response.status() == status {
            return response.json().unwrap();
        }
        assert!(Instant::now() < deadline, "/readyz never answered {status}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A proxy to the test database's server, and the database's URL through it.
fn proxied(db: &TestDatabase) -> (Proxy, String) {
    let tessera_store::DatabaseUrl::Postgres(url) = &db.url else { unreachable!() };
    let mut parsed = url::Url::parse(url).unwrap();
    let target: SocketAddr =
        format!("{}:{}", parsed.host_str().unwrap(), parsed.port().unwrap_or(5432)).parse().unwrap();
    let proxy = Proxy::start(target);
    parsed.set_host(Some("127.0.0.1")).unwrap();
    parsed.set_port(Some(proxy.address.port())).unwrap();
    (proxy, parsed.to_string())
}

#[test]
fn readyz_is_503_while_postgres_is_away_and_200_when_it_returns() {
    let Some(db) = TestDatabase::postgres() else {
        return;
    };
    let (proxy, url) = proxied(&db);
    let data_dir = std::env::temp_dir().join(format!("tessera-ready-{}", uuid::Uuid::now_v7().simple()));
    let mut raw = settings_for(&db, &data_dir);
    raw.database_url = url;
    let app = TestApp::spawn_with(raw);
    assert_eq!(app.get("/readyz").status(), 200);

    proxy.cut();
    let body = wait_for_status(&app, 503);
    assert_eq!(body["status"], "unavailable");
    assert_eq!(body["reason"], "database unreachable");
    assert_eq!(app.get("/healthz").status(), 200, "liveness does not depend on the database");

    proxy.restore();
    wait_for_status(&app, 200);
    drop(app);
    let _ = std::fs::remove_dir_all(&data_dir);
}

/// `serve` started while PostgreSQL is away waits for it (with growing pauses, up to
/// `database_startup_wait`) instead of exiting at once, and serves when it comes.
#[test]
fn a_node_started_while_postgres_is_away_waits_for_it() {
    let Some(db) = TestDatabase::postgres() else {
        return;
    };
    // Migrated first, so the wait is the only thing the start has to get through.
    drop(db.store());
    let (proxy, url) = proxied(&db);
    proxy.cut();
    let data_dir = std::env::temp_dir().join(format!("tessera-wait-{}", uuid::Uuid::now_v7().simple()));
    let mut raw = settings_for(&db, &data_dir);
    raw.database_url = url;
    raw.database_startup_wait = 30;
    let started = Instant::now();
    let starting = std::thread::spawn(move || TestApp::spawn_with(raw));
    std::thread::sleep(Duration::from_millis(1500));
    assert!(!starting.is_finished(), "the node gave up (or started) while the database was away");
    proxy.restore();
    let app = starting.join().expect("the node started once the database answered");
    assert!(started.elapsed() < Duration::from_secs(15), "took {:?}", started.elapsed());
    assert_eq!(app.get("/readyz").status(), 200);
    drop(app);
    let _ = std::fs::remove_dir_all(&data_dir);
}
