//! Rule 8 and review finding 13: runtimes are kept per thread and reused, and the heap they keep
//! between runs is bounded for the whole engine.
//!
//! QuickJS runtimes are not `Send`, so each thread keeps the runtime it built for an engine
//! ([`Sandbox`]). Every run gets a fresh context in it and drops it afterwards, so what a runtime
//! holds between runs is normally its baseline of about 100 KiB (the runtime, and the first
//! context it built, which rquickjs keeps: see `globals::native`). Two checks keep it so, both
//! made when a run hands its sandbox back, never during a run:
//! - a runtime whose heap, once the run's context is collected, is more than [`MAX_GROWTH`]
//!   above its baseline is freed (what remains is the runtime's own tables, such as the atoms
//!   of a script that made a million property names, which QuickJS never shrinks);
//! - the engine's [`Budget`] (`Limits::cache_bytes`) caps the total kept by all its threads: a
//!   runtime that would pass it is freed.
//!
//! Both cost one count of QuickJS's heap on a runtime holding no run's context (a few
//! microseconds) and one atomic add, and a freed runtime costs the next run on that thread
//! about 0.1 ms to build again: cheap on the token path, unlike a budget checked while
//! scripts run or a runtime built for every run.

use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

use super::sandbox::Sandbox;

/// Runtimes kept per thread, one per engine. A process has one engine; tests build many, and
/// the runtimes of dropped engines are evicted first.
pub(crate) const ENGINES_PER_THREAD: usize = 4;

/// How far above its baseline a runtime's heap may be after a run for it to be kept. Growth
/// that survives the run's context is runtime-level tables; 256 KiB is far more than ordinary
/// scripts leave and far less than a run may use (32 MiB by default).
pub(crate) const MAX_GROWTH: usize = 256 << 10;

/// The heap an engine's cached runtimes may hold together, across threads.
pub(crate) struct Budget {
    limit: usize,
    used: AtomicUsize,
}

/// Bytes of a [`Budget`] held by one cached runtime, given back when it leaves the cache
/// (taken for a run, evicted, or freed with its thread).
struct Reservation {
    budget: Arc<Budget>,
    bytes: usize,
}

/// Why a sandbox handed back after a run was freed instead of kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NotKept {
    /// Its heap was more than [`MAX_GROWTH`] above its baseline.
    Grown,
    /// Keeping it would have taken the engine's cached runtimes past their budget.
    OverBudget,
}

struct Entry {
    engine: u64,
    /// Dead once the engine is dropped; its sandbox is then evicted first.
    engine_alive: Weak<()>,
    /// Declared before the reservation, so the runtime is freed before its bytes are released.
    sandbox: Sandbox,
    _reserved: Reservation,
}

thread_local! {
    /// Most recently used last.
    static SANDBOXES: RefCell<Vec<Entry>> = const { RefCell::new(Vec::new()) };
}

impl Budget {
    pub(crate) fn new(limit: usize) -> Arc<Budget> {
        Arc::new(Budget { limit, used: AtomicUsize::new(0) })
    }

    /// Bytes held now by the cached runtimes.
    pub(crate) fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    fn reserve(self: &Arc<Self>, bytes: usize) -> Option<Reservation> {
        let mut used = self.used.load(Ordering::Relaxed);
        loop {
            let next = used.checked_add(bytes).filter(|next| *next <= self.limit)?;
            match self.used.compare_exchange_weak(used, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return Some(Reservation { budget: Arc::clone(self), bytes }),
                Err(now) => used = now,
            }
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget.used.fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

/// Takes this thread's sandbox for `engine` out of the cache (the caller hands it back), so
/// that no borrow of the cache is held while a script runs.
pub(crate) fn take(engine: u64) -> Option<Sandbox> {
    SANDBOXES
        .try_with(|entries| {
            let mut entries = entries.borrow_mut();
            let at = entries.iter().position(|entry| entry.engine == engine)?;
            let Entry { sandbox, .. } = entries.remove(at);
            Some(sandbox)
        })
        .ok()
        .flatten()
}

/// Hands a sandbox back after a run: kept in this thread's cache if its heap is back near its
/// baseline and the engine's budget has room for it, freed otherwise. Evicts the sandboxes of
/// dropped engines, then the least recently used ones.
pub(crate) fn put(engine: u64, engine_alive: Weak<()>, budget: &Arc<Budget>, sandbox: Sandbox) -> Result<(), NotKept> {
    let heap = sandbox.heap();
    if heap > sandbox.baseline().saturating_add(MAX_GROWTH) {
        return Err(NotKept::Grown);
    }
    let reserved = budget.reserve(heap).ok_or(NotKept::OverBudget)?;
    let evicted = SANDBOXES.try_with(|entries| {
        let mut entries = entries.borrow_mut();
        let (live, dead): (Vec<Entry>, Vec<Entry>) =
            entries.drain(..).partition(|entry| entry.engine_alive.strong_count() > 0);
        *entries = live;
        let mut evicted = dead;
        entries.push(Entry { engine, engine_alive, sandbox, _reserved: reserved });
        if entries.len() > ENGINES_PER_THREAD {
            let excess = entries.len() - ENGINES_PER_THREAD;
            evicted.extend(entries.drain(..excess));
        }
        evicted
    });
    // Runtimes are freed here, outside the borrow.
    drop(evicted);
    Ok(())
}
