//! Custom-claims scripts in the console: the two scripts and their state; each script's
//! editor (line-numbered source, enabled, what a failure does), a syntax error shown
//! beside the source with its line and the typed text kept; a test runner that fills in
//! a sample `token` and `context` from a chosen user and application, runs the source in
//! the editor (saved or not) and shows the claims or the error, the console output and
//! the token as it would be issued; and the environment variables, secret values masked.
//!
//! The test runner's fields belong to the editor's form (HTML `form` attribute), so Run
//! and "Fill in the sample" send the source as typed and the page comes back with it,
//! with JavaScript off as on.

use std::collections::BTreeMap;
use std::str::FromStr;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use tessera_store::Store;
use tessera_store::scripts::{self, ScriptKind};

use super::error::{attempt, blocking};
use super::form::FormData;
use super::view::{Cell, Panel, Table};
use super::{Admin, ConsoleError, href, html, see_other, time};
use crate::api::ApiError;
use crate::api::scripts::runner::{TestBody, run_test};
use crate::api::scripts::variables::{VariableBody, delete_variable, set_variable};
use crate::api::scripts::{ScriptBody, ScriptSupport, ScriptView, error_line, read_scripts, save_script};

mod editor;

use editor::{Shown, load, page, typed_source};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/scripts", web::get().to(list))
        .route("/scripts/{kind}", web::get().to(show))
        .route("/scripts/{kind}", web::post().to(save))
        .route("/scripts/{kind}/sample", web::post().to(resample))
        .route("/scripts/{kind}/test", web::post().to(test))
        .route("/script-variables", web::post().to(set))
        .route("/script-variables/{name}/delete", web::post().to(delete));
}

#[derive(Debug, Deserialize)]
pub struct Query {
    notice: Option<String>,
}

fn notice(code: Option<&str>) -> Option<String> {
    Some(
        match code? {
            "saved" => "The script was saved.",
            "variable_saved" => "The variable was saved.",
            "variable_deleted" => "The variable was deleted.",
            _ => return None,
        }
        .to_owned(),
    )
}

fn kind(raw: &str) -> Result<ScriptKind, ConsoleError> {
    ScriptKind::from_str(raw).map_err(|_| ConsoleError::NotFound)
}

fn title(kind: ScriptKind) -> &'static str {
    match kind {
        ScriptKind::User => "User token script",
        ScriptKind::Machine => "Machine-to-machine token script",
    }
}

fn editor_href(kind: ScriptKind) -> String {
    href(&format!("scripts/{kind}"))
}

fn state(script: &ScriptView) -> &'static str {
    match (script.version, script.enabled) {
        (0, _) => "not written",
        (_, true) => "enabled",
        (_, false) => "disabled",
    }
}

async fn list(admin: Admin, store: web::Data<Store>, query: web::Query<Query>) -> Result<HttpResponse, ConsoleError> {
    let (all, variables) =
        blocking(move || Ok((read_scripts(&store)?, store.read_transaction(scripts::list_variables)?.len()))).await?;
    let mut table = Table::new(&["Script", "Runs for", "State", "When it fails", "Version", "Last saved"], "None.");
    for script in &all {
        let kind = kind(script.kind)?;
        table.rows.push(vec![
            Cell::link(title(kind), editor_href(kind)),
            Cell::text(match kind {
                ScriptKind::User => "access tokens issued to a user",
                ScriptKind::Machine => "client credentials tokens",
            }),
            Cell::text(state(script)),
            Cell::text(on_failure_label(script.on_failure)),
            Cell::text(script.version.to_string()),
            Cell::text(script.updated_at.map(time).unwrap_or_default()),
        ]);
    }
    let mut page = admin.page("Scripts", "scripts");
    page.notice = notice(query.notice.as_deref());
    page.panels.push(
        Panel::new("Custom-claims scripts")
            .intro(
                "A script is a JavaScript function getCustomJwtClaims({ token, context, environmentVariables, api }) \
                 that returns claims to add to an access token, or refuses it with api.denyAccess(message). \
                 Claims Tessera sets itself (sub, scope, aud…) cannot be changed.",
            )
            .table(table),
    );
    page.panels.push(
        Panel::new("Environment variables")
            .intro(format!("{variables} variable(s), shared by both scripts; set them on either script's page.")),
    );
    Ok(html(StatusCode::OK, &page))
}

fn on_failure_label(raw: &str) -> &'static str {
    match raw {
        "issue_without_claims" => "issue the token without its claims",
        _ => "refuse the token",
    }
}

async fn show(
    admin: Admin,
    store: web::Data<Store>,
    support: web::Data<ScriptSupport>,
    kind: web::Path<String>,
    query: web::Query<Query>,
) -> Result<HttpResponse, ConsoleError> {
    let kind = self::kind(&kind)?;
    let editor = blocking(move || Ok(load(&store, &support, kind, None, false)?)).await?;
    let shown = Shown { notice: notice(query.notice.as_deref()), ..Shown::default() };
    Ok(html(StatusCode::OK, &page(&admin, &editor, shown)))
}

async fn save(
    admin: Admin,
    store: web::Data<Store>,
    support: web::Data<ScriptSupport>,
    kind: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    let kind = self::kind(&kind)?;
    let form = admin.form(&body)?;
    let input = ScriptBody {
        source: typed_source(&form),
        enabled: form.checked("enabled"),
        on_failure: Some(form.text("on_failure")),
    };
    let (who, db, engine) = (admin.clone(), store.clone(), support.clone());
    let error = match attempt(move || save_script(&db, &engine.engine, &who, kind, input)).await? {
        Ok(_) => return Ok(see_other(&format!("{}?notice=saved", editor_href(kind)))),
        Err(error) => error,
    };
    let (editor, line) = blocking(move || {
        let editor = load(&store, &support, kind, Some(&form), false)?;
        // The line to mark: the engine reports it (the message carries it for the API).
        let line = support.engine.check(&editor.source).err().and_then(|e| error_line(&e));
        Ok((editor, line))
    })
    .await?;
    let line = line.filter(|_| error.body.field.as_deref() == Some("source"));
    let shown = Shown { script: Some(error), line, ..Shown::default() };
    Ok(html(StatusCode::BAD_REQUEST, &page(&admin, &editor, shown)))
}

async fn resample(
    admin: Admin,
    store: web::Data<Store>,
    support: web::Data<ScriptSupport>,
    kind: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    let kind = self::kind(&kind)?;
    let form = admin.form(&body)?;
    let editor = blocking(move || Ok(load(&store, &support, kind, Some(&form), true)?)).await?;
    Ok(html(StatusCode::OK, &page(&admin, &editor, Shown::default())))
}

/// The test inputs of a submitted editor form; malformed JSON names its field.
fn test_body(form: &FormData) -> Result<TestBody, ApiError> {
    let token = form.json("token")?.ok_or_else(|| ApiError::invalid("token", "a token is required"))?;
    let environment_variables = form
        .json("environment_variables")?
        .map(|value| {
            serde_json::from_value::<BTreeMap<String, String>>(value).map_err(|_| {
                ApiError::invalid(
                    "environment_variables",
                    "environment_variables must be a JSON object of names to text values",
                )
            })
        })
        .transpose()?;
    Ok(TestBody { source: Some(typed_source(form)), token, context: form.json("context")?, environment_variables })
}

async fn test(
    admin: Admin,
    store: web::Data<Store>,
    support: web::Data<ScriptSupport>,
    kind: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    let kind = self::kind(&kind)?;
    let form = admin.form(&body)?;
    let outcome = match test_body(&form) {
        Err(error) => Err(error),
        Ok(input) => {
            let (who, db, runner) = (admin.clone(), store.clone(), support.clone());
            attempt(move || run_test(&db, &runner, &who, kind, input)).await?
        }
    };
    let editor = blocking(move || Ok(load(&store, &support, kind, Some(&form), false)?)).await?;
    let (status, shown) = match outcome {
        Ok(result) => {
            let line = result.error.as_ref().and_then(|e| e.line);
            (StatusCode::OK, Shown { line, result: Some(result), ..Shown::default() })
        }
        Err(error) => (StatusCode::BAD_REQUEST, Shown { test: Some(error), ..Shown::default() }),
    };
    Ok(html(status, &page(&admin, &editor, shown)))
}

/// The editor to go back to after a variable form (`back` names its script).
fn back(form: &FormData) -> Option<ScriptKind> {
    ScriptKind::from_str(&form.text("back")).ok()
}

async fn set(
    admin: Admin,
    store: web::Data<Store>,
    support: web::Data<ScriptSupport>,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    let form = admin.form(&body)?;
    let kind = back(&form).unwrap_or(ScriptKind::User);
    let name = form.text("name");
    let input =
        VariableBody { value: form.get("value").unwrap_or("").to_owned(), secret: Some(form.checked("secret")) };
    let (who, db, key) = (admin.clone(), store.clone(), support.master_key.clone());
    let error = match attempt(move || set_variable(&db, &key, &who, &name, input)).await? {
        Ok(_) => return Ok(see_other(&format!("{}?notice=variable_saved#variables", editor_href(kind)))),
        Err(error) => error,
    };
    let editor = blocking(move || Ok(load(&store, &support, kind, None, false)?)).await?;
    let shown = Shown { variable: Some((error, form)), ..Shown::default() };
    Ok(html(StatusCode::BAD_REQUEST, &page(&admin, &editor, shown)))
}

async fn delete(
    admin: Admin,
    store: web::Data<Store>,
    name: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    let form = admin.form(&body)?;
    let kind = back(&form).unwrap_or(ScriptKind::User);
    let name = name.into_inner();
    let who = admin.clone();
    match attempt(move || delete_variable(&store, &who, &name)).await? {
        Ok(()) => Ok(see_other(&format!("{}?notice=variable_deleted#variables", editor_href(kind)))),
        Err(_) => Err(ConsoleError::NotFound),
    }
}
