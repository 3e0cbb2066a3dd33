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

/// The application a consent was given to, as a list of consents shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentedApplication {
    pub id: ApplicationId,
    pub client_id: tessera_domain::ClientId,
    pub name: String,
}

/// A user's consents, with the application each was given to, by application name.
pub fn list_of_user(conn: &mut AnyConnection, user_id: &UserId) -> StoreResult<Vec<(Consent, ConsentedApplication)>> {
    use crate::schema::applications;
    let rows: Vec<(ConsentRow, (String, String, String))> = consents::table
        .inner_join(applications::table.on(applications::id.eq(consents::application_id)))
        .filter(consents::user_id.eq(user_id.as_str()))
        .select((ConsentRow::as_select(), (applications::id, applications::client_id, applications::name)))
        .order((applications::name.asc(), applications::id.asc()))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(row, (id, client_id, name))| {
            (Consent::from(row), ConsentedApplication { id: id.into(), client_id: client_id.into(), name })
        })
        .collect())
}

/// Withdraws a user's consent to an application: the consent is removed (the next
/// authorization asks again) and everything the user granted that application is revoked
/// with it, refresh tokens and reference tokens included, offline ones too. `None` when
/// there was no consent; otherwise the consent removed and how many grants were revoked.
pub fn revoke(
    conn: &mut AnyConnection,
    user_id: &UserId,
    application_id: &ApplicationId,
    now: i64,
) -> StoreResult<Option<(Consent, usize)>> {
    let Some(consent) = get_consent(conn, user_id, application_id)? else { return Ok(None) };
    let deleted = diesel::delete(consents::table.find((user_id.as_str(), application_id.as_str()))).execute(conn)?;
    if deleted == 0 {
        return Ok(None);
    }
    let grants = crate::grants::revoke_grants_of_user_application(conn, user_id, application_id, now)?;
    Ok(Some((consent, grants)))
}
