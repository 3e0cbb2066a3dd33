//! `/api/v1/claim-mappings`: rules that put user data (or, for machine tokens, the
//! application's metadata) into token claims without code, and the declarations of where
//! a script's claims go (source `script`). Each names its source and path, its claim
//! (optionally under a namespace), its outputs and its freshness, and applies to every
//! application or to one. See `docs/custom-claims.md`.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tessera_domain::{ApplicationId, ClaimRule, ClaimRuleInput, MappingSource, TokenSubject};
use tessera_store::Store;
use tessera_store::mappings::{self, ClaimMapping};
use utoipa::{IntoParams, ToSchema};

use super::auth::Caller;
use super::body::{self, blocking, page_schema};
use super::changes::{self, Actor};
use super::error::ApiError;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/claim-mappings", web::get().to(list))
        .route("/claim-mappings", web::post().to(create))
        .route("/claim-mappings/{id}", web::get().to(get))
        .route("/claim-mappings/{id}", web::put().to(replace))
        .route("/claim-mappings/{id}", web::delete().to(delete));
}

/// A rule as created or replaced.
#[derive(Debug, Default, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MappingBody {
    /// The application the rule is for; absent: every application. Fixed once created.
    pub(crate) application_id: Option<String>,
    /// `user` (tokens of a user's grant) or `machine` (client credentials).
    #[schema(example = "user")]
    pub(crate) subject: String,
    /// `claim`, `app_metadata`, `user_metadata`, `roles`, `organization_id`,
    /// `organization_name`, `organization_roles`, `application_metadata` or `script`.
    #[schema(example = "app_metadata")]
    pub(crate) source: String,
    /// A claim type's name (`claim`), a JSON pointer (`app_metadata`, `user_metadata`,
    /// `application_metadata`), an organization's name (the `organization_*` sources,
    /// optional); none for `roles` and `script`.
    #[schema(example = "/plan")]
    pub(crate) path: Option<String>,
    /// An http or https URL the name is put under, e.g. `https://example.com/`.
    pub(crate) namespace: Option<String>,
    /// The claim's name (under the namespace, if any).
    #[schema(example = "plan")]
    pub(crate) name: String,
    /// `id_token`, `access_token`, `userinfo`, `introspection`. Default: all four for user
    /// tokens; machine tokens have only `access_token` and `introspection`.
    pub(crate) outputs: Option<Vec<String>>,
    /// `refresh` (default: computed at every issuance) or `grant` (fixed when the grant
    /// is made).
    pub(crate) freshness: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MappingView {
    id: String,
    /// `null`: every application.
    application_id: Option<String>,
    subject: String,
    source: String,
    path: String,
    namespace: Option<String>,
    name: String,
    /// The claim's full name: the namespace and the name.
    claim: String,
    outputs: Vec<String>,
    freshness: String,
    created_at: i64,
    updated_at: i64,
}

page_schema!(MappingPage, MappingView);

pub(crate) fn view(m: ClaimMapping) -> MappingView {
    MappingView {
        id: m.id,
        application_id: m.application_id.map(ApplicationId::into_string),
        subject: m.rule.subject.as_str().to_owned(),
        source: m.rule.source.name().to_owned(),
        path: m.rule.source.path().to_owned(),
        namespace: m.rule.namespace.clone(),
        name: m.rule.name.clone(),
        claim: m.rule.claim.clone(),
        outputs: m.rule.outputs.iter().map(|o| o.as_str().to_owned()).collect(),
        freshness: m.rule.freshness.as_str().to_owned(),
        created_at: m.created_at,
        updated_at: m.updated_at,
    }
}

/// `?application_id=` lists one application's own rules; `?limit=&after=` pages.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MappingQuery {
    /// Only this application's own rules.
    pub application_id: Option<String>,
    /// How many items to return: 1 to 500 (default 50).
    pub limit: Option<String>,
    /// The `next` cursor of the previous page.
    pub after: Option<String>,
}

/// Checks a rule with the domain rules and against the configuration: a `claim` source
/// names an existing claim type, and a user rule's claim is not a claim type's name
/// (those reach tokens through identity scopes; a namespace keeps them apart).
fn rule(store: &Store, input: &MappingBody) -> Result<ClaimRule, ApiError> {
    let outputs = input.outputs.clone().unwrap_or_default();
    let rule = ClaimRule::parse(&ClaimRuleInput {
        subject: &input.subject,
        source: &input.source,
        path: input.path.as_deref().unwrap_or(""),
        namespace: input.namespace.as_deref().unwrap_or(""),
        name: &input.name,
        outputs: &outputs,
        freshness: input.freshness.as_deref().unwrap_or(""),
    })
    .map_err(|e| ApiError::invalid(e.field, e.message))?;
    if input.outputs.as_ref().is_some_and(Vec::is_empty) {
        return Err(ApiError::invalid("outputs", "choose at least one output"));
    }
    let config = store.config()?;
    let types = config.claim_types();
    if let MappingSource::Claim(name) = &rule.source
        && !types.iter().any(|t| &t.name == name)
    {
        return Err(ApiError::invalid("path", format!("there is no claim type named {name}")));
    }
    if rule.subject == TokenSubject::User && types.iter().any(|t| t.name == rule.claim) {
        return Err(ApiError::invalid(
            "name",
            format!(
                "{} is a claim type: its value reaches tokens through identity scopes; choose another name or a namespace",
                rule.claim
            ),
        ));
    }
    Ok(rule)
}

fn summary(m: &ClaimMapping) -> serde_json::Value {
    json!({
        "application_id": m.application_id,
        "subject": m.rule.subject.as_str(),
        "source": m.rule.source.name(),
        "path": m.rule.source.path(),
        "claim": m.rule.claim,
        "outputs": m.rule.outputs.to_text(),
        "freshness": m.rule.freshness.as_str(),
    })
}

/// By id (creation order); the cursor is the last id.
#[utoipa::path(get, path = "/api/v1/claim-mappings", tag = "claim mappings", params(MappingQuery),
    responses((status = 200, body = MappingPage)))]
pub async fn list(
    store: web::Data<Store>,
    _caller: Caller,
    query: web::Query<MappingQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let page = body::page(query.limit.as_deref(), query.after)?;
    let application = query.application_id.map(ApplicationId::from);
    let paged =
        blocking(move || Ok(store.read_transaction(|c| mappings::list(c, application.as_ref(), &page))?)).await?;
    Ok(HttpResponse::Ok().json(body::PageOf::of(paged, view)))
}

#[utoipa::path(post, path = "/api/v1/claim-mappings", tag = "claim mappings", request_body = MappingBody,
    responses((status = 201, body = MappingView), (status = 400, body = super::ErrorBody),
        (status = 409, body = super::ErrorBody)))]
pub async fn create(store: web::Data<Store>, caller: Caller, bytes: web::Bytes) -> Result<HttpResponse, ApiError> {
    let input: MappingBody = body::parse(&bytes)?;
    let created = blocking(move || create_mapping(&store, &caller, &input)).await?;
    Ok(HttpResponse::Created().json(view(created)))
}

/// Creates a rule. Shared by the API and the console.
pub(crate) fn create_mapping(store: &Store, who: &dyn Actor, input: &MappingBody) -> Result<ClaimMapping, ApiError> {
    let rule = rule(store, input)?;
    let application = input.application_id.as_deref().map(str::trim).filter(|a| !a.is_empty()).map(ApplicationId::from);
    let now = super::now();
    Ok(store.write_transaction(|c| {
        let created = mappings::create(c, application.as_ref(), &rule, now)?;
        changes::record(
            c,
            who,
            "claim_mapping.create",
            &format!("claim_mapping:{}", created.id),
            summary(&created),
            now,
        )?;
        Ok(created)
    })?)
}

#[utoipa::path(get, path = "/api/v1/claim-mappings/{id}", tag = "claim mappings", params(("id" = String, Path)),
    responses((status = 200, body = MappingView), (status = 404, body = super::ErrorBody)))]
pub async fn get(store: web::Data<Store>, _caller: Caller, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let found = blocking(move || Ok(store.read_transaction(|c| mappings::get(c, &id))?)).await?;
    Ok(HttpResponse::Ok().json(view(found)))
}

/// Replaces a rule; its application cannot change (`application_id`, if given, must be
/// the rule's own).
#[utoipa::path(put, path = "/api/v1/claim-mappings/{id}", tag = "claim mappings", params(("id" = String, Path)),
    request_body = MappingBody,
    responses((status = 200, body = MappingView), (status = 400, body = super::ErrorBody),
        (status = 404, body = super::ErrorBody), (status = 409, body = super::ErrorBody)))]
pub async fn replace(
    store: web::Data<Store>,
    caller: Caller,
    id: web::Path<String>,
    bytes: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let input: MappingBody = body::parse(&bytes)?;
    let updated = blocking(move || update_mapping(&store, &caller, &id, &input)).await?;
    Ok(HttpResponse::Ok().json(view(updated)))
}

/// Replaces rule `id`. Shared by the API and the console.
pub(crate) fn update_mapping(
    store: &Store,
    who: &dyn Actor,
    id: &str,
    input: &MappingBody,
) -> Result<ClaimMapping, ApiError> {
    let rule = rule(store, input)?;
    let now = super::now();
    let result: Result<Result<ClaimMapping, ApiError>, tessera_store::StoreError> = store.write_transaction(|c| {
        let before = mappings::get(c, id)?;
        let given = input.application_id.as_deref().map(str::trim).filter(|a| !a.is_empty());
        if given.is_some() && given != before.application_id.as_ref().map(ApplicationId::as_str) {
            return Ok(Err(ApiError::invalid("application_id", "a rule's application cannot change; create another")));
        }
        let after = mappings::update(c, id, &rule, now)?;
        let summary = json!({ "before": summary(&before), "after": summary(&after) });
        changes::record(c, who, "claim_mapping.update", &format!("claim_mapping:{id}"), summary, now)?;
        Ok(Ok(after))
    });
    result?
}

#[utoipa::path(delete, path = "/api/v1/claim-mappings/{id}", tag = "claim mappings", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = super::ErrorBody)))]
pub async fn delete(store: web::Data<Store>, caller: Caller, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    blocking(move || delete_mapping(&store, &caller, &id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Deletes rule `id`. Shared by the API and the console.
pub(crate) fn delete_mapping(store: &Store, who: &dyn Actor, id: &str) -> Result<(), ApiError> {
    let now = super::now();
    Ok(store.write_transaction(|c| {
        let before = mappings::get(c, id)?;
        mappings::delete(c, id)?;
        changes::record(c, who, "claim_mapping.delete", &format!("claim_mapping:{id}"), summary(&before), now)
    })?)
}
