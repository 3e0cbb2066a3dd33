//! What a client that registered itself said about itself beyond its application settings
//! (RFC 7591 §2 `client_uri`, `logo_uri`, `contacts`, `software_id` …, kept as a JSON
//! object), the SHA-256 hash of its registration access token (RFC 7592, dynamically
//! registered clients), and when a Client ID Metadata Document must be fetched again.
//! One row per such application, deleted with it.

use diesel::prelude::*;
use serde_json::Value;
use tessera_domain::ApplicationId;

use crate::schema::client_registrations;
use crate::{AnyConnection, StoreResult};

#[derive(Debug, Clone, PartialEq)]
pub struct ClientRegistration {
    pub application_id: ApplicationId,
    /// The hash of the registration access token (dynamic clients).
    pub access_token_hash: Option<String>,
    /// The initial access token that allowed the registration, if one did.
    pub initial_access_token_id: Option<String>,
    /// The client metadata that is not an application setting (a JSON object).
    pub metadata: Value,
    /// When a metadata document's copy is stale (metadata-document clients).
    pub expires_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = client_registrations)]
struct Row {
    application_id: String,
    access_token_hash: Option<String>,
    initial_access_token_id: Option<String>,
    metadata: String,
    expires_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<Row> for ClientRegistration {
    type Error = crate::StoreError;
    fn try_from(row: Row) -> StoreResult<ClientRegistration> {
        Ok(ClientRegistration {
            application_id: ApplicationId::from(row.application_id),
            access_token_hash: row.access_token_hash,
            initial_access_token_id: row.initial_access_token_id,
            metadata: crate::json::parse(&row.metadata)?,
            expires_at: row.expires_at,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// Records the registration of `registration.application_id`.
pub fn create(conn: &mut AnyConnection, registration: &ClientRegistration) -> StoreResult<()> {
    diesel::insert_into(client_registrations::table)
        .values((
            client_registrations::application_id.eq(registration.application_id.as_str()),
            client_registrations::access_token_hash.eq(registration.access_token_hash.as_deref()),
            client_registrations::initial_access_token_id.eq(registration.initial_access_token_id.as_deref()),
            client_registrations::metadata.eq(registration.metadata.to_string()),
            client_registrations::expires_at.eq(registration.expires_at),
            client_registrations::created_at.eq(registration.created_at),
            client_registrations::updated_at.eq(registration.updated_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// The registration of application `id`, if it registered itself.
pub fn get(conn: &mut AnyConnection, id: &ApplicationId) -> StoreResult<Option<ClientRegistration>> {
    client_registrations::table
        .find(id.as_str())
        .select(Row::as_select())
        .first(conn)
        .optional()?
        .map(ClientRegistration::try_from)
        .transpose()
}

/// The registration whose access token hashes to `hash` (RFC 7592 §3: the token finds
/// the client; the caller checks that it is the client the URL names).
pub fn find_by_access_token(conn: &mut AnyConnection, hash: &str) -> StoreResult<Option<ClientRegistration>> {
    client_registrations::table
        .filter(client_registrations::access_token_hash.eq(hash))
        .select(Row::as_select())
        .first(conn)
        .optional()?
        .map(ClientRegistration::try_from)
        .transpose()
}

/// Replaces the metadata (and the staleness time) of application `id`'s registration.
pub fn update(
    conn: &mut AnyConnection,
    id: &ApplicationId,
    metadata: &Value,
    expires_at: Option<i64>,
    now: i64,
) -> StoreResult<()> {
    let changed = diesel::update(client_registrations::table.find(id.as_str()))
        .set((
            client_registrations::metadata.eq(metadata.to_string()),
            client_registrations::expires_at.eq(expires_at),
            client_registrations::updated_at.eq(now),
        ))
        .execute(conn)?;
    crate::error::found(changed, "client registration")
}

/// How long a metadata-document client's copy may have been stale, with no grant left,
/// before the client is deleted (seconds): 30 days. Any request naming its URL creates
/// it again, so nothing is lost but rows strangers could otherwise pile up.
pub const ABANDONED_AFTER: i64 = 30 * 86_400;

/// Deletes the metadata-document clients abandoned at `now`: copy stale for over
/// [`ABANDONED_AFTER`] and no grant (so no refresh or reference token) left. Their
/// consents, codes and registration rows go with the application (foreign keys). Each
/// use of such a client at a stale copy fetches it again and moves its staleness time,
/// so a client in use is never abandoned. Runs after expired grants are purged.
pub fn purge_abandoned(conn: &mut AnyConnection, now: i64) -> StoreResult<usize> {
    use crate::schema::{applications, grants};
    let any_grant = grants::table.filter(grants::application_id.eq(client_registrations::application_id));
    let abandoned: Vec<String> = client_registrations::table
        .filter(client_registrations::expires_at.le(now - ABANDONED_AFTER))
        .filter(diesel::dsl::not(diesel::dsl::exists(any_grant)))
        .select(client_registrations::application_id)
        .load(conn)?;
    if abandoned.is_empty() {
        return Ok(0);
    }
    let deleted = diesel::delete(
        applications::table
            .filter(applications::id.eq_any(&abandoned))
            .filter(applications::registration.eq(crate::applications::RegistrationKind::MetadataDocument.as_str())),
    )
    .execute(conn)?;
    if deleted > 0 {
        crate::config_changes::mark();
    }
    Ok(deleted)
}
