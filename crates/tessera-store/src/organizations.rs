//! Roles, organizations and memberships (a member may hold roles within an organization).

use diesel::prelude::*;
use serde_json::Value;
use tessera_domain::UserId;

use crate::error::found;
use crate::page::{Page, Paged};
use crate::schema::{organization_member_roles, organization_members, organizations, roles};
use crate::{AnyConnection, StoreError, StoreResult, new_id};

/// The role that may use the admin console and create management keys.
pub const ADMIN_ROLE: &str = "tessera-admin";

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = roles)]
pub struct Role {
    pub id: String,
    pub name: String,
    pub description: String,
    pub created_at: i64,
    pub updated_at: i64,
}

pub fn create_role(conn: &mut AnyConnection, name: &str, description: &str, now: i64) -> StoreResult<Role> {
    let id = new_id();
    diesel::insert_into(roles::table)
        .values((
            roles::id.eq(&id),
            roles::name.eq(name),
            roles::description.eq(description),
            roles::created_at.eq(now),
            roles::updated_at.eq(now),
        ))
        .execute(conn)?;
    get_role(conn, &id)
}

pub fn get_role(conn: &mut AnyConnection, id: &str) -> StoreResult<Role> {
    roles::table.find(id).select(Role::as_select()).first(conn).optional()?.ok_or(StoreError::not_found("role"))
}

pub fn find_role_by_name(conn: &mut AnyConnection, name: &str) -> StoreResult<Option<Role>> {
    Ok(roles::table.filter(roles::name.eq(name)).select(Role::as_select()).first(conn).optional()?)
}

pub fn list_roles(conn: &mut AnyConnection, page: &Page) -> StoreResult<Paged<Role>> {
    let mut query = roles::table.select(Role::as_select()).into_boxed();
    if let Some(after) = &page.after {
        query = query.filter(roles::id.gt(after));
    }
    let rows = query.order(roles::id.asc()).limit(page.fetch_limit()).load(conn)?;
    Ok(Paged::from_rows(rows, page, |r| r.id.clone()))
}

pub fn update_role(conn: &mut AnyConnection, id: &str, name: &str, description: &str, now: i64) -> StoreResult<Role> {
    let current = get_role(conn, id)?;
    if current.name == ADMIN_ROLE && name != ADMIN_ROLE {
        return Err(StoreError::invalid("name", format!("the {ADMIN_ROLE} role cannot be renamed")));
    }
    diesel::update(roles::table.find(id))
        .set((roles::name.eq(name), roles::description.eq(description), roles::updated_at.eq(now)))
        .execute(conn)?;
    get_role(conn, id)
}

pub fn delete_role(conn: &mut AnyConnection, id: &str) -> StoreResult<()> {
    if get_role(conn, id)?.name == ADMIN_ROLE {
        return Err(StoreError::invalid("name", format!("the {ADMIN_ROLE} role cannot be deleted")));
    }
    let deleted = diesel::delete(roles::table.find(id)).execute(conn)?;
    found(deleted, "role")
}

#[derive(Debug, Clone, PartialEq)]
pub struct Organization {
    pub id: String,
    pub name: String,
    pub display_name: String,
    pub metadata: Value,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = organizations)]
struct OrganizationRow {
    id: String,
    name: String,
    display_name: String,
    metadata: String,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<OrganizationRow> for Organization {
    type Error = StoreError;
    fn try_from(row: OrganizationRow) -> StoreResult<Organization> {
        Ok(Organization {
            metadata: crate::json::parse(&row.metadata)?,
            id: row.id,
            name: row.name,
            display_name: row.display_name,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

pub fn create_organization(
    conn: &mut AnyConnection,
    name: &str,
    display_name: &str,
    metadata: &Value,
    now: i64,
) -> StoreResult<Organization> {
    let id = new_id();
    diesel::insert_into(organizations::table)
        .values((
            organizations::id.eq(&id),
            organizations::name.eq(name),
            organizations::display_name.eq(display_name),
            organizations::metadata.eq(metadata.to_string()),
            organizations::created_at.eq(now),
            organizations::updated_at.eq(now),
        ))
        .execute(conn)?;
    get_organization(conn, &id)
}

pub fn get_organization(conn: &mut AnyConnection, id: &str) -> StoreResult<Organization> {
    organizations::table
        .find(id)
        .select(OrganizationRow::as_select())
        .first(conn)
        .optional()?
        .ok_or(StoreError::not_found("organization"))?
        .try_into()
}

pub fn list_organizations(conn: &mut AnyConnection, page: &Page) -> StoreResult<Paged<Organization>> {
    let mut query = organizations::table.select(OrganizationRow::as_select()).into_boxed();
    if let Some(after) = &page.after {
        query = query.filter(organizations::id.gt(after));
    }
    let rows: Vec<OrganizationRow> = query.order(organizations::id.asc()).limit(page.fetch_limit()).load(conn)?;
    let orgs = rows.into_iter().map(Organization::try_from).collect::<StoreResult<Vec<_>>>()?;
    Ok(Paged::from_rows(orgs, page, |o| o.id.clone()))
}

pub fn update_organization(
    conn: &mut AnyConnection,
    id: &str,
    name: &str,
    display_name: &str,
    metadata: &Value,
    now: i64,
) -> StoreResult<Organization> {
    let changed = diesel::update(organizations::table.find(id))
        .set((
            organizations::name.eq(name),
            organizations::display_name.eq(display_name),
            organizations::metadata.eq(metadata.to_string()),
            organizations::updated_at.eq(now),
        ))
        .execute(conn)?;
    found(changed, "organization")?;
    get_organization(conn, id)
}

pub fn delete_organization(conn: &mut AnyConnection, id: &str) -> StoreResult<()> {
    let deleted = diesel::delete(organizations::table.find(id)).execute(conn)?;
    found(deleted, "organization")
}

/// Makes the user a member with exactly `role_ids` within the organization (adding the
/// membership if needed, replacing the member's roles otherwise).
pub fn set_membership(
    conn: &mut AnyConnection,
    organization_id: &str,
    user_id: &UserId,
    role_ids: &[String],
    now: i64,
) -> StoreResult<()> {
    let user_id = user_id.as_str();
    let member: i64 = organization_members::table
        .filter(organization_members::organization_id.eq(organization_id))
        .filter(organization_members::user_id.eq(user_id))
        .count()
        .get_result(conn)?;
    if member == 0 {
        diesel::insert_into(organization_members::table)
            .values((
                organization_members::organization_id.eq(organization_id),
                organization_members::user_id.eq(user_id),
                organization_members::created_at.eq(now),
            ))
            .execute(conn)?;
    }
    diesel::delete(
        organization_member_roles::table
            .filter(organization_member_roles::organization_id.eq(organization_id))
            .filter(organization_member_roles::user_id.eq(user_id)),
    )
    .execute(conn)?;
    let mut role_ids = role_ids.to_vec();
    role_ids.sort();
    role_ids.dedup();
    for role_id in &role_ids {
        diesel::insert_into(organization_member_roles::table)
            .values((
                organization_member_roles::organization_id.eq(organization_id),
                organization_member_roles::user_id.eq(user_id),
                organization_member_roles::role_id.eq(role_id),
            ))
            .execute(conn)?;
    }
    Ok(())
}

pub fn remove_membership(conn: &mut AnyConnection, organization_id: &str, user_id: &UserId) -> StoreResult<()> {
    let user_id = user_id.as_str();
    let deleted = diesel::delete(
        organization_members::table
            .filter(organization_members::organization_id.eq(organization_id))
            .filter(organization_members::user_id.eq(user_id)),
    )
    .execute(conn)?;
    found(deleted, "membership")
}

/// One organization a user belongs to, with the roles the user holds in it.
#[derive(Debug, Clone, PartialEq)]
pub struct Membership {
    pub organization: Organization,
    pub roles: Vec<Role>,
}

/// The organizations the user belongs to, each with the member's roles.
pub fn memberships_of_user(conn: &mut AnyConnection, user_id: &UserId) -> StoreResult<Vec<Membership>> {
    let user_id = user_id.as_str();
    let orgs: Vec<OrganizationRow> = organization_members::table
        .inner_join(organizations::table)
        .filter(organization_members::user_id.eq(user_id))
        .select(OrganizationRow::as_select())
        .order(organizations::name.asc())
        .load(conn)?;
    let member_roles: Vec<(String, Role)> = organization_member_roles::table
        .inner_join(roles::table)
        .filter(organization_member_roles::user_id.eq(user_id))
        .select((organization_member_roles::organization_id, Role::as_select()))
        .order(roles::name.asc())
        .load(conn)?;
    orgs.into_iter()
        .map(|row| {
            let organization = Organization::try_from(row)?;
            let roles = member_roles
                .iter()
                .filter(|(org_id, _)| *org_id == organization.id)
                .map(|(_, role)| role.clone())
                .collect();
            Ok(Membership { organization, roles })
        })
        .collect()
}

/// The ids of an organization's members, in the order they joined.
pub fn member_ids(conn: &mut AnyConnection, organization_id: &str) -> StoreResult<Vec<UserId>> {
    let ids: Vec<String> = organization_members::table
        .filter(organization_members::organization_id.eq(organization_id))
        .select(organization_members::user_id)
        .order(organization_members::created_at.asc())
        .load(conn)?;
    Ok(ids.into_iter().map(UserId::from).collect())
}
