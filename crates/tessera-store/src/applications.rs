//! Applications (OAuth clients) with their redirect URIs, allowed scopes, required
//! claims and secrets.

use std::str::FromStr;

use diesel::prelude::*;
use serde_json::Value;
use tessera_domain::TokenLifetimes;
use tessera_domain::{ApplicationId, ClientId, GrantType};

use crate::error::found;
use crate::page::{Page, Paged};
use crate::schema::{
    application_redirect_uris, application_required_claims, application_scopes, application_secrets, applications,
    claim_types, scopes,
};
use crate::{AnyConnection, StoreError, StoreResult, new_id};

/// Every setting of an application, checked by the domain's one parser
/// ([`tessera_domain::ApplicationInput::into_settings`]).
pub use tessera_domain::ApplicationSettings;

#[derive(Debug, Clone, PartialEq)]
pub struct Application {
    pub id: ApplicationId,
    pub client_id: ClientId,
    pub settings: ApplicationSettings,
    pub created_at: i64,
    pub updated_at: i64,
    /// How the application was registered, when not by an administrator.
    pub registration: Option<RegistrationKind>,
}

/// How a client registered itself (docs/applications.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistrationKind {
    /// RFC 7591: through `POST /connect/register`.
    Dynamic,
    /// draft-ietf-oauth-client-id-metadata-document: its `client_id` is the https URL of
    /// its metadata, which Tessera fetched.
    MetadataDocument,
}

impl RegistrationKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            RegistrationKind::Dynamic => "dynamic",
            RegistrationKind::MetadataDocument => "metadata_document",
        }
    }

    fn parse(raw: &str) -> StoreResult<RegistrationKind> {
        match raw {
            "dynamic" => Ok(RegistrationKind::Dynamic),
            "metadata_document" => Ok(RegistrationKind::MetadataDocument),
            other => Err(StoreError::Corrupt(format!("application registration {other:?}"))),
        }
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = applications)]
struct Row {
    id: String,
    client_id: String,
    name: String,
    description: String,
    app_type: String,
    token_endpoint_auth_method: String,
    grant_types: String,
    access_token_format: String,
    id_token_signed_response_alg: String,
    access_token_lifetime: i64,
    id_token_lifetime: i64,
    refresh_token_lifetime: i64,
    authorization_code_lifetime: i64,
    require_consent: bool,
    always_issue_refresh_token: bool,
    jwks: Option<String>,
    app_metadata: String,
    enabled: bool,
    created_at: i64,
    updated_at: i64,
    refresh_token_retry_grace_seconds: i64,
    require_pushed_authorization_requests: bool,
    dpop_bound_access_tokens: bool,
    require_signed_request_object: bool,
    backchannel_logout_uri: Option<String>,
    backchannel_logout_session_required: bool,
    require_verified_email: bool,
    self_registration: bool,
    registration: Option<String>,
    jwks_uri: Option<String>,
    request_uris: String,
    sign_in_policy: Option<String>,
}

fn parse<T: FromStr>(field: &str, value: &str) -> StoreResult<T> {
    T::from_str(value).map_err(|_| StoreError::Corrupt(format!("application {field} {value:?}")))
}

fn lifetime(field: &str, seconds: i64) -> StoreResult<i64> {
    if seconds <= 0 {
        return Err(StoreError::Corrupt(format!("application {field} {seconds}")));
    }
    Ok(seconds)
}

/// Creates an application with `client_id` and, for confidential clients, its first
/// secret (`secret_hash`: the SHA-256 of a generated secret).
pub fn create(
    conn: &mut AnyConnection,
    client_id: &ClientId,
    settings: &ApplicationSettings,
    secret_hash: Option<&str>,
    now: i64,
) -> StoreResult<Application> {
    crate::config_changes::mark();
    let id = ApplicationId::from(new_id());
    diesel::insert_into(applications::table)
        .values((
            applications::id.eq(id.as_str()),
            applications::client_id.eq(client_id.as_str()),
            applications::created_at.eq(now),
            columns(settings, now),
        ))
        .execute(conn)?;
    write_lists(conn, id.as_str(), settings)?;
    if let Some(hash) = secret_hash {
        add_secret(conn, &id, hash, None, now)?;
    }
    get(conn, &id)
}

/// The settings columns, shared by create and update.
#[allow(clippy::type_complexity)]
fn columns(
    s: &ApplicationSettings,
    now: i64,
) -> (
    diesel::dsl::Eq<applications::name, String>,
    diesel::dsl::Eq<applications::description, String>,
    diesel::dsl::Eq<applications::app_type, &'static str>,
    diesel::dsl::Eq<applications::token_endpoint_auth_method, &'static str>,
    diesel::dsl::Eq<applications::grant_types, String>,
    diesel::dsl::Eq<applications::access_token_format, &'static str>,
    diesel::dsl::Eq<applications::id_token_signed_response_alg, &'static str>,
    diesel::dsl::Eq<applications::access_token_lifetime, i64>,
    diesel::dsl::Eq<applications::id_token_lifetime, i64>,
    diesel::dsl::Eq<applications::refresh_token_lifetime, i64>,
    diesel::dsl::Eq<applications::authorization_code_lifetime, i64>,
    diesel::dsl::Eq<applications::require_consent, bool>,
    diesel::dsl::Eq<applications::always_issue_refresh_token, bool>,
    diesel::dsl::Eq<applications::jwks, Option<String>>,
    diesel::dsl::Eq<applications::app_metadata, String>,
    (
        diesel::dsl::Eq<applications::enabled, bool>,
        diesel::dsl::Eq<applications::updated_at, i64>,
        diesel::dsl::Eq<applications::refresh_token_retry_grace_seconds, i64>,
        diesel::dsl::Eq<applications::require_pushed_authorization_requests, bool>,
        diesel::dsl::Eq<applications::dpop_bound_access_tokens, bool>,
        diesel::dsl::Eq<applications::require_signed_request_object, bool>,
        diesel::dsl::Eq<applications::backchannel_logout_uri, Option<String>>,
        diesel::dsl::Eq<applications::backchannel_logout_session_required, bool>,
        diesel::dsl::Eq<applications::require_verified_email, bool>,
        diesel::dsl::Eq<applications::self_registration, bool>,
        diesel::dsl::Eq<applications::jwks_uri, Option<String>>,
        diesel::dsl::Eq<applications::request_uris, String>,
        diesel::dsl::Eq<applications::sign_in_policy, Option<&'static str>>,
    ),
) {
    let grant_types: Vec<&str> = s.grant_types.iter().map(|g| g.as_str()).collect();
    (
        applications::name.eq(s.name.clone()),
        applications::description.eq(s.description.clone()),
        applications::app_type.eq(s.app_type.as_str()),
        applications::token_endpoint_auth_method.eq(s.token_endpoint_auth_method.as_str()),
        applications::grant_types.eq(grant_types.join(" ")),
        applications::access_token_format.eq(s.access_token_format.as_str()),
        applications::id_token_signed_response_alg.eq(s.id_token_signed_response_alg.as_str()),
        applications::access_token_lifetime.eq(s.lifetimes.access_token),
        applications::id_token_lifetime.eq(s.lifetimes.id_token),
        applications::refresh_token_lifetime.eq(s.lifetimes.refresh_token),
        applications::authorization_code_lifetime.eq(s.lifetimes.authorization_code),
        applications::require_consent.eq(s.require_consent),
        applications::always_issue_refresh_token.eq(s.always_issue_refresh_token),
        applications::jwks.eq(s.jwks.as_ref().map(Value::to_string)),
        applications::app_metadata.eq(s.app_metadata.to_string()),
        (
            applications::enabled.eq(s.enabled),
            applications::updated_at.eq(now),
            applications::refresh_token_retry_grace_seconds.eq(s.lifetimes.refresh_token_retry_grace),
            applications::require_pushed_authorization_requests.eq(s.require_pushed_authorization_requests),
            applications::dpop_bound_access_tokens.eq(s.dpop_bound_access_tokens),
            applications::require_signed_request_object.eq(s.require_signed_request_object),
            applications::backchannel_logout_uri.eq(s.backchannel_logout_uri.clone()),
            applications::backchannel_logout_session_required.eq(s.backchannel_logout_session_required),
            applications::require_verified_email.eq(s.require_verified_email),
            applications::self_registration.eq(s.self_registration),
            applications::jwks_uri.eq(s.jwks_uri.clone()),
            applications::request_uris.eq(crate::json::json_list(&s.request_uris)),
            applications::sign_in_policy.eq(s.sign_in_policy.map(|p| p.as_str())),
        ),
    )
}

/// Replaces the redirect URIs, allowed scopes and required claims.
fn write_lists(conn: &mut AnyConnection, id: &str, s: &ApplicationSettings) -> StoreResult<()> {
    diesel::delete(application_redirect_uris::table.filter(application_redirect_uris::application_id.eq(id)))
        .execute(conn)?;
    for (kind, uris) in [("login", &s.redirect_uris), ("post_logout", &s.post_logout_redirect_uris)] {
        for uri in dedup(uris) {
            diesel::insert_into(application_redirect_uris::table)
                .values((
                    application_redirect_uris::application_id.eq(id),
                    application_redirect_uris::kind.eq(kind),
                    application_redirect_uris::uri.eq(uri),
                ))
                .execute(conn)?;
        }
    }
    diesel::delete(application_scopes::table.filter(application_scopes::application_id.eq(id))).execute(conn)?;
    for scope in dedup(&s.allowed_scopes) {
        let exists: i64 = scopes::table.filter(scopes::name.eq(&scope)).count().get_result(conn)?;
        if exists == 0 {
            return Err(StoreError::invalid("allowed_scopes", format!("no scope named {scope}")));
        }
        diesel::insert_into(application_scopes::table)
            .values((application_scopes::application_id.eq(id), application_scopes::scope_name.eq(&scope)))
            .execute(conn)?;
    }
    diesel::delete(application_required_claims::table.filter(application_required_claims::application_id.eq(id)))
        .execute(conn)?;
    for claim in dedup(&s.required_claims) {
        let exists: i64 = claim_types::table.filter(claim_types::name.eq(&claim)).count().get_result(conn)?;
        if exists == 0 {
            return Err(StoreError::invalid("required_claims", format!("no claim type named {claim}")));
        }
        diesel::insert_into(application_required_claims::table)
            .values((
                application_required_claims::application_id.eq(id),
                application_required_claims::claim_name.eq(&claim),
            ))
            .execute(conn)?;
    }
    Ok(())
}

fn dedup(values: &[String]) -> Vec<String> {
    let mut seen = std::collections::BTreeSet::new();
    values.iter().filter(|v| seen.insert(v.as_str())).cloned().collect()
}

/// Marks application `id` as registered by the client itself (`kind`).
pub fn set_registration(conn: &mut AnyConnection, id: &ApplicationId, kind: RegistrationKind) -> StoreResult<()> {
    crate::config_changes::mark();
    let changed = diesel::update(applications::table.find(id.as_str()))
        .set(applications::registration.eq(Some(kind.as_str())))
        .execute(conn)?;
    found(changed, "application")
}

pub fn update(
    conn: &mut AnyConnection,
    id: &ApplicationId,
    settings: &ApplicationSettings,
    now: i64,
) -> StoreResult<Application> {
    crate::config_changes::mark();
    let changed = diesel::update(applications::table.find(id.as_str())).set(columns(settings, now)).execute(conn)?;
    found(changed, "application")?;
    write_lists(conn, id.as_str(), settings)?;
    get(conn, id)
}

pub fn get(conn: &mut AnyConnection, id: &ApplicationId) -> StoreResult<Application> {
    let row = applications::table
        .find(id.as_str())
        .select(Row::as_select())
        .first(conn)
        .optional()?
        .ok_or(StoreError::not_found("application"))?;
    assemble(conn, row)
}

pub fn find_by_client_id(conn: &mut AnyConnection, client_id: &ClientId) -> StoreResult<Option<Application>> {
    let row = applications::table
        .filter(applications::client_id.eq(client_id.as_str()))
        .select(Row::as_select())
        .first(conn)
        .optional()?;
    row.map(|row| assemble(conn, row)).transpose()
}

pub fn list(conn: &mut AnyConnection, page: &Page) -> StoreResult<Paged<Application>> {
    let mut query = applications::table.select(Row::as_select()).into_boxed();
    if let Some(after) = &page.after {
        query = query.filter(applications::id.gt(after));
    }
    let rows: Vec<Row> = query.order(applications::id.asc()).limit(page.fetch_limit()).load(conn)?;
    let apps = rows.into_iter().map(|row| assemble(conn, row)).collect::<StoreResult<Vec<_>>>()?;
    Ok(Paged::from_rows(apps, page, |a| a.id.to_string()))
}

pub fn count(conn: &mut AnyConnection) -> StoreResult<i64> {
    Ok(applications::table.count().get_result(conn)?)
}

pub fn delete(conn: &mut AnyConnection, id: &ApplicationId) -> StoreResult<()> {
    crate::config_changes::mark();
    let deleted = diesel::delete(applications::table.find(id.as_str())).execute(conn)?;
    found(deleted, "application")
}

/// Every application, in four queries whatever their number (for the in-memory
/// configuration).
pub fn all(conn: &mut AnyConnection) -> StoreResult<Vec<Application>> {
    let rows: Vec<Row> = applications::table.select(Row::as_select()).order(applications::id.asc()).load(conn)?;
    let mut lists: std::collections::HashMap<String, Lists> = std::collections::HashMap::new();
    let uris: Vec<(String, String, String)> = application_redirect_uris::table
        .select((
            application_redirect_uris::application_id,
            application_redirect_uris::kind,
            application_redirect_uris::uri,
        ))
        .order(application_redirect_uris::uri.asc())
        .load(conn)?;
    for (id, kind, uri) in uris {
        lists.entry(id).or_default().uris.push((kind, uri));
    }
    let allowed: Vec<(String, String)> = application_scopes::table
        .select((application_scopes::application_id, application_scopes::scope_name))
        .order(application_scopes::scope_name.asc())
        .load(conn)?;
    for (id, scope) in allowed {
        lists.entry(id).or_default().allowed_scopes.push(scope);
    }
    let required: Vec<(String, String)> = application_required_claims::table
        .select((application_required_claims::application_id, application_required_claims::claim_name))
        .order(application_required_claims::claim_name.asc())
        .load(conn)?;
    for (id, claim) in required {
        lists.entry(id).or_default().required_claims.push(claim);
    }
    rows.into_iter()
        .map(|row| {
            let lists = lists.remove(&row.id).unwrap_or_default();
            from_parts(row, lists)
        })
        .collect()
}

/// An application's lists, kept in tables of their own.
#[derive(Default)]
struct Lists {
    /// (kind, uri): `login` or `post_logout`.
    uris: Vec<(String, String)>,
    allowed_scopes: Vec<String>,
    required_claims: Vec<String>,
}

fn assemble(conn: &mut AnyConnection, row: Row) -> StoreResult<Application> {
    let uris: Vec<(String, String)> = application_redirect_uris::table
        .filter(application_redirect_uris::application_id.eq(&row.id))
        .select((application_redirect_uris::kind, application_redirect_uris::uri))
        .order(application_redirect_uris::uri.asc())
        .load(conn)?;
    let allowed_scopes = application_scopes::table
        .filter(application_scopes::application_id.eq(&row.id))
        .select(application_scopes::scope_name)
        .order(application_scopes::scope_name.asc())
        .load(conn)?;
    let required_claims = application_required_claims::table
        .filter(application_required_claims::application_id.eq(&row.id))
        .select(application_required_claims::claim_name)
        .order(application_required_claims::claim_name.asc())
        .load(conn)?;
    from_parts(row, Lists { uris, allowed_scopes, required_claims })
}

fn from_parts(row: Row, lists: Lists) -> StoreResult<Application> {
    let Lists { uris, allowed_scopes, required_claims } = lists;
    let grant_types = row
        .grant_types
        .split_whitespace()
        .map(|g| parse::<GrantType>("grant type", g))
        .collect::<StoreResult<Vec<_>>>()?;
    let settings = ApplicationSettings {
        name: row.name,
        description: row.description,
        app_type: parse("type", &row.app_type)?,
        token_endpoint_auth_method: parse("auth method", &row.token_endpoint_auth_method)?,
        grant_types,
        access_token_format: parse("token format", &row.access_token_format)?,
        id_token_signed_response_alg: parse("signing algorithm", &row.id_token_signed_response_alg)?,
        lifetimes: TokenLifetimes {
            access_token: lifetime("access_token_lifetime", row.access_token_lifetime)?,
            id_token: lifetime("id_token_lifetime", row.id_token_lifetime)?,
            refresh_token: lifetime("refresh_token_lifetime", row.refresh_token_lifetime)?,
            authorization_code: lifetime("authorization_code_lifetime", row.authorization_code_lifetime)?,
            refresh_token_retry_grace: row.refresh_token_retry_grace_seconds.max(0),
        },
        require_consent: row.require_consent,
        always_issue_refresh_token: row.always_issue_refresh_token,
        require_pushed_authorization_requests: row.require_pushed_authorization_requests,
        dpop_bound_access_tokens: row.dpop_bound_access_tokens,
        require_signed_request_object: row.require_signed_request_object,
        backchannel_logout_uri: row.backchannel_logout_uri,
        backchannel_logout_session_required: row.backchannel_logout_session_required,
        require_verified_email: row.require_verified_email,
        self_registration: row.self_registration,
        sign_in_policy: row.sign_in_policy.as_deref().map(|p| parse("sign-in policy", p)).transpose()?,
        jwks: row.jwks.as_deref().map(crate::json::parse).transpose()?,
        jwks_uri: row.jwks_uri,
        request_uris: crate::json::parse_as(&row.request_uris)?,
        app_metadata: crate::json::parse(&row.app_metadata)?,
        enabled: row.enabled,
        redirect_uris: uris.iter().filter(|(k, _)| k == "login").map(|(_, u)| u.clone()).collect(),
        post_logout_redirect_uris: uris.iter().filter(|(k, _)| k == "post_logout").map(|(_, u)| u.clone()).collect(),
        allowed_scopes,
        required_claims,
    };
    Ok(Application {
        registration: row.registration.as_deref().map(RegistrationKind::parse).transpose()?,
        id: ApplicationId::from(row.id),
        client_id: ClientId::from(row.client_id),
        settings,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = application_secrets)]
pub struct ApplicationSecret {
    pub id: String,
    #[diesel(deserialize_as = String)]
    pub application_id: ApplicationId,
    pub secret_hash: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
}

pub fn add_secret(
    conn: &mut AnyConnection,
    application_id: &ApplicationId,
    secret_hash: &str,
    expires_at: Option<i64>,
    now: i64,
) -> StoreResult<String> {
    crate::config_changes::mark();
    let id = new_id();
    diesel::insert_into(application_secrets::table)
        .values((
            application_secrets::id.eq(&id),
            application_secrets::application_id.eq(application_id.as_str()),
            application_secrets::secret_hash.eq(secret_hash),
            application_secrets::created_at.eq(now),
            application_secrets::expires_at.eq(expires_at),
        ))
        .execute(conn)?;
    Ok(id)
}

/// Regenerates the secret: the new one is added and every current one expires at
/// `old_expire_at` (`now` to cut them off at once).
pub fn rotate_secret(
    conn: &mut AnyConnection,
    application_id: &ApplicationId,
    new_secret_hash: &str,
    old_expire_at: i64,
    now: i64,
) -> StoreResult<String> {
    crate::config_changes::mark();
    get(conn, application_id)?;
    diesel::update(
        application_secrets::table
            .filter(application_secrets::application_id.eq(application_id.as_str()))
            .filter(application_secrets::expires_at.is_null().or(application_secrets::expires_at.gt(old_expire_at))),
    )
    .set(application_secrets::expires_at.eq(old_expire_at))
    .execute(conn)?;
    add_secret(conn, application_id, new_secret_hash, None, now)
}

/// Every application secret still valid at `now` (for the in-memory configuration).
pub fn all_live_secrets(conn: &mut AnyConnection, now: i64) -> StoreResult<Vec<ApplicationSecret>> {
    Ok(application_secrets::table
        .filter(application_secrets::expires_at.is_null().or(application_secrets::expires_at.gt(now)))
        .select(ApplicationSecret::as_select())
        .order(application_secrets::created_at.asc())
        .load(conn)?)
}

/// The application's secrets still valid at `now`.
pub fn live_secrets(
    conn: &mut AnyConnection,
    application_id: &ApplicationId,
    now: i64,
) -> StoreResult<Vec<ApplicationSecret>> {
    Ok(application_secrets::table
        .filter(application_secrets::application_id.eq(application_id.as_str()))
        .filter(application_secrets::expires_at.is_null().or(application_secrets::expires_at.gt(now)))
        .select(ApplicationSecret::as_select())
        .order(application_secrets::created_at.asc())
        .load(conn)?)
}
