//! Users in the console: search, create, edit the account and custom claim values, set
//! a password, disable, roles, organizations, `app_metadata` and `user_metadata` as
//! validated JSON objects, delete.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::{Map, Value};
use tessera_auth::PasswordPolicy;
use tessera_domain::{ClaimValueType, UserId};
use tessera_store::organizations::{self, Membership, Role};
use tessera_store::scopes::{self, ClaimType};
use tessera_store::users::{self, User};
use tessera_store::{Page as StorePage, Store};
use tessera_tokens::PasswordHasher;

use super::applications::pretty;
use super::error::{attempt, blocking};
use super::form::FormData;
use super::view::{Action, Cell, Choice, Field, Form, Page, Panel, Table};
use super::{Admin, ConsoleError, encode, href, html, see_other, time};
use crate::api::changes::wake_outbox;
use crate::api::users::{
    NewUserBody, UserPatch, change_user_role, create_user, delete_user, set_user_claims, set_user_password, update_user,
};
use crate::api::{ApiError, BrowserSessionPolicy, OutboxWake};

mod access;
mod factors;

pub fn routes(cfg: &mut web::ServiceConfig) {
    access::routes(cfg);
    factors::routes(cfg);
    cfg.route("/users", web::get().to(list))
        .route("/users", web::post().to(create))
        .route("/users/new", web::get().to(new))
        .route("/users/{id}", web::get().to(show))
        .route("/users/{id}", web::post().to(update))
        .route("/users/{id}/claims", web::post().to(set_claims))
        .route("/users/{id}/password", web::post().to(set_password))
        .route("/users/{id}/roles", web::post().to(add_role))
        .route("/users/{id}/roles/{role_id}/delete", web::post().to(remove_role))
        .route("/users/{id}/delete", web::post().to(delete));
}

/// What `tessera_auth::PasswordPolicy` asks, in a sentence.
const PASSWORD_HELP: &str =
    "At least 8 characters and hard to guess: not a common password, nor built from the username, e-mail or name.";

/// Claims kept on the account itself (edited with the profile) or set by Tessera.
const ACCOUNT_CLAIMS: &[&str] = &["email", "email_verified", "updated_at"];

#[derive(Debug, Deserialize)]
pub struct Query {
    search: Option<String>,
    after: Option<String>,
    notice: Option<String>,
}

fn notice(code: Option<&str>) -> Option<String> {
    Some(
        match code? {
            "created" => "The user was created.",
            "saved" => "The user was saved.",
            "claims_saved" => "The claim values were saved.",
            "password_set" => "The password was set.",
            "role_added" => "The role was given.",
            "role_removed" => "The role was taken away.",
            "deleted" => "The user was deleted.",
            "session_ended" => "The session was ended.",
            "sessions_ended" => "Every session of the user was ended.",
            "consent_revoked" => "The consent was revoked, with the tokens it held.",
            "factors_reset" => "The user's factors were removed and every session of theirs ended.",
            "verification_sent" => "A verification link is on its way to the user.",
            "recovery_link_sent" => "A password recovery link is on its way to the user.",
            _ => return None,
        }
        .to_owned(),
    )
}

async fn list(admin: Admin, store: web::Data<Store>, query: web::Query<Query>) -> Result<HttpResponse, ConsoleError> {
    let search = query.search.clone().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
    let page_query = StorePage { after: query.after.clone(), limit: 50 };
    let term = search.clone();
    let paged = blocking(move || Ok(store.read_transaction(|c| users::list(c, term.as_deref(), &page_query))?)).await?;
    let mut table = Table::new(&["Username", "E-mail", "Status", "Created"], "No users found.");
    for u in &paged.items {
        table.rows.push(vec![
            Cell::link(&u.username, href(&format!("users/{}", u.id))),
            Cell::text(u.email.clone().unwrap_or_default()),
            Cell::text(if u.disabled { "disabled" } else { "active" }),
            Cell::text(time(u.created_at)),
        ]);
    }
    table.next = paged.next.map(|n| {
        let search = search.as_deref().map(|s| format!("search={}&", encode(s))).unwrap_or_default();
        format!("{}?{search}after={}", href("users"), encode(&n))
    });
    let mut page = admin.page("Users", "users");
    page.notice = notice(query.notice.as_deref());
    page.actions.push(Action { label: "New user".into(), href: href("users/new") });
    let mut search_form = Form::get(
        href("users"),
        "Search",
        vec![Field::text("search", "Username or e-mail contains", search.unwrap_or_default())],
    );
    search_form.inline = true;
    page.panels.push(Panel::new("").form(search_form));
    page.panels.push(Panel::new("").table(table));
    Ok(html(StatusCode::OK, &page))
}

fn new_form(form: Option<&FormData>) -> Form {
    let get = |n: &str| form.map(|f| f.text(n)).unwrap_or_default();
    Form::post(
        href("users"),
        "Create user",
        vec![
            Field::text("username", "Username", get("username")).required(),
            Field::email("email", "E-mail", get("email")),
            Field::checkbox("email_verified", "E-mail verified", form.is_some_and(|f| f.checked("email_verified"))),
            Field::password("password", "Password")
                .help(format!("{PASSWORD_HELP} Leave empty for an account that cannot sign in with a password.")),
            Field::json(
                "app_metadata",
                "app_metadata (JSON object)",
                form.map_or_else(|| "{}".to_owned(), |f| f.text("app_metadata")),
            )
            .help("Your data about the user; users never see or change it."),
            Field::json(
                "user_metadata",
                "user_metadata (JSON object)",
                form.map_or_else(|| "{}".to_owned(), |f| f.text("user_metadata")),
            )
            .help("The user's preferences."),
        ],
    )
}

async fn new(admin: Admin) -> Result<HttpResponse, ConsoleError> {
    let mut page = admin.page("New user", "users");
    page.panels.push(Panel::new("").form(new_form(None)));
    Ok(html(StatusCode::OK, &page))
}

async fn create(
    admin: Admin,
    store: web::Data<Store>,
    hasher: web::Data<PasswordHasher>,
    policy: web::Data<PasswordPolicy>,
    mail: Option<web::Data<tessera_auth::AccountMail>>,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    let form = admin.form(&body)?;
    let parsed = (|| {
        Ok::<_, ApiError>(NewUserBody {
            username: form.text("username"),
            email: form.optional("email"),
            email_verified: Some(form.checked("email_verified")),
            password: form.get("password").filter(|p| !p.is_empty()).map(str::to_owned),
            app_metadata: form.json("app_metadata")?,
            user_metadata: form.json("user_metadata")?,
        })
    })();
    let who = admin.clone();
    match attempt(move || create_user(&store, &hasher, &policy, mail.as_ref().map(|m| m.get_ref()), &who, parsed?))
        .await?
    {
        Ok(user) => Ok(see_other(&format!("{}?notice=created", href(&format!("users/{}", user.id))))),
        Err(error) => {
            let mut page = admin.page("New user", "users");
            page.panels.push(
                Panel::new("").form(new_form(Some(&form)).with_error(error.body.field.as_deref(), error.body.message)),
            );
            Ok(html(StatusCode::BAD_REQUEST, &page))
        }
    }
}

/// A user with what the page shows about them.
struct Loaded {
    user: User,
    claims: std::collections::BTreeMap<String, Value>,
    types: Vec<ClaimType>,
    roles: Vec<Role>,
    all_roles: Vec<Role>,
    memberships: Vec<Membership>,
    access: access::Access,
    factors: crate::api::users::factors::FactorsView,
}

fn load(store: &Store, policy: BrowserSessionPolicy, id: &UserId) -> Result<Loaded, ConsoleError> {
    let access = access::load(store, policy, id)?;
    let factors = factors::load(store, id)?;
    Ok(store.read_transaction(|c| {
        let user = users::get(c, id)?;
        Ok(Loaded {
            access,
            factors,
            claims: users::claim_values(c, &user)?,
            types: scopes::list_claim_types(c)?,
            roles: users::roles(c, id)?,
            all_roles: organizations::list_roles(c, &StorePage { after: None, limit: 500 })?.items,
            memberships: organizations::memberships_of_user(c, id)?,
            user,
        })
    })?)
}

/// The text a claim value is edited as.
fn claim_text(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

pub(super) enum Failed {
    Profile(ApiError, FormData),
    Claims(ApiError, FormData),
    Password(ApiError),
    Role(ApiError),
    Mail(ApiError),
}

fn detail_page(admin: &Admin, l: &Loaded, failed: Option<Failed>) -> Page {
    let u = &l.user;
    let base = href(&format!("users/{}", u.id));
    let mut page = admin.page(format!("User {}", u.username), "users");
    page.panels.push(
        Panel::new("Account")
            .fact("Id (sub)", u.id.as_str())
            .fact("Password", if u.password_hash.is_some() { "set" } else { "none" })
            .fact("Created", time(u.created_at))
            .fact("Updated", time(u.updated_at)),
    );

    let typed = match &failed {
        Some(Failed::Profile(_, f)) => Some(f),
        _ => None,
    };
    let text = |name: &str, current: String| typed.map_or(current, |f| f.text(name));
    let check = |name: &str, current: bool| typed.map_or(current, |f| f.checked(name));
    let mut profile = Form::post(
        &base,
        "Save",
        vec![
            Field::text("username", "Username", text("username", u.username.clone())).required(),
            Field::email("email", "E-mail", text("email", u.email.clone().unwrap_or_default()))
                .help("Empty removes the address."),
            Field::checkbox("email_verified", "E-mail verified", check("email_verified", u.email_verified)),
            Field::checkbox("disabled", "Disabled", check("disabled", u.disabled))
                .help("A disabled user cannot sign in, and tokens are no longer issued to them."),
            Field::json("app_metadata", "app_metadata (JSON object)", text("app_metadata", pretty(&u.app_metadata))),
            Field::json(
                "user_metadata",
                "user_metadata (JSON object)",
                text("user_metadata", pretty(&u.user_metadata)),
            ),
        ],
    );
    if let Some(Failed::Profile(error, _)) = &failed {
        profile = profile.with_error(error.body.field.as_deref(), error.body.message.clone());
    }
    page.panels.push(Panel::new("Profile").form(profile));

    let typed_claims = match &failed {
        Some(Failed::Claims(_, f)) => Some(f),
        _ => None,
    };
    let mut claim_fields = Vec::new();
    for t in l.types.iter().filter(|t| !ACCOUNT_CLAIMS.contains(&t.name.as_str())) {
        let name = format!("claim.{}", t.name);
        let current = typed_claims.map_or_else(|| claim_text(l.claims.get(&t.name)), |f| f.text(&name));
        let label = format!("{} ({})", t.display_name, t.name);
        let field = if t.value_type == ClaimValueType::Boolean {
            Field::select(
                &name,
                &label,
                vec![
                    Choice::new("", "(no value)", current.is_empty()),
                    Choice::new("true", "true", current == "true"),
                    Choice::new("false", "false", current == "false"),
                ],
            )
        } else if t.value_type == ClaimValueType::Json {
            Field::json(&name, &label, current)
        } else {
            Field::text(&name, &label, current)
        };
        claim_fields.push(field.help(format!(
            "{}{}",
            t.value_type.as_str(),
            if t.description.is_empty() { String::new() } else { format!(" · {}", t.description) }
        )));
    }
    let mut claims = Form::post(format!("{base}/claims"), "Save claim values", claim_fields);
    if let Some(Failed::Claims(error, _)) = &failed {
        let field = error.body.field.as_deref().map(|f| format!("claim.{f}"));
        claims = claims.with_error(field.as_deref(), error.body.message.clone());
    }
    page.panels.push(Panel::new("Claim values").intro("Empty removes a value.").form(claims));

    let mut password = Form::post(
        format!("{base}/password"),
        "Set password",
        vec![Field::password("password", "New password").help(PASSWORD_HELP)],
    );
    if let Some(Failed::Password(error)) = &failed {
        password = password.with_error(error.body.field.as_deref(), error.body.message.clone());
    }
    page.panels.push(Panel::new("Password").form(password));
    let mail_failure = match &failed {
        Some(Failed::Mail(error)) => Some(error),
        _ => None,
    };
    page.panels.push(super::user_links::panel(&base, mail_failure));

    let mut roles = Table::new(&["Role", ""], "No roles.");
    for r in &l.roles {
        roles.rows.push(vec![
            Cell::link(&r.name, href(&format!("roles/{}", r.id))),
            Cell::form(
                Form::danger(
                    format!("{base}/roles/{}/delete", r.id),
                    "Remove",
                    format!("Take the role {} away?", r.name),
                )
                .inline(),
            ),
        ]);
    }
    let available: Vec<Choice> = l
        .all_roles
        .iter()
        .filter(|r| !l.roles.iter().any(|h| h.id == r.id))
        .map(|r| Choice::new(&r.id, &r.name, false))
        .collect();
    let mut add =
        Form::post(format!("{base}/roles"), "Give role", vec![Field::select("role_id", "Role", available)]).inline();
    if let Some(Failed::Role(error)) = &failed {
        add = add.with_error(Some("role_id"), error.body.message.clone());
    }
    let mut roles_panel = Panel::new("Roles").table(roles);
    roles_panel.form = Some(add);
    page.panels.push(roles_panel);

    let mut orgs = Table::new(&["Organization", "Roles in it"], "Not a member of any organization.");
    for m in &l.memberships {
        orgs.rows.push(vec![
            Cell::link(&m.organization.display_name, href(&format!("organizations/{}", m.organization.id))),
            Cell::text(m.roles.iter().map(|r| r.name.as_str()).collect::<Vec<_>>().join(", ")),
        ]);
    }
    page.panels
        .push(Panel::new("Organizations").intro("Memberships are managed on each organization's page.").table(orgs));
    page.panels.push(factors::panel(&base, &l.factors));
    page.panels.extend(access::panels(&base, &l.access));
    page.panels.push(
        Panel::new("Delete")
            .intro("Deleting the user ends their sessions and grants and deletes their claim values.")
            .form(Form::danger(format!("{base}/delete"), "Delete user", "Delete this user?")),
    );
    page
}

async fn show(
    admin: Admin,
    store: web::Data<Store>,
    policy: web::Data<BrowserSessionPolicy>,
    id: web::Path<String>,
    query: web::Query<Query>,
) -> Result<HttpResponse, ConsoleError> {
    let id = UserId::from(id.into_inner());
    let policy = **policy;
    let loaded = blocking(move || load(&store, policy, &id)).await?;
    let mut page = detail_page(&admin, &loaded, None);
    page.notice = notice(query.notice.as_deref());
    Ok(html(StatusCode::OK, &page))
}

pub(super) async fn respond(
    admin: &Admin,
    store: web::Data<Store>,
    policy: web::Data<BrowserSessionPolicy>,
    id: UserId,
    failed: Option<Failed>,
    notice: &str,
) -> Result<HttpResponse, ConsoleError> {
    match failed {
        None => Ok(see_other(&format!("{}?notice={notice}", href(&format!("users/{id}"))))),
        Some(failed) => {
            let policy = **policy;
            let loaded = blocking(move || load(&store, policy, &id)).await?;
            Ok(html(StatusCode::BAD_REQUEST, &detail_page(admin, &loaded, Some(failed))))
        }
    }
}

async fn update(
    admin: Admin,
    store: web::Data<Store>,
    policy: web::Data<BrowserSessionPolicy>,
    mail: Option<web::Data<tessera_auth::AccountMail>>,
    wake: Option<web::Data<OutboxWake>>,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    let id = UserId::from(id.into_inner());
    let form = admin.form(&body)?;
    let parsed = (|| {
        Ok::<_, ApiError>(UserPatch {
            username: Some(form.text("username")),
            email: Some(form.optional("email")),
            email_verified: Some(form.checked("email_verified")),
            disabled: Some(form.checked("disabled")),
            app_metadata: Some(form.json("app_metadata")?.unwrap_or_else(|| Value::Object(Map::new()))),
            user_metadata: Some(form.json("user_metadata")?.unwrap_or_else(|| Value::Object(Map::new()))),
        })
    })();
    let (who, db, user_id) = (admin.clone(), store.clone(), id.clone());
    let outcome = attempt(move || {
        let mut patch = parsed?;
        // The form always sends the checkbox: a new email with the box left as it was
        // is unverified (OIDC Core §5.1); ticking or clearing it is the admin's say.
        let current = db.read_transaction(|c| users::get(c, &user_id))?;
        if patch.email.as_ref() != Some(&current.email) && patch.email_verified == Some(current.email_verified) {
            patch.email_verified = None;
        }
        update_user(&db, mail.as_ref().map(|m| m.get_ref()), &who, &user_id, patch)
    })
    .await?;
    wake_outbox(wake.as_ref());
    respond(&admin, store, policy, id, outcome.err().map(|e| Failed::Profile(e, form)), "saved").await
}

async fn set_claims(
    admin: Admin,
    store: web::Data<Store>,
    policy: web::Data<BrowserSessionPolicy>,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    let id = UserId::from(id.into_inner());
    let form = admin.form(&body)?;
    let (who, db, user_id) = (admin.clone(), store.clone(), id.clone());
    let typed = FormData::parse(&body)?;
    let outcome = attempt(move || {
        let types = db.read_transaction(scopes::list_claim_types)?;
        let mut values = Map::new();
        for t in types.iter().filter(|t| !ACCOUNT_CLAIMS.contains(&t.name.as_str())) {
            let Some(raw) = typed.get(&format!("claim.{}", t.name)) else { continue };
            let value = if raw.trim().is_empty() {
                Value::Null
            } else {
                t.value_type
                    .parse_input(raw)
                    .map_err(|e| ApiError::invalid(t.name.clone(), e.with_claim(&t.name).to_string()))?
            };
            values.insert(t.name.clone(), value);
        }
        set_user_claims(&db, &who, &user_id, values)
    })
    .await?;
    respond(&admin, store, policy, id, outcome.err().map(|e| Failed::Claims(e, form)), "claims_saved").await
}

async fn set_password(
    admin: Admin,
    store: web::Data<Store>,
    sessions: web::Data<BrowserSessionPolicy>,
    (hasher, policy): (web::Data<PasswordHasher>, web::Data<PasswordPolicy>),
    wake: Option<web::Data<OutboxWake>>,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    let id = UserId::from(id.into_inner());
    let form = admin.form(&body)?;
    let password = form.get("password").unwrap_or("").to_owned();
    let (who, db, user_id) = (admin.clone(), store.clone(), id.clone());
    let outcome = attempt(move || set_user_password(&db, &hasher, &policy, &who, &user_id, password)).await?;
    wake_outbox(wake.as_ref());
    respond(&admin, store, sessions, id, outcome.err().map(Failed::Password), "password_set").await
}

async fn add_role(
    admin: Admin,
    store: web::Data<Store>,
    policy: web::Data<BrowserSessionPolicy>,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    let id = UserId::from(id.into_inner());
    let form = admin.form(&body)?;
    let role_id = form.text("role_id");
    let (who, db, user_id) = (admin.clone(), store.clone(), id.clone());
    let outcome = attempt(move || {
        if role_id.is_empty() {
            return Err(ApiError::invalid("role_id", "Choose a role."));
        }
        change_user_role(&db, &who, &user_id, &role_id, true)
    })
    .await?;
    respond(&admin, store, policy, id, outcome.err().map(Failed::Role), "role_added").await
}

async fn remove_role(
    admin: Admin,
    store: web::Data<Store>,
    policy: web::Data<BrowserSessionPolicy>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    admin.form(&body)?;
    let (id, role_id) = path.into_inner();
    let id = UserId::from(id);
    let (who, db, user_id) = (admin.clone(), store.clone(), id.clone());
    blocking(move || Ok(change_user_role(&db, &who, &user_id, &role_id, false)?)).await?;
    respond(&admin, store, policy, id, None, "role_removed").await
}

async fn delete(
    admin: Admin,
    store: web::Data<Store>,
    wake: Option<web::Data<OutboxWake>>,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    admin.form(&body)?;
    let id = UserId::from(id.into_inner());
    let who = admin.clone();
    blocking(move || Ok(delete_user(&store, &who, &id)?)).await?;
    wake_outbox(wake.as_ref());
    Ok(see_other(&format!("{}?notice=deleted", href("users"))))
}
