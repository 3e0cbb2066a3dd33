//! Management API keys in the console: list, create (the key is shown once), revoke.
//! A key made here stands for the signed-in administrator and stops working if they lose
//! the role.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use tessera_store::management_keys;
use tessera_store::{Page as StorePage, Store};

use super::error::{attempt, blocking};
use super::form::FormData;
use super::view::{Cell, Field, Form, Page, Panel, Table};
use super::{Admin, ConsoleError, encode, href, html, parse_time, see_other, time};
use crate::api::ApiError;
use crate::api::management_keys::{NewKeyBody, create_key, revoke_key};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/management-keys", web::get().to(list))
        .route("/management-keys", web::post().to(create))
        .route("/management-keys/{id}/revoke", web::post().to(revoke));
}

#[derive(Debug, Deserialize)]
pub struct Query {
    after: Option<String>,
    notice: Option<String>,
}

fn key_form(form: Option<&FormData>) -> Form {
    let get = |n: &str| form.map(|f| f.text(n)).unwrap_or_default();
    Form::post(
        href("management-keys"),
        "Create key",
        vec![
            Field::text("name", "Name", get("name")).required().help("What the key is for, e.g. deploy pipeline."),
            Field::text("expires_at", "Expires (UTC)", get("expires_at"))
                .help("YYYY-MM-DD or YYYY-MM-DD HH:MM; empty: never."),
        ],
    )
}

async fn list_page(
    admin: &Admin,
    store: web::Data<Store>,
    after: Option<String>,
    form: Form,
) -> Result<Page, ConsoleError> {
    let page_query = StorePage { after, limit: 50 };
    let paged = blocking(move || Ok(store.read_transaction(|c| management_keys::list(c, &page_query))?)).await?;
    let mut table =
        Table::new(&["Name", "Key id", "Created by", "Created", "Expires", "Last used", "Status"], "No keys yet.");
    for k in &paged.items {
        let status = if k.revoked_at.is_some() {
            Cell::text(format!("revoked {}", k.revoked_at.map(time).unwrap_or_default()))
        } else {
            Cell::form(
                Form::danger(
                    href(&format!("management-keys/{}/revoke", k.id)),
                    "Revoke",
                    format!("Revoke the key {}?", k.name),
                )
                .inline(),
            )
        };
        table.rows.push(vec![
            Cell::text(&k.name),
            Cell::mono(&k.id),
            Cell::text(&k.created_by),
            Cell::text(time(k.created_at)),
            Cell::text(k.expires_at.map(time).unwrap_or_else(|| "never".into())),
            Cell::text(k.last_used_at.map(time).unwrap_or_else(|| "never".into())),
            status,
        ]);
    }
    table.next = paged.next.map(|n| format!("{}?after={}", href("management-keys"), encode(&n)));
    let mut page = admin.page("Management API keys", "management-keys");
    page.panels.push(
        Panel::new("Keys")
            .intro("Keys authenticate calls to the management REST API (/api/v1) as Authorization: Bearer <key>.")
            .table(table),
    );
    page.panels.push(Panel::new("New key").form(form));
    Ok(page)
}

async fn list(admin: Admin, store: web::Data<Store>, query: web::Query<Query>) -> Result<HttpResponse, ConsoleError> {
    let mut page = list_page(&admin, store, query.after.clone(), key_form(None)).await?;
    if query.notice.as_deref() == Some("revoked") {
        page.notice = Some("The key was revoked.".into());
    }
    Ok(html(StatusCode::OK, &page))
}

async fn create(admin: Admin, store: web::Data<Store>, body: web::Bytes) -> Result<HttpResponse, ConsoleError> {
    let form = admin.form(&body)?;
    let expires = form.optional("expires_at");
    let input = NewKeyBody { name: form.text("name"), expires_at: None };
    let (who, db) = (admin.clone(), store.clone());
    let outcome = attempt(move || {
        let expires_at = match expires {
            None => None,
            Some(raw) => Some(
                parse_time(&raw)
                    .ok_or_else(|| ApiError::invalid("expires_at", "Use YYYY-MM-DD or YYYY-MM-DD HH:MM (UTC)."))?,
            ),
        };
        create_key(&db, &who, NewKeyBody { expires_at, ..input })
    })
    .await?;
    match outcome {
        Ok((key, secret)) => {
            let mut page = admin.page(format!("Management key {}", key.name), "management-keys");
            page.has_secret = true;
            page.notice = Some("The key was created.".into());
            page.panels.push(
                Panel::new("Key")
                    .intro("Send it as Authorization: Bearer <key>, or its two halves as the API_KEY_ID and API_SECRET_KEY headers.")
                    .fact("Key id (API_KEY_ID)", &key.id)
                    .secret("Key", format!("{}.{}", key.id, secret.expose())),
            );
            page.actions.push(super::view::Action { label: "Back to the keys".into(), href: href("management-keys") });
            Ok(html(StatusCode::OK, &page))
        }
        Err(error) => {
            let f = key_form(Some(&form)).with_error(error.body.field.as_deref(), error.body.message);
            Ok(html(StatusCode::BAD_REQUEST, &list_page(&admin, store, None, f).await?))
        }
    }
}

async fn revoke(
    admin: Admin,
    store: web::Data<Store>,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    admin.form(&body)?;
    let id = id.into_inner();
    let who = admin.clone();
    blocking(move || Ok(revoke_key(&store, &who, &id)?)).await?;
    Ok(see_other(&format!("{}?notice=revoked", href("management-keys"))))
}
