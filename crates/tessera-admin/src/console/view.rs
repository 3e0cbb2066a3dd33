//! What a console page shows, as plain data: a page is a title and a list of panels, each
//! a form, a table, a definition list or a secret shown once. One askama template
//! (`templates/admin/page.html`) renders every page, so every form looks and behaves the
//! same: the error beside its field, the admin's input kept, the CSRF token included.
//! Nothing here decides policy; handlers decide what to show.

use askama::Template;

/// The sections of the console, in navigation order: (path, label).
pub const SECTIONS: &[(&str, &str)] = &[
    ("", "Dashboard"),
    ("applications", "Applications"),
    ("connections", "API connections"),
    ("identity-scopes", "Identity scopes"),
    ("claim-types", "Claims"),
    ("scripts", "Scripts"),
    ("claim-mappings", "Claim mappings"),
    ("users", "Users"),
    ("roles", "Roles"),
    ("organizations", "Organizations"),
    ("signing-keys", "Signing keys"),
    ("management-keys", "Management keys"),
    ("initial-access-tokens", "Registration tokens"),
    ("audit", "Audit log"),
];

/// A form field. `kind` is `text`, `number`, `email`, `password`, `textarea`, `json`,
/// `code`, `checkbox`, `select`, `checkboxes`, `readonly`, `hidden` or `submit` (a
/// button sending its form to another action, `value`).
#[derive(Debug, Clone, Default)]
pub struct Field {
    pub name: String,
    pub label: String,
    pub kind: &'static str,
    pub value: String,
    pub checked: bool,
    pub choices: Vec<Choice>,
    pub help: String,
    pub error: Option<String>,
    pub required: bool,
    /// The id of the form the field belongs to when it is shown outside it (HTML `form`
    /// attribute); empty for a field inside its form.
    pub form: String,
    /// A `code` field's line the error is about, marked in the line numbers.
    pub line: Option<u32>,
}

/// An option of a `select` or one box of `checkboxes`.
#[derive(Debug, Clone, Default)]
pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

impl Choice {
    pub fn new(value: impl Into<String>, label: impl Into<String>, selected: bool) -> Choice {
        Choice { value: value.into(), label: label.into(), selected }
    }
}

impl Field {
    fn new(kind: &'static str, name: &str, label: &str, value: impl Into<String>) -> Field {
        Field { name: name.to_owned(), label: label.to_owned(), kind, value: value.into(), ..Field::default() }
    }

    pub fn text(name: &str, label: &str, value: impl Into<String>) -> Field {
        Field::new("text", name, label, value)
    }

    pub fn number(name: &str, label: &str, value: impl Into<String>) -> Field {
        Field::new("number", name, label, value)
    }

    pub fn email(name: &str, label: &str, value: impl Into<String>) -> Field {
        Field::new("email", name, label, value)
    }

    pub fn password(name: &str, label: &str) -> Field {
        Field::new("password", name, label, "")
    }

    /// A multi-line text box; list fields take one entry per line.
    pub fn textarea(name: &str, label: &str, value: impl Into<String>) -> Field {
        Field::new("textarea", name, label, value)
    }

    /// A JSON document, checked as it is typed when JavaScript is on.
    pub fn json(name: &str, label: &str, value: impl Into<String>) -> Field {
        Field::new("json", name, label, value)
    }

    /// Source code: monospace, not wrapped, with line numbers.
    pub fn code(name: &str, label: &str, value: impl Into<String>) -> Field {
        Field::new("code", name, label, value)
    }

    /// A button sending its form to `action` instead of the form's own action.
    pub fn submit(label: &str, action: impl Into<String>) -> Field {
        Field::new("submit", "", label, action)
    }

    pub fn checkbox(name: &str, label: &str, checked: bool) -> Field {
        Field { checked, ..Field::new("checkbox", name, label, "true") }
    }

    pub fn select(name: &str, label: &str, choices: Vec<Choice>) -> Field {
        Field { choices, ..Field::new("select", name, label, "") }
    }

    pub fn checkboxes(name: &str, label: &str, choices: Vec<Choice>) -> Field {
        Field { choices, ..Field::new("checkboxes", name, label, "") }
    }

    pub fn readonly(label: &str, value: impl Into<String>) -> Field {
        Field::new("readonly", "", label, value)
    }

    pub fn hidden(name: &str, value: impl Into<String>) -> Field {
        Field::new("hidden", name, "", value)
    }

    pub fn help(mut self, help: impl Into<String>) -> Field {
        self.help = help.into();
        self
    }

    pub fn required(mut self) -> Field {
        self.required = true;
        self
    }

    /// Makes the field part of the form with id `form`, wherever it is shown.
    pub fn of_form(mut self, form: &str) -> Field {
        self.form = form.to_owned();
        self
    }

    /// Rows of a `code` field: its lines and room for a few more.
    pub fn code_rows(&self) -> usize {
        (self.value.lines().count() + 5).clamp(MIN_CODE_ROWS, MAX_CODE_ROWS)
    }

    /// Rows of a `json` field: its lines, at least 6 and at most 30 (it scrolls).
    pub fn json_rows(&self) -> usize {
        (self.value.lines().count() + 1).clamp(6, 30)
    }

    /// The line numbers beside a `code` field, each with whether the error is on it.
    pub fn gutter(&self) -> Vec<(usize, bool)> {
        let bad = self.line.and_then(|l| usize::try_from(l).ok());
        (1..=self.code_rows()).map(|n| (n, Some(n) == bad)).collect()
    }

    /// The element id, shared by the input and its `<label for>`.
    pub fn id(&self) -> String {
        format!("f-{}", self.name.replace(['.', '[', ']'], "-"))
    }

    /// The ids of the help text and the error, for `aria-describedby`.
    pub fn described_by(&self) -> String {
        let id = self.id();
        let mut ids = Vec::new();
        if !self.help.is_empty() {
            ids.push(format!("{id}-help"));
        }
        if self.error.is_some() {
            ids.push(format!("{id}-error"));
        }
        ids.join(" ")
    }
}

/// Fewest and most rows of a `code` field (the most keeps a huge script's page light; the
/// field still scrolls).
const MIN_CODE_ROWS: usize = 16;
const MAX_CODE_ROWS: usize = 2000;

/// A form. `method` is `post` (the page adds the CSRF token) or `get` (filters, search).
#[derive(Debug, Clone, Default)]
pub struct Form {
    /// The element id, for fields and buttons shown outside the form (empty: none).
    pub id: String,
    pub action: String,
    pub method: &'static str,
    pub fields: Vec<Field>,
    pub submit: String,
    /// A destructive action: the button is red and, with JavaScript, asks first.
    pub confirm: Option<String>,
    /// An error about the form as a whole.
    pub error: Option<String>,
    /// Submit inline, beside other content (a table row's action).
    pub inline: bool,
}

impl Form {
    pub fn post(action: impl Into<String>, submit: impl Into<String>, fields: Vec<Field>) -> Form {
        Form { action: action.into(), method: "post", fields, submit: submit.into(), ..Form::default() }
    }

    pub fn get(action: impl Into<String>, submit: impl Into<String>, fields: Vec<Field>) -> Form {
        Form { action: action.into(), method: "get", fields, submit: submit.into(), ..Form::default() }
    }

    /// A one-button form that asks for confirmation (delete, revoke, rotate).
    pub fn danger(action: impl Into<String>, submit: impl Into<String>, question: impl Into<String>) -> Form {
        Form { confirm: Some(question.into()), ..Form::post(action, submit, Vec::new()) }
    }

    pub fn inline(mut self) -> Form {
        self.inline = true;
        self
    }

    pub fn id(mut self, id: &str) -> Form {
        self.id = id.to_owned();
        self
    }

    /// Puts an error beside the field named `field`, or on the form when no field has
    /// that name.
    pub fn with_error(mut self, field: Option<&str>, message: impl Into<String>) -> Form {
        let message = message.into();
        // API field names may carry an index (`redirect_uris[2]`): the field is the list.
        let base = field.map(|f| f.split('[').next().unwrap_or(f));
        match self.fields.iter_mut().find(|f| !f.name.is_empty() && Some(f.name.as_str()) == base) {
            Some(found) => found.error = Some(message),
            None => self.error = Some(message),
        }
        self
    }
}

/// A table cell: text, optionally a link, or a small form (a row's action).
#[derive(Debug, Clone, Default)]
pub struct Cell {
    pub text: String,
    pub href: Option<String>,
    pub mono: bool,
    pub form: Option<Form>,
    /// Shown on hover: the raw id behind a name, the whole of a clipped text.
    pub title: Option<String>,
    /// Kept on one line (times, addresses).
    pub nowrap: bool,
    /// Clipped to one line of a bounded width, the whole text in [`Cell::title`].
    pub clip: bool,
    /// With `clip`: a narrower bound (a name or an id, not a summary).
    pub narrow: bool,
}

impl Cell {
    pub fn text(text: impl Into<String>) -> Cell {
        Cell { text: text.into(), ..Cell::default() }
    }

    pub fn mono(text: impl Into<String>) -> Cell {
        Cell { text: text.into(), mono: true, ..Cell::default() }
    }

    pub fn link(text: impl Into<String>, href: impl Into<String>) -> Cell {
        Cell { text: text.into(), href: Some(href.into()), ..Cell::default() }
    }

    pub fn form(form: Form) -> Cell {
        Cell { form: Some(form), ..Cell::default() }
    }

    /// The same cell, with `title` shown on hover.
    pub fn titled(self, title: impl Into<String>) -> Cell {
        Cell { title: Some(title.into()), ..self }
    }

    /// The same cell, kept on one line.
    pub fn nowrap(self) -> Cell {
        Cell { nowrap: true, ..self }
    }

    /// The same cell clipped to one line, its whole text on hover.
    pub fn clipped(self) -> Cell {
        let title = self.text.clone();
        Cell { clip: true, title: Some(title), ..self }
    }

    /// The same cell clipped to one line of a name's width, its whole text on hover
    /// (unless a title was given: the raw id behind a name).
    pub fn clipped_narrow(self) -> Cell {
        let title = self.title.clone().unwrap_or_else(|| self.text.clone());
        Cell { clip: true, narrow: true, title: Some(title), ..self }
    }

    /// The CSS classes of the cell, for the template.
    pub fn classes(&self) -> String {
        [(self.mono, "mono"), (self.nowrap, "nowrap"), (self.clip, "clip"), (self.narrow, "narrow")]
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, class)| *class)
            .collect::<Vec<_>>()
            .join(" ")
    }
}

#[derive(Debug, Clone, Default)]
pub struct Table {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
    /// Shown when there are no rows.
    pub empty: String,
    /// The link to the next page, when there is one.
    pub next: Option<String>,
}

impl Table {
    pub fn new(columns: &[&str], empty: &str) -> Table {
        Table {
            columns: columns.iter().map(|c| (*c).to_owned()).collect(),
            empty: empty.to_owned(),
            ..Table::default()
        }
    }
}

/// A secret shown once (a client secret, a connection secret, a management key).
#[derive(Debug, Clone, Default)]
pub struct Secret {
    pub label: String,
    pub value: String,
}

/// A part of a page under its own heading.
#[derive(Debug, Clone, Default)]
pub struct Panel {
    /// The element id, to link to (`#result`); empty: none.
    pub id: String,
    pub heading: String,
    pub intro: String,
    pub secret: Option<Secret>,
    pub facts: Vec<(String, String)>,
    pub form: Option<Form>,
    pub table: Option<Table>,
    /// `<pre>` text (an audit summary, a JWK).
    pub code: Option<String>,
    /// Whether the `<pre>` text gets a Copy button (a document to paste elsewhere).
    pub copy_code: bool,
    /// Fields of a form elsewhere on the page (each with [`Field::of_form`]), shown here.
    pub attached: Vec<Field>,
}

impl Panel {
    pub fn new(heading: impl Into<String>) -> Panel {
        Panel { heading: heading.into(), ..Panel::default() }
    }

    pub fn intro(mut self, intro: impl Into<String>) -> Panel {
        self.intro = intro.into();
        self
    }

    pub fn form(mut self, form: Form) -> Panel {
        self.form = Some(form);
        self
    }

    pub fn table(mut self, table: Table) -> Panel {
        self.table = Some(table);
        self
    }

    pub fn fact(mut self, name: impl Into<String>, value: impl Into<String>) -> Panel {
        self.facts.push((name.into(), value.into()));
        self
    }

    pub fn secret(mut self, label: impl Into<String>, value: impl Into<String>) -> Panel {
        self.secret = Some(Secret { label: label.into(), value: value.into() });
        self
    }

    pub fn code(mut self, code: impl Into<String>) -> Panel {
        self.code = Some(code.into());
        self
    }

    /// `<pre>` text with a Copy button.
    pub fn copyable_code(mut self, code: impl Into<String>) -> Panel {
        self.code = Some(code.into());
        self.copy_code = true;
        self
    }

    pub fn anchor(mut self, id: &str) -> Panel {
        self.id = id.to_owned();
        self
    }

    pub fn attached(mut self, fields: Vec<Field>) -> Panel {
        self.attached = fields;
        self
    }
}

/// A link shown as a button at the top of a page ("New application").
#[derive(Debug, Clone)]
pub struct Action {
    pub label: String,
    pub href: String,
}

/// Every console page but sign-in.
#[derive(Template)]
#[template(path = "admin/page.html")]
pub struct Page {
    pub title: String,
    /// The section highlighted in the navigation (a path of [`SECTIONS`]).
    pub section: &'static str,
    pub username: String,
    pub csrf: String,
    /// A confirmation of what just happened ("Saved.").
    pub notice: Option<String>,
    pub actions: Vec<Action>,
    pub panels: Vec<Panel>,
    /// Whether the page holds a secret (answered `no-store` either way).
    pub has_secret: bool,
}

impl Page {
    pub fn sections(&self) -> &'static [(&'static str, &'static str)] {
        SECTIONS
    }

    /// `/admin` or `/admin/<path>`.
    pub fn href(&self, path: &str) -> String {
        if path.is_empty() { super::PREFIX.to_owned() } else { format!("{}/{path}", super::PREFIX) }
    }
}

/// The console's sign-in page.
#[derive(Template)]
#[template(path = "admin/sign_in.html")]
pub struct SignInPage {
    pub csrf: String,
    pub login: String,
    pub next: String,
    pub error: Option<String>,
    pub notice: Option<String>,
    /// The second step: the password was right, the authenticator app's code is asked.
    pub second_factor: bool,
}
