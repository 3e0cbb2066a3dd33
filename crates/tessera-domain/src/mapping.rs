//! Claim mappings: declarative rules that put user data (or, for machine tokens, the
//! application's own data) into token claims without code, and the declarations that
//! say where a script's claims go. Each rule names its target claim (optionally under a
//! namespace, as Auth0 asks: `https://example.com/roles`), the outputs it goes to (ID
//! token, access token, userinfo, introspection) and its freshness (fixed when the
//! grant is made, or computed again at every refresh).
//!
//! This module parses and checks rules; reading the values out of a user's data is
//! `tessera-claims`' work.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

use crate::claims::{ClaimError, CustomClaimKey, MAX_CUSTOM_CLAIM_KEY_LEN};
use crate::names::OrganizationName;
use crate::text::preview;

/// Longest namespace, in characters.
pub const MAX_NAMESPACE_LEN: usize = 150;

/// Whose tokens a rule is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TokenSubject {
    /// Tokens of a user's grant (authorization code, refresh token, password).
    User,
    /// Machine-to-machine tokens (client credentials).
    Machine,
}

impl TokenSubject {
    pub const ALL: [TokenSubject; 2] = [TokenSubject::User, TokenSubject::Machine];

    pub fn as_str(self) -> &'static str {
        match self {
            TokenSubject::User => "user",
            TokenSubject::Machine => "machine",
        }
    }
}

impl FromStr for TokenSubject {
    type Err = MappingError;
    fn from_str(s: &str) -> Result<Self, MappingError> {
        match s {
            "user" => Ok(TokenSubject::User),
            "machine" => Ok(TokenSubject::Machine),
            other => Err(MappingError::new("subject", format!("{:?} is not user or machine", preview(other)))),
        }
    }
}

impl fmt::Display for TokenSubject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a token carries a claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Output {
    IdToken,
    AccessToken,
    Userinfo,
    Introspection,
}

impl Output {
    pub const ALL: [Output; 4] = [Output::IdToken, Output::AccessToken, Output::Userinfo, Output::Introspection];

    pub fn as_str(self) -> &'static str {
        match self {
            Output::IdToken => "id_token",
            Output::AccessToken => "access_token",
            Output::Userinfo => "userinfo",
            Output::Introspection => "introspection",
        }
    }

    fn bit(self) -> u8 {
        match self {
            Output::IdToken => 1,
            Output::AccessToken => 2,
            Output::Userinfo => 4,
            Output::Introspection => 8,
        }
    }
}

impl FromStr for Output {
    type Err = MappingError;
    fn from_str(s: &str) -> Result<Self, MappingError> {
        Output::ALL.into_iter().find(|o| o.as_str() == s).ok_or_else(|| {
            MappingError::new(
                "outputs",
                format!(
                    "{:?} is not an output; expected id_token, access_token, userinfo or introspection",
                    preview(s)
                ),
            )
        })
    }
}

/// A set of outputs.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Outputs(u8);

impl Outputs {
    /// Where a claim goes when nothing declares it: the access token, and so
    /// introspection (the only outputs a machine token has).
    pub const ACCESS: Outputs = Outputs(2 | 8);

    pub fn of(outputs: impl IntoIterator<Item = Output>) -> Outputs {
        Outputs(outputs.into_iter().fold(0, |bits, o| bits | o.bit()))
    }

    /// Parses a list of output names; an empty list is refused.
    pub fn parse<S: AsRef<str>>(names: &[S]) -> Result<Outputs, MappingError> {
        let mut outputs = Outputs::default();
        for name in names {
            outputs.0 |= Output::from_str(name.as_ref().trim())?.bit();
        }
        if outputs.is_empty() {
            return Err(MappingError::new("outputs", "choose at least one output"));
        }
        Ok(outputs)
    }

    pub fn contains(self, output: Output) -> bool {
        self.0 & output.bit() != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Output> {
        Output::ALL.into_iter().filter(move |o| self.contains(*o))
    }

    /// The names, space-separated, in the order of [`Output::ALL`] (as stored).
    pub fn to_text(self) -> String {
        self.iter().map(Output::as_str).collect::<Vec<_>>().join(" ")
    }
}

impl fmt::Debug for Outputs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter().map(Output::as_str)).finish()
    }
}

/// When a claim's value is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Freshness {
    /// Once, when the grant is made (the code exchange or password grant); every token
    /// refreshed from the grant keeps that value.
    Grant,
    /// Again at every issuance, refreshes included.
    #[default]
    Refresh,
}

impl Freshness {
    pub fn as_str(self) -> &'static str {
        match self {
            Freshness::Grant => "grant",
            Freshness::Refresh => "refresh",
        }
    }
}

impl FromStr for Freshness {
    type Err = MappingError;
    fn from_str(s: &str) -> Result<Self, MappingError> {
        match s {
            "grant" => Ok(Freshness::Grant),
            "refresh" => Ok(Freshness::Refresh),
            other => Err(MappingError::new("freshness", format!("{:?} is not grant or refresh", preview(other)))),
        }
    }
}

/// An RFC 6901 JSON pointer: empty (the whole document) or `/`-separated reference
/// tokens, where `~0` and `~1` are the only escapes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct JsonPointer(String);

impl JsonPointer {
    pub fn parse(raw: &str) -> Result<JsonPointer, MappingError> {
        let invalid =
            |reason: &str| MappingError::new("path", format!("{:?} is not a JSON pointer: {reason}", preview(raw)));
        if !raw.is_empty() && !raw.starts_with('/') {
            return Err(invalid("it must be empty or start with '/', as in /plan or /billing/tier"));
        }
        if raw.len() > 500 {
            return Err(invalid("it is longer than 500 characters"));
        }
        let mut chars = raw.chars();
        while let Some(c) = chars.next() {
            if c == '~' && !matches!(chars.next(), Some('0' | '1')) {
                return Err(invalid("'~' must be followed by 0 or 1"));
            }
            if c.is_control() {
                return Err(invalid("it contains a control character"));
            }
        }
        Ok(JsonPointer(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Where a rule's value comes from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MappingSource {
    /// The user's value of a profile or custom claim (path: the claim type's name).
    Claim(String),
    /// A JSON pointer into the user's `app_metadata`.
    AppMetadata(JsonPointer),
    /// A JSON pointer into the user's `user_metadata`.
    UserMetadata(JsonPointer),
    /// The user's role names (an array).
    Roles,
    /// The organization's id: of the one named by the path, or of every organization the
    /// user belongs to (an array) when the path is empty.
    OrganizationId(Option<OrganizationName>),
    /// The organization's name, likewise.
    OrganizationName(Option<OrganizationName>),
    /// The member's roles in the organization named by the path (an array), or, with no
    /// path, an object of role arrays by organization name.
    OrganizationRoles(Option<OrganizationName>),
    /// A JSON pointer into the application's `app_metadata` (user and machine tokens).
    ApplicationMetadata(JsonPointer),
    /// Nothing by itself: declares where the script's claim of this name goes and when it
    /// is computed.
    Script,
}

impl MappingSource {
    /// The source names, as stored and accepted by the API.
    pub const NAMES: [&'static str; 9] = [
        "claim",
        "app_metadata",
        "user_metadata",
        "roles",
        "organization_id",
        "organization_name",
        "organization_roles",
        "application_metadata",
        "script",
    ];

    /// Parses a source and its path.
    pub fn parse(source: &str, path: &str) -> Result<MappingSource, MappingError> {
        let path = path.trim();
        let no_path = |source: MappingSource| {
            if path.is_empty() { Ok(source) } else { Err(MappingError::new("path", "this source takes no path")) }
        };
        let organization = || -> Result<Option<OrganizationName>, MappingError> {
            if path.is_empty() {
                return Ok(None);
            }
            OrganizationName::parse(path).map(Some).map_err(|e| MappingError::new("path", e.to_string()))
        };
        match source {
            "claim" => {
                let name = crate::claims::ClaimName::parse(path)
                    .map_err(|e| MappingError::new("path", format!("name a claim type: {e}")))?;
                Ok(MappingSource::Claim(name.as_str().to_owned()))
            }
            "app_metadata" => Ok(MappingSource::AppMetadata(JsonPointer::parse(path)?)),
            "user_metadata" => Ok(MappingSource::UserMetadata(JsonPointer::parse(path)?)),
            "roles" => no_path(MappingSource::Roles),
            "organization_id" => Ok(MappingSource::OrganizationId(organization()?)),
            "organization_name" => Ok(MappingSource::OrganizationName(organization()?)),
            "organization_roles" => Ok(MappingSource::OrganizationRoles(organization()?)),
            "application_metadata" => Ok(MappingSource::ApplicationMetadata(JsonPointer::parse(path)?)),
            "script" => no_path(MappingSource::Script),
            other => Err(MappingError::new(
                "source",
                format!("{:?} is not a source; expected one of {}", preview(other), MappingSource::NAMES.join(", ")),
            )),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            MappingSource::Claim(_) => "claim",
            MappingSource::AppMetadata(_) => "app_metadata",
            MappingSource::UserMetadata(_) => "user_metadata",
            MappingSource::Roles => "roles",
            MappingSource::OrganizationId(_) => "organization_id",
            MappingSource::OrganizationName(_) => "organization_name",
            MappingSource::OrganizationRoles(_) => "organization_roles",
            MappingSource::ApplicationMetadata(_) => "application_metadata",
            MappingSource::Script => "script",
        }
    }

    /// The path as stored (empty when the source takes none).
    pub fn path(&self) -> &str {
        match self {
            MappingSource::Claim(name) => name,
            MappingSource::AppMetadata(p) | MappingSource::UserMetadata(p) | MappingSource::ApplicationMetadata(p) => {
                p.as_str()
            }
            MappingSource::OrganizationId(o)
            | MappingSource::OrganizationName(o)
            | MappingSource::OrganizationRoles(o) => o.as_ref().map(OrganizationName::as_str).unwrap_or(""),
            MappingSource::Roles | MappingSource::Script => "",
        }
    }

    /// Machine tokens have no user: only the application's metadata and the script.
    pub fn serves(&self, subject: TokenSubject) -> bool {
        subject == TokenSubject::User || matches!(self, MappingSource::ApplicationMetadata(_) | MappingSource::Script)
    }
}

/// A checked rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimRule {
    pub subject: TokenSubject,
    pub source: MappingSource,
    /// The namespace the name is put under, if any (an http or https URL).
    pub namespace: Option<String>,
    /// The name, without the namespace.
    pub name: String,
    /// The claim's full name: the namespace joined to the name with one `/`.
    pub claim: String,
    pub outputs: Outputs,
    pub freshness: Freshness,
}

/// A rule as an admin enters it.
#[derive(Debug, Clone, Default)]
pub struct ClaimRuleInput<'a> {
    pub subject: &'a str,
    pub source: &'a str,
    pub path: &'a str,
    pub namespace: &'a str,
    pub name: &'a str,
    /// Empty: the default (ID token, access token, userinfo and introspection for user
    /// tokens; access token and introspection for machine tokens).
    pub outputs: &'a [String],
    /// Empty: `refresh`.
    pub freshness: &'a str,
}

impl ClaimRule {
    /// Checks every part of a rule; the error names the field at fault.
    pub fn parse(input: &ClaimRuleInput<'_>) -> Result<ClaimRule, MappingError> {
        let subject = TokenSubject::from_str(input.subject.trim())?;
        let source = MappingSource::parse(input.source.trim(), input.path)?;
        if !source.serves(subject) {
            return Err(MappingError::new(
                "source",
                "machine tokens have no user: map the application's metadata (application_metadata) or declare a script claim",
            ));
        }
        let namespace = match input.namespace.trim() {
            "" => None,
            raw => Some(check_namespace(raw)?),
        };
        let name = input.name.trim();
        if name.is_empty() {
            return Err(MappingError::new("name", "give the claim a name"));
        }
        if name.starts_with('/') {
            return Err(MappingError::new("name", "the name may not start with '/'"));
        }
        let claim = match &namespace {
            Some(ns) if ns.ends_with('/') => format!("{ns}{name}"),
            Some(ns) => format!("{ns}/{name}"),
            None => name.to_owned(),
        };
        CustomClaimKey::parse(&claim).map_err(|e| match e {
            ClaimError::Reserved { claim } => {
                MappingError::new("name", format!("{claim} is a registered claim that only Tessera sets"))
            }
            other => MappingError::new("name", other.to_string()),
        })?;
        let outputs = match (subject, input.outputs.is_empty()) {
            (TokenSubject::User, true) => Outputs::of(Output::ALL),
            (TokenSubject::Machine, true) => Outputs::ACCESS,
            (_, false) => Outputs::parse(input.outputs)?,
        };
        if subject == TokenSubject::Machine && outputs != Outputs::ACCESS {
            return Err(MappingError::new(
                "outputs",
                "a machine token has only its access token, which introspection answers: choose access_token and introspection",
            ));
        }
        let freshness = match input.freshness.trim() {
            "" => Freshness::default(),
            raw => Freshness::from_str(raw)?,
        };
        Ok(ClaimRule { subject, source, namespace, name: name.to_owned(), claim, outputs, freshness })
    }
}

/// An http or https URL without query or fragment, as Auth0 asks of namespaces (so a
/// namespaced claim cannot collide with a registered or a standard one).
fn check_namespace(raw: &str) -> Result<String, MappingError> {
    let invalid = |reason: &str| MappingError::new("namespace", format!("{:?} {reason}", preview(raw)));
    if raw.chars().count() > MAX_NAMESPACE_LEN || raw.len() >= MAX_CUSTOM_CLAIM_KEY_LEN {
        return Err(invalid("is too long"));
    }
    let url = url::Url::parse(raw).map_err(|_| invalid("is not a URL such as https://example.com/"))?;
    if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("must be an http or https URL such as https://example.com/"));
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("may not have a query, a fragment or credentials"));
    }
    if !raw.chars().all(|c| c.is_ascii_graphic()) {
        return Err(invalid("may only contain printable ASCII characters without spaces"));
    }
    Ok(raw.to_owned())
}

/// A rule that cannot be accepted; `field` names the input at fault.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{message}")]
pub struct MappingError {
    pub field: &'static str,
    pub message: String,
}

impl MappingError {
    pub fn new(field: &'static str, message: impl Into<String>) -> MappingError {
        MappingError { field, message: message.into() }
    }
}

#[cfg(test)]
mod tests;
