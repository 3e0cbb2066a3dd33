//! Account links by mail (docs/accounts.md): email verification and password recovery,
//! shared by the sign-in pages and the management API/console.
//!
//! A link carries a 256-bit token in its path; the store keeps only its SHA-256 hash
//! (`tessera_store::account_tokens`), single use, with an expiry, and a new link of the
//! same purpose supersedes the older ones. The message is queued in the caller's
//! transaction (`tessera_mail::enqueue`), so it leaves exactly when the change that
//! caused it commits; the caller wakes the delivery task afterwards ([`AccountMail::wake`]).
//! Tokens and links are never logged nor put in audit events.

use std::sync::Arc;

use serde_json::json;
use tessera_mail::{Message, PasswordChangedMessage, RecoveryMessage, Rendered, VerifyEmailMessage, Wake};
use tessera_store::account_tokens::{self, NewAccountToken, Purpose};
use tessera_store::audit::{self, NewAuditEvent};
use tessera_store::throttle::{self, Limit, Reservation};
use tessera_store::users::{self, User, UserChanges};
use tessera_store::{AnyConnection, StoreError, StoreResult, grants};
use tessera_tokens::{MasterKey, SecretHash, generate_secret};

pub use tessera_mail::duration_words;

/// Where a verification link leads (followed by the token).
pub const VERIFY_PATH: &str = "/account/verify/";
/// Where a recovery link leads (followed by the token).
pub const RECOVER_PATH: &str = "/account/recover/";

/// Where a recovery link leads once the new password is set: the query its URL carries
/// (the token stays in the path). It only picks one of two fixed pages, so a changed
/// query sends the link's holder nowhere else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterRecovery {
    /// "Go back to the application and sign in" (asked for on an application's sign-in
    /// page, or sent by an administrator).
    Application,
    /// To the account page's sign-in (asked for there).
    AccountPage,
}

impl AfterRecovery {
    /// The query of the account page's links.
    pub const ACCOUNT_QUERY: &'static str = "then=account";

    /// The query (with its `?`) a link carries.
    pub fn query(self) -> &'static str {
        match self {
            AfterRecovery::Application => "",
            AfterRecovery::AccountPage => "?then=account",
        }
    }

    /// Reads the query of a followed link; anything else is [`AfterRecovery::Application`].
    pub fn from_query(query: &str) -> AfterRecovery {
        if query.split('&').any(|pair| pair == Self::ACCOUNT_QUERY) {
            AfterRecovery::AccountPage
        } else {
            AfterRecovery::Application
        }
    }
}

/// The account settings (docs/configuration.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountSettings {
    /// Whether a user whose email address is not verified may finish signing in to
    /// applications that do not require a verified address themselves.
    pub unverified_sign_in: bool,
    /// Seconds a verification link works.
    pub verification_link_lifetime: i64,
    /// Seconds a recovery link works.
    pub recovery_link_lifetime: i64,
    /// At most one verification mail per user in this many seconds (resends), and at
    /// most one recovery mail per account in this many seconds.
    pub resend_interval: i64,
}

impl Default for AccountSettings {
    fn default() -> AccountSettings {
        AccountSettings {
            unverified_sign_in: true,
            verification_link_lifetime: 24 * 3600,
            recovery_link_lifetime: 30 * 60,
            resend_interval: 60,
        }
    }
}

/// Recovery requests from one client address: twenty an hour, then none for an hour.
pub const RECOVERY_IP_LIMIT: Limit = Limit { attempts: 20, window: 3600, lockout: 3600 };

/// What sends account mail: the issuer's URL and display name, the master key that
/// seals queued messages, this node's delivery task, and the settings.
#[derive(Clone)]
pub struct AccountMail {
    /// The issuer identifier (links are built on it), without a trailing slash.
    pub issuer: String,
    pub issuer_name: String,
    pub master_key: Arc<MasterKey>,
    pub wake: Wake,
    pub settings: AccountSettings,
}

impl std::fmt::Debug for AccountMail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountMail").field("issuer", &self.issuer).field("settings", &self.settings).finish()
    }
}

/// Whether a mail was queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    Queued,
    /// The account has no (usable) email address.
    NoAddress,
    /// One was sent less than `resend_interval` ago; try again at `until`.
    Throttled {
        until: i64,
    },
}

fn mail_failure(error: tessera_mail::MailError) -> StoreError {
    match error {
        tessera_mail::MailError::Store(e) => e,
        other => StoreError::Corrupt(other.to_string()),
    }
}

impl AccountMail {
    /// Wakes the delivery task: call it after the transaction that queued mail committed.
    pub fn wake(&self) {
        self.wake.notify();
    }

    fn queue(&self, conn: &mut AnyConnection, to: &str, message: &impl Message, now: i64) -> StoreResult<bool> {
        let Ok(rendered) = Rendered::new(to, message) else { return Ok(false) };
        tessera_mail::enqueue(conn, &self.master_key, &rendered, now).map_err(mail_failure)?;
        Ok(true)
    }

    /// At most one mail of `purpose` per user per `resend_interval` (one atomic
    /// statement; run it outside the transaction that sends).
    pub fn reserve(&self, conn: &mut AnyConnection, user: &User, purpose: Purpose, now: i64) -> StoreResult<Sent> {
        let interval = self.settings.resend_interval.max(1);
        let limit = Limit { attempts: 1, window: interval, lockout: interval };
        let key = format!("mail:{}:{}", purpose.as_str(), user.id);
        Ok(match throttle::reserve(conn, &key, limit, now)? {
            Reservation::Locked { until, .. } => Sent::Throttled { until },
            Reservation::Allowed { .. } => Sent::Queued,
        })
    }

    /// Issues a verification link for the user's current address (superseding older
    /// ones) and queues the message, in the caller's transaction.
    pub fn send_verification(&self, conn: &mut AnyConnection, user: &User, now: i64) -> StoreResult<Sent> {
        let Some(email) = user.email.as_deref() else { return Ok(Sent::NoAddress) };
        let token = generate_secret();
        let token_hash = token.hash();
        let lifetime = self.settings.verification_link_lifetime;
        let new = NewAccountToken {
            token_hash: token_hash.as_str(),
            purpose: Purpose::VerifyEmail,
            user_id: &user.id,
            email,
            expires_at: now + lifetime,
        };
        account_tokens::issue(conn, &new, now)?;
        let link = format!("{}{VERIFY_PATH}{}", self.issuer, token.expose());
        let valid_for = tessera_mail::duration_words(lifetime);
        let message = VerifyEmailMessage {
            issuer_name: &self.issuer_name,
            username: &user.username,
            email,
            link: &link,
            valid_for: &valid_for,
        };
        Ok(if self.queue(conn, email, &message, now)? { Sent::Queued } else { Sent::NoAddress })
    }

    /// Issues a recovery link (superseding older ones) and queues the message, in the
    /// caller's transaction. A disabled account or one without an address gets nothing.
    /// `after` says where the link leads once used.
    pub fn send_recovery(
        &self,
        conn: &mut AnyConnection,
        user: &User,
        after: AfterRecovery,
        now: i64,
    ) -> StoreResult<Sent> {
        let Some(email) = user.email.as_deref().filter(|_| !user.disabled) else { return Ok(Sent::NoAddress) };
        let token = generate_secret();
        let token_hash = token.hash();
        let lifetime = self.settings.recovery_link_lifetime;
        let new = NewAccountToken {
            token_hash: token_hash.as_str(),
            purpose: Purpose::ResetPassword,
            user_id: &user.id,
            email,
            expires_at: now + lifetime,
        };
        account_tokens::issue(conn, &new, now)?;
        let link = format!("{}{RECOVER_PATH}{}{}", self.issuer, token.expose(), after.query());
        let valid_for = tessera_mail::duration_words(lifetime);
        let message = RecoveryMessage {
            issuer_name: &self.issuer_name,
            username: &user.username,
            link: &link,
            valid_for: &valid_for,
        };
        Ok(if self.queue(conn, email, &message, now)? { Sent::Queued } else { Sent::NoAddress })
    }

    /// The work of [`AccountMail::send_recovery`] (a token, a rendered and sealed message)
    /// without writing anything: what "forgot password" does for a name that is no
    /// account, so both answers take about the same time.
    pub fn recovery_decoy(&self) {
        let token = generate_secret();
        let link = format!("{}{RECOVER_PATH}{}", self.issuer, token.expose());
        let message =
            RecoveryMessage { issuer_name: &self.issuer_name, username: "nobody", link: &link, valid_for: "" };
        if let Ok(rendered) = Rendered::new("nobody@example.invalid", &message)
            && let Ok(json) = serde_json::to_vec(&rendered)
        {
            let _ = self.master_key.encrypt(&json, "outbox:decoy");
        }
        let _ = token.hash();
    }

    /// Verifies an address with a link, in one transaction: spends the link, and marks
    /// the address verified if it is still the account's. `None` when the link is
    /// unknown, spent, expired, or for an address the account no longer has.
    pub fn verify_email(
        &self,
        conn: &mut AnyConnection,
        token: &str,
        client_ip: Option<&str>,
        now: i64,
    ) -> StoreResult<Option<User>> {
        let hash = SecretHash::of(token);
        let Some(spent) = account_tokens::redeem(conn, hash.as_str(), Purpose::VerifyEmail, now)? else {
            return Ok(None);
        };
        let Some(user) = users::find(conn, &spent.user_id)? else { return Ok(None) };
        if !user.email.as_deref().is_some_and(|e| e.eq_ignore_ascii_case(&spent.email)) {
            return Ok(None);
        }
        let user =
            users::update(conn, &user.id, &UserChanges { email_verified: Some(true), ..Default::default() }, now)?;
        let target = format!("user:{}", user.id);
        let event = NewAuditEvent {
            actor: &target,
            action: "user.email_verified",
            target: &target,
            summary: json!({}),
            client_ip,
        };
        audit::record(conn, &event, now)?;
        Ok(Some(user))
    }

    /// Sets a new password with a recovery link, in the caller's one transaction: spends
    /// the link, sets the (already checked and hashed) password, ends every browser
    /// session and revokes every grant, refresh token and reference token of the user
    /// (ASVS 5.0 V7.4.3), audits `user.password_recovered` and mails the owner. `None`
    /// when the link is unknown, spent or expired, or its account is disabled.
    pub fn recover(
        &self,
        conn: &mut AnyConnection,
        token: &str,
        password_hash: &str,
        client_ip: Option<&str>,
        now: i64,
    ) -> StoreResult<Option<User>> {
        let hash = SecretHash::of(token);
        let Some(spent) = account_tokens::redeem(conn, hash.as_str(), Purpose::ResetPassword, now)? else {
            return Ok(None);
        };
        let Some(user) = users::find(conn, &spent.user_id)?.filter(|u| !u.disabled) else { return Ok(None) };
        users::set_password_hash(conn, &user.id, password_hash, now)?;
        let ended = grants::end_access_of_user(conn, &user.id, now)?;
        let target = format!("user:{}", user.id);
        let event = NewAuditEvent {
            actor: &target,
            action: "user.password_recovered",
            target: &target,
            summary: json!({ "access_ended": ended }),
            client_ip,
        };
        audit::record(conn, &event, now)?;
        let message = PasswordChangedMessage { issuer_name: &self.issuer_name, username: &user.username };
        self.queue(conn, &spent.email, &message, now)?;
        Ok(Some(user))
    }
}

impl AccountMail {
    /// Queues "your password was changed" to the user's address (if any), in the
    /// caller's transaction: the owner learns of a change they did not make.
    pub fn send_password_changed(&self, conn: &mut AnyConnection, user: &User, now: i64) -> StoreResult<Sent> {
        let Some(email) = user.email.as_deref() else { return Ok(Sent::NoAddress) };
        let message = PasswordChangedMessage { issuer_name: &self.issuer_name, username: &user.username };
        Ok(if self.queue(conn, email, &message, now)? { Sent::Queued } else { Sent::NoAddress })
    }
}

/// Mail about a user's authentication factors (docs/authentication.md), queued in the
/// caller's transaction; an account without an address gets none.
impl AccountMail {
    /// "A sign-in method was added" (`factor` in words: "A passkey named “Laptop”").
    pub fn send_factor_added(
        &self,
        conn: &mut AnyConnection,
        user: &User,
        factor: &str,
        now: i64,
    ) -> StoreResult<Sent> {
        let Some(email) = user.email.as_deref() else { return Ok(Sent::NoAddress) };
        let message =
            tessera_mail::FactorAddedMessage { issuer_name: &self.issuer_name, username: &user.username, factor };
        Ok(if self.queue(conn, email, &message, now)? { Sent::Queued } else { Sent::NoAddress })
    }

    /// "A sign-in method was removed", by the user or (`by_administrator`) in a reset.
    pub fn send_factor_removed(
        &self,
        conn: &mut AnyConnection,
        user: &User,
        factor: &str,
        by_administrator: bool,
        now: i64,
    ) -> StoreResult<Sent> {
        let Some(email) = user.email.as_deref() else { return Ok(Sent::NoAddress) };
        let message = tessera_mail::FactorRemovedMessage {
            issuer_name: &self.issuer_name,
            username: &user.username,
            factor,
            by_administrator,
        };
        Ok(if self.queue(conn, email, &message, now)? { Sent::Queued } else { Sent::NoAddress })
    }

    /// "A recovery code was used": call it in the transaction that spent the code.
    pub fn send_recovery_code_used(
        &self,
        conn: &mut AnyConnection,
        user: &User,
        codes_left: i64,
        now: i64,
    ) -> StoreResult<Sent> {
        let Some(email) = user.email.as_deref() else { return Ok(Sent::NoAddress) };
        let message = tessera_mail::RecoveryCodeUsedMessage {
            issuer_name: &self.issuer_name,
            username: &user.username,
            codes_left,
        };
        Ok(if self.queue(conn, email, &message, now)? { Sent::Queued } else { Sent::NoAddress })
    }
}

/// The user a live link of `purpose` belongs to, without spending it (for the page
/// shown before the user confirms).
pub fn link_owner(conn: &mut AnyConnection, token: &str, purpose: Purpose, now: i64) -> StoreResult<Option<User>> {
    let hash = SecretHash::of(token);
    let Some(live) = account_tokens::find_live(conn, hash.as_str(), purpose, now)? else { return Ok(None) };
    users::find(conn, &live.user_id)
}
