//! API connections (resource servers): the name is the audience; each has the API scope
//! of the same name, created with it and removed with it, and one or more secrets.

use std::str::FromStr;

use diesel::prelude::*;
use tessera_domain::{ConnectionId, Requirement, TokenExchangePolicy, TokenFormat};

use crate::error::found;
use crate::page::{Page, Paged};
use crate::schema::{api_connection_secrets, api_connections};
use crate::scopes::{self, ScopeKind};
use crate::{AnyConnection, StoreError, StoreResult, new_id};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiConnection {
    pub id: ConnectionId,
    pub name: String,
    pub display_name: String,
    pub description: String,
    /// The access-token format for tokens whose only audience is this connection; `None`
    /// leaves it to the application.
    pub access_token_format: Option<TokenFormat>,
    pub created_at: i64,
    pub updated_at: i64,
    /// RFC 8693: who may exchange tokens for tokens to this connection (see
    /// [`crate::token_exchange_policies`]); empty: nobody.
    pub token_exchange: TokenExchangePolicy,
    /// RFC 8707 / RFC 9728: the resource identifier clients may send as `resource`
    /// instead of the name; unique among connections.
    pub resource_uri: Option<String>,
    /// What tokens carrying the connection's scopes need, unless a scope has its own
    /// (docs/authentication.md, "Assurance per API scope").
    pub requirement: Option<Requirement>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = api_connections)]
struct Row {
    id: String,
    name: String,
    display_name: String,
    description: String,
    access_token_format: Option<String>,
    created_at: i64,
    updated_at: i64,
    token_exchange_policy: String,
    resource_uri: Option<String>,
    required_acr: Option<String>,
    required_max_age: Option<i64>,
}

impl TryFrom<Row> for ApiConnection {
    type Error = StoreError;
    fn try_from(row: Row) -> StoreResult<ApiConnection> {
        let access_token_format = row
            .access_token_format
            .as_deref()
            .map(|f| TokenFormat::from_str(f).map_err(|_| StoreError::Corrupt(format!("token format {f:?}"))))
            .transpose()?;
        Ok(ApiConnection {
            requirement: crate::scopes::requirement_of(&row.name, row.required_acr.as_deref(), row.required_max_age)?,
            access_token_format,
            token_exchange: crate::json::parse_as(&row.token_exchange_policy)?,
            id: ConnectionId::from(row.id),
            name: row.name,
            display_name: row.display_name,
            description: row.description,
            resource_uri: row.resource_uri,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// A new connection, checked by the domain's one parser
/// ([`tessera_domain::NewConnectionInput::into_new`]).
pub use tessera_domain::NewApiConnection;

/// Creates the connection, its API scope of the same name, and its first secret
/// (`secret_hash`: the SHA-256 of a generated secret).
pub fn create(
    conn: &mut AnyConnection,
    new: &NewApiConnection,
    secret_hash: &str,
    now: i64,
) -> StoreResult<ApiConnection> {
    crate::config_changes::mark();
    let id = ConnectionId::from(new_id());
    diesel::insert_into(api_connections::table)
        .values((
            api_connections::id.eq(id.as_str()),
            api_connections::name.eq(&new.name),
            api_connections::display_name.eq(&new.display_name),
            api_connections::description.eq(&new.description),
            api_connections::access_token_format.eq(new.access_token_format.map(|f| f.as_str())),
            api_connections::resource_uri.eq(new.resource_uri.as_deref()),
            api_connections::required_acr.eq(new.requirement.map(|r| r.acr.as_str())),
            api_connections::required_max_age.eq(new.requirement.and_then(|r| r.max_age)),
            api_connections::created_at.eq(now),
            api_connections::updated_at.eq(now),
        ))
        .execute(conn)
        .map_err(resource_uri_taken)?;
    scopes::insert_scope(
        conn,
        &new.name,
        ScopeKind::Api,
        Some(id.as_str()),
        &new.display_name,
        &new.description,
        false,
        now,
    )
    .map_err(|e| match e {
        // The name is free among connections but an identity or API scope has it.
        StoreError::Conflict { .. } => StoreError::Conflict { field: "name".into() },
        other => other,
    })?;
    add_secret(conn, &id, secret_hash, None, now)?;
    get(conn, &id)
}

pub fn get(conn: &mut AnyConnection, id: &ConnectionId) -> StoreResult<ApiConnection> {
    api_connections::table
        .find(id.as_str())
        .select(Row::as_select())
        .first(conn)
        .optional()?
        .ok_or(StoreError::not_found("API connection"))?
        .try_into()
}

pub fn find_by_name(conn: &mut AnyConnection, name: &str) -> StoreResult<Option<ApiConnection>> {
    api_connections::table
        .filter(api_connections::name.eq(name))
        .select(Row::as_select())
        .first(conn)
        .optional()?
        .map(ApiConnection::try_from)
        .transpose()
}

pub fn list(conn: &mut AnyConnection, page: &Page) -> StoreResult<Paged<ApiConnection>> {
    let mut query = api_connections::table.select(Row::as_select()).into_boxed();
    if let Some(after) = &page.after {
        query = query.filter(api_connections::id.gt(after));
    }
    let rows: Vec<Row> = query.order(api_connections::id.asc()).limit(page.fetch_limit()).load(conn)?;
    let items = rows.into_iter().map(ApiConnection::try_from).collect::<StoreResult<Vec<_>>>()?;
    Ok(Paged::from_rows(items, page, |c| c.id.as_str().to_owned()))
}

/// Every connection (for the in-memory configuration).
pub fn all(conn: &mut AnyConnection) -> StoreResult<Vec<ApiConnection>> {
    let rows: Vec<Row> =
        api_connections::table.select(Row::as_select()).order(api_connections::name.asc()).load(conn)?;
    rows.into_iter().map(ApiConnection::try_from).collect()
}

pub fn count(conn: &mut AnyConnection) -> StoreResult<i64> {
    Ok(api_connections::table.count().get_result(conn)?)
}

/// A unique violation on insert or update: the name or, when it is the one that clashed,
/// the resource URI is taken. The backends name the index in their messages.
fn resource_uri_taken(error: diesel::result::Error) -> StoreError {
    match StoreError::from(error) {
        StoreError::Conflict { field } if field.contains("resource_uri") => {
            StoreError::Conflict { field: "resource_uri".into() }
        }
        other => other,
    }
}

/// Finds the connection whose resource URI is `uri`.
pub fn find_by_resource_uri(conn: &mut AnyConnection, uri: &str) -> StoreResult<Option<ApiConnection>> {
    api_connections::table
        .filter(api_connections::resource_uri.eq(uri))
        .select(Row::as_select())
        .first(conn)
        .optional()?
        .map(ApiConnection::try_from)
        .transpose()
}

/// Changes what may change: display name, description, token format, resource URI and
/// requirement (the name is the audience of issued tokens and never changes).
pub fn update(
    conn: &mut AnyConnection,
    id: &ConnectionId,
    settings: &tessera_domain::ConnectionSettings,
    now: i64,
) -> StoreResult<ApiConnection> {
    crate::config_changes::mark();
    let changed = diesel::update(api_connections::table.find(id.as_str()))
        .set((
            api_connections::display_name.eq(&settings.display_name),
            api_connections::description.eq(&settings.description),
            api_connections::access_token_format.eq(settings.access_token_format.map(|f| f.as_str())),
            api_connections::resource_uri.eq(settings.resource_uri.as_deref()),
            api_connections::required_acr.eq(settings.requirement.map(|r| r.acr.as_str())),
            api_connections::required_max_age.eq(settings.requirement.and_then(|r| r.max_age)),
            api_connections::updated_at.eq(now),
        ))
        .execute(conn)
        .map_err(resource_uri_taken)?;
    found(changed, "API connection")?;
    get(conn, id)
}

/// Deletes the connection with its secrets and every API scope it owns.
pub fn delete(conn: &mut AnyConnection, id: &ConnectionId) -> StoreResult<()> {
    crate::config_changes::mark();
    let deleted = diesel::delete(api_connections::table.find(id.as_str())).execute(conn)?;
    found(deleted, "API connection")
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = api_connection_secrets)]
pub struct ConnectionSecret {
    pub id: String,
    #[diesel(deserialize_as = String)]
    pub connection_id: ConnectionId,
    pub secret_hash: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
}

pub fn add_secret(
    conn: &mut AnyConnection,
    connection_id: &ConnectionId,
    secret_hash: &str,
    expires_at: Option<i64>,
    now: i64,
) -> StoreResult<String> {
    crate::config_changes::mark();
    let id = new_id();
    diesel::insert_into(api_connection_secrets::table)
        .values((
            api_connection_secrets::id.eq(&id),
            api_connection_secrets::connection_id.eq(connection_id.as_str()),
            api_connection_secrets::secret_hash.eq(secret_hash),
            api_connection_secrets::created_at.eq(now),
            api_connection_secrets::expires_at.eq(expires_at),
        ))
        .execute(conn)?;
    Ok(id)
}

/// Rotation: adds a new secret and lets every current secret expire at `old_expire_at`
/// (or sooner, if it was already due to), so the resource server can switch over.
pub fn rotate_secret(
    conn: &mut AnyConnection,
    connection_id: &ConnectionId,
    new_secret_hash: &str,
    old_expire_at: i64,
    now: i64,
) -> StoreResult<String> {
    crate::config_changes::mark();
    get(conn, connection_id)?;
    diesel::update(
        api_connection_secrets::table.filter(api_connection_secrets::connection_id.eq(connection_id.as_str())).filter(
            api_connection_secrets::expires_at.is_null().or(api_connection_secrets::expires_at.gt(old_expire_at)),
        ),
    )
    .set(api_connection_secrets::expires_at.eq(old_expire_at))
    .execute(conn)?;
    add_secret(conn, connection_id, new_secret_hash, None, now)
}

/// Every connection secret still valid at `now` (for the in-memory configuration).
pub fn all_live_secrets(conn: &mut AnyConnection, now: i64) -> StoreResult<Vec<ConnectionSecret>> {
    Ok(api_connection_secrets::table
        .filter(api_connection_secrets::expires_at.is_null().or(api_connection_secrets::expires_at.gt(now)))
        .select(ConnectionSecret::as_select())
        .order(api_connection_secrets::created_at.asc())
        .load(conn)?)
}

/// The secrets of a connection still valid at `now`.
pub fn live_secrets(
    conn: &mut AnyConnection,
    connection_id: &ConnectionId,
    now: i64,
) -> StoreResult<Vec<ConnectionSecret>> {
    Ok(api_connection_secrets::table
        .filter(api_connection_secrets::connection_id.eq(connection_id.as_str()))
        .filter(api_connection_secrets::expires_at.is_null().or(api_connection_secrets::expires_at.gt(now)))
        .select(ConnectionSecret::as_select())
        .order(api_connection_secrets::created_at.asc())
        .load(conn)?)
}
