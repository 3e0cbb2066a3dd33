//! The replay guard of DPoP proofs (RFC 9449 §11.1): each proof's `jti`, scoped to its
//! key, used once while the proof could still be accepted. Stored only as a SHA-256.

use diesel::RunQueryDsl;

use crate::prepared::{Bind, Fixed};
use crate::{AnyConnection, StoreResult};

/// Names [`RECORD`] in diesel's statement cache.
struct Record;

/// Both backends: insert-if-absent, one atomic statement; a conflict is a replay.
const RECORD: &str = "INSERT INTO dpop_proofs (jti_hash, expires_at) VALUES ($1, $2) ON CONFLICT (jti_hash) DO NOTHING";

/// Records the proof `jti_hash` until `expires_at`; `false` if it was already recorded
/// (a replay). Of concurrent calls with one hash exactly one answers `true`.
pub fn record(conn: &mut AnyConnection, jti_hash: &str, expires_at: i64) -> StoreResult<bool> {
    let binds = [Bind::Text(jti_hash), Bind::Int(expires_at)];
    Ok(Fixed::<Record>::new(RECORD, &binds).execute(conn)? == 1)
}
