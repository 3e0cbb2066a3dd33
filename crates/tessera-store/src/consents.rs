//! Consents: the scopes users have allowed applications.

use diesel::prelude::*;
use tessera_domain::{ApplicationId, ScopeSet, UserId};

use crate::schema::consents;
use crate::{AnyConnection, StoreError, StoreResult};

/// The scopes a user has allowed an application (OIDC Core §3.1.2.4), in canonical form:
/// sorted, separated by single spaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consent {
    pub user_id: UserId,
    pub application_id: ApplicationId,
    pub scope: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = consents)]
struct ConsentRow {
    user_id: String,
    application_id: String,
    scope: String,
    created_at: i64,
    updated_at: i64,
}

impl From<ConsentRow> for Consent {
    fn from(row: ConsentRow) -> Consent {
        Consent {
            user_id: UserId::from(row.user_id),
            application_id: ApplicationId::from(row.application_id),
            scope: row.scope,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

pub fn get_consent(
    conn: &mut AnyConnection,
    user_id: &UserId,
    application_id: &ApplicationId,
) -> StoreResult<Option<Consent>> {
    Ok(consents::table
        .find((user_id.as_str(), application_id.as_str()))
        .select(ConsentRow::as_select())
        .first(conn)
        .optional()?
        .map(Consent::from))
}

/// Records consent to `scope` (space-separated), adding to what was consented before:
/// consenting to `profile` after `openid email` leaves `email openid profile`.
pub fn upsert_consent(
    conn: &mut AnyConnection,
    user_id: &UserId,
    application_id: &ApplicationId,
    scope: &str,
    now: i64,
) -> StoreResult<Consent> {
    let given = ScopeSet::parse(scope).map_err(|e| StoreError::invalid("scope", e.to_string()))?;
    match get_consent(conn, user_id, application_id)? {
        Some(existing) => {
            let before = ScopeSet::parse(&existing.scope)
                .map_err(|e| StoreError::Corrupt(format!("consented scope {:?}: {e}", existing.scope)))?;
            let merged = before.union(&given).to_string();
            diesel::update(consents::table.find((user_id.as_str(), application_id.as_str())))
                .set((consents::scope.eq(&merged), consents::updated_at.eq(now)))
                .execute(conn)?;
            Ok(Consent { scope: merged, updated_at: now, ..existing })
        }
        None => {
            let canonical = given.to_string();
            diesel::insert_into(consents::table)
                .values((
                    consents::user_id.eq(user_id.as_str()),
                    consents::application_id.eq(application_id.as_str()),
                    consents::scope.eq(&canonical),
                    consents::created_at.eq(now),
                    consents::updated_at.eq(now),
                ))
                .execute(conn)?;
            Ok(Consent {
                user_id: user_id.clone(),
                application_id: application_id.to_owned(),
                scope: canonical,
                created_at: now,
                updated_at: now,
            })
        }
    }
}
