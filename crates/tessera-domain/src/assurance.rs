//! Authentication assurance: what the factors a user presented prove, in the vocabulary
//! tokens use (RFC 8176 `amr` method references, OIDC Core §2 `acr`), and whether that
//! meets a requirement: an application's sign-in policy, a request's `acr_values` or
//! essential `acr` claim (OIDC Core §3.1.2.1, §5.5.1.1), or an API scope's minimum.
//!
//! The model (docs/authentication.md):
//! - a sign-in session records the `amr` values of the factors presented and `auth_time`;
//! - a *fresh* sign-in (a new session, `prompt=login`, a `max_age` that has passed)
//!   replaces them; a *step-up* (one more factor in a session that is recent enough)
//!   adds its values and sets `auth_time` to the step-up's time;
//! - the `acr` is derived from the `amr` values alone ([`Acr::of`]), so a code, a grant
//!   and a refresh carry it without storing it twice.
//!
//! Levels, weakest first: [`Acr::OneFactor`] `1fa`, [`Acr::TwoFactor`] `2fa` (two kinds
//! of factor: a password and a one-time code, or a passkey with user verification), and
//! [`Acr::PhishingResistant`] `phr` (a passkey: bound to Tessera's origin, OpenID EAP ACR
//! Values 1.0 §2). Each level includes the ones below it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::scope::ScopeSet;

/// RFC 8176 §2 method reference values Tessera emits.
pub mod amr {
    /// A password.
    pub const PWD: &str = "pwd";
    /// A one-time code: TOTP (RFC 6238) or a recovery code.
    pub const OTP: &str = "otp";
    /// A proof of possession of a device-bound key (a passkey that cannot be synced).
    pub const HWK: &str = "hwk";
    /// A proof of possession of a software-secured key (a synced passkey).
    pub const SWK: &str = "swk";
    /// A user presence or verification test performed by the authenticator (a passkey's
    /// user verification: PIN or biometric, which the authenticator does not reveal).
    pub const USER: &str = "user";
    /// Multiple-factor authentication: factors of at least two kinds.
    pub const MFA: &str = "mfa";
}

/// One factor a user presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Factor {
    Password,
    /// A TOTP code (RFC 6238).
    Totp,
    /// One of the user's single-use recovery codes.
    RecoveryCode,
    /// A WebAuthn assertion of a passkey.
    Passkey {
        /// Not backup-eligible (WebAuthn §6.1 flag `BE` clear): the key stays on one device.
        device_bound: bool,
        /// The authenticator verified the user (flag `UV`).
        user_verified: bool,
    },
}

impl Factor {
    /// The RFC 8176 values this factor contributes.
    pub fn amr(self) -> Vec<&'static str> {
        match self {
            Factor::Password => vec![amr::PWD],
            Factor::Totp | Factor::RecoveryCode => vec![amr::OTP],
            Factor::Passkey { device_bound, user_verified } => {
                let key = if device_bound { amr::HWK } else { amr::SWK };
                if user_verified { vec![key, amr::USER] } else { vec![key] }
            }
        }
    }
}

/// The kinds of factor (NIST SP 800-63B §5.1): two of them make `mfa`.
fn kinds(amr: &[String]) -> usize {
    let has = |values: &[&str]| amr.iter().any(|a| values.contains(&a.as_str()));
    [has(&[amr::PWD]), has(&[amr::OTP, amr::HWK, amr::SWK]), has(&[amr::USER])].into_iter().filter(|k| *k).count()
}

/// The session's `amr` after `factor`: a fresh sign-in starts from nothing, a step-up
/// adds to what the session had. Sorted, without duplicates, with `mfa` when the factors
/// are of two kinds or more.
pub fn record(previous: &[String], factor: Factor, fresh: bool) -> Vec<String> {
    let mut values: Vec<String> = if fresh { Vec::new() } else { previous.to_vec() };
    values.retain(|v| v != amr::MFA);
    values.extend(factor.amr().into_iter().map(str::to_owned));
    values.sort();
    values.dedup();
    if kinds(&values) >= 2 {
        values.push(amr::MFA.to_owned());
        values.sort();
    }
    values
}

/// An authentication context class (OIDC Core §2 `acr`), weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Acr {
    /// `1fa`: one factor (a password).
    #[serde(rename = "1fa")]
    OneFactor,
    /// `2fa`: factors of two kinds.
    #[serde(rename = "2fa")]
    TwoFactor,
    /// `phr`: a phishing-resistant factor (a passkey), OpenID EAP ACR Values 1.0 §2.
    #[serde(rename = "phr")]
    PhishingResistant,
}

impl Acr {
    /// Every level, weakest first: `acr_values_supported` in discovery.
    pub const ALL: [Acr; 3] = [Acr::OneFactor, Acr::TwoFactor, Acr::PhishingResistant];

    pub fn as_str(self) -> &'static str {
        match self {
            Acr::OneFactor => "1fa",
            Acr::TwoFactor => "2fa",
            Acr::PhishingResistant => "phr",
        }
    }

    /// The level an `amr` reaches; `None` for no authentication at all (a client acting
    /// for itself, a session nobody signed in to).
    pub fn of(amr: &[String]) -> Option<Acr> {
        let has = |value: &str| amr.iter().any(|a| a == value);
        if has(amr::HWK) || has(amr::SWK) {
            // A passkey alone is a sign-in only with user verification; as a second
            // factor it follows a password. Either way it is two kinds and origin-bound.
            if kinds(amr) >= 2 { Some(Acr::PhishingResistant) } else { Some(Acr::OneFactor) }
        } else if kinds(amr) >= 2 {
            Some(Acr::TwoFactor)
        } else if amr.is_empty() {
            None
        } else {
            Some(Acr::OneFactor)
        }
    }

    /// The weakest level among `acr_values` (OIDC Core §3.1.2.1: space-separated, in
    /// order of preference, any of them acceptable) that Tessera knows; unknown values are
    /// ignored, so `None` when none is known.
    pub fn weakest_of(acr_values: &str) -> Option<Acr> {
        acr_values.split_ascii_whitespace().filter_map(|v| v.parse().ok()).min()
    }
}

impl fmt::Display for Acr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A value that is not one of Tessera's `acr` levels.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unknown authentication level {0:?}: expected 1fa, 2fa or phr")]
pub struct UnknownAcr(pub String);

impl FromStr for Acr {
    type Err = UnknownAcr;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "1fa" => Ok(Acr::OneFactor),
            "2fa" => Ok(Acr::TwoFactor),
            "phr" => Ok(Acr::PhishingResistant),
            other => Err(UnknownAcr(other.to_owned())),
        }
    }
}

/// The longest recency a requirement may ask for (a day): beyond it, a session's own
/// timeouts decide.
pub const MAX_RECENCY_SECONDS: i64 = 24 * 60 * 60;

/// What an authentication must reach: a level, and optionally how recent it must be
/// (seconds since `auth_time`, as OIDC's `max_age`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Requirement {
    pub acr: Acr,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<i64>,
}

/// A requirement's recency outside `1..=MAX_RECENCY_SECONDS`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("max_age must be between 1 and {MAX_RECENCY_SECONDS} seconds, not {0}")]
pub struct RecencyOutOfRange(pub i64);

impl Requirement {
    /// A requirement whose recency, when given, is within bounds.
    pub fn new(acr: Acr, max_age: Option<i64>) -> Result<Self, RecencyOutOfRange> {
        match max_age {
            Some(seconds) if !(1..=MAX_RECENCY_SECONDS).contains(&seconds) => Err(RecencyOutOfRange(seconds)),
            _ => Ok(Requirement { acr, max_age }),
        }
    }

    /// The requirement meeting both: the stronger level, the shorter recency.
    pub fn and(self, other: Requirement) -> Requirement {
        let max_age = match (self.max_age, other.max_age) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        Requirement { acr: self.acr.max(other.acr), max_age }
    }

    /// [`Requirement::and`] over optional requirements.
    pub fn combine(a: Option<Requirement>, b: Option<Requirement>) -> Option<Requirement> {
        match (a, b) {
            (Some(a), Some(b)) => Some(a.and(b)),
            (a, b) => a.or(b),
        }
    }

    /// Whether an authentication with this `amr` at `auth_time` meets it at `now`.
    pub fn is_met(&self, amr: &[String], auth_time: Option<i64>, now: i64) -> bool {
        self.next_step(amr, auth_time, now).is_none()
    }

    /// What the user must do to meet it, or `None` when it is met.
    pub fn next_step(&self, amr: &[String], auth_time: Option<i64>, now: i64) -> Option<Step> {
        let Some(auth_time) = auth_time else { return Some(Step::SignIn) };
        if self.max_age.is_some_and(|max| now - auth_time > max) {
            return Some(Step::SignIn);
        }
        match Acr::of(amr) {
            None => Some(Step::SignIn),
            Some(reached) if reached >= self.acr => None,
            Some(_) if self.acr == Acr::PhishingResistant => Some(Step::Passkey),
            Some(_) => Some(Step::SecondFactor),
        }
    }
}

/// The scopes of `scope` whose requirement (`requirement_of`, by scope name) an
/// authentication with `amr` at `auth_time` still meets at `now`: what a refresh or a
/// token exchange may carry into a new access token (docs/authentication.md, "Assurance
/// per API scope": a refresh cannot carry a scope past its required recency, or past a
/// level raised since). Scopes without a requirement always stay.
pub fn within_reach(
    scope: &ScopeSet,
    requirement_of: impl Fn(&str) -> Option<Requirement>,
    amr: &[String],
    auth_time: Option<i64>,
    now: i64,
) -> ScopeSet {
    let mut kept = ScopeSet::new();
    for token in scope.iter() {
        if requirement_of(token.as_str()).is_none_or(|r| r.is_met(amr, auth_time, now)) {
            kept.insert(token.clone());
        }
    }
    kept
}

/// What is missing to meet a [`Requirement`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// No authentication, or one too old: a fresh sign-in (which then asks whatever
    /// further factor the requirement needs).
    SignIn,
    /// One more factor of another kind: a TOTP code, a recovery code or a passkey.
    SecondFactor,
    /// A passkey.
    Passkey,
}

/// How strongly users must sign in: a server-wide setting and one per application; the
/// stricter of the two applies ([`SignInPolicy::stricter`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SignInPolicy {
    /// A password is enough (a user who enrolled a second factor is still asked for it).
    #[default]
    Password,
    /// A second factor (TOTP, recovery code or passkey) after the password, or a passkey
    /// alone; users without one enrol during sign-in.
    SecondFactor,
    /// A passkey; users without one enrol during sign-in.
    Passkey,
}

impl SignInPolicy {
    pub const ALL: [SignInPolicy; 3] = [SignInPolicy::Password, SignInPolicy::SecondFactor, SignInPolicy::Passkey];

    pub fn as_str(self) -> &'static str {
        match self {
            SignInPolicy::Password => "password",
            SignInPolicy::SecondFactor => "second_factor",
            SignInPolicy::Passkey => "passkey",
        }
    }

    /// The level every sign-in under this policy reaches.
    pub fn minimum(self) -> Acr {
        match self {
            SignInPolicy::Password => Acr::OneFactor,
            SignInPolicy::SecondFactor => Acr::TwoFactor,
            SignInPolicy::Passkey => Acr::PhishingResistant,
        }
    }

    /// The stricter of the server's and the application's policy.
    pub fn stricter(self, other: Option<SignInPolicy>) -> SignInPolicy {
        other.map_or(self, |o| self.max(o))
    }
}

impl fmt::Display for SignInPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A value that is not a sign-in policy.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unknown sign-in policy {0:?}: expected password, second_factor or passkey")]
pub struct UnknownSignInPolicy(pub String);

impl FromStr for SignInPolicy {
    type Err = UnknownSignInPolicy;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SignInPolicy::ALL.into_iter().find(|p| p.as_str() == s).ok_or_else(|| UnknownSignInPolicy(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(values: &[&str]) -> Vec<String> {
        values.iter().map(|v| (*v).to_owned()).collect()
    }

    const SYNCED_UV: Factor = Factor::Passkey { device_bound: false, user_verified: true };
    const HARDWARE_UP: Factor = Factor::Passkey { device_bound: true, user_verified: false };

    #[test]
    fn a_password_alone_is_one_factor() {
        let amr = record(&[], Factor::Password, true);
        assert_eq!(amr, strings(&["pwd"]));
        assert_eq!(Acr::of(&amr), Some(Acr::OneFactor));
    }

    #[test]
    fn a_password_then_a_code_is_two_factors_of_two_kinds() {
        let amr = record(&record(&[], Factor::Password, true), Factor::Totp, false);
        assert_eq!(amr, strings(&["mfa", "otp", "pwd"]));
        assert_eq!(Acr::of(&amr), Some(Acr::TwoFactor));
        let amr = record(&strings(&["pwd"]), Factor::RecoveryCode, false);
        assert_eq!(Acr::of(&amr), Some(Acr::TwoFactor));
    }

    #[test]
    fn a_verified_passkey_alone_is_phishing_resistant_multi_factor() {
        let amr = record(&[], SYNCED_UV, true);
        assert_eq!(amr, strings(&["mfa", "swk", "user"]));
        assert_eq!(Acr::of(&amr), Some(Acr::PhishingResistant));
    }

    #[test]
    fn a_passkey_without_verification_needs_the_password_before_it() {
        assert_eq!(Acr::of(&record(&[], HARDWARE_UP, true)), Some(Acr::OneFactor));
        let amr = record(&strings(&["pwd"]), HARDWARE_UP, false);
        assert_eq!(amr, strings(&["hwk", "mfa", "pwd"]));
        assert_eq!(Acr::of(&amr), Some(Acr::PhishingResistant));
    }

    #[test]
    fn a_fresh_sign_in_forgets_the_earlier_factors() {
        let strong = strings(&["mfa", "pwd", "hwk"]);
        assert_eq!(record(&strong, Factor::Password, true), strings(&["pwd"]));
    }

    #[test]
    fn no_amr_is_no_level() {
        assert_eq!(Acr::of(&[]), None);
    }

    #[test]
    fn acr_values_accept_the_weakest_known_value() {
        assert_eq!(Acr::weakest_of("phr 2fa"), Some(Acr::TwoFactor));
        assert_eq!(Acr::weakest_of("urn:other:gold phr"), Some(Acr::PhishingResistant));
        assert_eq!(Acr::weakest_of("urn:other:gold"), None);
        assert_eq!(Acr::weakest_of(""), None);
    }

    #[test]
    fn levels_round_trip_through_their_names() {
        for acr in Acr::ALL {
            assert_eq!(acr.as_str().parse::<Acr>(), Ok(acr));
            assert_eq!(serde_json::to_value(acr).unwrap(), serde_json::Value::from(acr.as_str()));
        }
        assert!("aal2".parse::<Acr>().is_err());
        for policy in SignInPolicy::ALL {
            assert_eq!(policy.as_str().parse::<SignInPolicy>(), Ok(policy));
        }
    }

    #[test]
    fn a_requirement_names_the_missing_step() {
        let now = 1_000;
        let pwd = strings(&["pwd"]);
        let two = strings(&["mfa", "otp", "pwd"]);
        let passkey = strings(&["mfa", "swk", "user"]);
        let second = Requirement::new(Acr::TwoFactor, None).unwrap();
        assert_eq!(second.next_step(&pwd, Some(now), now), Some(Step::SecondFactor));
        assert_eq!(second.next_step(&two, Some(now), now), None);
        assert_eq!(second.next_step(&passkey, Some(now), now), None);
        let phr = Requirement::new(Acr::PhishingResistant, Some(300)).unwrap();
        assert_eq!(phr.next_step(&two, Some(now), now), Some(Step::Passkey));
        assert_eq!(phr.next_step(&passkey, Some(now - 300), now), None);
        assert_eq!(phr.next_step(&passkey, Some(now - 301), now), Some(Step::SignIn));
        assert_eq!(phr.next_step(&passkey, None, now), Some(Step::SignIn));
        assert_eq!(second.next_step(&[], Some(now), now), Some(Step::SignIn));
    }

    #[test]
    fn requirements_combine_to_the_stricter_of_each_part() {
        let a = Requirement::new(Acr::TwoFactor, Some(600)).unwrap();
        let b = Requirement::new(Acr::PhishingResistant, None).unwrap();
        assert_eq!(a.and(b), Requirement { acr: Acr::PhishingResistant, max_age: Some(600) });
        assert_eq!(Requirement::combine(None, Some(b)), Some(b));
        assert_eq!(Requirement::combine(None, None), None);
    }

    #[test]
    fn a_recency_outside_its_bounds_is_refused() {
        assert!(Requirement::new(Acr::OneFactor, Some(0)).is_err());
        assert!(Requirement::new(Acr::OneFactor, Some(MAX_RECENCY_SECONDS + 1)).is_err());
        assert!(Requirement::new(Acr::OneFactor, Some(MAX_RECENCY_SECONDS)).is_ok());
    }

    #[test]
    fn a_scope_past_its_recency_or_level_is_out_of_reach() {
        let scope = ScopeSet::parse("openid orders pay").unwrap();
        let recent = Requirement::new(Acr::OneFactor, Some(300)).unwrap();
        let strong = Requirement::new(Acr::TwoFactor, None).unwrap();
        let rules = |name: &str| match name {
            "pay" => Some(recent),
            "orders" => Some(strong),
            _ => None,
        };
        let pwd = strings(&["pwd"]);
        assert_eq!(within_reach(&scope, rules, &pwd, Some(1_000), 1_300).to_string(), "openid pay");
        assert_eq!(within_reach(&scope, rules, &pwd, Some(1_000), 1_301).to_string(), "openid");
        let two = strings(&["mfa", "otp", "pwd"]);
        assert_eq!(within_reach(&scope, rules, &two, Some(1_000), 1_000).to_string(), "openid orders pay");
    }

    #[test]
    fn the_stricter_policy_applies() {
        assert_eq!(SignInPolicy::Password.stricter(Some(SignInPolicy::Passkey)), SignInPolicy::Passkey);
        assert_eq!(SignInPolicy::SecondFactor.stricter(Some(SignInPolicy::Password)), SignInPolicy::SecondFactor);
        assert_eq!(SignInPolicy::SecondFactor.stricter(None), SignInPolicy::SecondFactor);
        assert_eq!(SignInPolicy::Passkey.minimum(), Acr::PhishingResistant);
    }
}
