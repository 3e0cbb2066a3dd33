//! Authorization requests waiting for the user (sign-in, required claims, consent),
//! stored so that any node can continue them. Request handles are stored only as SHA-256
//! hashes.

use diesel::prelude::*;
use serde_json::Value;
use tessera_domain::ApplicationId;

use crate::error::found;
use crate::schema::authorization_requests;
use crate::{AnyConnection, StoreError, StoreResult};

/// An authorization request waiting for sign-in, required claims or consent, stored so
/// that any node can continue it. `parameters` holds the validated request.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthorizationRequest {
    pub id_hash: String,
    pub application_id: ApplicationId,
    /// The browser session the request is bound to, if one existed when it started.
    pub session_id_hash: Option<String>,
    pub parameters: Value,
    pub created_at: i64,
    pub expires_at: i64,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = authorization_requests)]
struct RequestRow {
    id_hash: String,
    application_id: String,
    session_id_hash: Option<String>,
    parameters: String,
    created_at: i64,
    expires_at: i64,
}

impl TryFrom<RequestRow> for AuthorizationRequest {
    type Error = StoreError;
    fn try_from(row: RequestRow) -> StoreResult<AuthorizationRequest> {
        Ok(AuthorizationRequest {
            parameters: crate::json::parse(&row.parameters)?,
            id_hash: row.id_hash,
            application_id: ApplicationId::from(row.application_id),
            session_id_hash: row.session_id_hash,
            created_at: row.created_at,
            expires_at: row.expires_at,
        })
    }
}

#[derive(Debug, Clone)]
pub struct NewAuthorizationRequest {
    pub id_hash: String,
    pub application_id: ApplicationId,
    pub session_id_hash: Option<String>,
    pub parameters: Value,
    pub expires_at: i64,
}

pub fn create_request(
    conn: &mut AnyConnection,
    new: &NewAuthorizationRequest,
    now: i64,
) -> StoreResult<AuthorizationRequest> {
    diesel::insert_into(authorization_requests::table)
        .values((
            authorization_requests::id_hash.eq(&new.id_hash),
            authorization_requests::application_id.eq(new.application_id.as_str()),
            authorization_requests::session_id_hash.eq(&new.session_id_hash),
            authorization_requests::parameters.eq(new.parameters.to_string()),
            authorization_requests::created_at.eq(now),
            authorization_requests::expires_at.eq(new.expires_at),
        ))
        .execute(conn)?;
    Ok(AuthorizationRequest {
        id_hash: new.id_hash.clone(),
        application_id: new.application_id.clone(),
        session_id_hash: new.session_id_hash.clone(),
        parameters: new.parameters.clone(),
        created_at: now,
        expires_at: new.expires_at,
    })
}

/// The request with this handle, unless it has expired (then it is as good as unknown).
pub fn get_request(conn: &mut AnyConnection, id_hash: &str, now: i64) -> StoreResult<Option<AuthorizationRequest>> {
    authorization_requests::table
        .find(id_hash)
        .filter(authorization_requests::expires_at.gt(now))
        .select(RequestRow::as_select())
        .first(conn)
        .optional()?
        .map(AuthorizationRequest::try_from)
        .transpose()
}

/// Replaces the parameters of a pending authorization request (the flow's progress:
/// signed in, consented).
pub fn update_request(conn: &mut AnyConnection, id_hash: &str, parameters: &Value) -> StoreResult<()> {
    let changed = diesel::update(authorization_requests::table.find(id_hash))
        .set(authorization_requests::parameters.eq(parameters.to_string()))
        .execute(conn)?;
    found(changed, "authorization request")
}

/// Removes a finished request; `false` when there was none.
pub fn delete_request(conn: &mut AnyConnection, id_hash: &str) -> StoreResult<bool> {
    Ok(diesel::delete(authorization_requests::table.find(id_hash)).execute(conn)? > 0)
}
