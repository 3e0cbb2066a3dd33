//! Claim types in the console: the standard OpenID Connect claims read-only, custom ones
//! created, edited and deleted (name, display name, value type, description); any of them
//! may be made editable by users on the account page.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use tessera_domain::ClaimValueType;
use tessera_store::Store;
use tessera_store::scopes::{self, ClaimType};

use super::error::{attempt, blocking};
use super::form::FormData;
use super::view::{Action, Cell, Choice, Field, Form, Page, Panel, Table};
use super::{Admin, ConsoleError, encode, href, html, see_other};
use crate::api::ApiError;
use crate::api::claim_types::{
    ClaimTypeUpdate, NewClaimType, create_claim_type, delete_claim_type, set_user_editable, update_claim_type,
};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/claim-types", web::get().to(list))
        .route("/claim-types", web::post().to(create))
        .route("/claim-types/new", web::get().to(new))
        .route("/claim-types/{name}", web::get().to(show))
        .route("/claim-types/{name}", web::post().to(update))
        .route("/claim-types/{name}/delete", web::post().to(delete))
        .route("/claim-types/{name}/user-editable", web::post().to(user_editable));
}

#[derive(Debug, Deserialize)]
pub struct Query {
    notice: Option<String>,
}

fn notice(code: Option<&str>) -> Option<String> {
    Some(
        match code? {
            "saved" => "The claim was saved.",
            "deleted" => "The claim was deleted.",
            _ => return None,
        }
        .to_owned(),
    )
}

async fn list(admin: Admin, store: web::Data<Store>, query: web::Query<Query>) -> Result<HttpResponse, ConsoleError> {
    let all = blocking(move || Ok(store.read_transaction(scopes::list_claim_types)?)).await?;
    let mut standard = Table::new(&["Claim", "Display name", "Value type", "Users edit it"], "None.");
    let mut custom =
        Table::new(&["Claim", "Display name", "Value type", "Users edit it", "Description"], "No custom claims yet.");
    let editable = |t: &ClaimType| Cell::text(if t.user_editable { "yes" } else { "no" });
    for t in &all {
        if t.standard {
            standard.rows.push(vec![
                Cell::link(&t.name, href(&format!("claim-types/{}", encode(&t.name)))),
                Cell::text(&t.display_name),
                Cell::text(t.value_type.as_str()),
                editable(t),
            ]);
        } else {
            custom.rows.push(vec![
                Cell::link(&t.name, href(&format!("claim-types/{}", encode(&t.name)))),
                Cell::text(&t.display_name),
                Cell::text(t.value_type.as_str()),
                editable(t),
                Cell::text(&t.description),
            ]);
        }
    }
    let mut page = admin.page("Claims", "claim-types");
    page.notice = notice(query.notice.as_deref());
    page.actions.push(Action { label: "New claim".into(), href: href("claim-types/new") });
    page.panels.push(Panel::new("Custom claims").table(custom));
    page.panels.push(
        Panel::new("Standard claims")
            .intro("OpenID Connect Core §5.1; read-only, but for whether users edit them on their account page.")
            .table(standard),
    );
    Ok(html(StatusCode::OK, &page))
}

fn value_type_field(current: &str) -> Field {
    Field::select(
        "value_type",
        "Value type",
        ClaimValueType::ALL.iter().map(|t| Choice::new(t.as_str(), t.as_str(), t.as_str() == current)).collect(),
    )
    .help("Values users and admins enter are checked against it.")
}

/// The checkbox of `user_editable`.
fn user_editable_field(checked: bool) -> Field {
    Field::checkbox("user_editable", "Users edit it on their account page", checked)
        .help("Signed-in users may set or change their own value at /account (checked as on the required-claims page).")
}

fn claim_form(
    action: String,
    submit: &str,
    name: Option<&str>,
    display: String,
    description: String,
    value_type: &str,
    user_editable: bool,
) -> Form {
    let mut fields = Vec::new();
    match name {
        None => fields.push(
            Field::text("name", "Name", display.clone())
                .required()
                .help("As it appears in tokens and userinfo, e.g. employee_id."),
        ),
        Some(name) => fields.push(Field::readonly("Name", name)),
    }
    fields.push(
        Field::text("display_name", "Display name", if name.is_none() { String::new() } else { display })
            .help("Shown to users on the required-claims page. Default: the name."),
    );
    fields.push(value_type_field(value_type));
    fields.push(Field::textarea("description", "Description", description).help("Shown to users beside the field."));
    fields.push(user_editable_field(user_editable));
    Form::post(action, submit, fields)
}

fn new_page(admin: &Admin, form: Option<&FormData>, error: Option<ApiError>) -> Page {
    let get = |n: &str| form.map(|f| f.text(n)).unwrap_or_default();
    let mut f = claim_form(
        href("claim-types"),
        "Create claim",
        None,
        get("name"),
        get("description"),
        &form.map_or_else(|| "string".to_owned(), |f| f.text("value_type")),
        form.is_some_and(|f| f.checked("user_editable")),
    );
    if let Some(field) = form.and_then(|_| f.fields.iter_mut().find(|x| x.name == "display_name")) {
        field.value = form.map(|f| f.text("display_name")).unwrap_or_default();
    }
    if let Some(error) = error {
        f = f.with_error(error.body.field.as_deref(), error.body.message);
    }
    let mut page = admin.page("New claim", "claim-types");
    page.panels.push(Panel::new("").form(f));
    page
}

async fn new(admin: Admin) -> Result<HttpResponse, ConsoleError> {
    Ok(html(StatusCode::OK, &new_page(&admin, None, None)))
}

async fn create(admin: Admin, store: web::Data<Store>, body: web::Bytes) -> Result<HttpResponse, ConsoleError> {
    let form = admin.form(&body)?;
    let input = NewClaimType {
        name: form.text("name"),
        display_name: form.optional("display_name"),
        description: form.optional("description"),
        value_type: form.text("value_type"),
        user_editable: Some(form.checked("user_editable")),
    };
    let who = admin.clone();
    match attempt(move || create_claim_type(&store, &who, input)).await? {
        Ok(created) => {
            Ok(see_other(&format!("{}?notice=saved", href(&format!("claim-types/{}", encode(&created.name))))))
        }
        Err(error) => Ok(html(StatusCode::BAD_REQUEST, &new_page(&admin, Some(&form), Some(error)))),
    }
}

fn edit_page(admin: &Admin, claim: &ClaimType, form: Option<&FormData>, error: Option<ApiError>) -> Page {
    let mut page = admin.page(format!("Claim {}", claim.name), "claim-types");
    if claim.standard {
        page.panels.push(
            Panel::new("Standard claim")
                .intro("Standard OpenID Connect claims are read-only.")
                .fact("Name", &claim.name)
                .fact("Display name", &claim.display_name)
                .fact("Value type", claim.value_type.as_str())
                .fact("Description", &claim.description),
        );
        let action = href(&format!("claim-types/{}/user-editable", encode(&claim.name)));
        page.panels.push(Panel::new("Account page").form(Form::post(
            action,
            "Save",
            vec![user_editable_field(claim.user_editable)],
        )));
        return page;
    }
    let base = href(&format!("claim-types/{}", encode(&claim.name)));
    let (display, description, value_type, editable) = match form {
        Some(f) => (f.text("display_name"), f.text("description"), f.text("value_type"), f.checked("user_editable")),
        None => (
            claim.display_name.clone(),
            claim.description.clone(),
            claim.value_type.as_str().to_owned(),
            claim.user_editable,
        ),
    };
    let mut f = claim_form(base.clone(), "Save", Some(&claim.name), display, description, &value_type, editable);
    if let Some(error) = error {
        f = f.with_error(error.body.field.as_deref(), error.body.message);
    }
    page.panels.push(Panel::new("Settings").form(f));
    page.panels.push(
        Panel::new("Delete")
            .intro(
                "Deleting the claim deletes every user's value of it and removes it from scopes and required claims.",
            )
            .form(Form::danger(format!("{base}/delete"), "Delete claim", "Delete this claim and every value of it?")),
    );
    page
}

async fn show(
    admin: Admin,
    store: web::Data<Store>,
    name: web::Path<String>,
    query: web::Query<Query>,
) -> Result<HttpResponse, ConsoleError> {
    let name = name.into_inner();
    let claim = blocking(move || Ok(store.read_transaction(|c| scopes::get_claim_type(c, &name))?)).await?;
    let mut page = edit_page(&admin, &claim, None, None);
    page.notice = notice(query.notice.as_deref());
    Ok(html(StatusCode::OK, &page))
}

async fn update(
    admin: Admin,
    store: web::Data<Store>,
    name: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    let name = name.into_inner();
    let form = admin.form(&body)?;
    let input = ClaimTypeUpdate {
        display_name: form.optional("display_name").unwrap_or_else(|| name.clone()),
        description: form.optional("description"),
        value_type: form.text("value_type"),
        user_editable: Some(form.checked("user_editable")),
    };
    let (who, db, claim_name) = (admin.clone(), store.clone(), name.clone());
    match attempt(move || update_claim_type(&db, &who, claim_name, input)).await? {
        Ok(_) => Ok(see_other(&format!("{}?notice=saved", href(&format!("claim-types/{}", encode(&name)))))),
        Err(error) => {
            let claim = blocking(move || Ok(store.read_transaction(|c| scopes::get_claim_type(c, &name))?)).await?;
            Ok(html(StatusCode::BAD_REQUEST, &edit_page(&admin, &claim, Some(&form), Some(error))))
        }
    }
}

async fn delete(
    admin: Admin,
    store: web::Data<Store>,
    name: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    admin.form(&body)?;
    let name = name.into_inner();
    let who = admin.clone();
    match attempt(move || delete_claim_type(&store, &who, &name)).await? {
        Ok(()) => Ok(see_other(&format!("{}?notice=deleted", href("claim-types")))),
        Err(_) => Err(ConsoleError::Forbidden),
    }
}

/// Whether users edit the claim on their account page (standard claims too).
async fn user_editable(
    admin: Admin,
    store: web::Data<Store>,
    name: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    let form = admin.form(&body)?;
    let name = name.into_inner();
    let (who, editable, claim_name) = (admin.clone(), form.checked("user_editable"), name.clone());
    blocking(move || Ok(set_user_editable(&store, &who, &claim_name, editable)?)).await?;
    Ok(see_other(&format!("{}?notice=saved", href(&format!("claim-types/{}", encode(&name))))))
}
