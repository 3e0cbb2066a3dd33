//! `/api/v1/audit-events`: the audit log, newest first, filtered by exact actor, action
//! and target and an inclusive time range (unix seconds).

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tessera_store::Store;
use tessera_store::audit::{self, AuditEvent, AuditFilter};
use utoipa::{IntoParams, ToSchema};

use super::auth::Caller;
use super::body::{self, blocking, page_schema};
use super::error::ApiError;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/audit-events", web::get().to(list));
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// `key:<id>`, `cli`, a user id…
    actor: Option<String>,
    /// `application.create`, `user.update`…
    action: Option<String>,
    /// `application:<id>`, `user:<id>`…
    target: Option<String>,
    /// Unix seconds, inclusive.
    from: Option<String>,
    /// Unix seconds, inclusive.
    until: Option<String>,
    limit: Option<String>,
    after: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEventView {
    id: String,
    occurred_at: i64,
    actor: String,
    action: String,
    target: String,
    #[schema(value_type = Object)]
    summary: Value,
    client_ip: Option<String>,
}

page_schema!(AuditEventPage, AuditEventView);

fn view(e: AuditEvent) -> AuditEventView {
    AuditEventView {
        id: e.id,
        occurred_at: e.occurred_at,
        actor: e.actor,
        action: e.action,
        target: e.target,
        summary: e.summary,
        client_ip: e.client_ip,
    }
}

fn seconds(field: &str, raw: Option<&str>) -> Result<Option<i64>, ApiError> {
    raw.map(|r| r.trim().parse::<i64>().map_err(|_| ApiError::invalid(field, format!("{field} must be unix seconds"))))
        .transpose()
}

#[utoipa::path(get, path = "/api/v1/audit-events", tag = "audit", params(AuditQuery),
    responses((status = 200, body = AuditEventPage)))]
pub async fn list(
    store: web::Data<Store>,
    _caller: Caller,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let page = body::page(q.limit.as_deref(), q.after)?;
    let filter = AuditFilter {
        from: seconds("from", q.from.as_deref())?,
        until: seconds("until", q.until.as_deref())?,
        actor: q.actor,
        action: q.action,
        target: q.target,
    };
    let paged = blocking(move || Ok(store.read_transaction(|c| audit::list(c, &filter, &page))?)).await?;
    Ok(HttpResponse::Ok().json(body::PageOf::of(paged, view)))
}
