//! Audit events of API changes: written by the same transaction as the change, with the
//! key as actor (`key:<key_id>`), the TCP peer as client IP, and a summary that never
//! holds a secret (secrets are only ever reported as `"secret_issued": true`).

use serde_json::Value;
use tessera_store::audit::{self, NewAuditEvent};
use tessera_store::{AnyConnection, StoreResult};

use super::auth::Caller;

/// Records `action` on `target` by `caller`.
pub fn record(
    conn: &mut AnyConnection,
    caller: &Caller,
    action: &str,
    target: &str,
    summary: Value,
    now: i64,
) -> StoreResult<()> {
    let actor = caller.actor();
    audit::record(
        conn,
        &NewAuditEvent { actor: &actor, action, target, summary, client_ip: caller.client_ip.as_deref() },
        now,
    )?;
    Ok(())
}
