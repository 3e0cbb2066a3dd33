//! The delivery task: a thread of its own that claims queued messages from the outbox
//! (`tessera_store::outbox`, atomically, so two nodes never send the same message at
//! once), sends each over SMTP or writes it to a file, and deletes it. A failure is
//! retried with exponential backoff ([`RetryPolicy`]); a permanent refusal (an SMTP 5xx,
//! a message that cannot be read) or too many attempts gives the message up, logged and
//! audited (`mail.gave_up`). The task wakes when this node queues a message
//! ([`Wake::notify`]) and polls otherwise, for messages other nodes queued or retries
//! that came due.

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{SmtpTransport, Transport as _};
use serde_json::json;
use tessera_store::audit::{self, NewAuditEvent};
use tessera_store::{Store, outbox};
use tessera_tokens::MasterKey;

use crate::message::Rendered;
use crate::queue::{KIND, MailError, open};
use crate::settings::{MailSettings, Security, SmtpSettings, Transport};

/// When a failed message is tried again, and when it is given up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Seconds before the second attempt; each further one waits twice as long…
    pub first_delay: i64,
    /// … up to this many seconds.
    pub max_delay: i64,
    /// Attempts after which a message is given up.
    pub max_attempts: i64,
}

impl Default for RetryPolicy {
    /// 30 s, 1 min, 2 min, … up to an hour between attempts; ten attempts (about four
    /// hours in all), as a mail server that is down for maintenance comes back well
    /// within that and a link in a message older than that is of little use.
    fn default() -> Self {
        RetryPolicy { first_delay: 30, max_delay: 3600, max_attempts: 10 }
    }
}

impl RetryPolicy {
    /// Seconds to wait after the `attempts`-th attempt failed.
    pub fn delay(&self, attempts: i64) -> i64 {
        let doublings = u32::try_from(attempts.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
        self.first_delay.saturating_mul(1_i64 << doublings).min(self.max_delay)
    }
}

/// Wakes the delivery task of this node when a message was queued (other nodes' tasks
/// find it at their next poll).
#[derive(Debug, Clone, Default)]
pub struct Wake(Arc<(Mutex<bool>, Condvar)>);

impl Wake {
    pub fn notify(&self) {
        let (woken, condvar) = &*self.0;
        if let Ok(mut woken) = woken.lock() {
            *woken = true;
            condvar.notify_all();
        }
    }

    /// Waits until notified or `timeout` passed; `true` when notified.
    fn wait(&self, timeout: Duration) -> bool {
        let (woken, condvar) = &*self.0;
        let Ok(guard) = woken.lock() else { return false };
        let Ok((mut guard, _)) = condvar.wait_timeout_while(guard, timeout, |woken| !*woken) else { return false };
        std::mem::replace(&mut *guard, false)
    }
}

/// What one [`Delivery::run_due`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Outcome {
    pub delivered: usize,
    pub retried: usize,
    pub given_up: usize,
}

/// Why one attempt failed, and whether trying again could help.
#[derive(Debug)]
struct Failure {
    message: String,
    permanent: bool,
}

impl Failure {
    fn permanent(message: impl Into<String>) -> Failure {
        Failure { message: message.into(), permanent: true }
    }
}

/// The longest error text kept with a job.
const ERROR_LIMIT: usize = 500;
/// Jobs one run delivers at most before looking at the stop flag again.
const RUN_LIMIT: usize = 100;

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
        let mut outcome = Outcome::default();
        for _ in 0..RUN_LIMIT {
            let claimed = self.store.write_statement(|c| outbox::claim(c, KIND, &self.worker, 1, self.lease(), now))?;
            let Some(job) = claimed.into_iter().next() else { break };
            match self.attempt(&job) {
                Ok(()) => {
                    self.store.write_statement(|c| outbox::complete(c, &job.id, &self.worker))?;
                    outcome.delivered += 1;
                }
                Err(failure) if failure.permanent || job.attempts >= self.policy.max_attempts => {
                    self.give_up(&job, &failure, now)?;
                    outcome.given_up += 1;
                }
                Err(failure) => {
                    let next = now + self.policy.delay(job.attempts);
                    tracing::warn!(job = %job.id, attempts = job.attempts, error = %failure.message, retry_at = next, "mail delivery failed; will retry");
                    let error = truncate(&failure.message);
                    self.store.write_statement(|c| outbox::retry_later(c, &job.id, &self.worker, &error, next))?;
                    outcome.retried += 1;
                }
            }
        }
        Ok(outcome)
    }

    fn give_up(&self, job: &outbox::Job, failure: &Failure, now: i64) -> Result<(), MailError> {
        tracing::error!(job = %job.id, attempts = job.attempts, error = %failure.message, "mail delivery given up");
        let target = format!("outbox:{}", job.id);
        let summary = json!({
            "attempts": job.attempts,
            "error": truncate(&failure.message),
            "queued_at": job.created_at,
        });
        self.store.write_transaction(|c| {
            if outbox::give_up(c, &job.id, &self.worker)? {
                let event = NewAuditEvent {
                    actor: "system",
                    action: "mail.gave_up",
                    target: &target,
                    summary,
                    client_ip: None,
                };
                audit::record(c, &event, now)?;
            }
            Ok(())
        })?;
        Ok(())
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
    /// one whenever `wake` is notified or `poll` passed.
    pub fn spawn(self, wake: Wake, stop: Arc<AtomicBool>, poll: Duration) -> std::thread::JoinHandle<()> {
        std::thread::spawn(move || {
            // Short waits, so that a stop is noticed within a fraction of a second.
            let tick = Duration::from_millis(200).min(poll);
            let mut waited = poll;
            while !stop.load(Ordering::Relaxed) {
                let woken = waited >= poll || wake.wait(tick);
                if !woken {
                    waited += tick;
                    continue;
                }
                waited = Duration::ZERO;
                match self.run_due(now()) {
                    Ok(outcome) if outcome != Outcome::default() => tracing::debug!(?outcome, "mail delivery run"),
                    Ok(_) => {}
                    Err(error) => tracing::warn!(%error, "mail delivery run failed; will try again"),
                }
            }
        })
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

fn truncate(text: &str) -> String {
    text.chars().take(ERROR_LIMIT).collect()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delay_doubles_up_to_the_limit() {
        let policy = RetryPolicy::default();
        let delays: Vec<i64> = (1..=9).map(|a| policy.delay(a)).collect();
        assert_eq!(delays, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
        assert_eq!(policy.delay(1000), 3600);
    }
}
