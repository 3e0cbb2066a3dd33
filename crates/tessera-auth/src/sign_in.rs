//! Password sign-in, the same wherever a password is taken: the login pages, the admin
//! console and the password grant.
//!
//! OWASP ASVS 5.0 V6.3.1 and RFC 9700 §4.7: an attempt is reserved in the sign-in
//! throttle (`tessera_store::throttle`) *before* the password is hashed, first in the
//! client address's bucket, then in the account's; a locked bucket refuses the attempt
//! without checking the password. The account's bucket is the account itself
//! (`account:<user id>`), whatever name was typed (username or email, any case); a name
//! that is no account has a bucket of its own (`login:<name>`), so an unknown name and a
//! wrong password are treated alike. A successful sign-in gives back its reservations;
//! a failure keeps them. Refusals of a locked bucket are audited, at most one event per
//! bucket a minute, so an attack cannot flood the audit log.

use serde_json::json;
use tessera_domain::ClientId;
use tessera_store::audit::{self, NewAuditEvent};
use tessera_store::throttle::{self, ACCOUNT_LIMIT, IP_LIMIT, Reservation};
use tessera_store::users::User;
use tessera_store::{AnyConnection, Store, StoreResult};
use tessera_tokens::PasswordHasher;

/// Where the password was typed: it names the audit events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel<'a> {
    /// The sign-in page of an authorization request by `client_id`.
    LoginPage { client_id: &'a ClientId },
    /// The admin console's sign-in form.
    Console,
    /// RFC 6749 §4.3, the password grant, by `client_id`.
    PasswordGrant { client_id: &'a ClientId },
    /// The account page (`/account`): its own sign-in, and the current password asked
    /// before a password change or an account deletion.
    AccountPage,
}

impl Channel<'_> {
    fn actor(&self) -> String {
        match self {
            Channel::LoginPage { .. } | Channel::Console | Channel::AccountPage => "anonymous".to_owned(),
            Channel::PasswordGrant { client_id } => format!("client:{client_id}"),
        }
    }

    fn locked_action(&self) -> &'static str {
        match self {
            Channel::Console => "admin.sign_in_locked",
            Channel::LoginPage { .. } | Channel::PasswordGrant { .. } | Channel::AccountPage => "user.sign_in_locked",
        }
    }

    fn summary(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut summary = serde_json::Map::new();
        match self {
            Channel::LoginPage { client_id } => {
                summary.insert("client_id".into(), json!(client_id));
            }
            Channel::PasswordGrant { client_id } => {
                summary.insert("client_id".into(), json!(client_id));
                summary.insert("grant_type".into(), json!("password"));
            }
            Channel::Console => {}
            Channel::AccountPage => {
                summary.insert("page".into(), json!("account"));
            }
        }
        summary
    }
}

/// One attempt to sign in with a password.
#[derive(Debug, Clone, Copy)]
pub struct PasswordAttempt<'a> {
    /// The name typed (username or email), trimmed and lowercased.
    pub login: &'a str,
    /// The account that name resolves to, looked up by the caller.
    pub user: Option<&'a User>,
    pub password: &'a str,
    /// The TCP peer's address.
    pub client_ip: Option<&'a str>,
    pub channel: Channel<'a>,
}

impl PasswordAttempt<'_> {
    /// The account's bucket: the account, whatever name was typed.
    pub fn account_key(&self) -> String {
        match self.user {
            Some(user) => format!("account:{}", user.id),
            None => format!("login:{}", self.login.chars().take(200).collect::<String>()),
        }
    }

    fn ip_key(&self) -> String {
        format!("ip:{}", self.client_ip.unwrap_or("unknown"))
    }

    /// The audit target: the account, or the name typed when it is none.
    pub fn target(&self) -> String {
        match self.user {
            Some(user) => format!("user:{}", user.id),
            None => format!("login:{}", self.login.chars().take(100).collect::<String>()),
        }
    }
}

/// The reservations of an attempt that was evaluated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservations {
    ip: Reservation,
    account: Reservation,
}

impl Reservations {
    /// Gives both reservations back: call it in the write that signs the person in, so
    /// that a sign-in and its refund happen together.
    pub fn refund(&self, conn: &mut AnyConnection) -> StoreResult<()> {
        throttle::refund(conn, &self.ip)?;
        throttle::refund(conn, &self.account)
    }
}

/// What a password attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The password is the account's. Whether the account may sign in here (enabled,
    /// the console's role) is the caller's to decide; if it signs in, the caller calls
    /// [`Reservations::refund`] in the same write. Otherwise the attempt stays counted.
    Matched(Reservations),
    /// A wrong password, or a name that is no account (checked with the same cost).
    Wrong,
    /// Too many attempts: the password was not checked. Sign-in may be tried again at
    /// `until` (unix seconds).
    Locked { until: i64 },
}

/// Whether an attempt may be evaluated: see [`reserve`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// Counted in both buckets: evaluate the attempt, and on success give the
    /// reservations back ([`Reservations::refund`]) in the write that signs in.
    Reserved(Reservations),
    /// A bucket is locked: do not evaluate; sign-in may be tried again at `until`.
    Locked { until: i64 },
}

/// Issue 18 §7: reserves one attempt in the client address's bucket, then the account's
/// (the buckets of the module's comment), before anything is checked. Every factor's
/// attempt goes through here: a password ([`check_password`]), a one-time code
/// (`crate::check_code`), a passkey assertion (the sign-in pages). `attempt.password` is
/// not read.
pub fn reserve(store: &Store, attempt: &PasswordAttempt<'_>, now: i64) -> StoreResult<Admission> {
    let ip_key = attempt.ip_key();
    let ip = store.write_statement(|c| throttle::reserve(c, &ip_key, IP_LIMIT, now))?;
    if let Reservation::Locked { until, refused, audit } = ip {
        if audit {
            store.write_transaction(|c| refusal_event(c, attempt, "ip", until, refused, now))?;
        }
        return Ok(Admission::Locked { until });
    }
    let account_key = attempt.account_key();
    let account = store.write_statement(|c| throttle::reserve(c, &account_key, ACCOUNT_LIMIT, now))?;
    if let Reservation::Locked { until, refused, audit } = account {
        // Not evaluated: the address's reservation is given back.
        store.write_transaction(|c| {
            throttle::refund(c, &ip)?;
            if audit {
                refusal_event(c, attempt, "account", until, refused, now)?;
            }
            Ok(())
        })?;
        return Ok(Admission::Locked { until });
    }
    Ok(Admission::Reserved(Reservations { ip, account }))
}

/// Reserves the attempt, then checks the password: see the module's comment.
pub fn check_password(
    store: &Store,
    hasher: &PasswordHasher,
    attempt: &PasswordAttempt<'_>,
    now: i64,
) -> StoreResult<Verdict> {
    let reservations = match reserve(store, attempt, now)? {
        Admission::Reserved(reservations) => reservations,
        Admission::Locked { until } => return Ok(Verdict::Locked { until }),
    };
    // The hash is checked even for a name that is no account (same timing).
    let stored = attempt.user.and_then(|u| u.password_hash.as_deref());
    Ok(if hasher.verify(attempt.password, stored) && attempt.user.is_some() {
        Verdict::Matched(reservations)
    } else {
        Verdict::Wrong
    })
}

/// ASVS 5.0 V16.3.1: a refusal for too many attempts is a security event.
pub(crate) fn refusal_event(
    conn: &mut AnyConnection,
    attempt: &PasswordAttempt<'_>,
    bucket: &str,
    until: i64,
    refused: i64,
    now: i64,
) -> StoreResult<()> {
    let mut summary = attempt.channel.summary();
    summary.insert("bucket".into(), json!(bucket));
    summary.insert("locked_until".into(), json!(until));
    summary.insert("refused_so_far".into(), json!(refused));
    audit::record(
        conn,
        &NewAuditEvent {
            actor: &attempt.channel.actor(),
            action: attempt.channel.locked_action(),
            target: &attempt.target(),
            summary: summary.into(),
            client_ip: attempt.client_ip,
        },
        now,
    )?;
    Ok(())
}

/// The sign-in pages' words for a lock that ends at `until`.
pub fn locked_message(until: i64, now: i64) -> String {
    let minutes = ((until - now) + 59) / 60;
    let plural = if minutes == 1 { "" } else { "s" };
    format!("Too many failed sign-ins. Try again in {minutes} minute{plural}.")
}
