//! A round-robin TCP proxy on loopback, as a load balancer in front of several nodes:
//! each new connection goes to the next backend in turn, and the proxy counts how many
//! each got. A client that opens a connection per request (no keep-alive) thus sends
//! consecutive requests to different nodes.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;

/// The proxy, serving until dropped.
pub struct RoundRobin {
    pub address: SocketAddr,
    counts: Arc<Vec<AtomicUsize>>,
    stop: Arc<AtomicBool>,
}

impl RoundRobin {
    /// Listens on `listener` (bound by the caller, so the nodes can be told the proxy's
    /// address before they start) and forwards to `backends` in turn.
    pub fn start(listener: TcpListener, backends: Vec<SocketAddr>) -> RoundRobin {
        assert!(!backends.is_empty(), "a proxy needs a backend");
        let address = listener.local_addr().unwrap();
        let counts: Arc<Vec<AtomicUsize>> = Arc::new(backends.iter().map(|_| AtomicUsize::new(0)).collect());
        let stop = Arc::new(AtomicBool::new(false));
        let (shared, stopping) = (counts.clone(), stop.clone());
        thread::spawn(move || {
            let next = AtomicUsize::new(0);
            for client in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let index = next.fetch_add(1, Ordering::SeqCst) % backends.len();
                shared[index].fetch_add(1, Ordering::SeqCst);
                let backend = backends[index];
                thread::spawn(move || {
                    if let Ok(upstream) = TcpStream::connect(backend) {
                        splice(client, upstream);
                    }
                });
            }
        });
        RoundRobin { address, counts, stop }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// How many connections each backend got, in the order given.
    pub fn counts(&self) -> Vec<usize> {
        self.counts.iter().map(|c| c.load(Ordering::SeqCst)).collect()
    }
}

impl Drop for RoundRobin {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.address);
    }
}

/// Copies bytes both ways until either side closes.
fn splice(client: TcpStream, upstream: TcpStream) {
    let (Ok(client_read), Ok(upstream_read)) = (client.try_clone(), upstream.try_clone()) else { return };
    let up = thread::spawn(move || copy(client_read, upstream));
    copy(upstream_read, client);
    let _ = up.join();
}

fn copy(mut from: TcpStream, mut to: TcpStream) {
    let mut buffer = [0_u8; 16 * 1024];
    loop {
        match from.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buffer[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}
