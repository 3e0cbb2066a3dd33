//! The messages: each is a pair of askama templates under `templates/mail/` (`.txt`,
//! not escaped, and `.html`, escaped) and a subject, all naming the issuer by its
//! display name. A message is rendered once, when it is queued ([`Rendered`]).

use askama::Template;
use lettre::message::Mailbox;
use serde::{Deserialize, Serialize};

use crate::queue::MailError;

/// A message Tessera sends: its subject and its two bodies.
pub trait Message {
    /// The subject line (one line; control characters are removed).
    fn subject(&self) -> String;
    /// The plain text body.
    fn text(&self) -> askama::Result<String>;
    /// The HTML body.
    fn html(&self) -> askama::Result<String>;
}

/// A message rendered for one recipient, as it waits in the outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rendered {
    /// The recipient's address.
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl Rendered {
    /// Renders `message` for `to`, which must be one mail address.
    pub fn new(to: &str, message: &impl Message) -> Result<Rendered, MailError> {
        let to = to.trim();
        to.parse::<Mailbox>().map_err(|_| MailError::Address(to.to_owned()))?;
        let subject: String = message.subject().chars().filter(|c| !c.is_control()).collect();
        Ok(Rendered {
            to: to.to_owned(),
            subject,
            text: message.text().map_err(|e| MailError::Template(e.to_string()))?,
            html: message.html().map_err(|e| MailError::Template(e.to_string()))?,
        })
    }
}

/// "Does mail reach me?": what `tessera mail test` sends.
pub struct TestMessage<'a> {
    pub issuer_name: &'a str,
    pub to: &'a str,
}

#[derive(Template)]
#[template(path = "mail/test.txt")]
struct TestText<'a> {
    issuer_name: &'a str,
    to: &'a str,
}

#[derive(Template)]
#[template(path = "mail/test.html")]
struct TestHtml<'a> {
    issuer_name: &'a str,
    to: &'a str,
}

impl Message for TestMessage<'_> {
    fn subject(&self) -> String {
        format!("{}: test message", self.issuer_name)
    }

    fn text(&self) -> askama::Result<String> {
        TestText { issuer_name: self.issuer_name, to: self.to }.render()
    }

    fn html(&self) -> askama::Result<String> {
        TestHtml { issuer_name: self.issuer_name, to: self.to }.render()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_html_body_escapes_what_it_shows_and_the_text_body_does_not() {
        let message = TestMessage { issuer_name: "<Acme & Co>", to: "a@example.com" };
        let rendered = Rendered::new("a@example.com", &message).unwrap();
        assert!(rendered.html.contains("&#60;Acme &#38; Co&#62;") || rendered.html.contains("&lt;Acme &amp; Co&gt;"));
        assert!(!rendered.html.contains("<Acme"));
        assert!(rendered.text.contains("<Acme & Co>"));
        assert_eq!(rendered.subject, "<Acme & Co>: test message");
    }

    #[test]
    fn a_recipient_that_is_not_one_address_is_refused() {
        let message = TestMessage { issuer_name: "Acme", to: "x" };
        for to in ["", "not an address", "a@example.com, b@example.com", "a@example.com\r\nBcc: b@example.com"] {
            assert!(matches!(Rendered::new(to, &message), Err(MailError::Address(_))), "{to:?}");
        }
    }
}
