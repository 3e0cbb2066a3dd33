//! Where mail goes: the `smtp_url` setting, the sender (`mail_from`) and the issuer's
//! display name the messages carry.
//!
//! `smtp_url` forms (docs/mail.md):
//! - `smtps://user:password@host[:465]`: TLS from the first byte (RFC 8314 §3.3);
//! - `smtp://user:password@host[:587]`: STARTTLS, required (RFC 3207); the server's
//!   certificate is checked in both cases;
//! - `smtp://host[:25]?tls=none`: no TLS at all, for a relay on the same machine or a
//!   network you trust; credentials are refused in this form, so a password never
//!   crosses the network in the clear.
//!
//! User name and password are percent-encoded in the URL as usual.

use std::path::PathBuf;
use std::time::Duration;

use lettre::message::Mailbox;
use percent_encoding::percent_decode_str;

/// A mail setting that is wrong, and why (the caller names the setting).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct MailSettingsError(pub String);

fn error(message: impl Into<String>) -> MailSettingsError {
    MailSettingsError(message.into())
}

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// TLS from the first byte (`smtps://`).
    ImplicitTls,
    /// STARTTLS, and no delivery without it (`smtp://`).
    StartTls,
    /// None (`smtp://…?tls=none`).
    None,
}

/// An SMTP server to send through.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub security: Security,
    /// User name and password (SMTP AUTH), if any.
    pub credentials: Option<(String, String)>,
    /// How long one connection or command may take.
    pub timeout: Duration,
}

impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("user", &self.credentials.as_ref().map(|(user, _)| user))
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl SmtpSettings {
    /// Reads an `smtp_url` (see the module's comment).
    pub fn parse(raw: &str) -> Result<SmtpSettings, MailSettingsError> {
        let url = url::Url::parse(raw)
            .map_err(|e| error(format!("is not a URL such as smtps://user:password@mail.example.com ({e})")))?;
        let mut security = match url.scheme() {
            "smtps" => Security::ImplicitTls,
            "smtp" => Security::StartTls,
            other => return Err(error(format!("must start with smtps:// or smtp://, not {other}://"))),
        };
        let host = url.host_str().filter(|h| !h.is_empty()).ok_or_else(|| error("must name a host"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']').to_owned();
        if !matches!(url.path(), "" | "/") || url.fragment().is_some() {
            return Err(error("must not have a path or a fragment"));
        }
        for (name, value) in url.query_pairs() {
            match (name.as_ref(), value.as_ref(), security) {
                ("tls", "starttls", Security::StartTls) => {}
                ("tls", "none", Security::StartTls) => security = Security::None,
                ("tls", _, Security::ImplicitTls) => {
                    return Err(error("takes no tls= with smtps:// (TLS from the first byte)"));
                }
                ("tls", other, _) => return Err(error(format!("tls must be starttls or none, not {other:?}"))),
                (other, _, _) => return Err(error(format!("has an unknown parameter {other:?}"))),
            }
        }
        let decode = |text: &str| {
            percent_decode_str(text)
                .decode_utf8()
                .map(|t| t.into_owned())
                .map_err(|_| error("has a user name or password that is not UTF-8 once percent-decoded"))
        };
        let credentials = match (url.username(), url.password()) {
            ("", None) => None,
            ("", Some(_)) => return Err(error("has a password but no user name")),
            (user, password) => Some((decode(user)?, decode(password.unwrap_or(""))?)),
        };
        if credentials.is_some() && security == Security::None {
            return Err(error("must not carry credentials with tls=none: they would cross the network in the clear"));
        }
        let default_port = match security {
            Security::ImplicitTls => 465,
            Security::StartTls => 587,
            Security::None => 25,
        };
        Ok(SmtpSettings {
            host,
            port: url.port().unwrap_or(default_port),
            security,
            credentials,
            timeout: Duration::from_secs(30),
        })
    }
}

/// Where messages go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// An SMTP server.
    Smtp(SmtpSettings),
    /// No SMTP server configured: each message is logged and written to a file
    /// `<time>-<id>.eml` in this folder (`<data folder>/mail`).
    Files(PathBuf),
}

/// Shown by `tessera config check`: the password never.
impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Transport::Files(folder) => write!(f, "none: files in {}", folder.display()),
            Transport::Smtp(smtp) => {
                let scheme = if smtp.security == Security::ImplicitTls { "smtps" } else { "smtp" };
                let user = smtp.credentials.as_ref().map(|(user, _)| format!("{user}:(hidden)@")).unwrap_or_default();
                let tls = if smtp.security == Security::None { "?tls=none" } else { "" };
                write!(f, "{scheme}://{user}{}:{}{tls}", smtp.host, smtp.port)
            }
        }
    }
}

/// Everything the mail needs: where it goes, who sends it, whose name it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailSettings {
    pub transport: Transport,
    /// The `From` of every message.
    pub from: Mailbox,
    /// The issuer's display name, as the messages name the sender ("Sign in to …").
    pub issuer_name: String,
}

impl MailSettings {
    /// Checks the settings: `smtp_url` (none: files in `mail_folder`), `mail_from` (an
    /// address, or `Name <address>`; required with SMTP; without a name, the issuer's
    /// name is used) and `issuer_name`. The error names the setting.
    pub fn new(
        smtp_url: Option<&str>,
        mail_from: Option<&str>,
        issuer_name: &str,
        mail_folder: PathBuf,
    ) -> Result<MailSettings, (&'static str, MailSettingsError)> {
        let issuer_name = issuer_name.trim();
        if issuer_name.is_empty() || issuer_name.chars().count() > 100 || issuer_name.chars().any(char::is_control) {
            return Err(("issuer_name", error("must be 1 to 100 characters, without control characters")));
        }
        let transport = match smtp_url.map(str::trim).filter(|url| !url.is_empty()) {
            Some(url) => Transport::Smtp(SmtpSettings::parse(url).map_err(|e| ("smtp_url", e))?),
            None => Transport::Files(mail_folder),
        };
        let from = match mail_from.map(str::trim).filter(|from| !from.is_empty()) {
            Some(from) => from.parse::<Mailbox>().map_err(|e| {
                ("mail_from", error(format!("{from:?} is not an address such as \"Example <id@example.com>\" ({e})")))
            })?,
            None if matches!(transport, Transport::Smtp(_)) => {
                return Err(("mail_from", error("must be set when smtp_url is (the address messages come from)")));
            }
            None => "noreply@localhost".parse::<Mailbox>().map_err(|e| ("mail_from", error(e.to_string())))?,
        };
        let from = match from.name {
            Some(_) => from,
            None => Mailbox::new(Some(issuer_name.to_owned()), from.email),
        };
        Ok(MailSettings { transport, from, issuer_name: issuer_name.to_owned() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_forms_of_smtp_url_are_read() {
        let s = SmtpSettings::parse("smtps://me%40example.com:p%3Ass@mail.example.com").unwrap();
        assert_eq!(
            (s.host.as_str(), s.port, s.security, s.credentials.clone()),
            ("mail.example.com", 465, Security::ImplicitTls, Some(("me@example.com".into(), "p:ss".into())))
        );
        let s = SmtpSettings::parse("smtp://u:p@mail.example.com?tls=starttls").unwrap();
        assert_eq!((s.port, s.security), (587, Security::StartTls));
        let s = SmtpSettings::parse("smtp://127.0.0.1:2525?tls=none").unwrap();
        assert_eq!((s.host.as_str(), s.port, s.security, s.credentials), ("127.0.0.1", 2525, Security::None, None));
        let secret = SmtpSettings::parse("smtps://u:secret@h").unwrap();
        assert!(!format!("{secret:?}").contains("secret"));
        assert_eq!(Transport::Smtp(secret).to_string(), "smtps://u:(hidden)@h:465");
    }

    #[test]
    fn unsafe_or_unclear_smtp_urls_are_refused() {
        for url in [
            "http://mail.example.com",
            "smtp://u:p@mail.example.com?tls=none",
            "smtps://mail.example.com?tls=none",
            "smtp://mail.example.com?tls=maybe",
            "smtp://mail.example.com?pool=1",
            "smtp://mail.example.com/path",
            "smtp://:p@mail.example.com",
            "not a url",
        ] {
            assert!(SmtpSettings::parse(url).is_err(), "{url}");
        }
    }

    #[test]
    fn the_sender_takes_the_issuer_name_and_is_required_with_smtp() {
        let files = MailSettings::new(None, None, "Acme ID", "mail".into()).unwrap();
        assert_eq!(files.from.to_string(), "Acme ID <noreply@localhost>");
        assert_eq!(files.transport, Transport::Files("mail".into()));
        let named = MailSettings::new(Some("smtps://h"), Some("Acme <id@acme.test>"), "Acme ID", "m".into()).unwrap();
        assert_eq!(named.from.to_string(), "Acme <id@acme.test>");
        assert_eq!(MailSettings::new(Some("smtps://h"), None, "Acme", "m".into()).unwrap_err().0, "mail_from");
        assert_eq!(MailSettings::new(None, Some("not an address"), "Acme", "m".into()).unwrap_err().0, "mail_from");
        assert_eq!(MailSettings::new(None, None, "  ", "m".into()).unwrap_err().0, "issuer_name");
        assert_eq!(MailSettings::new(Some("ftp://h"), None, "Acme", "m".into()).unwrap_err().0, "smtp_url");
    }
}
