//! Roles in the console: list, create, rename, delete (`tessera-admin` keeps its name and
//! cannot be deleted).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use tessera_store::organizations::{self, Role};
use tessera_store::{Page as StorePage, Store};

use super::error::{attempt, blocking};
use super::view::{Cell, Field, Form, Page, Panel, Table};
use super::{Admin, ConsoleError, encode, href, html, see_other, time};
use crate::api::ApiError;
use crate::api::roles::{RoleBody, create_role, delete_role, update_role};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/roles", web::get().to(list))
        .route("/roles", web::post().to(create))
        .route("/roles/{id}", web::get().to(show))
        .route("/roles/{id}", web::post().to(update))
        .route("/roles/{id}/delete", web::post().to(delete));
}

#[derive(Debug, Deserialize)]
pub struct Query {
    after: Option<String>,
    notice: Option<String>,
}

fn notice(code: Option<&str>) -> Option<String> {
    Some(
        match code? {
            "created" => "The role was created.",
            "saved" => "The role was saved.",
            "deleted" => "The role was deleted.",
            _ => return None,
        }
        .to_owned(),
    )
}

fn role_form(action: String, submit: &str, name: String, description: String) -> Form {
    Form::post(
        action,
        submit,
        vec![
            Field::text("name", "Name", name).required().help("Lowercase letters, digits, . _ : -"),
            Field::textarea("description", "Description", description),
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
    let paged = blocking(move || Ok(store.read_transaction(|c| organizations::list_roles(c, &page_query))?)).await?;
    let mut table = Table::new(&["Role", "Description", "Created"], "No roles yet.");
    for r in &paged.items {
        table.rows.push(vec![
            Cell::link(&r.name, href(&format!("roles/{}", r.id))),
            Cell::text(&r.description),
            Cell::text(time(r.created_at)),
        ]);
    }
    table.next = paged.next.map(|n| format!("{}?after={}", href("roles"), encode(&n)));
    let mut page = admin.page("Roles", "roles");
    page.panels.push(Panel::new("").table(table));
    page.panels.push(Panel::new("New role").form(form));
    Ok(page)
}

async fn list(admin: Admin, store: web::Data<Store>, query: web::Query<Query>) -> Result<HttpResponse, ConsoleError> {
    let form = role_form(href("roles"), "Create role", String::new(), String::new());
    let mut page = list_page(&admin, store, query.after.clone(), form).await?;
    page.notice = notice(query.notice.as_deref());
    Ok(html(StatusCode::OK, &page))
}

async fn create(admin: Admin, store: web::Data<Store>, body: web::Bytes) -> Result<HttpResponse, ConsoleError> {
    let form = admin.form(&body)?;
    let input = RoleBody { name: form.text("name"), description: form.optional("description") };
    let (who, db) = (admin.clone(), store.clone());
    match attempt(move || create_role(&db, &who, input)).await? {
        Ok(_) => Ok(see_other(&format!("{}?notice=created", href("roles")))),
        Err(error) => {
            let f = role_form(href("roles"), "Create role", form.text("name"), form.text("description"))
                .with_error(error.body.field.as_deref(), error.body.message);
            Ok(html(StatusCode::BAD_REQUEST, &list_page(&admin, store, None, f).await?))
        }
    }
}

fn edit_page(admin: &Admin, role: &Role, name: String, description: String, error: Option<ApiError>) -> Page {
    let base = href(&format!("roles/{}", role.id));
    let mut page = admin.page(format!("Role {}", role.name), "roles");
    let mut form = role_form(base.clone(), "Save", name, description);
    if let Some(error) = error {
        form = form.with_error(error.body.field.as_deref(), error.body.message);
    }
    page.panels.push(Panel::new("Settings").form(form));
    page.panels.push(
        Panel::new("Delete").intro("Users and organization members holding the role lose it.").form(Form::danger(
            format!("{base}/delete"),
            "Delete role",
            "Delete this role?",
        )),
    );
    page
}

async fn show(
    admin: Admin,
    store: web::Data<Store>,
    id: web::Path<String>,
    query: web::Query<Query>,
) -> Result<HttpResponse, ConsoleError> {
    let id = id.into_inner();
    let role = blocking(move || Ok(store.read_transaction(|c| organizations::get_role(c, &id))?)).await?;
    let mut page = edit_page(&admin, &role, role.name.clone(), role.description.clone(), None);
    page.notice = notice(query.notice.as_deref());
    Ok(html(StatusCode::OK, &page))
}

async fn update(
    admin: Admin,
    store: web::Data<Store>,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    let id = id.into_inner();
    let form = admin.form(&body)?;
    let input = RoleBody { name: form.text("name"), description: form.optional("description") };
    let (who, db, role_id) = (admin.clone(), store.clone(), id.clone());
    match attempt(move || update_role(&db, &who, &role_id, input)).await? {
        Ok(_) => Ok(see_other(&format!("{}?notice=saved", href(&format!("roles/{id}"))))),
        Err(error) => {
            let role = blocking(move || Ok(store.read_transaction(|c| organizations::get_role(c, &id))?)).await?;
            let page = edit_page(&admin, &role, form.text("name"), form.text("description"), Some(error));
            Ok(html(StatusCode::BAD_REQUEST, &page))
        }
    }
}

async fn delete(
    admin: Admin,
    store: web::Data<Store>,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    admin.form(&body)?;
    let id = id.into_inner();
    let (who, db, role_id) = (admin.clone(), store.clone(), id.clone());
    match attempt(move || delete_role(&db, &who, &role_id)).await? {
        Ok(()) => Ok(see_other(&format!("{}?notice=deleted", href("roles")))),
        Err(error) => {
            let role = blocking(move || Ok(store.read_transaction(|c| organizations::get_role(c, &id))?)).await?;
            let mut page = edit_page(&admin, &role, role.name.clone(), role.description.clone(), None);
            if let Some(panel) = page.panels.last_mut() {
                panel.form = panel.form.take().map(|f| f.with_error(None, error.body.message));
            }
            Ok(html(StatusCode::FORBIDDEN, &page))
        }
    }
}
