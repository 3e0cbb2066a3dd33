//! Custom claims at issuance: the admin's `getCustomJwtClaims` scripts (one for user
//! access tokens, one for machine-to-machine tokens) run in `tessera-claims`' sandbox
//! with the token being issued, the user's context and the environment variables.
//!
//! - `api.denyAccess(message)` refuses the token request with `access_denied` and the
//!   message, whatever the failure setting.
//! - A script that throws, times out, runs out of memory or returns anything but a
//!   claims object follows its failure setting: refuse (`deny`, the default) or issue
//!   without its claims (`issue_without_claims`).
//! - A script returning a registered claim (`sub`, `scope`, …) has failed: Tessera sets
//!   those, and no custom source may.
//!
//! Every denial and failure is an audit event, written in the token request's
//! transaction (the caller commits it with the refusal).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Map, Value, json};
use tessera_claims::{
    ApplicationInfo, FetchPolicy, GrantInfo, OrganizationMembership, ScriptEngine, ScriptFailure, ScriptInput,
    TokenKind, UserContext, UserProfile, protected_in, token_input,
};
use tessera_store::applications::Application;
use tessera_store::audit::{self, NewAuditEvent};
use tessera_store::config::Config;
use tessera_store::scripts::{self, OnFailure, ScriptKind};
use tessera_store::users::{self, User};
use tessera_store::{AnyConnection, StoreResult, organizations};
use tessera_tokens::MasterKey;

use crate::error::OAuthError;

/// The script engine and the key that opens the scripts' environment variables.
#[derive(Clone)]
pub struct ScriptRuntime {
    pub engine: ScriptEngine,
    /// Where scripts may `fetch` (the `script_fetch_allowed_hosts` setting).
    pub fetch: FetchPolicy,
    /// `None` only in tests that run no script with variables.
    pub master_key: Option<Arc<MasterKey>>,
}

impl Default for ScriptRuntime {
    fn default() -> Self {
        ScriptRuntime {
            engine: ScriptEngine::new(tessera_claims::Limits::default()),
            fetch: FetchPolicy::disabled(),
            master_key: None,
        }
    }
}

/// The encryption context of variable `name` (the admin API encrypts with the same).
pub fn variable_context(name: &str) -> String {
    format!("script_variable:{name}")
}

/// What the user token's script is told about the grant.
pub struct UserScriptInput<'a> {
    pub user: &'a User,
    pub user_claims: &'a BTreeMap<String, Value>,
    pub grant_id: &'a str,
    pub scope: &'a str,
    pub auth_time: Option<i64>,
    pub amr: &'a [String],
}

/// The claims the user token script adds to `payload`, or the refusal to answer.
pub fn for_user(
    runtime: &ScriptRuntime,
    config: &Config,
    conn: &mut AnyConnection,
    app: &Application,
    input: &UserScriptInput<'_>,
    payload: &Map<String, Value>,
    now: i64,
) -> StoreResult<Result<Map<String, Value>, OAuthError>> {
    let Some(script) = config.enabled_script(ScriptKind::User) else {
        return Ok(Ok(Map::new()));
    };
    let context = user_context(conn, app, input)?;
    let token = token_input(TokenKind::User, payload);
    let variables = environment(runtime, config);
    match execute(runtime, script, token, Some(context), variables) {
        Ok(claims) => Ok(Ok(claims)),
        Err(failure) => settle(conn, script, app, &failure, now),
    }
}

/// The claims the machine-to-machine `script` adds to `payload`, or the refusal. The
/// script runs outside any transaction; only a failure writes (its audit event).
pub fn for_machine(
    runtime: &ScriptRuntime,
    config: &Config,
    store: &tessera_store::Store,
    script: &scripts::CustomClaimScript,
    app: &Application,
    payload: &Map<String, Value>,
    now: i64,
) -> StoreResult<Result<Map<String, Value>, OAuthError>> {
    let token = token_input(TokenKind::Machine, payload);
    let variables = environment(runtime, config);
    match execute(runtime, script, token, None, variables) {
        Ok(claims) => Ok(Ok(claims)),
        Err(failure) => store.write(|c| settle(c, script, app, &failure, now)),
    }
}

/// The `context` of a user token's script, as the console's test runner builds it too.
fn user_context(conn: &mut AnyConnection, app: &Application, input: &UserScriptInput<'_>) -> StoreResult<Value> {
    let roles = users::roles(conn, &input.user.id)?.into_iter().map(|r| r.name).collect();
    let organizations = organizations::memberships_of_user(conn, &input.user.id)?
        .into_iter()
        .map(|m| OrganizationMembership {
            id: m.organization.id,
            name: m.organization.name,
            display_name: m.organization.display_name,
            roles: m.roles.into_iter().map(|r| r.name).collect(),
        })
        .collect();
    let u = input.user;
    let context = UserContext {
        user: UserProfile {
            id: u.id.clone(),
            username: u.username.clone(),
            email: u.email.clone(),
            email_verified: u.email_verified,
            claims: input.user_claims.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            roles,
            organizations,
            app_metadata: u.app_metadata.clone(),
            user_metadata: u.user_metadata.clone(),
            created_at: u.created_at,
            updated_at: u.updated_at,
        },
        application: application_info(app),
        grant: GrantInfo {
            id: input.grant_id.to_owned(),
            scope: input.scope.to_owned(),
            auth_time: input.auth_time,
            amr: input.amr.to_vec(),
        },
    };
    Ok(context.to_value())
}

fn application_info(app: &Application) -> ApplicationInfo {
    ApplicationInfo {
        id: app.id.clone(),
        client_id: app.client_id.clone(),
        name: app.settings.name.clone(),
        app_type: app.settings.app_type.as_str().to_owned(),
        app_metadata: app.settings.app_metadata.clone(),
    }
}

/// The stored variables, decrypted; a variable that cannot be opened is a failure of
/// the run (the script would see a different environment than the admin set).
fn environment(runtime: &ScriptRuntime, config: &Config) -> Result<BTreeMap<String, String>, String> {
    let mut variables = BTreeMap::new();
    for variable in config.variables() {
        let Some(key) = &runtime.master_key else {
            return Err("the environment variables cannot be read on this node".into());
        };
        match key
            .decrypt(&variable.value, &variable_context(&variable.name))
            .ok()
            .and_then(|v| String::from_utf8(v).ok())
        {
            Some(value) => {
                variables.insert(variable.name.clone(), value);
            }
            None => return Err(format!("the environment variable {} cannot be decrypted", variable.name)),
        }
    }
    Ok(variables)
}

/// Runs `script` with its input, without touching the database (a script may take up to
/// its time limit: no transaction should wait on it). A result holding a registered
/// claim is a failure.
fn execute(
    runtime: &ScriptRuntime,
    script: &scripts::CustomClaimScript,
    token: Value,
    context: Option<Value>,
    variables: Result<BTreeMap<String, String>, String>,
) -> Result<Map<String, Value>, ScriptFailure> {
    let claims = match variables {
        Err(message) => return Err(ScriptFailure::Engine { message }),
        Ok(environment_variables) => {
            let input = ScriptInput { token, context, environment_variables };
            runtime.engine.run(&script.source, &input, &runtime.fetch)?
        }
    };
    let protected = protected_in(&claims);
    if protected.is_empty() {
        Ok(claims)
    } else {
        Err(ScriptFailure::InvalidResult {
            message: format!(
                "the script returned registered claims, which only Tessera sets: {}",
                protected.join(", ")
            ),
        })
    }
}

/// What a failed run means for the request, audited: a denial refuses it; any other
/// failure refuses it or lets the token go without the script's claims, as the script's
/// failure setting says.
fn settle(
    conn: &mut AnyConnection,
    script: &scripts::CustomClaimScript,
    app: &Application,
    failure: &ScriptFailure,
    now: i64,
) -> StoreResult<Result<Map<String, Value>, OAuthError>> {
    let target = format!("script:{}", script.kind.as_str());
    let (action, refusal, summary) = match failure {
        ScriptFailure::Denied { message } => (
            "script.denied",
            Some(OAuthError::access_denied(message.clone())),
            json!({ "client_id": app.client_id, "version": script.version, "message": message }),
        ),
        other => {
            let refusal = (script.on_failure == OnFailure::Deny)
                .then(|| OAuthError::access_denied("the token could not be issued: a custom claims script failed"));
            let outcome = if refusal.is_some() { "denied" } else { "issued_without_claims" };
            (
                "script.failed",
                refusal,
                json!({ "client_id": app.client_id, "version": script.version, "failure": other.to_string(),
                        "outcome": outcome }),
            )
        }
    };
    audit::record(conn, &NewAuditEvent { actor: "system", action, target: &target, summary, client_ip: None }, now)?;
    Ok(match refusal {
        Some(error) => Err(error),
        None => Ok(Map::new()),
    })
}

/// Merges custom claims into a payload of registered claims, in the documented order
/// (earlier sources first, a later one overriding an earlier one's claim); no custom
/// claim overrides a registered one.
pub fn merge(payload: &mut Map<String, Value>, sources: impl IntoIterator<Item = Map<String, Value>>) {
    let mut custom = Map::new();
    for source in sources {
        custom.extend(source);
    }
    for (name, value) in custom {
        if !payload.contains_key(&name) && !tessera_domain::is_reserved(&name) {
            payload.insert(name, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_sources_override_earlier_ones_but_never_registered_claims() {
        let mut payload = json!({ "sub": "u", "scope": "openid" }).as_object().cloned().unwrap();
        let script = json!({ "tier": "silver", "plan": "a", "sub": "evil" }).as_object().cloned().unwrap();
        let attributes = json!({ "tier": "gold", "scope": "admin" }).as_object().cloned().unwrap();
        merge(&mut payload, [script, attributes]);
        assert_eq!(payload["tier"], "gold");
        assert_eq!(payload["plan"], "a");
        assert_eq!(payload["sub"], "u");
        assert_eq!(payload["scope"], "openid");
    }
}
