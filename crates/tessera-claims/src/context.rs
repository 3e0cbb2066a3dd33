//! What a claims script is given besides the environment: the `token` being issued (its
//! payload and Logto's metadata names) and, for user tokens, the `context` (the user with
//! claim values, roles, organizations and metadata; the application; the grant).
//!
//! Token issuance and the console's test runner both build their input here, so a script
//! sees the same shapes in both. Context keys are snake_case, like OpenID Connect claims
//! and `app_metadata`; the token's metadata keys are Logto's (`clientId`, `accountId`,
//! `grantId`), so scripts written for Logto read the same names.

use serde::Serialize;
use serde_json::{Map, Value, json};
use tessera_domain::{ApplicationId, ClientId, GrantId, UserId};

/// Which token a script is asked about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// An access token issued to a user (authorization code, refresh token, password).
    User,
    /// A machine-to-machine access token (client credentials).
    Machine,
}

impl TokenKind {
    /// Logto's `token.kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::User => "AccessToken",
            TokenKind::Machine => "ClientCredentials",
        }
    }
}

/// The `token` argument: `{ payload, jti, aud, scope, clientId, accountId?, grantId?,
/// gty, kind, expiresAt }`, every metadata field read from `payload` so the two agree.
pub fn token_input(kind: TokenKind, payload: &Map<String, Value>) -> Value {
    let get = |name: &str| payload.get(name).cloned().unwrap_or(Value::Null);
    let mut token = Map::new();
    token.insert("payload".into(), Value::Object(payload.clone()));
    token.insert("jti".into(), get("jti"));
    token.insert("aud".into(), get("aud"));
    token.insert("scope".into(), get("scope"));
    token.insert("clientId".into(), get("client_id"));
    if kind == TokenKind::User {
        token.insert("accountId".into(), get("sub"));
        token.insert("grantId".into(), get("grant_id"));
    }
    let gty = match kind {
        TokenKind::Machine => json!("client_credentials"),
        TokenKind::User => payload.get("gty").cloned().unwrap_or_else(|| json!("authorization_code")),
    };
    token.insert("gty".into(), gty);
    token.insert("kind".into(), json!(kind.as_str()));
    token.insert("expiresAt".into(), get("exp"));
    Value::Object(token)
}

/// Where a new script starts, as Logto's editor does: a `getCustomJwtClaims` that adds
/// nothing.
pub const DEFAULT_SOURCE: &str = "\
/**
 * Returns the claims to add to the access token (an object; {} adds none).
 * Registered claims (iss, sub, aud, exp, scope, client_id, ...) cannot be set.
 */
const getCustomJwtClaims = async ({ token, context, environmentVariables, api }) => {
  return {};
};
";

/// The shapes of the script's arguments, as the console shows them beside the editor.
/// Kept here beside [`token_input`] and [`UserContext`]; a test checks that every key they
/// produce is named.
pub fn outline(kind: TokenKind) -> &'static str {
    match kind {
        TokenKind::User => USER_OUTLINE,
        TokenKind::Machine => MACHINE_OUTLINE,
    }
}

const USER_OUTLINE: &str = "\
token: {
  payload,        // the access token's claims so far (iss, sub, aud, scope, exp, ...)
  jti, aud, scope,
  clientId,       // the application's client_id
  accountId,      // the user's id (= payload.sub)
  grantId,
  gty,            // authorization_code | refresh_token | password | ...
  kind,           // \"AccessToken\"
  expiresAt,      // unix seconds
}
context: {
  user: {
    id, username, email, email_verified,
    claims,         // { claim name: value } for every claim the user has
    roles,          // [role name]
    organizations,  // [{ id, name, display_name, roles: [role name] }]
    app_metadata, user_metadata,
    created_at, updated_at,
  },
  application: { id, client_id, name, app_type, app_metadata },
  grant: { id, scope, auth_time, amr },
}
environmentVariables: { name: value }   // the variables below
api: { denyAccess(message) }            // refuses the token request
";

const MACHINE_OUTLINE: &str = "\
token: {
  payload,        // the access token's claims so far (iss, sub = client_id, aud, scope, exp, ...)
  jti, aud, scope,
  clientId,       // the application's client_id
  gty,            // \"client_credentials\"
  kind,           // \"ClientCredentials\"
  expiresAt,      // unix seconds
}
context: undefined                      // a machine-to-machine token has no user
environmentVariables: { name: value }   // the variables below
api: { denyAccess(message) }            // refuses the token request
";

/// The `context` argument of a user token's script.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct UserContext {
    pub user: UserProfile,
    pub application: ApplicationInfo,
    pub grant: GrantInfo,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct UserProfile {
    pub id: UserId,
    pub username: String,
    pub email: Option<String>,
    pub email_verified: bool,
    /// Every claim value the user has, by claim name (standard and custom).
    pub claims: Map<String, Value>,
    /// Role names.
    pub roles: Vec<String>,
    pub organizations: Vec<OrganizationMembership>,
    pub app_metadata: Value,
    pub user_metadata: Value,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct OrganizationMembership {
    pub id: String,
    pub name: String,
    pub display_name: String,
    /// The member's role names within the organization.
    pub roles: Vec<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ApplicationInfo {
    pub id: ApplicationId,
    pub client_id: ClientId,
    pub name: String,
    pub app_type: String,
    pub app_metadata: Value,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct GrantInfo {
    pub id: GrantId,
    /// The scopes granted, space-separated.
    pub scope: String,
    pub auth_time: Option<i64>,
    pub amr: Vec<String>,
}

impl UserContext {
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// The claims Tessera sets and no custom source may: `tessera_domain::RESERVED_CLAIMS`
/// (the registered claims of RFC 7519, RFC 9068 and OpenID Connect, and Tessera's own
/// `grant_id` and `gty`).
pub const PROTECTED_CLAIMS: &[&str] = tessera_domain::RESERVED_CLAIMS;

/// The protected claims among `claims` (compared without regard to case), in order;
/// empty when none.
pub fn protected_in(claims: &Map<String, Value>) -> Vec<String> {
    claims.keys().filter(|k| tessera_domain::is_reserved(k)).cloned().collect()
}

/// A script's claims as issuance takes them: a result holding a registered claim is a
/// failure of the script (Tessera sets those; no custom source may).
pub fn refuse_registered(claims: Map<String, Value>) -> Result<Map<String, Value>, crate::ScriptFailure> {
    let protected = protected_in(&claims);
    if protected.is_empty() {
        Ok(claims)
    } else {
        Err(crate::ScriptFailure::InvalidResult {
            message: format!(
                "the script returned registered claims, which only Tessera sets: {}",
                protected.join(", ")
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_metadata_is_read_from_the_payload() {
        let payload = json!({ "jti": "j", "aud": "api", "scope": "openid api", "client_id": "c", "sub": "u",
                              "grant_id": "g", "exp": 10 });
        let token = token_input(TokenKind::User, payload.as_object().unwrap());
        assert_eq!(token["clientId"], "c");
        assert_eq!(token["accountId"], "u");
        assert_eq!(token["grantId"], "g");
        assert_eq!(token["kind"], "AccessToken");
        assert_eq!(token["gty"], "authorization_code");
        assert_eq!(token["payload"]["scope"], "openid api");
        let machine = token_input(TokenKind::Machine, payload.as_object().unwrap());
        assert!(machine.get("accountId").is_none());
        assert_eq!(machine["gty"], "client_credentials");
        assert_eq!(machine["kind"], "ClientCredentials");
    }

    /// The keys of `value` and of the objects inside it (not inside `payload`, the
    /// claims, or the metadata, which are the admin's).
    fn keys(value: &Value, out: &mut Vec<String>) {
        if let Value::Object(map) = value {
            for (key, inner) in map {
                out.push(key.clone());
                if !matches!(key.as_str(), "payload" | "claims" | "app_metadata" | "user_metadata") {
                    keys(inner, out);
                }
                if let Value::Array(items) = inner {
                    items.iter().for_each(|item| keys(item, out));
                }
            }
        }
    }

    #[test]
    fn the_outline_names_every_key_a_script_is_given() {
        let payload = json!({ "jti": "j", "aud": "api", "scope": "s", "client_id": "c", "sub": "u", "exp": 1 });
        let context = UserContext {
            user: UserProfile {
                id: UserId::new("u"),
                username: "ada".into(),
                email: None,
                email_verified: false,
                claims: Map::new(),
                roles: vec![],
                organizations: vec![OrganizationMembership {
                    id: "o".into(),
                    name: "acme".into(),
                    display_name: "Acme".into(),
                    roles: vec![],
                }],
                app_metadata: json!({}),
                user_metadata: json!({}),
                created_at: 0,
                updated_at: 0,
            },
            application: ApplicationInfo {
                id: ApplicationId::new("a"),
                client_id: ClientId::new("c"),
                name: "App".into(),
                app_type: "web".into(),
                app_metadata: json!({}),
            },
            grant: GrantInfo { id: GrantId::new("g"), scope: "s".into(), auth_time: None, amr: vec![] },
        };
        for (kind, context) in [(TokenKind::User, Some(context.to_value())), (TokenKind::Machine, None)] {
            let mut names = Vec::new();
            keys(&token_input(kind, payload.as_object().unwrap()), &mut names);
            if let Some(context) = &context {
                keys(context, &mut names);
            }
            let outline = outline(kind);
            for name in names {
                assert!(outline.contains(name.as_str()), "the {kind:?} outline does not name {name}");
            }
        }
        assert!(DEFAULT_SOURCE.contains("getCustomJwtClaims") && DEFAULT_SOURCE.contains("return {};"));
    }

    #[test]
    fn protected_claims_are_found() {
        let claims = json!({ "tier": "gold", "sub": "x", "scope": "y" });
        assert_eq!(protected_in(claims.as_object().unwrap()), ["scope", "sub"]);
    }
}
