//! The audit log in the console: every administrative change and security event, newest
//! first, filtered by actor, action, target and time.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use tessera_store::audit::{self, AuditEvent, AuditFilter};
use tessera_store::{Page as StorePage, Store};

use super::error::blocking;
use super::view::{Cell, Field, Form, Panel, Table};
use super::{Admin, ConsoleError, encode, href, html, parse_time, time};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/audit", web::get().to(list));
}

#[derive(Debug, Default, Deserialize)]
pub struct AuditQuery {
    actor: Option<String>,
    action: Option<String>,
    target: Option<String>,
    from: Option<String>,
    until: Option<String>,
    after: Option<String>,
}

/// A table of events: actors and targets by name where they name a stored thing (the raw
/// `kind:id` on hover, and in the filter link), times and addresses on one line, summaries
/// as compact JSON clipped to one line (whole on hover; they never hold secrets).
pub fn events_table(events: &[AuditEvent], names: &HashMap<String, String>) -> Table {
    let mut table = Table::new(&["Time (UTC)", "Actor", "Action", "Target", "Summary", "Client IP"], "No events.");
    let named = |reference: &str, filter: &str| {
        let href = format!("{}?{filter}={}", href("audit"), encode(reference));
        match (names.get(reference), reference.split_once(':')) {
            (Some(name), Some((kind, _))) => {
                Cell::link(format!("{} {name}", kind.replace('_', " ")), href).titled(reference).clipped_narrow()
            }
            _ => Cell::link(reference, href).clipped_narrow(),
        }
    };
    for e in events {
        table.rows.push(vec![
            Cell::text(time(e.occurred_at).trim_end_matches(" UTC")).nowrap(),
            named(&e.actor, "actor"),
            Cell::link(&e.action, format!("{}?action={}", href("audit"), encode(&e.action))).nowrap(),
            named(&e.target, "target"),
            Cell::mono(e.summary.to_string()).clipped(),
            Cell::text(e.client_ip.clone().unwrap_or_default()).clipped_narrow(),
        ]);
    }
    table
}

/// The events' actor and target names, read in the caller's transaction.
pub fn event_names(
    conn: &mut tessera_store::AnyConnection,
    events: &[AuditEvent],
) -> tessera_store::StoreResult<HashMap<String, String>> {
    audit::display_names(conn, events.iter().flat_map(|e| [e.actor.as_str(), e.target.as_str()]))
}

fn given(value: &Option<String>) -> Option<String> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned)
}

async fn list(
    admin: Admin,
    store: web::Data<Store>,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, ConsoleError> {
    let q = query.into_inner();
    let mut filter_form = Form::get(
        href("audit"),
        "Filter",
        vec![
            Field::text("actor", "Actor", given(&q.actor).unwrap_or_default())
                .help("user:<id>, key:<id>, cli, system, anonymous"),
            Field::text("action", "Action", given(&q.action).unwrap_or_default()).help("e.g. application.create"),
            Field::text("target", "Target", given(&q.target).unwrap_or_default()).help("e.g. application:<id>"),
            Field::text("from", "From (UTC)", given(&q.from).unwrap_or_default())
                .help("YYYY-MM-DD or YYYY-MM-DD HH:MM"),
            Field::text("until", "Until (UTC)", given(&q.until).unwrap_or_default()),
        ],
    );
    let mut times = [None, None];
    for (slot, (name, raw)) in times.iter_mut().zip([("from", &q.from), ("until", &q.until)]) {
        if let Some(raw) = given(raw) {
            match parse_time(&raw) {
                Some(t) => *slot = Some(t),
                None => filter_form = filter_form.with_error(Some(name), "Use YYYY-MM-DD or YYYY-MM-DD HH:MM (UTC)."),
            }
        }
    }
    let filter = AuditFilter {
        actor: given(&q.actor),
        action: given(&q.action),
        target: given(&q.target),
        from: times[0],
        // A day given alone means the whole day.
        until: times[1].map(|t| if given(&q.until).is_some_and(|u| u.len() <= 10) { t + 86_399 } else { t }),
    };
    let page_query = StorePage { after: given(&q.after), limit: 50 };
    let (paged, names) = blocking(move || {
        Ok(store.read_transaction(|c| {
            let paged = audit::list(c, &filter, &page_query)?;
            let names = event_names(c, &paged.items)?;
            Ok((paged, names))
        })?)
    })
    .await?;
    let mut table = events_table(&paged.items, &names);
    if let Some(next) = paged.next {
        let mut params: Vec<String> =
            [("actor", &q.actor), ("action", &q.action), ("target", &q.target), ("from", &q.from), ("until", &q.until)]
                .iter()
                .filter_map(|(k, v)| given(v).map(|v| format!("{k}={}", encode(&v))))
                .collect();
        params.push(format!("after={}", encode(&next)));
        table.next = Some(format!("{}?{}", href("audit"), params.join("&")));
    }
    let mut page = admin.page("Audit log", "audit");
    page.panels.push(Panel::new("Filter").form(filter_form));
    page.panels.push(Panel::new("Events").table(table));
    Ok(html(StatusCode::OK, &page))
}
