//! API connections in the console: create (the API scope of the same name appears with
//! it, the secret is shown once), further scopes, secret rotation with a grace period,
//! edit, delete; the authentication a connection and each scope require, shown beside
//! the scope (docs/authentication.md).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use tessera_domain::{Acr, ConnectionId, Requirement, TokenFormat};
use tessera_store::connections::{self, ApiConnection};
use tessera_store::scopes::{self, Scope};
use tessera_store::{Page as StorePage, Store};

use super::error::{attempt, blocking};
use super::form::FormData;
use super::view::{Action, Cell, Choice, Field, Form, Page, Panel, Table};
use super::{Admin, ConsoleError, encode, href, html, see_other, time};
use crate::api::ApiError;
use crate::api::body::RotateSecret;
use crate::api::connections::{
    ApiScopeBody, ApiScopeUpdate, ConnectionUpdate, NewConnectionInput, add_connection_scope, create_connection,
    delete_connection, delete_connection_scope, rotate_connection_secret, update_connection, update_connection_scope,
};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/connections", web::get().to(list))
        .route("/connections", web::post().to(create))
        .route("/connections/new", web::get().to(new))
        .route("/connections/{id}", web::get().to(show))
        .route("/connections/{id}", web::post().to(update))
        .route("/connections/{id}/scopes", web::post().to(add_scope))
        .route("/connections/{id}/scopes/requirement", web::post().to(set_scope_requirement))
        .route("/connections/{id}/scopes/{name}/delete", web::post().to(delete_scope))
        .route("/connections/{id}/secret", web::post().to(rotate_secret))
        .route("/connections/{id}/delete", web::post().to(delete));
}

#[derive(Debug, Deserialize)]
pub struct Query {
    after: Option<String>,
    notice: Option<String>,
}

fn notice(code: Option<&str>) -> Option<String> {
    Some(
        match code? {
            "created" => "The API connection was created.",
            "saved" => "The API connection was saved.",
            "deleted" => "The API connection was deleted.",
            "scope_added" => "The scope was added.",
            "scope_deleted" => "The scope was deleted.",
            "scope_saved" => "The scope's requirement was saved.",
            other => return super::token_exchange::notice(other).map(str::to_owned),
        }
        .to_owned(),
    )
}

async fn list(admin: Admin, store: web::Data<Store>, query: web::Query<Query>) -> Result<HttpResponse, ConsoleError> {
    let page = StorePage { after: query.after.clone(), limit: 50 };
    let paged = blocking(move || Ok(store.read_transaction(|c| connections::list(c, &page))?)).await?;
    let mut table =
        Table::new(&["Name (audience)", "Display name", "Token format", "Created"], "No API connections yet.");
    for c in &paged.items {
        table.rows.push(vec![
            Cell::link(&c.name, href(&format!("connections/{}", c.id))),
            Cell::text(&c.display_name),
            Cell::text(c.access_token_format.map_or("per application", |f| f.as_str())),
            Cell::text(time(c.created_at)),
        ]);
    }
    table.next = paged.next.map(|n| format!("{}?after={}", href("connections"), encode(&n)));
    let mut page = admin.page("API connections", "connections");
    page.notice = notice(query.notice.as_deref());
    page.actions.push(Action { label: "New API connection".into(), href: href("connections/new") });
    page.panels.push(
        Panel::new("")
            .intro("Resource servers: each is the audience of the access tokens carrying its scopes, and authenticates to introspection with its secret.")
            .table(table),
    );
    Ok(html(StatusCode::OK, &page))
}

fn format_field(current: Option<&str>) -> Field {
    let mut choices = vec![Choice::new("", "Per application", current.is_none_or(str::is_empty))];
    for f in TokenFormat::ALL {
        choices.push(Choice::new(f.as_str(), f.as_str(), current == Some(f.as_str())));
    }
    Field::select("access_token_format", "Access token format", choices)
        .help("Applies when this connection is a token's only audience.")
}

fn resource_uri_field(value: String) -> Field {
    Field::text("resource_uri", "Resource URI", value).help(
        "The API's URL as its resource identifier (RFC 8707, RFC 9728): https, no fragment or query, unique. Clients may send it as resource instead of the name; tokens keep the name as their audience. Empty for none.",
    )
}

/// The level a connection or scope requires (`required_acr`), `current` selected.
fn acr_field(current: Option<&str>, none: &str) -> Field {
    let mut choices = vec![Choice::new("", none, current.is_none_or(str::is_empty))];
    for acr in Acr::ALL {
        let label = match acr {
            Acr::OneFactor => "1fa: any sign-in",
            Acr::TwoFactor => "2fa: two factors",
            Acr::PhishingResistant => "phr: a passkey",
        };
        choices.push(Choice::new(acr.as_str(), label, current == Some(acr.as_str())));
    }
    Field::select("required_acr", "Required authentication", choices)
}

fn max_age_field(value: String) -> Field {
    Field::number("required_max_age", "Required recency (seconds)", value).help(
        "How recent the user's sign-in must be for a token to carry the scope (1 to 86400); a refresh past it leaves the scope out. Empty for no limit.",
    )
}

/// A requirement as the console shows it: `phr within 300 s`.
pub(crate) fn describe_requirement(requirement: Option<Requirement>) -> String {
    match requirement {
        None => "none".into(),
        Some(Requirement { acr, max_age: None }) => acr.as_str().into(),
        Some(Requirement { acr, max_age: Some(seconds) }) => format!("{acr} within {seconds} s"),
    }
}

/// RFC 9728: the metadata document the resource server serves at its well-known URL,
/// to copy; or how to get one.
fn metadata_panel(issuer: &str, connection: &ApiConnection, scopes: &[Scope]) -> Panel {
    let panel = Panel::new("Protected-resource metadata").anchor("metadata");
    let Some(resource) = connection.resource_uri.as_deref().and_then(|r| tessera_domain::ResourceUri::parse(r).ok())
    else {
        return panel.intro(
            "Set a resource URI above to get the RFC 9728 metadata document this API serves to clients that meet its 401 answers.",
        );
    };
    let scopes: Vec<String> = scopes.iter().map(|s| s.name.clone()).collect();
    let document = tessera_domain::protected_resource::metadata(&tessera_domain::ResourceFacts {
        resource: &resource,
        name: &connection.display_name,
        issuer,
        scopes: &scopes,
        dpop_algorithms: tessera_tokens::dpop::ALGORITHMS,
    });
    panel
        .intro(
            "The resource server serves this document at the URL below (RFC 9728 §3), and names that URL as resource_metadata in the WWW-Authenticate header of its 401 answers (§5.1). The same document: GET /api/v1/connections/{id}/protected-resource-metadata.",
        )
        .fact("Metadata URL", resource.metadata_url())
        .copyable_code(super::applications::pretty(&document))
}

fn new_form(form: Option<&FormData>) -> Form {
    let get = |name: &str| form.map(|f| f.text(name)).unwrap_or_default();
    Form::post(
        href("connections"),
        "Create API connection",
        vec![
            Field::text("name", "Name", get("name"))
                .required()
                .help("The audience of its tokens and the name of its API scope: lowercase letters, digits, . _ : -. It cannot change."),
            Field::text("display_name", "Display name", get("display_name")).help("Default: the name."),
            Field::textarea("description", "Description", get("description")),
            format_field(form.map(|f| f.text("access_token_format")).as_deref()),
            resource_uri_field(get("resource_uri")),
            acr_field(form.map(|f| f.text("required_acr")).as_deref(), "None")
                .help("What every token carrying this connection's scopes needs, unless a scope has its own."),
            max_age_field(get("required_max_age")),
        ],
    )
}

async fn new(admin: Admin) -> Result<HttpResponse, ConsoleError> {
    let mut page = admin.page("New API connection", "connections");
    page.panels.push(Panel::new("").form(new_form(None)));
    Ok(html(StatusCode::OK, &page))
}

async fn create(admin: Admin, store: web::Data<Store>, body: web::Bytes) -> Result<HttpResponse, ConsoleError> {
    let form = admin.form(&body)?;
    let input = NewConnectionInput {
        name: form.text("name"),
        display_name: form.optional("display_name"),
        description: form.optional("description"),
        access_token_format: form.optional("access_token_format"),
        resource_uri: form.optional("resource_uri"),
        required_acr: form.optional("required_acr"),
        required_max_age: None,
    };
    let who = admin.clone();
    let max_age = form.integer("required_max_age");
    let creation = move || create_connection(&store, &who, NewConnectionInput { required_max_age: max_age?, ..input });
    match attempt(creation).await? {
        Ok((connection, secret)) => {
            let mut page = admin.page(format!("API connection {}", connection.name), "connections");
            page.has_secret = true;
            page.notice = Some(format!("The API connection was created with the API scope {}.", connection.name));
            page.panels.push(
                Panel::new("Credentials")
                    .intro("The resource server authenticates to /connect/introspect with these (HTTP Basic).")
                    .fact("Name (client id at introspection)", &connection.name)
                    .secret("Secret", secret.expose()),
            );
            page.actions
                .push(Action { label: "Continue".into(), href: href(&format!("connections/{}", connection.id)) });
            Ok(html(StatusCode::OK, &page))
        }
        Err(error) => {
            let mut page = admin.page("New API connection", "connections");
            page.panels.push(
                Panel::new("").form(new_form(Some(&form)).with_error(error.body.field.as_deref(), error.body.message)),
            );
            Ok(html(StatusCode::BAD_REQUEST, &page))
        }
    }
}

/// Where a form's error goes on the connection page.
pub(super) enum Failed {
    Settings(ApiError, FormData),
    Scope(ApiError, FormData),
    ScopeRequirement(ApiError, FormData),
    Secret(ApiError),
    /// A token-exchange rule (see `token_exchange`).
    Exchange(ApiError, FormData),
}

fn detail_page(
    admin: &Admin,
    issuer: &str,
    connection: &ApiConnection,
    scopes: &[Scope],
    failed: Option<Failed>,
) -> Page {
    let base = href(&format!("connections/{}", connection.id));
    let mut page = admin.page(format!("API connection {}", connection.name), "connections");
    page.panels.push(
        Panel::new("Identity")
            .fact("Name (audience)", &connection.name)
            .fact("Created", time(connection.created_at))
            .fact("Updated", time(connection.updated_at)),
    );
    let (display_name, description, format, resource_uri, acr, max_age) = match &failed {
        Some(Failed::Settings(_, f)) => (
            f.text("display_name"),
            f.text("description"),
            f.optional("access_token_format"),
            f.text("resource_uri"),
            f.optional("required_acr"),
            f.text("required_max_age"),
        ),
        _ => (
            connection.display_name.clone(),
            connection.description.clone(),
            connection.access_token_format.map(|f| f.as_str().to_owned()),
            connection.resource_uri.clone().unwrap_or_default(),
            connection.requirement.map(|r| r.acr.as_str().to_owned()),
            connection.requirement.and_then(|r| r.max_age).map(|m| m.to_string()).unwrap_or_default(),
        ),
    };
    let mut settings = Form::post(
        &base,
        "Save",
        vec![
            Field::text("display_name", "Display name", display_name).required(),
            Field::textarea("description", "Description", description),
            format_field(format.as_deref()),
            resource_uri_field(resource_uri),
            acr_field(acr.as_deref(), "None")
                .help("What every token carrying this connection's scopes needs, unless a scope has its own."),
            max_age_field(max_age),
        ],
    );
    if let Some(Failed::Settings(error, _)) = &failed {
        settings = settings.with_error(error.body.field.as_deref(), error.body.message.clone());
    }
    page.panels.push(Panel::new("Settings").form(settings));
    page.panels.push(metadata_panel(issuer, connection, scopes));

    let mut table = Table::new(&["Scope", "Display name", "Description", "Requires", ""], "No scopes.");
    for scope in scopes {
        let action = if scope.name == connection.name {
            Cell::text("the connection's own scope")
        } else {
            Cell::form(
                Form::danger(
                    format!("{base}/scopes/{}/delete", encode(&scope.name)),
                    "Delete",
                    format!("Delete the scope {}?", scope.name),
                )
                .inline(),
            )
        };
        let requires = match (scope.requirement, connection.requirement) {
            (Some(own), _) => describe_requirement(Some(own)),
            (None, Some(inherited)) => format!("{} (the connection's)", describe_requirement(Some(inherited))),
            (None, None) => describe_requirement(None),
        };
        table.rows.push(vec![
            Cell::mono(&scope.name),
            Cell::text(&scope.display_name),
            Cell::text(&scope.description),
            Cell::text(requires),
            action,
        ]);
    }
    let typed = |name: &str| match &failed {
        Some(Failed::Scope(_, f)) => f.text(name),
        _ => String::new(),
    };
    let mut add = Form::post(
        format!("{base}/scopes"),
        "Add scope",
        vec![
            Field::text("name", "Scope name", typed("name"))
                .required()
                .help(format!("For example {}:read", connection.name)),
            Field::text("display_name", "Display name", typed("display_name"))
                .help("Shown on the consent page. Default: the name."),
            Field::textarea("description", "Description", typed("description")),
            acr_field(Some(typed("required_acr").as_str()), "The connection's")
                .help("What every token carrying this scope needs; empty: the connection's requirement."),
            max_age_field(typed("required_max_age")),
        ],
    );
    if let Some(Failed::Scope(error, _)) = &failed {
        add = add.with_error(error.body.field.as_deref(), error.body.message.clone());
    }
    let requirement_typed = |name: &str| match &failed {
        Some(Failed::ScopeRequirement(_, f)) => f.text(name),
        _ => String::new(),
    };
    let chosen = requirement_typed("scope");
    let scope_choices =
        scopes.iter().map(|s| Choice::new(s.name.as_str(), s.name.as_str(), s.name == chosen)).collect();
    let mut requirement = Form::post(
        format!("{base}/scopes/requirement"),
        "Save requirement",
        vec![
            Field::select("scope", "Scope", scope_choices),
            acr_field(Some(requirement_typed("required_acr").as_str()), "The connection's"),
            max_age_field(requirement_typed("required_max_age")),
        ],
    );
    if let Some(Failed::ScopeRequirement(error, _)) = &failed {
        requirement = requirement.with_error(error.body.field.as_deref(), error.body.message.clone());
    }
    page.panels.push(Panel::new("API scopes").table(table));
    page.panels.push(Panel::new("Add an API scope").form(add));
    page.panels.push(
        Panel::new("A scope's requirement")
            .intro("The authentication a token carrying the scope needs: a level, and how recent the sign-in must be. Authorize asks the user for what is missing; a refresh past the recency leaves the scope out (docs/authentication.md).")
            .form(requirement),
    );

    let mut rotate = Form::post(
        format!("{base}/secret"),
        "Rotate secret",
        vec![Field::number("grace_period_seconds", "Grace period (seconds)", "0").help(
            "How long the current secrets keep working, so the resource server can switch over (at most 30 days).",
        )],
    );
    if let Some(Failed::Secret(error)) = &failed {
        rotate = rotate.with_error(error.body.field.as_deref(), error.body.message.clone());
    }
    page.panels.push(Panel::new("Secret").intro("The new secret is shown once.").form(rotate));
    let exchange_failed = match &failed {
        Some(Failed::Exchange(error, form)) => Some((error, form)),
        _ => None,
    };
    super::token_exchange::panels(&mut page, &base, connection, exchange_failed);
    page.panels.push(
        Panel::new("Delete").intro("Deleting the connection deletes its API scopes; applications lose them.").form(
            Form::danger(
                format!("{base}/delete"),
                "Delete API connection",
                "Delete this API connection and its scopes?",
            ),
        ),
    );
    page
}

fn load(store: &Store, id: &ConnectionId) -> Result<(ApiConnection, Vec<Scope>), ConsoleError> {
    Ok(store.read_transaction(|c| Ok((connections::get(c, id)?, scopes::scopes_of_connection(c, id)?)))?)
}

async fn show(
    admin: Admin,
    store: web::Data<Store>,
    signing: web::Data<crate::api::TokenSigning>,
    id: web::Path<String>,
    query: web::Query<Query>,
) -> Result<HttpResponse, ConsoleError> {
    let id = ConnectionId::from(id.into_inner());
    let (connection, scopes) = blocking(move || load(&store, &id)).await?;
    let mut page = detail_page(&admin, &signing.issuer, &connection, &scopes, None);
    page.notice = notice(query.notice.as_deref());
    Ok(html(StatusCode::OK, &page))
}

pub(super) async fn respond(
    admin: &Admin,
    store: web::Data<Store>,
    signing: web::Data<crate::api::TokenSigning>,
    id: ConnectionId,
    outcome: Result<(), Failed>,
    notice: &str,
) -> Result<HttpResponse, ConsoleError> {
    match outcome {
        Ok(()) => Ok(see_other(&format!("{}?notice={notice}", href(&format!("connections/{id}"))))),
        Err(failed) => {
            let (connection, scopes) = blocking(move || load(&store, &id)).await?;
            let page = detail_page(admin, &signing.issuer, &connection, &scopes, Some(failed));
            Ok(html(StatusCode::BAD_REQUEST, &page))
        }
    }
}

async fn update(
    admin: Admin,
    store: web::Data<Store>,
    signing: web::Data<crate::api::TokenSigning>,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    let id = ConnectionId::from(id.into_inner());
    let form = admin.form(&body)?;
    let input = ConnectionUpdate {
        display_name: form.text("display_name"),
        description: form.optional("description"),
        access_token_format: form.optional("access_token_format"),
        resource_uri: form.optional("resource_uri"),
        required_acr: form.optional("required_acr"),
        required_max_age: None,
    };
    let (who, db, cid) = (admin.clone(), store.clone(), id.clone());
    let max_age = form.integer("required_max_age");
    let outcome =
        attempt(move || update_connection(&db, &who, &cid, ConnectionUpdate { required_max_age: max_age?, ..input }))
            .await?;
    respond(&admin, store, signing, id, outcome.map(drop).map_err(|e| Failed::Settings(e, form)), "saved").await
}

async fn add_scope(
    admin: Admin,
    store: web::Data<Store>,
    signing: web::Data<crate::api::TokenSigning>,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    let id = ConnectionId::from(id.into_inner());
    let form = admin.form(&body)?;
    let input = ApiScopeBody {
        name: form.text("name"),
        display_name: form.optional("display_name"),
        description: form.optional("description"),
        required_acr: form.optional("required_acr"),
        required_max_age: None,
    };
    let (who, db, cid) = (admin.clone(), store.clone(), id.clone());
    let max_age = form.integer("required_max_age");
    let outcome =
        attempt(move || add_connection_scope(&db, &who, &cid, ApiScopeBody { required_max_age: max_age?, ..input }))
            .await?;
    respond(&admin, store, signing, id, outcome.map(drop).map_err(|e| Failed::Scope(e, form)), "scope_added").await
}

/// Sets the requirement of the scope chosen, keeping its display name and description.
async fn set_scope_requirement(
    admin: Admin,
    store: web::Data<Store>,
    signing: web::Data<crate::api::TokenSigning>,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    let id = ConnectionId::from(id.into_inner());
    let form = admin.form(&body)?;
    let (name, acr, max_age) = (form.text("scope"), form.optional("required_acr"), form.integer("required_max_age"));
    let (who, db, cid) = (admin.clone(), store.clone(), id.clone());
    let outcome = attempt(move || {
        let scope = db.read_transaction(|c| scopes::get_scope(c, &name))?;
        let input = ApiScopeUpdate {
            display_name: Some(scope.display_name),
            description: Some(scope.description),
            required_acr: acr,
            required_max_age: max_age?,
        };
        update_connection_scope(&db, &who, &cid, &name, input)
    })
    .await?;
    let outcome = outcome.map(drop).map_err(|e| Failed::ScopeRequirement(e, form));
    respond(&admin, store, signing, id, outcome, "scope_saved").await
}

async fn delete_scope(
    admin: Admin,
    store: web::Data<Store>,
    signing: web::Data<crate::api::TokenSigning>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    admin.form(&body)?;
    let (id, name) = path.into_inner();
    let id = ConnectionId::from(id);
    let (who, db, cid) = (admin.clone(), store.clone(), id.clone());
    let outcome = attempt(move || delete_connection_scope(&db, &who, &cid, &name)).await?;
    respond(&admin, store, signing, id, outcome.map_err(Failed::Secret), "scope_deleted").await
}

async fn rotate_secret(
    admin: Admin,
    store: web::Data<Store>,
    signing: web::Data<crate::api::TokenSigning>,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    let id = ConnectionId::from(id.into_inner());
    let form = admin.form(&body)?;
    let grace = form.integer("grace_period_seconds");
    let (who, db, cid) = (admin.clone(), store.clone(), id.clone());
    let outcome = attempt(move || {
        let grace = RotateSecret { grace_period_seconds: grace? }.grace()?;
        rotate_connection_secret(&db, &who, &cid, grace)
    })
    .await?;
    match outcome {
        Ok((connection, secret, until)) => {
            let mut page = admin.page(format!("API connection {}", connection.name), "connections");
            page.has_secret = true;
            page.notice = Some("A new secret was issued.".into());
            page.panels.push(
                Panel::new("Credentials")
                    .fact("Name", &connection.name)
                    .fact("Previous secrets stop working", time(until))
                    .secret("Secret", secret.expose()),
            );
            page.actions.push(Action {
                label: "Back to the connection".into(),
                href: href(&format!("connections/{}", connection.id)),
            });
            Ok(html(StatusCode::OK, &page))
        }
        Err(error) => respond(&admin, store, signing, id, Err(Failed::Secret(error)), "").await,
    }
}

async fn delete(
    admin: Admin,
    store: web::Data<Store>,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    admin.form(&body)?;
    let id = ConnectionId::from(id.into_inner());
    let who = admin.clone();
    blocking(move || Ok(delete_connection(&store, &who, &id)?)).await?;
    Ok(see_other(&format!("{}?notice=deleted", href("connections"))))
}
