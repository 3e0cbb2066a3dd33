//! Claim mappings in the console: the list, a form to create one, its edit page, and the
//! preview of "what does application X get for user Y" with every claim's source. The
//! operations are the management API's (`crate::api::claim_mappings`,
//! `crate::api::preview`).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::Value;
use tessera_domain::{ApplicationId, MappingSource, Output};
use tessera_store::applications::{self, Application};
use tessera_store::mappings::{self, ClaimMapping};
use tessera_store::users::{self, User};
use tessera_store::{Page as StorePage, Store};

use super::error::{attempt, blocking};
use super::form::FormData;
use super::view::{Cell, Choice, Field, Form, Page, Panel, Table};
use super::{Admin, ConsoleError, encode, href, html, see_other};
use crate::api::claim_mappings::{MappingBody, create_mapping, delete_mapping, update_mapping};
use crate::api::preview::{Preview, PreviewBody, PreviewClaim, run_preview};
use crate::api::{ApiError, ScriptSupport};

/// Users and applications offered by the preview (the first ones, in creation order).
const CHOICES: u32 = StorePage::MAX_LIMIT;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/claim-mappings", web::get().to(list))
        .route("/claim-mappings", web::post().to(create))
        .route("/claim-mappings/preview", web::get().to(preview_form))
        .route("/claim-mappings/preview", web::post().to(preview))
        .route("/claim-mappings/{id}", web::get().to(show))
        .route("/claim-mappings/{id}", web::post().to(update))
        .route("/claim-mappings/{id}/delete", web::post().to(delete));
}

#[derive(Debug, Deserialize)]
pub struct Query {
    after: Option<String>,
    notice: Option<String>,
}

fn notice(code: Option<&str>) -> Option<String> {
    Some(
        match code? {
            "created" => "The mapping was created.",
            "saved" => "The mapping was saved.",
            "deleted" => "The mapping was deleted.",
            _ => return None,
        }
        .to_owned(),
    )
}

/// A mapping form's values, as saved or as typed.
#[derive(Debug, Clone, Default)]
struct Typed {
    application_id: String,
    subject: String,
    source: String,
    path: String,
    namespace: String,
    name: String,
    outputs: Vec<String>,
    freshness: String,
}

impl Typed {
    fn blank() -> Typed {
        Typed {
            subject: "user".into(),
            source: "app_metadata".into(),
            outputs: Output::ALL.iter().map(|o| o.as_str().to_owned()).collect(),
            freshness: "refresh".into(),
            ..Typed::default()
        }
    }

    fn of(m: &ClaimMapping) -> Typed {
        Typed {
            application_id: m.application_id.as_ref().map(String::from).unwrap_or_default(),
            subject: m.rule.subject.as_str().into(),
            source: m.rule.source.name().into(),
            path: m.rule.source.path().into(),
            namespace: m.rule.namespace.clone().unwrap_or_default(),
            name: m.rule.name.clone(),
            outputs: m.rule.outputs.iter().map(|o| o.as_str().to_owned()).collect(),
            freshness: m.rule.freshness.as_str().into(),
        }
    }

    fn from_form(form: &FormData) -> Typed {
        Typed {
            application_id: form.text("application_id"),
            subject: form.text("subject"),
            source: form.text("source"),
            path: form.text("path"),
            namespace: form.text("namespace"),
            name: form.text("name"),
            outputs: form.all("outputs"),
            freshness: form.text("freshness"),
        }
    }

    fn body(&self) -> MappingBody {
        let optional = |s: &str| (!s.trim().is_empty()).then(|| s.to_owned());
        MappingBody {
            application_id: optional(&self.application_id),
            subject: self.subject.clone(),
            source: self.source.clone(),
            path: optional(&self.path),
            namespace: optional(&self.namespace),
            name: self.name.clone(),
            outputs: Some(self.outputs.clone()),
            freshness: optional(&self.freshness),
        }
    }
}

const SOURCE_LABELS: [(&str, &str); 9] = [
    ("claim", "A profile or custom claim (path: the claim's name)"),
    ("app_metadata", "The user's app_metadata (path: a JSON pointer such as /plan)"),
    ("user_metadata", "The user's user_metadata (path: a JSON pointer)"),
    ("roles", "The user's roles"),
    ("organization_id", "Organization id (path: an organization's name, or empty for all)"),
    ("organization_name", "Organization name (path: an organization's name, or empty for all)"),
    ("organization_roles", "The member's organization roles (path: an organization's name, or empty for all)"),
    ("application_metadata", "The application's app_metadata (path: a JSON pointer)"),
    ("script", "The script's claim of this name (declares its outputs and freshness)"),
];

fn mapping_form(action: String, submit: &str, typed: &Typed, applications: &[Application], fixed_app: bool) -> Form {
    let mut fields = Vec::new();
    if fixed_app {
        let label = applications
            .iter()
            .find(|a| a.id == typed.application_id)
            .map_or("Every application".to_owned(), |a| format!("{} ({})", a.settings.name, a.client_id));
        fields.push(Field::readonly("Application", label));
    } else {
        let mut choices = vec![Choice::new("", "Every application", typed.application_id.is_empty())];
        choices.extend(applications.iter().map(|a| {
            Choice::new(&a.id, format!("{} ({})", a.settings.name, a.client_id), a.id == typed.application_id)
        }));
        fields.push(Field::select("application_id", "Application", choices).help(
            "A rule for one application replaces the global rule for the same claim in that application's tokens.",
        ));
    }
    fields.push(Field::select(
        "subject",
        "Tokens",
        vec![
            Choice::new("user", "A user's tokens", typed.subject == "user"),
            Choice::new("machine", "Machine-to-machine tokens", typed.subject == "machine"),
        ],
    ));
    fields.push(Field::select(
        "source",
        "Source",
        SOURCE_LABELS.iter().map(|(value, label)| Choice::new(*value, *label, typed.source == *value)).collect(),
    ));
    fields.push(
        Field::text("path", "Path", &typed.path)
            .help("See the source: a claim's name, a JSON pointer or an organization's name."),
    );
    fields.push(
        Field::text("namespace", "Namespace", &typed.namespace)
            .help("Optional: an http or https URL the name is put under, such as https://example.com/"),
    );
    fields.push(Field::text("name", "Claim name", &typed.name).required());
    fields.push(
        Field::checkboxes(
            "outputs",
            "Outputs",
            Output::ALL
                .iter()
                .map(|o| Choice::new(o.as_str(), output_label(*o), typed.outputs.iter().any(|t| t == o.as_str())))
                .collect(),
        )
        .help("Machine tokens have only the access token and introspection."),
    );
    fields.push(Field::select(
        "freshness",
        "Freshness",
        vec![
            Choice::new("refresh", "Computed again at every issuance, refreshes included", typed.freshness != "grant"),
            Choice::new("grant", "Fixed when the grant is made", typed.freshness == "grant"),
        ],
    ));
    Form::post(action, submit, fields)
}

fn output_label(output: Output) -> &'static str {
    match output {
        Output::IdToken => "ID token",
        Output::AccessToken => "Access token",
        Output::Userinfo => "Userinfo",
        Output::Introspection => "Introspection",
    }
}

fn source_text(m: &ClaimMapping) -> String {
    match (&m.rule.source, m.rule.source.path()) {
        (MappingSource::Script, _) => "script".to_owned(),
        (source, "") => source.name().to_owned(),
        (source, path) => format!("{} {path}", source.name()),
    }
}

fn all_applications(store: &Store) -> Result<Vec<Application>, ApiError> {
    Ok(store.read_transaction(|c| applications::list(c, &StorePage::first(CHOICES)))?.items)
}

async fn list_page(
    admin: &Admin,
    store: web::Data<Store>,
    after: Option<String>,
    form: impl FnOnce(&[Application]) -> Form + Send + 'static,
) -> Result<Page, ConsoleError> {
    let page_query = StorePage { after, limit: 50 };
    let (paged, apps) = blocking(move || {
        let paged = store.read_transaction(|c| mappings::list(c, None, &page_query))?;
        Ok((paged, all_applications(&store)?))
    })
    .await?;
    let mut table =
        Table::new(&["Claim", "Tokens", "Source", "Outputs", "Freshness", "Application"], "No mappings yet.");
    for m in &paged.items {
        let app = match &m.application_id {
            None => "Every application".to_owned(),
            Some(id) => apps.iter().find(|a| &a.id == id).map_or(id.to_string(), |a| a.client_id.to_string()),
        };
        table.rows.push(vec![
            Cell::link(&m.rule.claim, href(&format!("claim-mappings/{}", m.id))),
            Cell::text(m.rule.subject.as_str()),
            Cell::mono(source_text(m)),
            Cell::text(m.rule.outputs.iter().map(output_label).collect::<Vec<_>>().join(", ")),
            Cell::text(m.rule.freshness.as_str()),
            Cell::text(app),
        ]);
    }
    table.next = paged.next.map(|n| format!("{}?after={}", href("claim-mappings"), encode(&n)));
    let mut page = admin.page("Claim mappings", "claim-mappings");
    page.panels.push(
        Panel::new("")
            .intro(
                "Rules that put user data (or, for machine tokens, the application's metadata) into token claims, \
                 in the order standard claims → mappings → script → custom attributes. \
                 See what an application gets for a user in the preview.",
            )
            .table(table),
    );
    page.panels.push(Panel::new("New mapping").form(form(&apps)));
    page.panels.push(Panel::new("Preview").form(Form::get(
        href("claim-mappings/preview"),
        "Open the preview",
        Vec::new(),
    )));
    Ok(page)
}

async fn list(admin: Admin, store: web::Data<Store>, query: web::Query<Query>) -> Result<HttpResponse, ConsoleError> {
    let make =
        |apps: &[Application]| mapping_form(href("claim-mappings"), "Create mapping", &Typed::blank(), apps, false);
    let mut page = list_page(&admin, store, query.after.clone(), make).await?;
    page.notice = notice(query.notice.as_deref());
    Ok(html(StatusCode::OK, &page))
}

async fn create(admin: Admin, store: web::Data<Store>, body: web::Bytes) -> Result<HttpResponse, ConsoleError> {
    let form = admin.form(&body)?;
    let typed = Typed::from_form(&form);
    let (who, db, input) = (admin.clone(), store.clone(), typed.body());
    match attempt(move || create_mapping(&db, &who, &input)).await? {
        Ok(_) => Ok(see_other(&format!("{}?notice=created", href("claim-mappings")))),
        Err(error) => {
            let make = move |apps: &[Application]| {
                mapping_form(href("claim-mappings"), "Create mapping", &typed, apps, false)
                    .with_error(error.body.field.as_deref(), error.body.message)
            };
            Ok(html(StatusCode::BAD_REQUEST, &list_page(&admin, store, None, make).await?))
        }
    }
}

fn edit_page(
    admin: &Admin,
    mapping: &ClaimMapping,
    typed: &Typed,
    apps: &[Application],
    error: Option<ApiError>,
) -> Page {
    let base = href(&format!("claim-mappings/{}", mapping.id));
    let mut page = admin.page(format!("Mapping {}", mapping.rule.claim), "claim-mappings");
    let mut form = mapping_form(base.clone(), "Save", typed, apps, true);
    if let Some(error) = error {
        form = form.with_error(error.body.field.as_deref(), error.body.message);
    }
    page.panels.push(Panel::new("Rule").form(form));
    page.panels.push(
        Panel::new("Delete")
            .intro("Tokens issued from now on no longer carry the claim from this rule.")
            .form(Form::danger(format!("{base}/delete"), "Delete mapping", "Delete this mapping?")),
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
    let (mapping, apps) =
        blocking(move || Ok((store.read_transaction(|c| mappings::get(c, &id))?, all_applications(&store)?))).await?;
    let mut page = edit_page(&admin, &mapping, &Typed::of(&mapping), &apps, None);
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
    let mut typed = Typed::from_form(&form);
    let (who, db, mapping_id) = (admin.clone(), store.clone(), id.clone());
    let input = typed.body();
    match attempt(move || update_mapping(&db, &who, &mapping_id, &input)).await? {
        Ok(_) => Ok(see_other(&format!("{}?notice=saved", href(&format!("claim-mappings/{id}"))))),
        Err(error) => {
            let (mapping, apps) =
                blocking(move || Ok((store.read_transaction(|c| mappings::get(c, &id))?, all_applications(&store)?)))
                    .await?;
            typed.application_id = mapping.application_id.as_ref().map(String::from).unwrap_or_default();
            Ok(html(StatusCode::BAD_REQUEST, &edit_page(&admin, &mapping, &typed, &apps, Some(error))))
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
    let who = admin.clone();
    blocking(move || Ok(delete_mapping(&store, &who, &id)?)).await?;
    Ok(see_other(&format!("{}?notice=deleted", href("claim-mappings"))))
}

/// The preview's choices, as chosen or typed.
#[derive(Debug, Clone, Default)]
struct Chosen {
    application: String,
    user: String,
    scope: String,
}

fn preview_page(
    admin: &Admin,
    chosen: &Chosen,
    apps: &[Application],
    people: &[User],
    result: Option<Result<Preview, ApiError>>,
) -> Page {
    let mut page = admin.page("Claims preview", "claim-mappings");
    let mut app_choices = Vec::new();
    app_choices.extend(
        apps.iter()
            .map(|a| Choice::new(&a.id, format!("{} ({})", a.settings.name, a.client_id), a.id == chosen.application)),
    );
    let mut user_choices = vec![Choice::new("", "No user: a machine client's own token", chosen.user.is_empty())];
    user_choices.extend(people.iter().map(|u| Choice::new(u.id.as_str(), &u.username, u.id.as_str() == chosen.user)));
    let mut form = Form::post(
        href("claim-mappings/preview"),
        "Preview",
        vec![
            Field::select("application", "Application", app_choices),
            Field::select("user", "User", user_choices),
            Field::text("scope", "Scope", &chosen.scope)
                .help("Space-separated; empty asks for every scope the application is allowed."),
        ],
    );
    let result = match result {
        Some(Err(error)) => {
            // The API's names of the fields, as this form names them.
            let field = match error.body.field.as_deref() {
                Some("user_id") => Some("user"),
                Some("application_id") => Some("application"),
                other => other,
            };
            form = form.with_error(field, error.body.message);
            None
        }
        Some(Ok(preview)) => Some(preview),
        None => None,
    };
    page.panels.push(
        Panel::new("")
            .intro(
                "What the application would get if a token were issued now: each output with every claim and \
                 the source that set it. The script runs as at issuance, with fetch off; this is recorded in the \
                 audit log.",
            )
            .form(form),
    );
    if let Some(preview) = result {
        let mut outcome =
            Panel::new("Outcome").fact("Scope", &preview.scope).fact("Result", outcome_label(preview.outcome));
        if let Some(denied) = &preview.denied {
            outcome = outcome.fact("The client is told", denied);
        }
        // docs/authentication.md: what the scopes ask of the user's sign-in.
        for required in &preview.requirements {
            let text = super::connections::describe_requirement(Some(required.requirement));
            outcome = outcome.fact(format!("{} requires", required.scope), text);
        }
        if let Some(script) = &preview.script {
            if let Some(error) = &script.error {
                let line = error.line.map(|l| format!(" (line {l})")).unwrap_or_default();
                outcome = outcome.fact("Script error", format!("{}: {}{line}", error.kind, error.message));
            }
            if !script.logs.is_empty() {
                outcome = outcome.code(script.logs.join("\n"));
            }
        }
        page.panels.push(outcome);
        if let Some(claims) = &preview.id_token {
            page.panels.push(Panel::new("ID token").table(claims_table(claims)));
        }
        page.panels.push(Panel::new("Access token").table(claims_table(&preview.access_token)));
        if let Some(claims) = &preview.userinfo {
            page.panels.push(Panel::new("Userinfo").table(claims_table(claims)));
        }
        for answer in &preview.introspection {
            page.panels.push(
                Panel::new(format!("Introspection by {}", answer.connection)).table(claims_table(&answer.claims)),
            );
        }
    }
    page
}

fn outcome_label(outcome: &str) -> &'static str {
    match outcome {
        "issued" => "Issued",
        "issued_without_script_claims" => "Issued without the script's claims (the script failed)",
        _ => "Refused with access_denied",
    }
}

fn claims_table(claims: &[PreviewClaim]) -> Table {
    let mut table = Table::new(&["Claim", "Value", "Source"], "No claims.");
    for claim in claims {
        let source = match (&claim.mapping_id, claim.global) {
            (Some(id), Some(global)) => Cell::link(
                if global { "mapping (global)" } else { "mapping (this application)" },
                href(&format!("claim-mappings/{id}")),
            ),
            _ => Cell::text(claim.source),
        };
        let value = match &claim.value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        table.rows.push(vec![Cell::mono(&claim.name), Cell::mono(value), source]);
    }
    table
}

fn choices(store: &Store) -> Result<(Vec<Application>, Vec<User>), ApiError> {
    Ok(store.read_transaction(|c| {
        Ok((
            applications::list(c, &StorePage::first(CHOICES))?.items,
            users::list(c, None, &StorePage::first(CHOICES))?.items,
        ))
    })?)
}

async fn preview_form(admin: Admin, store: web::Data<Store>) -> Result<HttpResponse, ConsoleError> {
    let (apps, people) = blocking(move || Ok(choices(&store)?)).await?;
    let chosen = Chosen {
        application: apps.first().map(|a| a.id.to_string()).unwrap_or_default(),
        user: people.first().map(|u| u.id.as_str().to_owned()).unwrap_or_default(),
        scope: String::new(),
    };
    Ok(html(StatusCode::OK, &preview_page(&admin, &chosen, &apps, &people, None)))
}

async fn preview(
    admin: Admin,
    store: web::Data<Store>,
    support: web::Data<ScriptSupport>,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    let form = admin.form(&body)?;
    let chosen = Chosen { application: form.text("application"), user: form.text("user"), scope: form.text("scope") };
    let input = PreviewBody {
        user_id: (!chosen.user.is_empty()).then(|| chosen.user.clone()),
        scope: (!chosen.scope.trim().is_empty()).then(|| chosen.scope.clone()),
    };
    let (who, db, application) = (admin.clone(), store.clone(), ApplicationId::from(chosen.application.as_str()));
    let result = attempt(move || run_preview(&db, &support, &who, &application, &input)).await?;
    let status = if result.is_ok() { StatusCode::OK } else { StatusCode::BAD_REQUEST };
    let (apps, people) = blocking(move || Ok(choices(&store)?)).await?;
    Ok(html(status, &preview_page(&admin, &chosen, &apps, &people, Some(result))))
}
