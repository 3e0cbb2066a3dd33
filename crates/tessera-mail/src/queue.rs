//! Queuing a message: the rendered message, encrypted with the master key (it may carry
//! a single-use link), becomes an outbox job of kind [`KIND`], written in the caller's
//! transaction so that it is queued exactly when the change that caused it commits.

use tessera_store::{AnyConnection, StoreError, outbox};
use tessera_tokens::MasterKey;

use crate::message::Rendered;

/// The outbox kind of mail.
pub const KIND: &str = "mail";

/// The master key's context for a queued message: a payload encrypted for anything
/// else does not decrypt as mail.
pub(crate) const PAYLOAD_CONTEXT: &str = "outbox:mail";

/// What went wrong queuing or delivering a message.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("{0:?} is not one mail address")]
    Address(String),
    #[error("a mail template failed: {0}")]
    Template(String),
    #[error("the SMTP transport: {0}")]
    Transport(String),
    #[error("the queued message cannot be read: {0}")]
    Payload(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Queues `message` in the caller's transaction; returns the job's id. Wake the
/// delivery task ([`crate::Wake::notify`]) once the transaction committed.
pub fn enqueue(
    conn: &mut AnyConnection,
    master_key: &MasterKey,
    message: &Rendered,
    now: i64,
) -> Result<String, MailError> {
    let json = serde_json::to_vec(message).map_err(|e| MailError::Payload(e.to_string()))?;
    let payload = master_key.encrypt(&json, PAYLOAD_CONTEXT).map_err(|e| MailError::Payload(e.to_string()))?;
    Ok(outbox::enqueue(conn, KIND, &payload, now)?)
}

/// Reads a queued message back.
pub(crate) fn open(master_key: &MasterKey, payload: &str) -> Result<Rendered, MailError> {
    let json = master_key.decrypt(payload, PAYLOAD_CONTEXT).map_err(|e| MailError::Payload(e.to_string()))?;
    serde_json::from_slice(&json).map_err(|e| MailError::Payload(e.to_string()))
}
