//! The consent page (OIDC Core §3.1.2.4): the identity and API scopes the application
//! asks for, by display name and description. Consent is remembered per user and
//! application; denying answers the client with `access_denied` (a device request:
//! its device code is denied, RFC 8628 §3.5).

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;
use tessera_domain::ScopeSet;
use tessera_store::applications::RegistrationKind;
use tessera_store::scopes::{self, ScopeKind};
use tessera_store::{AnyConnection, StoreError, StoreResult, authorization_requests, consents, users};
use tessera_tokens::SecretHash;

use super::{audit_user, handle_from_query, resume_location};
use crate::authorize::{Pending, load_pending, save_pending};
use crate::error::{Refusal, bad_form, expired, run_blocking};
use crate::form::Params;
use crate::pages::{ConsentPage, ScopeItem, SelfRegistered};
use crate::session;
use crate::state::{OidcState, now};
use crate::view::{Deferred, see_other};

fn page(conn: &mut AnyConnection, pending: &Pending) -> StoreResult<Option<ConsentPage>> {
    let Some(user_id) = &pending.session.user_id else { return Ok(None) };
    let user = users::get(conn, user_id)?;
    let mut identity_scopes = Vec::new();
    let mut api_scopes = Vec::new();
    // The request's scopes were checked when it was made; one deleted since is left out,
    // but a store failure is an error, not a shorter list.
    let requested = ScopeSet::parse(&pending.request.scope).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    for token in requested.iter() {
        let scope = match scopes::get_scope(conn, token.as_str()) {
            Ok(scope) => scope,
            Err(StoreError::NotFound { .. }) => continue,
            Err(other) => return Err(other),
        };
        let item =
            ScopeItem { name: scope.name.clone(), display_name: scope.display_name, description: scope.description };
        match scope.kind {
            ScopeKind::Identity => identity_scopes.push(item),
            ScopeKind::Api => api_scopes.push(item),
        }
    }
    Ok(Some(ConsentPage {
        request: pending.handle.clone(),
        csrf: session::csrf_token(&pending.session_id),
        client_name: pending.app.settings.name.clone(),
        self_registered: self_registered(pending),
        username: user.username,
        identity_scopes,
        api_scopes,
    }))
}

/// A self-registered application's name is its own claim, and a rogue client may take
/// another's (RFC 7591 §5 security considerations; the metadata document draft's client
/// impersonation): the page says that nobody checked it and shows the host a phisher
/// cannot pick freely, the metadata document's for such a client and the redirect URI's
/// for a dynamic one. Its `logo_uri` is never shown.
fn self_registered(pending: &Pending) -> Option<SelfRegistered> {
    let host = |raw: &str| url::Url::parse(raw).ok().and_then(|u| u.host_str().map(str::to_owned));
    match pending.app.registration? {
        RegistrationKind::MetadataDocument => {
            Some(SelfRegistered { host: host(pending.app.client_id.as_str()), metadata_document: true })
        }
        RegistrationKind::Dynamic => {
            Some(SelfRegistered { host: host(pending.redirect_uri()), metadata_document: false })
        }
    }
}

/// `GET /consent?request=…`.
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
                Ok(match page(c, &pending)? {
                    Some(page) => Deferred::client_page(actix_web::http::StatusCode::OK, page, pending.redirect_uri()),
                    None => see_other(&resume_location(&pending.handle)),
                })
            })
        },
        Deferred::into_response,
    )
    .await
}

/// `POST /consent`: `decision=allow` or `decision=deny`.
pub(crate) async fn submit(request: HttpRequest, body: web::Bytes, state: web::Data<OidcState>) -> HttpResponse {
    let cookie = session::presented_id(&request, &state.settings);
    let Ok(form) = Params::from_page_form(&body) else { return bad_form().into_response() };
    let client_ip = request.peer_addr().map(|a| a.ip().to_string());
    let state = state.into_inner();
    run_blocking(
        move || {
            state.store.write_transaction(|c| {
                let now = now();
                let Some(mut pending) = load_pending(c, &state, form.get("request"), cookie.as_deref(), now)? else {
                    return Ok(expired());
                };
                if !session::csrf_matches(&pending.session_id, form.get("csrf")) {
                    return Ok(bad_form());
                }
                let Some(user_id) = pending.session.user_id.clone() else { return Ok(expired()) };
                let summary = json!({ "client_id": pending.app.client_id, "scope": pending.request.scope });
                match form.get("decision") {
                    Some("allow") => {
                        consents::upsert_consent(c, &user_id, &pending.app.id, &pending.request.scope, now)?;
                        pending.request.consented = true;
                        save_pending(c, &pending)?;
                        audit_user(c, &user_id, "user.consent_given", summary, client_ip.as_deref(), now)?;
                        Ok(see_other(&resume_location(&pending.handle)))
                    }
                    Some("deny") => {
                        authorization_requests::delete_request(c, SecretHash::of(&pending.handle).as_str())?;
                        audit_user(c, &user_id, "user.consent_denied", summary, client_ip.as_deref(), now)?;
                        if let Some(device_code_hash) = &pending.request.device {
                            return super::device::deny(c, device_code_hash, now);
                        }
                        let refusal = Refusal::new("access_denied", "the user did not allow the request");
                        Ok(refusal.redirect(&pending.request.reply, &state.issuer))
                    }
                    _ => Ok(bad_form()),
                }
            })
        },
        Deferred::into_response,
    )
    .await
}
