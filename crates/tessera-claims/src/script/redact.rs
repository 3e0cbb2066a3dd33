//! Review finding 18: what of a run may be shown to an admin or written to the audit log.
//!
//! A script reads secret environment variables by design (it runs with them), and whatever it
//! prints, returns or throws may carry one. [`Redactor`] replaces every verbatim occurrence of a
//! secret value with `[secret:NAME]` before the test runner or the preview shows a run, and
//! before a failure goes to the audit log; [`without_url_secrets`] also removes the userinfo,
//! query and fragment of every URL in a text (a `fetch` error names its URL, and API keys often
//! ride in a query string). Neither can stop a script that encodes a secret on purpose: they
//! keep secrets from being shown by accident, and the documentation says so.

use serde_json::{Map, Value};

/// Replaces secret values with `[secret:NAME]` in the texts and JSON of a run.
#[derive(Clone, Default)]
pub struct Redactor {
    /// `(value, marker)`, longest value first, so that a secret containing another is
    /// replaced whole.
    secrets: Vec<(String, String)>,
}

impl Redactor {
    /// A redactor for these `(name, value)` pairs. Empty values are ignored (there is nothing
    /// to hide, and they would match everywhere).
    pub fn new<N: AsRef<str>, V: AsRef<str>>(secrets: impl IntoIterator<Item = (N, V)>) -> Redactor {
        let mut secrets: Vec<(String, String)> = secrets
            .into_iter()
            .filter(|(_, value)| !value.as_ref().is_empty())
            .map(|(name, value)| (value.as_ref().to_owned(), format!("[secret:{}]", name.as_ref())))
            .collect();
        secrets.sort_by(|(a, _), (b, _)| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        Redactor { secrets }
    }

    /// `text` with every occurrence of a secret value replaced by its marker, scanning left to
    /// right and taking the longest secret that starts at each position.
    pub fn text(&self, text: &str) -> String {
        if self.secrets.is_empty() {
            return text.to_owned();
        }
        let mut redacted = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(next) = rest.chars().next() {
            match self.secrets.iter().find(|(value, _)| rest.starts_with(value.as_str())) {
                Some((value, marker)) => {
                    redacted.push_str(marker);
                    rest = &rest[value.len()..];
                }
                None => {
                    redacted.push(next);
                    rest = &rest[next.len_utf8()..];
                }
            }
        }
        redacted
    }

    /// `value` with every string redacted, object keys included; a number whose digits hold a
    /// secret becomes the redacted string of its digits.
    pub fn json(&self, value: &Value) -> Value {
        if self.secrets.is_empty() {
            return value.clone();
        }
        match value {
            Value::String(text) => Value::String(self.text(text)),
            Value::Number(number) => {
                let digits = number.to_string();
                let redacted = self.text(&digits);
                if redacted == digits { value.clone() } else { Value::String(redacted) }
            }
            Value::Array(items) => Value::Array(items.iter().map(|item| self.json(item)).collect()),
            Value::Object(object) => Value::Object(self.object(object)),
            Value::Null | Value::Bool(_) => value.clone(),
        }
    }

    /// What of `text` may be written to a log: secret values redacted, then every URL without
    /// its userinfo, query and fragment ([`without_url_secrets`]).
    pub fn for_log(&self, text: &str) -> String {
        without_url_secrets(&self.text(text))
    }

    /// [`json`](Self::json) for an object.
    pub fn object(&self, object: &Map<String, Value>) -> Map<String, Value> {
        object.iter().map(|(key, value)| (self.text(key), self.json(value))).collect()
    }
}

impl std::fmt::Debug for Redactor {
    /// Names the markers, never the values.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.secrets.iter().map(|(_, marker)| marker)).finish()
    }
}

/// `text` with the userinfo, query and fragment removed from every URL in it (`scheme://…`
/// up to whitespace or a quote). Punctuation that closes the URL (`)`, `,`, `.`, `;`, `:`) is
/// kept after it.
pub fn without_url_secrets(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let after = &rest[at + 3..];
        let end =
            after.find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '`')).unwrap_or(after.len());
        let token = &after[..end];
        let closing = token.len() - token.trim_end_matches([')', ',', '.', ';', ':']).len();
        let (url, punctuation) = token.split_at(token.len() - closing);
        out.push_str(&rest[..at + 3]);
        out.push_str(without_userinfo_and_query(url));
        out.push_str(punctuation);
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// The part of a URL after `scheme://`, without `user:password@`, `?query` and `#fragment`.
fn without_userinfo_and_query(url: &str) -> &str {
    let url = url.find(['?', '#']).map_or(url, |at| &url[..at]);
    let authority_end = url.find('/').unwrap_or(url.len());
    match url[..authority_end].rfind('@') {
        Some(at) => &url[at + 1..],
        None => url,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn every_occurrence_of_a_secret_value_becomes_its_marker() {
        let redactor = Redactor::new([("STRIPE_KEY", "sk_live_123"), ("EMPTY", ""), ("SHORT", "sk")]);
        assert_eq!(
            redactor.text("key sk_live_123, again sk_live_123; sk"),
            "key [secret:STRIPE_KEY], again [secret:STRIPE_KEY]; [secret:SHORT]"
        );
        assert_eq!(redactor.text("nothing here"), "nothing here");
        assert_eq!(Redactor::new([("A", "é")]).text("café é"), "caf[secret:A] [secret:A]");
        assert!(!format!("{redactor:?}").contains("sk_live_123"));
    }

    #[test]
    fn json_is_redacted_in_strings_keys_and_numbers() {
        let redactor = Redactor::new([("K", "s3cr3t"), ("PIN", "4242")]);
        let value = json!({ "a": "x s3cr3t", "s3cr3t": [1, 4242, true, null], "n": 424242 });
        assert_eq!(
            redactor.json(&value),
            json!({ "a": "x [secret:K]", "[secret:K]": [1, "[secret:PIN]", true, null], "n": "[secret:PIN]42" })
        );
    }

    #[test]
    fn urls_lose_their_userinfo_query_and_fragment() {
        assert_eq!(
            without_url_secrets(
                "TypeError: fetch to https://api.example.com/v1/users?api_key=sk_live_1&x=2 failed: timeout"
            ),
            "TypeError: fetch to https://api.example.com/v1/users failed: timeout"
        );
        assert_eq!(
            without_url_secrets("error sending request for url (https://bob:pw@example.com:8443/a#frag)."),
            "error sending request for url (https://example.com:8443/a)."
        );
        assert_eq!(
            without_url_secrets(r#"invalid URL "http://u@h/p?q" and ftp://x/y"#),
            r#"invalid URL "http://h/p" and ftp://x/y"#
        );
        assert_eq!(without_url_secrets("no url: a://"), "no url: a://");
        assert_eq!(without_url_secrets("mailto-like user@host?x"), "mailto-like user@host?x");
    }
}
