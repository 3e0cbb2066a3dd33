//! OAuth 2.0 Token Exchange (RFC 8693): the policy an API connection sets on who may
//! exchange which tokens for tokens to it, and the decisions of an exchange (which rule
//! applies, which scopes are granted, the `act` claim of §4.1, the expiry).
//!
//! A policy belongs to the TARGET connection and is empty by default: nobody may
//! exchange a token for one to an API unless that API's connection says so. Each rule
//! names the application that may ask (`client_id`, an application with the
//! token-exchange grant, through which the calling API acts), the connection the
//! presented token must have been issued for (`source_audience`), the target's scopes
//! that may be granted, and whether the issued token may leave out `act` (impersonation,
//! §1.1) when the caller names no actor.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use thiserror::Error;

use crate::application::{SettingsError, check_client_id};
use crate::assembly::{AccessTokenFacts, access_token_claims};
use crate::ids::ClientId;
use crate::names::ConnectionName;
use crate::scope::{ScopeSet, ScopeToken};

/// RFC 8693 §3: the token type of an OAuth 2.0 access token, the only one Tessera
/// exchanges and issues.
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

/// At most this many rules per connection.
pub const MAX_RULES: usize = 100;

/// RFC 8693 §4.1 nests one `act` per hop; a chain longer than this is refused, so a
/// token cannot grow without bound by being exchanged again and again.
pub const MAX_ACTOR_DEPTH: usize = 8;

/// A rule as given.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TokenExchangeRuleInput {
    /// The application that may exchange (its `client_id`; it must have the
    /// `urn:ietf:params:oauth:grant-type:token-exchange` grant).
    #[cfg_attr(feature = "openapi", schema(example = "orders-backend"))]
    pub client_id: String,
    /// The API connection the presented token must have been issued for (one of its
    /// `aud`): the API that received the user's token.
    #[cfg_attr(feature = "openapi", schema(example = "orders-api"))]
    pub source_audience: String,
    /// The scopes of this connection the exchanged token may carry (at least one).
    pub scopes: Vec<String>,
    /// Whether a token issued under this rule leaves out `act` when the caller sends no
    /// `actor_token` (impersonation, RFC 8693 §1.1). Default false: delegation, the
    /// token records its actor in `act`.
    #[serde(default)]
    pub impersonation: bool,
}

/// A connection's token-exchange policy as given: replaces the whole list.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TokenExchangePolicyInput {
    /// The rules, in order (an empty list: no exchange for tokens to this connection).
    pub rules: Vec<TokenExchangeRuleInput>,
}

/// A valid rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenExchangeRule {
    pub client_id: ClientId,
    pub source_audience: String,
    pub scopes: ScopeSet,
    pub impersonation: bool,
}

/// A connection's valid policy (stored as JSON with the connection).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TokenExchangePolicy {
    rules: Vec<TokenExchangeRule>,
}

/// What a policy is checked against: the target connection and what exists.
pub struct PolicyContext<'a> {
    /// The scopes of the connection the policy belongs to.
    pub target_scopes: &'a ScopeSet,
    /// Whether an application with this client id exists.
    pub is_client: &'a dyn Fn(&str) -> bool,
    /// Whether an API connection with this name exists.
    pub is_connection: &'a dyn Fn(&str) -> bool,
}

impl TokenExchangePolicyInput {
    /// Checks every rule: an existing application, an existing source connection, at
    /// least one scope and only scopes of the target, and no two rules for the same
    /// application and source. Errors name the field as `rules[i].field`.
    pub fn into_policy(self, context: &PolicyContext<'_>) -> Result<TokenExchangePolicy, SettingsError> {
        if self.rules.len() > MAX_RULES {
            return Err(SettingsError::new("rules", format!("at most {MAX_RULES} rules")));
        }
        let mut rules: Vec<TokenExchangeRule> = Vec::with_capacity(self.rules.len());
        for (i, input) in self.rules.into_iter().enumerate() {
            let field = |name: &str| format!("rules[{i}].{name}");
            let client_id = input.client_id.trim();
            check_client_id(client_id).map_err(|e| SettingsError::new(field("client_id"), e))?;
            if !(context.is_client)(client_id) {
                return Err(SettingsError::new(
                    field("client_id"),
                    format!("no application has client_id {client_id}"),
                ));
            }
            let source = ConnectionName::parse(input.source_audience.trim())
                .map_err(|e| SettingsError::new(field("source_audience"), e))?;
            if !(context.is_connection)(source.as_str()) {
                return Err(SettingsError::new(
                    field("source_audience"),
                    format!("no API connection is named {}", source.as_str()),
                ));
            }
            let mut scopes = ScopeSet::new();
            for raw in &input.scopes {
                let token = ScopeToken::parse(raw.trim()).map_err(|e| SettingsError::new(field("scopes"), e))?;
                if !context.target_scopes.contains(token.as_str()) {
                    return Err(SettingsError::new(
                        field("scopes"),
                        format!("{} is not a scope of this API connection", token.as_str()),
                    ));
                }
                scopes.insert(token);
            }
            if scopes.is_empty() {
                return Err(SettingsError::new(field("scopes"), "choose at least one scope of this API connection"));
            }
            let rule = TokenExchangeRule {
                client_id: ClientId::from(client_id.to_owned()),
                source_audience: source.into_string(),
                scopes,
                impersonation: input.impersonation,
            };
            if rules.iter().any(|r| r.client_id == rule.client_id && r.source_audience == rule.source_audience) {
                return Err(SettingsError::new(
                    field("client_id"),
                    "another rule already covers this application and source audience",
                ));
            }
            rules.push(rule);
        }
        Ok(TokenExchangePolicy { rules })
    }
}

/// Why an exchange is refused by the target's policy.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ExchangeRefusal {
    /// No rule lets this application exchange for this target.
    #[error("this application may not exchange tokens for this API")]
    NoRuleForClient,
    /// Rules exist for the application, but for tokens of other APIs.
    #[error("the subject token was not issued for an API this application may exchange tokens of")]
    SourceNotAllowed,
    /// A requested scope is outside the rule.
    #[error("scope {scope} may not be granted by token exchange")]
    ScopeNotAllowed {
        /// The offending scope.
        scope: String,
    },
}

impl ExchangeRefusal {
    /// RFC 8693 §2.2.2: `invalid_target` when unwilling to issue for the target;
    /// `invalid_request` when the subject token is unacceptable by policy; RFC 6749
    /// §5.2 `invalid_scope` for a scope outside the rule.
    pub fn oauth_error_code(&self) -> &'static str {
        match self {
            Self::NoRuleForClient => "invalid_target",
            Self::SourceNotAllowed => "invalid_request",
            Self::ScopeNotAllowed { .. } => "invalid_scope",
        }
    }
}

/// What the policy grants an exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExchangeGrant<'a> {
    /// The rule that applies.
    pub rule: &'a TokenExchangeRule,
    /// The scopes of the issued token: the requested ones, or every scope of the rule
    /// when none is requested.
    pub scope: ScopeSet,
}

impl TokenExchangePolicy {
    /// The rules, in order.
    pub fn rules(&self) -> &[TokenExchangeRule] {
        &self.rules
    }

    /// Whether the policy has no rule (no exchange for this connection).
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Decides an exchange by `client_id` of a token issued for `subject_audience`,
    /// asking for `requested` (empty: the rule's scopes). The first rule of the client
    /// whose source is among the token's audiences and whose scopes hold the request
    /// applies.
    pub fn decide(
        &self,
        client_id: &str,
        subject_audience: &[&str],
        requested: &ScopeSet,
    ) -> Result<ExchangeGrant<'_>, ExchangeRefusal> {
        let mut of_client = self.rules.iter().filter(|r| r.client_id.as_str() == client_id).peekable();
        if of_client.peek().is_none() {
            return Err(ExchangeRefusal::NoRuleForClient);
        }
        let mut from_source = of_client.filter(|r| subject_audience.contains(&r.source_audience.as_str())).peekable();
        if from_source.peek().is_none() {
            return Err(ExchangeRefusal::SourceNotAllowed);
        }
        let mut first_outside = None;
        for rule in from_source {
            if requested.is_empty() {
                return Ok(ExchangeGrant { rule, scope: rule.scopes.clone() });
            }
            match requested.iter().find(|s| !rule.scopes.contains(s.as_str())) {
                None => return Ok(ExchangeGrant { rule, scope: requested.clone() }),
                Some(outside) => {
                    first_outside.get_or_insert_with(|| outside.as_str().to_owned());
                }
            }
        }
        Err(ExchangeRefusal::ScopeNotAllowed { scope: first_outside.unwrap_or_default() })
    }
}

/// RFC 8693 §4.1: the `act` claim naming `actor` as the current actor, with the
/// subject token's own `act` (the prior actors) nested inside it. `None` when the chain
/// would be longer than [`MAX_ACTOR_DEPTH`].
pub fn actor_claim(actor: &str, prior: Option<&Value>) -> Option<Value> {
    let mut act = Map::new();
    act.insert("sub".into(), Value::String(actor.to_owned()));
    if let Some(prior) = prior {
        if actor_depth(prior) >= MAX_ACTOR_DEPTH {
            return None;
        }
        act.insert("act".into(), prior.clone());
    }
    Some(Value::Object(act))
}

/// How many actors an `act` claim records (1 for a claim without a nested one).
pub fn actor_depth(act: &Value) -> usize {
    let mut depth = 0;
    let mut current = Some(act);
    while let Some(value) = current {
        depth += 1;
        current = value.get("act");
    }
    depth
}

/// The chain would be longer than [`MAX_ACTOR_DEPTH`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("the subject token has been exchanged too many times")]
pub struct ChainTooLong;

/// RFC 8693 §1.1 and §4.1: the `act` of the issued token. Delegation names `actor` (the
/// actor token's subject) or else `caller` (the calling application's client id), with
/// `prior` (the subject token's `act`) nested; impersonation, only where the rule allows
/// it and no actor is named, adds no actor and keeps `prior` as it was.
pub fn act_for(
    rule: &TokenExchangeRule,
    actor: Option<&str>,
    caller: &str,
    prior: Option<&Value>,
) -> Result<Option<Value>, ChainTooLong> {
    match (actor, rule.impersonation) {
        (None, true) => Ok(prior.cloned()),
        (actor, _) => actor_claim(actor.unwrap_or(caller), prior).map(Some).ok_or(ChainTooLong),
    }
}

/// The claims of an exchanged access token: RFC 9068's registered claims of `facts` and
/// `act`. The token endpoint and the console's preview both build it here.
pub fn exchanged_token_claims(facts: &AccessTokenFacts<'_>, act: Option<&Value>) -> Map<String, Value> {
    let mut claims = access_token_claims(facts);
    if let Some(act) = act {
        claims.insert("act".into(), act.clone());
    }
    claims
}

/// docs/security.md ("Learned from the 2026-12 review"): a credential cannot mint one
/// that outlives it. The exchanged token expires after `lifetime`, but never after the
/// subject token.
pub fn exchanged_expiry(now: i64, lifetime: i64, subject_expires_at: i64) -> i64 {
    (now + lifetime).min(subject_expires_at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn scopes(raw: &str) -> ScopeSet {
        ScopeSet::parse(raw).unwrap()
    }

    fn rule(client: &str, source: &str, scope: &[&str]) -> TokenExchangeRuleInput {
        TokenExchangeRuleInput {
            client_id: client.into(),
            source_audience: source.into(),
            scopes: scope.iter().map(|s| s.to_string()).collect(),
            impersonation: false,
        }
    }

    fn parse(rules: Vec<TokenExchangeRuleInput>) -> Result<TokenExchangePolicy, SettingsError> {
        let target = scopes("billing-api billing-api:read");
        let context = PolicyContext {
            target_scopes: &target,
            is_client: &|c| c == "orders-backend" || c == "other-app",
            is_connection: &|c| c == "orders-api" || c == "billing-api",
        };
        TokenExchangePolicyInput { rules }.into_policy(&context)
    }

    #[test]
    fn a_rule_needs_a_known_client_source_and_target_scopes() {
        let ok = parse(vec![rule("orders-backend", "orders-api", &["billing-api:read"])]).unwrap();
        assert_eq!(ok.rules().len(), 1);
        assert!(!ok.rules()[0].impersonation);
        let unknown = parse(vec![rule("nobody-app", "orders-api", &["billing-api"])]).unwrap_err();
        assert_eq!(unknown.field, "rules[0].client_id");
        let source = parse(vec![rule("orders-backend", "nowhere-api", &["billing-api"])]).unwrap_err();
        assert_eq!(source.field, "rules[0].source_audience");
        let foreign = parse(vec![rule("orders-backend", "orders-api", &["orders-api"])]).unwrap_err();
        assert_eq!(foreign.field, "rules[0].scopes");
        let none = parse(vec![rule("orders-backend", "orders-api", &[])]).unwrap_err();
        assert_eq!(none.field, "rules[0].scopes");
        let twice = parse(vec![
            rule("orders-backend", "orders-api", &["billing-api"]),
            rule("orders-backend", "orders-api", &["billing-api:read"]),
        ])
        .unwrap_err();
        assert_eq!(twice.field, "rules[1].client_id");
    }

    #[test]
    fn decisions_follow_client_source_and_scope() {
        let policy = parse(vec![rule("orders-backend", "orders-api", &["billing-api:read"])]).unwrap();
        let empty = ScopeSet::new();
        let granted = policy.decide("orders-backend", &["orders-api"], &empty).unwrap();
        assert_eq!(granted.scope.to_string(), "billing-api:read");
        assert_eq!(policy.decide("other-app", &["orders-api"], &empty), Err(ExchangeRefusal::NoRuleForClient));
        assert_eq!(policy.decide("orders-backend", &["billing-api"], &empty), Err(ExchangeRefusal::SourceNotAllowed));
        let wider = policy.decide("orders-backend", &["orders-api"], &scopes("billing-api")).unwrap_err();
        assert_eq!(wider, ExchangeRefusal::ScopeNotAllowed { scope: "billing-api".into() });
        assert_eq!(wider.oauth_error_code(), "invalid_scope");
        assert!(TokenExchangePolicy::default().decide("orders-backend", &["orders-api"], &empty).is_err());
    }

    #[test]
    fn act_nests_prior_actors_up_to_a_depth() {
        let first = actor_claim("orders-backend", None).unwrap();
        assert_eq!(first, json!({ "sub": "orders-backend" }));
        let second = actor_claim("billing-backend", Some(&first)).unwrap();
        assert_eq!(second, json!({ "sub": "billing-backend", "act": { "sub": "orders-backend" } }));
        assert_eq!(actor_depth(&second), 2);
        let mut chain = first;
        for _ in 1..MAX_ACTOR_DEPTH {
            chain = actor_claim("next", Some(&chain)).unwrap();
        }
        assert_eq!(actor_depth(&chain), MAX_ACTOR_DEPTH);
        assert_eq!(actor_claim("one-more", Some(&chain)), None);
    }

    #[test]
    fn impersonation_leaves_out_act_only_without_an_actor() {
        let policy = parse(vec![TokenExchangeRuleInput {
            impersonation: true,
            ..rule("orders-backend", "orders-api", &["billing-api"])
        }])
        .unwrap();
        let rule = &policy.rules()[0];
        let prior = json!({ "sub": "web-backend" });
        assert_eq!(act_for(rule, None, "orders-backend", None), Ok(None));
        assert_eq!(act_for(rule, None, "orders-backend", Some(&prior)), Ok(Some(prior.clone())));
        assert_eq!(
            act_for(rule, Some("orders-backend"), "orders-backend", Some(&prior)),
            Ok(Some(json!({ "sub": "orders-backend", "act": prior })))
        );
        let delegation = TokenExchangeRule { impersonation: false, ..rule.clone() };
        assert_eq!(act_for(&delegation, None, "orders-backend", None), Ok(Some(json!({ "sub": "orders-backend" }))));
    }

    #[test]
    fn the_exchanged_token_never_outlives_the_subject_token() {
        assert_eq!(exchanged_expiry(1000, 3600, 1500), 1500);
        assert_eq!(exchanged_expiry(1000, 300, 5000), 1300);
    }
}
