//! Applications in the console: list, create, edit every setting, regenerate the secret
//! (shown once), delete. The form's field names are the API's, so a rule broken in
//! either place is reported on the same field with the same words.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use tessera_domain::ApplicationId;
use tessera_store::applications::{self, Application};
use tessera_store::{Page as StorePage, Store};

use super::error::{attempt, blocking};
use super::view::{Action, Cell, Field, Form, Panel, Table};
use super::{Admin, ConsoleError, encode, href, html, see_other, time};
use crate::api::ApiError;
mod editor;

pub(crate) use editor::pretty;
use editor::{Options, Values, fields, input, options};

use crate::api::applications::{
    create_application, delete_application, regenerate_application_secret, replace_application,
};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/applications", web::get().to(list))
        .route("/applications", web::post().to(create))
        .route("/applications/new", web::get().to(new))
        .route("/applications/{id}", web::get().to(show))
        .route("/applications/{id}", web::post().to(update))
        .route("/applications/{id}/secret", web::post().to(regenerate_secret))
        .route("/applications/{id}/delete", web::post().to(delete));
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    after: Option<String>,
    notice: Option<String>,
}

async fn list(
    admin: Admin,
    store: web::Data<Store>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ConsoleError> {
    let page = StorePage { after: query.after.clone(), limit: 50 };
    let paged = blocking(move || Ok(store.read_transaction(|c| applications::list(c, &page))?)).await?;
    let mut table =
        Table::new(&["Name", "Client ID", "Type", "Registered by", "Access tokens", "Status"], "No applications yet.");
    for app in &paged.items {
        let s = &app.settings;
        table.rows.push(vec![
            Cell::link(&s.name, href(&format!("applications/{}", app.id))),
            Cell::mono(&app.client_id),
            Cell::text(s.app_type.as_str()),
            Cell::text(registered_by(app.registration)),
            Cell::text(s.access_token_format.as_str()),
            Cell::text(if s.enabled { "enabled" } else { "disabled" }),
        ]);
    }
    table.next = paged.next.map(|n| format!("{}?after={}", href("applications"), encode(&n)));
    let mut page = admin.page("Applications", "applications");
    page.notice = query.notice.as_deref().and_then(notice);
    page.actions.push(Action { label: "New application".into(), href: href("applications/new") });
    page.panels.push(Panel::new("").table(table));
    Ok(html(StatusCode::OK, &page))
}

/// Who registered the application: an administrator, or the client itself (RFC 7591, or
/// a Client ID Metadata Document).
fn registered_by(registration: Option<applications::RegistrationKind>) -> &'static str {
    match registration {
        None => "administrator",
        Some(applications::RegistrationKind::Dynamic) => "itself (dynamic registration)",
        Some(applications::RegistrationKind::MetadataDocument) => "itself (metadata document)",
    }
}

fn notice(code: &str) -> Option<String> {
    Some(
        match code {
            "created" => "The application was created.",
            "saved" => "The application was saved.",
            "deleted" => "The application was deleted.",
            _ => return None,
        }
        .to_owned(),
    )
}

async fn new(admin: Admin, store: web::Data<Store>) -> Result<HttpResponse, ConsoleError> {
    let options = blocking(move || options(&store)).await?;
    let mut page = admin.page("New application", "applications");
    let form = Form::post(href("applications"), "Create application", fields(&Values::new_application(), &options));
    page.panels.push(Panel::new("").form(form));
    Ok(html(StatusCode::OK, &page))
}

async fn create(
    admin: Admin,
    store: web::Data<Store>,
    hosts: web::Data<tessera_outbound::PrivateHosts>,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    let form = admin.form(&body)?;
    let parsed = input(&form);
    let who = admin.clone();
    let db = store.clone();
    let result = attempt(move || create_application(&db, &hosts, &who, None, parsed?)).await?;
    match result {
        Ok((app, Some(secret))) => {
            let mut page = admin.page(format!("Application {}", app.settings.name), "applications");
            page.has_secret = true;
            page.notice = Some("The application was created.".into());
            page.panels.push(
                Panel::new("Credentials").fact("Client ID", &app.client_id).secret("Client secret", secret.expose()),
            );
            page.actions.push(Action { label: "Continue".into(), href: href(&format!("applications/{}", app.id)) });
            Ok(html(StatusCode::OK, &page))
        }
        Ok((app, None)) => Ok(see_other(&format!("{}?notice=created", href(&format!("applications/{}", app.id))))),
        Err(error) => {
            let options = blocking(move || options(&store)).await?;
            let mut page = admin.page("New application", "applications");
            let form = Form::post(href("applications"), "Create application", fields(&Values::typed(&form), &options))
                .with_error(error.body.field.as_deref(), error.body.message);
            page.panels.push(Panel::new("").form(form));
            Ok(html(StatusCode::BAD_REQUEST, &page))
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct ShowQuery {
    notice: Option<String>,
}

async fn show(
    admin: Admin,
    store: web::Data<Store>,
    id: web::Path<ApplicationId>,
    query: web::Query<ShowQuery>,
) -> Result<HttpResponse, ConsoleError> {
    let id = id.into_inner();
    let (app, options) = blocking(move || {
        let app = store.read_transaction(|c| applications::get(c, &id))?;
        Ok((app, options(&store)?))
    })
    .await?;
    let mut page = edit_page(&admin, &app, Values::of(&app), &options, None);
    page.notice = query.notice.as_deref().and_then(notice);
    Ok(html(StatusCode::OK, &page))
}

fn edit_page(
    admin: &Admin,
    app: &Application,
    values: Values,
    options: &Options,
    error: Option<ApiError>,
) -> super::view::Page {
    let base = href(&format!("applications/{}", app.id));
    let mut page = admin.page(format!("Application {}", app.settings.name), "applications");
    page.panels.push(
        Panel::new("Identity")
            .fact("Client ID", &app.client_id)
            .fact("Registered by", registered_by(app.registration))
            .fact("Created", time(app.created_at))
            .fact("Updated", time(app.updated_at)),
    );
    let mut form = Form::post(&base, "Save", fields(&values, options));
    if let Some(error) = error {
        form = form.with_error(error.body.field.as_deref(), error.body.message);
    }
    page.panels.push(Panel::new("Settings").form(form));
    if app.settings.uses_client_secret() {
        page.panels.push(
            Panel::new("Client secret")
                .intro("A new secret is shown once. The current secrets keep working for the grace period.")
                .form(Form::post(
                    format!("{base}/secret"),
                    "Regenerate secret",
                    vec![Field::number("grace_period_seconds", "Grace period (seconds)", "0")],
                )),
        );
    }
    page.panels.push(
        Panel::new("Delete")
            .intro("Deleting the application ends its grants: its refresh and access tokens stop working.")
            .form(Form::danger(format!("{base}/delete"), "Delete application", "Delete this application?")),
    );
    page
}

async fn update(
    admin: Admin,
    store: web::Data<Store>,
    hosts: web::Data<tessera_outbound::PrivateHosts>,
    id: web::Path<ApplicationId>,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    let id = id.into_inner();
    let form = admin.form(&body)?;
    let parsed = input(&form);
    let (who, db, app_id) = (admin.clone(), store.clone(), id.clone());
    match attempt(move || replace_application(&db, &hosts, &who, &app_id, parsed?)).await? {
        Ok(app) => Ok(see_other(&format!("{}?notice=saved", href(&format!("applications/{}", app.id))))),
        Err(error) => {
            let (app, options) = blocking(move || {
                let app = store.read_transaction(|c| applications::get(c, &id))?;
                Ok((app, options(&store)?))
            })
            .await?;
            let page = edit_page(&admin, &app, Values::typed(&form), &options, Some(error));
            Ok(html(StatusCode::BAD_REQUEST, &page))
        }
    }
}

async fn regenerate_secret(
    admin: Admin,
    store: web::Data<Store>,
    id: web::Path<ApplicationId>,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    let id = id.into_inner();
    let form = admin.form(&body)?;
    let grace = form.integer("grace_period_seconds");
    let who = admin.clone();
    let db = store.clone();
    let app_id = id.clone();
    let result = attempt(move || {
        let grace = crate::api::body::RotateSecret { grace_period_seconds: grace? }.grace()?;
        regenerate_application_secret(&db, &who, &app_id, grace)
    })
    .await?;
    match result {
        Ok((app, secret)) => {
            let mut page = admin.page(format!("Application {}", app.settings.name), "applications");
            page.has_secret = true;
            page.notice = Some("A new client secret was issued.".into());
            page.panels.push(
                Panel::new("Credentials").fact("Client ID", &app.client_id).secret("Client secret", secret.expose()),
            );
            page.actions.push(Action {
                label: "Back to the application".into(),
                href: href(&format!("applications/{}", app.id)),
            });
            Ok(html(StatusCode::OK, &page))
        }
        Err(error) => {
            let (app, options) = blocking(move || {
                let app = store.read_transaction(|c| applications::get(c, &id))?;
                Ok((app, options(&store)?))
            })
            .await?;
            let mut page = edit_page(&admin, &app, Values::of(&app), &options, None);
            page.notice = None;
            if let Some(panel) = page.panels.iter_mut().find(|p| p.heading == "Client secret") {
                panel.form = panel.form.take().map(|f| f.with_error(error.body.field.as_deref(), error.body.message));
            }
            Ok(html(StatusCode::BAD_REQUEST, &page))
        }
    }
}

async fn delete(
    admin: Admin,
    store: web::Data<Store>,
    id: web::Path<ApplicationId>,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    admin.form(&body)?;
    let id = id.into_inner();
    let who = admin.clone();
    blocking(move || Ok(delete_application(&store, &who, &id)?)).await?;
    Ok(see_other(&format!("{}?notice=deleted", href("applications"))))
}
