//! The pages a user meets during an authorization: sign in, the second factor or step-up
//! (`factor`) and enrolment during sign-in (`enrol`), registration, required claims and
//! consent, and the device verification page (RFC 8628) that starts such an
//! authorization from a user code. Each handler loads the pending request (which must belong to
//! this browser's session), checks the form's CSRF token, does its one step, and sends
//! the browser back to `/connect/authorize/resume`.

pub mod ceremonies;
pub mod consent;
pub mod device;
pub mod enrol;
pub mod factor;
pub mod recovery;
pub mod register;
pub mod required_claims;
pub mod sign_in;
pub mod verify_email;

use std::collections::BTreeMap;

use serde_json::{Value, json};
use tessera_domain::{ClaimValueType, UserId};
use tessera_store::audit::{self, NewAuditEvent};
use tessera_store::scopes::{self, ClaimType};
use tessera_store::{AnyConnection, StoreError, StoreResult, users};

use crate::form::Params;
use crate::pages::ClaimField;

/// Where the browser goes after each step.
pub(crate) fn resume_location(handle: &str) -> String {
    format!("/connect/authorize/resume?request={handle}")
}

/// The `request` handle from a query string.
pub(crate) fn handle_from_query(query: &str) -> Option<String> {
    Params::parse(query.as_bytes()).ok().and_then(|p| p.get("request").map(str::to_owned))
}

/// The input type that suits a claim's value type.
pub(crate) fn input_type(value_type: ClaimValueType) -> &'static str {
    match value_type {
        ClaimValueType::String => "text",
        ClaimValueType::Email => "email",
        ClaimValueType::Phone => "tel",
        ClaimValueType::Url => "url",
        ClaimValueType::Date => "date",
        ClaimValueType::Number => "number",
        ClaimValueType::Boolean => "checkbox",
        ClaimValueType::Json => "textarea",
    }
}

/// The claim types of `names`, in order (unknown names are skipped; a store failure is
/// an error, not a shorter form).
pub(crate) fn claim_types(conn: &mut AnyConnection, names: &[String]) -> StoreResult<Vec<ClaimType>> {
    let mut types = Vec::new();
    for name in names {
        match scopes::get_claim_type(conn, name) {
            Ok(claim) => types.push(claim),
            Err(StoreError::NotFound { .. }) => {}
            Err(other) => return Err(other),
        }
    }
    Ok(types)
}

/// Form fields for these claims, showing what was typed and any error beside it.
pub(crate) fn fields(types: &[ClaimType], typed: &Params, errors: &BTreeMap<String, String>) -> Vec<ClaimField> {
    types
        .iter()
        .map(|claim| ClaimField {
            name: claim.name.clone(),
            label: claim.display_name.clone(),
            description: claim.description.clone(),
            input_type: input_type(claim.value_type),
            value: typed.get(&format!("claim.{}", claim.name)).unwrap_or_default().to_owned(),
            error: errors.get(&claim.name).cloned(),
        })
        .collect()
}

/// Validates each claim's submitted value by its type: the values to store, or the
/// error for each field that is wrong.
pub(crate) fn validate(
    types: &[ClaimType],
    form: &Params,
) -> Result<BTreeMap<String, Value>, BTreeMap<String, String>> {
    let mut values = BTreeMap::new();
    let mut errors = BTreeMap::new();
    for claim in types {
        let raw = form.get(&format!("claim.{}", claim.name)).unwrap_or("");
        let raw = if claim.value_type == ClaimValueType::Boolean && raw.is_empty() { "false" } else { raw };
        if raw.trim().is_empty() {
            errors.insert(claim.name.clone(), format!("{} is required.", claim.display_name));
            continue;
        }
        match tessera_domain::validate_claim_input(&claim.name, claim.value_type, raw) {
            Ok(value) => {
                values.insert(claim.name.clone(), value);
            }
            Err(e) => {
                errors.insert(claim.name.clone(), e.to_string());
            }
        }
    }
    if errors.is_empty() { Ok(values) } else { Err(errors) }
}

/// Saves what a user typed: `email` on the account (a new email is unverified, and gets
/// a verification link when `accounts` can send one), the rest as claim values.
/// Server-controlled claims (the verified flags, OIDC Core §5.1) are never taken from a
/// user's input. The caller wakes the mail delivery once committed.
pub(crate) fn save_claims(
    conn: &mut AnyConnection,
    user: &users::User,
    values: &BTreeMap<String, Value>,
    accounts: Option<&tessera_auth::AccountMail>,
    now: i64,
) -> StoreResult<()> {
    let mut rest = values.clone();
    rest.retain(|name, _| !tessera_domain::is_server_controlled(name));
    if let Some(email) = rest.remove("email") {
        let changes = users::UserChanges { email: Some(email.as_str().map(str::to_lowercase)), ..Default::default() };
        let updated = users::update(conn, &user.id, &changes, now)?;
        if updated.email != user.email
            && let Some(accounts) = accounts
        {
            accounts.send_verification(conn, &updated, now)?;
        }
    }
    users::set_claim_values(conn, &user.id, &rest, now)
}

/// An audit event about a user's own action on the pages.
pub(crate) fn audit_user(
    conn: &mut AnyConnection,
    user_id: &UserId,
    action: &str,
    summary: Value,
    client_ip: Option<&str>,
    now: i64,
) -> StoreResult<()> {
    let target = format!("user:{user_id}");
    let actor = target.clone();
    audit::record(conn, &NewAuditEvent { actor: &actor, action, target: &target, summary, client_ip }, now)?;
    Ok(())
}

/// A JSON summary listing claim names (never their values: they may be personal data).
pub(crate) fn claim_names(values: &BTreeMap<String, Value>) -> Value {
    json!({ "claims": values.keys().collect::<Vec<_>>() })
}
