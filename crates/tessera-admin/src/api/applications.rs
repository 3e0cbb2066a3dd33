//! `/api/v1/applications`: OAuth clients. Settings are checked with the domain rules
//! (`tessera-domain`: display names, RFC 8252/9700 redirect URIs, type/grant/auth-method
//! consistency, lifetimes) before anything is written; a confidential client's secret
//! is generated here, returned once and stored only as its SHA-256.

use actix_web::{HttpResponse, web};
use serde::Serialize;
use serde_json::{Value, json};
use tessera_outbound::PrivateHosts;
use tessera_store::applications::{self, Application, ApplicationSettings};
use tessera_store::{Store, grants};
use tessera_tokens::{Secret, generate_secret};
use utoipa::ToSchema;

use super::auth::Caller;
use super::body::{self, PageQuery, RotateSecret, blocking, page_schema};
use super::changes::{self, Actor};
use super::error::ApiError;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/applications", web::get().to(list))
        .route("/applications", web::post().to(create))
        .route("/applications/{id}", web::get().to(get))
        .route("/applications/{id}", web::put().to(replace))
        .route("/applications/{id}", web::delete().to(delete))
        .route("/applications/{id}/secret", web::post().to(regenerate_secret));
}

/// Every setting of an application: the domain's one settings input. On create, omitted
/// settings take their defaults; `PUT` replaces every setting the same way.
pub use tessera_domain::ApplicationInput;
use tessera_domain::{ApplicationId, ClientId};

/// An application as the API shows it: never a secret or a secret hash.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApplicationView {
    id: String,
    client_id: String,
    name: String,
    description: String,
    app_type: String,
    enabled: bool,
    token_endpoint_auth_method: String,
    grant_types: Vec<String>,
    redirect_uris: Vec<String>,
    post_logout_redirect_uris: Vec<String>,
    allowed_scopes: Vec<String>,
    required_claims: Vec<String>,
    access_token_format: String,
    id_token_signed_response_alg: String,
    access_token_lifetime: i64,
    id_token_lifetime: i64,
    refresh_token_lifetime: i64,
    authorization_code_lifetime: i64,
    refresh_token_retry_grace_seconds: i64,
    require_consent: bool,
    always_issue_refresh_token: bool,
    require_pushed_authorization_requests: bool,
    dpop_bound_access_tokens: bool,
    require_signed_request_object: bool,
    /// OIDC Back-Channel Logout 1.0: where logout tokens go, if anywhere.
    backchannel_logout_uri: Option<String>,
    backchannel_logout_session_required: bool,
    require_verified_email: bool,
    self_registration: bool,
    /// `password`, `second_factor` or `passkey`; null: the server's `sign_in_policy`
    /// (the stricter of the two applies).
    sign_in_policy: Option<String>,
    #[schema(value_type = Option<Object>)]
    jwks: Option<Value>,
    /// RFC 7591 §2: where the application publishes its keys instead of `jwks`.
    jwks_uri: Option<String>,
    /// RFC 9101 §5.2: the request object URLs Tessera may fetch for this application.
    request_uris: Vec<String>,
    #[schema(value_type = Object)]
    app_metadata: Value,
    created_at: i64,
    updated_at: i64,
    /// How the client registered itself: `dynamic` (RFC 7591) or `metadata_document`
    /// (a Client ID Metadata Document); null when an administrator created it.
    registration: Option<String>,
}

/// The answer to create and secret regeneration: the application and, for confidential
/// clients, `client_secret`, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApplicationWithSecret {
    #[serde(flatten)]
    application: ApplicationView,
    client_secret: Option<String>,
}

page_schema!(ApplicationPage, ApplicationView);

pub fn view(app: Application) -> ApplicationView {
    let s = app.settings;
    ApplicationView {
        id: app.id.into_string(),
        client_id: app.client_id.into_string(),
        name: s.name,
        description: s.description,
        app_type: s.app_type.as_str().to_owned(),
        enabled: s.enabled,
        token_endpoint_auth_method: s.token_endpoint_auth_method.as_str().to_owned(),
        grant_types: s.grant_types.iter().map(|g| g.as_str().to_owned()).collect(),
        redirect_uris: s.redirect_uris,
        post_logout_redirect_uris: s.post_logout_redirect_uris,
        allowed_scopes: s.allowed_scopes,
        required_claims: s.required_claims,
        access_token_format: s.access_token_format.as_str().to_owned(),
        id_token_signed_response_alg: s.id_token_signed_response_alg.as_str().to_owned(),
        access_token_lifetime: s.lifetimes.access_token,
        id_token_lifetime: s.lifetimes.id_token,
        refresh_token_lifetime: s.lifetimes.refresh_token,
        authorization_code_lifetime: s.lifetimes.authorization_code,
        refresh_token_retry_grace_seconds: s.lifetimes.refresh_token_retry_grace,
        require_consent: s.require_consent,
        always_issue_refresh_token: s.always_issue_refresh_token,
        require_pushed_authorization_requests: s.require_pushed_authorization_requests,
        dpop_bound_access_tokens: s.dpop_bound_access_tokens,
        require_signed_request_object: s.require_signed_request_object,
        backchannel_logout_uri: s.backchannel_logout_uri,
        backchannel_logout_session_required: s.backchannel_logout_session_required,
        require_verified_email: s.require_verified_email,
        self_registration: s.self_registration,
        sign_in_policy: s.sign_in_policy.map(|p| p.as_str().to_owned()),
        jwks: s.jwks,
        jwks_uri: s.jwks_uri,
        request_uris: s.request_uris,
        app_metadata: s.app_metadata,
        created_at: app.created_at,
        updated_at: app.updated_at,
        registration: app.registration.map(|r| r.as_str().to_owned()),
    }
}

/// What the audit log keeps of an application: its settings, no secret.
fn summary(app: &Application) -> Value {
    let mut value = serde_json::to_value(view(app.clone())).unwrap_or(Value::Null);
    if let Some(map) = value.as_object_mut() {
        map.remove("created_at");
        map.remove("updated_at");
    }
    value
}

/// The domain's one parser; its error names the field as this API spells it. The URLs
/// Tessera will fetch for the application (`jwks_uri`, `request_uris`) must also pass the
/// outbound guard (`hosts`: the operator's `outbound_private_hosts`), so that a URL that
/// could never be fetched is refused now rather than at sign-in.
fn settings(
    input: ApplicationInput,
    existing_jwks: Option<Value>,
    hosts: &PrivateHosts,
) -> Result<ApplicationSettings, ApiError> {
    let settings = input.into_settings(existing_jwks).map_err(ApiError::from)?;
    let admit = |field: String, raw: &str| -> Result<(), ApiError> {
        let url = url::Url::parse(raw).map_err(|e| ApiError::invalid(field.clone(), format!("{raw}: {e}")))?;
        hosts.admit(&url).map_err(|reason| ApiError::invalid(field, format!("{raw} cannot be fetched: {reason}")))
    };
    if let Some(uri) = &settings.jwks_uri {
        admit("jwks_uri".into(), uri)?;
    }
    for (i, uri) in settings.request_uris.iter().enumerate() {
        admit(format!("request_uris[{i}]"), uri)?;
    }
    Ok(settings)
}

#[utoipa::path(get, path = "/api/v1/applications", tag = "applications", params(PageQuery),
    responses((status = 200, body = ApplicationPage)))]
pub async fn list(
    store: web::Data<Store>,
    _caller: Caller,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = query.page()?;
    let paged = blocking(move || Ok(store.read_transaction(|c| applications::list(c, &page))?)).await?;
    Ok(HttpResponse::Ok().json(body::PageOf::of(paged, view)))
}

#[utoipa::path(post, path = "/api/v1/applications", tag = "applications", request_body = ApplicationInput,
    responses((status = 201, body = ApplicationWithSecret), (status = 409, body = super::ErrorBody)))]
pub async fn create(
    store: web::Data<Store>,
    hosts: web::Data<PrivateHosts>,
    caller: Caller,
    bytes: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let input = body::parse(&bytes)?;
    let (app, secret) = blocking(move || create_application(&store, &hosts, &caller, None, input)).await?;
    let body = ApplicationWithSecret { application: view(app), client_secret: secret.map(|s| s.expose().to_owned()) };
    Ok(HttpResponse::Created().json(body))
}

/// Creates an application from `input`, with `client_id` or a generated one; a
/// confidential client's secret is returned this once. Shared by the API, the console
/// and the CLI (only the CLI chooses client ids).
pub fn create_application(
    store: &Store,
    hosts: &PrivateHosts,
    who: &dyn Actor,
    client_id: Option<&str>,
    input: ApplicationInput,
) -> Result<(Application, Option<Secret>), ApiError> {
    let settings = settings(input, None, hosts)?;
    let client_id = match client_id {
        Some(id) => {
            tessera_domain::check_client_id(id).map_err(|e| ApiError::invalid("client_id", e))?;
            ClientId::from(id)
        }
        None => ClientId::from(tessera_tokens::generate_client_id()),
    };
    let secret: Option<Secret> = settings.uses_client_secret().then(generate_secret);
    let hash = secret.as_ref().map(|s| s.hash());
    let now = super::now();
    let app = store.write_transaction(|c| {
        let app = applications::create(c, &client_id, &settings, hash.as_ref().map(|h| h.as_str()), now)?;
        let mut summary = summary(&app);
        summary["secret_issued"] = json!(hash.is_some());
        changes::record(c, who, "application.create", &format!("application:{}", app.id), summary, now)?;
        Ok(app)
    })?;
    Ok((app, secret))
}

#[utoipa::path(get, path = "/api/v1/applications/{id}", tag = "applications", params(("id" = String, Path)),
    responses((status = 200, body = ApplicationView), (status = 404, body = super::ErrorBody)))]
pub async fn get(
    store: web::Data<Store>,
    _caller: Caller,
    id: web::Path<ApplicationId>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let app = blocking(move || Ok(store.read_transaction(|c| applications::get(c, &id))?)).await?;
    Ok(HttpResponse::Ok().json(view(app)))
}

#[utoipa::path(put, path = "/api/v1/applications/{id}", tag = "applications", params(("id" = String, Path)),
    request_body = ApplicationInput,
    responses((status = 200, body = ApplicationView), (status = 404, body = super::ErrorBody)))]
pub async fn replace(
    store: web::Data<Store>,
    hosts: web::Data<PrivateHosts>,
    caller: Caller,
    id: web::Path<ApplicationId>,
    bytes: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let input: ApplicationInput = body::parse(&bytes)?;
    let updated = blocking(move || replace_application(&store, &hosts, &caller, &id, input)).await?;
    Ok(HttpResponse::Ok().json(view(updated)))
}

/// Replaces every setting of application `id`. Shared by the API and the console.
pub fn replace_application(
    store: &Store,
    hosts: &PrivateHosts,
    who: &dyn Actor,
    id: &ApplicationId,
    input: ApplicationInput,
) -> Result<Application, ApiError> {
    let now = super::now();
    let existing = store.read_transaction(|c| applications::get(c, id))?;
    let settings = settings(input, existing.settings.jwks.clone(), hosts)?;
    Ok(store.write_transaction(|c| {
        let app = applications::update(c, id, &settings, now)?;
        let mut summary = json!({ "before": summary(&existing), "after": summary(&app) });
        // Disabling ends every token of the application at once; enabling it again
        // restores none of them.
        if existing.settings.enabled && !app.settings.enabled {
            summary["access_ended"] = json!(grants::end_access_of_application(c, &app.id, now)?);
        }
        changes::record(c, who, "application.update", &format!("application:{}", app.id), summary, now)?;
        Ok(app)
    })?)
}

#[utoipa::path(delete, path = "/api/v1/applications/{id}", tag = "applications", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = super::ErrorBody)))]
pub async fn delete(
    store: web::Data<Store>,
    caller: Caller,
    id: web::Path<ApplicationId>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    blocking(move || delete_application(&store, &caller, &id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Deletes application `id` (its grants and tokens go with it).
pub fn delete_application(store: &Store, who: &dyn Actor, id: &ApplicationId) -> Result<(), ApiError> {
    let now = super::now();
    Ok(store.write_transaction(|c| {
        let app = applications::get(c, id)?;
        let ended = grants::end_access_of_application(c, id, now)?;
        applications::delete(c, id)?;
        let summary = json!({ "client_id": app.client_id, "name": app.settings.name, "access_ended": ended });
        changes::record(c, who, "application.delete", &format!("application:{id}"), summary, now)
    })?)
}

/// Issues a new client secret (confidential clients only), shown once; the current
/// secrets stay valid for `grace_period_seconds` (default 0: they end at once).
#[utoipa::path(post, path = "/api/v1/applications/{id}/secret", tag = "applications", params(("id" = String, Path)),
    request_body(content = Option<RotateSecret>),
    responses((status = 200, body = ApplicationWithSecret), (status = 404, body = super::ErrorBody),
        (status = 409, body = super::ErrorBody)))]
pub async fn regenerate_secret(
    store: web::Data<Store>,
    caller: Caller,
    id: web::Path<ApplicationId>,
    bytes: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let grace = body::parse_optional::<RotateSecret>(&bytes)?.grace()?;
    let (app, secret) = blocking(move || regenerate_application_secret(&store, &caller, &id, grace)).await?;
    Ok(HttpResponse::Ok()
        .json(ApplicationWithSecret { application: view(app), client_secret: Some(secret.expose().to_owned()) }))
}

/// Issues a new secret for application `id`, the current ones valid `grace` seconds more.
pub fn regenerate_application_secret(
    store: &Store,
    who: &dyn Actor,
    id: &ApplicationId,
    grace: i64,
) -> Result<(Application, Secret), ApiError> {
    let secret = generate_secret();
    let hash = secret.hash();
    let now = super::now();
    let app = store.read_transaction(|c| applications::get(c, id))?;
    if !app.settings.uses_client_secret() {
        return Err(ApiError::conflict(
            "token_endpoint_auth_method",
            format!(
                "the application authenticates with {}, not with a client secret",
                app.settings.token_endpoint_auth_method
            ),
        ));
    }
    store.write_transaction(|c| {
        applications::rotate_secret(c, id, hash.as_str(), now + grace, now)?;
        let summary = json!({ "secret_issued": true, "grace_period_seconds": grace });
        changes::record(c, who, "application.rotate_secret", &format!("application:{id}"), summary, now)
    })?;
    Ok((app, secret))
}
