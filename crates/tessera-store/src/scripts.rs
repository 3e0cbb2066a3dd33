//! Custom-claim scripts — one run for user access tokens, one for machine-to-machine
//! tokens — and the environment variables they read.
//!
//! Variable values are stored as given: the callers encrypt every value with the master
//! key (context `script_variable:<name>`) before it gets here; `secret` only means the
//! value is never shown again.

use std::fmt;
use std::str::FromStr;

use diesel::prelude::*;

use crate::error::found;
use crate::schema::{custom_claim_scripts, script_environment_variables};
use crate::{AnyConnection, StoreError, StoreResult};

/// Which tokens a script adds claims to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScriptKind {
    /// Access tokens issued to a user (authorization code, refresh token).
    User,
    /// Machine-to-machine access tokens (client credentials).
    Machine,
}

impl ScriptKind {
    pub const ALL: [ScriptKind; 2] = [ScriptKind::User, ScriptKind::Machine];

    pub fn as_str(self) -> &'static str {
        match self {
            ScriptKind::User => "user",
            ScriptKind::Machine => "machine",
        }
    }
}

impl fmt::Display for ScriptKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ScriptKind {
    type Err = StoreError;
    fn from_str(s: &str) -> StoreResult<ScriptKind> {
        match s {
            "user" => Ok(ScriptKind::User),
            "machine" => Ok(ScriptKind::Machine),
            other => Err(StoreError::invalid("kind", format!("unknown script kind {other:?}"))),
        }
    }
}

/// What happens to a token request when the script fails (throws, times out, returns
/// something that is not a claims object).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OnFailure {
    /// The token request fails.
    Deny,
    /// The token is issued without the script's claims.
    IssueWithoutClaims,
}

impl OnFailure {
    pub fn as_str(self) -> &'static str {
        match self {
            OnFailure::Deny => "deny",
            OnFailure::IssueWithoutClaims => "issue_without_claims",
        }
    }
}

impl fmt::Display for OnFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OnFailure {
    type Err = StoreError;
    fn from_str(s: &str) -> StoreResult<OnFailure> {
        match s {
            "deny" => Ok(OnFailure::Deny),
            "issue_without_claims" => Ok(OnFailure::IssueWithoutClaims),
            other => Err(StoreError::invalid("on_failure", format!("unknown failure policy {other:?}"))),
        }
    }
}

/// A saved script. `version` starts at 1 and grows by one at every save, so nodes can
/// tell when their compiled copy is stale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomClaimScript {
    pub kind: ScriptKind,
    pub source: String,
    pub enabled: bool,
    pub on_failure: OnFailure,
    pub version: i64,
    pub updated_at: i64,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = custom_claim_scripts)]
struct ScriptRow {
    kind: String,
    source: String,
    enabled: bool,
    on_failure: String,
    version: i64,
    updated_at: i64,
}

impl TryFrom<ScriptRow> for CustomClaimScript {
    type Error = StoreError;
    fn try_from(row: ScriptRow) -> StoreResult<CustomClaimScript> {
        let kind =
            ScriptKind::from_str(&row.kind).map_err(|_| StoreError::Corrupt(format!("script kind {:?}", row.kind)))?;
        let on_failure = OnFailure::from_str(&row.on_failure)
            .map_err(|_| StoreError::Corrupt(format!("script failure policy {:?}", row.on_failure)))?;
        Ok(CustomClaimScript {
            kind,
            on_failure,
            source: row.source,
            enabled: row.enabled,
            version: row.version,
            updated_at: row.updated_at,
        })
    }
}

/// What an admin saves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptInput {
    pub source: String,
    pub enabled: bool,
    pub on_failure: OnFailure,
}

/// The script of `kind`; `None` when it was never saved.
pub fn get(conn: &mut AnyConnection, kind: ScriptKind) -> StoreResult<Option<CustomClaimScript>> {
    custom_claim_scripts::table
        .find(kind.as_str())
        .select(ScriptRow::as_select())
        .first(conn)
        .optional()?
        .map(CustomClaimScript::try_from)
        .transpose()
}

/// Every saved script (for the in-memory configuration).
pub fn all(conn: &mut AnyConnection) -> StoreResult<Vec<CustomClaimScript>> {
    let rows: Vec<ScriptRow> = custom_claim_scripts::table
        .select(ScriptRow::as_select())
        .order(custom_claim_scripts::kind.asc())
        .load(conn)?;
    rows.into_iter().map(CustomClaimScript::try_from).collect()
}

/// Saves the script of `kind`: the first save is version 1, each later one adds 1.
pub fn save(
    conn: &mut AnyConnection,
    kind: ScriptKind,
    input: &ScriptInput,
    now: i64,
) -> StoreResult<CustomClaimScript> {
    crate::config_changes::mark();
    let changed = diesel::update(custom_claim_scripts::table.find(kind.as_str()))
        .set((
            custom_claim_scripts::source.eq(&input.source),
            custom_claim_scripts::enabled.eq(input.enabled),
            custom_claim_scripts::on_failure.eq(input.on_failure.as_str()),
            custom_claim_scripts::version.eq(custom_claim_scripts::version + 1),
            custom_claim_scripts::updated_at.eq(now),
        ))
        .execute(conn)?;
    if changed == 0 {
        diesel::insert_into(custom_claim_scripts::table)
            .values((
                custom_claim_scripts::kind.eq(kind.as_str()),
                custom_claim_scripts::source.eq(&input.source),
                custom_claim_scripts::enabled.eq(input.enabled),
                custom_claim_scripts::on_failure.eq(input.on_failure.as_str()),
                custom_claim_scripts::version.eq(1_i64),
                custom_claim_scripts::updated_at.eq(now),
            ))
            .execute(conn)?;
    }
    get(conn, kind)?.ok_or(StoreError::not_found("script"))
}

// ---------------------------------------------------------------------------------------
// Environment variables
// ---------------------------------------------------------------------------------------

/// A variable scripts read as `env.NAME`. When `secret`, `value` is ciphertext and never
/// appears in `Debug`.
#[derive(Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = script_environment_variables)]
pub struct EnvironmentVariable {
    pub name: String,
    pub value: String,
    pub secret: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

impl fmt::Debug for EnvironmentVariable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let value = if self.secret { "<secret>" } else { self.value.as_str() };
        f.debug_struct("EnvironmentVariable")
            .field("name", &self.name)
            .field("value", &value)
            .field("secret", &self.secret)
            .field("updated_at", &self.updated_at)
            .finish_non_exhaustive()
    }
}

/// Creates the variable or replaces its value.
pub fn set_variable(
    conn: &mut AnyConnection,
    name: &str,
    value: &str,
    secret: bool,
    now: i64,
) -> StoreResult<EnvironmentVariable> {
    crate::config_changes::mark();
    let changed = diesel::update(script_environment_variables::table.find(name))
        .set((
            script_environment_variables::value.eq(value),
            script_environment_variables::secret.eq(secret),
            script_environment_variables::updated_at.eq(now),
        ))
        .execute(conn)?;
    if changed == 0 {
        diesel::insert_into(script_environment_variables::table)
            .values((
                script_environment_variables::name.eq(name),
                script_environment_variables::value.eq(value),
                script_environment_variables::secret.eq(secret),
                script_environment_variables::created_at.eq(now),
                script_environment_variables::updated_at.eq(now),
            ))
            .execute(conn)?;
    }
    get_variable(conn, name)?.ok_or(StoreError::not_found("environment variable"))
}

pub fn get_variable(conn: &mut AnyConnection, name: &str) -> StoreResult<Option<EnvironmentVariable>> {
    Ok(script_environment_variables::table
        .find(name)
        .select(EnvironmentVariable::as_select())
        .first(conn)
        .optional()?)
}

/// Every variable, by name.
pub fn list_variables(conn: &mut AnyConnection) -> StoreResult<Vec<EnvironmentVariable>> {
    Ok(script_environment_variables::table
        .select(EnvironmentVariable::as_select())
        .order(script_environment_variables::name.asc())
        .load(conn)?)
}

pub fn delete_variable(conn: &mut AnyConnection, name: &str) -> StoreResult<()> {
    crate::config_changes::mark();
    let deleted = diesel::delete(script_environment_variables::table.find(name)).execute(conn)?;
    found(deleted, "environment variable")
}
