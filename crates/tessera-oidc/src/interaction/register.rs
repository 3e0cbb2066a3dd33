//! Registration (on unless the `registration_enabled` setting or the application's
//! `self_registration` turns it off): username,
//! optional email, password (checked by `tessera_auth::PasswordPolicy`), and the claims
//! the application requires; then the new user is signed in and the authorization
//! continues.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;
use tessera_auth::PasswordRefused;
use tessera_domain::{Email, Password, Username};
use tessera_store::scopes::ClaimType;
use tessera_store::throttle::{self, Reservation};
use tessera_store::users::{self, NewUser};
use tessera_store::{StoreError, StoreResult, audit};

use super::{audit_user, claim_names, claim_types, fields, handle_from_query, resume_location, save_claims, validate};
use crate::authorize::{Pending, load_pending, save_pending};
use crate::error::{bad_form, expired, registration_closed, run_blocking};
use crate::form::Params;
use crate::pages::RegisterPage;
use crate::session;
use crate::state::{OidcState, now};
use crate::view::{Deferred, see_other};

/// The answer when the username or the email address belongs to an account already.
const TAKEN: &str = "This username or email address cannot be used. Choose another, or sign in if you \
     already have an account.";

#[derive(Default)]
struct Problems {
    username: Option<String>,
    email: Option<String>,
    password: Option<String>,
    claims: BTreeMap<String, String>,
    general: Option<String>,
}

impl Problems {
    fn any(&self) -> bool {
        self.username.is_some()
            || self.email.is_some()
            || self.password.is_some()
            || !self.claims.is_empty()
            || self.general.is_some()
    }
}

fn page(pending: &Pending, types: &[ClaimType], form: &Params, problems: Problems) -> RegisterPage {
    RegisterPage {
        request: pending.handle.clone(),
        csrf: session::csrf_token(&pending.session_id),
        client_name: pending.app.settings.name.clone(),
        username: form.get("username").unwrap_or("").to_owned(),
        email: form.get("email").unwrap_or("").to_owned(),
        claims: fields(types, form, &problems.claims),
        error: problems.general.or_else(|| {
            (problems.username.is_some()
                || problems.email.is_some()
                || problems.password.is_some()
                || !problems.claims.is_empty())
            .then(|| "Please correct the fields marked below.".to_owned())
        }),
        username_error: problems.username,
        email_error: problems.email,
        password_error: problems.password,
    }
}

/// The claims asked at registration: the application's required claims, except the
/// email the form asks for anyway and the server-controlled ones (OIDC Core §5.1: a
/// user never vouches for their own email or phone number).
fn required_types(conn: &mut tessera_store::AnyConnection, pending: &Pending) -> StoreResult<Vec<ClaimType>> {
    let names: Vec<String> = pending
        .app
        .settings
        .required_claims
        .iter()
        .filter(|n| n.as_str() != "email" && !tessera_domain::is_server_controlled(n))
        .cloned()
        .collect();
    claim_types(conn, &names)
}

/// `GET /register?request=…`.
pub(crate) async fn show(request: HttpRequest, state: web::Data<OidcState>) -> HttpResponse {
    if !state.settings.registration_enabled {
        return registration_closed();
    }
    let cookie = session::presented_id(&request, &state.settings);
    let handle = handle_from_query(request.query_string());
    let state = state.into_inner();
    run_blocking(
        move || {
            state.store.read_transaction(|c| {
                let Some(pending) = load_pending(c, &state, handle.as_deref(), cookie.as_deref(), now())? else {
                    return Ok(expired());
                };
                if !pending.app.settings.self_registration {
                    return Ok(Deferred::new(registration_closed));
                }
                let types = required_types(c, &pending)?;
                Ok(Deferred::client_page(
                    StatusCode::OK,
                    page(&pending, &types, &Params::default(), Problems::default()),
                    pending.redirect_uri(),
                ))
            })
        },
        Deferred::into_response,
    )
    .await
}

/// `POST /register`.
pub(crate) async fn submit(request: HttpRequest, body: web::Bytes, state: web::Data<OidcState>) -> HttpResponse {
    if !state.settings.registration_enabled {
        return registration_closed();
    }
    let cookie = session::presented_id(&request, &state.settings);
    let Ok(form) = Params::from_page_form(&body) else { return bad_form().into_response() };
    let device = session::Device::of(&request);
    let state = state.into_inner();
    let worker = state.clone();
    run_blocking(
        move || register(&worker, &form, cookie.as_deref(), &device),
        |(response, new_session)| {
            let mut response = response.into_response();
            if let Some(new_session) = new_session {
                let _ = response.add_cookie(&session::cookie(&new_session, &state.settings));
            }
            response
        },
    )
    .await
}

/// ASVS 5.0 V6.2: the password policy, with what the person typed about themselves
/// (username, e-mail address, claim values such as their name) as words it must not be
/// built from.
fn check_password(state: &OidcState, types: &[ClaimType], form: &Params) -> Result<Password, PasswordRefused> {
    let mut about_user: Vec<&str> = ["username", "email"].iter().filter_map(|f| form.get(f)).collect();
    about_user.extend(types.iter().filter_map(|t| form.get(&format!("claim.{}", t.name))));
    state.settings.password_policy.check(form.get("password").unwrap_or("").to_owned(), &about_user)
}

fn register(
    state: &OidcState,
    form: &Params,
    cookie: Option<&str>,
    device: &session::Device,
) -> StoreResult<(Deferred, Option<String>)> {
    let client_ip = device.client_ip.as_deref();
    let now = now();
    let loaded = state.store.read_transaction(|c| {
        let Some(pending) = load_pending(c, state, form.get("request"), cookie, now)? else { return Ok(None) };
        let types = required_types(c, &pending)?;
        Ok(Some((pending, types)))
    })?;
    let Some((pending, types)) = loaded else { return Ok((expired(), None)) };
    // docs/accounts.md: the application's own switch, beside the server's.
    if !pending.app.settings.self_registration {
        return Ok((Deferred::new(registration_closed), None));
    }
    if !session::csrf_matches(&pending.session_id, form.get("csrf")) {
        return Ok((bad_form(), None));
    }
    let mut problems = Problems::default();
    let username =
        Username::parse(form.get("username").unwrap_or("")).map_err(|e| problems.username = Some(e.to_string())).ok();
    let email = match form.get("email").map(str::trim).filter(|e| !e.is_empty()) {
        None if pending.app.settings.required_claims.iter().any(|c| c == "email") => {
            problems.email = Some("An email address is required.".into());
            None
        }
        None => None,
        Some(raw) => Email::parse(raw).map_err(|e| problems.email = Some(e.to_string())).ok(),
    };
    let password = check_password(state, &types, form).map_err(|e| problems.password = Some(e.to_string())).ok();
    let values = validate(&types, form).map_err(|errors| problems.claims = errors).ok();
    let (Some(username), Some(password), Some(values), false) = (username, password, values, problems.any()) else {
        return Ok((
            Deferred::client_page(
                StatusCode::BAD_REQUEST,
                page(&pending, &types, form, problems),
                pending.redirect_uri(),
            ),
            None,
        ));
    };
    // ASVS 5.0 V6.3.8 / V2.4.1: registrations from one address are budgeted before the
    // hash, so that neither account spam nor probing for taken names scales.
    let bucket = format!("register:{}", client_ip.unwrap_or("unknown"));
    if let Reservation::Locked { until, refused, audit } =
        state.store.write_statement(|c| throttle::reserve(c, &bucket, throttle::REGISTRATION_LIMIT, now))?
    {
        if audit {
            let summary =
                json!({ "client_id": pending.app.client_id, "locked_until": until, "refused_so_far": refused });
            let event = audit::NewAuditEvent {
                actor: "anonymous",
                action: "user.register_throttled",
                target: &format!("ip:{}", client_ip.unwrap_or("unknown")),
                summary,
                client_ip,
            };
            state.store.write_transaction(|c| audit::record(c, &event, now))?;
        }
        let minutes = ((until - now) + 59) / 60;
        let problems = Problems {
            general: Some(format!("Too many registrations from your network. Try again in {minutes} minutes.")),
            ..Problems::default()
        };
        let page = page(&pending, &types, form, problems);
        let refused = Deferred::client_page(StatusCode::TOO_MANY_REQUESTS, page, pending.redirect_uri());
        return Ok((refused.retry_after(until - now), None));
    }
    let hash = state.passwords.hash(password.expose()).map_err(|e| StoreError::Database(e.to_string()))?;
    let outcome = state.store.write_transaction(|c| {
        let new = NewUser {
            username: username.as_str().to_owned(),
            email: email.as_ref().map(|e| e.as_str().to_owned()),
            password_hash: Some(hash.clone()),
            ..Default::default()
        };
        let user = users::create(c, &new, now)?;
        save_claims(c, &user, &values, None, now)?;
        // docs/accounts.md: a new address gets its verification link at once.
        if let Some(accounts) = &state.accounts {
            accounts.send_verification(c, &user, now)?;
        }
        let (new_id, _) = session::start(
            c,
            Some(&pending.session_id),
            Some((&user.id, now, vec!["pwd".to_owned()], device)),
            &state.settings,
            now,
        )?;
        let mut pending = pending.clone();
        pending.request.signed_in_at = Some(now);
        save_pending(c, &pending)?;
        let mut summary = claim_names(&values);
        summary["client_id"] = json!(pending.app.client_id);
        audit_user(c, &user.id, "user.register", summary, client_ip, now)?;
        Ok((see_other(&resume_location(&pending.handle)), Some(new_id)))
    });
    if outcome.is_ok()
        && let Some(accounts) = &state.accounts
    {
        accounts.wake();
    }
    match outcome {
        // ASVS 5.0 V6.3.8: one answer whichever is taken, so the form tells no more than
        // that one of the two is (and only within the registration budget).
        Err(StoreError::Conflict { .. }) => {
            let problems = Problems { general: Some(TAKEN.to_owned()), ..Problems::default() };
            Ok((
                Deferred::client_page(
                    StatusCode::BAD_REQUEST,
                    page(&pending, &types, form, problems),
                    pending.redirect_uri(),
                ),
                None,
            ))
        }
        other => other,
    }
}
