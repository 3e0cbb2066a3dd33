//! The account page (`/account`, docs/accounts.md): a signed-in user's own profile and
//! the claims an administrator lets users edit, their email address, password, browser
//! sessions and consents, their authentication factors (the Security section:
//! passkeys, an authenticator app, recovery codes; `security`), and (when
//! `account_self_deletion` is on) deleting the account.
//!
//! It uses the sign-in pages' browser session (the same cookie), their CSRF tokens
//! (derived from the session id) and their page headers (`no-store`, the strict CSP).
//! Without a signed-in session every URL leads to `/account/sign-in`, which comes back
//! here. Each form posts to a URL of its own, does its one change in one transaction
//! audited with the user as actor, and answers `303 /account?notice=…`, or the page
//! again with `400` and the message beside the field (nothing written).

pub mod deletion;
pub mod forgot;
pub mod password;
pub mod profile;
pub mod security;
pub mod sessions;
pub mod sign_in;
pub mod sign_in_factor;

use std::collections::{BTreeMap, BTreeSet};

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde_json::Value;
use tessera_store::browser_sessions::{self, BrowserSession};
use tessera_store::scopes::{self, ClaimType};
use tessera_store::users::{self, User};
use tessera_store::{AnyConnection, StoreResult, consents};

use crate::error::run_blocking;
use crate::form::Params;
use crate::pages::{ClaimField, ErrorPage};
use crate::session;
use crate::state::{OidcState, now};
use crate::view::{Deferred, see_other};

/// The account page.
pub(crate) const PATH: &str = "/account";
/// Its own sign-in form, for a browser that is not signed in.
pub(crate) const SIGN_IN_PATH: &str = "/account/sign-in";

/// The signed-in user of this browser.
pub(crate) struct Account {
    /// The session's cookie value (CSRF tokens derive from it).
    pub session_id: String,
    pub session: BrowserSession,
    pub user: User,
}

impl Account {
    /// Whether `form` carries this session's CSRF token (constant-time).
    pub(crate) fn posted(&self, form: &Params) -> bool {
        session::csrf_matches(&self.session_id, form.get("csrf"))
    }
}

/// The signed-in (enabled) user of the session whose cookie is `cookie`, if any.
pub(crate) fn signed_in(
    conn: &mut AnyConnection,
    state: &OidcState,
    cookie: Option<&str>,
    now: i64,
) -> StoreResult<Option<Account>> {
    let Some((session_id, session)) = session::current(conn, cookie, &state.settings, now)? else { return Ok(None) };
    let Some(user_id) = session.user_id.clone() else { return Ok(None) };
    let Some(user) = users::find(conn, &user_id)?.filter(|u| !u.disabled) else { return Ok(None) };
    Ok(Some(Account { session_id, session, user }))
}

/// Not signed in: to the account page's sign-in, which comes back here.
pub(crate) fn to_sign_in() -> Deferred {
    see_other(SIGN_IN_PATH)
}

/// A form whose CSRF token is not this session's: 403, nothing changed.
pub(crate) fn forged() -> Deferred {
    Deferred::page_status(
        StatusCode::FORBIDDEN,
        ErrorPage {
            title: "This form has expired".into(),
            message: "Nothing was changed. Open your account page again and retry.".into(),
        },
    )
}

/// After a change: the page again, with what was done.
pub(crate) fn done(notice: &str) -> Deferred {
    see_other(&format!("{PATH}?notice={notice}"))
}

/// The words of each `notice` code.
fn notice_text(code: &str) -> Option<&'static str> {
    Some(match code {
        "profile" => "Your profile was saved.",
        "email" => "Your email address was changed. Confirm it with the link we sent to it.",
        "email-unverified" => "Your email address was changed.",
        "password" => "Your password was changed. Every other session was signed out.",
        "session" => "The session was signed out.",
        "sessions" => "Every other session was signed out.",
        "consent" => "The application's access was revoked.",
        "signed-in" => "You are signed in.",
        "passkey-added" => "Your passkey was added.",
        "passkey-renamed" => "Your passkey was renamed.",
        "passkey-removed" => "The passkey was removed.",
        "totp-enabled" => "Your authenticator app is set up: sign-ins may ask for its code.",
        "totp-disabled" => "The authenticator app was removed.",
        _ => return None,
    })
}

/// One browser session in the list.
pub struct SessionItem {
    pub sid: String,
    /// The browser's User-Agent, as it sent it.
    pub device: String,
    pub client_ip: String,
    pub signed_in: String,
    pub last_seen: String,
    /// The session of this browser.
    pub current: bool,
}

/// One application the user consented to.
pub struct ConsentItem {
    pub application_id: String,
    pub name: String,
    /// The scopes allowed, space-separated.
    pub scopes: String,
}

/// Errors of the forms, shown beside their fields.
#[derive(Default)]
pub struct Problems {
    pub profile: bool,
    pub email: Option<String>,
    pub current_password: Option<String>,
    pub password: Option<String>,
    pub confirm: Option<String>,
    pub delete_password: Option<String>,
}

/// `templates/account/page.html`.
#[derive(Template)]
#[template(path = "account/page.html")]
pub struct AccountPage {
    pub csrf: String,
    pub username: String,
    pub email: Option<String>,
    pub email_verified: bool,
    /// What the email field shows.
    pub email_value: String,
    pub notice: Option<String>,
    pub claims: Vec<ClaimField>,
    pub sessions: Vec<SessionItem>,
    pub consents: Vec<ConsentItem>,
    pub self_deletion: bool,
    pub problems: Problems,
    /// Passkeys, authenticator app, recovery codes.
    pub security: security::SecuritySection,
    pub security_problems: security::SecurityProblems,
}

impl AccountPage {
    fn has_errors(&self) -> bool {
        let p = &self.problems;
        p.profile
            || p.email.is_some()
            || p.current_password.is_some()
            || p.password.is_some()
            || p.confirm.is_some()
            || p.delete_password.is_some()
            || self.security_problems.any()
    }
}

pub(crate) use tessera_domain::utc::to_minute as time;

/// The claims the account page lets users edit: those marked user-editable and those an
/// application requires, but never `email` (its own form) nor a claim Tessera sets
/// (the verified flags: OIDC Core §5.1, a user never vouches for their own value).
pub(crate) fn editable_claims(conn: &mut AnyConnection) -> StoreResult<Vec<ClaimType>> {
    let mut types = scopes::list_account_claim_types(conn)?;
    types.retain(|t| {
        !matches!(t.name.as_str(), "email" | "email_verified" | "sub" | "updated_at")
            && !tessera_domain::is_server_controlled(&t.name)
    });
    Ok(types)
}

/// The claims some application requires: on the account page they cannot be emptied.
pub(crate) fn required_claims(conn: &mut AnyConnection) -> StoreResult<BTreeSet<String>> {
    Ok(tessera_store::applications::all(conn)?
        .into_iter()
        .filter(|app| app.settings.enabled)
        .flat_map(|app| app.settings.required_claims)
        .collect())
}

/// How a stored value shows in its form field.
fn shown(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// Claim fields with the stored values, or with what was typed (`typed`) and the errors.
pub(crate) fn claim_fields(
    types: &[ClaimType],
    stored: &BTreeMap<String, Value>,
    typed: Option<&Params>,
    errors: &BTreeMap<String, String>,
) -> Vec<ClaimField> {
    types
        .iter()
        .map(|claim| ClaimField {
            name: claim.name.clone(),
            label: claim.display_name.clone(),
            description: claim.description.clone(),
            input_type: crate::interaction::input_type(claim.value_type),
            value: match typed {
                Some(form) => form.get(&format!("claim.{}", claim.name)).unwrap_or_default().to_owned(),
                None => shown(stored.get(&claim.name)),
            },
            error: errors.get(&claim.name).cloned(),
        })
        .collect()
}

/// The page of `account` as stored, with no errors.
pub(crate) fn page(
    conn: &mut AnyConnection,
    state: &OidcState,
    account: &Account,
    now: i64,
) -> StoreResult<AccountPage> {
    let user = &account.user;
    let stored = users::claim_values(conn, user)?;
    let types = editable_claims(conn)?;
    let sessions = browser_sessions::list_active_of_user(conn, &user.id, state.settings.session_idle_timeout, now)?
        .into_iter()
        .map(|s| SessionItem {
            current: s.sid == account.session.sid,
            device: s.user_agent.clone().unwrap_or_else(|| "Unknown browser".into()),
            client_ip: s.client_ip.clone().unwrap_or_else(|| "unknown".into()),
            signed_in: time(s.auth_time.unwrap_or(s.created_at)),
            last_seen: time(s.last_seen_at),
            sid: s.sid,
        })
        .collect();
    let consents = consents::list_of_user(conn, &user.id)?
        .into_iter()
        .map(|(consent, app)| ConsentItem { application_id: app.id.to_string(), name: app.name, scopes: consent.scope })
        .collect();
    Ok(AccountPage {
        csrf: session::csrf_token(&account.session_id),
        username: user.username.clone(),
        email: user.email.clone(),
        email_verified: user.email_verified,
        email_value: user.email.clone().unwrap_or_default(),
        notice: None,
        claims: claim_fields(&types, &stored, None, &BTreeMap::new()),
        sessions,
        consents,
        self_deletion: state.settings.account_self_deletion,
        problems: Problems::default(),
        security: security::section(conn, state, account, now)?,
        security_problems: security::SecurityProblems::default(),
    })
}

/// The page again after a form with errors: 400.
pub(crate) fn refused(page: AccountPage) -> Deferred {
    Deferred::page_status(StatusCode::BAD_REQUEST, page)
}

/// The cookie of this browser and the form, read before the blocking work.
pub(crate) struct Submitted {
    pub cookie: Option<String>,
    pub form: Params,
    pub client_ip: Option<String>,
}

impl Submitted {
    /// `None` when the body is no form (an error page then).
    pub(crate) fn read(request: &HttpRequest, body: &[u8], state: &OidcState) -> Option<Submitted> {
        Some(Submitted {
            cookie: session::presented_id(request, &state.settings),
            form: Params::from_page_form(body).ok()?,
            client_ip: request.peer_addr().map(|a| a.ip().to_string()),
        })
    }
}

/// `GET /account`.
pub(crate) async fn show(request: HttpRequest, state: web::Data<OidcState>) -> HttpResponse {
    let cookie = session::presented_id(&request, &state.settings);
    let notice = Params::parse(request.query_string().as_bytes())
        .ok()
        .and_then(|p| p.get("notice").and_then(notice_text))
        .map(str::to_owned);
    let state = state.into_inner();
    run_blocking(
        move || {
            let now = now();
            state.store.write_transaction(|c| {
                let Some(account) = signed_in(c, &state, cookie.as_deref(), now)? else { return Ok(to_sign_in()) };
                // Activity restarts the idle timeout, as on the sign-in pages.
                browser_sessions::touch(c, &account.session.id_hash, now)?;
                let mut page = page(c, &state, &account, now)?;
                page.notice = notice;
                Ok(Deferred::page(page))
            })
        },
        Deferred::into_response,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: &str = "<script>alert(1)</script>\" onmouseover=\"x";

    fn sample(problems: Problems) -> AccountPage {
        let hostile = || HOSTILE.to_owned();
        AccountPage {
            csrf: hostile(),
            username: hostile(),
            email: Some(hostile()),
            email_verified: false,
            email_value: hostile(),
            notice: Some(hostile()),
            claims: vec![ClaimField {
                name: "nickname".into(),
                label: hostile(),
                description: hostile(),
                input_type: "text",
                value: hostile(),
                error: problems.profile.then(hostile),
            }],
            sessions: vec![SessionItem {
                sid: hostile(),
                device: hostile(),
                client_ip: hostile(),
                signed_in: time(0),
                last_seen: time(60),
                current: true,
            }],
            consents: vec![ConsentItem { application_id: hostile(), name: hostile(), scopes: hostile() }],
            self_deletion: false,
            problems,
            security: security::SecuritySection {
                passkeys_available: true,
                passkeys: vec![security::PasskeyItem {
                    id: hostile(),
                    name: hostile(),
                    created: time(0),
                    last_used: hostile(),
                    device_bound: false,
                }],
                totp_available: true,
                totp_since: Some(hostile()),
                recovery_codes_left: 3,
                recovery_codes_made: Some(hostile()),
                needs_password: true,
            },
            security_problems: security::SecurityProblems::default(),
        }
    }

    #[test]
    fn the_page_escapes_everything_it_shows() {
        let html =
            sample(Problems { profile: true, email: Some(HOSTILE.into()), ..Problems::default() }).render().unwrap();
        assert!(!html.contains("<script>"), "{html}");
        assert!(!html.contains("\" onmouseover"), "{html}");
        assert!(html.contains("&#60;script&#62;"));
    }

    #[test]
    fn every_form_carries_the_csrf_token_and_errors_sit_beside_their_fields() {
        let mut page = sample(Problems {
            email: Some("Bad address.".into()),
            current_password: Some("Wrong.".into()),
            ..Problems::default()
        });
        page.csrf = "token-1".into();
        page.self_deletion = true;
        let html = page.render().unwrap();
        let forms = html.matches("<form method=\"post\"").count();
        // Profile, email, password, passkey add, rename and remove, TOTP remove, recovery
        // codes, the one session, the one consent, deletion, sign-out.
        assert_eq!(forms, 12, "{html}");
        assert_eq!(html.matches(r#"<input type="hidden" name="csrf" value="token-1">"#).count(), forms);
        assert!(html.contains(r#"id="email-error"><span class="visually-hidden">Error: </span>Bad address."#));
        assert!(html.contains(r#"aria-describedby="current_password-error""#));
        assert!(html.contains(r#"role="alert""#));
        assert!(html.contains("/account/delete"));
        page.self_deletion = false;
        assert!(!page.render().unwrap().contains("/account/delete"));
    }

    #[test]
    fn every_notice_code_has_words_and_others_none() {
        for code in [
            "profile",
            "email",
            "email-unverified",
            "password",
            "session",
            "sessions",
            "consent",
            "signed-in",
            "passkey-added",
            "passkey-renamed",
            "passkey-removed",
            "totp-enabled",
            "totp-disabled",
        ] {
            assert!(notice_text(code).is_some(), "{code}");
        }
        assert_eq!(notice_text("<script>"), None);
    }
}
