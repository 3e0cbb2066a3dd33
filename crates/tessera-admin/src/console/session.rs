//! Console sessions: sign-in for enabled users holding the `tessera-admin` role, a
//! 256-bit session id in an HttpOnly, SameSite=Strict cookie (`Secure` and `__Host-`
//! prefixed when the issuer is https) stored only as its SHA-256, an idle and an absolute
//! timeout, and CSRF tokens derived from the session id.
//!
//! Sign-in attempts count against the same per-account and per-address limits as the
//! login pages (`tessera_auth::sign_in`: reserved before the hash), so the console is no
//! side door for guessing passwords; an unknown account and a wrong password get the same
//! answer. An administrator who set up an authenticator app is then asked for its code
//! (or a recovery code) before the session starts ([`second_factor`]).

mod second_factor;

use std::future::Future;
use std::pin::Pin;

use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::dev::Payload;
use actix_web::http::{StatusCode, header};
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tessera_auth::{Channel, PasswordAttempt, Verdict};
use tessera_domain::UserId;
use tessera_store::audit::{self, NewAuditEvent};
use tessera_store::organizations::ADMIN_ROLE;
use tessera_store::{Store, admin_sessions, users};
use tessera_tokens::{PasswordHasher, SecretHash, generate_secret};

use super::error::blocking;
use super::form::FormData;
use super::view::{Page, SignInPage};
use super::{ConsoleError, html, see_other};
use crate::api::changes::Actor;

const COOKIE: &str = "tessera_admin";
const SECURE_COOKIE: &str = "__Host-tessera_admin";
/// The sign-in form's CSRF cookie (double submit: there is no session yet).
const SIGN_IN_COOKIE: &str = "tessera_admin_signin";
const SECURE_SIGN_IN_COOKIE: &str = "__Host-tessera_admin_signin";
/// `last_seen_at` is written at most this often, so browsing does not write every page.
const TOUCH_INTERVAL: i64 = 30;

/// How console sessions behave.
#[derive(Debug, Clone)]
pub struct ConsoleSettings {
    /// Cookies are `Secure` and `__Host-` prefixed (the issuer is https).
    pub secure_cookies: bool,
    /// Seconds without a request after which a session ends (default 15 minutes).
    pub idle_timeout: i64,
    /// Seconds after sign-in after which a session ends regardless (default 8 hours).
    pub absolute_timeout: i64,
}

impl Default for ConsoleSettings {
    fn default() -> Self {
        ConsoleSettings { secure_cookies: false, idle_timeout: 15 * 60, absolute_timeout: 8 * 3600 }
    }
}

impl ConsoleSettings {
    fn cookie_name(&self) -> &'static str {
        if self.secure_cookies { SECURE_COOKIE } else { COOKIE }
    }

    fn sign_in_cookie_name(&self) -> &'static str {
        if self.secure_cookies { SECURE_SIGN_IN_COOKIE } else { SIGN_IN_COOKIE }
    }

    fn cookie(&self, name: &'static str, value: &str, max_age: i64) -> Cookie<'static> {
        let mut cookie = Cookie::new(name, value.to_owned());
        cookie.set_http_only(true);
        cookie.set_same_site(SameSite::Strict);
        cookie.set_path("/");
        cookie.set_secure(self.secure_cookies);
        cookie.set_max_age(CookieDuration::seconds(max_age));
        cookie
    }

    fn removal(&self, name: &'static str) -> Cookie<'static> {
        let mut cookie = self.cookie(name, "", 0);
        cookie.make_removal();
        cookie
    }
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/sign-in", web::get().to(show_sign_in))
        .route("/sign-in", web::post().to(sign_in))
        .route("/sign-in/code", web::post().to(second_factor::submit))
        .route("/sign-out", web::post().to(sign_out));
}

/// The CSRF token of a console session's forms: SHA-256 of a label and the session id,
/// which only this browser (HttpOnly cookie) and the server know.
fn csrf_token(session_id: &str) -> String {
    let digest = Sha256::digest(format!("tessera console csrf\0{session_id}").as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn same(a: &str, b: Option<&str>) -> bool {
    b.is_some_and(|b| bool::from(a.as_bytes().ct_eq(b.as_bytes())))
}

/// A signed-in, enabled administrator making this request.
#[derive(Debug, Clone)]
pub struct Admin {
    pub user_id: UserId,
    pub username: String,
    session_id: String,
    pub client_ip: Option<String>,
}

impl Admin {
    pub fn csrf(&self) -> String {
        csrf_token(&self.session_id)
    }

    /// Reads a submitted form, refusing it unless it carries this session's CSRF token.
    pub fn form(&self, bytes: &[u8]) -> Result<FormData, ConsoleError> {
        let form = FormData::parse(bytes)?;
        if !same(&self.csrf(), form.get("csrf")) {
            return Err(ConsoleError::BadForm);
        }
        Ok(form)
    }

    /// A page of the console, signed in as this administrator.
    pub fn page(&self, title: impl Into<String>, section: &'static str) -> Page {
        Page {
            title: title.into(),
            section,
            username: self.username.clone(),
            csrf: self.csrf(),
            notice: None,
            actions: Vec::new(),
            panels: Vec::new(),
            has_secret: false,
        }
    }
}

impl Actor for Admin {
    /// `user:<id>`.
    fn actor(&self) -> String {
        format!("user:{}", self.user_id)
    }

    fn client_ip(&self) -> Option<&str> {
        self.client_ip.as_deref()
    }

    /// A key created in the console stands for the signed-in administrator.
    fn principal(&self) -> String {
        self.user_id.as_str().to_owned()
    }
}

fn now() -> i64 {
    crate::api::now()
}

impl FromRequest for Admin {
    type Error = ConsoleError;
    type Future = Pin<Box<dyn Future<Output = Result<Admin, ConsoleError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let store = req.app_data::<web::Data<Store>>().cloned();
        let settings = req.app_data::<web::Data<ConsoleSettings>>().cloned();
        let client_ip = req.peer_addr().map(|a| a.ip().to_string());
        // After signing in, come back here; a form's target is not worth coming back to.
        let next = if req.method() == actix_web::http::Method::GET {
            req.uri().path_and_query().map_or_else(|| super::PREFIX.to_owned(), |p| p.as_str().to_owned())
        } else {
            super::PREFIX.to_owned()
        };
        let cookie = settings
            .as_ref()
            .and_then(|s| req.cookie(s.cookie_name()))
            .map(|c| c.value().to_owned())
            .filter(|v| !v.is_empty() && v.len() <= 64);
        Box::pin(async move {
            let (Some(store), Some(settings)) = (store, settings) else {
                tracing::error!("the console is mounted without a Store or ConsoleSettings in app data");
                return Err(ConsoleError::Internal);
            };
            let Some(session_id) = cookie else { return Err(ConsoleError::SignIn { next }) };
            blocking(move || {
                let now = now();
                let hash = SecretHash::of(&session_id);
                let found = store.read_transaction(|c| {
                    let Some(session) = admin_sessions::get_active(c, hash.as_str(), settings.idle_timeout, now)?
                    else {
                        return Ok(None);
                    };
                    let user = users::get(c, &session.user_id)?;
                    let admin = !user.disabled && users::has_role(c, &user.id, ADMIN_ROLE)?;
                    Ok(Some((session, user, admin)))
                })?;
                let Some((session, user, admin)) = found else { return Err(ConsoleError::SignIn { next }) };
                if !admin {
                    store.write_transaction(|c| admin_sessions::end(c, hash.as_str(), now))?;
                    return Err(ConsoleError::Forbidden);
                }
                if now - session.last_seen_at >= TOUCH_INTERVAL {
                    store.write_transaction(|c| admin_sessions::touch(c, hash.as_str(), now))?;
                }
                Ok(Admin { user_id: user.id, username: user.username, session_id, client_ip })
            })
            .await
        })
    }
}

#[derive(Debug, Deserialize)]
struct SignInQuery {
    next: Option<String>,
    signed_out: Option<String>,
}

/// Only a path inside the console is a place to come back to (no open redirect), and
/// only in printable ASCII, as a `Location` header carries it (a control character would
/// fail the header after the session was created; non-ASCII would be written raw).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if (n == super::PREFIX || n.starts_with("/admin/") || n.starts_with("/admin?"))
                && !n.contains("//")
                && !n.contains('\\')
                && n.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            n.to_owned()
        }
        _ => super::PREFIX.to_owned(),
    }
}

fn sign_in_page(
    settings: &ConsoleSettings,
    status: StatusCode,
    login: String,
    next: String,
    error: Option<String>,
    notice: Option<String>,
) -> HttpResponse {
    let token = generate_secret();
    let page = SignInPage { csrf: token.expose().to_owned(), login, next, error, notice, second_factor: false };
    let mut response = html(status, &page);
    let cookie = settings.cookie(settings.sign_in_cookie_name(), token.expose(), 3600);
    if let Err(error) = response.add_cookie(&cookie) {
        tracing::error!(%error, "could not set the sign-in cookie");
    }
    response
}

async fn show_sign_in(settings: web::Data<ConsoleSettings>, query: web::Query<SignInQuery>) -> HttpResponse {
    let notice = query.signed_out.as_ref().map(|_| "You are signed out.".to_owned());
    sign_in_page(&settings, StatusCode::OK, String::new(), safe_next(query.next.as_deref()), None, notice)
}

const WRONG: &str = "The username or password is incorrect, or the account may not use the console.";

enum SignIn {
    Done {
        session_id: String,
    },
    /// The password was right; the code of the authenticator app is asked next.
    Code {
        pending_id: String,
    },
    /// `retry_after`: seconds until a locked sign-in may be tried again (with 429).
    Refused {
        status: StatusCode,
        message: String,
        retry_after: Option<i64>,
    },
}

async fn sign_in(
    request: HttpRequest,
    store: web::Data<Store>,
    hasher: web::Data<PasswordHasher>,
    settings: web::Data<ConsoleSettings>,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    let form = FormData::parse(&body)?;
    let next = safe_next(form.get("next"));
    let login = form.text("login").to_lowercase();
    let presented = request.cookie(settings.sign_in_cookie_name()).map(|c| c.value().to_owned());
    if presented.is_none_or(|token| token.is_empty() || !same(&token, form.get("csrf"))) {
        let message = "The sign-in form expired. Please sign in again.".to_owned();
        return Ok(sign_in_page(&settings, StatusCode::FORBIDDEN, login, next, Some(message), None));
    }
    let password = form.get("password").unwrap_or("").to_owned();
    let client_ip = request.peer_addr().map(|a| a.ip().to_string());
    let config = settings.clone();
    let typed = login.clone();
    let outcome = blocking(move || {
        let now = now();
        let user = store.read_transaction(|c| {
            let Some(user) = (if login.is_empty() { None } else { users::find_by_login(c, &login)? }) else {
                return Ok(None);
            };
            let admin = users::has_role(c, &user.id, ADMIN_ROLE)?;
            Ok(Some((user, admin)))
        })?;
        let attempt = PasswordAttempt {
            login: &login,
            user: user.as_ref().map(|(u, _)| u),
            password: &password,
            client_ip: client_ip.as_deref(),
            channel: Channel::Console,
        };
        let (verified, reservations) = match tessera_auth::check_password(&store, &hasher, &attempt, now)? {
            Verdict::Locked { until } => {
                let message = tessera_auth::locked_message(until, now);
                return Ok(SignIn::Refused {
                    status: StatusCode::TOO_MANY_REQUESTS,
                    message,
                    retry_after: Some(until - now),
                });
            }
            Verdict::Matched(reservations) => (true, Some(reservations)),
            Verdict::Wrong => (false, None),
        };
        let target = attempt.target();
        match (&user, reservations) {
            (Some((user, true)), Some(reservations)) if !user.disabled => {
                let session_id = generate_secret();
                if store.read_statement(|c| tessera_store::factors::totp::find_confirmed(c, &user.id))?.is_some() {
                    store.write_transaction(|c| {
                        reservations.refund(c)?;
                        admin_sessions::create_awaiting_factor(
                            c,
                            session_id.hash().as_str(),
                            &user.id,
                            client_ip.as_deref(),
                            now + second_factor::LIFETIME,
                            now,
                        )
                    })?;
                    return Ok(SignIn::Code { pending_id: session_id.expose().to_owned() });
                }
                store.write_transaction(|c| {
                    reservations.refund(c)?;
                    admin_sessions::create(
                        c,
                        session_id.hash().as_str(),
                        &user.id,
                        client_ip.as_deref(),
                        now + config.absolute_timeout,
                        now,
                    )?;
                    let actor = format!("user:{}", user.id);
                    let event = NewAuditEvent {
                        actor: &actor,
                        action: "admin.sign_in",
                        target: &format!("user:{}", user.id),
                        summary: json!({}),
                        client_ip: client_ip.as_deref(),
                    };
                    audit::record(c, &event, now)
                })?;
                Ok(SignIn::Done { session_id: session_id.expose().to_owned() })
            }
            (found, _) => {
                // A right password without the role is a refusal too, counted the same way
                // (the reservation is kept) so the answer tells nothing about the account.
                let reason = match found {
                    None => "unknown_or_wrong",
                    Some(_) if !verified => "unknown_or_wrong",
                    Some((user, _)) if user.disabled => "disabled",
                    Some(_) => "not_admin",
                };
                store.write_transaction(|c| {
                    let event = NewAuditEvent {
                        actor: "anonymous",
                        action: "admin.sign_in_failed",
                        target: &target,
                        summary: json!({ "reason": reason }),
                        client_ip: client_ip.as_deref(),
                    };
                    audit::record(c, &event, now)
                })?;
                Ok(SignIn::Refused { status: StatusCode::OK, message: WRONG.to_owned(), retry_after: None })
            }
        }
    })
    .await?;
    match outcome {
        SignIn::Done { session_id } => {
            let mut response = see_other(&next);
            let cookie = settings.cookie(settings.cookie_name(), &session_id, settings.absolute_timeout);
            let cleared = settings.removal(settings.sign_in_cookie_name());
            if response.add_cookie(&cookie).and_then(|()| response.add_cookie(&cleared)).is_err() {
                return Err(ConsoleError::Internal);
            }
            Ok(response)
        }
        SignIn::Code { pending_id } => {
            Ok(second_factor::code_page(&settings, StatusCode::OK, Some(&pending_id), next, None))
        }
        SignIn::Refused { status, message, retry_after } => {
            let mut page = sign_in_page(&settings, status, typed, next, Some(message), None);
            if let Some(seconds) = retry_after {
                let seconds = u64::try_from(seconds).unwrap_or(0).max(1);
                page.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from(seconds));
            }
            Ok(page)
        }
    }
}

async fn sign_out(
    admin: Admin,
    store: web::Data<Store>,
    settings: web::Data<ConsoleSettings>,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    admin.form(&body)?;
    let hash = SecretHash::of(&admin.session_id);
    let who = admin.clone();
    blocking(move || {
        let now = now();
        Ok(store.write_transaction(|c| {
            admin_sessions::end(c, hash.as_str(), now)?;
            crate::api::changes::record(c, &who, "admin.sign_out", &format!("user:{}", who.user_id), json!({}), now)
        })?)
    })
    .await?;
    let mut response = see_other(&format!("{}/sign-in?signed_out=1", super::PREFIX));
    if response.add_cookie(&settings.removal(settings.cookie_name())).is_err() {
        return Err(ConsoleError::Internal);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_console_paths_are_followed_after_sign_in() {
        assert_eq!(safe_next(Some("/admin/users?search=a")), "/admin/users?search=a");
        assert_eq!(safe_next(Some("/admin")), "/admin");
        for bad in
            ["https://evil.example/admin", "//evil.example", "/admin//evil", "/administrator", "/login", "/admin\\x"]
        {
            assert_eq!(safe_next(Some(bad)), "/admin", "{bad}");
        }
        assert_eq!(safe_next(None), "/admin");
    }

    #[test]
    fn a_next_with_control_or_non_ascii_characters_is_not_followed() {
        // Finding 16 of the 2026-12 review: CR/LF gave a 500 after the session was made.
        for bad in ["/admin/\r\nSet-Cookie:x=1", "/admin/\n", "/admin/é", "/admin/a b", "/admin/\t", "/admin/\u{7f}"] {
            assert_eq!(safe_next(Some(bad)), "/admin", "{bad:?}");
        }
        assert_eq!(safe_next(Some("/admin/users/%C3%A9")), "/admin/users/%C3%A9");
    }

    #[test]
    fn csrf_tokens_belong_to_one_session() {
        let token = csrf_token("a");
        assert!(same(&token, Some(&csrf_token("a"))));
        assert!(!same(&token, Some(&csrf_token("b"))));
        assert!(!same(&token, None));
    }
}
