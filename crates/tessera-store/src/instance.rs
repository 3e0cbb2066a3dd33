//! The one row describing this installation.

use diesel::prelude::*;

use crate::schema::instance;
use crate::{AnyConnection, StoreResult};

/// The installation's master-key check value, if the installation was initialised.
pub fn master_key_check(conn: &mut AnyConnection) -> StoreResult<Option<String>> {
    Ok(instance::table.select(instance::master_key_check).filter(instance::id.eq(1)).first(conn).optional()?)
}

/// Records the master-key check value at first start.
pub fn initialise(conn: &mut AnyConnection, master_key_check: &str, now: i64) -> StoreResult<()> {
    diesel::insert_into(instance::table)
        .values((instance::id.eq(1), instance::master_key_check.eq(master_key_check), instance::created_at.eq(now)))
        .execute(conn)?;
    Ok(())
}
