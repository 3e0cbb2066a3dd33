//! Calendar dates as claim values: OIDC Core §5.1 `birthdate` — "ISO 8601-1 YYYY-MM-DD
//! format. The year MAY be 0000, indicating that it is omitted. To represent only the year,
//! YYYY format is allowed."

use std::fmt;

use thiserror::Error;

/// A date claim value in one of the three OIDC Core §5.1 shapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClaimDate {
    /// `YYYY-MM-DD`, year 0001–9999.
    Full {
        /// Year, 1–9999.
        year: u16,
        /// Month, 1–12.
        month: u8,
        /// Day of the month, valid for that month and year.
        day: u8,
    },
    /// `0000-MM-DD`: the year is omitted, so 29 February is allowed.
    MonthDay {
        /// Month, 1–12.
        month: u8,
        /// Day of the month.
        day: u8,
    },
    /// `YYYY`: only the year, 0001–9999.
    Year(u16),
}

/// Why a date was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("{reason}")]
pub struct DateError {
    /// What is wrong, phrased to follow "the value …".
    pub reason: &'static str,
}

const SHAPE: DateError = DateError { reason: "is not a date: expected YYYY-MM-DD, 0000-MM-DD or YYYY" };

/// Gregorian leap year rule.
pub fn is_leap_year(year: u16) -> bool {
    (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400)
}

/// Days in `month` (1–12) of `year`; with no year (`None`), February has 29 days.
/// Returns 0 for a month outside 1–12.
pub fn days_in_month(year: Option<u16>, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 => match year {
            Some(y) if !is_leap_year(y) => 28,
            _ => 29,
        },
        _ => 0,
    }
}

fn digits(raw: &str) -> Option<u16> {
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    raw.parse().ok()
}

impl ClaimDate {
    /// Parses one of the three shapes of OIDC Core §5.1, checking the calendar (month
    /// 1–12, day within the month, 29 February only in leap years or with year 0000).
    pub fn parse(raw: &str) -> Result<Self, DateError> {
        let bytes = raw.as_bytes();
        match bytes.len() {
            4 => {
                let year = digits(raw).ok_or(SHAPE)?;
                if year == 0 {
                    return Err(DateError { reason: "has year 0000, which only means \"omitted\" in YYYY-MM-DD" });
                }
                Ok(Self::Year(year))
            }
            10 if bytes[4] == b'-' && bytes[7] == b'-' => {
                let year = digits(&raw[0..4]).ok_or(SHAPE)?;
                let month = digits(&raw[5..7]).ok_or(SHAPE)?;
                let day = digits(&raw[8..10]).ok_or(SHAPE)?;
                let month = u8::try_from(month)
                    .ok()
                    .filter(|m| (1..=12).contains(m))
                    .ok_or(DateError { reason: "has a month outside 01–12" })?;
                let known_year = (year != 0).then_some(year);
                let day = u8::try_from(day)
                    .ok()
                    .filter(|d| *d >= 1 && *d <= days_in_month(known_year, month))
                    .ok_or(DateError { reason: "is not a real calendar date" })?;
                Ok(match known_year {
                    Some(year) => Self::Full { year, month, day },
                    None => Self::MonthDay { month, day },
                })
            }
            _ => Err(SHAPE),
        }
    }
}

/// The canonical text, the same shape as parsed.
impl fmt::Display for ClaimDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full { year, month, day } => write!(f, "{year:04}-{month:02}-{day:02}"),
            Self::MonthDay { month, day } => write!(f, "0000-{month:02}-{day:02}"),
            Self::Year(year) => write!(f, "{year:04}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn full_dates_are_accepted() {
        assert_eq!(ClaimDate::parse("1990-12-31"), Ok(ClaimDate::Full { year: 1990, month: 12, day: 31 }));
    }

    #[test]
    fn a_year_alone_is_accepted() {
        assert_eq!(ClaimDate::parse("1984"), Ok(ClaimDate::Year(1984)));
        assert!(ClaimDate::parse("0000").is_err());
    }

    #[test]
    fn year_0000_means_the_year_is_omitted_and_allows_february_29() {
        assert_eq!(ClaimDate::parse("0000-02-29"), Ok(ClaimDate::MonthDay { month: 2, day: 29 }));
        assert!(ClaimDate::parse("0000-02-30").is_err());
    }

    #[test]
    fn february_29_needs_a_leap_year() {
        assert!(ClaimDate::parse("2024-02-29").is_ok());
        assert!(ClaimDate::parse("2000-02-29").is_ok());
        assert!(ClaimDate::parse("1900-02-29").is_err());
        assert!(ClaimDate::parse("2023-02-29").is_err());
    }

    #[test]
    fn impossible_dates_are_refused() {
        for bad in ["2024-04-31", "2024-13-01", "2024-00-10", "2024-01-00", "2024-01-32"] {
            assert!(ClaimDate::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn other_shapes_are_refused() {
        for bad in [
            "",
            "90-1-1",
            "1990/01/01",
            "1990-1-01",
            "01-01-1990",
            "1990-01-01T00:00:00Z",
            "+990-01-01",
            "199a",
            "１９９０",
            "1990-01-0١",
        ] {
            assert!(ClaimDate::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_leap_year_rule_is_gregorian() {
        assert!(is_leap_year(2000));
        assert!(is_leap_year(1996));
        assert!(!is_leap_year(1900));
        assert!(!is_leap_year(2023));
        assert_eq!(days_in_month(None, 2), 29);
        assert_eq!(days_in_month(Some(2023), 2), 28);
        assert_eq!(days_in_month(Some(2023), 13), 0);
    }

    #[test]
    fn dates_display_in_their_parsed_shape() {
        for s in ["1990-01-05", "0000-07-04", "0042"] {
            assert_eq!(ClaimDate::parse(s).unwrap().to_string(), s);
        }
    }

    proptest! {
        #[test]
        fn every_valid_date_is_accepted(year in 1u16..=9999, month in 1u8..=12, day in 1u8..=31) {
            let raw = format!("{year:04}-{month:02}-{day:02}");
            let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
            let max = match month {
                2 if leap => 29,
                2 => 28,
                4 | 6 | 9 | 11 => 30,
                _ => 31,
            };
            prop_assert_eq!(ClaimDate::parse(&raw).is_ok(), day <= max, "{}", raw);
        }

        #[test]
        fn february_29_is_accepted_only_in_leap_years(year in 1u16..=9999) {
            let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
            prop_assert_eq!(ClaimDate::parse(&format!("{year:04}-02-29")).is_ok(), leap);
        }

        #[test]
        fn date_parsing_never_panics(raw in any::<String>()) {
            let _ = ClaimDate::parse(&raw);
        }

        #[test]
        fn slicing_multibyte_input_of_date_length_never_panics(raw in "[0-9é-]{3,10}") {
            let _ = ClaimDate::parse(&raw);
        }
    }
}
