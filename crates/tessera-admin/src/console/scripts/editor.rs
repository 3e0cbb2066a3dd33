//! The script editor page: the script's form (line-numbered source, enabled, what a
//! failure does), the test runner whose fields belong to that form, a run's result, and
//! the environment variables. What is shown is read here; the handlers in `scripts.rs`
//! decide what to do with a submitted form.

use tessera_store::applications::{self, Application};
use tessera_store::scripts::{self, ScriptKind};
use tessera_store::users::{self, User};
use tessera_store::{Page as StorePage, Store};

use super::{editor_href, state, title};
use crate::api::ApiError;
use crate::api::scripts::runner::TestResult;
use crate::api::scripts::variables::{VariableView, list_variables};
use crate::api::scripts::{ScriptSupport, ScriptView, sample, view};
use crate::console::applications::pretty;
use crate::console::form::FormData;
use crate::console::view::{Cell, Choice, Field, Form, Page, Panel, Table};
use crate::console::{Admin, encode, href, time};

/// The id of the editor's form, which the test runner's fields belong to.
const EDITOR: &str = "script-editor";
/// Users and applications offered by the test runner (the first ones, in creation order).
const CHOICES: u32 = StorePage::MAX_LIMIT;

/// The editor page's inputs: as saved and sampled on a GET, as typed after a POST.
pub(super) struct Editor {
    pub(super) kind: ScriptKind,
    pub(super) saved: ScriptView,
    pub(super) source: String,
    pub(super) enabled: bool,
    pub(super) on_failure: String,
    pub(super) user: String,
    pub(super) application: String,
    pub(super) token: String,
    pub(super) context: String,
    pub(super) environment: String,
    /// Offered by the test runner (users only for the user script).
    pub(super) users: Vec<User>,
    pub(super) applications: Vec<Application>,
    pub(super) variables: Vec<VariableView>,
}

/// What an editor page reports besides its inputs.
#[derive(Default)]
pub(super) struct Shown {
    pub(super) notice: Option<String>,
    /// A refused save, beside its field.
    pub(super) script: Option<ApiError>,
    /// The source line to mark (a syntax error, or where a test run threw).
    pub(super) line: Option<u32>,
    /// Test inputs that could not be used.
    pub(super) test: Option<ApiError>,
    pub(super) result: Option<TestResult>,
    /// A refused variable, with the form as typed.
    pub(super) variable: Option<(ApiError, FormData)>,
}

/// Reads what the editor of `kind` shows. `typed` is a submitted editor form, whose
/// values are kept; the sample is rebuilt from the chosen user and application when
/// nothing was typed or `resample` asks for it.
pub(super) fn load(
    store: &Store,
    support: &ScriptSupport,
    kind: ScriptKind,
    typed: Option<&FormData>,
    resample: bool,
) -> Result<Editor, ApiError> {
    let (saved, users, applications) = store.read_transaction(|c| {
        let saved = scripts::get(c, kind)?;
        let users = match kind {
            ScriptKind::User => users::list(c, None, &StorePage::first(CHOICES))?.items,
            ScriptKind::Machine => Vec::new(),
        };
        let mut applications = applications::list(c, &StorePage::first(CHOICES))?.items;
        if kind == ScriptKind::Machine {
            applications.retain(sample::is_machine_client);
        }
        Ok((view(kind, saved), users, applications))
    })?;
    let variables = list_variables(store, &support.master_key)?;
    let mut editor = match typed {
        Some(form) => Editor {
            source: typed_source(form),
            enabled: form.checked("enabled"),
            on_failure: form.text("on_failure"),
            user: form.text("user"),
            application: form.text("application"),
            token: form.text("token"),
            context: form.text("context"),
            environment: form.text("environment_variables"),
            ..editor(kind, saved, users, applications, variables)
        },
        None => editor(kind, saved, users, applications, variables),
    };
    if typed.is_none() || resample {
        let user = editor.users.iter().find(|u| u.id.as_str() == editor.user);
        let app = editor.applications.iter().find(|a| a.id == editor.application);
        let now = crate::api::now();
        let sample = store.read_transaction(|c| sample::build(c, kind, user, app, now))?;
        editor.token = pretty(&sample.token);
        editor.context = sample.context.as_ref().map(pretty).unwrap_or_default();
    }
    Ok(editor)
}

/// An editor showing the saved script, the first user and application chosen.
fn editor(
    kind: ScriptKind,
    saved: ScriptView,
    users: Vec<User>,
    applications: Vec<Application>,
    variables: Vec<VariableView>,
) -> Editor {
    Editor {
        kind,
        // A script never written starts from one that adds nothing, as Logto's editor does.
        source: if saved.source.is_empty() { tessera_claims::DEFAULT_SOURCE.to_owned() } else { saved.source.clone() },
        enabled: saved.enabled,
        on_failure: saved.on_failure.to_owned(),
        user: users.first().map(|u| u.id.as_str().to_owned()).unwrap_or_default(),
        application: applications.first().map(|a| a.id.to_string()).unwrap_or_default(),
        token: String::new(),
        context: String::new(),
        environment: String::new(),
        saved,
        users,
        applications,
        variables,
    }
}

/// The source as typed; browsers send a textarea's line breaks as CRLF.
pub(super) fn typed_source(form: &FormData) -> String {
    form.get("source").unwrap_or("").replace("\r\n", "\n")
}

pub(super) fn page(admin: &Admin, editor: &Editor, shown: Shown) -> Page {
    let kind = editor.kind;
    let mut page = admin.page(title(kind), "scripts");
    page.notice = shown.notice;
    page.panels.push(script_panel(editor, shown.script, shown.line));
    page.panels.push(
        Panel::new("What the script receives")
            .intro("The argument of getCustomJwtClaims; \"Fill in the sample\" below shows real values.")
            .code(tessera_claims::outline(sample::token_kind(kind))),
    );
    page.panels.push(test_panel(editor, shown.test.as_ref()));
    if let Some(result) = &shown.result {
        page.panels.extend(result_panels(result, &editor.on_failure));
    }
    page.panels.extend(variables_panels(kind, &editor.variables, shown.variable));
    page
}

fn script_panel(editor: &Editor, error: Option<ApiError>, line: Option<u32>) -> Panel {
    let kind = editor.kind;
    let mut source = Field::code("source", "Source", editor.source.clone()).help(match kind {
        ScriptKind::User => {
            "Define getCustomJwtClaims({ token, context, environmentVariables, api }) and return an object of \
             claims; context holds the user, the application and the grant. api.denyAccess(message) refuses \
             the token."
        }
        ScriptKind::Machine => {
            "Define getCustomJwtClaims({ token, environmentVariables, api }) and return an object of claims \
             (a machine-to-machine token has no user: context is undefined). api.denyAccess(message) refuses \
             the token."
        }
    });
    source.line = line;
    let failure_choices =
        [("deny", "Refuse the token request"), ("issue_without_claims", "Issue the token without the script's claims")]
            .into_iter()
            .map(|(value, label)| Choice::new(value, label, editor.on_failure == value))
            .collect();
    let mut form = Form::post(
        editor_href(kind),
        "Save",
        vec![
            source,
            Field::checkbox("enabled", "Enabled", editor.enabled)
                .help("Issuance runs the saved script only while it is enabled."),
            Field::select(
                "on_failure",
                "When the script throws, times out or returns no claims object",
                failure_choices,
            )
            .help("A denial by api.denyAccess always refuses the token request."),
        ],
    )
    .id(EDITOR);
    if let Some(error) = error {
        form = form.with_error(error.body.field.as_deref(), error.body.message);
    }
    let saved = &editor.saved;
    Panel::new("Script")
        .fact("State", state(saved))
        .fact("Version", saved.version.to_string())
        .fact("Last saved", saved.updated_at.map(time).unwrap_or_else(|| "never".into()))
        .form(form)
}

fn test_panel(editor: &Editor, error: Option<&ApiError>) -> Panel {
    let kind = editor.kind;
    let mut fields = Vec::new();
    if kind == ScriptKind::User {
        let mut choices: Vec<Choice> = editor
            .users
            .iter()
            .map(|u| {
                let label = match &u.email {
                    Some(email) => format!("{} ({email})", u.username),
                    None => u.username.clone(),
                };
                Choice::new(u.id.as_str(), label, u.id.as_str() == editor.user)
            })
            .collect();
        choices.push(Choice::new("", "A made-up user", !editor.users.iter().any(|u| u.id.as_str() == editor.user)));
        fields.push(Field::select("user", "User", choices).of_form(EDITOR));
    }
    let mut apps: Vec<Choice> = editor
        .applications
        .iter()
        .map(|a| {
            let label = format!("{} ({})", a.settings.name, a.settings.app_type.as_str());
            Choice::new(&a.id, label, a.id == editor.application)
        })
        .collect();
    apps.push(Choice::new(
        "",
        "A made-up application",
        !editor.applications.iter().any(|a| a.id == editor.application),
    ));
    let mut application = Field::select("application", "Application", apps).of_form(EDITOR);
    if kind == ScriptKind::Machine {
        application = application.help("Applications allowed the client credentials grant.");
    }
    fields.push(application);
    fields.push(
        Field::submit("Fill in the sample", format!("{}/sample#test", editor_href(kind)))
            .of_form(EDITOR)
            .help("Rebuilds token and context below as the token endpoint would; the source above is kept."),
    );
    fields.push(
        Field::json("token", "token", editor.token.clone())
            .of_form(EDITOR)
            .help("What the script gets as token; (issuer), (token id) and (grant id) exist only at issuance."),
    );
    if kind == ScriptKind::User {
        fields.push(Field::json("context", "context", editor.context.clone()).of_form(EDITOR));
    }
    fields.push(
        Field::json("environment_variables", "Environment variables for this run", editor.environment.clone())
            .of_form(EDITOR)
            .help("Optional: a JSON object of name → text over the stored variables, e.g. {\"TIER\": \"gold\"}."),
    );
    fields.push(Field::submit("Run", format!("{}/test#result", editor_href(kind))).of_form(EDITOR));
    if let Some(error) = error {
        let field = error.body.field.as_deref().map(|f| f.split('.').next().unwrap_or(f));
        let target = fields.iter_mut().find(|f| !f.name.is_empty() && Some(f.name.as_str()) == field);
        match target {
            Some(target) => target.error = Some(error.body.message.clone()),
            None => {
                if let Some(token) = fields.iter_mut().find(|f| f.name == "token") {
                    token.error = Some(error.body.message.clone());
                }
            }
        }
    }
    Panel::new("Test")
        .anchor("test")
        .intro(
            "Runs the source in the editor, saved or not, with the stored environment variables and the limits \
             of issuance. fetch is disabled in tests: every call rejects. Each run is recorded in the audit log.",
        )
        .attached(fields)
}

fn outcome_label(kind: &str) -> &'static str {
    match kind {
        "denied" => "Denied by api.denyAccess",
        "thrown" => "The script threw",
        "timeout" => "The script ran out of time",
        "out_of_memory" => "The script ran out of memory",
        "invalid_result" => "The result cannot be used",
        _ => "The script cannot run",
    }
}

fn result_panels(result: &TestResult, on_failure: &str) -> Vec<Panel> {
    let mut panel = Panel::new("Result").anchor("result");
    match &result.error {
        None => panel = panel.fact("Outcome", "Claims returned"),
        Some(error) => {
            panel = panel.fact("Outcome", outcome_label(error.kind)).fact("Message", &error.message);
            if let Some(line) = error.line {
                let at = match error.column {
                    Some(column) => format!("{line}, column {column}"),
                    None => line.to_string(),
                };
                panel = panel.fact("Line", at);
            }
            let issuance = if error.kind == "denied" || on_failure != "issue_without_claims" {
                "The token request would be refused (access_denied)."
            } else {
                "The token would be issued without the script's claims."
            };
            panel = panel.fact("At issuance", issuance);
        }
    }
    panel = panel.fact("Time", format!("{} ms", result.elapsed_ms));
    if let Some(claims) = &result.claims {
        panel = panel.code(pretty(&serde_json::Value::Object(claims.clone())));
    }
    let logs = Panel::new("Console output");
    let logs = if result.logs.is_empty() {
        logs.intro("The script wrote nothing with console.log.")
    } else {
        logs.code(result.logs.join("\n"))
    };
    let mut panels = vec![panel, logs];
    if let Some(payload) = &result.payload {
        panels.push(
            Panel::new("Token payload")
                .intro("The access token as it would be issued: its payload with the claims merged.")
                .code(pretty(&serde_json::Value::Object(payload.clone()))),
        );
    }
    panels
}

/// The variables (secret values masked), then the form that sets one.
fn variables_panels(kind: ScriptKind, variables: &[VariableView], refused: Option<(ApiError, FormData)>) -> [Panel; 2] {
    let mut table = Table::new(&["Name", "Value", "Updated", ""], "No variables yet.");
    for v in variables {
        let value = match (&v.value, v.secret) {
            (Some(value), false) => Cell::mono(value),
            _ => Cell::text("•••••••• (secret)"),
        };
        let delete = Form {
            fields: vec![Field::hidden("back", kind.as_str())],
            ..Form::danger(
                href(&format!("script-variables/{}/delete", encode(&v.name))),
                "Delete",
                format!("Delete the variable {}? Scripts reading it get undefined.", v.name),
            )
        }
        .inline();
        table.rows.push(vec![Cell::mono(&v.name), value, Cell::text(time(v.updated_at)), Cell::form(delete)]);
    }
    let typed = refused.as_ref().map(|(_, form)| form);
    let secret = typed.is_none_or(|f| f.checked("secret"));
    // A secret value is never sent back, even as typed.
    let value = typed.filter(|_| !secret).and_then(|f| f.get("value")).unwrap_or("");
    let mut form = Form::post(
        href("script-variables"),
        "Save variable",
        vec![
            Field::hidden("back", kind.as_str()),
            Field::text("name", "Name", typed.map(|f| f.text("name")).unwrap_or_default())
                .required()
                .help("Letters, digits and underscores, e.g. BILLING_API_KEY. An existing name gets the new value."),
            Field::text("value", "Value", value).help("At most 4 KiB; stored encrypted."),
            Field::checkbox("secret", "Secret: never show the value again", secret),
        ],
    );
    if let Some((error, _)) = refused {
        form = form.with_error(error.body.field.as_deref(), error.body.message);
    }
    [
        Panel::new("Environment variables")
            .anchor("variables")
            .intro("Both scripts read them as environmentVariables.NAME. Every value is stored encrypted with the master key.")
            .table(table),
        Panel::new("Set a variable").form(form),
    ]
}
