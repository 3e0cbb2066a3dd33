//! The one order in which custom claims are put together for an issuance, and where each
//! goes:
//!
//! 1. standard claims (registered claims, and the identity scopes' claims in the ID
//!    token and userinfo) are set by the caller and never overridden;
//! 2. claim mappings (global ones, each replaced by the application's own rule for the
//!    same claim);
//! 3. the script's claims;
//! 4. custom attributes attached with `POST /api/v1/token/custom`, which persist through
//!    refresh.
//!
//! A later source overrides an earlier one's value. Each claim goes to the outputs its
//! rule declares (a mapping, or a `script` declaration of the same name); a claim no rule
//! declares goes to the access token and introspection. A claim whose rule's freshness
//! is `grant` keeps, at a refresh, the value it had when the grant was made.
//!
//! The result, [`IssuedClaims`], is kept with the grant: the ID token and the access
//! token take their claims from it at issuance, and userinfo and introspection answer
//! from it later, so the four outputs agree.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tessera_domain::{ClaimRule, Freshness, MappingSource, Output, Outputs, is_reserved};

use crate::mapping::{MappingData, value_of};

/// A rule as the composition sees it: the rule, its id, and whether it is global.
#[derive(Debug, Clone, Copy)]
pub struct Rule<'a> {
    pub id: &'a str,
    pub global: bool,
    pub rule: &'a ClaimRule,
}

/// Where a claim's value came from; the preview labels each claim with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ClaimSource {
    /// A claim mapping (`global` when it applies to every application).
    Mapping { id: String, global: bool },
    /// The custom claims script.
    Script,
    /// Attached by `POST /api/v1/token/custom`.
    Attribute,
}

/// One custom claim of an issuance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IssuedClaim {
    pub value: Value,
    /// Output names (`id_token access_token userinfo introspection`).
    pub outputs: Vec<String>,
    /// Fixed when the grant was made (freshness `grant`).
    #[serde(default)]
    pub fixed: bool,
    pub source: ClaimSource,
}

impl IssuedClaim {
    fn outputs(&self) -> Outputs {
        Outputs::of(self.outputs.iter().filter_map(|o| o.parse::<Output>().ok()))
    }

    pub fn goes_to(&self, output: Output) -> bool {
        self.outputs().contains(output)
    }
}

/// The custom claims of one issuance, by claim name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IssuedClaims(BTreeMap<String, IssuedClaim>);

impl IssuedClaims {
    /// Reads what [`IssuedClaims::to_map`] wrote; entries that cannot be read are left
    /// out (a grant from before claim mappings has `{}`).
    pub fn from_map(stored: &Map<String, Value>) -> IssuedClaims {
        IssuedClaims(
            stored
                .iter()
                .filter_map(|(name, entry)| Some((name.clone(), serde_json::from_value(entry.clone()).ok()?)))
                .collect(),
        )
    }

    /// The form kept with the grant.
    pub fn to_map(&self) -> Map<String, Value> {
        self.0.iter().filter_map(|(name, claim)| Some((name.clone(), serde_json::to_value(claim).ok()?))).collect()
    }

    /// The claims that go to `output`, by name.
    pub fn output(&self, output: Output) -> Map<String, Value> {
        self.0
            .iter()
            .filter(|(_, claim)| claim.goes_to(output))
            .map(|(name, claim)| (name.clone(), claim.value.clone()))
            .collect()
    }

    pub fn get(&self, name: &str) -> Option<&IssuedClaim> {
        self.0.get(name)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &IssuedClaim)> {
        self.0.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// What introspection answers of an access token carrying `claims`: those claims,
    /// less the custom claims not declared for introspection, plus the ones declared for
    /// introspection that the token does not carry (a claim the token carries is
    /// answered as it carries it).
    pub fn introspection_view(&self, mut claims: Map<String, Value>) -> Map<String, Value> {
        for (name, claim) in &self.0 {
            if !claim.goes_to(Output::Introspection) {
                claims.remove(name);
            } else if !claims.contains_key(name) && !is_reserved(name) {
                claims.insert(name.clone(), claim.value.clone());
            }
        }
        claims
    }

    /// Adds `source`'s claims to `payload` in place: none overrides a claim already
    /// there (registered and standard claims come first) or a registered name.
    pub fn merge_into(payload: &mut Map<String, Value>, source: Map<String, Value>) {
        for (name, value) in source {
            if !payload.contains_key(&name) && !is_reserved(&name) {
                payload.insert(name, value);
            }
        }
    }
}

/// Puts an issuance's custom claims together, source by source, in the documented order.
#[derive(Debug)]
pub struct Composer<'a> {
    rules: Vec<Rule<'a>>,
    claims: IssuedClaims,
}

impl<'a> Composer<'a> {
    /// `rules`: those that apply to this token (see `Config::rules_for`).
    pub fn new(rules: Vec<Rule<'a>>) -> Composer<'a> {
        Composer { rules, claims: IssuedClaims::default() }
    }

    /// Goes on from the claims of an earlier issuance (to attach attributes to a grant
    /// between issuances).
    pub fn continuing(rules: Vec<Rule<'a>>, claims: IssuedClaims) -> Composer<'a> {
        Composer { rules, claims }
    }

    fn rule_of(&self, claim: &str) -> Option<&Rule<'a>> {
        self.rules.iter().find(|r| r.rule.claim == claim)
    }

    fn set(&mut self, name: String, value: Value, source: ClaimSource) {
        let (outputs, fixed) = match self.rule_of(&name) {
            Some(rule) => (rule.rule.outputs, rule.rule.freshness == Freshness::Grant),
            None => (Outputs::ACCESS, false),
        };
        let outputs = outputs.iter().map(|o| o.as_str().to_owned()).collect();
        self.claims.0.insert(name, IssuedClaim { value, outputs, fixed, source });
    }

    /// Step 2: the mappings' values.
    pub fn map(&mut self, data: &MappingData<'_>) {
        let found: Vec<(String, Value, ClaimSource)> = self
            .rules
            .iter()
            .filter(|r| r.rule.source != MappingSource::Script)
            .filter_map(|r| {
                let value = value_of(&r.rule.source, data)?;
                Some((r.rule.claim.clone(), value, ClaimSource::Mapping { id: r.id.to_owned(), global: r.global }))
            })
            .collect();
        for (name, value, source) in found {
            self.set(name, value, source);
        }
    }

    /// Step 3: the script's claims (already checked to hold no registered claim).
    pub fn script(&mut self, claims: Map<String, Value>) {
        for (name, value) in claims {
            self.set(name, value, ClaimSource::Script);
        }
    }

    /// At a refresh, between the script and the attributes: every claim whose rule says
    /// `grant` takes the value it had when the grant was made (or stays absent if it had
    /// none then).
    pub fn keep_fixed(&mut self, at_grant: &IssuedClaims) {
        let fixed: Vec<String> =
            self.rules.iter().filter(|r| r.rule.freshness == Freshness::Grant).map(|r| r.rule.claim.clone()).collect();
        for name in fixed {
            match at_grant.get(&name) {
                Some(before) => {
                    let mut kept = before.clone();
                    if let Some(now) = self.claims.0.get(&name) {
                        // The value and its source stay; where it goes follows the rule now.
                        kept.outputs = now.outputs.clone();
                    }
                    kept.fixed = true;
                    self.claims.0.insert(name, kept);
                }
                None => {
                    self.claims.0.remove(&name);
                }
            }
        }
    }

    /// Step 4: the attributes attached to the grant.
    pub fn attributes(&mut self, attributes: &Map<String, Value>) {
        for (name, value) in attributes {
            if !is_reserved(name) {
                self.set(name.clone(), value.clone(), ClaimSource::Attribute);
            }
        }
    }

    pub fn finish(self) -> IssuedClaims {
        self.claims
    }
}

#[cfg(test)]
mod tests;
