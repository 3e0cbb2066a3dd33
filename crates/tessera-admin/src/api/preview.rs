//! `POST /api/v1/applications/{id}/preview`: what an application gets for a user (or,
//! for a machine client, for itself) if a token were issued now: the ID token, the
//! access token, userinfo and each audience connection's introspection answer, every
//! claim labelled with its source (`registered`, `standard`, `mapping`, `script`).
//!
//! It computes exactly as the token endpoint does (`tessera_domain::assembly` for the
//! registered and standard claims, `tessera_claims::issuance` for the mappings and the
//! script), as a new sign-in would: no grant yet, so no custom attributes, and
//! grant-fixed claims take today's values. As in the script test runner, `fetch` is off,
//! a secret variable's value is shown as `[secret:NAME]` wherever it appears (in the
//! script's logs and error, the denial, any claim), and every preview is an audit event
//! (`token.preview`).

use std::collections::{BTreeMap, BTreeSet};

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tessera_claims::issuance::{self, Inputs, Script};
use tessera_claims::{ClaimSource, FetchPolicy, GrantInfo, IssuedClaims, Redactor, Rule, ScriptFailure, TokenKind};
use tessera_domain::{
    AccessTokenFacts, ApplicationId, GrantId, GrantType, IdTokenFacts, IdentityClaims, Output, Requirement, ScopeSet,
    TokenSubject, UserId, access_token_audience_and_scope, access_token_claims, claims_for_id_token,
    claims_for_userinfo, id_token_claims, introspection_answer, resolve_for_client_credentials, resolve_requested,
};
use tessera_store::Store;
use tessera_store::applications::Application;
use tessera_store::config::Config;
use tessera_store::scripts::{OnFailure, ScriptKind};
use tessera_store::users;
use utoipa::ToSchema;

use super::auth::Caller;
use super::body::{self, blocking};
use super::changes::{self, Actor};
use super::error::ApiError;
use super::scripts::runner::{TestError, failure_of};
use super::scripts::{ScriptSupport, sample, variables};

/// Stands for what exists only at issuance.
const TOKEN_ID: &str = "(token id)";
const GRANT_ID: &str = "(grant id)";
const SESSION_ID: &str = "(session id)";

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/applications/{id}/preview", web::post().to(preview));
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewBody {
    /// The user signing in; leave out for a machine client's own (client credentials)
    /// token.
    pub(crate) user_id: Option<String>,
    /// The scopes asked for, space-separated; default: every scope the application is
    /// allowed.
    pub(crate) scope: Option<String>,
}

/// One claim of an output and where it came from.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PreviewClaim {
    pub(crate) name: String,
    #[schema(value_type = Object)]
    pub(crate) value: Value,
    /// `registered` (set by Tessera), `standard` (an identity scope's claim), `mapping`,
    /// `script` or `attribute`.
    pub(crate) source: &'static str,
    /// The claim mapping that set it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) mapping_id: Option<String>,
    /// Whether that mapping applies to every application.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) global: Option<bool>,
}

/// What one API connection would be answered at introspection.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IntrospectionPreview {
    pub(crate) connection: String,
    pub(crate) claims: Vec<PreviewClaim>,
}

/// What the script did.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ScriptPreview {
    /// The script's failure, when it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) error: Option<TestError>,
    pub(crate) logs: Vec<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Preview {
    pub(crate) application_id: String,
    pub(crate) client_id: String,
    /// `null` for a machine client's own token.
    pub(crate) user_id: Option<String>,
    /// The scopes that would be granted.
    pub(crate) scope: String,
    /// `issued`, `issued_without_script_claims` (the script failed and its setting lets
    /// the token go without its claims) or `denied` (`access_denied`).
    pub(crate) outcome: &'static str,
    /// What the client would be told when denied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) denied: Option<String>,
    /// Present when a script ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) script: Option<ScriptPreview>,
    /// `null` without `openid` and for machine tokens.
    pub(crate) id_token: Option<Vec<PreviewClaim>>,
    pub(crate) access_token: Vec<PreviewClaim>,
    /// `null` without `openid` and for machine tokens.
    pub(crate) userinfo: Option<Vec<PreviewClaim>>,
    /// One answer per connection the token is for.
    pub(crate) introspection: Vec<IntrospectionPreview>,
    /// What the granted API scopes require of the user's authentication, scope by scope
    /// (each its own requirement, else its connection's; docs/authentication.md). The
    /// preview's tokens assume a password sign-in now (`acr` `1fa`); authorize would first
    /// ask the user for what a requirement adds.
    pub(crate) requirements: Vec<ScopeRequirement>,
    /// Those requirements combined (the strongest level, the shortest recency); null:
    /// none. Only for a user's token: a machine token has no user authentication.
    #[schema(value_type = Option<Object>)]
    pub(crate) requirement: Option<Requirement>,
}

/// The requirement one granted API scope carries.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ScopeRequirement {
    pub(crate) scope: String,
    /// `1fa`, `2fa` or `phr`.
    pub(crate) acr: String,
    /// Seconds since `auth_time`, when the scope needs a recent sign-in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) max_age: Option<i64>,
    #[serde(skip)]
    pub(crate) requirement: Requirement,
}

/// The requirements of the API scopes in `scope`, and their combination.
fn requirements_of(config: &Config, scope: &ScopeSet) -> (Vec<ScopeRequirement>, Option<Requirement>) {
    let each: Vec<(String, Requirement)> =
        scope.iter().filter_map(|s| config.scope_requirement(s.as_str()).map(|r| (s.to_string(), r))).collect();
    let combined = each.iter().map(|(_, r)| Some(*r)).fold(None, Requirement::combine);
    let views = each
        .into_iter()
        .map(|(scope, r)| ScopeRequirement {
            scope,
            acr: r.acr.as_str().to_owned(),
            max_age: r.max_age,
            requirement: r,
        })
        .collect();
    (views, combined)
}

#[utoipa::path(post, path = "/api/v1/applications/{id}/preview", tag = "claim mappings",
    params(("id" = String, Path, description = "The application's id")), request_body = PreviewBody,
    responses((status = 200, body = Preview), (status = 400, body = super::ErrorBody),
        (status = 404, body = super::ErrorBody)))]
pub async fn preview(
    store: web::Data<Store>,
    support: web::Data<ScriptSupport>,
    caller: Caller,
    id: web::Path<ApplicationId>,
    bytes: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let input: PreviewBody = body::parse_optional(&bytes)?;
    let result = blocking(move || run_preview(&store, &support, &caller, &id, &input)).await?;
    Ok(HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(result))
}

/// Computes the preview. Shared by the API and the console.
pub(crate) fn run_preview(
    store: &Store,
    support: &ScriptSupport,
    who: &dyn Actor,
    application_id: &ApplicationId,
    input: &PreviewBody,
) -> Result<Preview, ApiError> {
    let config = store.config()?;
    let app = config.application(application_id).ok_or_else(|| ApiError::not_found("no such application"))?.clone();
    let user_id = input.user_id.as_deref().map(str::trim).filter(|u| !u.is_empty()).map(UserId::from);
    if user_id.is_none() && !app.settings.grant_types.contains(&GrantType::ClientCredentials) {
        return Err(ApiError::invalid(
            "user_id",
            "choose a user: this application does not use client credentials, so its tokens are a user's",
        ));
    }
    let requested = match input.scope.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(scope) => ScopeSet::parse(scope).map_err(|e| ApiError::invalid("scope", e.to_string()))?,
        None => ScopeSet::parse(&app.settings.allowed_scopes.join(" ")).unwrap_or_default(),
    };
    let now = super::now();
    let preview = match user_id {
        Some(user_id) => user_preview(store, support, &config, &app, &user_id, &requested, now)?,
        None => machine_preview(support, &config, &app, &requested, now)?,
    };
    let summary = json!({ "client_id": app.client_id, "user_id": preview.user_id, "scope": preview.scope,
                          "outcome": preview.outcome });
    store.write_transaction(|c| {
        changes::record(c, who, "token.preview", &format!("application:{}", app.id), summary, now)
    })?;
    Ok(preview)
}

fn user_preview(
    store: &Store,
    support: &ScriptSupport,
    config: &Config,
    app: &Application,
    user_id: &UserId,
    requested: &ScopeSet,
    now: i64,
) -> Result<Preview, ApiError> {
    let loaded = store.read_transaction(|c| {
        let Some(user) = users::find(c, user_id)? else { return Ok(None) };
        let values = users::claim_values(c, &user)?;
        let profile = sample::profile(c, Some(&user), now)?;
        Ok(Some((user, values, profile)))
    })?;
    let (user, values, profile) = loaded.ok_or_else(|| ApiError::invalid("user_id", "no such user"))?;
    if user.disabled {
        return Err(ApiError::invalid("user_id", "the user is disabled: no token would be issued"));
    }
    let catalog = config.catalog();
    let allowed = tessera_domain::allowed_scopes(&app.settings.allowed_scopes, &app.settings.grant_types, catalog);
    let resolved =
        resolve_requested(requested, catalog, &allowed).map_err(|e| ApiError::invalid("scope", e.to_string()))?;
    let (audience, scope) =
        access_token_audience_and_scope(&resolved, None).map_err(|e| ApiError::invalid("scope", e.to_string()))?;
    let amr = vec!["pwd".to_owned()];
    let mut access = access_token_claims(&AccessTokenFacts {
        issuer: sample::ISSUER,
        subject: user.id.as_str(),
        audience: &audience,
        client_id: &app.client_id,
        scope: &scope,
        issued_at: now,
        expires_at: now + app.settings.lifetimes.access_token,
        jti: TOKEN_ID,
        auth_time: Some(now),
        amr: &amr,
        sid: Some(SESSION_ID),
        grant_id: Some(&GrantId::from(GRANT_ID)),
        machine: false,
    });
    let grant = GrantInfo { id: GRANT_ID.into(), scope: scope.to_string(), auth_time: Some(now), amr: amr.clone() };
    let (custom, outcome) = custom_claims(support, config, app, TokenSubject::User, &access, Some((&profile, grant)))?;
    let registered: BTreeSet<String> = access.keys().cloned().collect();
    IssuedClaims::merge_into(&mut access, custom.claims.output(Output::AccessToken));

    let (id_token, userinfo) = if scope.has_openid() {
        let identity = IdentityClaims { sub: user.id.as_str(), user_values: &values, scopes: &resolved.identity };
        let standard: BTreeSet<String> = claims_for_userinfo(&identity).keys().cloned().collect();
        let mut id_claims = claims_for_id_token(&identity);
        IssuedClaims::merge_into(&mut id_claims, custom.claims.output(Output::IdToken));
        let facts = IdTokenFacts {
            issuer: sample::ISSUER,
            subject: user.id.as_str(),
            client_id: &app.client_id,
            issued_at: now,
            expires_at: now + app.settings.lifetimes.id_token,
            auth_time: Some(now),
            nonce: None,
            sid: Some(SESSION_ID),
            amr: &amr,
        };
        let id_token = id_token_claims(&facts, id_claims);
        let mut info = claims_for_userinfo(&identity);
        IssuedClaims::merge_into(&mut info, custom.claims.output(Output::Userinfo));
        let label = |claims: &Map<String, Value>| label(claims, &custom.claims, &standard, "sub");
        (Some(label(&id_token)), Some(label(&info)))
    } else {
        (None, None)
    };
    let none = BTreeSet::new();
    let (requirements, requirement) = requirements_of(config, &scope);
    Ok(Preview {
        requirements,
        requirement,
        application_id: app.id.to_string(),
        client_id: app.client_id.to_string(),
        user_id: Some(user.id.as_str().to_owned()),
        scope: scope.to_string(),
        outcome: outcome.outcome,
        denied: outcome.denied,
        script: outcome.script,
        id_token,
        introspection: introspection(config, &access, &custom.claims, &scope, &audience, &registered),
        access_token: label(&access, &custom.claims, &none, ""),
        userinfo,
    }
    .redacted(&outcome.secrets))
}

fn machine_preview(
    support: &ScriptSupport,
    config: &Config,
    app: &Application,
    requested: &ScopeSet,
    now: i64,
) -> Result<Preview, ApiError> {
    let catalog = config.catalog();
    let allowed = tessera_domain::allowed_scopes(&app.settings.allowed_scopes, &app.settings.grant_types, catalog);
    let resolved = resolve_for_client_credentials(requested, catalog, &allowed)
        .map_err(|e| ApiError::invalid("scope", e.to_string()))?;
    let (audience, scope) =
        access_token_audience_and_scope(&resolved, None).map_err(|e| ApiError::invalid("scope", e.to_string()))?;
    let mut access = access_token_claims(&AccessTokenFacts {
        issuer: sample::ISSUER,
        subject: app.client_id.as_str(),
        audience: &audience,
        client_id: &app.client_id,
        scope: &scope,
        issued_at: now,
        expires_at: now + app.settings.lifetimes.access_token,
        jti: TOKEN_ID,
        auth_time: None,
        amr: &[],
        sid: None,
        grant_id: None,
        machine: true,
    });
    let (custom, outcome) = custom_claims(support, config, app, TokenSubject::Machine, &access, None)?;
    let registered: BTreeSet<String> = access.keys().cloned().collect();
    IssuedClaims::merge_into(&mut access, custom.claims.output(Output::AccessToken));
    Ok(Preview {
        application_id: app.id.to_string(),
        client_id: app.client_id.to_string(),
        user_id: None,
        scope: scope.to_string(),
        outcome: outcome.outcome,
        denied: outcome.denied,
        script: outcome.script,
        id_token: None,
        introspection: introspection(config, &access, &custom.claims, &scope, &audience, &registered),
        access_token: label(&access, &custom.claims, &BTreeSet::new(), ""),
        userinfo: None,
        requirements: Vec::new(),
        requirement: None,
    }
    .redacted(&outcome.secrets))
}

impl Preview {
    /// Review finding 18: the preview with every secret value replaced by `[secret:NAME]`.
    fn redacted(self, secrets: &Redactor) -> Preview {
        let claims = |claims: Vec<PreviewClaim>| -> Vec<PreviewClaim> {
            claims
                .into_iter()
                .map(|claim| PreviewClaim {
                    name: secrets.text(&claim.name),
                    value: secrets.json(&claim.value),
                    ..claim
                })
                .collect()
        };
        Preview {
            denied: self.denied.map(|message| secrets.text(&message)),
            script: self.script.map(|script| ScriptPreview {
                error: script.error.map(|error| error.redacted(secrets)),
                logs: script.logs.iter().map(|line| secrets.text(line)).collect(),
            }),
            id_token: self.id_token.map(claims),
            access_token: claims(self.access_token),
            userinfo: self.userinfo.map(claims),
            introspection: self
                .introspection
                .into_iter()
                .map(|answer| IntrospectionPreview { claims: claims(answer.claims), ..answer })
                .collect(),
            ..self
        }
    }
}

/// What issuance would do with the script's result.
struct Outcome {
    outcome: &'static str,
    denied: Option<String>,
    script: Option<ScriptPreview>,
    /// The values of the secret variables the script ran with.
    secrets: Redactor,
}

fn custom_claims(
    support: &ScriptSupport,
    config: &Config,
    app: &Application,
    subject: TokenSubject,
    payload: &Map<String, Value>,
    user: Option<(&tessera_claims::UserProfile, GrantInfo)>,
) -> Result<(issuance::Computed, Outcome), ApiError> {
    let (kind, token_kind) = match subject {
        TokenSubject::User => (ScriptKind::User, TokenKind::User),
        TokenSubject::Machine => (ScriptKind::Machine, TokenKind::Machine),
    };
    let rules: Vec<Rule<'_>> = config
        .rules_for(subject, &app.id)
        .into_iter()
        .map(|m| Rule { id: &m.id, global: m.application_id.is_none(), rule: &m.rule })
        .collect();
    let script = config.enabled_script(kind);
    let environment = variables::environment(&support.master_key, config.variables()).map_err(|e| e.to_string());
    let secrets = match (&environment, script) {
        (Ok(environment), Some(_)) => variables::secrets(environment, config.variables(), &BTreeMap::new()),
        _ => Redactor::default(),
    };
    let to_run = script.map(|s| Script { source: &s.source, environment: environment.clone() });
    let no_attributes = Map::new();
    let inputs = Inputs {
        kind: token_kind,
        rules,
        payload,
        user,
        application: sample::application(Some(app)),
        attributes: &no_attributes,
        at_grant: None,
    };
    let computed = issuance::compute(&support.engine, &FetchPolicy::disabled(), inputs, to_run);
    let (outcome, denied) = match (&computed.failure, script) {
        (None, _) | (Some(_), None) => ("issued", None),
        (Some(ScriptFailure::Denied { message }), _) => ("denied", Some(message.clone())),
        (Some(_), Some(s)) if s.on_failure == OnFailure::Deny => {
            ("denied", Some("the token could not be issued: a custom claims script failed".to_owned()))
        }
        (Some(_), Some(_)) => ("issued_without_script_claims", None),
    };
    let report = match (script, computed.failure.clone()) {
        (None, _) => None,
        (Some(_), None) => Some(ScriptPreview { error: None, logs: computed.logs.clone() }),
        (Some(_), Some(failure)) => {
            Some(ScriptPreview { error: Some(failure_of(failure)?), logs: computed.logs.clone() })
        }
    };
    Ok((computed, Outcome { outcome, denied, script: report, secrets }))
}

/// Each API connection of the audience: what it would be answered for this token.
fn introspection(
    config: &Config,
    access: &Map<String, Value>,
    custom: &IssuedClaims,
    scope: &ScopeSet,
    audience: &[String],
    registered: &BTreeSet<String>,
) -> Vec<IntrospectionPreview> {
    let mut answered = registered.clone();
    answered.extend(["active", "scope", "token_type"].map(String::from));
    audience
        .iter()
        .filter_map(|name| {
            let connection = config.connection_by_name(name)?;
            let own: ScopeSet = config
                .scopes_of_connection(&connection.id)
                .filter_map(|s| tessera_domain::ScopeToken::parse(&s.name).ok())
                .collect();
            let visible = scope.intersection(&own);
            if visible.is_empty() {
                return None;
            }
            let answer = introspection_answer(custom.introspection_view(access.clone()), &visible.to_string());
            Some(IntrospectionPreview {
                connection: name.clone(),
                claims: label(&answer, custom, &BTreeSet::new(), ""),
            })
        })
        .collect()
}

/// Labels each claim of an output: a custom claim by its source, one of `standard` as
/// standard, the rest (and `registered_too`) as registered.
fn label(
    claims: &Map<String, Value>,
    custom: &IssuedClaims,
    standard: &BTreeSet<String>,
    registered_too: &str,
) -> Vec<PreviewClaim> {
    claims
        .iter()
        .map(|(name, value)| {
            let found = custom.get(name).filter(|c| &c.value == value && !standard.contains(name));
            let (source, mapping_id, global) = match found.map(|c| &c.source) {
                Some(ClaimSource::Mapping { id, global }) => ("mapping", Some(id.clone()), Some(*global)),
                Some(ClaimSource::Script) => ("script", None, None),
                Some(ClaimSource::Attribute) => ("attribute", None, None),
                None if standard.contains(name) && name != registered_too => ("standard", None, None),
                None => ("registered", None, None),
            };
            PreviewClaim { name: name.clone(), value: value.clone(), source, mapping_id, global }
        })
        .collect()
}
