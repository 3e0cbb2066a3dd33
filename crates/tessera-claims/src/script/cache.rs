//! Rule 8: prepared sandboxes are kept per thread and reused.
//!
//! QuickJS runtimes are not `Send`, and loading cached bytecode is `unsafe` in rquickjs (this
//! workspace forbids `unsafe`), so the reusable unit is a whole [`Sandbox`]: one runtime with
//! the script compiled, owned by the thread that built it. Each thread keeps the
//! [`ENTRIES_PER_THREAD`] most recently used, keyed by engine and SHA-256 of the source; a new
//! script version hashes differently, so an edit never runs stale code.

use std::cell::RefCell;
use std::sync::Weak;

use super::sandbox::Sandbox;

/// Sandboxes kept per thread. Deployments have a handful of scripts (Logto-style: one for user
/// tokens, one for machine tokens), so a small number covers them; each costs about 120 KiB of heap.
pub(crate) const ENTRIES_PER_THREAD: usize = 16;

/// Which engine and which script version a sandbox belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Key {
    pub engine: u64,
    pub script: [u8; 32],
}

struct Entry {
    key: Key,
    /// Dead once the engine is dropped; its sandboxes are then evicted first.
    engine_alive: Weak<()>,
    sandbox: Sandbox,
}

thread_local! {
    /// Most recently used last.
    static SANDBOXES: RefCell<Vec<Entry>> = const { RefCell::new(Vec::new()) };
}

/// Takes this thread's sandbox for `key` out of the cache (the caller puts it back), so that
/// no borrow of the cache is held while a script runs.
pub(crate) fn take(key: &Key) -> Option<Sandbox> {
    SANDBOXES
        .try_with(|entries| {
            let mut entries = entries.borrow_mut();
            let at = entries.iter().position(|entry| entry.key == *key)?;
            Some(entries.remove(at).sandbox)
        })
        .ok()
        .flatten()
}

/// Returns a sandbox to this thread's cache, evicting the sandboxes of dropped engines and then
/// the least recently used ones.
pub(crate) fn put(key: Key, engine_alive: Weak<()>, sandbox: Sandbox) {
    let evicted = SANDBOXES.try_with(|entries| {
        let mut entries = entries.borrow_mut();
        let mut evicted: Vec<Entry> = Vec::new();
        let (live, dead): (Vec<Entry>, Vec<Entry>) =
            entries.drain(..).partition(|entry| entry.engine_alive.strong_count() > 0);
        *entries = live;
        evicted.extend(dead);
        entries.push(Entry { key, engine_alive, sandbox });
        if entries.len() > ENTRIES_PER_THREAD {
            let excess = entries.len() - ENTRIES_PER_THREAD;
            evicted.extend(entries.drain(..excess));
        }
        evicted
    });
    // Runtimes are freed here, outside the borrow.
    drop(evicted);
}
