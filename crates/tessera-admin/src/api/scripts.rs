//! `/api/v1/scripts`: the two custom-claims scripts, `user` (access tokens issued to a
//! user) and `machine` (client credentials), each a JavaScript `getCustomJwtClaims`
//! run by `tessera-claims` at issuance; their test runner (`runner`); the environment
//! variables they read (`variables`); and the sample input the console's test runner
//! starts from (`sample`).
//!
//! A source is checked when it is saved (it must parse and define `getCustomJwtClaims`),
//! so a syntax error is found by the admin and never by a token request. The audit
//! event of a save names the script's state and version, never its source.

use std::str::FromStr;
use std::sync::Arc;

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tessera_claims::{ScriptEngine, ScriptError, ScriptFailure};
use tessera_store::Store;
use tessera_store::scripts::{self, CustomClaimScript, OnFailure, ScriptKind};
use tessera_tokens::MasterKey;
use utoipa::ToSchema;

use super::auth::Caller;
use super::body::{self, blocking};
use super::changes::{self, Actor};
use super::error::ApiError;

pub(crate) mod runner;
pub(crate) mod sample;
pub(crate) mod variables;

/// What the script endpoints need besides the store, in the app data of the API and the
/// console: the engine that checks and test-runs scripts (the binary's, so tests obey the
/// same limits as issuance) and the master key that encrypts the environment variables.
#[derive(Clone)]
pub struct ScriptSupport {
    pub engine: ScriptEngine,
    pub master_key: Arc<MasterKey>,
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/scripts", web::get().to(list))
        .route("/scripts/{kind}", web::get().to(get))
        .route("/scripts/{kind}", web::put().to(save))
        .route("/scripts/{kind}/test", web::post().to(runner::test))
        .configure(variables::routes);
}

/// A script as the API shows it. A script never saved is shown empty and disabled, at
/// version 0.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ScriptView {
    /// `user` or `machine`.
    #[schema(example = "user")]
    pub(crate) kind: &'static str,
    /// The JavaScript source.
    pub(crate) source: String,
    /// Whether issuance runs it.
    pub(crate) enabled: bool,
    /// What a failing run does to the token request: `deny` or `issue_without_claims`
    /// (a denial by `api.denyAccess` always refuses).
    #[schema(example = "deny")]
    pub(crate) on_failure: &'static str,
    /// 1 at the first save, one more at each later one; 0 when never saved.
    pub(crate) version: i64,
    /// Unix seconds of the last save; null when never saved.
    pub(crate) updated_at: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ScriptList {
    /// The `user` script, then the `machine` one.
    items: Vec<ScriptView>,
}

/// A script to save.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScriptBody {
    /// JavaScript defining `getCustomJwtClaims({ token, context, environmentVariables, api })`;
    /// empty clears the script, which must then be disabled.
    #[schema(example = "const getCustomJwtClaims = async ({ token }) => ({ tier: 'gold' });")]
    pub(crate) source: String,
    pub(crate) enabled: bool,
    /// `deny` (the default) or `issue_without_claims`.
    pub(crate) on_failure: Option<String>,
}

/// The script kind named in a path; an unknown one is no resource at all (404).
pub(crate) fn kind(raw: &str) -> Result<ScriptKind, ApiError> {
    ScriptKind::from_str(raw).map_err(|_| ApiError::not_found("no such script: use user or machine"))
}

pub(crate) fn view(kind: ScriptKind, script: Option<CustomClaimScript>) -> ScriptView {
    match script {
        Some(s) => ScriptView {
            kind: s.kind.as_str(),
            source: s.source,
            enabled: s.enabled,
            on_failure: s.on_failure.as_str(),
            version: s.version,
            updated_at: Some(s.updated_at),
        },
        None => ScriptView {
            kind: kind.as_str(),
            source: String::new(),
            enabled: false,
            on_failure: OnFailure::Deny.as_str(),
            version: 0,
            updated_at: None,
        },
    }
}

/// Both scripts, saved or not. Shared by the API and the console.
pub(crate) fn read_scripts(store: &Store) -> Result<Vec<ScriptView>, ApiError> {
    Ok(store.read_transaction(|c| {
        ScriptKind::ALL.iter().map(|kind| Ok(view(*kind, scripts::get(c, *kind)?))).collect::<Result<Vec<_>, _>>()
    })?)
}

#[utoipa::path(get, path = "/api/v1/scripts", tag = "scripts", responses((status = 200, body = ScriptList)))]
pub async fn list(store: web::Data<Store>, _caller: Caller) -> Result<HttpResponse, ApiError> {
    let items = blocking(move || read_scripts(&store)).await?;
    Ok(HttpResponse::Ok().json(ScriptList { items }))
}

#[utoipa::path(get, path = "/api/v1/scripts/{kind}", tag = "scripts",
    params(("kind" = String, Path, description = "`user` or `machine`")),
    responses((status = 200, body = ScriptView), (status = 404, body = super::ErrorBody)))]
pub async fn get(store: web::Data<Store>, _caller: Caller, kind: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let kind = self::kind(&kind)?;
    let found = blocking(move || Ok(store.read_transaction(|c| scripts::get(c, kind))?)).await?;
    Ok(HttpResponse::Ok().json(view(kind, found)))
}

/// Saves the script: its source must parse and define `getCustomJwtClaims` (a syntax
/// error is 400 on `source`, with its line and column in the message); an empty script
/// cannot be enabled.
#[utoipa::path(put, path = "/api/v1/scripts/{kind}", tag = "scripts",
    params(("kind" = String, Path, description = "`user` or `machine`")), request_body = ScriptBody,
    responses((status = 200, body = ScriptView), (status = 400, body = super::ErrorBody),
        (status = 404, body = super::ErrorBody)))]
pub async fn save(
    store: web::Data<Store>,
    support: web::Data<ScriptSupport>,
    caller: Caller,
    kind: web::Path<String>,
    bytes: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let kind = self::kind(&kind)?;
    let input: ScriptBody = body::parse(&bytes)?;
    let saved = blocking(move || save_script(&store, &support.engine, &caller, kind, input)).await?;
    Ok(HttpResponse::Ok().json(view(kind, Some(saved))))
}

/// Why a source cannot be saved, as a 400 on `source`.
pub(crate) fn refused(error: &ScriptError) -> ApiError {
    ApiError::invalid("source", error.to_string())
}

/// The 1-based source line an error is about, when the engine knows it (a syntax error,
/// or top-level code that threw).
pub(crate) fn error_line(error: &ScriptError) -> Option<u32> {
    match error {
        ScriptError::Syntax { line, .. } => Some(*line),
        ScriptError::TopLevel { failure } => match failure.as_ref() {
            ScriptFailure::Thrown { line, .. } => *line,
            _ => None,
        },
        _ => None,
    }
}

/// Checks and saves the script of `kind`. Shared by the API and the console.
pub(crate) fn save_script(
    store: &Store,
    engine: &ScriptEngine,
    who: &dyn Actor,
    kind: ScriptKind,
    input: ScriptBody,
) -> Result<CustomClaimScript, ApiError> {
    let on_failure = match input.on_failure.as_deref().map(str::trim) {
        None | Some("") => OnFailure::Deny,
        Some(raw) => OnFailure::from_str(raw)
            .map_err(|_| ApiError::invalid("on_failure", "on_failure must be deny or issue_without_claims"))?,
    };
    let source = if input.source.trim().is_empty() { String::new() } else { input.source };
    if source.is_empty() && input.enabled {
        return Err(ApiError::invalid(
            "enabled",
            "an empty script cannot be enabled: write a getCustomJwtClaims function first",
        ));
    }
    if !source.is_empty() {
        engine.check(&source).map_err(|e| refused(&e))?;
    }
    let now = super::now();
    let script = scripts::ScriptInput { source, enabled: input.enabled, on_failure };
    Ok(store.write_transaction(|c| {
        let saved = scripts::save(c, kind, &script, now)?;
        let summary = json!({
            "kind": kind.as_str(),
            "enabled": saved.enabled,
            "on_failure": saved.on_failure.as_str(),
            "version": saved.version,
        });
        changes::record(c, who, "script.save", &format!("script:{kind}"), summary, now)?;
        Ok(saved)
    })?)
}
