//! The authorization endpoint (RFC 6749 §4.1, OIDC Core §3.1.2): checks the request,
//! keeps it while the user signs in, fills in required claims and consents (our pages),
//! then answers the client with a single-use code. A request pushed first (RFC 9126,
//! `crate::par`) arrives as `request_uri` and `client_id`, and continues from here with
//! the pushed parameters; a signed request object (RFC 9101, `crate::request_object`)
//! arrives as `request` and `client_id`, and continues with the object's parameters.

pub mod request;

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::Value;
use tessera_domain::{GrantId, UserId};
use tessera_store::applications::{self, Application};
use tessera_store::config::Config;
use tessera_store::{AnyConnection, StoreError, StoreResult, users};
use tessera_store::{
    authorization_requests, authorization_requests::NewAuthorizationRequest, browser_sessions,
    browser_sessions::BrowserSession, codes, codes::NewAuthorizationCode, consents,
};
use tessera_tokens::{SecretHash, generate_secret};

use self::request::AuthorizationRequest;
use crate::assurance;
use crate::error::{Refusal, Untrusted, expired, run_blocking};
use crate::form::Params;
use crate::reply::{ReplyTo, ResponseMode, reply};
use crate::session;
use crate::state::{OidcState, now};
use crate::view::{Deferred, see_other};

/// How long a pending authorization request waits for the user.
const REQUEST_LIFETIME: i64 = session::ANONYMOUS_SESSION_LIFETIME;

/// The page that asks for the claims the application requires (mounted by
/// `crate::configure`, served by `interaction::required_claims`).
pub(crate) const REQUIRED_CLAIMS_PATH: &str = "/login/claims";

/// `GET /connect/authorize`: parameters in the query.
pub(crate) async fn authorize_get(request: HttpRequest, state: web::Data<OidcState>) -> HttpResponse {
    let raw = request.query_string().as_bytes().to_vec();
    begin(request, state, raw).await
}

/// `POST /connect/authorize`: the same parameters as a form (OIDC Core §3.1.2.1).
pub(crate) async fn authorize_post(
    request: HttpRequest,
    body: web::Bytes,
    state: web::Data<OidcState>,
) -> HttpResponse {
    begin(request, state, body.to_vec()).await
}

/// What to do next with a pending request.
pub(crate) enum Next {
    Page(Deferred),
    SetCookie(Deferred, String),
}

impl Next {
    fn into_response(self, state: &OidcState) -> HttpResponse {
        match self {
            Next::Page(response) => response.into_response(),
            Next::SetCookie(response, id) => {
                let mut response = response.into_response();
                let _ = response.add_cookie(&session::cookie(&id, &state.settings));
                response
            }
        }
    }
}

async fn begin(request: HttpRequest, state: web::Data<OidcState>, raw: Vec<u8>) -> HttpResponse {
    let cookie = session::presented_id(&request, &state.settings);
    let client_ip = request.peer_addr().map(|a| a.ip().to_string());
    let state = state.into_inner();
    // A client_id that is a metadata document's URL is fetched (or refreshed) first; a
    // failure is our error page, as for an unknown client.
    if let Some(client_id) = single_client_id(&raw)
        && let Err(reason) =
            crate::registration::metadata_document::ensure(&state, &client_id, request.peer_addr().map(|a| a.ip()))
                .await
    {
        return Next::Page(Untrusted(format!("The application in the request cannot be used: {reason}.")).page())
            .into_response(&state);
    }
    let worker = state.clone();
    run_blocking(
        move || start(&worker, &raw, cookie.as_deref(), client_ip.as_deref()),
        |next| next.into_response(&state),
    )
    .await
}

/// The request's `client_id` when it looks like a metadata document URL and is given once.
fn single_client_id(raw: &[u8]) -> Option<String> {
    let mut found = url::form_urlencoded::parse(raw).filter(|(k, _)| k == "client_id").map(|(_, v)| v.into_owned());
    let first = found.next()?;
    (found.next().is_none() && crate::registration::metadata_document::is_url(&first)).then_some(first)
}

fn start(state: &OidcState, raw: &[u8], cookie: Option<&str>, client_ip: Option<&str>) -> StoreResult<Next> {
    let now = now();
    let (params, repeated) = match Params::parse_noting_repeats(raw) {
        Ok(parsed) => parsed,
        Err(e) => return Ok(Next::Page(Untrusted(e.description).page())),
    };
    if repeated.iter().any(|p| matches!(p.as_str(), "client_id" | "redirect_uri" | "request_uri" | "request")) {
        return Ok(Next::Page(Untrusted("client_id, redirect_uri, request or request_uri is repeated.".into()).page()));
    }
    let client_id = match request::check_client(&params) {
        Ok(id) => id.to_owned(),
        Err(reason) => return Ok(Next::Page(reason.page())),
    };
    let config = state.store.config()?;
    let app = match config.application_by_client_id(&client_id) {
        Some(app) if app.settings.enabled => app.clone(),
        _ => return Ok(Next::Page(Untrusted("The application in the request is not known.".into()).page())),
    };
    // RFC 9101 §5: a request object by value or by reference, not both.
    if params.get("request").is_some() && params.get("request_uri").is_some() {
        return Ok(Next::Page(Untrusted(BOTH_REQUEST_AND_REQUEST_URI.into()).page()));
    }
    // RFC 9126 §4: a pushed request is spent now and its parameters replace the query's
    // (only client_id, which must name the client that pushed it, comes from outside).
    // RFC 9101 §6.3: so do a request object's. Without either the redirect URI is
    // unknown, so a failure is our page, not a redirect.
    // RFC 9101 §5.2: any other request_uri is fetched, if the application registered it.
    let request_uri = params.get("request_uri");
    let pushed_uri = request_uri.filter(|uri| uri.starts_with(crate::par::REQUEST_URI_PREFIX));
    let fetched_object = match request_uri.filter(|uri| !uri.starts_with(crate::par::REQUEST_URI_PREFIX)) {
        Some(uri) => match crate::request_uri::fetch(state, &app, uri) {
            Ok(object) => Some(object),
            Err(refusal) => {
                crate::request_object::record_refusal(&state.store, app.client_id.as_str(), &refusal, client_ip, now);
                return Ok(Next::Page(unusable_request_object(&refusal).page()));
            }
        },
        None => None,
    };
    let object = fetched_object.as_deref().or(params.get("request"));
    let (params, repeated, origin) = match (pushed_uri, object) {
        (Some(uri), _) => match crate::par::take(state, &app, uri, now)? {
            Some(pushed) => (pushed.params, Vec::new(), Origin { pushed: true, signed: pushed.signed }),
            None => return Ok(Next::Page(Untrusted(UNUSABLE_REQUEST_URI.into()).page())),
        },
        (None, Some(object)) => {
            match crate::request_object::verify(&app, &state.client_keys, object, &state.issuer, now) {
                Ok(object_params) => (object_params, Vec::new(), Origin { pushed: false, signed: true }),
                Err(refusal) => {
                    crate::request_object::record_refusal(
                        &state.store,
                        app.client_id.as_str(),
                        &refusal,
                        client_ip,
                        now,
                    );
                    return Ok(Next::Page(unusable_request_object(&refusal).page()));
                }
            }
        }
        (None, None) => (params, repeated, Origin::default()),
    };
    let redirect_uri = match request::check_redirect_uri(&params, &app) {
        Ok(uri) => uri,
        Err(reason) => return Ok(Next::Page(reason.page())),
    };
    let state_param = params.get("state").map(|s| s.chars().take(2048).collect::<String>());
    let mode = request::check_response_mode(&params);
    let reply_to =
        ReplyTo { redirect_uri, response_mode: *mode.as_ref().unwrap_or(&ResponseMode::Query), state: state_param };
    let checked = mode
        .and_then(|_| check_pushed(&app, origin.pushed))
        .and_then(|_| check_signed(&app, origin.signed))
        .and_then(|_| check_rest(state, &params, &repeated, &app, &config, now));
    let authorization = match checked {
        Ok(authorization) => authorization,
        Err(refusal) => return Ok(Next::Page(refusal.redirect(&reply_to, &state.issuer))),
    };
    let authorization = AuthorizationRequest { reply: reply_to, ..authorization };

    // Keep the request, bound to this browser's session (a new anonymous one if none).
    state.store.write_transaction(|c| {
        let (session_id, session, new_cookie) = match session::current(c, cookie, &state.settings, now)? {
            Some((id, session)) => {
                // Activity restarts the idle timeout of a signed-in session; an anonymous
                // one lives as long as the request it now binds.
                browser_sessions::touch(c, &session.id_hash, now)?;
                if session.user_id.is_none() {
                    browser_sessions::extend(c, &session.id_hash, now + session::ANONYMOUS_SESSION_LIFETIME)?;
                }
                (id, session, false)
            }
            None => {
                let (id, session) = session::start(c, None, None, &state.settings, now)?;
                (id, session, true)
            }
        };
        let handle = generate_secret();
        authorization_requests::create_request(
            c,
            &NewAuthorizationRequest {
                id_hash: handle.hash().as_str().to_owned(),
                application_id: app.id.clone(),
                session_id_hash: Some(session.id_hash.clone()),
                parameters: serde_json::to_value(&authorization).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                expires_at: now + REQUEST_LIFETIME,
            },
            now,
        )?;
        let response = decide(c, state, handle.expose(), &authorization, &app, &session, now)?;
        Ok(if new_cookie { Next::SetCookie(response, session_id) } else { Next::Page(response) })
    })
}

/// Why a `request_uri` of the pushed form cannot be used (RFC 9126 §4, §7.3).
const UNUSABLE_REQUEST_URI: &str = "The request_uri is unknown, has expired, was already used, or was pushed by \
     another application. Go back to the application and start signing in again.";

/// RFC 9101 §5.
const BOTH_REQUEST_AND_REQUEST_URI: &str =
    "The request carries both request and request_uri (invalid_request); an application sends one or the other.";

/// A request object that could not be fetched or failed verification: the redirect URI
/// it names cannot be trusted, so the error (RFC 9101 §6.2) is shown on our page.
fn unusable_request_object(refusal: &Refusal) -> Untrusted {
    Untrusted(format!(
        "The signed request object of this sign-in request cannot be used ({}): {}. Go back to the application and \
         start signing in again.",
        refusal.error, refusal.description
    ))
}

/// Where the parameters of an authorization request came from.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Origin {
    /// Pushed first (RFC 9126).
    pub pushed: bool,
    /// From a request object the client signed (RFC 9101), by value or pushed.
    pub signed: bool,
}

/// RFC 9101 §10.5: an application that requires signed request objects gets no other.
pub(crate) fn check_signed(app: &Application, signed: bool) -> Result<(), Refusal> {
    if app.settings.require_signed_request_object && !signed {
        return Err(Refusal::new(
            "invalid_request",
            "this application must send its authorization requests as signed request objects (request)",
        ));
    }
    Ok(())
}

/// RFC 9126 §6: an application that requires pushed requests gets no other.
fn check_pushed(app: &Application, pushed: bool) -> Result<(), Refusal> {
    if app.settings.require_pushed_authorization_requests && !pushed {
        return Err(Refusal::new(
            "invalid_request",
            "this application must push its authorization requests (pushed_authorization_request_endpoint)",
        ));
    }
    Ok(())
}

/// Everything after the client and redirect URI, in the order of the specs (shared with
/// the pushed authorization request endpoint, `crate::par`).
pub(crate) fn check_rest(
    state: &OidcState,
    params: &Params,
    repeated: &[String],
    app: &Application,
    config: &Config,
    now: i64,
) -> Result<AuthorizationRequest, Refusal> {
    let catalog = config.catalog();
    if let Some(name) = repeated.first() {
        return Err(Refusal::new("invalid_request", format!("parameter {name} is repeated")));
    }
    request::check_request_object(params)?;
    request::check_response_type(params)?;
    request::check_grant_type(app)?;
    let allowed = tessera_domain::allowed_scopes(&app.settings.allowed_scopes, &app.settings.grant_types, catalog);
    let resolved = request::check_scope(params, catalog, &allowed)?;
    let resources = request::check_resources(params, &resolved, config)?;
    let scope = resolved.granted();
    let code_challenge = request::check_pkce(params, app.settings.app_type)?;
    let prompt = request::check_prompt(params)?;
    let max_age = request::check_max_age(params)?;
    let nonce = request::check_text(params, "nonce")?;
    let acr_values = request::check_acr_values(params)?;
    let essential_acr = request::check_claims(params)?;
    let login_hint = request::check_text(params, "login_hint")?;
    let hinted_sub = match params.get("id_token_hint") {
        None => None,
        Some(hint) => Some(crate::id_token::hinted_subject(state, hint, &app.client_id, now).ok_or_else(|| {
            Refusal::new("invalid_request", "id_token_hint is not a valid ID token Tessera issued to this client")
        })?),
    };
    Ok(AuthorizationRequest {
        client_id: app.client_id.clone(),
        reply: ReplyTo { redirect_uri: String::new(), response_mode: ResponseMode::Query, state: None },
        scope: scope.to_string(),
        nonce,
        code_challenge,
        prompt,
        max_age,
        login_hint,
        hinted_sub,
        signed_in_at: None,
        consented: false,
        resources,
        device: None,
        dpop_jkt: request::check_dpop_jkt(params)?,
        acr_values,
        essential_acr,
        first_factor: None,
    })
}

/// The next step of a pending request (OIDC Core §3.1.2.3–§3.1.2.5): sign in, the
/// authentication the request needs (`crate::assurance`: a fresh sign-in or one more
/// factor), required claims, consent, or the code. With `prompt=none` every step needing
/// the user is an error to the client instead (§3.1.2.6).
pub(crate) fn decide(
    conn: &mut AnyConnection,
    state: &OidcState,
    handle: &str,
    request: &AuthorizationRequest,
    app: &Application,
    session: &BrowserSession,
    now: i64,
) -> StoreResult<Deferred> {
    let silent = request.prompts("none");
    let ask = |path: &str, error: &'static str, description: &str| -> Deferred {
        if silent {
            Refusal::new(error, description).redirect(&request.reply, &state.issuer)
        } else {
            see_other(&format!("{path}?request={handle}"))
        }
    };
    // docs/authentication.md "Signing in": a sign-in half done (the password was right,
    // a second factor is due) continues on the factor page, whatever the session holds.
    if request.first_factor.is_some() {
        return Ok(ask(
            crate::interaction::factor::FACTOR_PATH,
            "interaction_required",
            "the user must present a second factor",
        ));
    }
    // A user deleted or disabled since signing in must sign in again; a store failure
    // is an error (503 when the database is away), never `login_required`.
    let user = match &session.user_id {
        Some(id) => users::find(conn, id)?.filter(|u| !u.disabled),
        None => None,
    };
    let fresh_sign_in_needed = request.signed_in_at.is_none()
        && (request.prompts("login")
            || request.prompts("select_account")
            || request.max_age.is_some_and(|max| now - session.auth_time.unwrap_or(0) > max));
    let hint_mismatch = match (&request.hinted_sub, &user) {
        (Some(sub), Some(user)) => sub.as_str() != user.id.as_str(),
        _ => false,
    };
    let Some(user) = user.filter(|_| !fresh_sign_in_needed && !hint_mismatch) else {
        return Ok(ask("/login", "login_required", "the user must sign in"));
    };
    // docs/authentication.md: the level and recency the policy, the request and its API
    // scopes need, before anything else is asked of the user.
    let requirement = assurance::requirement_on(conn, state, app, request, now)?;
    if let Some(step) = assurance::step_up(requirement, request, &session.amr, session.auth_time, now) {
        return Ok(ask(step.path, step.error, step.description));
    }
    let values = users::claim_values(conn, &user)?;
    if !tessera_domain::missing_required_claims(&app.settings.required_claims, &values).is_empty() {
        return Ok(ask(REQUIRED_CLAIMS_PATH, "interaction_required", "the user must provide required information"));
    }
    // docs/accounts.md: a verified address first, when the application or the server
    // (`unverified_sign_in` off) requires one.
    if !user.email_verified && (app.settings.require_verified_email || !state.unverified_sign_in()) {
        return Ok(ask(
            crate::interaction::verify_email::VERIFY_EMAIL_STEP_PATH,
            "interaction_required",
            "the user must verify their email address",
        ));
    }
    // RFC 8628 §5.4: a device request is always confirmed, whatever was remembered.
    if (app.settings.require_consent || request.device.is_some()) && !request.consented {
        let remembered = consents::get_consent(conn, &user.id, &app.id)?
            .and_then(|c| tessera_domain::ScopeSet::parse(&c.scope).ok())
            .zip(tessera_domain::ScopeSet::parse(&request.scope).ok())
            .is_some_and(|(given, asked)| asked.is_subset(&given));
        if request.prompts("consent") || !remembered {
            return Ok(ask("/consent", "consent_required", "the user must consent"));
        }
    }
    if let Some(device_code_hash) = &request.device {
        return crate::interaction::device::approve(conn, handle, request, device_code_hash, session, &user.id, now);
    }
    issue_code(conn, state, handle, request, app, session, &user.id, now)
}

/// RFC 6749 §4.1.2: a code of 256 random bits, stored as its hash, single use, bound to
/// the client, the redirect URI and the PKCE challenge.
#[allow(clippy::too_many_arguments)]
fn issue_code(
    conn: &mut AnyConnection,
    state: &OidcState,
    handle: &str,
    request: &AuthorizationRequest,
    app: &Application,
    session: &BrowserSession,
    user_id: &UserId,
    now: i64,
) -> StoreResult<Deferred> {
    let code = generate_secret();
    codes::insert_code(
        conn,
        &NewAuthorizationCode {
            code_hash: code.hash().as_str().to_owned(),
            grant_id: GrantId::from(tessera_store::new_id()),
            application_id: app.id.clone(),
            user_id: user_id.clone(),
            sid: Some(session.sid.clone()),
            redirect_uri: request.reply.redirect_uri.clone(),
            scope: request.scope.clone(),
            resources: request.resources.clone(),
            nonce: request.nonce.clone(),
            code_challenge: request.code_challenge.clone(),
            code_challenge_method: request.code_challenge.as_ref().map(|_| "S256".to_owned()),
            auth_time: session.auth_time.unwrap_or(now),
            amr: session.amr.clone(),
            expires_at: now + app.settings.lifetimes.authorization_code,
            dpop_jkt: request.dpop_jkt.clone(),
        },
        now,
    )?;
    authorization_requests::delete_request(conn, SecretHash::of(handle).as_str())?;
    Ok(reply(&request.reply, &state.issuer, vec![("code".into(), code.expose().to_owned())]))
}

/// A pending request as the interaction pages see it: the request, its application and
/// the browser session it belongs to. `None` when the handle is unknown, expired, or
/// belongs to another browser.
#[derive(Clone)]
pub(crate) struct Pending {
    pub handle: String,
    pub request: AuthorizationRequest,
    pub app: Application,
    pub session_id: String,
    pub session: BrowserSession,
}

pub(crate) fn load_pending(
    conn: &mut AnyConnection,
    state: &OidcState,
    handle: Option<&str>,
    cookie: Option<&str>,
    now: i64,
) -> StoreResult<Option<Pending>> {
    let (Some(handle), Some((session_id, session))) = (handle, session::current(conn, cookie, &state.settings, now)?)
    else {
        return Ok(None);
    };
    let Some(stored) = authorization_requests::get_request(conn, SecretHash::of(handle).as_str(), now)? else {
        return Ok(None);
    };
    if stored.session_id_hash.as_deref() != Some(session.id_hash.as_str()) {
        return Ok(None);
    }
    let Ok(request) = serde_json::from_value::<AuthorizationRequest>(stored.parameters) else { return Ok(None) };
    let app = applications::get(conn, &stored.application_id)?;
    Ok(Some(Pending { handle: handle.to_owned(), request, app, session_id, session }))
}

impl Pending {
    /// The client's redirect URI, where the last form of the sign-in may end.
    pub(crate) fn redirect_uri(&self) -> &str {
        &self.request.reply.redirect_uri
    }
}

pub(crate) fn save_pending(conn: &mut AnyConnection, pending: &Pending) -> StoreResult<()> {
    let value: Value = serde_json::to_value(&pending.request).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    authorization_requests::update_request(conn, SecretHash::of(&pending.handle).as_str(), &value)
}

/// `GET /connect/authorize/resume?request=…`: the next step after a page.
pub(crate) async fn resume(request: HttpRequest, state: web::Data<OidcState>) -> HttpResponse {
    let cookie = session::presented_id(&request, &state.settings);
    let handle =
        Params::parse(request.query_string().as_bytes()).ok().and_then(|p| p.get("request").map(str::to_owned));
    let state = state.into_inner();
    let worker = state.clone();
    run_blocking(
        move || {
            worker.store.write_transaction(|c| {
                let now = now();
                let Some(pending) = load_pending(c, &worker, handle.as_deref(), cookie.as_deref(), now)? else {
                    return Ok(expired());
                };
                decide(c, &worker, &pending.handle, &pending.request, &pending.app, &pending.session, now)
            })
        },
        Deferred::into_response,
    )
    .await
}
