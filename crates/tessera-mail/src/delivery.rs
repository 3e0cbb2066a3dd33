//! Mail's handler of the outbox runner (`tessera_outbound::runner`, shared with the other
//! outbound deliveries): one attempt sends one queued message over SMTP or writes it to a
//! file. The runner claims messages atomically (two nodes never send the same message at
//! once), retries a failure with exponential backoff ([`RetryPolicy`]), and gives up a
//! message after a permanent refusal (an SMTP 5xx, a message that cannot be read) or too
//! many attempts, logged and audited (`mail.gave_up`). It wakes when this node queues a
//! message ([`Wake::notify`]) and polls otherwise.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{SmtpTransport, Transport as _};
use tessera_store::{Store, outbox};
use tessera_tokens::MasterKey;

use crate::message::Rendered;
use crate::queue::{KIND, MailError, open};
use crate::settings::{MailSettings, Security, SmtpSettings, Transport};

use tessera_outbound::runner::{self, Failure, Handler, Runner};
pub use tessera_outbound::runner::{Outcome, RetryPolicy, Wake};

/// Sends queued messages.
pub struct Delivery {
    store: Store,
    master_key: Arc<MasterKey>,
    settings: MailSettings,
    smtp: Option<SmtpTransport>,
    /// This worker's name in the claims it makes.
    worker: String,
    policy: RetryPolicy,
}

impl Delivery {
    pub fn new(store: Store, master_key: Arc<MasterKey>, settings: MailSettings) -> Result<Delivery, MailError> {
        let smtp = match &settings.transport {
            Transport::Smtp(smtp) => Some(transport(smtp)?),
            Transport::Files(_) => None,
        };
        let worker = format!("mail-{}", tessera_store::new_id());
        Ok(Delivery { store, master_key, settings, smtp, worker, policy: RetryPolicy::default() })
    }

    pub fn with_policy(mut self, policy: RetryPolicy) -> Delivery {
        self.policy = policy;
        self
    }

    /// Seconds a claim holds: long enough for one message to be sent (connect, then
    /// each command, within the timeout), then another worker may take it.
    fn lease(&self) -> i64 {
        match &self.settings.transport {
            Transport::Smtp(smtp) => i64::try_from(smtp.timeout.as_secs()).unwrap_or(30).saturating_mul(4),
            Transport::Files(_) => 60,
        }
    }

    /// Sends every message due at `now`, one claim at a time (up to a limit per run).
    pub fn run_due(&self, now: i64) -> Result<Outcome, MailError> {
        Ok(runner::run_kind(&self.store, &self.worker, self, now)?)
    }

    /// One attempt at one job.
    fn attempt(&self, job: &outbox::Job) -> Result<(), Failure> {
        let rendered = open(&self.master_key, &job.payload).map_err(|e| Failure::permanent(e.to_string()))?;
        let message = self.build(&job.id, &rendered)?;
        match (&self.smtp, &self.settings.transport) {
            (Some(smtp), _) => smtp.send(&message).map(drop).map_err(|e| Failure {
                permanent: e.is_permanent(),
                message: format!("{e}{}", std::error::Error::source(&e).map(|s| format!(": {s}")).unwrap_or_default()),
            }),
            (None, Transport::Files(folder)) => {
                let file = write_file(folder, &job.id, job.created_at, &message.formatted()).map_err(|e| Failure {
                    message: format!("writing to {}: {e}", folder.display()),
                    permanent: false,
                })?;
                // The body stays out of the log: it may carry a single-use link.
                tracing::info!(
                    to = %rendered.to,
                    subject = %rendered.subject,
                    file = %file.display(),
                    "mail written to a file (no smtp_url configured)"
                );
                Ok(())
            }
            (None, Transport::Smtp(_)) => Err(Failure::permanent("no SMTP transport")),
        }
    }

    /// The message as sent: `From` the configured sender, one recipient, the text and
    /// HTML bodies as alternatives, and a `Message-ID` made of the job's id, so a copy
    /// sent twice (a worker died between sending and recording it) is one message to
    /// the reader's mail program.
    fn build(&self, job_id: &str, rendered: &Rendered) -> Result<lettre::Message, Failure> {
        let to: Mailbox =
            rendered.to.parse().map_err(|_| Failure::permanent(format!("{:?} is not an address", rendered.to)))?;
        let domain = self.settings.from.email.domain();
        lettre::Message::builder()
            .from(self.settings.from.clone())
            .to(to)
            .subject(rendered.subject.clone())
            .message_id(Some(format!("<{job_id}@{domain}>")))
            .multipart(MultiPart::alternative_plain_html(rendered.text.clone(), rendered.html.clone()))
            .map_err(|e| Failure::permanent(format!("building the message: {e}")))
    }

    /// Sends `rendered` at once, bypassing the queue (`tessera mail test`): the error,
    /// if any, is the SMTP server's.
    pub fn send_now(&self, rendered: &Rendered) -> Result<(), String> {
        let job = outbox::Job {
            id: tessera_store::new_id(),
            kind: KIND.into(),
            payload: String::new(),
            attempts: 1,
            last_error: None,
            created_at: now(),
        };
        let message = self.build(&job.id, rendered).map_err(|f| f.message)?;
        match (&self.smtp, &self.settings.transport) {
            (Some(smtp), _) => smtp.send(&message).map(drop).map_err(|e| {
                format!("{e}{}", std::error::Error::source(&e).map(|s| format!(": {s}")).unwrap_or_default())
            }),
            (None, Transport::Files(folder)) => write_file(folder, &job.id, job.created_at, &message.formatted())
                .map(|file| tracing::info!(file = %file.display(), "mail written to a file (no smtp_url configured)"))
                .map_err(|e| format!("writing to {}: {e}", folder.display())),
            (None, Transport::Smtp(_)) => Err("no SMTP transport".into()),
        }
    }

    /// Runs the task on a thread of its own until `stop` is set: a run at start, then
    /// one whenever `wake` is notified or `poll` passed. (A node runs mail with the other
    /// outbound deliveries in one [`Runner`]; this runs mail alone.)
    pub fn spawn(self, wake: Wake, stop: Arc<AtomicBool>, poll: Duration) -> std::thread::JoinHandle<()> {
        Runner::new(self.store.clone()).with(self).spawn(wake, stop, poll)
    }
}

impl Handler for Delivery {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn lease(&self) -> i64 {
        Delivery::lease(self)
    }

    fn policy(&self) -> RetryPolicy {
        self.policy
    }

    fn attempt(&self, job: &outbox::Job) -> Result<(), Failure> {
        Delivery::attempt(self, job)
    }
}

/// The SMTP client for `smtp`: the server's certificate checked against the web PKI
/// roots whenever TLS is used.
fn transport(smtp: &SmtpSettings) -> Result<SmtpTransport, MailError> {
    let tls = |host: &str| {
        TlsParameters::new(host.to_owned()).map_err(|e| MailError::Transport(format!("TLS parameters for {host}: {e}")))
    };
    let builder = SmtpTransport::builder_dangerous(&smtp.host).port(smtp.port).timeout(Some(smtp.timeout));
    let builder = match smtp.security {
        Security::ImplicitTls => builder.tls(Tls::Wrapper(tls(&smtp.host)?)),
        Security::StartTls => builder.tls(Tls::Required(tls(&smtp.host)?)),
        Security::None => builder.tls(Tls::None),
    };
    let builder = match &smtp.credentials {
        Some((user, password)) => builder.credentials(Credentials::new(user.clone(), password.clone())),
        None => builder,
    };
    Ok(builder.build())
}

/// Writes one message to `<folder>/<queued at>-<id>.eml`, readable by the owner only
/// (it may carry a single-use link).
fn write_file(folder: &Path, id: &str, queued_at: i64, bytes: &[u8]) -> std::io::Result<std::path::PathBuf> {
    std::fs::create_dir_all(folder)?;
    let path = folder.join(format!("{queued_at}-{id}.eml"));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&path)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    Ok(path)
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
