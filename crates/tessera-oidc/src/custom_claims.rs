//! Custom claims at issuance, in the one order of `tessera_claims::compose`: the claim
//! mappings that apply to the application, then the admin's `getCustomJwtClaims` script
//! (one for user tokens, one for machine-to-machine tokens, run in `tessera-claims`'
//! sandbox), then the attributes attached to the grant by `POST /api/v1/token/custom`.
//!
//! - `api.denyAccess(message)` refuses the token request with `access_denied` and the
//!   message, whatever the failure setting.
//! - A script that throws, times out, runs out of memory or returns anything but a
//!   claims object follows its failure setting: refuse (`deny`, the default) or issue
//!   without its claims (`issue_without_claims`).
//! - A script returning a registered claim (`sub`, `scope`, …) has failed: Tessera sets
//!   those, and no custom source may.
//!
//! Nothing here touches the database: the script may take up to its time limit, and no
//! transaction should wait on it. Every denial and failure yields an audit event that
//! the caller writes in the transaction that answers the request; its summary never holds
//! a secret variable's value or a URL's query string (review finding 18).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Map, Value, json};
use tessera_claims::issuance::{self, Inputs, Script};
use tessera_claims::{
    ApplicationInfo, FetchPolicy, GrantInfo, IssuedClaims, OrganizationMembership, Redactor, Rule, ScriptEngine,
    ScriptFailure, TokenKind, UserProfile,
};
use tessera_domain::{ClientId, TokenSubject};
use tessera_store::applications::Application;
use tessera_store::audit::{self, NewAuditEvent};
use tessera_store::config::Config;
use tessera_store::scripts::{CustomClaimScript, OnFailure, ScriptKind};
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

/// A script's denial or failure, to be written to the audit log.
#[derive(Debug, Clone)]
pub struct ScriptEvent {
    action: &'static str,
    target: String,
    summary: Value,
}

impl ScriptEvent {
    pub fn record(&self, conn: &mut AnyConnection, now: i64) -> StoreResult<()> {
        let event = NewAuditEvent {
            actor: "system",
            action: self.action,
            target: &self.target,
            summary: self.summary.clone(),
            client_ip: None,
        };
        audit::record(conn, &event, now).map(|_| ())
    }
}

/// A refused token request: the error for the client and, when a script refused it,
/// the event that records why.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub error: OAuthError,
    pub event: Option<ScriptEvent>,
}

impl From<OAuthError> for Refusal {
    fn from(error: OAuthError) -> Refusal {
        Refusal { error, event: None }
    }
}

/// The custom claims of an issuance, and the script's failure event when it failed but
/// the token is issued all the same.
#[derive(Debug, Clone)]
pub struct CustomClaims {
    pub issued: IssuedClaims,
    pub event: Option<ScriptEvent>,
}

/// What the custom claims of one token are computed from.
pub struct ClaimsInput<'a> {
    pub subject: TokenSubject,
    pub app: &'a Application,
    /// The access token's registered claims (the script's `token.payload`).
    pub payload: &'a Map<String, Value>,
    /// The user and the grant, for a user's token.
    pub user: Option<(&'a UserProfile, GrantInfo)>,
    /// Attributes attached to the grant (`POST /api/v1/token/custom`).
    pub attributes: &'a Map<String, Value>,
    /// At a refresh: the claims of the grant's previous issuance, whose grant-fixed
    /// values are kept.
    pub at_grant: Option<&'a IssuedClaims>,
}

/// Whether issuing a user token for `app` reads the user's roles and organizations: a
/// mapping applies, or the user script is enabled.
pub fn needs_profile(config: &Config, app: &Application) -> bool {
    !config.rules_for(TokenSubject::User, &app.id).is_empty() || config.enabled_script(ScriptKind::User).is_some()
}

/// Computes the custom claims in the documented order, or the refusal.
pub fn compute(runtime: &ScriptRuntime, config: &Config, input: ClaimsInput<'_>) -> Result<CustomClaims, Refusal> {
    let rules: Vec<Rule<'_>> = config
        .rules_for(input.subject, &input.app.id)
        .into_iter()
        .map(|m| Rule { id: &m.id, global: m.application_id.is_none(), rule: &m.rule })
        .collect();
    let (kind, token_kind) = match input.subject {
        TokenSubject::User => (ScriptKind::User, TokenKind::User),
        TokenSubject::Machine => (ScriptKind::Machine, TokenKind::Machine),
    };
    let script = config.enabled_script(kind);
    if rules.is_empty() && script.is_none() && input.attributes.is_empty() {
        return Ok(CustomClaims { issued: IssuedClaims::default(), event: None });
    }
    let inputs = Inputs {
        kind: token_kind,
        rules,
        payload: input.payload,
        user: input.user,
        application: application_info(input.app),
        attributes: input.attributes,
        at_grant: input.at_grant,
    };
    let to_run = script.map(|s| Script { source: &s.source, environment: environment(runtime, config) });
    let computed = issuance::compute(&runtime.engine, &runtime.fetch, inputs, to_run);
    let event = match (script, &computed.failure) {
        (Some(script), Some(failure)) => {
            let (refusal, event) = judge(script, &input.app.client_id, failure, &secrets(runtime, config));
            if let Some(error) = refusal {
                return Err(Refusal { error, event: Some(event) });
            }
            Some(event)
        }
        _ => None,
    };
    Ok(CustomClaims { issued: computed.claims, event })
}

/// The user as mappings and the script see them: profile, claim values, roles and
/// organizations with the member's roles.
pub fn user_profile(
    conn: &mut AnyConnection,
    user: &User,
    claims: &BTreeMap<String, Value>,
) -> StoreResult<UserProfile> {
    let roles = users::roles(conn, &user.id)?.into_iter().map(|r| r.name).collect();
    let organizations = organizations::memberships_of_user(conn, &user.id)?
        .into_iter()
        .map(|m| OrganizationMembership {
            id: m.organization.id,
            name: m.organization.name,
            display_name: m.organization.display_name,
            roles: m.roles.into_iter().map(|r| r.name).collect(),
        })
        .collect();
    Ok(UserProfile {
        id: user.id.clone(),
        username: user.username.clone(),
        email: user.email.clone(),
        email_verified: user.email_verified,
        claims: claims.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        roles,
        organizations,
        app_metadata: user.app_metadata.clone(),
        user_metadata: user.user_metadata.clone(),
        created_at: user.created_at,
        updated_at: user.updated_at,
    })
}

pub fn application_info(app: &Application) -> ApplicationInfo {
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

/// The secret variables' values, to keep out of audit summaries. Read only when a script
/// failed; a variable that cannot be opened was not in the run either.
fn secrets(runtime: &ScriptRuntime, config: &Config) -> Redactor {
    let Some(key) = &runtime.master_key else {
        return Redactor::default();
    };
    Redactor::new(config.variables().iter().filter(|variable| variable.secret).filter_map(|variable| {
        let value = key.decrypt(&variable.value, &variable_context(&variable.name)).ok()?;
        Some((variable.name.as_str(), String::from_utf8(value).ok()?))
    }))
}

/// What a failed run means for the request: a denial refuses it; any other failure
/// refuses it or lets the token go without the script's claims, as the script's failure
/// setting says. Either way there is an event to record.
///
/// Review finding 18: the summary names the failure's kind, and its message goes through
/// `secrets` and loses every URL's userinfo, query and fragment (a `fetch` error names its
/// URL, where an API key may ride). The client is still told a denial's message as the
/// script wrote it.
fn judge(
    script: &CustomClaimScript,
    client_id: &ClientId,
    failure: &ScriptFailure,
    secrets: &Redactor,
) -> (Option<OAuthError>, ScriptEvent) {
    let target = format!("script:{}", script.kind.as_str());
    match failure {
        ScriptFailure::Denied { message } => (
            Some(OAuthError::access_denied(message.clone())),
            ScriptEvent {
                action: "script.denied",
                target,
                summary: json!({ "client_id": client_id, "version": script.version,
                                 "message": secrets.for_log(message) }),
            },
        ),
        other => {
            let refusal = (script.on_failure == OnFailure::Deny)
                .then(|| OAuthError::access_denied("the token could not be issued: a custom claims script failed"));
            let outcome = if refusal.is_some() { "denied" } else { "issued_without_claims" };
            let summary = json!({ "client_id": client_id, "version": script.version, "failure": other.kind(),
                                  "message": secrets.for_log(&other.to_string()), "outcome": outcome });
            (refusal, ScriptEvent { action: "script.failed", target, summary })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script(on_failure: OnFailure) -> CustomClaimScript {
        CustomClaimScript {
            kind: ScriptKind::Machine,
            source: String::new(),
            enabled: true,
            on_failure,
            version: 3,
            updated_at: 0,
        }
    }

    #[test]
    fn a_failure_is_audited_by_kind_without_secret_values_or_url_queries() {
        let secrets = Redactor::new([("STRIPE_KEY", "sk_live_51abc"), ("TIER", "")]);
        let failure = ScriptFailure::Thrown {
            message: "TypeError: fetch to https://ops:pw@api.example.com/v1/charges?key=sk_live_51abc&n=1 failed: \
                      timed out (key sk_live_51abc)"
                .to_owned(),
            line: Some(4),
        };
        let (refusal, event) =
            judge(&script(OnFailure::IssueWithoutClaims), &ClientId::from("svc"), &failure, &secrets);
        assert!(refusal.is_none());
        assert_eq!(event.action, "script.failed");
        assert_eq!(
            event.summary,
            json!({ "client_id": "svc", "version": 3, "failure": "thrown", "outcome": "issued_without_claims",
                    "message": "the custom claims script threw: TypeError: fetch to https://api.example.com/v1/charges \
                                failed: timed out (key [secret:STRIPE_KEY])" })
        );
    }

    #[test]
    fn a_denial_is_audited_without_secret_values_but_told_to_the_client_as_written() {
        let secrets = Redactor::new([("STRIPE_KEY", "sk_live_51abc")]);
        let failure = ScriptFailure::Denied { message: "key sk_live_51abc revoked".to_owned() };
        let (refusal, event) = judge(&script(OnFailure::Deny), &ClientId::from("svc"), &failure, &secrets);
        assert_eq!(event.summary["message"], "key [secret:STRIPE_KEY] revoked");
        assert_eq!(refusal.map(|error| error.description), Some("key sk_live_51abc revoked".to_owned()));
    }
}
