//! First-start data: the OIDC Core §5.1 standard claims, the standard identity scopes
//! (§5.4) with their claims, and the `tessera-admin` role. Idempotent: what exists is
//! left alone, what is missing is added.

use diesel::prelude::*;
use tessera_domain::{STANDARD_CLAIMS, STANDARD_IDENTITY_SCOPES};

use crate::organizations::ADMIN_ROLE;
use crate::schema::{claim_types, roles, scope_claims, scopes};
use crate::scopes::{ClaimTypeInput, ScopeKind, insert_claim_type, insert_scope};
use crate::{AnyConnection, StoreResult};

/// What a seeding run added.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeedReport {
    pub claims_added: usize,
    pub scopes_added: usize,
    pub roles_added: usize,
}

impl SeedReport {
    pub fn is_empty(&self) -> bool {
        *self == SeedReport::default()
    }
}

pub fn seed_standard_data(conn: &mut AnyConnection, now: i64) -> StoreResult<SeedReport> {
    let mut report = SeedReport::default();
    let existing_claims: Vec<String> = claim_types::table.select(claim_types::name).load(conn)?;
    for claim in STANDARD_CLAIMS {
        if !existing_claims.iter().any(|c| c == claim.name) {
            let input = ClaimTypeInput {
                name: claim.name.to_owned(),
                display_name: claim.display_name.to_owned(),
                description: claim.description.to_owned(),
                value_type: claim.value_type,
                user_editable: false,
            };
            insert_claim_type(conn, &input, true, now)?;
            report.claims_added += 1;
        }
    }
    let existing_scopes: Vec<String> = scopes::table.select(scopes::name).load(conn)?;
    for scope in STANDARD_IDENTITY_SCOPES {
        if !existing_scopes.iter().any(|s| s == scope.name) {
            insert_scope(
                conn,
                scope.name,
                ScopeKind::Identity,
                None,
                scope.display_name,
                scope.description,
                true,
                now,
            )?;
            for claim in scope.claims {
                diesel::insert_into(scope_claims::table)
                    .values((scope_claims::scope_name.eq(scope.name), scope_claims::claim_name.eq(*claim)))
                    .execute(conn)?;
            }
            report.scopes_added += 1;
        }
    }
    let admin_role: i64 = roles::table.filter(roles::name.eq(ADMIN_ROLE)).count().get_result(conn)?;
    if admin_role == 0 {
        crate::organizations::create_role(conn, ADMIN_ROLE, "May use the admin console and the management API", now)?;
        report.roles_added += 1;
    }
    Ok(report)
}
