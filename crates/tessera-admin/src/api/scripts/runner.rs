//! `POST /api/v1/scripts/{kind}/test`: runs a script (the given source, or the saved one)
//! on a sample input with the engine and limits of issuance, and reports what issuance
//! would do: the claims and the final token payload, or why there are none (a denial,
//! an exception with its line, a timeout…), with the script's console output.
//!
//! The stored environment variables are decrypted for the run (overridable per run): the
//! script runs as at issuance, secrets included. Review finding 18: a secret variable is
//! write-only, so wherever the run's logs, claims, payload or error hold a secret value,
//! the answer shows `[secret:NAME]` instead. That stops a secret from being shown by
//! accident, not a script written to encode one; every run is an audit event
//! (`script.test`), naming the variables overridden but no value. `fetch` is disabled in
//! tests: every call rejects, so a test never reaches another service.

use std::collections::BTreeMap;

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tessera_claims::{
    FetchPolicy, IssuedClaims, Redactor, RunReport, ScriptError, ScriptFailure, ScriptInput, refuse_registered,
    token_input,
};
use tessera_store::Store;
use tessera_store::scripts::{self, ScriptKind};
use utoipa::ToSchema;

use super::{ScriptSupport, sample, variables};
use crate::api::auth::Caller;
use crate::api::body::{self, blocking};
use crate::api::changes::{self, Actor};
use crate::api::error::ApiError;

/// A test run's input.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestBody {
    /// The script to run; default: the saved one.
    pub(crate) source: Option<String>,
    /// The script's `token` argument, `{ payload, jti, aud, scope, clientId, … }`. An object
    /// without `payload` is taken as the payload, and the rest is read from it as at
    /// issuance.
    #[schema(value_type = Object)]
    pub(crate) token: Value,
    /// The script's `context` (user tokens only; a machine-to-machine script sees none).
    #[schema(value_type = Option<Object>)]
    pub(crate) context: Option<Value>,
    /// Variables for this run only, over the stored ones: name → value.
    pub(crate) environment_variables: Option<BTreeMap<String, String>>,
}

/// What a test run produced. Wherever a secret variable's value would appear, it reads
/// `[secret:NAME]`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TestResult {
    /// What the script returned (also when it returned a registered claim, reported in
    /// `error`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub(crate) claims: Option<Map<String, Value>>,
    /// Why issuance would get no claims.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) error: Option<TestError>,
    /// Lines the script wrote with `console.log` and friends (at most 100).
    pub(crate) logs: Vec<String>,
    /// Wall time of the run, compilation included.
    pub(crate) elapsed_ms: u64,
    /// The token's payload with the claims merged, as it would be issued (without the
    /// claims attached to the grant by `POST /token/custom`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub(crate) payload: Option<Map<String, Value>>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TestError {
    /// `denied` (`api.denyAccess`), `thrown`, `timeout`, `out_of_memory`,
    /// `invalid_result` (not a claims object, or a registered claim) or `invalid` (the
    /// source does not parse or lacks `getCustomJwtClaims`) or `engine` (the engine itself
    /// failed; issuance would follow the failure setting).
    #[schema(example = "thrown")]
    pub(crate) kind: &'static str,
    /// For a denial, the script's message, which the client would be told.
    pub(crate) message: String,
    /// The 1-based source line, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) line: Option<u32>,
    /// The 1-based column of a syntax error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) column: Option<u32>,
}

/// Runs a script on a sample input. A script that fails is a 200 reporting the failure;
/// 400 is for a malformed input.
#[utoipa::path(post, path = "/api/v1/scripts/{kind}/test", tag = "scripts",
    params(("kind" = String, Path, description = "`user` or `machine`")), request_body = TestBody,
    responses((status = 200, body = TestResult), (status = 400, body = crate::api::ErrorBody),
        (status = 404, body = crate::api::ErrorBody)))]
pub async fn test(
    store: web::Data<Store>,
    support: web::Data<ScriptSupport>,
    caller: Caller,
    kind: web::Path<String>,
    bytes: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let kind = super::kind(&kind)?;
    let input: TestBody = body::parse(&bytes)?;
    let result = blocking(move || run_test(&store, &support, &caller, kind, input)).await?;
    Ok(HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(result))
}

/// Runs the test. Shared by the API and the console.
pub(crate) fn run_test(
    store: &Store,
    support: &ScriptSupport,
    who: &dyn Actor,
    kind: ScriptKind,
    input: TestBody,
) -> Result<TestResult, ApiError> {
    let token = token_argument(kind, input.token)?;
    let context = context(kind, input.context)?;
    let overrides = input.environment_variables.unwrap_or_default();
    for name in overrides.keys() {
        variables::check_name(&format!("environment_variables.{name}"), name)?;
    }
    let (saved, stored) = store.read_transaction(|c| Ok((scripts::get(c, kind)?, scripts::list_variables(c)?)))?;
    let given = input.source.is_some();
    let source = input.source.or(saved.map(|s| s.source)).unwrap_or_default();
    let mut environment_variables = variables::environment(&support.master_key, &stored)?;
    let secrets = variables::secrets(&environment_variables, &stored, &overrides);
    let overridden: Vec<String> = overrides.keys().cloned().collect();
    environment_variables.extend(overrides);

    let payload = token.get("payload").and_then(Value::as_object).cloned().unwrap_or_default();
    let script_input = ScriptInput { token, context, environment_variables };
    let report = support.engine.run_with_report(&source, &script_input, &FetchPolicy::disabled());
    let result = report_result(report, payload)?.redacted(&secrets);

    let now = crate::api::now();
    let outcome = result.error.as_ref().map_or("claims", |e| e.kind);
    let summary = json!({
        "kind": kind.as_str(),
        "source": if given { "given" } else { "saved" },
        "variables_overridden": overridden,
        "outcome": outcome,
    });
    store.write_transaction(|c| changes::record(c, who, "script.test", &format!("script:{kind}"), summary, now))?;
    Ok(result)
}

impl TestResult {
    /// Finding 18: the result with every secret value replaced by `[secret:NAME]`.
    fn redacted(self, secrets: &Redactor) -> TestResult {
        TestResult {
            claims: self.claims.map(|claims| secrets.object(&claims)),
            error: self.error.map(|error| error.redacted(secrets)),
            logs: self.logs.iter().map(|line| secrets.text(line)).collect(),
            elapsed_ms: self.elapsed_ms,
            payload: self.payload.map(|payload| secrets.object(&payload)),
        }
    }
}

impl TestError {
    /// Finding 18: the error with every secret value in its message replaced.
    pub(crate) fn redacted(self, secrets: &Redactor) -> TestError {
        TestError { message: secrets.text(&self.message), ..self }
    }
}

/// The script's `token` argument: as given when it has a `payload` object, otherwise
/// built from the object taken as the payload.
fn token_argument(kind: ScriptKind, token: Value) -> Result<Value, ApiError> {
    match token {
        Value::Object(object) if object.get("payload").is_some_and(Value::is_object) => Ok(Value::Object(object)),
        Value::Object(payload) => Ok(token_input(sample::token_kind(kind), &payload)),
        _ => Err(ApiError::invalid("token", "token must be a JSON object")),
    }
}

fn context(kind: ScriptKind, context: Option<Value>) -> Result<Option<Value>, ApiError> {
    match (kind, context) {
        (_, None | Some(Value::Null)) => Ok(None),
        (ScriptKind::Machine, Some(_)) => Err(ApiError::invalid(
            "context",
            "a machine-to-machine script gets no context (it sees context === undefined); leave it out",
        )),
        (ScriptKind::User, Some(object @ Value::Object(_))) => Ok(Some(object)),
        (ScriptKind::User, Some(_)) => Err(ApiError::invalid("context", "context must be a JSON object")),
    }
}

/// Turns a run into what issuance would do with it: the same refusal of registered claims
/// as the token endpoint, the same merge (no claim replaces one already in the payload).
fn report_result(report: RunReport, mut payload: Map<String, Value>) -> Result<TestResult, ApiError> {
    let elapsed_ms = u64::try_from(report.elapsed.as_millis()).unwrap_or(u64::MAX);
    let mut result = TestResult { claims: None, error: None, logs: report.logs, elapsed_ms, payload: None };
    match report.outcome {
        Ok(claims) => {
            match refuse_registered(claims.clone()) {
                Ok(accepted) => {
                    IssuedClaims::merge_into(&mut payload, accepted);
                    result.payload = Some(payload);
                }
                Err(refused) => result.error = Some(failure_of(refused)?),
            }
            result.claims = Some(claims);
        }
        Err(failure) => result.error = Some(failure_of(failure)?),
    }
    Ok(result)
}

pub(crate) fn failure_of(failure: ScriptFailure) -> Result<TestError, ApiError> {
    let kind = failure.kind();
    let error = |message: String, line| TestError { kind, message, line, column: None };
    Ok(match failure {
        ScriptFailure::Denied { message } | ScriptFailure::InvalidResult { message } => error(message, None),
        ScriptFailure::Thrown { message, line } => error(message, line),
        limit @ (ScriptFailure::Timeout | ScriptFailure::OutOfMemory) => error(limit.to_string(), None),
        ScriptFailure::Invalid(invalid) => {
            let column = match &invalid {
                ScriptError::Syntax { column, .. } => Some(*column),
                _ => None,
            };
            TestError { kind, message: invalid.to_string(), line: super::error_line(&invalid), column }
        }
        // As at issuance, where it follows the failure setting: the run failed, and the
        // runner says so instead of answering 500.
        ScriptFailure::Engine { message } => {
            tracing::warn!(%message, "the script engine failed during a test run");
            error(message, None)
        }
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn report(outcome: Result<Map<String, Value>, ScriptFailure>) -> RunReport {
        RunReport { outcome, logs: vec!["hello".into()], elapsed: Duration::from_millis(3) }
    }

    fn object(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap()
    }

    #[test]
    fn claims_are_merged_without_replacing_the_payload() {
        let payload = object(json!({ "sub": "u", "tier": "from-token" }));
        let result = report_result(report(Ok(object(json!({ "tier": "gold", "plan": "pro" })))), payload).unwrap();
        assert!(result.error.is_none());
        assert_eq!(result.payload.unwrap(), object(json!({ "sub": "u", "tier": "from-token", "plan": "pro" })));
        assert_eq!((result.logs, result.elapsed_ms), (vec!["hello".to_owned()], 3));
    }

    #[test]
    fn a_registered_claim_is_an_error_naming_it_and_no_payload() {
        let result = report_result(report(Ok(object(json!({ "sub": "evil", "ok": 1 })))), Map::new()).unwrap();
        let error = result.error.unwrap();
        assert_eq!(error.kind, "invalid_result");
        assert!(error.message.ends_with(": sub"), "{}", error.message);
        assert!(result.payload.is_none());
        assert_eq!(result.claims.unwrap()["ok"], 1);
    }

    #[test]
    fn a_syntax_error_keeps_its_line_and_column() {
        let failure = ScriptFailure::Invalid(ScriptError::Syntax { message: "x".into(), line: 2, column: 17 });
        let error = failure_of(failure).unwrap();
        assert_eq!((error.kind, error.line, error.column), ("invalid", Some(2), Some(17)));
        assert!(error.message.contains("line 2, column 17"));
    }

    #[test]
    fn a_token_without_payload_is_taken_as_the_payload() {
        let token = token_argument(ScriptKind::User, json!({ "sub": "u", "client_id": "c" })).unwrap();
        assert_eq!(token["payload"]["sub"], "u");
        assert_eq!(token["accountId"], "u");
        let given = json!({ "payload": { "sub": "x" }, "clientId": "c" });
        assert_eq!(token_argument(ScriptKind::User, given.clone()).unwrap(), given);
        assert!(token_argument(ScriptKind::User, json!([1])).is_err());
        assert!(context(ScriptKind::Machine, Some(json!({}))).is_err());
        assert_eq!(context(ScriptKind::Machine, Some(Value::Null)).unwrap(), None);
    }
}
