//! The audit log: every admin change and every security event.

use diesel::prelude::*;
use serde_json::Value;

use crate::page::{Page, Paged};
use crate::schema::audit_events;
use crate::{AnyConnection, StoreError, StoreResult, new_id};

mod names;
pub use names::display_names;

/// An event to record. `summary` describes what changed and must never hold a secret.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAuditEvent<'a> {
    pub actor: &'a str,
    pub action: &'a str,
    pub target: &'a str,
    pub summary: Value,
    pub client_ip: Option<&'a str>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    pub id: String,
    pub occurred_at: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub summary: Value,
    pub client_ip: Option<String>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = audit_events)]
struct Row {
    id: String,
    occurred_at: i64,
    actor: String,
    action: String,
    target: String,
    summary: String,
    client_ip: Option<String>,
}

impl TryFrom<Row> for AuditEvent {
    type Error = StoreError;
    fn try_from(row: Row) -> StoreResult<AuditEvent> {
        Ok(AuditEvent {
            summary: crate::json::parse(&row.summary)?,
            id: row.id,
            occurred_at: row.occurred_at,
            actor: row.actor,
            action: row.action,
            target: row.target,
            client_ip: row.client_ip,
        })
    }
}

/// Appends an event.
pub fn record(conn: &mut AnyConnection, event: &NewAuditEvent<'_>, now: i64) -> StoreResult<String> {
    let id = new_id();
    diesel::insert_into(audit_events::table)
        .values((
            audit_events::id.eq(&id),
            audit_events::occurred_at.eq(now),
            audit_events::actor.eq(event.actor),
            audit_events::action.eq(event.action),
            audit_events::target.eq(event.target),
            audit_events::summary.eq(event.summary.to_string()),
            audit_events::client_ip.eq(event.client_ip),
        ))
        .execute(conn)?;
    Ok(id)
}

/// Records `event` unless another event of bucket `key` was recorded within the last
/// `interval` seconds: for events that unauthenticated requests can cause (ASVS 5.0
/// V16.3: they are logged, but an attacker cannot flood the log with them). A recorded
/// event's summary carries `passed_over`, the events of the bucket not recorded since
/// the last one. Returns whether it was recorded.
pub fn record_sampled(
    conn: &mut AnyConnection,
    event: &NewAuditEvent<'_>,
    key: &str,
    interval: i64,
    now: i64,
) -> StoreResult<bool> {
    let Some(passed_over) = crate::throttle::sample(conn, key, interval, now)? else { return Ok(false) };
    let mut summary = event.summary.clone();
    if let Value::Object(fields) = &mut summary {
        fields.insert("passed_over".into(), Value::from(passed_over));
    }
    record(conn, &NewAuditEvent { summary, ..*event }, now)?;
    Ok(true)
}

/// Which events to list: each set field must match exactly; times are inclusive.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub target: Option<String>,
    pub from: Option<i64>,
    pub until: Option<i64>,
}

/// Events matching `filter`, newest first; the cursor is the last event's id.
pub fn list(conn: &mut AnyConnection, filter: &AuditFilter, page: &Page) -> StoreResult<Paged<AuditEvent>> {
    let mut query = audit_events::table.select(Row::as_select()).into_boxed();
    if let Some(actor) = &filter.actor {
        query = query.filter(audit_events::actor.eq(actor));
    }
    if let Some(action) = &filter.action {
        query = query.filter(audit_events::action.eq(action));
    }
    if let Some(target) = &filter.target {
        query = query.filter(audit_events::target.eq(target));
    }
    if let Some(from) = filter.from {
        query = query.filter(audit_events::occurred_at.ge(from));
    }
    if let Some(until) = filter.until {
        query = query.filter(audit_events::occurred_at.le(until));
    }
    if let Some(after) = &page.after {
        query = query.filter(audit_events::id.lt(after));
    }
    let rows: Vec<Row> = query.order(audit_events::id.desc()).limit(page.fetch_limit()).load(conn)?;
    let events = rows.into_iter().map(AuditEvent::try_from).collect::<StoreResult<Vec<_>>>()?;
    Ok(Paged::from_rows(events, page, |e| e.id.clone()))
}

/// The number of events recorded.
pub fn count(conn: &mut AnyConnection) -> StoreResult<i64> {
    Ok(audit_events::table.count().get_result(conn)?)
}
