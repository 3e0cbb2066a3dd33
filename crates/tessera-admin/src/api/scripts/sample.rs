//! The sample input of the console's test runner: the `token` and `context` a script
//! would be given for a chosen user and application, built from the store with
//! `tessera_claims::context` the way the token endpoint builds them. What only exists
//! at issuance (the issuer, the token and grant ids) is a placeholder in parentheses;
//! a user or application not chosen is a made-up one.

use serde_json::{Map, Value, json};
use tessera_claims::{
    ApplicationInfo, GrantInfo, OrganizationMembership, TokenKind, UserContext, UserProfile, token_input,
};
use tessera_domain::GrantType;
use tessera_store::applications::Application;
use tessera_store::scopes::{self, ScopeKind};
use tessera_store::scripts::ScriptKind;
use tessera_store::users::{self, User};
use tessera_store::{AnyConnection, StoreResult, organizations};

/// Stands for the issuer identifier in a sample (the admin API does not know it).
pub const ISSUER: &str = "(issuer)";
/// Stands for the grant id and the token id, which exist only at issuance.
const GRANT_ID: &str = "(grant id)";
const TOKEN_ID: &str = "(token id)";
/// The access token lifetime of a made-up application, in seconds.
const DEFAULT_LIFETIME: i64 = 3600;

/// A script's input: its `token` argument and, for a user token, its `context`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub token: Value,
    pub context: Option<Value>,
}

/// The token kind a script kind is run for.
pub fn token_kind(kind: ScriptKind) -> TokenKind {
    match kind {
        ScriptKind::User => TokenKind::User,
        ScriptKind::Machine => TokenKind::Machine,
    }
}

/// Whether the application may obtain machine-to-machine tokens.
pub fn is_machine_client(app: &Application) -> bool {
    app.settings.grant_types.contains(&GrantType::ClientCredentials)
}

/// The input the `kind` script would get for `user` (user tokens only) signing in to
/// `app` at `now`.
pub fn build(
    conn: &mut AnyConnection,
    kind: ScriptKind,
    user: Option<&User>,
    app: Option<&Application>,
    now: i64,
) -> StoreResult<Sample> {
    let scope = scope(conn, kind, app)?;
    let audience = audience(conn, kind, app)?;
    let client_id = app.map_or("(client id)", |a| a.client_id.as_str());
    let lifetime = app.map_or(DEFAULT_LIFETIME, |a| a.settings.lifetimes.access_token);
    let mut payload = Map::new();
    payload.insert("iss".into(), json!(ISSUER));
    payload.insert("sub".into(), json!(if kind == ScriptKind::User { user_id(user) } else { client_id }));
    payload.insert("aud".into(), audience);
    payload.insert("client_id".into(), json!(client_id));
    payload.insert("scope".into(), json!(scope));
    payload.insert("iat".into(), json!(now));
    payload.insert("nbf".into(), json!(now));
    payload.insert("exp".into(), json!(now + lifetime));
    payload.insert("jti".into(), json!(TOKEN_ID));
    let context = match kind {
        ScriptKind::Machine => {
            payload.insert("gty".into(), json!("client_credentials"));
            None
        }
        ScriptKind::User => {
            let grant =
                GrantInfo { id: GRANT_ID.into(), scope: scope.clone(), auth_time: Some(now), amr: vec!["pwd".into()] };
            payload.insert("auth_time".into(), json!(now));
            payload.insert("amr".into(), json!(grant.amr));
            payload.insert("grant_id".into(), json!(GRANT_ID));
            let context = UserContext { user: profile(conn, user, now)?, application: application(app), grant };
            Some(context.to_value())
        }
    };
    Ok(Sample { token: token_input(token_kind(kind), &payload), context })
}

fn user_id(user: Option<&User>) -> &str {
    user.map_or("(user id)", |u| u.id.as_str())
}

/// User tokens carry the application's allowed scopes; machine tokens only its API scopes
/// (RFC 6749 §4.4: a machine asks for itself, with no identity).
fn scope(conn: &mut AnyConnection, kind: ScriptKind, app: Option<&Application>) -> StoreResult<String> {
    let Some(app) = app else { return Ok(if kind == ScriptKind::User { "openid".into() } else { String::new() }) };
    let allowed = &app.settings.allowed_scopes;
    if kind == ScriptKind::User {
        return Ok(allowed.join(" "));
    }
    let api: Vec<String> = scopes::list_scopes(conn, Some(ScopeKind::Api))?.into_iter().map(|s| s.name).collect();
    Ok(allowed.iter().filter(|s| api.contains(s)).cloned().collect::<Vec<_>>().join(" "))
}

/// The API connections whose scopes the application may be granted, as `aud`: one as a
/// string, several as an array; none is the issuer for a user token and an empty array
/// for a machine token, as at issuance.
fn audience(conn: &mut AnyConnection, kind: ScriptKind, app: Option<&Application>) -> StoreResult<Value> {
    let mut connections: Vec<String> = match app {
        None => Vec::new(),
        Some(app) => scopes::list_scopes(conn, Some(ScopeKind::Api))?
            .into_iter()
            .filter(|s| app.settings.allowed_scopes.contains(&s.name))
            .filter_map(|s| s.connection.map(|(_, name)| name))
            .collect(),
    };
    connections.sort();
    connections.dedup();
    Ok(match connections.as_slice() {
        [] if kind == ScriptKind::User => json!(ISSUER),
        [one] => json!(one),
        many => json!(many),
    })
}

pub(crate) fn profile(conn: &mut AnyConnection, user: Option<&User>, now: i64) -> StoreResult<UserProfile> {
    let Some(u) = user else {
        return Ok(UserProfile {
            id: user_id(None).into(),
            username: "(username)".into(),
            email: None,
            email_verified: false,
            claims: Map::new(),
            roles: Vec::new(),
            organizations: Vec::new(),
            app_metadata: json!({}),
            user_metadata: json!({}),
            created_at: now,
            updated_at: now,
        });
    };
    let claims = users::claim_values(conn, u)?.into_iter().collect();
    let roles = users::roles(conn, &u.id)?.into_iter().map(|r| r.name).collect();
    let organizations = organizations::memberships_of_user(conn, &u.id)?
        .into_iter()
        .map(|m| OrganizationMembership {
            id: m.organization.id,
            name: m.organization.name,
            display_name: m.organization.display_name,
            roles: m.roles.into_iter().map(|r| r.name).collect(),
        })
        .collect();
    Ok(UserProfile {
        id: u.id.clone(),
        username: u.username.clone(),
        email: u.email.clone(),
        email_verified: u.email_verified,
        claims,
        roles,
        organizations,
        app_metadata: u.app_metadata.clone(),
        user_metadata: u.user_metadata.clone(),
        created_at: u.created_at,
        updated_at: u.updated_at,
    })
}

pub(crate) fn application(app: Option<&Application>) -> ApplicationInfo {
    match app {
        Some(app) => ApplicationInfo {
            id: app.id.clone(),
            client_id: app.client_id.clone(),
            name: app.settings.name.clone(),
            app_type: app.settings.app_type.as_str().to_owned(),
            app_metadata: app.settings.app_metadata.clone(),
        },
        None => ApplicationInfo {
            id: "(application id)".into(),
            client_id: "(client id)".into(),
            name: "(application)".into(),
            app_type: "web".into(),
            app_metadata: json!({}),
        },
    }
}
