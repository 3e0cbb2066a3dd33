//! Claim mappings: global ones (`application_id` NULL) and those of one application,
//! for user or machine tokens. The rule itself is checked by `tessera_domain::ClaimRule`
//! before it gets here; this module keeps one rule per claim name, subject and
//! application.

use diesel::prelude::*;
use tessera_domain::{ApplicationId, ClaimRule, ClaimRuleInput};

use crate::error::found;
use crate::page::{Page, Paged};
use crate::schema::{applications, claim_mappings};
use crate::{AnyConnection, StoreError, StoreResult, new_id};

/// A stored rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimMapping {
    pub id: String,
    /// `None`: every application.
    pub application_id: Option<ApplicationId>,
    pub rule: ClaimRule,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = claim_mappings)]
struct Row {
    id: String,
    application_id: Option<String>,
    subject: String,
    source: String,
    path: String,
    namespace: String,
    name: String,
    outputs: String,
    freshness: String,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<Row> for ClaimMapping {
    type Error = StoreError;
    fn try_from(row: Row) -> StoreResult<ClaimMapping> {
        let outputs: Vec<String> = row.outputs.split_whitespace().map(str::to_owned).collect();
        let rule = ClaimRule::parse(&ClaimRuleInput {
            subject: &row.subject,
            source: &row.source,
            path: &row.path,
            namespace: &row.namespace,
            name: &row.name,
            outputs: &outputs,
            freshness: &row.freshness,
        })
        .map_err(|e| StoreError::Corrupt(format!("claim mapping {}: {e}", row.id)))?;
        Ok(ClaimMapping {
            id: row.id,
            application_id: row.application_id.map(ApplicationId::from),
            rule,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// Refuses a second rule for the same claim, subject and application.
fn check_unique(
    conn: &mut AnyConnection,
    application_id: Option<&str>,
    rule: &ClaimRule,
    except: Option<&str>,
) -> StoreResult<()> {
    let mut query = claim_mappings::table
        .filter(claim_mappings::subject.eq(rule.subject.as_str()))
        .filter(claim_mappings::claim.eq(&rule.claim))
        .select(claim_mappings::id)
        .into_boxed();
    query = match application_id {
        Some(id) => query.filter(claim_mappings::application_id.eq(id)),
        None => query.filter(claim_mappings::application_id.is_null()),
    };
    if let Some(except) = except {
        query = query.filter(claim_mappings::id.ne(except));
    }
    let taken: Option<String> = query.first(conn).optional()?;
    match taken {
        Some(_) => Err(StoreError::Conflict { field: "name".into() }),
        None => Ok(()),
    }
}

fn check_application(conn: &mut AnyConnection, application_id: Option<&str>) -> StoreResult<()> {
    if let Some(id) = application_id {
        let exists: i64 = applications::table.filter(applications::id.eq(id)).count().get_result(conn)?;
        if exists == 0 {
            return Err(StoreError::invalid("application_id", "no such application"));
        }
    }
    Ok(())
}

/// The rule's columns, shared by create and update.
#[allow(clippy::type_complexity)]
fn columns(
    rule: &ClaimRule,
    now: i64,
) -> (
    diesel::dsl::Eq<claim_mappings::subject, &'static str>,
    diesel::dsl::Eq<claim_mappings::source, &'static str>,
    diesel::dsl::Eq<claim_mappings::path, String>,
    diesel::dsl::Eq<claim_mappings::namespace, String>,
    diesel::dsl::Eq<claim_mappings::name, String>,
    diesel::dsl::Eq<claim_mappings::claim, String>,
    diesel::dsl::Eq<claim_mappings::outputs, String>,
    diesel::dsl::Eq<claim_mappings::freshness, &'static str>,
    diesel::dsl::Eq<claim_mappings::updated_at, i64>,
) {
    (
        claim_mappings::subject.eq(rule.subject.as_str()),
        claim_mappings::source.eq(rule.source.name()),
        claim_mappings::path.eq(rule.source.path().to_owned()),
        claim_mappings::namespace.eq(rule.namespace.clone().unwrap_or_default()),
        claim_mappings::name.eq(rule.name.clone()),
        claim_mappings::claim.eq(rule.claim.clone()),
        claim_mappings::outputs.eq(rule.outputs.to_text()),
        claim_mappings::freshness.eq(rule.freshness.as_str()),
        claim_mappings::updated_at.eq(now),
    )
}

pub fn create(
    conn: &mut AnyConnection,
    application_id: Option<&ApplicationId>,
    rule: &ClaimRule,
    now: i64,
) -> StoreResult<ClaimMapping> {
    crate::config_changes::mark();
    let application_id = application_id.map(ApplicationId::as_str);
    check_application(conn, application_id)?;
    check_unique(conn, application_id, rule, None)?;
    let id = new_id();
    diesel::insert_into(claim_mappings::table)
        .values((
            claim_mappings::id.eq(&id),
            claim_mappings::application_id.eq(application_id),
            claim_mappings::created_at.eq(now),
            columns(rule, now),
        ))
        .execute(conn)?;
    get(conn, &id)
}

/// Replaces a rule (its application stays).
pub fn update(conn: &mut AnyConnection, id: &str, rule: &ClaimRule, now: i64) -> StoreResult<ClaimMapping> {
    crate::config_changes::mark();
    let existing = get(conn, id)?;
    check_unique(conn, existing.application_id.as_ref().map(ApplicationId::as_str), rule, Some(id))?;
    let changed = diesel::update(claim_mappings::table.find(id)).set(columns(rule, now)).execute(conn)?;
    found(changed, "claim mapping")?;
    get(conn, id)
}

pub fn get(conn: &mut AnyConnection, id: &str) -> StoreResult<ClaimMapping> {
    claim_mappings::table
        .find(id)
        .select(Row::as_select())
        .first(conn)
        .optional()?
        .ok_or(StoreError::not_found("claim mapping"))?
        .try_into()
}

/// Rules in creation order; `application_id` filters to one application's own rules.
pub fn list(
    conn: &mut AnyConnection,
    application_id: Option<&ApplicationId>,
    page: &Page,
) -> StoreResult<Paged<ClaimMapping>> {
    let mut query = claim_mappings::table.select(Row::as_select()).into_boxed();
    if let Some(id) = application_id {
        query = query.filter(claim_mappings::application_id.eq(id.as_str()));
    }
    if let Some(after) = &page.after {
        query = query.filter(claim_mappings::id.gt(after));
    }
    let rows: Vec<Row> = query.order(claim_mappings::id.asc()).limit(page.fetch_limit()).load(conn)?;
    let items = rows.into_iter().map(ClaimMapping::try_from).collect::<StoreResult<Vec<_>>>()?;
    Ok(Paged::from_rows(items, page, |m| m.id.clone()))
}

/// Every rule (for the in-memory configuration).
pub fn all(conn: &mut AnyConnection) -> StoreResult<Vec<ClaimMapping>> {
    let rows: Vec<Row> = claim_mappings::table.select(Row::as_select()).order(claim_mappings::id.asc()).load(conn)?;
    rows.into_iter().map(ClaimMapping::try_from).collect()
}

pub fn delete(conn: &mut AnyConnection, id: &str) -> StoreResult<()> {
    crate::config_changes::mark();
    let deleted = diesel::delete(claim_mappings::table.find(id)).execute(conn)?;
    found(deleted, "claim mapping")
}
