//! Claim value types and the parsing of values: a form input string becomes the JSON value
//! that is stored and put in tokens; a JSON value from the management API is checked.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::{Number, Value};

use crate::claims::ClaimError;
use crate::date::ClaimDate;
use crate::names::{email_problem, normalize_email_domain};
use crate::text::preview;

/// Longest `string` value, in characters.
pub const MAX_STRING_CLAIM_LEN: usize = 1000;
/// Largest `json` value, in bytes of its serialised form.
pub const MAX_JSON_CLAIM_BYTES: usize = 16 * 1024;
/// Longest `url` value, in characters.
pub const MAX_URL_CLAIM_LEN: usize = 2000;

/// The type of a claim's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClaimValueType {
    /// Free text, trimmed, 1–1000 characters.
    String,
    /// `true` or `false`.
    Boolean,
    /// A finite JSON number.
    Number,
    /// OIDC Core §5.1 `birthdate`: `YYYY-MM-DD`, `0000-MM-DD` or `YYYY`.
    Date,
    /// An e-mail address (RFC 5322 addr-spec, pragmatically checked).
    Email,
    /// OIDC Core §5.1 `phone_number`: E.164, `+` and 7–15 digits.
    Phone,
    /// An absolute `http`/`https` URL.
    Url,
    /// Any JSON value but `null`, at most 16 KiB.
    Json,
}

impl ClaimValueType {
    /// Every type, in display order.
    pub const ALL: [ClaimValueType; 8] =
        [Self::String, Self::Boolean, Self::Number, Self::Date, Self::Email, Self::Phone, Self::Url, Self::Json];

    /// The lowercase name (also the serde form).
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Boolean => "boolean",
            Self::Number => "number",
            Self::Date => "date",
            Self::Email => "email",
            Self::Phone => "phone",
            Self::Url => "url",
            Self::Json => "json",
        }
    }

    /// Parses the lowercase name.
    pub fn parse(raw: &str) -> Result<Self, ClaimError> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == raw)
            .ok_or_else(|| ClaimError::UnknownValueType { value: preview(raw) })
    }

    fn invalid(&self, reason: impl Into<String>) -> ClaimError {
        ClaimError::InvalidValue { claim: None, value_type: *self, reason: reason.into() }
    }

    /// Parses a form input into the JSON value to store and emit. Surrounding whitespace
    /// is trimmed for every type; the rules per type are on [`ClaimValueType`]'s variants,
    /// plus: booleans accept `true/false/on/off/1/0/yes/no` in any case; numbers that are
    /// integers are stored as integers; e-mail domains are lowercased; phone numbers lose
    /// spaces, dashes, dots and parentheses (OIDC Core §5.1 recommends E.164), keeping an
    /// RFC 3966 `;ext=` suffix; URLs and dates are stored as typed.
    pub fn parse_input(&self, raw: &str) -> Result<Value, ClaimError> {
        let input = raw.trim();
        if input.is_empty() {
            return Err(self.invalid("is empty"));
        }
        match self {
            Self::String => self.string(input),
            Self::Boolean => match input.to_ascii_lowercase().as_str() {
                "true" | "on" | "1" | "yes" => Ok(Value::Bool(true)),
                "false" | "off" | "0" | "no" => Ok(Value::Bool(false)),
                _ => Err(self.invalid("is not a yes/no value (true or false)")),
            },
            Self::Number => self.number(input),
            Self::Date => {
                ClaimDate::parse(input).map(|d| Value::String(d.to_string())).map_err(|e| self.invalid(e.reason))
            }
            Self::Email => match email_problem(input) {
                Some(reason) => Err(self.invalid(reason)),
                None => Ok(Value::String(normalize_email_domain(input))),
            },
            Self::Phone => self.phone(input).map(Value::String),
            Self::Url => self.url(input).map(|()| Value::String(input.to_owned())),
            Self::Json => {
                if input.len() > MAX_JSON_CLAIM_BYTES {
                    return Err(self.invalid("is larger than 16 KiB"));
                }
                let value: Value = serde_json::from_str(input).map_err(|_| self.invalid("is not valid JSON"))?;
                if value.is_null() {
                    return Err(self.invalid("is null; leave the claim empty instead"));
                }
                Ok(value)
            }
        }
    }

    /// Checks a JSON value from the API. Strict: the value must already be in the form
    /// [`Self::parse_input`] would store (a JSON boolean for `boolean`, a normalised
    /// phone number, a trimmed string…), so what is stored is exactly what is emitted.
    pub fn check_value(&self, value: &Value) -> Result<(), ClaimError> {
        let normalized = self.normalize_value(value)?;
        if &normalized == value { Ok(()) } else { Err(self.invalid(self.canonical_hint())) }
    }

    /// Checks a JSON value from the API and returns its canonical form (lenient where
    /// [`Self::check_value`] is strict: `" +55 (11) 9999-9999 "` becomes `"+551199999999"`).
    pub fn normalize_value(&self, value: &Value) -> Result<Value, ClaimError> {
        match (self, value) {
            (_, Value::Null) => Err(self.invalid("is null; remove the claim instead")),
            (Self::Boolean, Value::Bool(_)) | (Self::Number, Value::Number(_)) => Ok(value.clone()),
            (Self::Boolean, _) => Err(self.invalid("is not a JSON boolean")),
            (Self::Number, _) => Err(self.invalid("is not a JSON number")),
            (Self::Json, _) => {
                if value.to_string().len() > MAX_JSON_CLAIM_BYTES {
                    Err(self.invalid("is larger than 16 KiB"))
                } else {
                    Ok(value.clone())
                }
            }
            (_, Value::String(s)) => self.parse_input(s),
            _ => Err(self.invalid("is not a JSON string")),
        }
    }

    fn canonical_hint(&self) -> &'static str {
        match self {
            Self::Email => "must have a lowercase domain (e.g. Jane@example.com)",
            Self::Phone => "must be + and digits only (E.164, e.g. +5511999999999)",
            _ => "must not have surrounding whitespace",
        }
    }

    fn string(&self, input: &str) -> Result<Value, ClaimError> {
        if input.chars().count() > MAX_STRING_CLAIM_LEN {
            return Err(self.invalid("is longer than 1000 characters"));
        }
        if input.chars().any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r')) {
            return Err(self.invalid("contains a control character"));
        }
        Ok(Value::String(input.to_owned()))
    }

    fn number(&self, input: &str) -> Result<Value, ClaimError> {
        if input.len() > 100 {
            return Err(self.invalid("is not a number"));
        }
        if let Ok(i) = input.parse::<i64>() {
            return Ok(Value::Number(i.into()));
        }
        if let Ok(u) = input.parse::<u64>() {
            return Ok(Value::Number(u.into()));
        }
        // Rust also reads "inf" and "NaN"; `from_f64` refuses non-finite values.
        input
            .parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map(Value::Number)
            .ok_or_else(|| self.invalid("is not a finite number"))
    }

    /// OIDC Core §5.1 `phone_number`: E.164 (`+`, country code, 7–15 digits in all), with an
    /// optional RFC 3966 extension `;ext=1234`.
    fn phone(&self, input: &str) -> Result<String, ClaimError> {
        let (number, ext) = match input.split_once(";ext=") {
            Some((n, e)) => (n, Some(e)),
            None => (input, None),
        };
        let Some(rest) = number.strip_prefix('+') else {
            return Err(self.invalid("must start with + and the country code (E.164)"));
        };
        let mut digits = String::with_capacity(16);
        for c in rest.chars() {
            match c {
                '0'..='9' => digits.push(c),
                ' ' | '-' | '.' | '(' | ')' => {}
                _ => {
                    return Err(self.invalid("may only contain digits, spaces, dashes, dots and parentheses after +"));
                }
            }
        }
        if !(7..=15).contains(&digits.len()) {
            return Err(self.invalid("must have 7 to 15 digits (E.164)"));
        }
        if digits.starts_with('0') {
            return Err(self.invalid("has a country code starting with 0"));
        }
        match ext {
            None => Ok(format!("+{digits}")),
            Some(e) if (1..=10).contains(&e.len()) && e.bytes().all(|b| b.is_ascii_digit()) => {
                Ok(format!("+{digits};ext={e}"))
            }
            Some(_) => Err(self.invalid("has an extension that is not 1 to 10 digits")),
        }
    }

    fn url(&self, input: &str) -> Result<(), ClaimError> {
        if input.chars().count() > MAX_URL_CLAIM_LEN {
            return Err(self.invalid("is longer than 2000 characters"));
        }
        if input.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(self.invalid("contains whitespace"));
        }
        // The URL standard reads `https:///host` and `https:host` as `https://host/`;
        // a claim value must say what it means.
        let lower = input.to_ascii_lowercase();
        let after_slashes = lower.strip_prefix("https://").or_else(|| lower.strip_prefix("http://"));
        match after_slashes {
            None => return Err(self.invalid("must be an absolute http or https URL (https://…)")),
            Some(rest) if rest.is_empty() || rest.starts_with(['/', '?', '#', '\\']) => {
                return Err(self.invalid("has no host"));
            }
            Some(_) => {}
        }
        let url = url::Url::parse(input).map_err(|_| self.invalid("is not an absolute URL (https://…)"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(self.invalid("must be an http or https URL"));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(self.invalid("has no host"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(self.invalid("must not contain a user name or password"));
        }
        Ok(())
    }
}

impl fmt::Display for ClaimValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ClaimValueType {
    type Err = ClaimError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests;
