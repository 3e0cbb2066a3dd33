//! What one script run may consume.

use std::time::Duration;

/// Resource limits for every run of an engine's scripts. The engine enforces them itself; a
/// script cannot raise them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock budget of one run, from the call until the result is serialized (including
    /// awaited promises and fetches). Enforced through the QuickJS interrupt handler, so even a
    /// `while (true) {}` ends with [`ScriptFailure::Timeout`](crate::ScriptFailure::Timeout).
    /// Default 500 ms.
    pub wall_time: Duration,
    /// Heap a run may allocate on top of its fresh context (the built-ins), compiling the script
    /// included, through `Runtime::set_memory_limit`. Past it the run ends with
    /// [`ScriptFailure::OutOfMemory`](crate::ScriptFailure::OutOfMemory). Default 32 MiB.
    pub memory_bytes: usize,
    /// Native stack the interpreter may use; deeper recursion throws a `RangeError`. Must stay
    /// well below the calling thread's stack (Rust threads get 2 MiB). Default 256 KiB.
    pub max_stack_bytes: usize,
    /// Timeout of one `fetch`, never beyond the run's wall-time deadline. Default 2 s.
    pub fetch_timeout: Duration,
    /// Largest `fetch` response body read, in bytes; a larger body rejects. Default 1 MiB.
    pub max_fetch_body_bytes: usize,
    /// Largest result, serialized as JSON, in bytes; a larger one is
    /// [`ScriptFailure::InvalidResult`](crate::ScriptFailure::InvalidResult). Default 16 KiB.
    pub max_result_bytes: usize,
    /// Review finding 13: heap the engine's runtimes may keep between runs, all threads
    /// together. Runs leave nothing in them (each has a fresh context), so this only bounds
    /// the runtimes themselves (about 100 KiB each, one per thread that ran a script): past
    /// it, a thread frees its runtime after a run and builds one again for its next (about
    /// 0.1 ms). Default 16 MiB.
    pub cache_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            wall_time: Duration::from_millis(500),
            memory_bytes: 32 << 20,
            max_stack_bytes: 256 << 10,
            fetch_timeout: Duration::from_secs(2),
            max_fetch_body_bytes: 1 << 20,
            max_result_bytes: 16 << 10,
            cache_bytes: 16 << 20,
        }
    }
}
