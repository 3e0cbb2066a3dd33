//! RFC 9470 (OAuth 2.0 Step Up Authentication Challenge): routes that need the user to
//! have signed in at a level (`acr`), or recently enough (`max_age`, seconds since
//! `auth_time`). A token that does not meet a route's rule is answered `401` with
//! `error="insufficient_user_authentication"` and the `acr_values` and `max_age` to ask
//! for (§3); the client sends the user back through authorize with them and calls again
//! with the new token. Tessera's levels, weakest first: `1fa`, `2fa`, `phr`; each
//! includes the ones below it (docs/authentication.md).

/// A level of Tessera's `acr`, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    OneFactor,
    TwoFactor,
    PhishingResistant,
}

impl Level {
    pub fn parse(raw: &str) -> Option<Level> {
        match raw {
            "1fa" => Some(Level::OneFactor),
            "2fa" => Some(Level::TwoFactor),
            "phr" => Some(Level::PhishingResistant),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Level::OneFactor => "1fa",
            Level::TwoFactor => "2fa",
            Level::PhishingResistant => "phr",
        }
    }
}

/// What one route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub acr: Level,
    /// Seconds since the user's `auth_time`.
    pub max_age: Option<i64>,
}

/// Why a token does not meet a [`Rule`]: what the challenge asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unmet {
    pub rule: Rule,
    pub description: &'static str,
}

impl Rule {
    /// RFC 9470 §3: whether a token with `acr` and `auth_time` (as introspection gave
    /// them) meets the rule at `now`. A token without them (a client acting for itself)
    /// never does.
    pub fn check(&self, acr: Option<&str>, auth_time: Option<i64>, now: i64) -> Result<(), Unmet> {
        let reached = acr.and_then(Level::parse);
        if reached.is_none_or(|level| level < self.acr) {
            return Err(Unmet { rule: *self, description: "a stronger authentication is required" });
        }
        if let Some(max_age) = self.max_age
            && auth_time.is_none_or(|at| now - at > max_age)
        {
            return Err(Unmet { rule: *self, description: "a more recent authentication is required" });
        }
        Ok(())
    }
}

/// `STEP_UP`: comma-separated `PATH=LEVEL[:MAX_AGE]`, e.g. `/protected=1fa:300` or
/// `/protected=phr:300,/reports=2fa`.
pub fn parse(raw: &str) -> Result<Vec<(String, Rule)>, String> {
    let mut rules = Vec::new();
    for item in raw.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (path, rule) = item.split_once('=').ok_or_else(|| format!("{item:?} is not PATH=LEVEL[:MAX_AGE]"))?;
        if !path.starts_with('/') {
            return Err(format!("{path:?} is not a path (it starts with /)"));
        }
        let (level, max_age) = match rule.split_once(':') {
            Some((level, max_age)) => (level, Some(max_age)),
            None => (rule, None),
        };
        let acr = Level::parse(level).ok_or_else(|| format!("{level:?} is not a level (1fa, 2fa or phr)"))?;
        let max_age = max_age
            .map(|m| m.parse::<i64>().ok().filter(|m| *m > 0).ok_or_else(|| format!("{m:?} is not a positive number")))
            .transpose()?;
        rules.push((path.to_owned(), Rule { acr, max_age }));
    }
    Ok(rules)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_are_read_per_path() {
        let rules = parse("/protected=phr:300, /reports=2fa").unwrap();
        assert_eq!(rules[0], ("/protected".into(), Rule { acr: Level::PhishingResistant, max_age: Some(300) }));
        assert_eq!(rules[1], ("/reports".into(), Rule { acr: Level::TwoFactor, max_age: None }));
        assert!(parse("").unwrap().is_empty());
        for bad in ["/protected", "protected=1fa", "/p=gold", "/p=1fa:0", "/p=1fa:soon"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_token_meets_a_rule_by_level_and_recency() {
        let rule = Rule { acr: Level::TwoFactor, max_age: Some(300) };
        assert!(rule.check(Some("2fa"), Some(1_000), 1_300).is_ok());
        assert!(rule.check(Some("phr"), Some(1_000), 1_000).is_ok(), "a stronger level includes the weaker");
        assert_eq!(
            rule.check(Some("1fa"), Some(1_000), 1_000).unwrap_err().description,
            "a stronger authentication is required"
        );
        assert_eq!(
            rule.check(Some("2fa"), Some(1_000), 1_301).unwrap_err().description,
            "a more recent authentication is required"
        );
        assert!(rule.check(None, None, 1_000).is_err(), "a machine token has no user authentication");
        assert!(rule.check(Some("2fa"), None, 1_000).is_err());
    }
}
