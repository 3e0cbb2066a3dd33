//! The standard claims of OIDC Core §5.1 and the standard identity scopes of §5.4 (plus
//! Cotia ID's `name` scope), which every installation starts with.

use crate::claim_value::ClaimValueType;

/// A standard claim type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StandardClaim {
    /// The claim name as it appears in tokens.
    pub name: &'static str,
    /// A short label for consoles and consent pages.
    pub display_name: &'static str,
    /// What the claim holds (after OIDC Core §5.1).
    pub description: &'static str,
    /// The type its values are checked against.
    pub value_type: ClaimValueType,
}

/// A standard identity scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StandardScope {
    /// The scope name.
    pub name: &'static str,
    /// A short label for consoles and consent pages.
    pub display_name: &'static str,
    /// What granting it reveals.
    pub description: &'static str,
    /// The claims it carries (OIDC Core §5.4).
    pub claims: &'static [&'static str],
}

const fn claim(
    name: &'static str,
    display_name: &'static str,
    description: &'static str,
    value_type: ClaimValueType,
) -> StandardClaim {
    StandardClaim { name, display_name, description, value_type }
}

use ClaimValueType::{Boolean, Date, Email, Json, Number, Phone, String as Text, Url};

/// OIDC Core §5.1 standard claims, in the specification's order.
pub const STANDARD_CLAIMS: &[StandardClaim] = &[
    claim("sub", "User identifier", "Identifier of the user at the issuer, never reassigned.", Text),
    claim("name", "Full name", "Full name in displayable form, including all name parts.", Text),
    claim("given_name", "Given name", "Given name(s) or first name(s).", Text),
    claim("family_name", "Family name", "Surname(s) or last name(s).", Text),
    claim("middle_name", "Middle name", "Middle name(s).", Text),
    claim("nickname", "Nickname", "Casual name the user may be called by.", Text),
    claim("preferred_username", "Preferred username", "Shorthand name the user wishes to be referred to by.", Text),
    claim("profile", "Profile page", "URL of the user's profile page.", Url),
    claim("picture", "Picture", "URL of the user's profile picture.", Url),
    claim("website", "Website", "URL of the user's web page or blog.", Url),
    claim("email", "E-mail address", "Preferred e-mail address.", Email),
    claim("email_verified", "E-mail verified", "Whether the e-mail address was verified.", Boolean),
    claim("gender", "Gender", "Gender (female, male, or another value).", Text),
    claim("birthdate", "Birthdate", "Birthday as YYYY-MM-DD, 0000-MM-DD or YYYY.", Date),
    claim("zoneinfo", "Time zone", "Time zone from the IANA database, e.g. Europe/Paris.", Text),
    claim("locale", "Locale", "Locale as a BCP 47 language tag, e.g. en-US.", Text),
    claim("phone_number", "Phone number", "Preferred telephone number, E.164 (+5511999999999).", Phone),
    claim("phone_number_verified", "Phone number verified", "Whether the phone number was verified.", Boolean),
    claim("address", "Address", "Preferred postal address, a JSON object (OIDC Core §5.1.1).", Json),
    claim("updated_at", "Updated at", "Time the information was last updated, in seconds since 1970.", Number),
];

/// OIDC Core §5.4 standard identity scopes, `offline_access` (§11, carries no claims) and
/// Cotia ID's `name` scope.
pub const STANDARD_IDENTITY_SCOPES: &[StandardScope] = &[
    StandardScope {
        name: "openid",
        display_name: "User identifier",
        description: "Your user identifier.",
        claims: &["sub"],
    },
    StandardScope {
        name: "profile",
        display_name: "User profile",
        description: "Your profile: name, username, picture, website, gender, birthdate, time zone and locale.",
        claims: &[
            "name",
            "family_name",
            "given_name",
            "middle_name",
            "nickname",
            "preferred_username",
            "profile",
            "picture",
            "website",
            "gender",
            "birthdate",
            "zoneinfo",
            "locale",
            "updated_at",
        ],
    },
    StandardScope { name: "name", display_name: "Name", description: "Your full name.", claims: &["name"] },
    StandardScope {
        name: "email",
        display_name: "E-mail address",
        description: "Your e-mail address and whether it was verified.",
        claims: &["email", "email_verified"],
    },
    StandardScope {
        name: "address",
        display_name: "Postal address",
        description: "Your postal address.",
        claims: &["address"],
    },
    StandardScope {
        name: "phone",
        display_name: "Phone number",
        description: "Your phone number and whether it was verified.",
        claims: &["phone_number", "phone_number_verified"],
    },
    StandardScope {
        name: "offline_access",
        display_name: "Offline access",
        description: "Access to your data while you are not signed in.",
        claims: &[],
    },
];

/// The standard claim with this name.
pub fn standard_claim(name: &str) -> Option<&'static StandardClaim> {
    STANDARD_CLAIMS.iter().find(|c| c.name == name)
}

/// The standard identity scope with this name.
pub fn standard_scope(name: &str) -> Option<&'static StandardScope> {
    STANDARD_IDENTITY_SCOPES.iter().find(|s| s.name == name)
}

/// OIDC Core §5.1: `email_verified` and `phone_number_verified` say that the provider
/// verified the value of the claim they follow. Each pair is (the value, its flag).
pub const VERIFIED_FLAGS: &[(&str, &str)] = &[("email", "email_verified"), ("phone_number", "phone_number_verified")];

/// Whether a claim is set only by the provider (an administrator, or Tessera's own
/// verification) and never by a user's own input: the verified flags (OIDC Core §5.1).
/// The sign-in pages never ask for one and drop one that is submitted.
pub fn is_server_controlled(claim: &str) -> bool {
    VERIFIED_FLAGS.iter().any(|(_, flag)| *flag == claim)
}

/// The verified flag that vouches for `claim`'s value, if it has one: changing the value
/// resets the flag (OIDC Core §5.1, §5.7).
pub fn verified_flag_of(claim: &str) -> Option<&'static str> {
    VERIFIED_FLAGS.iter().find(|(value, _)| *value == claim).map(|(_, flag)| *flag)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::claims::ClaimName;
    use crate::names::ScopeName;

    #[test]
    fn all_twenty_standard_claims_are_listed_once() {
        let names: BTreeSet<&str> = STANDARD_CLAIMS.iter().map(|c| c.name).collect();
        assert_eq!(names.len(), 20);
        assert_eq!(STANDARD_CLAIMS.len(), 20);
    }

    #[test]
    fn standard_claims_have_the_documented_types() {
        let t = |n| standard_claim(n).unwrap().value_type;
        assert_eq!(t("email"), ClaimValueType::Email);
        assert_eq!(t("email_verified"), ClaimValueType::Boolean);
        assert_eq!(t("phone_number_verified"), ClaimValueType::Boolean);
        assert_eq!(t("birthdate"), ClaimValueType::Date);
        assert_eq!(t("updated_at"), ClaimValueType::Number);
        assert_eq!(t("address"), ClaimValueType::Json);
        assert_eq!(t("profile"), ClaimValueType::Url);
        assert_eq!(t("picture"), ClaimValueType::Url);
        assert_eq!(t("website"), ClaimValueType::Url);
        assert_eq!(t("phone_number"), ClaimValueType::Phone);
        for text in ["sub", "name", "given_name", "gender", "zoneinfo", "locale"] {
            assert_eq!(t(text), ClaimValueType::String, "{text}");
        }
    }

    #[test]
    fn standard_claim_names_are_valid_claim_names() {
        for c in STANDARD_CLAIMS {
            assert!(ClaimName::parse(c.name).is_ok(), "{}", c.name);
            assert!(!c.display_name.is_empty() && !c.description.is_empty());
        }
    }

    #[test]
    fn standard_scopes_carry_the_claims_of_oidc_core_5_4() {
        let claims = |n| standard_scope(n).unwrap().claims;
        assert_eq!(claims("openid"), &["sub"]);
        assert_eq!(claims("email"), &["email", "email_verified"]);
        assert_eq!(claims("address"), &["address"]);
        assert_eq!(claims("phone"), &["phone_number", "phone_number_verified"]);
        assert_eq!(claims("name"), &["name"]);
        assert!(claims("offline_access").is_empty());
        assert_eq!(claims("profile").len(), 14);
        assert!(!claims("profile").contains(&"email"));
        assert_eq!(standard_scope("name").unwrap().display_name, "Name");
    }

    #[test]
    fn every_claim_of_a_standard_scope_is_a_standard_claim() {
        for s in STANDARD_IDENTITY_SCOPES {
            assert!(ScopeName::parse(s.name).is_ok(), "{}", s.name);
            for c in s.claims {
                assert!(standard_claim(c).is_some(), "{} carries unknown {c}", s.name);
            }
        }
    }

    #[test]
    fn unknown_names_are_not_standard() {
        assert!(standard_claim("roles").is_none());
        assert!(standard_scope("roles").is_none());
    }

    #[test]
    fn verified_flags_are_server_controlled_and_follow_their_value() {
        assert!(is_server_controlled("email_verified"));
        assert!(is_server_controlled("phone_number_verified"));
        assert!(!is_server_controlled("email") && !is_server_controlled("phone_number"));
        assert_eq!(verified_flag_of("phone_number"), Some("phone_number_verified"));
        assert_eq!(verified_flag_of("email"), Some("email_verified"));
        assert_eq!(verified_flag_of("name"), None);
        for (value, flag) in VERIFIED_FLAGS {
            assert_eq!(standard_claim(flag).map(|c| c.value_type), Some(ClaimValueType::Boolean), "{flag}");
            assert!(standard_claim(value).is_some(), "{value}");
        }
    }
}
