//! The profile and email forms of the account page. Claim values are checked exactly as
//! the required-claims page checks them (`tessera_domain::validate_claim_input`); an
//! empty field removes the value, unless an application requires the claim. A new email
//! address is stored unverified and gets a verification link; a new phone number loses
//! `phone_number_verified` (the store resets a verified flag whose value changes: OIDC
//! Core §5.1). Verified flags are never taken from the form.

use std::collections::BTreeMap;

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};
use tessera_domain::{ClaimValueType, Email};
use tessera_store::scopes::ClaimType;
use tessera_store::{StoreError, StoreResult, users};

use super::{Submitted, claim_fields, done, editable_claims, forged, page, refused, required_claims, signed_in};
use crate::error::{bad_form, run_blocking};
use crate::form::Params;
use crate::interaction::audit_user;
use crate::state::{OidcState, now};
use crate::view::Deferred;

/// An address another account holds: the same words whichever it is.
const TAKEN: &str = "This address cannot be used for your account. Enter another one.";

/// Checks each field of the form: the values to store (`null` removes one), or the
/// error beside each field that is wrong.
fn validate(
    types: &[ClaimType],
    required: &std::collections::BTreeSet<String>,
    form: &Params,
) -> Result<BTreeMap<String, Value>, BTreeMap<String, String>> {
    let mut values = BTreeMap::new();
    let mut errors = BTreeMap::new();
    for claim in types {
        let raw = form.get(&format!("claim.{}", claim.name)).unwrap_or("");
        // An unchecked box sends nothing: it means false.
        let raw = if claim.value_type == ClaimValueType::Boolean && raw.is_empty() { "false" } else { raw };
        if raw.trim().is_empty() {
            if required.contains(&claim.name) {
                errors.insert(claim.name.clone(), format!("{} is required.", claim.display_name));
            } else {
                values.insert(claim.name.clone(), Value::Null);
            }
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

/// `POST /account/profile`.
pub(crate) async fn submit_profile(
    request: HttpRequest,
    body: web::Bytes,
    state: web::Data<OidcState>,
) -> HttpResponse {
    let Some(submitted) = Submitted::read(&request, &body, &state) else { return bad_form().into_response() };
    let state = state.into_inner();
    run_blocking(move || save_profile(&state, &submitted), Deferred::into_response).await
}

fn save_profile(state: &OidcState, submitted: &Submitted) -> StoreResult<Deferred> {
    let now = now();
    state.store.write_transaction(|c| {
        let Some(account) = signed_in(c, state, submitted.cookie.as_deref(), now)? else {
            return Ok(super::to_sign_in());
        };
        if !account.posted(&submitted.form) {
            return Ok(forged());
        }
        let types = editable_claims(c)?;
        let required = required_claims(c)?;
        let values = match validate(&types, &required, &submitted.form) {
            Ok(values) => values,
            Err(errors) => {
                let stored = users::claim_values(c, &account.user)?;
                let mut page = page(c, state, &account, now)?;
                page.claims = claim_fields(&types, &stored, Some(&submitted.form), &errors);
                page.problems.profile = true;
                return Ok(refused(page));
            }
        };
        users::set_claim_values(c, &account.user.id, &values, now)?;
        // The names only: claim values may be personal data.
        let set: Vec<&String> = values.iter().filter(|(_, v)| !v.is_null()).map(|(k, _)| k).collect();
        let removed: Vec<&String> = values.iter().filter(|(_, v)| v.is_null()).map(|(k, _)| k).collect();
        let summary = json!({ "claims_set": set, "claims_removed": removed, "page": "account" });
        audit_user(c, &account.user.id, "user.profile_update", summary, submitted.client_ip.as_deref(), now)?;
        Ok(done("profile"))
    })
}

/// `POST /account/email`.
pub(crate) async fn submit_email(request: HttpRequest, body: web::Bytes, state: web::Data<OidcState>) -> HttpResponse {
    let Some(submitted) = Submitted::read(&request, &body, &state) else { return bad_form().into_response() };
    let state = state.into_inner();
    let waker = state.clone();
    run_blocking(
        move || change_email(&state, &submitted),
        move |response| {
            if let Some(accounts) = &waker.accounts {
                accounts.wake();
            }
            response.into_response()
        },
    )
    .await
}

fn change_email(state: &OidcState, submitted: &Submitted) -> StoreResult<Deferred> {
    let now = now();
    let typed = submitted.form.get("email").unwrap_or("").trim().to_owned();
    state.store.write_transaction(|c| {
        let Some(account) = signed_in(c, state, submitted.cookie.as_deref(), now)? else {
            return Ok(super::to_sign_in());
        };
        if !account.posted(&submitted.form) {
            return Ok(forged());
        }
        let parsed = if typed.is_empty() {
            Err("Enter an email address.".to_owned())
        } else {
            Email::parse(&typed).map(|e| e.as_str().to_lowercase()).map_err(|e| e.to_string())
        };
        let email = match parsed {
            Ok(email) => email,
            Err(message) => return refuse_email(c, state, &account, &typed, message, now),
        };
        if account.user.email.as_deref() == Some(email.as_str()) {
            return Ok(done(if account.user.email_verified { "profile" } else { "email-unverified" }));
        }
        let changes = users::UserChanges { email: Some(Some(email.clone())), ..Default::default() };
        let updated = match users::update(c, &account.user.id, &changes, now) {
            Ok(updated) => updated,
            // Checked before writing (users::update): nothing was changed.
            Err(StoreError::Conflict { field }) if field == "email" => {
                return refuse_email(c, state, &account, &typed, TAKEN.to_owned(), now);
            }
            Err(other) => return Err(other),
        };
        let sent = match &state.accounts {
            Some(accounts) => accounts.send_verification(c, &updated, now)? == tessera_auth::Sent::Queued,
            None => false,
        };
        let summary = json!({ "verification_sent": sent, "page": "account" });
        audit_user(c, &account.user.id, "user.email_change", summary, submitted.client_ip.as_deref(), now)?;
        Ok(done(if sent { "email" } else { "email-unverified" }))
    })
}

/// The page again with `message` beside the email field (what was typed kept).
fn refuse_email(
    c: &mut tessera_store::AnyConnection,
    state: &OidcState,
    account: &super::Account,
    typed: &str,
    message: String,
    now: i64,
) -> StoreResult<Deferred> {
    let mut page = page(c, state, account, now)?;
    page.email_value = typed.to_owned();
    page.problems.email = Some(message);
    Ok(refused(page))
}
