//! `/api/v1/script-variables`: the environment variables scripts read as
//! `environmentVariables.NAME` (API keys, tiers, URLs).
//!
//! Every value is stored encrypted with the master key, in the context
//! `script_variable:<name>` (the token endpoint opens it the same way), so a database
//! dump reveals none. `secret` makes a variable write-only: its value is never shown
//! again by the API or the console, and the test runner and the preview show
//! `[secret:NAME]` wherever a run printed, returned or threw it. Audit events name the
//! variable, never its value.

use std::collections::BTreeMap;

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tessera_claims::Redactor;
use tessera_store::Store;
use tessera_store::scripts::{self, EnvironmentVariable};
use tessera_tokens::MasterKey;
use utoipa::ToSchema;

use super::ScriptSupport;
use crate::api::auth::Caller;
use crate::api::body::{self, blocking};
use crate::api::changes::{self, Actor};
use crate::api::error::ApiError;

/// Longest variable name, in characters.
pub const MAX_NAME_LEN: usize = 64;
/// Largest value, in bytes.
pub const MAX_VALUE_BYTES: usize = 4096;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/script-variables", web::get().to(list))
        .route("/script-variables/{name}", web::put().to(set))
        .route("/script-variables/{name}", web::delete().to(delete));
}

/// A variable as the API shows it: the value only when it is not secret.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VariableView {
    #[schema(example = "BILLING_API_KEY")]
    pub(crate) name: String,
    /// Write-only: the value is never shown.
    pub(crate) secret: bool,
    /// The value; absent for a secret variable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) value: Option<String>,
    pub(crate) created_at: i64,
    pub(crate) updated_at: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VariableList {
    /// By name.
    items: Vec<VariableView>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VariableBody {
    /// The value, at most 4 KiB.
    pub(crate) value: String,
    /// Write-only from now on. Default: the variable's current setting (false for a new
    /// one).
    pub(crate) secret: Option<bool>,
}

/// The encryption context of variable `name`: a value moved to another name does not
/// decrypt.
pub(crate) fn context(name: &str) -> String {
    format!("script_variable:{name}")
}

/// Names are JavaScript identifiers a script can write after a dot:
/// `[A-Za-z_][A-Za-z0-9_]*`, at most [`MAX_NAME_LEN`] characters.
pub(crate) fn check_name(field: &str, name: &str) -> Result<(), ApiError> {
    let mut chars = name.chars();
    let starts_well = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !starts_well || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(ApiError::invalid(
            field,
            "a variable name is letters, digits and underscores, not starting with a digit (e.g. BILLING_API_KEY)",
        ));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(ApiError::invalid(field, format!("a variable name has at most {MAX_NAME_LEN} characters")));
    }
    Ok(())
}

/// The plaintext of a stored variable.
pub(crate) fn decrypt(key: &MasterKey, variable: &EnvironmentVariable) -> Result<String, ApiError> {
    key.decrypt(&variable.value, &context(&variable.name)).ok().and_then(|v| String::from_utf8(v).ok()).ok_or_else(
        || {
            tracing::error!(name = %variable.name, "a script environment variable cannot be decrypted with the master key");
            ApiError::internal()
        },
    )
}

/// Every stored variable, decrypted: what a script sees as `environmentVariables`.
pub(crate) fn environment(
    key: &MasterKey,
    stored: &[EnvironmentVariable],
) -> Result<BTreeMap<String, String>, ApiError> {
    stored.iter().map(|v| Ok((v.name.clone(), decrypt(key, v)?))).collect()
}

/// Review finding 18: the secret variables' values that a run of `environment` may show, for
/// the test runner and the preview to replace with `[secret:NAME]`. A variable named in
/// `overridden` ran with the value the caller gave, which is no secret to them.
pub(crate) fn secrets(
    environment: &BTreeMap<String, String>,
    stored: &[EnvironmentVariable],
    overridden: &BTreeMap<String, String>,
) -> Redactor {
    Redactor::new(
        stored
            .iter()
            .filter(|variable| variable.secret && !overridden.contains_key(&variable.name))
            .filter_map(|variable| Some((variable.name.as_str(), environment.get(&variable.name)?.as_str()))),
    )
}

fn view(key: &MasterKey, variable: &EnvironmentVariable) -> Result<VariableView, ApiError> {
    Ok(VariableView {
        name: variable.name.clone(),
        secret: variable.secret,
        value: if variable.secret { None } else { Some(decrypt(key, variable)?) },
        created_at: variable.created_at,
        updated_at: variable.updated_at,
    })
}

/// Every variable, by name, secret values left out. Shared by the API and the console.
pub(crate) fn list_variables(store: &Store, key: &MasterKey) -> Result<Vec<VariableView>, ApiError> {
    let stored = store.read_transaction(scripts::list_variables)?;
    stored.iter().map(|v| view(key, v)).collect()
}

#[utoipa::path(get, path = "/api/v1/script-variables", tag = "scripts",
    responses((status = 200, body = VariableList)))]
pub async fn list(
    store: web::Data<Store>,
    support: web::Data<ScriptSupport>,
    _caller: Caller,
) -> Result<HttpResponse, ApiError> {
    let items = blocking(move || list_variables(&store, &support.master_key)).await?;
    Ok(HttpResponse::Ok().json(VariableList { items }))
}

/// Creates the variable or replaces its value.
#[utoipa::path(put, path = "/api/v1/script-variables/{name}", tag = "scripts",
    params(("name" = String, Path, description = "`[A-Za-z_][A-Za-z0-9_]*`, at most 64 characters")),
    request_body = VariableBody,
    responses((status = 200, body = VariableView), (status = 400, body = crate::api::ErrorBody)))]
pub async fn set(
    store: web::Data<Store>,
    support: web::Data<ScriptSupport>,
    caller: Caller,
    name: web::Path<String>,
    bytes: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let name = name.into_inner();
    let input: VariableBody = body::parse(&bytes)?;
    let saved = blocking(move || set_variable(&store, &support.master_key, &caller, &name, input)).await?;
    Ok(HttpResponse::Ok().json(saved))
}

/// Encrypts and stores variable `name`. Shared by the API and the console.
pub(crate) fn set_variable(
    store: &Store,
    key: &MasterKey,
    who: &dyn Actor,
    name: &str,
    input: VariableBody,
) -> Result<VariableView, ApiError> {
    check_name("name", name)?;
    if input.value.len() > MAX_VALUE_BYTES {
        return Err(ApiError::invalid("value", format!("a value has at most {MAX_VALUE_BYTES} bytes")));
    }
    let encrypted = key.encrypt(input.value.as_bytes(), &context(name)).map_err(|e| {
        tracing::error!(error = %e, "a script environment variable could not be encrypted");
        ApiError::internal()
    })?;
    let now = crate::api::now();
    let saved = store.write_transaction(|c| {
        let before = scripts::get_variable(c, name)?;
        let secret = input.secret.or(before.as_ref().map(|b| b.secret)).unwrap_or(false);
        let saved = scripts::set_variable(c, name, &encrypted, secret, now)?;
        let summary = json!({ "name": name, "secret": secret, "created": before.is_none() });
        changes::record(c, who, "script_variable.set", &format!("script_variable:{name}"), summary, now)?;
        Ok(saved)
    })?;
    Ok(VariableView {
        value: (!saved.secret).then_some(input.value),
        name: saved.name,
        secret: saved.secret,
        created_at: saved.created_at,
        updated_at: saved.updated_at,
    })
}

#[utoipa::path(delete, path = "/api/v1/script-variables/{name}", tag = "scripts",
    params(("name" = String, Path)),
    responses((status = 204), (status = 404, body = crate::api::ErrorBody)))]
pub async fn delete(
    store: web::Data<Store>,
    caller: Caller,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let name = name.into_inner();
    blocking(move || delete_variable(&store, &caller, &name)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Deletes variable `name`. Shared by the API and the console.
pub(crate) fn delete_variable(store: &Store, who: &dyn Actor, name: &str) -> Result<(), ApiError> {
    let now = crate::api::now();
    Ok(store.write_transaction(|c| {
        scripts::delete_variable(c, name)?;
        let summary = json!({ "name": name });
        changes::record(c, who, "script_variable.delete", &format!("script_variable:{name}"), summary, now)
    })?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_identifiers_of_at_most_64_characters() {
        for good in ["A", "_", "BILLING_API_KEY", "tier2", &"x".repeat(64)] {
            assert!(check_name("name", good).is_ok(), "{good}");
        }
        for bad in ["", "2FA", "API-KEY", "a.b", "é", "with space", &"x".repeat(65)] {
            assert_eq!(check_name("name", bad).unwrap_err().body.field.as_deref(), Some("name"), "{bad}");
        }
    }
}
