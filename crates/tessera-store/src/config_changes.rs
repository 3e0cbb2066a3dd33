//! The mark a write transaction carries when it changes configuration, so that the
//! commit invalidates this process's in-memory copy (see [`crate::config`]). The store
//! functions that change configuration set it; [`crate::Store`]'s write methods clear it
//! before and read it after. It depends on nothing else in the store, so those functions
//! and the configuration that loads through them do not depend on each other.

use std::cell::Cell;

thread_local! {
    /// Set by [`mark`] inside a write transaction on this thread.
    static CHANGED: Cell<bool> = const { Cell::new(false) };
}

/// Marks the running write transaction as one that changes configuration, so that
/// this process's snapshot is invalidated as soon as it commits. (The database's
/// version moves by itself, through triggers.)
pub(crate) fn mark() {
    CHANGED.with(|c| c.set(true));
}

/// Clears the mark before a transaction and reads it after.
pub(crate) fn take() -> bool {
    CHANGED.with(|c| c.replace(false))
}
