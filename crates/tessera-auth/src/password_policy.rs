//! The password policy of OWASP ASVS 5.0 V6.2, applied wherever a password is set
//! (registration, the management API and console, the CLI):
//!
//! - the length rules of [`tessera_domain::Password`]: at least 8 characters (V6.2.1), 64
//!   and more accepted (V6.2.9), checked exactly as typed, never truncated (V6.2.8), no
//!   composition rules (V6.2.5);
//! - a strength estimate by zxcvbn, whose dictionaries ship with Tessera: 30,000 passwords
//!   from breach corpora (V6.2.4: at least the top 3000 common passwords; V6.2.12: breached
//!   passwords), English words, names and surnames, keyboard walks, repeats, sequences and
//!   dates; plus the account's own words (username, e-mail address, name) and the context
//!   words of the service (V6.2.11). A password whose score is below the configured minimum
//!   is refused with the reason and advice in plain words, never the password itself.

use tessera_domain::{Password, PasswordError};
use thiserror::Error;
use zxcvbn::feedback::Warning;

/// The highest zxcvbn score: more than 10^10 guesses.
pub const MAX_SCORE: u8 = 4;

/// The default minimum score, zxcvbn's own advice: below 3 (10^8 guesses or fewer) a
/// password is too weak for an account reachable online.
pub const DEFAULT_MIN_SCORE: u8 = 3;

/// ASVS 5.0 V6.2.11: the context words every installation refuses to build passwords
/// from, besides those of its issuer's host name.
pub const SITE_WORDS: &[&str] = &["tessera"];

/// Pieces of the account's and the site's words shorter than this are not used on their
/// own (they would match everywhere: "com", "net"); whole words are always used.
const MIN_PIECE_CHARS: usize = 4;

/// The advice zxcvbn gives when it has none better.
const DEFAULT_ADVICE: &str = "Add another word or two. Uncommon words are better.";

/// A minimum score outside 0 to 4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("must be between 0 and {MAX_SCORE}, not {0}")]
pub struct MinScoreOutOfRange(pub u8);

/// Which passwords are accepted: the length rules, and a minimum zxcvbn score (0 to 4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordPolicy {
    min_score: u8,
    /// ASVS 5.0 V6.2.11: words of the service itself, lowercased.
    context_words: Vec<String>,
}

impl Default for PasswordPolicy {
    /// Minimum score [`DEFAULT_MIN_SCORE`], context words [`SITE_WORDS`].
    fn default() -> Self {
        PasswordPolicy { min_score: DEFAULT_MIN_SCORE, context_words: words_of(SITE_WORDS.iter().copied()) }
    }
}

/// Why a password was refused. The message says why in plain words and never repeats the
/// password.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PasswordRefused {
    /// The length rules (ASVS 5.0 V6.2.1, V6.2.9).
    #[error("{}", length_message(.0))]
    Length(PasswordError),
    /// Too easy to guess (ASVS 5.0 V6.2.4, V6.2.11, V6.2.12).
    #[error("{}", guessable_message(.weakness, .advice))]
    TooEasyToGuess {
        /// What makes it easy to guess.
        weakness: Weakness,
        /// What to do instead, in sentences.
        advice: Vec<String>,
    },
}

/// What makes a refused password easy to guess.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Weakness {
    /// It is on the lists of common and breached passwords.
    Common,
    /// It is a common password with small changes (capitals, digits, look-alike symbols).
    LikeCommon,
    /// It is built from the account's username, e-mail address or name.
    Personal,
    /// It is built from the name of this service.
    SiteName,
    /// Another predictable pattern (repeats, sequences, keyboard rows, dates, single
    /// words), with zxcvbn's explanation when it has one.
    Predictable(Option<String>),
}

impl PasswordPolicy {
    /// A policy refusing passwords that score below `min_score` (0 accepts whatever meets
    /// the length rules), with [`SITE_WORDS`] as context words.
    pub fn new(min_score: u8) -> Result<Self, MinScoreOutOfRange> {
        if min_score > MAX_SCORE {
            return Err(MinScoreOutOfRange(min_score));
        }
        Ok(PasswordPolicy { min_score, ..PasswordPolicy::default() })
    }

    /// ASVS 5.0 V6.2.11: also refuses passwords built from `words` (the issuer's host
    /// name, the organisation's name…).
    #[must_use]
    pub fn with_context_words<'a>(mut self, words: impl IntoIterator<Item = &'a str>) -> Self {
        for word in words_of(words) {
            if !self.context_words.contains(&word) {
                self.context_words.push(word);
            }
        }
        self
    }

    /// The minimum zxcvbn score.
    pub fn min_score(&self) -> u8 {
        self.min_score
    }

    /// The context words, lowercased.
    pub fn context_words(&self) -> &[String] {
        &self.context_words
    }

    /// Checks `raw` for an account described by `account_words` (its username, e-mail
    /// address, name and other values the person typed about themselves) and keeps it,
    /// exactly as given, when it is accepted.
    ///
    /// zxcvbn looks at the first 100 characters only (bounding its work); the whole
    /// password is kept and hashed.
    pub fn check(&self, raw: String, account_words: &[&str]) -> Result<Password, PasswordRefused> {
        let password = Password::new(raw).map_err(PasswordRefused::Length)?;
        let personal = words_of(account_words.iter().copied());
        let inputs: Vec<&str> = personal.iter().chain(&self.context_words).map(String::as_str).collect();
        let estimate = zxcvbn::zxcvbn(password.expose(), &inputs);
        if u8::from(estimate.score()) >= self.min_score {
            return Ok(password);
        }
        let lowered = password.expose().to_lowercase();
        let built_from = |words: &[String]| words.iter().any(|w| lowered.contains(w.as_str()));
        let warning = estimate.feedback().and_then(|f| f.warning());
        let weakness = match warning {
            Some(Warning::ThisIsATop10Password | Warning::ThisIsATop100Password | Warning::ThisIsACommonPassword) => {
                Weakness::Common
            }
            Some(Warning::ThisIsSimilarToACommonlyUsedPassword) => Weakness::LikeCommon,
            _ if built_from(&personal) => Weakness::Personal,
            _ if built_from(&self.context_words) => Weakness::SiteName,
            other => Weakness::Predictable(other.map(|w| w.to_string())),
        };
        let mut advice: Vec<String> = match weakness {
            Weakness::Personal => vec!["Leave out your username, e-mail address and name.".to_owned()],
            Weakness::SiteName => vec!["Leave out the name of this site.".to_owned()],
            _ => Vec::new(),
        };
        advice.extend(estimate.feedback().into_iter().flat_map(|f| f.suggestions()).map(|s| s.to_string()));
        if !advice.iter().any(|a| a == DEFAULT_ADVICE) {
            advice.push(DEFAULT_ADVICE.to_owned());
        }
        Err(PasswordRefused::TooEasyToGuess { weakness, advice })
    }
}

/// The words an attacker would try first for `raw`: each one whole, lowercased, and its
/// alphanumeric pieces (`ada.lovelace@example.com` → `ada.lovelace@example.com`,
/// `lovelace`, `example`).
fn words_of<'a>(raw: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    let mut add = |word: &str| {
        if !word.is_empty() && !words.iter().any(|w| w == word) {
            words.push(word.to_owned());
        }
    };
    for whole in raw {
        let whole = whole.trim().to_lowercase();
        add(&whole);
        for piece in whole.split(|c: char| !c.is_alphanumeric()) {
            if piece.chars().count() >= MIN_PIECE_CHARS {
                add(piece);
            }
        }
    }
    words
}

fn length_message(error: &PasswordError) -> String {
    match error {
        PasswordError::TooShort { min } => format!("The password must have at least {min} characters."),
        PasswordError::TooLong { max } => format!("The password must have at most {max} characters."),
    }
}

fn guessable_message(weakness: &Weakness, advice: &[String]) -> String {
    let why = match weakness {
        Weakness::Common => {
            "This password is too common: it is on the lists of leaked passwords that attackers try first.".to_owned()
        }
        Weakness::LikeCommon => {
            "This password is too close to a common password: attackers try such variations first.".to_owned()
        }
        Weakness::Personal => {
            "This password is too easy to guess: it is built from your username, e-mail address or name.".to_owned()
        }
        Weakness::SiteName => "This password is too easy to guess: it is built from the name of this site.".to_owned(),
        Weakness::Predictable(Some(warning)) => format!("This password is too easy to guess. {warning}"),
        Weakness::Predictable(None) => "This password is too easy to guess.".to_owned(),
    };
    std::iter::once(why).chain(advice.iter().cloned()).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests;
