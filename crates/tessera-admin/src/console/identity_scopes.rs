//! Identity scopes in the console: the standard ones read-only, custom ones created and
//! edited with the claims they carry.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use tessera_store::Store;
use tessera_store::scopes::{self, Scope, ScopeKind};

use super::error::{attempt, blocking};
use super::form::FormData;
use super::view::{Action, Cell, Choice, Field, Form, Page, Panel, Table};
use super::{Admin, ConsoleError, encode, href, html, see_other};
use crate::api::ApiError;
use crate::api::identity_scopes::{
    IdentityScopeBody, create_identity_scope, delete_identity_scope, find, update_identity_scope,
};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/identity-scopes", web::get().to(list))
        .route("/identity-scopes", web::post().to(create))
        .route("/identity-scopes/new", web::get().to(new))
        .route("/identity-scopes/{name}", web::get().to(show))
        .route("/identity-scopes/{name}", web::post().to(update))
        .route("/identity-scopes/{name}/delete", web::post().to(delete));
}

#[derive(Debug, Deserialize)]
pub struct Query {
    notice: Option<String>,
}

fn notice(code: Option<&str>) -> Option<String> {
    Some(
        match code? {
            "saved" => "The identity scope was saved.",
            "deleted" => "The identity scope was deleted.",
            _ => return None,
        }
        .to_owned(),
    )
}

async fn list(admin: Admin, store: web::Data<Store>, query: web::Query<Query>) -> Result<HttpResponse, ConsoleError> {
    let all =
        blocking(move || Ok(store.read_transaction(|c| scopes::list_scopes(c, Some(ScopeKind::Identity)))?)).await?;
    let mut table = Table::new(&["Scope", "Display name", "Claims", "Kind"], "No identity scopes.");
    for s in &all {
        table.rows.push(vec![
            Cell::link(&s.name, href(&format!("identity-scopes/{}", encode(&s.name)))),
            Cell::text(&s.display_name),
            Cell::text(s.claims.join(", ")),
            Cell::text(if s.standard { "standard (read-only)" } else { "custom" }),
        ]);
    }
    let mut page = admin.page("Identity scopes", "identity-scopes");
    page.notice = notice(query.notice.as_deref());
    page.actions.push(Action { label: "New identity scope".into(), href: href("identity-scopes/new") });
    page.panels.push(
        Panel::new("").intro("An identity scope carries a set of claims into ID tokens and userinfo.").table(table),
    );
    Ok(html(StatusCode::OK, &page))
}

struct Typed {
    name: String,
    display_name: String,
    description: String,
    show_in_discovery: bool,
    claims: Vec<String>,
}

impl Typed {
    fn of(form: &FormData) -> Typed {
        Typed {
            name: form.text("name"),
            display_name: form.text("display_name"),
            description: form.text("description"),
            show_in_discovery: form.checked("show_in_discovery"),
            claims: form.all("claims"),
        }
    }
}

fn scope_form(
    action: String,
    submit: &str,
    editing: Option<&str>,
    v: &Typed,
    claim_names: &[(String, String)],
) -> Form {
    let mut fields = Vec::new();
    match editing {
        None => fields.push(
            Field::text("name", "Name", &v.name).required().help("What applications request in the scope parameter."),
        ),
        Some(name) => fields.push(Field::readonly("Name", name)),
    }
    fields.push(
        Field::text("display_name", "Display name", &v.display_name)
            .help("Shown on the consent page. Default: the name."),
    );
    fields.push(Field::textarea("description", "Description", &v.description));
    fields.push(Field::checkbox("show_in_discovery", "List in the discovery document", v.show_in_discovery));
    fields.push(Field::checkboxes(
        "claims",
        "Claims",
        claim_names.iter().map(|(n, l)| Choice::new(n, l, v.claims.contains(n))).collect(),
    ));
    Form::post(action, submit, fields)
}

fn claim_names(store: &Store) -> Result<Vec<(String, String)>, ConsoleError> {
    Ok(store
        .read_transaction(scopes::list_claim_types)?
        .into_iter()
        .map(|t| {
            let label = format!("{} ({})", t.name, t.display_name);
            (t.name, label)
        })
        .collect())
}

fn new_page(admin: &Admin, typed: &Typed, claims: &[(String, String)], error: Option<ApiError>) -> Page {
    let mut form = scope_form(href("identity-scopes"), "Create identity scope", None, typed, claims);
    if let Some(error) = error {
        form = form.with_error(error.body.field.as_deref(), error.body.message);
    }
    let mut page = admin.page("New identity scope", "identity-scopes");
    page.panels.push(Panel::new("").form(form));
    page
}

async fn new(admin: Admin, store: web::Data<Store>) -> Result<HttpResponse, ConsoleError> {
    let claims = blocking(move || claim_names(&store)).await?;
    let empty = Typed {
        name: String::new(),
        display_name: String::new(),
        description: String::new(),
        show_in_discovery: true,
        claims: Vec::new(),
    };
    Ok(html(StatusCode::OK, &new_page(&admin, &empty, &claims, None)))
}

fn body_of(form: &FormData, name: Option<String>) -> IdentityScopeBody {
    IdentityScopeBody {
        name,
        display_name: form.optional("display_name"),
        description: form.optional("description"),
        show_in_discovery: Some(form.checked("show_in_discovery")),
        claims: form.all("claims"),
    }
}

async fn create(admin: Admin, store: web::Data<Store>, body: web::Bytes) -> Result<HttpResponse, ConsoleError> {
    let form = admin.form(&body)?;
    let input = body_of(&form, Some(form.text("name")));
    let (who, db) = (admin.clone(), store.clone());
    match attempt(move || create_identity_scope(&db, &who, input)).await? {
        Ok(created) => {
            Ok(see_other(&format!("{}?notice=saved", href(&format!("identity-scopes/{}", encode(&created.name))))))
        }
        Err(error) => {
            let claims = blocking(move || claim_names(&store)).await?;
            Ok(html(StatusCode::BAD_REQUEST, &new_page(&admin, &Typed::of(&form), &claims, Some(error))))
        }
    }
}

fn edit_page(
    admin: &Admin,
    scope: &Scope,
    claims: &[(String, String)],
    typed: Option<Typed>,
    error: Option<ApiError>,
) -> Page {
    let mut page = admin.page(format!("Identity scope {}", scope.name), "identity-scopes");
    if scope.standard {
        page.panels.push(
            Panel::new("Standard scope")
                .intro("Standard OpenID Connect scopes are read-only.")
                .fact("Name", &scope.name)
                .fact("Display name", &scope.display_name)
                .fact("Claims", scope.claims.join(", "))
                .fact("Description", &scope.description),
        );
        return page;
    }
    let base = href(&format!("identity-scopes/{}", encode(&scope.name)));
    let v = typed.unwrap_or_else(|| Typed {
        name: scope.name.clone(),
        display_name: scope.display_name.clone(),
        description: scope.description.clone(),
        show_in_discovery: scope.show_in_discovery,
        claims: scope.claims.clone(),
    });
    let mut form = scope_form(base.clone(), "Save", Some(&scope.name), &v, claims);
    if let Some(error) = error {
        form = form.with_error(error.body.field.as_deref(), error.body.message);
    }
    page.panels.push(Panel::new("Settings").form(form));
    page.panels.push(
        Panel::new("Delete")
            .intro("Applications lose the scope; tokens already issued keep their claims until they expire.")
            .form(Form::danger(format!("{base}/delete"), "Delete identity scope", "Delete this identity scope?")),
    );
    page
}

fn load(store: &Store, name: &str) -> Result<(Scope, Vec<(String, String)>), ConsoleError> {
    let scope = store.read_transaction(|c| find(c, name))?;
    Ok((scope, claim_names(store)?))
}

async fn show(
    admin: Admin,
    store: web::Data<Store>,
    name: web::Path<String>,
    query: web::Query<Query>,
) -> Result<HttpResponse, ConsoleError> {
    let name = name.into_inner();
    let (scope, claims) = blocking(move || load(&store, &name)).await?;
    let mut page = edit_page(&admin, &scope, &claims, None, None);
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
    let input = body_of(&form, None);
    let (who, db, scope_name) = (admin.clone(), store.clone(), name.clone());
    match attempt(move || update_identity_scope(&db, &who, scope_name, input)).await? {
        Ok(_) => Ok(see_other(&format!("{}?notice=saved", href(&format!("identity-scopes/{}", encode(&name)))))),
        Err(error) => {
            let (scope, claims) = blocking(move || load(&store, &name)).await?;
            Ok(html(StatusCode::BAD_REQUEST, &edit_page(&admin, &scope, &claims, Some(Typed::of(&form)), Some(error))))
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
    match attempt(move || delete_identity_scope(&store, &who, &name)).await? {
        Ok(()) => Ok(see_other(&format!("{}?notice=deleted", href("identity-scopes")))),
        Err(_) => Err(ConsoleError::Forbidden),
    }
}
