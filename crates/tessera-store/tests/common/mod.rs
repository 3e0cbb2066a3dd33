//! Runs each store test on both backends: `sqlite::name` always, `postgres::name` when
//! the test Postgres answers (under `CI=true` an unreachable Postgres fails the test).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub use tessera_store::testing::TestDatabase;

/// A fixed "now" for tests (unix seconds).
pub const NOW: i64 = 1_800_000_000;

/// `both_backends! { fn name(store) { body } ... }` defines `sqlite::name` and
/// `postgres::name`, each with a fresh migrated `store`.
#[macro_export]
macro_rules! both_backends {
    ($(fn $name:ident($store:ident) $body:block)*) => {
        mod sqlite {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[test]
                fn $name() {
                    let db = $crate::common::TestDatabase::sqlite();
                    let $store = db.store();
                    $body
                }
            )*
        }
        mod postgres {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[test]
                fn $name() {
                    let Some(db) = $crate::common::TestDatabase::postgres() else { return };
                    let $store = db.store();
                    $body
                }
            )*
        }
    };
}
