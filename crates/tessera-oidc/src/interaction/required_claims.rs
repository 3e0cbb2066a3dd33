//! The required-claims page (Cotia ID's required claims): asks for every claim the
//! application requires and the user lacks, validates each by its claim type, saves them
//! to the user, then continues the authorization.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use tessera_store::{AnyConnection, StoreError, StoreResult, users};

use super::{audit_user, claim_names, claim_types, fields, handle_from_query, resume_location, save_claims, validate};
use crate::authorize::{Pending, load_pending};
use crate::error::{bad_form, expired, run_blocking};
use crate::form::Params;
use crate::pages::RequiredClaimsPage;
use crate::session;
use crate::state::{OidcState, now};
use crate::view::{Deferred, see_other};

/// A value another account holds (an email address): the same words whichever it is.
const TAKEN: &str = "This value cannot be used for your account. Enter another one.";

/// The signed-in user of the pending request and the claim types they lack and may give
/// (a server-controlled claim, such as `phone_number_verified`, is never asked: only an
/// administrator or Tessera's own verification sets it).
fn missing(
    conn: &mut AnyConnection,
    pending: &Pending,
) -> StoreResult<Option<(users::User, Vec<tessera_store::scopes::ClaimType>)>> {
    let Some(user_id) = &pending.session.user_id else { return Ok(None) };
    let user = users::get(conn, user_id)?;
    let values = users::claim_values(conn, &user)?;
    let names = tessera_domain::missing_required_claims(&pending.app.settings.required_claims, &values);
    Ok(Some((user, claim_types(conn, &names)?)))
}

fn page(
    pending: &Pending,
    types: &[tessera_store::scopes::ClaimType],
    form: &Params,
    errors: &BTreeMap<String, String>,
) -> RequiredClaimsPage {
    RequiredClaimsPage {
        request: pending.handle.clone(),
        csrf: session::csrf_token(&pending.session_id),
        client_name: pending.app.settings.name.clone(),
        fields: fields(types, form, errors),
        error: (!errors.is_empty()).then(|| "Please correct the fields marked below.".to_owned()),
    }
}

/// `GET /login/claims?request=…`.
pub(crate) async fn show(request: HttpRequest, state: web::Data<OidcState>) -> HttpResponse {
    let cookie = session::presented_id(&request, &state.settings);
    let handle = handle_from_query(request.query_string());
    let state = state.into_inner();
    run_blocking(
        move || {
            state.store.read_transaction(|c| {
                let Some(pending) = load_pending(c, &state, handle.as_deref(), cookie.as_deref(), now())? else {
                    return Ok(expired());
                };
                match missing(c, &pending)? {
                    Some((_, types)) if !types.is_empty() => Ok(Deferred::client_page(
                        StatusCode::OK,
                        page(&pending, &types, &Params::default(), &BTreeMap::new()),
                        pending.redirect_uri(),
                    )),
                    _ => Ok(see_other(&resume_location(&pending.handle))),
                }
            })
        },
        Deferred::into_response,
    )
    .await
}

/// `POST /login/claims`.
pub(crate) async fn submit(request: HttpRequest, body: web::Bytes, state: web::Data<OidcState>) -> HttpResponse {
    let cookie = session::presented_id(&request, &state.settings);
    let Ok(form) = Params::from_page_form(&body) else { return bad_form().into_response() };
    let client_ip = request.peer_addr().map(|a| a.ip().to_string());
    let state = state.into_inner();
    let waker = state.clone();
    run_blocking(
        move || {
            state.store.write_transaction(|c| {
                let now = now();
                let Some(pending) = load_pending(c, &state, form.get("request"), cookie.as_deref(), now)? else {
                    return Ok(expired());
                };
                if !session::csrf_matches(&pending.session_id, form.get("csrf")) {
                    return Ok(bad_form());
                }
                let Some((user, types)) = missing(c, &pending)? else { return Ok(expired()) };
                match validate(&types, &form) {
                    Err(errors) => Ok(Deferred::client_page(
                        StatusCode::BAD_REQUEST,
                        page(&pending, &types, &form, &errors),
                        pending.redirect_uri(),
                    )),
                    Ok(values) => {
                        match save_claims(c, &user, &values, state.accounts.as_ref(), now) {
                            Ok(()) => {}
                            // Finding 9 of the 2026-12 review: this was a 500.
                            Err(StoreError::Conflict { field }) if values.contains_key(&field) => {
                                let errors = BTreeMap::from([(field, TAKEN.to_owned())]);
                                let page = page(&pending, &types, &form, &errors);
                                return Ok(Deferred::client_page(
                                    StatusCode::BAD_REQUEST,
                                    page,
                                    pending.redirect_uri(),
                                ));
                            }
                            Err(other) => return Err(other),
                        }
                        audit_user(
                            c,
                            &user.id,
                            "user.claims_provided",
                            claim_names(&values),
                            client_ip.as_deref(),
                            now,
                        )?;
                        Ok(see_other(&resume_location(&pending.handle)))
                    }
                }
            })
        },
        move |response: Deferred| {
            if let Some(accounts) = &waker.accounts {
                accounts.wake();
            }
            response.into_response()
        },
    )
    .await
}
