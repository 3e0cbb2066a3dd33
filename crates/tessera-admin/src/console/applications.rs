//! Applications in the console: list, create, edit every setting, regenerate the secret
//! (shown once), delete. The form's field names are the API's, so a rule broken in
//! either place is reported on the same field with the same words.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::Value;
use tessera_domain::{
    ApplicationId, ApplicationType, ClientAuthMethod, GrantType, SigningAlgorithm, TokenFormat, TokenLifetimes,
};
use tessera_store::applications::{self, Application};
use tessera_store::scopes::{self, ScopeKind};
use tessera_store::{Page as StorePage, Store};

use super::error::{attempt, blocking};
use super::form::FormData;
use super::view::{Action, Cell, Choice, Field, Form, Panel, Table};
use super::{Admin, ConsoleError, encode, href, html, see_other, time};
use crate::api::ApiError;
use crate::api::applications::{
    ApplicationInput, create_application, delete_application, regenerate_application_secret, replace_application,
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

/// What the form shows: the typed values, or an application's settings.
#[derive(Debug, Clone)]
struct Values {
    name: String,
    description: String,
    app_type: String,
    enabled: bool,
    redirect_uris: String,
    post_logout_redirect_uris: String,
    grant_types: Vec<String>,
    token_endpoint_auth_method: String,
    jwks: String,
    allowed_scopes: Vec<String>,
    required_claims: Vec<String>,
    access_token_format: String,
    id_token_signed_response_alg: String,
    access_token_lifetime: String,
    id_token_lifetime: String,
    refresh_token_lifetime: String,
    authorization_code_lifetime: String,
    refresh_token_retry_grace_seconds: String,
    require_consent: bool,
    always_issue_refresh_token: bool,
    require_pushed_authorization_requests: bool,
    dpop_bound_access_tokens: bool,
    require_signed_request_object: bool,
    backchannel_logout_uri: String,
    backchannel_logout_session_required: bool,
    require_verified_email: bool,
    self_registration: bool,
    sign_in_policy: String,
    app_metadata: String,
    jwks_uri: String,
    request_uris: String,
}

impl Values {
    fn new_application() -> Values {
        let lifetimes = TokenLifetimes::default();
        Values {
            name: String::new(),
            description: String::new(),
            app_type: ApplicationType::Web.as_str().into(),
            enabled: true,
            redirect_uris: String::new(),
            post_logout_redirect_uris: String::new(),
            grant_types: ApplicationType::Web.default_grant_types().iter().map(|g| g.as_str().to_owned()).collect(),
            token_endpoint_auth_method: ApplicationType::Web.default_auth_method().as_str().into(),
            jwks: String::new(),
            allowed_scopes: ApplicationType::Web.default_allowed_scopes(),
            required_claims: Vec::new(),
            access_token_format: TokenFormat::default().as_str().into(),
            id_token_signed_response_alg: SigningAlgorithm::default().as_str().into(),
            access_token_lifetime: lifetimes.access_token.to_string(),
            id_token_lifetime: lifetimes.id_token.to_string(),
            refresh_token_lifetime: lifetimes.refresh_token.to_string(),
            authorization_code_lifetime: lifetimes.authorization_code.to_string(),
            refresh_token_retry_grace_seconds: lifetimes.refresh_token_retry_grace.to_string(),
            require_consent: true,
            always_issue_refresh_token: false,
            require_pushed_authorization_requests: false,
            dpop_bound_access_tokens: false,
            require_signed_request_object: false,
            backchannel_logout_uri: String::new(),
            backchannel_logout_session_required: false,
            require_verified_email: false,
            self_registration: true,
            sign_in_policy: String::new(),
            app_metadata: "{}".into(),
            jwks_uri: String::new(),
            request_uris: String::new(),
        }
    }

    fn of(app: &Application) -> Values {
        let s = &app.settings;
        Values {
            name: s.name.clone(),
            description: s.description.clone(),
            app_type: s.app_type.as_str().into(),
            enabled: s.enabled,
            redirect_uris: s.redirect_uris.join("\n"),
            post_logout_redirect_uris: s.post_logout_redirect_uris.join("\n"),
            grant_types: s.grant_types.iter().map(|g| g.as_str().to_owned()).collect(),
            token_endpoint_auth_method: s.token_endpoint_auth_method.as_str().into(),
            jwks: s.jwks.as_ref().map(pretty).unwrap_or_default(),
            allowed_scopes: s.allowed_scopes.clone(),
            required_claims: s.required_claims.clone(),
            access_token_format: s.access_token_format.as_str().into(),
            id_token_signed_response_alg: s.id_token_signed_response_alg.as_str().into(),
            access_token_lifetime: s.lifetimes.access_token.to_string(),
            id_token_lifetime: s.lifetimes.id_token.to_string(),
            refresh_token_lifetime: s.lifetimes.refresh_token.to_string(),
            authorization_code_lifetime: s.lifetimes.authorization_code.to_string(),
            refresh_token_retry_grace_seconds: s.lifetimes.refresh_token_retry_grace.to_string(),
            require_consent: s.require_consent,
            always_issue_refresh_token: s.always_issue_refresh_token,
            require_pushed_authorization_requests: s.require_pushed_authorization_requests,
            dpop_bound_access_tokens: s.dpop_bound_access_tokens,
            require_signed_request_object: s.require_signed_request_object,
            backchannel_logout_uri: s.backchannel_logout_uri.clone().unwrap_or_default(),
            backchannel_logout_session_required: s.backchannel_logout_session_required,
            require_verified_email: s.require_verified_email,
            self_registration: s.self_registration,
            sign_in_policy: s.sign_in_policy.map(|p| p.as_str().to_owned()).unwrap_or_default(),
            app_metadata: pretty(&s.app_metadata),
            jwks_uri: s.jwks_uri.clone().unwrap_or_default(),
            request_uris: s.request_uris.join("\n"),
        }
    }

    fn typed(form: &FormData) -> Values {
        Values {
            name: form.text("name"),
            description: form.text("description"),
            app_type: form.text("app_type"),
            enabled: form.checked("enabled"),
            redirect_uris: form.get("redirect_uris").unwrap_or("").to_owned(),
            post_logout_redirect_uris: form.get("post_logout_redirect_uris").unwrap_or("").to_owned(),
            grant_types: form.all("grant_types"),
            token_endpoint_auth_method: form.text("token_endpoint_auth_method"),
            jwks: form.get("jwks").unwrap_or("").to_owned(),
            allowed_scopes: form.all("allowed_scopes"),
            required_claims: form.all("required_claims"),
            access_token_format: form.text("access_token_format"),
            id_token_signed_response_alg: form.text("id_token_signed_response_alg"),
            access_token_lifetime: form.text("access_token_lifetime"),
            id_token_lifetime: form.text("id_token_lifetime"),
            refresh_token_lifetime: form.text("refresh_token_lifetime"),
            authorization_code_lifetime: form.text("authorization_code_lifetime"),
            refresh_token_retry_grace_seconds: form.text("refresh_token_retry_grace_seconds"),
            require_consent: form.checked("require_consent"),
            always_issue_refresh_token: form.checked("always_issue_refresh_token"),
            require_pushed_authorization_requests: form.checked("require_pushed_authorization_requests"),
            dpop_bound_access_tokens: form.checked("dpop_bound_access_tokens"),
            require_signed_request_object: form.checked("require_signed_request_object"),
            backchannel_logout_uri: form.text("backchannel_logout_uri"),
            backchannel_logout_session_required: form.checked("backchannel_logout_session_required"),
            require_verified_email: form.checked("require_verified_email"),
            self_registration: form.checked("self_registration"),
            sign_in_policy: form.text("sign_in_policy"),
            app_metadata: form.get("app_metadata").unwrap_or("").to_owned(),
            jwks_uri: form.text("jwks_uri"),
            request_uris: form.get("request_uris").unwrap_or("").to_owned(),
        }
    }
}

pub(crate) fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

/// The API input of a submitted form; a malformed number or JSON names its field.
fn input(form: &FormData) -> Result<ApplicationInput, ApiError> {
    Ok(ApplicationInput {
        name: form.text("name"),
        app_type: form.text("app_type"),
        description: form.optional("description"),
        redirect_uris: form.lines("redirect_uris"),
        post_logout_redirect_uris: form.lines("post_logout_redirect_uris"),
        grant_types: Some(form.all("grant_types")),
        token_endpoint_auth_method: form.optional("token_endpoint_auth_method"),
        jwks: form.json("jwks")?,
        jwks_uri: form.optional("jwks_uri"),
        request_uris: form.lines("request_uris"),
        allowed_scopes: Some(form.all("allowed_scopes")),
        required_claims: form.all("required_claims"),
        access_token_format: form.optional("access_token_format"),
        id_token_signed_response_alg: form.optional("id_token_signed_response_alg"),
        access_token_lifetime: form.integer("access_token_lifetime")?,
        id_token_lifetime: form.integer("id_token_lifetime")?,
        refresh_token_lifetime: form.integer("refresh_token_lifetime")?,
        authorization_code_lifetime: form.integer("authorization_code_lifetime")?,
        refresh_token_retry_grace_seconds: form.integer("refresh_token_retry_grace_seconds")?,
        require_consent: Some(form.checked("require_consent")),
        always_issue_refresh_token: Some(form.checked("always_issue_refresh_token")),
        require_pushed_authorization_requests: Some(form.checked("require_pushed_authorization_requests")),
        dpop_bound_access_tokens: Some(form.checked("dpop_bound_access_tokens")),
        require_signed_request_object: Some(form.checked("require_signed_request_object")),
        backchannel_logout_uri: form.optional("backchannel_logout_uri"),
        backchannel_logout_session_required: Some(form.checked("backchannel_logout_session_required")),
        require_verified_email: Some(form.checked("require_verified_email")),
        self_registration: Some(form.checked("self_registration")),
        sign_in_policy: form.optional("sign_in_policy"),
        app_metadata: form.json("app_metadata")?,
        enabled: Some(form.checked("enabled")),
    })
}

/// The scopes and claims an application may be given, for the checkboxes.
struct Options {
    scopes: Vec<(String, String)>,
    claims: Vec<(String, String)>,
}

fn options(store: &Store) -> Result<Options, ConsoleError> {
    Ok(store.read_transaction(|c| {
        let scopes = scopes::list_scopes(c, None)?
            .into_iter()
            .map(|s| {
                let kind = match s.kind {
                    ScopeKind::Identity => "identity",
                    ScopeKind::Api => "API",
                };
                let label = format!("{} ({kind})", s.name);
                (s.name, label)
            })
            .collect();
        // `sub` and `updated_at` are Tessera's own: nobody can be asked for them.
        let claims = scopes::list_claim_types(c)?
            .into_iter()
            .filter(|t| !matches!(t.name.as_str(), "sub" | "updated_at"))
            .map(|t| {
                let label = format!("{} ({})", t.name, t.display_name);
                (t.name, label)
            })
            .collect();
        Ok(Options { scopes, claims })
    })?)
}

fn choices<'a>(all: impl IntoIterator<Item = (&'a str, &'a str)>, selected: &[String]) -> Vec<Choice> {
    all.into_iter().map(|(value, label)| Choice::new(value, label, selected.iter().any(|s| s == value))).collect()
}

fn select(name: &str, label: &str, values: &[&str], current: &str) -> Field {
    Field::select(name, label, values.iter().map(|v| Choice::new(*v, *v, *v == current)).collect())
}

fn fields(v: &Values, options: &Options) -> Vec<Field> {
    let grants: Vec<&str> = GrantType::ALL.iter().map(|g| g.as_str()).collect();
    vec![
        Field::text("name", "Name", &v.name).required().help("Shown to users on the sign-in and consent pages."),
        Field::textarea("description", "Description", &v.description),
        select("app_type", "Type", &ApplicationType::ALL.iter().map(|t| t.as_str()).collect::<Vec<_>>(), &v.app_type)
            .help("web: a server-side app with a secret; spa and native: public clients using PKCE; machine: client_credentials only."),
        Field::checkbox("enabled", "Enabled", v.enabled),
        Field::textarea("redirect_uris", "Redirect URIs", &v.redirect_uris)
            .help("One per line, matched exactly: https, or http to a loopback address."),
        Field::textarea("post_logout_redirect_uris", "Post-logout redirect URIs", &v.post_logout_redirect_uris)
            .help("One per line."),
        Field::text("backchannel_logout_uri", "Back-channel logout URI", &v.backchannel_logout_uri)
            .help("Where Tessera POSTs a logout token when a session that signed in to this application ends (OpenID Connect Back-Channel Logout): https, or http to a loopback address; empty for none."),
        Field::checkbox(
            "backchannel_logout_session_required",
            "Back-channel logout needs the session id (sid)",
            v.backchannel_logout_session_required,
        )
        .help("Tessera always sends sid; this records that the application relies on it."),
        Field::checkboxes("grant_types", "Grant types", choices(grants.iter().map(|g| (*g, *g)), &v.grant_types)),
        select(
            "token_endpoint_auth_method",
            "Client authentication",
            &ClientAuthMethod::ALL.iter().map(|m| m.as_str()).collect::<Vec<_>>(),
            &v.token_endpoint_auth_method,
        )
        .help("none for spa and native applications."),
        Field::json("jwks", "Public keys (JWK Set)", &v.jwks).help("For private_key_jwt and signed request objects: public keys, no private parts."),
        Field::text("jwks_uri", "Public keys URL (jwks_uri)", &v.jwks_uri)
            .help("Instead of Public keys: where the application publishes its JWK Set (https). Tessera fetches it, keeps it for its Cache-Control max-age (1 minute to 1 hour), and fetches it again when a signature names an unknown key."),
        Field::textarea("request_uris", "Request object URLs (request_uris)", &v.request_uris)
            .help("One per line, https: the only request_uri values Tessera fetches a signed request object from for this application (RFC 9101), matched exactly."),
        Field::checkboxes(
            "allowed_scopes",
            "Allowed scopes",
            choices(options.scopes.iter().map(|(n, l)| (n.as_str(), l.as_str())), &v.allowed_scopes),
        )
        .help("Identity scopes carry claims; API scopes come from API connections."),
        Field::checkboxes(
            "required_claims",
            "Required claims",
            choices(options.claims.iter().map(|(n, l)| (n.as_str(), l.as_str())), &v.required_claims),
        )
        .help("Users without a value are asked for it at sign-in and registration, before any code is issued."),
        select(
            "access_token_format",
            "Access token format",
            &TokenFormat::ALL.iter().map(|f| f.as_str()).collect::<Vec<_>>(),
            &v.access_token_format,
        )
        .help("jwt: self-contained (RFC 9068); reference: opaque, checked by introspection, revocable at once."),
        select(
            "id_token_signed_response_alg",
            "ID token signing algorithm",
            &SigningAlgorithm::ALL.iter().map(|a| a.as_str()).collect::<Vec<_>>(),
            &v.id_token_signed_response_alg,
        ),
        Field::number("access_token_lifetime", "Access token lifetime (seconds)", &v.access_token_lifetime),
        Field::number("id_token_lifetime", "ID token lifetime (seconds)", &v.id_token_lifetime),
        Field::number("refresh_token_lifetime", "Refresh token lifetime (seconds)", &v.refresh_token_lifetime),
        Field::number(
            "authorization_code_lifetime",
            "Authorization code lifetime (seconds)",
            &v.authorization_code_lifetime,
        ),
        Field::number(
            "refresh_token_retry_grace_seconds",
            "Refresh token retry grace (seconds)",
            &v.refresh_token_retry_grace_seconds,
        )
        .help("0 to 60; 0 turns it off. A client whose refresh answer was lost may retry with the same refresh token this long after it was used, instead of having its grant revoked."),
        Field::checkbox("require_consent", "Ask users for consent", v.require_consent),
        Field::checkbox(
            "always_issue_refresh_token",
            "Issue a refresh token without offline_access",
            v.always_issue_refresh_token,
        ),
        Field::checkbox(
            "require_pushed_authorization_requests",
            "Require pushed authorization requests (PAR)",
            v.require_pushed_authorization_requests,
        )
        .help("Sign-in requests must first be pushed to /connect/par (RFC 9126); plain ones are refused."),
        Field::checkbox("dpop_bound_access_tokens", "Require DPoP-bound tokens", v.dpop_bound_access_tokens)
            .help("Token requests without a DPoP proof (RFC 9449) are refused: every token is bound to the client's key."),
        Field::checkbox(
            "require_signed_request_object",
            "Require signed request objects (JAR)",
            v.require_signed_request_object,
        )
        .help("Sign-in requests (and pushed ones) must carry a request object signed with one of the keys in Public keys (RFC 9101); others are refused."),
        Field::checkbox("require_verified_email", "Require a verified email address", v.require_verified_email)
            .help("Users must open the link mailed to them before this application gets a code."),
        Field::checkbox("self_registration", "Offer self-registration", v.self_registration)
            .help("The sign-in page offers \"Create an account\" (when the server's registration_enabled allows it)."),
        Field::select(
            "sign_in_policy",
            "Sign-in policy",
            std::iter::once(Choice::new("", "The server's", v.sign_in_policy.is_empty()))
                .chain(tessera_domain::SignInPolicy::ALL.iter().map(|p| {
                    let label = match p {
                        tessera_domain::SignInPolicy::Password => "Password",
                        tessera_domain::SignInPolicy::SecondFactor => "Second factor required",
                        tessera_domain::SignInPolicy::Passkey => "Passkey required",
                    };
                    Choice::new(p.as_str(), label, v.sign_in_policy == p.as_str())
                }))
                .collect(),
        )
        .help("How strongly users must sign in to this application; the stricter of this and the server's sign_in_policy applies."),
        Field::json("app_metadata", "Application metadata (JSON object)", &v.app_metadata),
    ]
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
