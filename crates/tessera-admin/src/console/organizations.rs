//! Organizations in the console: list, create, edit (name, display name, metadata as a
//! JSON object), members with the roles they hold in the organization, delete.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use tessera_domain::UserId;
use tessera_store::organizations::{self, Organization, Role};
use tessera_store::{Page as StorePage, Store, users};

use super::applications::pretty;
use super::error::{attempt, blocking};
use super::form::FormData;
use super::view::{Action, Cell, Choice, Field, Form, Page, Panel, Table};
use super::{Admin, ConsoleError, encode, href, html, see_other, time};
use crate::api::ApiError;
use crate::api::organizations::{
    OrganizationBody, create_organization, delete_organization, remove_membership, replace_organization, set_membership,
};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/organizations", web::get().to(list))
        .route("/organizations", web::post().to(create))
        .route("/organizations/new", web::get().to(new))
        .route("/organizations/{id}", web::get().to(show))
        .route("/organizations/{id}", web::post().to(update))
        .route("/organizations/{id}/members", web::post().to(set_member))
        .route("/organizations/{id}/members/{user_id}/delete", web::post().to(remove_member))
        .route("/organizations/{id}/delete", web::post().to(delete));
}

#[derive(Debug, Deserialize)]
pub struct Query {
    after: Option<String>,
    notice: Option<String>,
}

fn notice(code: Option<&str>) -> Option<String> {
    Some(
        match code? {
            "created" => "The organization was created.",
            "saved" => "The organization was saved.",
            "deleted" => "The organization was deleted.",
            "member_saved" => "The membership was saved.",
            "member_removed" => "The member was removed.",
            _ => return None,
        }
        .to_owned(),
    )
}

async fn list(admin: Admin, store: web::Data<Store>, query: web::Query<Query>) -> Result<HttpResponse, ConsoleError> {
    let page_query = StorePage { after: query.after.clone(), limit: 50 };
    let paged =
        blocking(move || Ok(store.read_transaction(|c| organizations::list_organizations(c, &page_query))?)).await?;
    let mut table = Table::new(&["Name", "Display name", "Created"], "No organizations yet.");
    for o in &paged.items {
        table.rows.push(vec![
            Cell::link(&o.name, href(&format!("organizations/{}", o.id))),
            Cell::text(&o.display_name),
            Cell::text(time(o.created_at)),
        ]);
    }
    table.next = paged.next.map(|n| format!("{}?after={}", href("organizations"), encode(&n)));
    let mut page = admin.page("Organizations", "organizations");
    page.notice = notice(query.notice.as_deref());
    page.actions.push(Action { label: "New organization".into(), href: href("organizations/new") });
    page.panels.push(Panel::new("").table(table));
    Ok(html(StatusCode::OK, &page))
}

fn org_form(action: String, submit: &str, name: String, display_name: String, metadata: String) -> Form {
    Form::post(
        action,
        submit,
        vec![
            Field::text("name", "Name", name).required().help("Lowercase letters, digits, . _ -"),
            Field::text("display_name", "Display name", display_name).help("Default: the name."),
            Field::json("metadata", "Metadata (JSON object)", metadata),
        ],
    )
}

fn input(form: &FormData) -> Result<OrganizationBody, ApiError> {
    Ok(OrganizationBody {
        name: form.text("name"),
        display_name: form.optional("display_name"),
        metadata: form.json("metadata")?,
    })
}

async fn new(admin: Admin) -> Result<HttpResponse, ConsoleError> {
    let mut page = admin.page("New organization", "organizations");
    page.panels.push(Panel::new("").form(org_form(
        href("organizations"),
        "Create organization",
        String::new(),
        String::new(),
        "{}".into(),
    )));
    Ok(html(StatusCode::OK, &page))
}

async fn create(admin: Admin, store: web::Data<Store>, body: web::Bytes) -> Result<HttpResponse, ConsoleError> {
    let form = admin.form(&body)?;
    let parsed = input(&form);
    let who = admin.clone();
    match attempt(move || create_organization(&store, &who, parsed?)).await? {
        Ok(org) => Ok(see_other(&format!("{}?notice=created", href(&format!("organizations/{}", org.id))))),
        Err(error) => {
            let mut page = admin.page("New organization", "organizations");
            let f = org_form(
                href("organizations"),
                "Create organization",
                form.text("name"),
                form.text("display_name"),
                form.text("metadata"),
            )
            .with_error(error.body.field.as_deref(), error.body.message);
            page.panels.push(Panel::new("").form(f));
            Ok(html(StatusCode::BAD_REQUEST, &page))
        }
    }
}

/// An organization with its members (user id, username, roles) and the roles to give.
struct Loaded {
    org: Organization,
    members: Vec<(UserId, String, Vec<Role>)>,
    roles: Vec<Role>,
}

fn load(store: &Store, id: &str) -> Result<Loaded, ConsoleError> {
    Ok(store.read_transaction(|c| {
        let org = organizations::get_organization(c, id)?;
        let mut members = Vec::new();
        for user_id in organizations::member_ids(c, id)? {
            let user = users::get(c, &user_id)?;
            let roles = organizations::memberships_of_user(c, &user_id)?
                .into_iter()
                .find(|m| m.organization.id == id)
                .map(|m| m.roles)
                .unwrap_or_default();
            members.push((user_id, user.username, roles));
        }
        let roles = organizations::list_roles(c, &StorePage { after: None, limit: 500 })?.items;
        Ok(Loaded { org, members, roles })
    })?)
}

enum Failed {
    Settings(ApiError, FormData),
    Member(ApiError, FormData),
}

fn detail_page(admin: &Admin, loaded: &Loaded, failed: Option<Failed>) -> Page {
    let org = &loaded.org;
    let base = href(&format!("organizations/{}", org.id));
    let mut page = admin.page(format!("Organization {}", org.display_name), "organizations");
    let (name, display_name, metadata) = match &failed {
        Some(Failed::Settings(_, f)) => (f.text("name"), f.text("display_name"), f.text("metadata")),
        _ => (org.name.clone(), org.display_name.clone(), pretty(&org.metadata)),
    };
    let mut settings = org_form(base.clone(), "Save", name, display_name, metadata);
    if let Some(Failed::Settings(error, _)) = &failed {
        settings = settings.with_error(error.body.field.as_deref(), error.body.message.clone());
    }
    page.panels.push(Panel::new("Settings").fact("Id", &org.id).form(settings));

    let mut table = Table::new(&["Member", "Roles in the organization", ""], "No members yet.");
    for (user_id, username, roles) in &loaded.members {
        table.rows.push(vec![
            Cell::link(username, href(&format!("users/{user_id}"))),
            Cell::text(roles.iter().map(|r| r.name.as_str()).collect::<Vec<_>>().join(", ")),
            Cell::form(
                Form::danger(
                    format!("{base}/members/{user_id}/delete"),
                    "Remove",
                    format!("Remove {username} from the organization?"),
                )
                .inline(),
            ),
        ]);
    }
    let (login, chosen) = match &failed {
        Some(Failed::Member(_, f)) => (f.text("user"), f.all("role_ids")),
        _ => (String::new(), Vec::new()),
    };
    let mut member = Form::post(
        format!("{base}/members"),
        "Save membership",
        vec![
            Field::text("user", "User", login)
                .required()
                .help("Username, e-mail address or user id. An existing member's roles are replaced."),
            Field::checkboxes(
                "role_ids",
                "Roles in the organization",
                loaded.roles.iter().map(|r| Choice::new(&r.id, &r.name, chosen.contains(&r.id))).collect(),
            ),
        ],
    );
    if let Some(Failed::Member(error, _)) = &failed {
        member = member.with_error(error.body.field.as_deref(), error.body.message.clone());
    }
    page.panels.push(Panel::new("Members").table(table));
    page.panels.push(Panel::new("Add or change a member").form(member));
    page.panels.push(
        Panel::new("Delete")
            .intro("Deleting the organization ends its memberships; the users stay.")
            .form(Form::danger(format!("{base}/delete"), "Delete organization", "Delete this organization?")),
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
    let loaded = blocking(move || load(&store, &id)).await?;
    let mut page = detail_page(&admin, &loaded, None);
    page.notice = notice(query.notice.as_deref());
    Ok(html(StatusCode::OK, &page))
}

async fn respond(
    admin: &Admin,
    store: web::Data<Store>,
    id: String,
    failed: Option<Failed>,
    notice: &str,
) -> Result<HttpResponse, ConsoleError> {
    match failed {
        None => Ok(see_other(&format!("{}?notice={notice}", href(&format!("organizations/{id}"))))),
        Some(failed) => {
            let loaded = blocking(move || load(&store, &id)).await?;
            Ok(html(StatusCode::BAD_REQUEST, &detail_page(admin, &loaded, Some(failed))))
        }
    }
}

async fn update(
    admin: Admin,
    store: web::Data<Store>,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    let id = id.into_inner();
    let form = admin.form(&body)?;
    let parsed = input(&form);
    let (who, db, org_id) = (admin.clone(), store.clone(), id.clone());
    let outcome = attempt(move || replace_organization(&db, &who, &org_id, parsed?)).await?;
    respond(&admin, store, id, outcome.err().map(|e| Failed::Settings(e, form)), "saved").await
}

async fn set_member(
    admin: Admin,
    store: web::Data<Store>,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    let id = id.into_inner();
    let form = admin.form(&body)?;
    let login = form.text("user");
    let role_ids = form.all("role_ids");
    let (who, db, org_id) = (admin.clone(), store.clone(), id.clone());
    let outcome = attempt(move || {
        let user = db.read_transaction(|c| match users::find_by_login(c, &login.to_lowercase())? {
            Some(user) => Ok(Some(user)),
            None => match users::get(c, &UserId::from(login.as_str())) {
                Ok(user) => Ok(Some(user)),
                Err(tessera_store::StoreError::NotFound { .. }) => Ok(None),
                Err(e) => Err(e),
            },
        })?;
        let user = user.ok_or_else(|| ApiError::invalid("user", format!("no user {login}")))?;
        set_membership(&db, &who, &org_id, &user.id, &role_ids)
    })
    .await?;
    respond(&admin, store, id, outcome.err().map(|e| Failed::Member(e, form)), "member_saved").await
}

async fn remove_member(
    admin: Admin,
    store: web::Data<Store>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    admin.form(&body)?;
    let (id, user_id) = path.into_inner();
    let who = admin.clone();
    let org_id = id.clone();
    blocking(move || Ok(remove_membership(&store, &who, &org_id, &UserId::from(user_id))?)).await?;
    Ok(see_other(&format!("{}?notice=member_removed", href(&format!("organizations/{id}")))))
}

async fn delete(
    admin: Admin,
    store: web::Data<Store>,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    admin.form(&body)?;
    let id = id.into_inner();
    let who = admin.clone();
    blocking(move || Ok(delete_organization(&store, &who, &id)?)).await?;
    Ok(see_other(&format!("{}?notice=deleted", href("organizations"))))
}
