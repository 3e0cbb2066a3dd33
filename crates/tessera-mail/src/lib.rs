//! Tessera's outgoing mail. A message is rendered from its templates (text and HTML,
//! under `templates/mail/`), then queued in the database's outbox in the same
//! transaction as the change that caused it ([`enqueue`]); the delivery task
//! ([`delivery`]) sends it from a thread of its own, with retries and backoff, over SMTP
//! (lettre) or, when no SMTP server is configured, into a file under the data folder.
//! No request thread waits on the network, and a queued message survives a restart and
//! can be sent by any node.
//!
//! Not for: deciding who gets mail or why (the pages and the management API do), nor
//! SQL (the outbox's queries are `tessera_store::outbox`).
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod accounts;
pub mod delivery;
mod message;
mod queue;
mod settings;

pub use accounts::{
    FactorAddedMessage, FactorRemovedMessage, PasswordChangedMessage, RecoveryCodeUsedMessage, RecoveryMessage,
    VerifyEmailMessage, duration_words,
};
pub use delivery::{Delivery, Outcome, RetryPolicy, Wake};
pub use message::{Message, Rendered, TestMessage};
pub use queue::{KIND, MailError, enqueue};
pub use settings::{MailSettings, MailSettingsError, Security, SmtpSettings, Transport};
