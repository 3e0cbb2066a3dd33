//! The account messages (docs/accounts.md): the email verification link, the password
//! recovery link, and the notice that a password was changed through recovery. Who gets
//! them and when is decided by `tessera_auth::account_links`.

use askama::Template;

use crate::message::Message;

/// "Confirm your email address": a single-use link, valid for `valid_for`.
pub struct VerifyEmailMessage<'a> {
    pub issuer_name: &'a str,
    pub username: &'a str,
    pub email: &'a str,
    pub link: &'a str,
    /// How long the link works, in words ("24 hours").
    pub valid_for: &'a str,
}

/// "Set a new password": a single-use link, valid for `valid_for`.
pub struct RecoveryMessage<'a> {
    pub issuer_name: &'a str,
    pub username: &'a str,
    pub link: &'a str,
    pub valid_for: &'a str,
}

/// "Your password was changed": sent after a recovery, so that the owner of the address
/// learns of a recovery they did not make.
pub struct PasswordChangedMessage<'a> {
    pub issuer_name: &'a str,
    pub username: &'a str,
}

#[derive(Template)]
#[template(path = "mail/verify_email.txt")]
struct VerifyText<'a> {
    issuer_name: &'a str,
    username: &'a str,
    email: &'a str,
    link: &'a str,
    valid_for: &'a str,
}

#[derive(Template)]
#[template(path = "mail/verify_email.html")]
struct VerifyHtml<'a> {
    issuer_name: &'a str,
    username: &'a str,
    email: &'a str,
    link: &'a str,
    valid_for: &'a str,
}

#[derive(Template)]
#[template(path = "mail/recovery.txt")]
struct RecoveryText<'a> {
    issuer_name: &'a str,
    username: &'a str,
    link: &'a str,
    valid_for: &'a str,
}

#[derive(Template)]
#[template(path = "mail/recovery.html")]
struct RecoveryHtml<'a> {
    issuer_name: &'a str,
    username: &'a str,
    link: &'a str,
    valid_for: &'a str,
}

#[derive(Template)]
#[template(path = "mail/password_changed.txt")]
struct ChangedText<'a> {
    issuer_name: &'a str,
    username: &'a str,
}

#[derive(Template)]
#[template(path = "mail/password_changed.html")]
struct ChangedHtml<'a> {
    issuer_name: &'a str,
    username: &'a str,
}

impl Message for VerifyEmailMessage<'_> {
    fn subject(&self) -> String {
        format!("{}: confirm your email address", self.issuer_name)
    }

    fn text(&self) -> askama::Result<String> {
        let m = self;
        VerifyText {
            issuer_name: m.issuer_name,
            username: m.username,
            email: m.email,
            link: m.link,
            valid_for: m.valid_for,
        }
        .render()
    }

    fn html(&self) -> askama::Result<String> {
        let m = self;
        VerifyHtml {
            issuer_name: m.issuer_name,
            username: m.username,
            email: m.email,
            link: m.link,
            valid_for: m.valid_for,
        }
        .render()
    }
}

impl Message for RecoveryMessage<'_> {
    fn subject(&self) -> String {
        format!("{}: set a new password", self.issuer_name)
    }

    fn text(&self) -> askama::Result<String> {
        let m = self;
        RecoveryText { issuer_name: m.issuer_name, username: m.username, link: m.link, valid_for: m.valid_for }.render()
    }

    fn html(&self) -> askama::Result<String> {
        let m = self;
        RecoveryHtml { issuer_name: m.issuer_name, username: m.username, link: m.link, valid_for: m.valid_for }.render()
    }
}

impl Message for PasswordChangedMessage<'_> {
    fn subject(&self) -> String {
        format!("{}: your password was changed", self.issuer_name)
    }

    fn text(&self) -> askama::Result<String> {
        ChangedText { issuer_name: self.issuer_name, username: self.username }.render()
    }

    fn html(&self) -> askama::Result<String> {
        ChangedHtml { issuer_name: self.issuer_name, username: self.username }.render()
    }
}

/// "A sign-in method was added": a passkey, an authenticator app, recovery codes.
pub struct FactorAddedMessage<'a> {
    pub issuer_name: &'a str,
    pub username: &'a str,
    /// What was added, in words ("A passkey named “Laptop”").
    pub factor: &'a str,
}

/// "A sign-in method was removed", by the user or by an administrator's reset.
pub struct FactorRemovedMessage<'a> {
    pub issuer_name: &'a str,
    pub username: &'a str,
    /// What was removed, in words.
    pub factor: &'a str,
    pub by_administrator: bool,
}

/// "A recovery code was used": the owner learns of a sign-in they did not make.
pub struct RecoveryCodeUsedMessage<'a> {
    pub issuer_name: &'a str,
    pub username: &'a str,
    pub codes_left: i64,
}

#[derive(Template)]
#[template(path = "mail/factor_added.txt")]
struct FactorAddedText<'a> {
    issuer_name: &'a str,
    username: &'a str,
    factor: &'a str,
}

#[derive(Template)]
#[template(path = "mail/factor_added.html")]
struct FactorAddedHtml<'a> {
    issuer_name: &'a str,
    username: &'a str,
    factor: &'a str,
}

#[derive(Template)]
#[template(path = "mail/factor_removed.txt")]
struct FactorRemovedText<'a> {
    issuer_name: &'a str,
    username: &'a str,
    factor: &'a str,
    by_administrator: bool,
}

#[derive(Template)]
#[template(path = "mail/factor_removed.html")]
struct FactorRemovedHtml<'a> {
    issuer_name: &'a str,
    username: &'a str,
    factor: &'a str,
    by_administrator: bool,
}

#[derive(Template)]
#[template(path = "mail/recovery_code_used.txt")]
struct RecoveryCodeUsedText<'a> {
    issuer_name: &'a str,
    username: &'a str,
    codes_left: i64,
}

#[derive(Template)]
#[template(path = "mail/recovery_code_used.html")]
struct RecoveryCodeUsedHtml<'a> {
    issuer_name: &'a str,
    username: &'a str,
    codes_left: i64,
}

impl Message for FactorAddedMessage<'_> {
    fn subject(&self) -> String {
        format!("{}: a sign-in method was added to your account", self.issuer_name)
    }

    fn text(&self) -> askama::Result<String> {
        FactorAddedText { issuer_name: self.issuer_name, username: self.username, factor: self.factor }.render()
    }

    fn html(&self) -> askama::Result<String> {
        FactorAddedHtml { issuer_name: self.issuer_name, username: self.username, factor: self.factor }.render()
    }
}

impl Message for FactorRemovedMessage<'_> {
    fn subject(&self) -> String {
        format!("{}: a sign-in method was removed from your account", self.issuer_name)
    }

    fn text(&self) -> askama::Result<String> {
        let m = self;
        FactorRemovedText {
            issuer_name: m.issuer_name,
            username: m.username,
            factor: m.factor,
            by_administrator: m.by_administrator,
        }
        .render()
    }

    fn html(&self) -> askama::Result<String> {
        let m = self;
        FactorRemovedHtml {
            issuer_name: m.issuer_name,
            username: m.username,
            factor: m.factor,
            by_administrator: m.by_administrator,
        }
        .render()
    }
}

impl Message for RecoveryCodeUsedMessage<'_> {
    fn subject(&self) -> String {
        format!("{}: a recovery code was used", self.issuer_name)
    }

    fn text(&self) -> askama::Result<String> {
        RecoveryCodeUsedText { issuer_name: self.issuer_name, username: self.username, codes_left: self.codes_left }
            .render()
    }

    fn html(&self) -> askama::Result<String> {
        RecoveryCodeUsedHtml { issuer_name: self.issuer_name, username: self.username, codes_left: self.codes_left }
            .render()
    }
}

/// Words for a duration in seconds, as the messages and pages say it.
pub fn duration_words(seconds: i64) -> String {
    let (n, unit) = if seconds >= 3600 && seconds % 3600 == 0 {
        (seconds / 3600, "hour")
    } else if seconds >= 60 {
        ((seconds + 59) / 60, "minute")
    } else {
        (seconds.max(1), "second")
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Rendered;

    #[test]
    fn the_verification_message_carries_the_link_in_both_bodies_and_escapes_html() {
        let message = VerifyEmailMessage {
            issuer_name: "Acme <ID>",
            username: "ada",
            email: "ada@example.com",
            link: "https://id.example.com/account/verify/abc",
            valid_for: "24 hours",
        };
        let rendered = Rendered::new("ada@example.com", &message).unwrap();
        assert_eq!(rendered.subject, "Acme <ID>: confirm your email address");
        assert!(rendered.text.contains("https://id.example.com/account/verify/abc"));
        assert!(rendered.html.contains("href=\"https://id.example.com/account/verify/abc\""));
        assert!(!rendered.html.contains("Acme <ID>"));
    }

    #[test]
    fn factor_messages_name_what_changed_and_escape_html() {
        let added = FactorAddedMessage { issuer_name: "Acme", username: "ada", factor: "A passkey named <b>x</b>" };
        let rendered = Rendered::new("ada@example.com", &added).unwrap();
        assert!(rendered.text.contains("A passkey named <b>x</b> was just added"));
        assert!(rendered.html.contains("A passkey named &#60;b&#62;x&#60;/b&#62;"));
        let reset =
            FactorRemovedMessage { issuer_name: "Acme", username: "ada", factor: "every", by_administrator: true };
        let rendered = Rendered::new("ada@example.com", &reset).unwrap();
        assert!(rendered.text.contains("an administrator removed every"), "{}", rendered.text);
        assert!(rendered.html.contains("an administrator removed every"));
        let used = RecoveryCodeUsedMessage { issuer_name: "Acme", username: "ada", codes_left: 7 };
        let rendered = Rendered::new("ada@example.com", &used).unwrap();
        assert_eq!(rendered.subject, "Acme: a recovery code was used");
        assert!(rendered.text.contains("you have 7 left"));
    }

    #[test]
    fn durations_read_as_words() {
        assert_eq!(duration_words(86_400), "24 hours");
        assert_eq!(duration_words(1800), "30 minutes");
        assert_eq!(duration_words(3600), "1 hour");
        assert_eq!(duration_words(61), "2 minutes");
        assert_eq!(duration_words(5), "5 seconds");
    }
}
