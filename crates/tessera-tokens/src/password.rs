//! User passwords: argon2id (RFC 9106) with OWASP's parameters by default, as PHC
//! strings. Only sign-in and password changes pay for it.

use std::cell::RefCell;
use std::sync::{Arc, Mutex, PoisonError, mpsc};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};

thread_local! {
    /// The working memory of this thread's argon2 computations (the memory cost, 19 MiB
    /// by default), allocated once and reused: fresh for each hash, it was paged in at
    /// every sign-in and, freed, stayed in the allocator's arena anyway.
    static MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// The raw argon2 output of `password` and `salt` into `out`, in this thread's memory.
fn compute(argon2: &Argon2<'_>, params: &Params, password: &[u8], salt: &[u8], out: &mut [u8]) -> Result<(), String> {
    MEMORY.with(|memory| {
        let mut memory = memory.borrow_mut();
        let blocks = params.block_count();
        if memory.len() < blocks {
            memory.resize(blocks, Block::default());
        }
        argon2.hash_password_into_with_memory(password, salt, out, &mut memory[..blocks]).map_err(|e| e.to_string())
    })
}

/// argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordParams {
    /// Memory in KiB.
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl PasswordParams {
    /// OWASP Password Storage Cheat Sheet: argon2id, m = 19 MiB, t = 2, p = 1.
    pub const OWASP: PasswordParams = PasswordParams { memory_kib: 19 * 1024, iterations: 2, parallelism: 1 };
    /// Cheap parameters for test suites only.
    pub const TESTING: PasswordParams = PasswordParams { memory_kib: 64, iterations: 1, parallelism: 1 };
}

impl Default for PasswordParams {
    fn default() -> Self {
        PasswordParams::OWASP
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("invalid argon2 parameters: {0}")]
    Params(String),
    #[error("hashing failed: {0}")]
    Hash(String),
}

/// The threads that compute argon2id, one per core. Each computation holds its memory
/// cost (19 MiB by default); on a fixed set of threads that memory is reused, while on
/// whichever request thread asked it would be kept by that thread's allocator arena, so a
/// burst of sign-ins could leave gigabytes behind. More threads would not finish sooner
/// on this many cores; callers wait their turn.
struct Workers {
    jobs: Mutex<mpsc::Sender<Box<dyn FnOnce() + Send>>>,
}

impl Workers {
    fn start(count: usize) -> Workers {
        let (sender, receiver) = mpsc::channel::<Box<dyn FnOnce() + Send>>();
        let receiver = Arc::new(Mutex::new(receiver));
        for n in 0..count.max(1) {
            let receiver = receiver.clone();
            let spawned = std::thread::Builder::new().name(format!("argon2-{n}")).spawn(move || {
                loop {
                    let job = receiver.lock().unwrap_or_else(PoisonError::into_inner).recv();
                    match job {
                        Ok(job) => job(),
                        Err(_) => return,
                    }
                }
            });
            // Without workers, `run` computes on the caller's thread.
            if let Err(error) = spawned {
                eprintln!("tessera: could not start an argon2 worker thread: {error}");
            }
        }
        Workers { jobs: Mutex::new(sender) }
    }

    /// Runs `work` on a worker thread and waits for its result; if no worker can take it
    /// (none could be started), runs it here.
    fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> T {
        let (done, result) = mpsc::sync_channel(1);
        let work = Arc::new(Mutex::new(Some(work)));
        let queued = work.clone();
        let job = Box::new(move || {
            if let Some(work) = queued.lock().unwrap_or_else(PoisonError::into_inner).take() {
                let _ = done.send(work());
            }
        });
        let sent = self.jobs.lock().unwrap_or_else(PoisonError::into_inner).send(job).is_ok();
        if sent && let Ok(value) = result.recv() {
            return value;
        }
        // No worker ran it (none started, or one died with it): do it here.
        let work = work.lock().unwrap_or_else(PoisonError::into_inner).take();
        match work {
            Some(work) => work(),
            None => panic!("an argon2 computation panicked"),
        }
    }
}

/// Hashes and verifies passwords with fixed parameters.
#[derive(Clone)]
pub struct PasswordHasher {
    argon2: Argon2<'static>,
    params: Params,
    workers: Arc<Workers>,
    /// A hash of a random password, verified against when the account does not exist,
    /// so an unknown user costs the same time as a wrong password.
    dummy_hash: String,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher").finish_non_exhaustive()
    }
}

impl PasswordHasher {
    /// Checks that argon2 accepts the parameters (memory at least 8 KiB per lane, at
    /// least one iteration and one lane).
    pub fn check_params(params: PasswordParams) -> Result<(), PasswordError> {
        Params::new(params.memory_kib, params.iterations, params.parallelism, None)
            .map(|_| ())
            .map_err(|e| PasswordError::Params(e.to_string()))
    }

    pub fn new(params: PasswordParams) -> Result<PasswordHasher, PasswordError> {
        let params = Params::new(params.memory_kib, params.iterations, params.parallelism, None)
            .map_err(|e| PasswordError::Params(e.to_string()))?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        // A PHC string of our parameters with a random salt and a random output: verifying
        // against it costs one hash like any other and never matches. Made without
        // hashing, so a node starting up does not page in the memory cost.
        let mut output = [0u8; Params::DEFAULT_OUTPUT_LEN];
        rand::RngCore::fill_bytes(&mut OsRng, &mut output);
        let dummy_hash = phc(&params, &SaltString::generate(&mut OsRng), &output).map_err(PasswordError::Params)?;
        Ok(PasswordHasher { argon2, params, workers: Arc::new(Workers::start(cores)), dummy_hash })
    }

    /// The PHC string of `password` with a fresh random salt. The whole password is
    /// hashed, however long: nothing is truncated.
    pub fn hash(&self, password: &str) -> Result<String, PasswordError> {
        let salt = SaltString::generate(&mut OsRng);
        let (argon2, params, password) = (self.argon2.clone(), self.params.clone(), password.to_owned());
        self.workers.run(move || {
            let mut salt_bytes = [0u8; 64];
            let salt_bytes = salt.decode_b64(&mut salt_bytes).map_err(|e| PasswordError::Hash(e.to_string()))?;
            let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
            compute(&argon2, &params, password.as_bytes(), salt_bytes, &mut out).map_err(PasswordError::Hash)?;
            phc(&params, &salt, &out).map_err(PasswordError::Hash)
        })
    }

    /// Whether `password` matches `stored`. With no stored hash (unknown user, or an
    /// account without a password) a dummy hash is verified so the answer takes the
    /// same time, and the result is `false`.
    pub fn verify(&self, password: &str, stored: Option<&str>) -> bool {
        let target = stored.unwrap_or(&self.dummy_hash);
        let matched = match PasswordHash::new(target) {
            Ok(_) => {
                let (password, target) = (password.to_owned(), target.to_owned());
                self.workers.run(move || matches(&password, &target).unwrap_or(false))
            }
            Err(_) => {
                // A corrupt stored hash still costs one hash, then fails.
                let _ = self.hash(password);
                false
            }
        };
        matched && stored.is_some()
    }
}

/// The PHC string of an argon2id output (version 0x13, `params`, `salt`).
fn phc(params: &Params, salt: &SaltString, output: &[u8]) -> Result<String, String> {
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(|e| e.to_string())?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(output).map_err(|e| e.to_string())?),
    };
    Ok(hash.to_string())
}

/// Recomputes `password` with the algorithm, version, parameters and salt of the PHC
/// string `stored` and compares in constant time (`Output`'s equality); `None` when
/// `stored` cannot be used.
fn matches(password: &str, stored: &str) -> Option<bool> {
    let parsed = PasswordHash::new(stored).ok()?;
    let algorithm = Algorithm::try_from(parsed.algorithm).ok()?;
    let version = parsed.version.map_or(Some(Version::V0x13), |v| Version::try_from(v).ok())?;
    let expected = parsed.hash?;
    let params = Params::try_from(&parsed).ok()?;
    let params = Params::new(params.m_cost(), params.t_cost(), params.p_cost(), Some(expected.len())).ok()?;
    let argon2 = Argon2::new(algorithm, version, params.clone());
    let mut salt_bytes = [0u8; 64];
    let salt = parsed.salt?.decode_b64(&mut salt_bytes).ok()?;
    let mut out = vec![0u8; expected.len()];
    compute(&argon2, &params, password.as_bytes(), salt, &mut out).ok()?;
    Some(Output::new(&out).ok()? == expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hasher() -> PasswordHasher {
        PasswordHasher::new(PasswordParams::TESTING).unwrap()
    }

    #[test]
    fn at_most_one_computation_per_worker_runs_at_once() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let workers = Arc::new(Workers::start(2));
        let (now, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let (workers, now, peak) = (workers.clone(), now.clone(), peak.clone());
                std::thread::spawn(move || {
                    workers.run(move || {
                        let running = now.fetch_add(1, Ordering::SeqCst) + 1;
                        peak.fetch_max(running, Ordering::SeqCst);
                        std::thread::sleep(std::time::Duration::from_millis(20));
                        now.fetch_sub(1, Ordering::SeqCst);
                        i
                    })
                })
            })
            .collect();
        let results: Vec<usize> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        assert_eq!(results, (0..8).collect::<Vec<_>>(), "each caller gets its own result");
        assert_eq!(peak.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn hash_is_argon2id_and_verifies() {
        let h = hasher();
        let stored = h.hash("correct horse battery staple").unwrap();
        assert!(stored.starts_with("$argon2id$v=19$"));
        assert!(h.verify("correct horse battery staple", Some(&stored)));
        assert!(!h.verify("correct horse battery stapl", Some(&stored)));
    }

    #[test]
    fn long_passwords_are_not_truncated() {
        let h = hasher();
        let long = "x".repeat(200);
        let stored = h.hash(&long).unwrap();
        assert!(h.verify(&long, Some(&stored)));
        assert!(!h.verify(&"x".repeat(199), Some(&stored)));
        assert!(!h.verify(&format!("{long}y"), Some(&stored)));
    }

    #[test]
    fn unknown_user_and_corrupt_hash_never_verify() {
        let h = hasher();
        assert!(!h.verify("anything", None));
        assert!(!h.verify("anything", Some("not a phc string")));
    }

    #[test]
    fn same_password_gets_distinct_salts() {
        let h = hasher();
        assert_ne!(h.hash("pw12345678").unwrap(), h.hash("pw12345678").unwrap());
    }

    #[test]
    fn owasp_parameters_are_the_default() {
        assert_eq!(PasswordParams::default(), PasswordParams { memory_kib: 19456, iterations: 2, parallelism: 1 });
    }

    #[test]
    fn hashes_are_standard_phc_strings_both_ways() {
        use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
        let ours = hasher();
        // A hash the argon2 crate made (as stored before this hasher kept its memory), with
        // other parameters than ours: verified with the parameters it carries.
        let params = Params::new(128, 2, 1, None).unwrap();
        let theirs = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password(b"a password of old", &SaltString::generate(&mut OsRng))
            .unwrap()
            .to_string();
        assert!(ours.verify("a password of old", Some(&theirs)));
        assert!(!ours.verify("a password of old!", Some(&theirs)));
        // And the crate verifies ours.
        let hashed = ours.hash("a new password").unwrap();
        assert!(hashed.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{hashed}");
        let parsed = PasswordHash::new(&hashed).unwrap();
        assert!(Argon2::default().verify_password(b"a new password", &parsed).is_ok());
        assert!(Argon2::default().verify_password(b"another", &parsed).is_err());
    }
}
