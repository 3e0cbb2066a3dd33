//! Scopes: the `scope` parameter of RFC 6749 §3.3 as a set of valid scope tokens, and
//! the rules that decide which requested scopes an application is granted.
//!
//! Separator policy: RFC 6749 §3.3 delimits scope tokens by single spaces. Like
//! IdentityServer and node `oidc-provider`, [`ScopeSet::parse`] tolerates leading, trailing
//! and repeated spaces (empty pieces are skipped), but every other character outside the
//! scope-token set — tabs, newlines, `"`, `\`, non-ASCII — is refused, naming the token.

mod allowed;
mod catalog;
mod resolve;

use std::borrow::Borrow;
use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;

pub use allowed::allowed_scopes;
pub use catalog::{ScopeCatalog, ScopeKind, classify};
pub use resolve::{
    AllowedScopes, ApiGrant, IdentityGrant, RefusalReason, RefusedScope, ResolvedScopes, narrow,
    resolve_for_client_credentials, resolve_requested, resolve_requested_lenient,
};

use crate::text::preview;

/// OIDC Core §3.1.2.1: a request is an OpenID Connect request only if it has `openid`.
pub const OPENID: &str = "openid";
/// OIDC Core §11: `offline_access` asks for a refresh token usable without the user present.
pub const OFFLINE_ACCESS: &str = "offline_access";
/// Longest scope token accepted, in characters (RFC 6749 sets no bound; we do, to bound work).
pub const MAX_SCOPE_TOKEN_LEN: usize = 200;

/// What went wrong with a scope; each variant names the scope concerned.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ScopeError {
    /// RFC 6749 §3.3: a scope-token has at least one character.
    #[error("a scope name must not be empty")]
    EmptyToken,
    /// RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
    #[error("scope {token:?} contains the character {ch:?}, which a scope name cannot contain")]
    InvalidCharacter {
        /// The offending token (shortened if very long).
        token: String,
        /// The first character outside the allowed set.
        ch: char,
    },
    /// The token is longer than [`MAX_SCOPE_TOKEN_LEN`].
    #[error("scope {token:?} is longer than {max} characters")]
    TooLong {
        /// The offending token (shortened).
        token: String,
        /// The limit.
        max: usize,
    },
    /// RFC 6749 §5.2 `invalid_scope`: the scope is unknown or not allowed to this application.
    #[error("scope {scope:?} {reason}")]
    NotAllowed {
        /// The refused scope.
        scope: String,
        /// Why it was refused.
        reason: RefusalReason,
    },
    /// RFC 6749 §6: a refresh request may not ask for a scope that was not granted.
    #[error("scope {scope:?} was not granted originally, so a refresh cannot ask for it")]
    NotGranted {
        /// The scope that would widen the grant.
        scope: String,
    },
    /// A client credentials request that would be granted no API scope at all.
    #[error("no API scope is allowed to this application, so no access token can be issued")]
    NothingToGrant,
    /// Building a catalog: two scopes with the same name, or a reserved name.
    #[error("scope {scope:?} is defined twice or uses a reserved name")]
    DuplicateInCatalog {
        /// The clashing name.
        scope: String,
    },
}

impl ScopeError {
    /// The RFC 6749 §5.2 / §4.1.2.1 error code for a request refused with this error.
    pub fn oauth_error_code(&self) -> &'static str {
        "invalid_scope"
    }

    /// The scope named by this error, when there is one.
    pub fn scope(&self) -> Option<&str> {
        match self {
            Self::EmptyToken | Self::NothingToGrant => None,
            Self::InvalidCharacter { token, .. } | Self::TooLong { token, .. } => Some(token),
            Self::NotAllowed { scope, .. } | Self::NotGranted { scope } | Self::DuplicateInCatalog { scope } => {
                Some(scope)
            }
        }
    }
}

/// RFC 6749 §3.3: `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`, i.e. printable ASCII
/// except space, `"` and `\`.
pub(crate) fn is_scope_char(ch: char) -> bool {
    matches!(ch, '\x21' | '\x23'..='\x5B' | '\x5D'..='\x7E')
}

/// One scope token, valid per RFC 6749 §3.3 and at most [`MAX_SCOPE_TOKEN_LEN`] characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ScopeToken(String);

impl ScopeToken {
    /// RFC 6749 §3.3: `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`.
    pub fn parse(raw: &str) -> Result<Self, ScopeError> {
        if raw.is_empty() {
            return Err(ScopeError::EmptyToken);
        }
        if let Some(ch) = raw.chars().find(|c| !is_scope_char(*c)) {
            return Err(ScopeError::InvalidCharacter { token: preview(raw), ch });
        }
        // Only ASCII remains, so bytes are characters.
        if raw.len() > MAX_SCOPE_TOKEN_LEN {
            return Err(ScopeError::TooLong { token: preview(raw), max: MAX_SCOPE_TOKEN_LEN });
        }
        Ok(Self(raw.to_owned()))
    }

    /// A token from a constant of this crate known to be valid (checked in debug builds).
    pub(crate) fn from_valid(raw: &str) -> Self {
        debug_assert!(Self::parse(raw).is_ok(), "invalid scope constant {raw:?}");
        Self(raw.to_owned())
    }

    /// The token text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Gives back the inner string.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for ScopeToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for ScopeToken {
    type Err = ScopeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl AsRef<str> for ScopeToken {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Lets a `BTreeSet<ScopeToken>` be searched with a `&str` (same ordering as `String`).
impl Borrow<str> for ScopeToken {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl Serialize for ScopeToken {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ScopeToken {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// A set of scope tokens: order-insensitive, without duplicates, iterated in sorted order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ScopeSet(BTreeSet<ScopeToken>);

impl ScopeSet {
    /// The empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// RFC 6749 §3.3: `scope = scope-token *( SP scope-token )`. Duplicates are dropped,
    /// order does not matter, extra spaces are tolerated, `""` is the empty set; any other
    /// character outside the scope-token set is refused (see the module docs).
    pub fn parse(raw: &str) -> Result<Self, ScopeError> {
        raw.split(' ').filter(|piece| !piece.is_empty()).map(ScopeToken::parse).collect()
    }

    /// Whether the set holds a token with this text.
    pub fn contains(&self, scope: &str) -> bool {
        self.0.contains(scope)
    }

    /// The tokens in sorted order.
    pub fn iter(&self) -> impl Iterator<Item = &ScopeToken> + '_ {
        self.0.iter()
    }

    /// How many tokens.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether every token of `self` is in `other`.
    pub fn is_subset(&self, other: &ScopeSet) -> bool {
        self.0.is_subset(&other.0)
    }

    /// The tokens in both sets.
    pub fn intersection(&self, other: &ScopeSet) -> ScopeSet {
        Self(self.0.intersection(&other.0).cloned().collect())
    }

    /// The tokens in either set.
    pub fn union(&self, other: &ScopeSet) -> ScopeSet {
        Self(self.0.union(&other.0).cloned().collect())
    }

    /// Adds a token; `false` if it was already there.
    pub fn insert(&mut self, token: ScopeToken) -> bool {
        self.0.insert(token)
    }

    /// Removes a token; `false` if it was not there.
    pub fn remove(&mut self, scope: &str) -> bool {
        self.0.remove(scope)
    }

    /// OIDC Core §3.1.2.1: whether this is an OpenID Connect request.
    pub fn has_openid(&self) -> bool {
        self.contains(OPENID)
    }

    /// OIDC Core §11: whether a refresh token for offline use is asked for.
    pub fn has_offline_access(&self) -> bool {
        self.contains(OFFLINE_ACCESS)
    }
}

/// The canonical form: tokens sorted, separated by single spaces (`""` when empty).
impl fmt::Display for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for token in &self.0 {
            if !first {
                f.write_str(" ")?;
            }
            first = false;
            f.write_str(token.as_str())?;
        }
        Ok(())
    }
}

impl FromStr for ScopeSet {
    type Err = ScopeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl FromIterator<ScopeToken> for ScopeSet {
    fn from_iter<I: IntoIterator<Item = ScopeToken>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}

impl Extend<ScopeToken> for ScopeSet {
    fn extend<I: IntoIterator<Item = ScopeToken>>(&mut self, iter: I) {
        self.0.extend(iter);
    }
}

impl<'a> IntoIterator for &'a ScopeSet {
    type Item = &'a ScopeToken;
    type IntoIter = std::collections::btree_set::Iter<'a, ScopeToken>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl IntoIterator for ScopeSet {
    type Item = ScopeToken;
    type IntoIter = std::collections::btree_set::IntoIter<ScopeToken>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

/// RFC 9068 §2.2.3 / RFC 7662 §2.2: `scope` is one space-separated string.
impl Serialize for ScopeSet {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Reads the space-separated string form, and also a JSON array of tokens (the form some
/// providers, Cotia among them, put in tokens).
impl<'de> Deserialize<'de> for ScopeSet {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ScopeSetVisitor;

        impl<'de> serde::de::Visitor<'de> for ScopeSetVisitor {
            type Value = ScopeSet;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a space-separated scope string or an array of scope tokens")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ScopeSet, E> {
                ScopeSet::parse(v).map_err(E::custom)
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<ScopeSet, A::Error> {
                let mut set = ScopeSet::new();
                while let Some(raw) = seq.next_element::<String>()? {
                    set.insert(ScopeToken::parse(&raw).map_err(serde::de::Error::custom)?);
                }
                Ok(set)
            }
        }

        deserializer.deserialize_any(ScopeSetVisitor)
    }
}

#[cfg(test)]
mod tests;
