//! RP-Initiated Logout 1.0: `/connect/endsession`. With a valid `id_token_hint` that
//! names this browser's signed-in user (its `sub`, and its `sid` when present), the
//! session ends and the browser goes to `post_logout_redirect_uri` only if that exact URI
//! is registered for the client the hint was issued to. Without a valid hint, or with one
//! naming another account or session, the user is asked to confirm (the page names the
//! account it signs out), and nothing redirects.

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Map, Value, json};
use tessera_domain::ClientId;
use tessera_store::applications;
use tessera_store::browser_sessions::BrowserSession;
use tessera_store::{StoreError, audit, backchannel_logout, browser_sessions, users};
use tessera_tokens::SecretHash;

use crate::error::{bad_form, run_blocking};
use crate::form::Params;
use crate::id_token::verified_id_token;
use crate::pages::{self, LogoutPage, SignedOutPage};
use crate::session;
use crate::state::{OidcState, now};
use crate::view::{Deferred, see_other};

/// `GET /connect/endsession`.
pub(crate) async fn end_session_get(request: HttpRequest, state: web::Data<OidcState>) -> HttpResponse {
    let params = Params::parse(request.query_string().as_bytes()).unwrap_or_default();
    end_session(request, state, params).await
}

/// `POST /connect/endsession`.
pub(crate) async fn end_session_post(
    request: HttpRequest,
    body: web::Bytes,
    state: web::Data<OidcState>,
) -> HttpResponse {
    let params = Params::parse(&body).unwrap_or_default();
    end_session(request, state, params).await
}

async fn end_session(request: HttpRequest, state: web::Data<OidcState>, params: Params) -> HttpResponse {
    let cookie = session::presented_id(&request, &state.settings);
    let client_ip = request.peer_addr().map(|a| a.ip().to_string());
    let state = state.into_inner();
    let worker = state.clone();
    let work = move || decide(&worker, &params, cookie.as_deref(), client_ip.as_deref());
    run_blocking(work, |outcome| respond(outcome, &state)).await
}

/// The page or redirect, removing the session cookie when the session ended (and waking
/// the outbox runner for its back-channel logout tokens).
fn respond((response, clear_cookie): (Deferred, bool), state: &OidcState) -> HttpResponse {
    let mut response = response.into_response();
    if clear_cookie {
        // The session ended and its logout tokens are committed: deliver them now.
        state.outbox_wake.notify();
        let _ = response.add_cookie(&session::removal(&state.settings));
    }
    response
}

fn decide(
    state: &OidcState,
    params: &Params,
    cookie: Option<&str>,
    client_ip: Option<&str>,
) -> Result<(Deferred, bool), StoreError> {
    let now = now();
    let hint = params.get("id_token_hint").and_then(|hint| verified_id_token(state, hint));
    let Some(hint) = hint else {
        // No valid hint: ask first (the form carries the CSRF token of this session).
        return state.store.read_transaction(|c| {
            Ok(match session::current(c, cookie, &state.settings, now)? {
                Some((id, browser)) => (confirmation(c, &id, &browser, None, false)?, false),
                None => (Deferred::page(SignedOutPage {}), true),
            })
        });
    };
    let client_id = match hint.get("aud") {
        Some(Value::String(aud)) => Some(ClientId::from(aud.as_str())),
        Some(Value::Array(auds)) => auds.first().and_then(Value::as_str).map(ClientId::from),
        _ => None,
    };
    state.store.write_transaction(|c| {
        let app = match &client_id {
            Some(id) => applications::find_by_client_id(c, id)?,
            None => None,
        };
        let current = session::current(c, cookie, &state.settings, now)?;
        // RP-Initiated Logout 1.0 §2: a hint whose `sub` (or `sid`) is not this browser's
        // session is suspect. Nothing ends without the user's word, nothing redirects,
        // and the attempt is audited.
        if let Some((id, browser)) = &current
            && let Some(user_id) = &browser.user_id
            && !hint_names_session(&hint, user_id.as_str(), &browser.sid)
        {
            audit::record(
                c,
                &audit::NewAuditEvent {
                    actor: &client_id.as_ref().map_or_else(|| "anonymous".to_owned(), |id| format!("client:{id}")),
                    action: "user.sign_out_hint_mismatch",
                    target: &format!("user:{user_id}"),
                    summary: json!({
                        "hint_sub": hint.get("sub"),
                        "hint_aud": hint.get("aud"),
                        "hint_sid_matches": hint.get("sid").and_then(Value::as_str) == Some(browser.sid.as_str()),
                    }),
                    client_ip,
                },
                now,
            )?;
            let client_name = app.as_ref().map(|a| a.settings.name.clone());
            return Ok((confirmation(c, id, browser, client_name, true)?, false));
        }
        let initiated_by = json!({ "client_id": client_id, "via": "id_token_hint" });
        end(c, current, client_ip, initiated_by, now)?;
        let target = params.get("post_logout_redirect_uri").filter(|uri| {
            app.as_ref()
                .is_some_and(|app| app.settings.post_logout_redirect_uris.iter().any(|registered| registered == uri))
        });
        Ok(match target {
            Some(uri) => {
                let location = match (url::Url::parse(uri), params.get("state")) {
                    (Ok(mut url), Some(state_param)) => {
                        url.query_pairs_mut().append_pair("state", state_param);
                        url.to_string()
                    }
                    _ => uri.to_owned(),
                };
                (see_other(&location), true)
            }
            None => (Deferred::page(SignedOutPage {}), true),
        })
    })
}

/// Whether an ID token names the user of this session: its `sub`, and its `sid` when it
/// carries one.
fn hint_names_session(hint: &Map<String, Value>, user_id: &str, sid: &str) -> bool {
    let sub_matches = hint.get("sub").and_then(Value::as_str) == Some(user_id);
    let sid_matches = hint.get("sid").is_none_or(|s| s.as_str() == Some(sid));
    sub_matches && sid_matches
}

/// The page that asks before signing out, naming the account it will sign out.
fn confirmation(
    conn: &mut tessera_store::AnyConnection,
    id: &str,
    browser: &BrowserSession,
    client_name: Option<String>,
    other_account: bool,
) -> Result<Deferred, StoreError> {
    let account = match &browser.user_id {
        Some(user_id) => users::find(conn, user_id)?.map(|u| u.username),
        None => None,
    };
    Ok(Deferred::page(LogoutPage {
        csrf: session::csrf_token(id),
        client_name,
        request: String::new(),
        account,
        other_account,
    }))
}

/// Ends the browser's session, if it has one, and records who ended it: the user, and
/// how (`initiated_by`: the client of a matching hint, or the user's confirmation).
fn end(
    conn: &mut tessera_store::AnyConnection,
    current: Option<(String, BrowserSession)>,
    client_ip: Option<&str>,
    initiated_by: Value,
    now: i64,
) -> Result<(), StoreError> {
    if let Some((id, session)) = current {
        // OIDC Back-Channel Logout 1.0: the applications the session signed in to are told,
        // by tokens queued with the end itself.
        backchannel_logout::enqueue_for_session(conn, &session.sid, now)?;
        browser_sessions::end(conn, SecretHash::of(&id).as_str(), now)?;
        // The session's tokens end with it; offline_access grants outlive it.
        tessera_store::grants::revoke_online_grants_of_session(conn, &session.sid, now)?;
        if let Some(user_id) = &session.user_id {
            let target = format!("user:{user_id}");
            audit::record(
                conn,
                &audit::NewAuditEvent {
                    actor: &target,
                    action: "user.sign_out",
                    target: &target,
                    summary: initiated_by,
                    client_ip,
                },
                now,
            )?;
        }
    }
    Ok(())
}

/// `POST /connect/endsession/confirm`: the answer to the confirmation page.
pub(crate) async fn confirm(request: HttpRequest, body: web::Bytes, state: web::Data<OidcState>) -> HttpResponse {
    let cookie = session::presented_id(&request, &state.settings);
    let form = Params::parse(&body).unwrap_or_default();
    let client_ip = request.peer_addr().map(|a| a.ip().to_string());
    let state = state.into_inner();
    let worker = state.clone();
    let work = move || {
        worker.store.write_transaction(|c| {
            let now = now();
            let Some((id, _)) = session::current(c, cookie.as_deref(), &worker.settings, now)? else {
                return Ok((Deferred::page(SignedOutPage {}), true));
            };
            if !session::csrf_matches(&id, form.get("csrf")) {
                return Ok((bad_form(), false));
            }
            if form.get("decision") != Some("logout") {
                return Ok((
                    Deferred::page(pages::ErrorPage {
                        title: "You are still signed in".into(),
                        message: "You can close this page.".into(),
                    }),
                    false,
                ));
            }
            let current = session::current(c, cookie.as_deref(), &worker.settings, now)?;
            end(c, current, client_ip.as_deref(), json!({ "via": "confirmation" }), now)?;
            Ok((Deferred::page(SignedOutPage {}), true))
        })
    };
    run_blocking(work, |outcome| respond(outcome, &state)).await
}
