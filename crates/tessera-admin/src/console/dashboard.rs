//! The console's first page: how many of each thing there are, and what changed lately.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use tessera_store::audit::{self, AuditFilter};
use tessera_store::{Page as StorePage, Store, applications, connections, users};

use super::audit::{event_names, events_table};
use super::error::blocking;
use super::view::Panel;
use super::{Admin, ConsoleError, href, html};

pub async fn show(admin: Admin, store: web::Data<Store>) -> Result<HttpResponse, ConsoleError> {
    let (counts, recent, names) = blocking(move || {
        Ok(store.read_transaction(|c| {
            let counts = [
                ("Users", users::count(c)?, "users"),
                ("Applications", applications::count(c)?, "applications"),
                ("API connections", connections::count(c)?, "connections"),
                ("Audit events", audit::count(c)?, "audit"),
            ];
            let recent = audit::list(c, &AuditFilter::default(), &StorePage { after: None, limit: 10 })?;
            let names = event_names(c, &recent.items)?;
            Ok((counts, recent.items, names))
        })?)
    })
    .await?;
    let mut page = admin.page("Dashboard", "");
    let mut totals = Panel::new("At a glance");
    for (label, count, _) in &counts {
        totals = totals.fact(*label, count.to_string());
    }
    page.panels.push(totals);
    let mut table = events_table(&recent, &names);
    table.next = Some(href("audit"));
    page.panels.push(Panel::new("Recent audit events").table(table));
    Ok(html(StatusCode::OK, &page))
}
