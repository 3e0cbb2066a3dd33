//! Names chosen by admins and users: scope, connection, role and organization names,
//! display names, usernames, e-mail addresses, and the length rules of passwords.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;

use crate::text::preview;

/// Longest scope, connection, role or organization name, in characters.
pub const MAX_NAME_LEN: usize = 100;
/// Longest display name, in characters.
pub const MAX_DISPLAY_NAME_LEN: usize = 200;
/// Username length bounds, in characters.
pub const USERNAME_LEN: std::ops::RangeInclusive<usize> = 3..=64;
/// OWASP ASVS 5.0 V6.2.1 / NIST SP 800-63B §5.1.1.2: passwords have at least 8 characters.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longest password accepted, in characters: far above the 64 that ASVS 5.0 V6.2.9 asks
/// for, only bounding the work of hashing. Longer passwords are refused, never truncated
/// (V6.2.8).
pub const MAX_PASSWORD_CHARS: usize = 4096;

/// Which kind of name an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NameKind {
    /// An identity or API scope name.
    Scope,
    /// An API connection name.
    Connection,
    /// A role name.
    Role,
    /// An organization name.
    Organization,
    /// A display name.
    DisplayName,
    /// A username.
    Username,
    /// An e-mail address.
    Email,
}

impl NameKind {
    /// How the kind is called in messages.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Scope => "scope name",
            Self::Connection => "connection name",
            Self::Role => "role name",
            Self::Organization => "organization name",
            Self::DisplayName => "display name",
            Self::Username => "username",
            Self::Email => "e-mail address",
        }
    }
}

impl fmt::Display for NameKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// A name that breaks its rules; the message names the kind and the value.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{kind} {value:?} {reason}")]
pub struct NameError {
    /// Which kind of name.
    pub kind: NameKind,
    /// The offending value (shortened if very long).
    pub value: String,
    /// The rule it breaks.
    pub reason: &'static str,
}

fn name_error(kind: NameKind, value: &str, reason: &'static str) -> NameError {
    NameError { kind, value: preview(value), reason }
}

/// `[a-z0-9][a-z0-9._:-]*`, 1 to 100 characters: a valid RFC 6749 §3.3 scope token that
/// also works as a JWT audience and a URL path segment without escaping.
fn check_slug(kind: NameKind, raw: &str) -> Result<(), NameError> {
    let mut chars = raw.chars();
    match chars.next() {
        None => return Err(name_error(kind, raw, "must not be empty")),
        Some(c) if !(c.is_ascii_lowercase() || c.is_ascii_digit()) => {
            return Err(name_error(kind, raw, "must start with a lowercase letter or a digit"));
        }
        Some(_) => {}
    }
    if !chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._:-".contains(c)) {
        return Err(name_error(kind, raw, "may only contain lowercase letters, digits, '.', '_', ':' and '-'"));
    }
    if raw.len() > MAX_NAME_LEN {
        return Err(name_error(kind, raw, "is longer than 100 characters"));
    }
    Ok(())
}

macro_rules! string_newtype_impls {
    ($name:ident, $err:ty) => {
        impl $name {
            /// The name as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// Gives back the inner string.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl FromStr for $name {
            type Err = $err;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(deserializer)?;
                Self::parse(&raw).map_err(serde::de::Error::custom)
            }
        }
    };
}

macro_rules! slug_name {
    ($(#[$doc:meta])* $name:ident, $kind:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// Parses the name: `[a-z0-9][a-z0-9._:-]*`, 1 to 100 characters, taken as
            /// given (no trimming, no case folding).
            pub fn parse(raw: &str) -> Result<Self, NameError> {
                check_slug($kind, raw)?;
                Ok(Self(raw.to_owned()))
            }
        }

        string_newtype_impls!($name, NameError);
    };
}

slug_name!(
    /// The name of an identity or API scope (what clients put in `scope`).
    ScopeName,
    NameKind::Scope
);
slug_name!(
    /// The name of an API connection: the `aud` of its access tokens and the name of the
    /// API scope created with it. Deliberately not a URL (plain charset only).
    ConnectionName,
    NameKind::Connection
);
slug_name!(
    /// The name of a role (appears in tokens, so kept to the same charset).
    RoleName,
    NameKind::Role
);
slug_name!(
    /// The identifier of an organization (its display name is a [`DisplayName`]).
    OrganizationName,
    NameKind::Organization
);

/// A human-readable label: trimmed, 1 to 200 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DisplayName(String);

impl DisplayName {
    /// Trims and checks a display name.
    pub fn parse(raw: &str) -> Result<Self, NameError> {
        let kind = NameKind::DisplayName;
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(name_error(kind, raw, "must not be empty"));
        }
        if trimmed.chars().any(char::is_control) {
            return Err(name_error(kind, raw, "must not contain control characters"));
        }
        if trimmed.chars().count() > MAX_DISPLAY_NAME_LEN {
            return Err(name_error(kind, raw, "is longer than 200 characters"));
        }
        Ok(Self(trimmed.to_owned()))
    }
}

string_newtype_impls!(DisplayName, NameError);

/// A username: trimmed and lowercased, 3 to 64 characters from lowercase ASCII letters,
/// digits, `.`, `_`, `-` and `@` (so an e-mail address can serve as username).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Username(String);

impl Username {
    /// Trims, lowercases (ASCII only, so no Unicode case folding can make two names
    /// collide) and checks a username.
    pub fn parse(raw: &str) -> Result<Self, NameError> {
        let kind = NameKind::Username;
        let name = raw.trim().to_ascii_lowercase();
        if !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-@".contains(c)) {
            return Err(name_error(kind, raw, "may only contain letters, digits, '.', '_', '-' and '@'"));
        }
        if !USERNAME_LEN.contains(&name.len()) {
            return Err(name_error(kind, raw, "must have 3 to 64 characters"));
        }
        Ok(Self(name))
    }
}

string_newtype_impls!(Username, NameError);

/// Characters never allowed in our pragmatic addr-spec (quoted local parts, comments and
/// domain literals of RFC 5322 §3.4.1 are not supported).
const EMAIL_FORBIDDEN: &str = "\"(),:;<>[\\]";

/// RFC 5321 §4.5.3.1 / RFC 5322 §3.4.1, pragmatically: one `@`, a local part of 1 to 64
/// octets without leading, trailing or doubled dots, a domain of dot-separated labels
/// (letters, digits, `-`; at least two labels), no whitespace, 254 octets at most.
/// Returns what is wrong, or `None` when the address is acceptable.
pub(crate) fn email_problem(addr: &str) -> Option<&'static str> {
    if addr.len() > 254 {
        return Some("is longer than 254 characters");
    }
    if addr.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Some("must not contain spaces");
    }
    if addr.chars().any(|c| EMAIL_FORBIDDEN.contains(c)) {
        return Some("contains a character not allowed in an e-mail address");
    }
    let Some((local, domain)) = addr.split_once('@') else {
        return Some("must contain an @");
    };
    if domain.contains('@') {
        return Some("must contain only one @");
    }
    if local.is_empty() {
        return Some("has nothing before the @");
    }
    if local.len() > 64 {
        return Some("has more than 64 characters before the @");
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Some("has a misplaced dot before the @");
    }
    if !domain.contains('.') {
        return Some("must have a domain with a dot after the @");
    }
    let labels_ok = domain.split('.').all(|label| {
        !label.is_empty()
            && label.chars().count() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c.is_alphanumeric() || c == '-')
    });
    if !labels_ok {
        return Some("has an invalid domain after the @");
    }
    None
}

/// Lowercases the domain of an address `email_problem` accepted (domains are
/// case-insensitive; RFC 5321 §2.4 leaves the local part's case to the receiving host).
pub(crate) fn normalize_email_domain(addr: &str) -> String {
    match addr.rsplit_once('@') {
        Some((local, domain)) => format!("{local}@{}", domain.to_lowercase()),
        None => addr.to_owned(),
    }
}

/// A user's e-mail address: trimmed, checked like the `email` claim, and lowercased as a
/// whole so the same mailbox cannot register twice in different cases.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Email(String);

impl Email {
    /// Trims, checks and lowercases an address.
    pub fn parse(raw: &str) -> Result<Self, NameError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(name_error(NameKind::Email, raw, "must not be empty"));
        }
        match email_problem(trimmed) {
            Some(reason) => Err(name_error(NameKind::Email, raw, reason)),
            None => Ok(Self(trimmed.to_lowercase())),
        }
    }
}

string_newtype_impls!(Email, NameError);

/// A password that breaks the policy. The password itself is never repeated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum PasswordError {
    /// Fewer than [`MIN_PASSWORD_CHARS`] characters.
    #[error("the password must have at least {min} characters")]
    TooShort {
        /// The minimum.
        min: usize,
    },
    /// More than [`MAX_PASSWORD_CHARS`] characters.
    #[error("the password must have at most {max} characters")]
    TooLong {
        /// The maximum.
        max: usize,
    },
}

/// A password that meets the length rules. Its `Debug` hides it; it has no `Display` and
/// no serde, so it cannot end up in a log line or a response by accident.
///
/// These are only the length rules: the whole policy, which also refuses common, breached
/// and easily guessed passwords (ASVS 5.0 V6.2.4, V6.2.12), is
/// `tessera_auth::PasswordPolicy`, and every place that sets a password goes through it.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// ASVS 5.0 V6.2.1, V6.2.5, V6.2.8 and V6.2.9 (NIST SP 800-63B §5.1.1.2): at least 8
    /// characters (counted as Unicode scalar values, not bytes), 64 and more accepted and
    /// never truncated, and no composition rules (no "one digit, one symbol").
    pub fn check_length(raw: &str) -> Result<(), PasswordError> {
        let chars = raw.chars().count();
        if chars < MIN_PASSWORD_CHARS {
            return Err(PasswordError::TooShort { min: MIN_PASSWORD_CHARS });
        }
        if chars > MAX_PASSWORD_CHARS {
            return Err(PasswordError::TooLong { max: MAX_PASSWORD_CHARS });
        }
        Ok(())
    }

    /// Checks the length rules and keeps the password, exactly as given.
    pub fn new(raw: String) -> Result<Self, PasswordError> {
        Self::check_length(&raw)?;
        Ok(Self(raw))
    }

    /// The password, for hashing.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

#[cfg(test)]
mod tests;
