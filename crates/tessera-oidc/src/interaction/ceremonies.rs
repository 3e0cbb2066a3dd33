//! The WebAuthn ceremonies of the sign-in pages (docs/authentication.md, "Passkeys"),
//! shared by the sign-in page (a discoverable get), the factor page (a get over the
//! user's passkeys), enrolment during sign-in (a registration) and the account page's
//! own sign-in: the options request `static/passkeys.js` sends, answered in JSON; the
//! ceremony's state kept in the database (single use, [`CEREMONY_LIFETIME`]) so that any
//! node finishes what another started; an assertion checked against the user's passkey.

use actix_web::http::StatusCode;
use actix_web::http::header::{CacheControl, CacheDirective};
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;
use tessera_domain::assurance::Factor;
use tessera_factors::RelyingParty;
use tessera_store::StoreResult;
use tessera_store::factors::ceremonies::{self, Kind, NewCeremony};
use tessera_store::factors::passkeys as stored_passkeys;
use tessera_store::users::User;
use tessera_tokens::{SecretHash, generate_secret};

use crate::error::run_blocking;
use crate::form::Params;
use crate::session;
use crate::state::{OidcState, now};
use crate::view::Deferred;

/// Seconds a passkey ceremony may take between its options and the browser's answer.
pub(crate) const CEREMONY_LIFETIME: i64 = 5 * 60;

/// A passkey's options request on the sign-in pages (`static/passkeys.js`): the form is
/// read and passkeys must be available here (errors in JSON), then `options` runs off
/// the async threads with the form and the session cookie.
pub(crate) async fn answer_passkey_options(
    request: HttpRequest,
    body: web::Bytes,
    state: web::Data<OidcState>,
    options: fn(&OidcState, &RelyingParty, &Params, Option<&str>, i64) -> StoreResult<Deferred>,
) -> HttpResponse {
    let cookie = session::presented_id(&request, &state.settings);
    let Ok(form) = Params::from_page_form(&body) else {
        return json_error(StatusCode::BAD_REQUEST, "The form could not be read.").into_response();
    };
    let state = state.into_inner();
    run_blocking(
        move || {
            let Some(party) = state.factors.relying_party.as_deref() else {
                return Ok(json_error(StatusCode::NOT_FOUND, "Passkeys are not available on this server."));
            };
            options(&state, party, &form, cookie.as_deref(), now())
        },
        Deferred::into_response,
    )
    .await
}

/// Takes the ceremony of this user's passkey authentication and verifies the browser's
/// answer against the passkey it names (which must be the user's): the factor, or `None`
/// when anything is wrong. The passkey's counter and backup state are recorded.
pub(crate) fn verify_passkey(
    state: &OidcState,
    party: &tessera_factors::RelyingParty,
    user: &User,
    ceremony: &str,
    credential: &str,
    now: i64,
) -> StoreResult<Option<Factor>> {
    let hash = SecretHash::of(ceremony);
    let taken = state.store.write_statement(|c| ceremonies::take(c, hash.as_str(), Kind::Authentication, now))?;
    let Some(taken) = taken.filter(|t| t.user_id.as_ref() == Some(&user.id)) else { return Ok(None) };
    let Ok(credential_id) = party.credential_id_of(credential) else { return Ok(None) };
    let stored = state.store.read_statement(|c| stored_passkeys::find_by_credential_id(c, &credential_id))?;
    let Some(stored) = stored.filter(|p| p.user_id == user.id) else { return Ok(None) };
    match party.finish_authentication(credential, &taken.state, &stored.credential) {
        Ok(used) => {
            state.store.write_statement(|c| {
                stored_passkeys::record_use(c, &stored.id, used.updated_credential.as_deref(), now)
            })?;
            Ok(Some(used.factor))
        }
        Err(error) => {
            tracing::info!(%error, "a passkey assertion was refused");
            Ok(None)
        }
    }
}

/// A JSON answer for `static/passkeys.js`, never cached.
pub(crate) fn json_answer(status: StatusCode, body: serde_json::Value) -> Deferred {
    Deferred::new(move || {
        HttpResponse::build(status).insert_header(CacheControl(vec![CacheDirective::NoStore])).json(body)
    })
}

pub(crate) fn json_error(status: StatusCode, message: &str) -> Deferred {
    json_answer(status, json!({ "error": message }))
}

/// Keeps a passkey ceremony's state (single use, [`CEREMONY_LIFETIME`]) and answers its
/// options with the ceremony's id added, as `static/passkeys.js` expects.
pub(crate) fn ceremony_answer(
    state: &OidcState,
    ceremony: tessera_factors::Ceremony,
    kind: Kind,
    user: Option<&tessera_domain::UserId>,
    now: i64,
) -> StoreResult<Deferred> {
    let id = generate_secret();
    let hash = id.hash();
    state.store.write_statement(|c| {
        let new = NewCeremony {
            id_hash: hash.as_str(),
            user_id: user,
            kind,
            state: &ceremony.state,
            expires_at: now + CEREMONY_LIFETIME,
        };
        ceremonies::start(c, &new, now)
    })?;
    let mut body = ceremony.options;
    if let Some(object) = body.as_object_mut() {
        object.insert("ceremony".into(), json!(id.expose()));
    }
    Ok(json_answer(StatusCode::OK, body))
}
