//! Claim types (standard and custom) and scopes (identity scopes with their claims, API
//! scopes of API connections). Standard entries are seeded and read-only.

use std::collections::BTreeMap;
use std::str::FromStr;

use diesel::prelude::*;
use tessera_domain::{Acr, ApiScopeSettings, ClaimValueType, ConnectionId, Requirement};

use crate::error::found;
use crate::schema::{api_connections, application_required_claims, claim_types, scope_claims, scopes};
use crate::{AnyConnection, StoreError, StoreResult};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimType {
    pub name: String,
    pub display_name: String,
    pub description: String,
    pub value_type: ClaimValueType,
    pub standard: bool,
    /// Users may set their own value on the account page (docs/accounts.md).
    pub user_editable: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = claim_types)]
struct ClaimTypeRow {
    name: String,
    display_name: String,
    description: String,
    value_type: String,
    standard: bool,
    user_editable: bool,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<ClaimTypeRow> for ClaimType {
    type Error = StoreError;
    fn try_from(row: ClaimTypeRow) -> StoreResult<ClaimType> {
        Ok(ClaimType {
            value_type: ClaimValueType::from_str(&row.value_type).map_err(|_| {
                StoreError::Corrupt(format!("claim type {} has value type {:?}", row.name, row.value_type))
            })?,
            name: row.name,
            display_name: row.display_name,
            description: row.description,
            standard: row.standard,
            user_editable: row.user_editable,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// A claim type to create or the new state of one.
#[derive(Debug, Clone)]
pub struct ClaimTypeInput {
    pub name: String,
    pub display_name: String,
    pub description: String,
    pub value_type: ClaimValueType,
    /// Users may set their own value on the account page.
    pub user_editable: bool,
}

pub fn create_claim_type(conn: &mut AnyConnection, input: &ClaimTypeInput, now: i64) -> StoreResult<ClaimType> {
    crate::config_changes::mark();
    insert_claim_type(conn, input, false, now)?;
    get_claim_type(conn, &input.name)
}

pub(crate) fn insert_claim_type(
    conn: &mut AnyConnection,
    input: &ClaimTypeInput,
    standard: bool,
    now: i64,
) -> StoreResult<()> {
    diesel::insert_into(claim_types::table)
        .values((
            claim_types::name.eq(&input.name),
            claim_types::display_name.eq(&input.display_name),
            claim_types::description.eq(&input.description),
            claim_types::value_type.eq(input.value_type.as_str()),
            claim_types::standard.eq(standard),
            claim_types::user_editable.eq(input.user_editable),
            claim_types::created_at.eq(now),
            claim_types::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn get_claim_type(conn: &mut AnyConnection, name: &str) -> StoreResult<ClaimType> {
    claim_types::table
        .find(name)
        .select(ClaimTypeRow::as_select())
        .first(conn)
        .optional()?
        .ok_or(StoreError::not_found("claim type"))?
        .try_into()
}

/// Every claim type, standard first, then by name.
pub fn list_claim_types(conn: &mut AnyConnection) -> StoreResult<Vec<ClaimType>> {
    let rows: Vec<ClaimTypeRow> = claim_types::table
        .select(ClaimTypeRow::as_select())
        .order((claim_types::standard.desc(), claim_types::name.asc()))
        .load(conn)?;
    rows.into_iter().map(ClaimType::try_from).collect()
}

/// Updates a custom claim type (the name cannot change; standard ones are read-only).
pub fn update_claim_type(conn: &mut AnyConnection, input: &ClaimTypeInput, now: i64) -> StoreResult<ClaimType> {
    crate::config_changes::mark();
    refuse_standard_claim(&get_claim_type(conn, &input.name)?)?;
    diesel::update(claim_types::table.find(&input.name))
        .set((
            claim_types::display_name.eq(&input.display_name),
            claim_types::description.eq(&input.description),
            claim_types::value_type.eq(input.value_type.as_str()),
            claim_types::user_editable.eq(input.user_editable),
            claim_types::updated_at.eq(now),
        ))
        .execute(conn)?;
    get_claim_type(conn, &input.name)
}

/// Whether users may set their own value of claim type `name` on the account page: the
/// one setting of a standard claim type an administrator may change.
pub fn set_claim_type_user_editable(
    conn: &mut AnyConnection,
    name: &str,
    user_editable: bool,
    now: i64,
) -> StoreResult<ClaimType> {
    crate::config_changes::mark();
    let changed = diesel::update(claim_types::table.find(name))
        .set((claim_types::user_editable.eq(user_editable), claim_types::updated_at.eq(now)))
        .execute(conn)?;
    found(changed, "claim type")?;
    get_claim_type(conn, name)
}

/// The claim types users may set themselves on the account page, by name: those marked
/// `user_editable`, and those an application requires (users give them at sign-in anyway).
pub fn list_account_claim_types(conn: &mut AnyConnection) -> StoreResult<Vec<ClaimType>> {
    let required = application_required_claims::table.select(application_required_claims::claim_name);
    let rows: Vec<ClaimTypeRow> = claim_types::table
        .filter(claim_types::user_editable.eq(true).or(claim_types::name.eq_any(required)))
        .select(ClaimTypeRow::as_select())
        .order(claim_types::name.asc())
        .load(conn)?;
    rows.into_iter().map(ClaimType::try_from).collect()
}

/// Deletes a custom claim type, its values, and its place in scopes and applications.
pub fn delete_claim_type(conn: &mut AnyConnection, name: &str) -> StoreResult<()> {
    crate::config_changes::mark();
    refuse_standard_claim(&get_claim_type(conn, name)?)?;
    let deleted = diesel::delete(claim_types::table.find(name)).execute(conn)?;
    found(deleted, "claim type")
}

fn refuse_standard_claim(claim: &ClaimType) -> StoreResult<()> {
    if claim.standard {
        return Err(StoreError::invalid("name", format!("{} is a standard claim and cannot be changed", claim.name)));
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeKind {
    Identity,
    Api,
}

impl ScopeKind {
    fn as_str(self) -> &'static str {
        match self {
            ScopeKind::Identity => "identity",
            ScopeKind::Api => "api",
        }
    }
}

/// A scope. Identity scopes carry `claims`; API scopes belong to `connection`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub name: String,
    pub kind: ScopeKind,
    pub display_name: String,
    pub description: String,
    pub standard: bool,
    pub show_in_discovery: bool,
    /// The claims an identity scope carries, by name (empty for API scopes).
    pub claims: Vec<String>,
    /// The API connection an API scope belongs to: (id, name).
    pub connection: Option<(ConnectionId, String)>,
    /// What tokens carrying an API scope need; `None`: its connection's requirement
    /// (docs/authentication.md, "Assurance per API scope").
    pub requirement: Option<Requirement>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = scopes)]
struct ScopeRow {
    name: String,
    kind: String,
    connection_id: Option<String>,
    display_name: String,
    description: String,
    standard: bool,
    show_in_discovery: bool,
    created_at: i64,
    updated_at: i64,
    required_acr: Option<String>,
    required_max_age: Option<i64>,
}

/// A stored requirement (`required_acr`, `required_max_age` of a scope or connection
/// named `owner`), as the settings parser wrote it.
pub(crate) fn requirement_of(owner: &str, acr: Option<&str>, max_age: Option<i64>) -> StoreResult<Option<Requirement>> {
    let Some(acr) = acr else { return Ok(None) };
    let corrupt = || StoreError::Corrupt(format!("{owner} requires {acr:?} within {max_age:?}"));
    let acr: Acr = acr.parse().map_err(|_| corrupt())?;
    Requirement::new(acr, max_age).map(Some).map_err(|_| corrupt())
}

/// An identity scope to create or the new state of a custom one.
#[derive(Debug, Clone)]
pub struct IdentityScopeInput {
    pub name: String,
    pub display_name: String,
    pub description: String,
    pub show_in_discovery: bool,
    pub claims: Vec<String>,
}

pub fn create_identity_scope(conn: &mut AnyConnection, input: &IdentityScopeInput, now: i64) -> StoreResult<Scope> {
    crate::config_changes::mark();
    insert_scope(conn, &input.name, ScopeKind::Identity, None, &input.display_name, &input.description, false, now)?;
    diesel::update(scopes::table.find(&input.name))
        .set(scopes::show_in_discovery.eq(input.show_in_discovery))
        .execute(conn)?;
    set_scope_claims(conn, &input.name, &input.claims)?;
    get_scope(conn, &input.name)
}

/// Updates a custom identity scope: display name, description and its claims.
pub fn update_identity_scope(conn: &mut AnyConnection, input: &IdentityScopeInput, now: i64) -> StoreResult<Scope> {
    crate::config_changes::mark();
    let scope = get_scope(conn, &input.name)?;
    if scope.kind != ScopeKind::Identity {
        return Err(StoreError::invalid("name", format!("{} is an API scope", input.name)));
    }
    refuse_standard_scope(&scope)?;
    diesel::update(scopes::table.find(&input.name))
        .set((
            scopes::display_name.eq(&input.display_name),
            scopes::description.eq(&input.description),
            scopes::show_in_discovery.eq(input.show_in_discovery),
            scopes::updated_at.eq(now),
        ))
        .execute(conn)?;
    set_scope_claims(conn, &input.name, &input.claims)?;
    get_scope(conn, &input.name)
}

/// An API scope added to a connection, checked by the domain's one parser
/// ([`tessera_domain::ApiScopeBody::into_new`]).
pub use tessera_domain::NewApiScope;

pub fn create_api_scope(
    conn: &mut AnyConnection,
    connection_id: &ConnectionId,
    input: &NewApiScope,
    now: i64,
) -> StoreResult<Scope> {
    crate::config_changes::mark();
    insert_scope(
        conn,
        &input.name,
        ScopeKind::Api,
        Some(connection_id.as_str()),
        &input.display_name,
        &input.description,
        false,
        now,
    )?;
    write_requirement(conn, &input.name, input.requirement)?;
    get_scope(conn, &input.name)
}

/// Replaces an API scope's display name, description and requirement (the name and the
/// connection never change).
pub fn update_api_scope(
    conn: &mut AnyConnection,
    name: &str,
    settings: &ApiScopeSettings,
    now: i64,
) -> StoreResult<Scope> {
    crate::config_changes::mark();
    let scope = get_scope(conn, name)?;
    if scope.kind != ScopeKind::Api {
        return Err(StoreError::invalid("name", format!("{name} is an identity scope")));
    }
    diesel::update(scopes::table.find(name))
        .set((
            scopes::display_name.eq(&settings.display_name),
            scopes::description.eq(&settings.description),
            scopes::updated_at.eq(now),
        ))
        .execute(conn)?;
    write_requirement(conn, name, settings.requirement)?;
    get_scope(conn, name)
}

fn write_requirement(conn: &mut AnyConnection, name: &str, requirement: Option<Requirement>) -> StoreResult<()> {
    diesel::update(scopes::table.find(name))
        .set((
            scopes::required_acr.eq(requirement.map(|r| r.acr.as_str())),
            scopes::required_max_age.eq(requirement.and_then(|r| r.max_age)),
        ))
        .execute(conn)?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn insert_scope(
    conn: &mut AnyConnection,
    name: &str,
    kind: ScopeKind,
    connection_id: Option<&str>,
    display_name: &str,
    description: &str,
    standard: bool,
    now: i64,
) -> StoreResult<()> {
    diesel::insert_into(scopes::table)
        .values((
            scopes::name.eq(name),
            scopes::kind.eq(kind.as_str()),
            scopes::connection_id.eq(connection_id),
            scopes::display_name.eq(display_name),
            scopes::description.eq(description),
            scopes::standard.eq(standard),
            scopes::show_in_discovery.eq(true),
            scopes::created_at.eq(now),
            scopes::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Replaces the claims an identity scope carries. Every claim must exist.
pub(crate) fn set_scope_claims(conn: &mut AnyConnection, scope: &str, claims: &[String]) -> StoreResult<()> {
    diesel::delete(scope_claims::table.filter(scope_claims::scope_name.eq(scope))).execute(conn)?;
    let mut claims = claims.to_vec();
    claims.sort();
    claims.dedup();
    for claim in &claims {
        let exists: i64 = claim_types::table.filter(claim_types::name.eq(claim)).count().get_result(conn)?;
        if exists == 0 {
            return Err(StoreError::invalid("claims", format!("no claim type named {claim}")));
        }
        diesel::insert_into(scope_claims::table)
            .values((scope_claims::scope_name.eq(scope), scope_claims::claim_name.eq(claim)))
            .execute(conn)?;
    }
    Ok(())
}

pub fn get_scope(conn: &mut AnyConnection, name: &str) -> StoreResult<Scope> {
    let row: ScopeRow = scopes::table
        .find(name)
        .select(ScopeRow::as_select())
        .first(conn)
        .optional()?
        .ok_or(StoreError::not_found("scope"))?;
    let mut all = assemble(conn, vec![row])?;
    all.pop().ok_or(StoreError::not_found("scope"))
}

/// Every scope of the kind asked for (or all), ordered by name, with claims and
/// connections filled in. This is what the in-memory scope catalogue is built from.
pub fn list_scopes(conn: &mut AnyConnection, kind: Option<ScopeKind>) -> StoreResult<Vec<Scope>> {
    let mut query = scopes::table.select(ScopeRow::as_select()).into_boxed();
    if let Some(kind) = kind {
        query = query.filter(scopes::kind.eq(kind.as_str()));
    }
    let rows = query.order(scopes::name.asc()).load(conn)?;
    assemble(conn, rows)
}

/// The API scopes of one connection.
pub fn scopes_of_connection(conn: &mut AnyConnection, connection_id: &ConnectionId) -> StoreResult<Vec<Scope>> {
    let rows = scopes::table
        .filter(scopes::connection_id.eq(connection_id.as_str()))
        .select(ScopeRow::as_select())
        .order(scopes::name.asc())
        .load(conn)?;
    assemble(conn, rows)
}

/// Deletes a custom identity scope or an extra API scope. Standard scopes, and the API
/// scope named after its connection, stay while their owner exists.
pub fn delete_scope(conn: &mut AnyConnection, name: &str) -> StoreResult<()> {
    crate::config_changes::mark();
    let scope = get_scope(conn, name)?;
    refuse_standard_scope(&scope)?;
    if let Some((_, connection_name)) = &scope.connection
        && connection_name == name
    {
        return Err(StoreError::invalid(
            "name",
            format!("{name} is the scope of the API connection of the same name; delete the connection instead"),
        ));
    }
    let deleted = diesel::delete(scopes::table.find(name)).execute(conn)?;
    found(deleted, "scope")
}

fn refuse_standard_scope(scope: &Scope) -> StoreResult<()> {
    if scope.standard {
        return Err(StoreError::invalid("name", format!("{} is a standard scope and cannot be changed", scope.name)));
    }
    Ok(())
}

fn assemble(conn: &mut AnyConnection, rows: Vec<ScopeRow>) -> StoreResult<Vec<Scope>> {
    let names: Vec<&String> = rows.iter().map(|r| &r.name).collect();
    let claim_rows: Vec<(String, String)> = scope_claims::table
        .filter(scope_claims::scope_name.eq_any(&names))
        .select((scope_claims::scope_name, scope_claims::claim_name))
        .order(scope_claims::claim_name.asc())
        .load(conn)?;
    let mut claims: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (scope, claim) in claim_rows {
        claims.entry(scope).or_default().push(claim);
    }
    let connection_ids: Vec<&String> = rows.iter().filter_map(|r| r.connection_id.as_ref()).collect();
    let connections: BTreeMap<String, String> = api_connections::table
        .filter(api_connections::id.eq_any(&connection_ids))
        .select((api_connections::id, api_connections::name))
        .load::<(String, String)>(conn)?
        .into_iter()
        .collect();
    rows.into_iter()
        .map(|row| {
            let kind = match row.kind.as_str() {
                "identity" => ScopeKind::Identity,
                "api" => ScopeKind::Api,
                other => {
                    return Err(StoreError::Corrupt(format!("scope {} has kind {other:?}", row.name)));
                }
            };
            let connection = match &row.connection_id {
                Some(id) => Some((
                    ConnectionId::from(id.as_str()),
                    connections
                        .get(id)
                        .cloned()
                        .ok_or_else(|| StoreError::Corrupt(format!("scope {} lost its connection", row.name)))?,
                )),
                None => None,
            };
            Ok(Scope {
                requirement: requirement_of(&row.name, row.required_acr.as_deref(), row.required_max_age)?,
                claims: claims.remove(&row.name).unwrap_or_default(),
                connection,
                kind,
                name: row.name,
                display_name: row.display_name,
                description: row.description,
                standard: row.standard,
                show_in_discovery: row.show_in_discovery,
                created_at: row.created_at,
                updated_at: row.updated_at,
            })
        })
        .collect()
}
