//! Audit events of administrative changes: written by the same transaction as the change,
//! with the actor (`key:<key_id>` for the API, `user:<user_id>` for the console), the TCP
//! peer as client IP, and a summary that never holds a secret (secrets are only ever
//! reported as `"secret_issued": true`).

use serde_json::Value;
use tessera_store::audit::{self, NewAuditEvent};
use tessera_store::{AnyConnection, StoreResult};

/// Who makes a change: a management key or a console administrator.
pub trait Actor: Send + Sync {
    /// The audit log's actor.
    fn actor(&self) -> String;
    /// The TCP peer's address.
    fn client_ip(&self) -> Option<&str>;
    /// Whom a management key created by this actor stands for: a user id, or `cli`.
    fn principal(&self) -> String;
    /// The management key this actor called with, and when it expires: a key it creates
    /// is derived from it.
    fn calling_key(&self) -> Option<(&str, Option<i64>)> {
        None
    }
}

/// Records `action` on `target` by `who`.
pub fn record(
    conn: &mut AnyConnection,
    who: &dyn Actor,
    action: &str,
    target: &str,
    summary: Value,
    now: i64,
) -> StoreResult<()> {
    let actor = who.actor();
    audit::record(conn, &NewAuditEvent { actor: &actor, action, target, summary, client_ip: who.client_ip() }, now)?;
    Ok(())
}

/// Wakes this node's outbox runner. A change that ends sessions (a user disabled or
/// deleted, a password set, a session ended) queues back-channel logout tokens in its
/// transaction; waking the runner once it commits sends them at once rather than at the
/// next poll. The binary mounts it; without one, the poll delivers.
#[derive(Clone)]
pub struct OutboxWake(pub std::sync::Arc<dyn Fn() + Send + Sync>);

/// Wakes the runner, if one is mounted.
pub fn wake_outbox(wake: Option<&actix_web::web::Data<OutboxWake>>) {
    if let Some(wake) = wake {
        (wake.0)();
    }
}
