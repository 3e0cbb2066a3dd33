//! Passkeys on the account page: register one (two requests: the options, then the
//! browser's answer), rename one, remove one.
//!
//! `POST /account/security/passkeys/options` takes the form (CSRF token, and the current
//! password unless the sign-in is recent), starts a WebAuthn registration, keeps its
//! state as a ceremony of this user (single use, [`crate::interaction::ceremonies::CEREMONY_LIFETIME`]) and answers JSON
//! for `static/passkeys.js`: `{"ceremony": id, "publicKey": {…}}`, or `{"error": …}`
//! with 400, 403 or 429. The browser creates the credential and posts the form again to
//! `POST /account/security/passkeys` with `ceremony` and `credential` (the JSON of the
//! new credential): the ceremony is taken once, the answer verified, the passkey stored,
//! audited (`user.passkey_added`) and mailed, and the page says so (303).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;
use tessera_factors::passkeys::PasskeyUser;
use tessera_store::factors::ceremonies::{self, Kind};
use tessera_store::factors::passkeys::{self, NewPasskey};
use tessera_store::{StoreError, StoreResult};
use tessera_tokens::SecretHash;

use super::super::{Account, Submitted, done, forged, signed_in, to_sign_in};
use super::{Answer, Change, Proof, prove, record, refuse};
use crate::error::{bad_form, run_blocking};
use crate::interaction::ceremonies::{ceremony_answer, json_error};
use crate::state::{OidcState, now};
use crate::view::Deferred;

/// The longest passkey name kept, in characters.
pub const NAME_LIMIT: usize = 64;

/// A passkey's name as typed: trimmed, without control characters, at most
/// [`NAME_LIMIT`] characters; empty becomes "Passkey".
pub(crate) fn clean_name(typed: &str) -> String {
    let name: String = typed.chars().filter(|c| !c.is_control()).take(NAME_LIMIT).collect();
    let name = name.trim();
    if name.is_empty() { "Passkey".to_owned() } else { name.to_owned() }
}

/// `POST /account/security/passkeys/options`.
pub(crate) async fn options(request: HttpRequest, body: web::Bytes, state: web::Data<OidcState>) -> HttpResponse {
    let Some(submitted) = Submitted::read(&request, &body, &state) else {
        return json_error(StatusCode::BAD_REQUEST, "The form could not be read.").into_response();
    };
    let state = state.into_inner();
    run_blocking(move || start(&state, &submitted), Deferred::into_response).await
}

fn start(state: &OidcState, submitted: &Submitted) -> StoreResult<Deferred> {
    let now = now();
    let Some(party) = state.factors.relying_party.as_deref() else {
        return Ok(json_error(StatusCode::NOT_FOUND, "Passkeys are not available on this server."));
    };
    let Some(account) = state.store.read_transaction(|c| signed_in(c, state, submitted.cookie.as_deref(), now))? else {
        return Ok(json_error(StatusCode::UNAUTHORIZED, "You are signed out. Sign in again."));
    };
    if !account.posted(&submitted.form) {
        return Ok(json_error(StatusCode::FORBIDDEN, "This form has expired. Open your account page again."));
    }
    let client_ip = submitted.client_ip.as_deref();
    let proof = match prove(state, &account, submitted.form.get("current_password"), client_ip, "passkey_added", now)? {
        Ok(proof) => proof,
        Err(refusal) => {
            let answer = json_error(refusal.status, &refusal.message);
            return Ok(match refusal.retry_after {
                Some(seconds) => answer.retry_after(seconds),
                None => answer,
            });
        }
    };
    let existing = state.store.read_transaction(|c| passkeys::list_of_user(c, &account.user.id))?;
    let credentials: Vec<&str> = existing.iter().map(|p| p.credential.as_str()).collect();
    let user = PasskeyUser {
        user_id: account.user.id.as_str(),
        name: account.user.email.as_deref().unwrap_or(&account.user.username),
        display_name: &account.user.username,
    };
    let ceremony =
        party.start_registration(user, &credentials).map_err(|e| StoreError::Corrupt(format!("passkeys: {e}")))?;
    // The password's reservation is given back whatever follows (it was right).
    state.store.write_transaction(|c| proof.settle(c))?;
    ceremony_answer(state, ceremony, Kind::Registration, Some(&account.user.id), now)
}

/// `POST /account/security/passkeys`: the browser's answer to a registration.
pub(crate) async fn add(request: HttpRequest, body: web::Bytes, state: web::Data<OidcState>) -> HttpResponse {
    super::change(request, body, state, finish).await
}

fn finish(state: &OidcState, submitted: &Submitted, account: Account, now: i64) -> StoreResult<Answer> {
    let form = &submitted.form;
    let problem = |message: &str| {
        let message = message.to_owned();
        refuse(state, &account, StatusCode::BAD_REQUEST, None, |p| p.passkeys = Some(message), now)
    };
    let Some(party) = state.factors.relying_party.as_deref() else {
        return Ok((problem("Passkeys are not available on this server.")?, false));
    };
    let hash = SecretHash::of(form.get("ceremony").unwrap_or(""));
    let taken = state.store.write_statement(|c| ceremonies::take(c, hash.as_str(), Kind::Registration, now))?;
    let Some(ceremony) = taken.filter(|t| t.user_id.as_ref() == Some(&account.user.id)) else {
        return Ok((problem("This passkey registration expired. Try again.")?, false));
    };
    let registered = match party.finish_registration(form.get("credential").unwrap_or(""), &ceremony.state) {
        Ok(registered) => registered,
        Err(error) => {
            tracing::info!(%error, "a passkey registration was refused");
            return Ok((problem("Your browser's passkey could not be registered. Try again.")?, false));
        }
    };
    let name = clean_name(form.get("name").unwrap_or(""));
    let client_ip = submitted.client_ip.as_deref();
    let written = state.store.write_transaction(|c| {
        let Some(account) = signed_in(c, state, submitted.cookie.as_deref(), now)? else { return Ok(None) };
        let new = NewPasskey {
            user_id: &account.user.id,
            name: &name,
            credential: &registered.credential,
            credential_id: &registered.credential_id,
            device_bound: registered.device_bound,
        };
        let stored = match passkeys::create(c, &new, now) {
            Err(StoreError::Conflict { .. }) => return Ok(Some(Err(()))),
            other => other?,
        };
        let change = Change {
            action: "user.passkey_added",
            summary: json!({ "passkey": stored.id, "name": name, "device_bound": stored.device_bound, "page": "account" }),
            factor: &format!("A passkey named “{name}”"),
            added: true,
        };
        Ok(Some(Ok(record(c, state, &account.user, &change, client_ip, now)?)))
    })?;
    Ok(match written {
        None => (to_sign_in(), false),
        Some(Err(())) => (problem("This passkey is registered already.")?, false),
        Some(Ok(queued)) => (done("passkey-added"), queued),
    })
}

/// `POST /account/security/passkeys/rename` with `id` and `name`.
pub(crate) async fn rename(request: HttpRequest, body: web::Bytes, state: web::Data<OidcState>) -> HttpResponse {
    let Some(submitted) = Submitted::read(&request, &body, &state) else { return bad_form().into_response() };
    let state = state.into_inner();
    run_blocking(
        move || {
            let now = now();
            state.store.write_transaction(|c| {
                let Some(account) = signed_in(c, &state, submitted.cookie.as_deref(), now)? else {
                    return Ok(to_sign_in());
                };
                if !account.posted(&submitted.form) {
                    return Ok(forged());
                }
                let id = submitted.form.get("id").unwrap_or("");
                let name = clean_name(submitted.form.get("name").unwrap_or(""));
                match passkeys::rename(c, &account.user.id, id, &name) {
                    // Removed meanwhile (or never the user's): the list shows what is left.
                    Err(StoreError::NotFound { .. }) => Ok(done("passkey-renamed")),
                    other => other.map(|()| done("passkey-renamed")),
                }
            })
        },
        Deferred::into_response,
    )
    .await
}

/// `POST /account/security/passkeys/remove` with `id` (and the current password unless
/// the sign-in is recent).
pub(crate) async fn remove(request: HttpRequest, body: web::Bytes, state: web::Data<OidcState>) -> HttpResponse {
    super::change(request, body, state, removal).await
}

fn removal(state: &OidcState, submitted: &Submitted, account: Account, now: i64) -> StoreResult<Answer> {
    let form = &submitted.form;
    let client_ip = submitted.client_ip.as_deref();
    let proof: Proof = match prove(state, &account, form.get("current_password"), client_ip, "passkey_removed", now)? {
        Ok(proof) => proof,
        Err(r) => {
            return Ok((
                refuse(state, &account, r.status, r.retry_after, |p| p.passkeys = Some(r.message), now)?,
                false,
            ));
        }
    };
    let id = form.get("id").unwrap_or("").to_owned();
    let queued = state.store.write_transaction(|c| {
        proof.settle(c)?;
        let Some(account) = signed_in(c, state, submitted.cookie.as_deref(), now)? else { return Ok(None) };
        let Some(passkey) = passkeys::find_of_user(c, &account.user.id, &id)? else { return Ok(Some(false)) };
        passkeys::delete(c, &account.user.id, &id)?;
        let change = Change {
            action: "user.passkey_removed",
            summary: json!({ "passkey": passkey.id, "name": passkey.name, "page": "account" }),
            factor: &format!("The passkey named “{}”", passkey.name),
            added: false,
        };
        record(c, state, &account.user, &change, client_ip, now).map(Some)
    })?;
    Ok(match queued {
        None => (to_sign_in(), false),
        Some(queued) => (done("passkey-removed"), queued),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_bounded_and_never_empty() {
        assert_eq!(clean_name("  Laptop \n"), "Laptop");
        assert_eq!(clean_name(""), "Passkey");
        assert_eq!(clean_name("\u{7}\u{1b}"), "Passkey");
        assert_eq!(clean_name(&"x".repeat(100)).chars().count(), NAME_LIMIT);
    }
}
