//! `/api/v1/applications`: OAuth clients. Settings are checked with the domain rules
//! (`tessera-domain`: display names, RFC 8252/9700 redirect URIs, type/grant/auth-method
//! consistency, lifetimes) before anything is written; a confidential client's secret
//! is generated here, returned once and stored only as its SHA-256.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tessera_domain::{
    ApplicationType, ClaimName, ClientAuthMethod, DisplayName, GrantType, PostLogoutRedirectUri, RedirectUri,
    ScopeName, SigningAlgorithm, TokenFormat, TokenLifetimes,
};
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

/// Every setting of an application. On create, omitted settings take the defaults the
/// CLI uses; `PUT` replaces every setting the same way (omitted ones take defaults).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplicationInput {
    /// Shown to users on the sign-in and consent pages (1 to 200 characters).
    pub(crate) name: String,
    /// `web`, `spa`, `native` or `machine`.
    #[schema(example = "web")]
    pub(crate) app_type: String,
    /// Free text for administrators (at most 1000 characters).
    pub(crate) description: Option<String>,
    /// Matched exactly at authorize: https, or http to a loopback address.
    #[serde(default)]
    pub(crate) redirect_uris: Vec<String>,
    #[serde(default)]
    pub(crate) post_logout_redirect_uris: Vec<String>,
    /// `authorization_code`, `refresh_token`, `client_credentials`, `password`. Default:
    /// authorization_code and refresh_token; client_credentials for machine applications.
    pub(crate) grant_types: Option<Vec<String>>,
    /// `client_secret_basic`, `client_secret_post`, `private_key_jwt` or `none`. Default:
    /// client_secret_basic for web and machine, none for spa and native.
    pub(crate) token_endpoint_auth_method: Option<String>,
    /// The application's public keys (a JWK Set) for `private_key_jwt`; only public keys
    /// are accepted. On replace, leaving it out keeps the registered keys.
    #[schema(value_type = Option<Object>)]
    pub(crate) jwks: Option<Value>,
    /// Identity and API scopes the application may request. Default: `openid` (none for
    /// machine applications).
    pub(crate) allowed_scopes: Option<Vec<String>>,
    /// Claims users must fill before a code is issued.
    #[serde(default)]
    pub(crate) required_claims: Vec<String>,
    /// `jwt` (default) or `reference`.
    pub(crate) access_token_format: Option<String>,
    /// `ES256` (default), `RS256` or `EdDSA`.
    pub(crate) id_token_signed_response_alg: Option<String>,
    pub(crate) access_token_lifetime: Option<i64>,
    pub(crate) id_token_lifetime: Option<i64>,
    pub(crate) refresh_token_lifetime: Option<i64>,
    pub(crate) authorization_code_lifetime: Option<i64>,
    /// Ask users to consent (default true).
    pub(crate) require_consent: Option<bool>,
    pub(crate) always_issue_refresh_token: Option<bool>,
    /// A JSON object of your own data.
    #[schema(value_type = Option<Object>)]
    pub(crate) app_metadata: Option<Value>,
    /// Default true.
    pub(crate) enabled: Option<bool>,
}

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
    require_consent: bool,
    always_issue_refresh_token: bool,
    #[schema(value_type = Option<Object>)]
    jwks: Option<Value>,
    #[schema(value_type = Object)]
    app_metadata: Value,
    created_at: i64,
    updated_at: i64,
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

pub(crate) fn view(app: Application) -> ApplicationView {
    let s = app.settings;
    ApplicationView {
        id: app.id,
        client_id: app.client_id,
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
        require_consent: s.require_consent,
        always_issue_refresh_token: s.always_issue_refresh_token,
        jwks: s.jwks,
        app_metadata: s.app_metadata,
        created_at: app.created_at,
        updated_at: app.updated_at,
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

pub(crate) fn confidential(method: ClientAuthMethod) -> bool {
    matches!(method, ClientAuthMethod::ClientSecretBasic | ClientAuthMethod::ClientSecretPost)
}

/// Checks the input with the domain rules, in the order the CLI does; the first problem
/// names its field. `existing_jwks` keeps the JWKS of a private_key_jwt application
/// when a replacement leaves `jwks` out.
fn settings(input: ApplicationInput, existing_jwks: Option<Value>) -> Result<ApplicationSettings, ApiError> {
    let invalid = |field: &'static str| move |e: String| ApiError::invalid(field, e);
    let name = DisplayName::parse(&input.name).map_err(|e| invalid("name")(e.to_string()))?;
    let description = body::description("description", input.description)?;
    let app_type = ApplicationType::parse(&input.app_type).map_err(|e| invalid("app_type")(e.to_string()))?;
    let mut redirect_uris = Vec::new();
    for (i, raw) in input.redirect_uris.iter().enumerate() {
        let uri = RedirectUri::parse(raw, app_type)
            .map_err(|e| ApiError::invalid(format!("redirect_uris[{i}]"), e.to_string()))?;
        redirect_uris.push(uri.as_str().to_owned());
    }
    let mut post_logout_redirect_uris = Vec::new();
    for (i, raw) in input.post_logout_redirect_uris.iter().enumerate() {
        let uri = PostLogoutRedirectUri::parse(raw, app_type)
            .map_err(|e| ApiError::invalid(format!("post_logout_redirect_uris[{i}]"), e.to_string()))?;
        post_logout_redirect_uris.push(uri.as_str().to_owned());
    }
    let mut grant_types = Vec::new();
    for (i, raw) in input.grant_types.iter().flatten().enumerate() {
        let grant = GrantType::parse(raw).map_err(|e| ApiError::invalid(format!("grant_types[{i}]"), e.to_string()))?;
        if !grant_types.contains(&grant) {
            grant_types.push(grant);
        }
    }
    if input.grant_types.is_none() {
        grant_types = app_type.default_grant_types();
    }
    let auth_method = match &input.token_endpoint_auth_method {
        Some(raw) => ClientAuthMethod::parse(raw).map_err(|e| invalid("token_endpoint_auth_method")(e.to_string()))?,
        None => app_type.default_auth_method(),
    };
    let mut allowed_scopes = Vec::new();
    for (i, raw) in input.allowed_scopes.iter().flatten().enumerate() {
        let scope =
            ScopeName::parse(raw).map_err(|e| ApiError::invalid(format!("allowed_scopes[{i}]"), e.to_string()))?;
        allowed_scopes.push(scope.into_string());
    }
    if input.allowed_scopes.is_none() {
        allowed_scopes = app_type.default_allowed_scopes();
    }
    let mut required_claims = Vec::new();
    for (i, raw) in input.required_claims.iter().enumerate() {
        let claim =
            ClaimName::parse(raw).map_err(|e| ApiError::invalid(format!("required_claims[{i}]"), e.to_string()))?;
        required_claims.push(claim.as_str().to_owned());
    }
    let jwks = match input.jwks {
        Some(jwks) => {
            tessera_domain::check_jwks(&jwks).map_err(|e| ApiError::invalid("jwks", e))?;
            Some(jwks)
        }
        // A replacement that does not mention the keys keeps the registered ones.
        None => existing_jwks.filter(|_| auth_method == ClientAuthMethod::PrivateKeyJwt),
    };
    let always_issue_refresh_token = input.always_issue_refresh_token.unwrap_or(false);
    tessera_domain::ApplicationSettings {
        app_type,
        auth_method,
        grant_types: &grant_types,
        redirect_uri_count: redirect_uris.len(),
        post_logout_redirect_uri_count: post_logout_redirect_uris.len(),
        required_claim_count: required_claims.len(),
        always_issue_refresh_token,
        has_jwks: jwks.is_some(),
    }
    .validate()
    .map_err(|e| ApiError::invalid(e.field(), e.to_string()))?;
    let access_token_format = match &input.access_token_format {
        Some(raw) => TokenFormat::parse(raw).map_err(|e| invalid("access_token_format")(e.to_string()))?,
        None => TokenFormat::default(),
    };
    let id_token_signed_response_alg = match &input.id_token_signed_response_alg {
        Some(raw) => {
            SigningAlgorithm::parse(raw).map_err(|e| invalid("id_token_signed_response_alg")(e.to_string()))?
        }
        None => SigningAlgorithm::default(),
    };
    let defaults = TokenLifetimes::default();
    let lifetimes = TokenLifetimes {
        access_token: input.access_token_lifetime.unwrap_or(defaults.access_token),
        id_token: input.id_token_lifetime.unwrap_or(defaults.id_token),
        refresh_token: input.refresh_token_lifetime.unwrap_or(defaults.refresh_token),
        authorization_code: input.authorization_code_lifetime.unwrap_or(defaults.authorization_code),
    };
    lifetimes.validate().map_err(|e| ApiError::invalid(format!("{}_lifetime", e.field()), e.to_string()))?;
    let app_metadata = match input.app_metadata {
        Some(value) => body::json_object("app_metadata", value)?,
        None => Value::Object(Map::new()),
    };
    Ok(ApplicationSettings {
        name: name.into_string(),
        description,
        app_type,
        token_endpoint_auth_method: auth_method,
        grant_types,
        access_token_format,
        id_token_signed_response_alg,
        lifetimes,
        require_consent: input.require_consent.unwrap_or(true),
        always_issue_refresh_token,
        jwks,
        app_metadata,
        enabled: input.enabled.unwrap_or(true),
        redirect_uris,
        post_logout_redirect_uris,
        allowed_scopes,
        required_claims,
    })
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
pub async fn create(store: web::Data<Store>, caller: Caller, bytes: web::Bytes) -> Result<HttpResponse, ApiError> {
    let input = body::parse(&bytes)?;
    let (app, secret) = blocking(move || create_application(&store, &caller, input)).await?;
    let body = ApplicationWithSecret { application: view(app), client_secret: secret.map(|s| s.expose().to_owned()) };
    Ok(HttpResponse::Created().json(body))
}

/// Creates an application from `input`; a confidential client's secret is returned this
/// once. Shared by the API and the console.
pub(crate) fn create_application(
    store: &Store,
    who: &dyn Actor,
    input: ApplicationInput,
) -> Result<(Application, Option<Secret>), ApiError> {
    let settings = settings(input, None)?;
    let secret: Option<Secret> = confidential(settings.token_endpoint_auth_method).then(generate_secret);
    let hash = secret.as_ref().map(|s| s.hash());
    let now = super::now();
    let app = store.write_transaction(|c| {
        let client_id = tessera_tokens::generate_client_id();
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
pub async fn get(store: web::Data<Store>, _caller: Caller, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let app = blocking(move || Ok(store.read_transaction(|c| applications::get(c, &id))?)).await?;
    Ok(HttpResponse::Ok().json(view(app)))
}

#[utoipa::path(put, path = "/api/v1/applications/{id}", tag = "applications", params(("id" = String, Path)),
    request_body = ApplicationInput,
    responses((status = 200, body = ApplicationView), (status = 404, body = super::ErrorBody)))]
pub async fn replace(
    store: web::Data<Store>,
    caller: Caller,
    id: web::Path<String>,
    bytes: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let input: ApplicationInput = body::parse(&bytes)?;
    let updated = blocking(move || replace_application(&store, &caller, &id, input)).await?;
    Ok(HttpResponse::Ok().json(view(updated)))
}

/// Replaces every setting of application `id`. Shared by the API and the console.
pub(crate) fn replace_application(
    store: &Store,
    who: &dyn Actor,
    id: &str,
    input: ApplicationInput,
) -> Result<Application, ApiError> {
    let now = super::now();
    let existing = store.read_transaction(|c| applications::get(c, id))?;
    let settings = settings(input, existing.settings.jwks.clone())?;
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
pub async fn delete(store: web::Data<Store>, caller: Caller, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    blocking(move || delete_application(&store, &caller, &id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Deletes application `id` (its grants and tokens go with it).
pub(crate) fn delete_application(store: &Store, who: &dyn Actor, id: &str) -> Result<(), ApiError> {
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
    id: web::Path<String>,
    bytes: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let grace = body::parse_optional::<RotateSecret>(&bytes)?.grace()?;
    let (app, secret) = blocking(move || regenerate_application_secret(&store, &caller, &id, grace)).await?;
    Ok(HttpResponse::Ok()
        .json(ApplicationWithSecret { application: view(app), client_secret: Some(secret.expose().to_owned()) }))
}

/// Issues a new secret for application `id`, the current ones valid `grace` seconds more.
pub(crate) fn regenerate_application_secret(
    store: &Store,
    who: &dyn Actor,
    id: &str,
    grace: i64,
) -> Result<(Application, Secret), ApiError> {
    let secret = generate_secret();
    let hash = secret.hash();
    let now = super::now();
    let app = store.read_transaction(|c| applications::get(c, id))?;
    if !confidential(app.settings.token_endpoint_auth_method) {
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
