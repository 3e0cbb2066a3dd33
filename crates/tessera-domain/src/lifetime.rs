//! Token lifetimes per application, in seconds, with the bounds an admin may choose within.

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// One minute.
const MINUTE: i64 = 60;
/// One day.
const DAY: i64 = 24 * 60 * MINUTE;

/// Bounds of the access token lifetime (RFC 9700 §2.2.2 favours short-lived tokens).
pub const ACCESS_TOKEN_BOUNDS: (i64, i64) = (MINUTE, DAY);
/// Bounds of the ID token lifetime.
pub const ID_TOKEN_BOUNDS: (i64, i64) = (MINUTE, DAY);
/// Bounds of the refresh token (absolute) lifetime.
pub const REFRESH_TOKEN_BOUNDS: (i64, i64) = (5 * MINUTE, 365 * DAY);
/// RFC 6749 §4.1.2: "A maximum authorization code lifetime of 10 minutes is RECOMMENDED."
pub const AUTHORIZATION_CODE_BOUNDS: (i64, i64) = (10, 10 * MINUTE);
/// Bounds of the refresh token retry grace: 0 turns it off; at most a minute, as Amazon
/// Cognito's `RetryGracePeriodSeconds` (docs/security.md, "Refresh tokens").
pub const REFRESH_TOKEN_RETRY_GRACE_BOUNDS: (i64, i64) = (0, MINUTE);
/// The default retry grace: long enough for a client's retry after a timeout or a lost
/// connection, short enough that a stolen token is of little use within it.
pub const DEFAULT_REFRESH_TOKEN_RETRY_GRACE: i64 = 10;

/// A lifetime outside its bounds; names the setting and the bound.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LifetimeError {
    /// Outside `min..=max`.
    #[error("{field} lifetime must be between {min} and {max} seconds, not {value}")]
    OutOfRange {
        /// The setting (`access_token`, `id_token`, `refresh_token`, `authorization_code`).
        field: &'static str,
        /// The value given.
        value: i64,
        /// The lower bound.
        min: i64,
        /// The upper bound.
        max: i64,
    },
    /// A refresh token must outlive the access tokens it renews.
    #[error("refresh_token lifetime ({refresh} s) must be at least the access_token lifetime ({access} s)")]
    RefreshShorterThanAccess {
        /// The refresh token lifetime.
        refresh: i64,
        /// The access token lifetime.
        access: i64,
    },
    /// The refresh token retry grace outside its bounds.
    #[error("refresh_token_retry_grace_seconds must be between {min} and {max} seconds, not {value}")]
    RetryGraceOutOfRange {
        /// The value given.
        value: i64,
        /// The lower bound (0: no grace).
        min: i64,
        /// The upper bound.
        max: i64,
    },
}

impl LifetimeError {
    /// The setting to show the message beside.
    pub fn field(&self) -> &'static str {
        match self {
            Self::OutOfRange { field, .. } => field,
            Self::RefreshShorterThanAccess { .. } => "refresh_token",
            Self::RetryGraceOutOfRange { .. } => "refresh_token_retry_grace",
        }
    }

    /// The application setting as the management API names it
    /// (`access_token_lifetime`, `refresh_token_retry_grace_seconds`).
    pub fn setting(&self) -> String {
        match self {
            Self::RetryGraceOutOfRange { .. } => "refresh_token_retry_grace_seconds".to_owned(),
            _ => format!("{}_lifetime", self.field()),
        }
    }
}

/// Lifetimes in seconds. Defaults (docs/applications.md): access and ID 1 hour, refresh
/// 30 days, authorization code 60 seconds (docs/security.md "Authorization codes").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TokenLifetimes {
    /// Access token lifetime.
    pub access_token: i64,
    /// ID token lifetime.
    pub id_token: i64,
    /// Refresh token absolute lifetime (rotation does not extend it).
    pub refresh_token: i64,
    /// Authorization code lifetime.
    pub authorization_code: i64,
    /// How long after its rotation a refresh token may be presented once more by its
    /// client, as a retry of a rotation whose answer was lost, while its successor is
    /// still unused (0: never; docs/security.md, "Refresh tokens").
    pub refresh_token_retry_grace: i64,
}

impl Default for TokenLifetimes {
    fn default() -> Self {
        Self {
            access_token: 3600,
            id_token: 3600,
            refresh_token: 30 * DAY,
            authorization_code: 60,
            refresh_token_retry_grace: DEFAULT_REFRESH_TOKEN_RETRY_GRACE,
        }
    }
}

fn in_bounds(field: &'static str, value: i64, (min, max): (i64, i64)) -> Result<(), LifetimeError> {
    if (min..=max).contains(&value) { Ok(()) } else { Err(LifetimeError::OutOfRange { field, value, min, max }) }
}

impl TokenLifetimes {
    /// Checks each lifetime against its bounds (access and ID 60 s–1 day, refresh
    /// 5 min–365 days and not shorter than access, code 10–600 s, refresh token retry
    /// grace 0–60 s); reports the first problem in field order.
    pub fn validate(&self) -> Result<(), LifetimeError> {
        in_bounds("access_token", self.access_token, ACCESS_TOKEN_BOUNDS)?;
        in_bounds("id_token", self.id_token, ID_TOKEN_BOUNDS)?;
        in_bounds("refresh_token", self.refresh_token, REFRESH_TOKEN_BOUNDS)?;
        if self.refresh_token < self.access_token {
            return Err(LifetimeError::RefreshShorterThanAccess {
                refresh: self.refresh_token,
                access: self.access_token,
            });
        }
        in_bounds("authorization_code", self.authorization_code, AUTHORIZATION_CODE_BOUNDS)?;
        let (min, max) = REFRESH_TOKEN_RETRY_GRACE_BOUNDS;
        if !(min..=max).contains(&self.refresh_token_retry_grace) {
            return Err(LifetimeError::RetryGraceOutOfRange { value: self.refresh_token_retry_grace, min, max });
        }
        Ok(())
    }

    /// RFC 7519 §4.1.4 `exp` of an access token issued at `now` (unix seconds).
    pub fn access_token_expires_at(&self, now: i64) -> i64 {
        now.saturating_add(self.access_token)
    }

    /// `exp` of an ID token issued at `now`.
    pub fn id_token_expires_at(&self, now: i64) -> i64 {
        now.saturating_add(self.id_token)
    }

    /// Absolute expiry of a refresh token family started at `now`.
    pub fn refresh_token_expires_at(&self, now: i64) -> i64 {
        now.saturating_add(self.refresh_token)
    }

    /// Expiry of an authorization code issued at `now`.
    pub fn authorization_code_expires_at(&self, now: i64) -> i64 {
        now.saturating_add(self.authorization_code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_one_hour_thirty_days_and_sixty_seconds() {
        let d = TokenLifetimes::default();
        assert_eq!(d.access_token, 3600);
        assert_eq!(d.id_token, 3600);
        assert_eq!(d.refresh_token, 2_592_000);
        assert_eq!(d.authorization_code, 60);
        assert_eq!(d.validate(), Ok(()));
    }

    #[test]
    fn the_bounds_themselves_are_accepted() {
        let low = TokenLifetimes {
            access_token: 60,
            id_token: 60,
            refresh_token: 300,
            authorization_code: 10,
            refresh_token_retry_grace: 0,
        };
        assert_eq!(low.validate(), Ok(()));
        let high = TokenLifetimes {
            access_token: 86_400,
            id_token: 86_400,
            refresh_token: 365 * 86_400,
            authorization_code: 600,
            refresh_token_retry_grace: 60,
        };
        assert_eq!(high.validate(), Ok(()));
    }

    #[test]
    fn each_lifetime_out_of_bounds_is_refused_naming_field_and_bound() {
        type Case = (fn(&mut TokenLifetimes), &'static str, i64, i64);
        let cases: [Case; 8] = [
            (|l| l.access_token = 59, "access_token", 60, 86_400),
            (|l| l.access_token = 86_401, "access_token", 60, 86_400),
            (|l| l.id_token = 0, "id_token", 60, 86_400),
            (|l| l.id_token = 86_401, "id_token", 60, 86_400),
            (|l| l.refresh_token = 299, "refresh_token", 300, 31_536_000),
            (|l| l.refresh_token = 31_536_001, "refresh_token", 300, 31_536_000),
            (|l| l.authorization_code = 9, "authorization_code", 10, 600),
            (|l| l.authorization_code = -1, "authorization_code", 10, 600),
        ];
        for (change, field, min, max) in cases {
            let mut l = TokenLifetimes::default();
            change(&mut l);
            let err = l.validate().unwrap_err();
            assert!(
                matches!(err, LifetimeError::OutOfRange { field: f, min: a, max: b, .. } if f == field && a == min && b == max),
                "{err:?}"
            );
            assert_eq!(err.field(), field);
            assert!(err.to_string().starts_with(field));
            assert!(err.to_string().contains(&max.to_string()));
        }
    }

    #[test]
    fn the_retry_grace_is_ten_seconds_by_default_and_zero_to_sixty() {
        assert_eq!(TokenLifetimes::default().refresh_token_retry_grace, 10);
        for ok in [0, 1, 60] {
            let l = TokenLifetimes { refresh_token_retry_grace: ok, ..TokenLifetimes::default() };
            assert_eq!(l.validate(), Ok(()), "{ok}");
        }
        for bad in [-1, 61, 3600] {
            let l = TokenLifetimes { refresh_token_retry_grace: bad, ..TokenLifetimes::default() };
            let err = l.validate().unwrap_err();
            assert_eq!(err, LifetimeError::RetryGraceOutOfRange { value: bad, min: 0, max: 60 });
            assert_eq!(err.setting(), "refresh_token_retry_grace_seconds");
            assert!(err.to_string().starts_with("refresh_token_retry_grace_seconds must be between 0 and 60"), "{err}");
        }
        let code = TokenLifetimes { authorization_code: 1, ..TokenLifetimes::default() };
        assert_eq!(code.validate().unwrap_err().setting(), "authorization_code_lifetime");
    }

    #[test]
    fn a_refresh_token_may_not_expire_before_the_access_token() {
        let l = TokenLifetimes { access_token: 3600, refresh_token: 1800, ..TokenLifetimes::default() };
        assert_eq!(l.validate(), Err(LifetimeError::RefreshShorterThanAccess { refresh: 1800, access: 3600 }));
        assert_eq!(l.validate().unwrap_err().field(), "refresh_token");
    }

    #[test]
    fn expiry_is_now_plus_lifetime_and_never_overflows() {
        let l = TokenLifetimes::default();
        assert_eq!(l.access_token_expires_at(1_000), 4_600);
        assert_eq!(l.id_token_expires_at(1_000), 4_600);
        assert_eq!(l.refresh_token_expires_at(0), 2_592_000);
        assert_eq!(l.authorization_code_expires_at(10), 70);
        assert_eq!(l.access_token_expires_at(i64::MAX), i64::MAX);
    }

    #[test]
    fn lifetimes_deserialize_with_defaults_for_missing_fields() {
        let l: TokenLifetimes = serde_json::from_str(r#"{"access_token": 600}"#).unwrap();
        assert_eq!(l.access_token, 600);
        assert_eq!(l.refresh_token, 2_592_000);
        let json = serde_json::to_value(TokenLifetimes::default()).unwrap();
        assert_eq!(json["authorization_code"], 60);
    }
}
