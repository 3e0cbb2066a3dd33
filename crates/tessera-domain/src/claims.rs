//! Claim names, the registered claims no custom claim may override, and the error type
//! for claims and their values.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use thiserror::Error;

use crate::claim_value::ClaimValueType;
use crate::text::preview;

/// Longest claim type name, in characters.
pub const MAX_CLAIM_NAME_LEN: usize = 100;
/// Longest custom claim key, in characters.
pub const MAX_CUSTOM_CLAIM_KEY_LEN: usize = 200;

/// Claims set by the token format itself (RFC 7519 §4.1, RFC 9068 §2.2, RFC 8693 §4,
/// OIDC Core §2 and §3.1.3.6, RFC 7800), and Tessera's own `grant_id` (ties an access
/// token to its grant, so revoking the grant ends the token) and `gty`: custom claims
/// never override them.
pub const RESERVED_CLAIMS: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "exp",
    "nbf",
    "iat",
    "jti",
    "client_id",
    "scope",
    "auth_time",
    "nonce",
    "acr",
    "amr",
    "azp",
    "sid",
    "cnf",
    "at_hash",
    "c_hash",
    "grant_id",
    "gty",
    "act",
    "may_act",
];

/// What went wrong with a claim name or value; each variant names the claim or value.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ClaimError {
    /// The name is one of [`RESERVED_CLAIMS`].
    #[error("claim {claim:?} is set by Tessera itself and cannot be a custom claim")]
    Reserved {
        /// The reserved name as given.
        claim: String,
    },
    /// A claim type name or custom claim key that breaks the naming rules.
    #[error("claim name {name:?} {reason}")]
    InvalidName {
        /// The offending name (shortened if very long).
        name: String,
        /// What rule it breaks.
        reason: &'static str,
    },
    /// A value type name that is not one of [`ClaimValueType::ALL`].
    #[error("{value:?} is not a claim value type; expected string, boolean, number, date, email, phone, url or json")]
    UnknownValueType {
        /// The offending text (shortened).
        value: String,
    },
    /// A value that does not fit its claim's type. The value itself is not repeated: it
    /// may be personal data and error messages end up in logs.
    #[error("{}", invalid_value_message(.claim.as_deref(), .reason))]
    InvalidValue {
        /// The claim, when the caller named it.
        claim: Option<String>,
        /// The type the value was checked against.
        value_type: ClaimValueType,
        /// What is wrong, phrased to follow "the value …".
        reason: String,
    },
}

fn invalid_value_message(claim: Option<&str>, reason: &str) -> String {
    match claim {
        Some(claim) => format!("claim {claim:?}: the value {reason}"),
        None => format!("the value {reason}"),
    }
}

impl ClaimError {
    /// The claim (or claim name) this error is about, when known.
    pub fn claim(&self) -> Option<&str> {
        match self {
            Self::Reserved { claim } => Some(claim),
            Self::InvalidName { name, .. } => Some(name),
            Self::UnknownValueType { .. } => None,
            Self::InvalidValue { claim, .. } => claim.as_deref(),
        }
    }

    /// Names the claim on a value error (other errors already name what they are about).
    pub fn with_claim(self, name: &str) -> Self {
        match self {
            Self::InvalidValue { value_type, reason, .. } => {
                Self::InvalidValue { claim: Some(name.to_owned()), value_type, reason }
            }
            other => other,
        }
    }
}

/// Whether `name` is a registered claim. Compared ignoring ASCII case, so `SUB` or `Iss`
/// cannot be slipped past relying parties that look claims up loosely.
pub fn is_reserved(name: &str) -> bool {
    RESERVED_CLAIMS.iter().any(|r| r.eq_ignore_ascii_case(name))
}

/// docs/custom-claims.md: custom claims never override registered claims.
pub fn check_not_reserved(key: &str) -> Result<(), ClaimError> {
    if is_reserved(key) { Err(ClaimError::Reserved { claim: key.to_owned() }) } else { Ok(()) }
}

/// Checks every key of a custom-claims object ([`CustomClaimKey`] rules, reserved names
/// refused) and reports the first bad key in sorted order, so the answer is deterministic.
pub fn check_custom_claims(claims: &Map<String, Value>) -> Result<(), ClaimError> {
    let mut keys: Vec<&String> = claims.keys().collect();
    keys.sort();
    for key in keys {
        CustomClaimKey::parse(key)?;
    }
    Ok(())
}

/// Whether a user has a value for a claim: absent, JSON `null` and blank strings count as
/// no value (such claims are omitted from tokens and count as missing when required).
pub fn has_value(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) => !s.trim().is_empty(),
        Some(_) => true,
    }
}

/// Parses a form input for claim `name` of type `value_type`; errors name the claim.
pub fn validate_claim_input(name: &str, value_type: ClaimValueType, raw: &str) -> Result<Value, ClaimError> {
    value_type.parse_input(raw).map_err(|e| e.with_claim(name))
}

/// The name of a claim type (standard or custom): 1 to 100 characters, lowercase ASCII
/// letters, digits, `_`, `-` and `.`, starting with a letter (`phone_number`, `employee.id`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClaimName(String);

impl ClaimName {
    /// Parses a claim type name (see the type's rules).
    pub fn parse(raw: &str) -> Result<Self, ClaimError> {
        let invalid = |reason| ClaimError::InvalidName { name: preview(raw), reason };
        let mut chars = raw.chars();
        match chars.next() {
            None => return Err(invalid("must not be empty")),
            Some(c) if !c.is_ascii_lowercase() => {
                return Err(invalid("must start with a lowercase letter"));
            }
            Some(_) => {}
        }
        if !chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_-.".contains(c)) {
            return Err(invalid("may only contain lowercase letters, digits, '_', '-' and '.'"));
        }
        if raw.len() > MAX_CLAIM_NAME_LEN {
            return Err(invalid("is longer than 100 characters"));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is a registered claim name (see [`is_reserved`]).
    pub fn is_reserved(&self) -> bool {
        is_reserved(&self.0)
    }
}

/// The key of a custom token claim (from scripts, mappings or the management API): 1 to 200
/// printable ASCII characters without spaces, so namespaced URLs such as
/// `https://example.com/roles` fit, and never a registered claim.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CustomClaimKey(String);

impl CustomClaimKey {
    /// Parses a custom claim key (see the type's rules); reserved names are
    /// [`ClaimError::Reserved`].
    pub fn parse(raw: &str) -> Result<Self, ClaimError> {
        let invalid = |reason| ClaimError::InvalidName { name: preview(raw), reason };
        if raw.is_empty() {
            return Err(invalid("must not be empty"));
        }
        if !raw.chars().all(|c| c.is_ascii_graphic()) {
            return Err(invalid("may only contain printable ASCII characters without spaces"));
        }
        if raw.len() > MAX_CUSTOM_CLAIM_KEY_LEN {
            return Err(invalid("is longer than 200 characters"));
        }
        check_not_reserved(raw)?;
        Ok(Self(raw.to_owned()))
    }

    /// The key.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

macro_rules! string_name_impls {
    ($name:ident) => {
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl FromStr for $name {
            type Err = ClaimError;
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

string_name_impls!(ClaimName);
string_name_impls!(CustomClaimKey);

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn every_registered_claim_is_reserved() {
        for claim in [
            "iss",
            "sub",
            "aud",
            "exp",
            "nbf",
            "iat",
            "jti",
            "client_id",
            "scope",
            "auth_time",
            "nonce",
            "acr",
            "amr",
            "azp",
            "sid",
            "cnf",
            "at_hash",
            "c_hash",
            "grant_id",
            "gty",
            "act",
            "may_act",
        ] {
            assert!(is_reserved(claim), "{claim}");
        }
        assert_eq!(RESERVED_CLAIMS.len(), 22);
    }

    #[test]
    fn reserved_names_are_matched_ignoring_case() {
        assert!(is_reserved("SUB"));
        assert!(is_reserved("Client_ID"));
        assert!(!is_reserved("subject"));
        assert!(!is_reserved("roles"));
    }

    #[test]
    fn a_reserved_key_is_refused_with_its_name() {
        let err = check_not_reserved("aud").unwrap_err();
        assert_eq!(err, ClaimError::Reserved { claim: "aud".into() });
        assert!(err.to_string().contains("\"aud\""), "{err}");
        assert_eq!(err.claim(), Some("aud"));
        assert!(check_not_reserved("roles").is_ok());
    }

    #[test]
    fn custom_claims_report_the_first_reserved_key_in_sorted_order() {
        let map = json!({"zz": 1, "sub": "x", "iss": "y", "roles": ["a"]});
        let err = check_custom_claims(map.as_object().unwrap()).unwrap_err();
        assert_eq!(err, ClaimError::Reserved { claim: "iss".into() });
    }

    #[test]
    fn custom_claims_without_reserved_keys_pass() {
        let map = json!({"https://example.com/roles": ["admin"], "tenant": "acme"});
        assert!(check_custom_claims(map.as_object().unwrap()).is_ok());
        assert!(check_custom_claims(&Map::new()).is_ok());
    }

    #[test]
    fn custom_claims_with_a_spaced_key_are_refused() {
        let map = json!({"my claim": 1});
        let err = check_custom_claims(map.as_object().unwrap()).unwrap_err();
        assert_eq!(err.claim(), Some("my claim"));
    }

    #[test]
    fn claim_names_are_lowercase_identifiers() {
        for ok in ["sub", "phone_number", "employee.id", "x-tenant", "a1"] {
            assert_eq!(ClaimName::parse(ok).unwrap().as_str(), ok);
        }
        let max = format!("a{}", "b".repeat(MAX_CLAIM_NAME_LEN - 1));
        assert!(ClaimName::parse(&max).is_ok());
    }

    #[test]
    fn claim_names_breaking_the_rules_are_refused_naming_them() {
        for bad in ["", "Name", "1abc", "_x", "given name", "a/b", "né"] {
            let err = ClaimName::parse(bad).unwrap_err();
            assert!(matches!(&err, ClaimError::InvalidName { name, .. } if name == bad), "{bad:?}: {err:?}");
        }
        assert!(ClaimName::parse(&"a".repeat(MAX_CLAIM_NAME_LEN + 1)).is_err());
    }

    #[test]
    fn claim_names_know_whether_they_are_reserved() {
        assert!(ClaimName::parse("sub").unwrap().is_reserved());
        assert!(!ClaimName::parse("email").unwrap().is_reserved());
    }

    #[test]
    fn custom_claim_keys_allow_namespaced_urls() {
        let k = CustomClaimKey::parse("https://example.com/roles").unwrap();
        assert_eq!(k.to_string(), "https://example.com/roles");
        assert!(CustomClaimKey::parse("Tenant_ID").is_ok());
    }

    #[test]
    fn custom_claim_keys_refuse_spaces_controls_and_reserved_names() {
        assert!(matches!(CustomClaimKey::parse("a b"), Err(ClaimError::InvalidName { .. })));
        assert!(matches!(CustomClaimKey::parse("a\u{0}"), Err(ClaimError::InvalidName { .. })));
        assert!(CustomClaimKey::parse("").is_err());
        assert!(CustomClaimKey::parse(&"k".repeat(MAX_CUSTOM_CLAIM_KEY_LEN)).is_ok());
        assert!(CustomClaimKey::parse(&"k".repeat(MAX_CUSTOM_CLAIM_KEY_LEN + 1)).is_err());
        assert_eq!(CustomClaimKey::parse("nonce"), Err(ClaimError::Reserved { claim: "nonce".into() }));
    }

    #[test]
    fn names_round_trip_through_serde_and_refuse_invalid_input() {
        let n: ClaimName = serde_json::from_str("\"given_name\"").unwrap();
        assert_eq!(serde_json::to_string(&n).unwrap(), "\"given_name\"");
        assert!(serde_json::from_str::<ClaimName>("\"Given\"").is_err());
        assert!(serde_json::from_str::<CustomClaimKey>("\"exp\"").is_err());
        assert_eq!("roles".parse::<CustomClaimKey>().unwrap().as_ref(), "roles");
    }

    #[test]
    fn absent_null_and_blank_values_count_as_no_value() {
        assert!(!has_value(None));
        assert!(!has_value(Some(&Value::Null)));
        assert!(!has_value(Some(&json!(""))));
        assert!(!has_value(Some(&json!("   "))));
        assert!(has_value(Some(&json!(false))));
        assert!(has_value(Some(&json!(0))));
        assert!(has_value(Some(&json!([]))));
        assert!(has_value(Some(&json!("x"))));
    }

    #[test]
    fn claim_input_errors_name_the_claim() {
        let err = validate_claim_input("birthdate", ClaimValueType::Date, "1990-02-30").unwrap_err();
        assert_eq!(err.claim(), Some("birthdate"));
        assert!(err.to_string().starts_with("claim \"birthdate\": the value"), "{err}");
        assert!(!err.to_string().contains("1990-02-30"));
        assert_eq!(validate_claim_input("birthdate", ClaimValueType::Date, "1990-02-28").unwrap(), json!("1990-02-28"));
    }

    #[test]
    fn with_claim_leaves_other_errors_alone() {
        let err = ClaimError::Reserved { claim: "sub".into() }.with_claim("x");
        assert_eq!(err.claim(), Some("sub"));
    }
}
