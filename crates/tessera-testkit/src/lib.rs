//! Tessera's test kit, for the test suites of every crate (a dev-dependency only; the
//! server never links it): fresh databases on SQLite and Postgres ([`TestDatabase`]), the
//! one [`both_backends!`] macro that runs a test on each, and the fixture builders the
//! suites share (an administrator, a management key, application settings from the
//! domain's parser in [`apps`]), a real SMTP server on loopback for the mail tests
//! ([`smtp`]), an HTTP receiver on loopback for outbound deliveries ([`http`]) and a
//! round-robin TCP proxy for several nodes ([`proxy`]); PostgreSQL clusters of a test's
//! own for failover drills ([`pg_cluster`]) and the history checker of the fault tests
//! ([`history`]). The server's `TestApp` lives in
//! the `tessera` crate's tests: this crate does not depend on the binary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod apps;
mod database;
mod fixtures;
pub mod history;
pub mod http;
pub mod pg_cluster;
pub mod proxy;
pub mod smtp;

pub use database::{TestDatabase, postgres_admin_url};
pub use fixtures::{NOW, admin, admin_key, management_key};

/// Runs each test on both backends: `sqlite::name` always, `postgres::name` when the test
/// Postgres answers (under `CI=true` an unreachable Postgres fails the test). The typed
/// parameter says what the body gets, fresh for each test:
///
/// ```ignore
/// both_backends! {
///     /// A doc comment stays with its test.
///     fn a(db: TestDatabase) { /* a migrated, seeded database (TestDatabase::sqlite_empty for one not yet touched) */ }
///     fn b(store: Store) { /* a migrated, seeded store */ }
/// }
/// both_backends! {
///     async fn c(store: Store) { /* the same, in an `#[actix_web::test]` */ }
/// }
/// ```
///
/// One invocation holds either plain or `async` tests. Each test is expanded on its own
/// (no recursion over the list), so a long list needs no higher recursion limit.
#[macro_export]
macro_rules! both_backends {
    // One test on one backend.
    (@test sqlite [$($test:tt)*] [$($async:tt)?] [[$(#[$meta:meta])*] $name:ident $arg:ident TestDatabase $body:block]) => {
        $(#[$meta])* $($test)* $($async)? fn $name() {
            let $arg = $crate::TestDatabase::sqlite();
            $body
        }
    };
    (@test postgres [$($test:tt)*] [$($async:tt)?] [[$(#[$meta:meta])*] $name:ident $arg:ident TestDatabase $body:block]) => {
        $(#[$meta])* $($test)* $($async)? fn $name() {
            let Some($arg) = $crate::TestDatabase::postgres() else { return };
            $body
        }
    };
    (@test sqlite [$($test:tt)*] [$($async:tt)?] [[$(#[$meta:meta])*] $name:ident $arg:ident Store $body:block]) => {
        $(#[$meta])* $($test)* $($async)? fn $name() {
            let db = $crate::TestDatabase::sqlite();
            let $arg = db.store();
            $body
        }
    };
    (@test postgres [$($test:tt)*] [$($async:tt)?] [[$(#[$meta:meta])*] $name:ident $arg:ident Store $body:block]) => {
        $(#[$meta])* $($test)* $($async)? fn $name() {
            let Some(db) = $crate::TestDatabase::postgres() else { return };
            let $arg = db.store();
            $body
        }
    };
    // The two modules.
    (@modules $test:tt $async:tt $($item:tt)*) => {
        mod sqlite {
            #[allow(unused_imports)]
            use super::*;
            $( $crate::both_backends!(@test sqlite $test $async $item); )*
        }
        mod postgres {
            #[allow(unused_imports)]
            use super::*;
            $( $crate::both_backends!(@test postgres $test $async $item); )*
        }
    };
    ($( $(#[$meta:meta])* fn $name:ident($arg:ident: $type:ident) $body:block )*) => {
        $crate::both_backends!(@modules [#[test]] [] $( [[$(#[$meta])*] $name $arg $type $body] )*);
    };
    ($( $(#[$meta:meta])* async fn $name:ident($arg:ident: $type:ident) $body:block )*) => {
        $crate::both_backends!(@modules [#[actix_web::test]] [async] $( [[$(#[$meta])*] $name $arg $type $body] )*);
    };
}
