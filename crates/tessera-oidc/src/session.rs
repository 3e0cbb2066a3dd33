//! Browser sessions: a 256-bit id in an HttpOnly, SameSite=Lax cookie (`Secure` and
//! `__Host-` prefixed when the issuer is https), stored only as its SHA-256 so that any
//! node can continue it. A new id at sign-in; CSRF tokens derived from the id.

use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tessera_domain::UserId;
use tessera_store::{AnyConnection, StoreResult};
use tessera_store::{browser_sessions, browser_sessions::BrowserSession, browser_sessions::NewSession};
use tessera_tokens::{SecretHash, generate_secret};

use crate::state::OidcSettings;

const COOKIE: &str = "tessera_session";
/// How long an anonymous session lives (and is extended to, by each new pending request
/// it binds): as long as a pending authorization request.
pub const ANONYMOUS_SESSION_LIFETIME: i64 = 30 * 60;
const SECURE_COOKIE: &str = "__Host-tessera_session";

pub fn cookie_name(settings: &OidcSettings) -> &'static str {
    if settings.secure_cookies() { SECURE_COOKIE } else { COOKIE }
}

/// The session id the browser presented, if any.
pub fn presented_id(request: &HttpRequest, settings: &OidcSettings) -> Option<String> {
    request.cookie(cookie_name(settings)).map(|c| c.value().to_owned()).filter(|v| !v.is_empty() && v.len() <= 64)
}

/// The live session behind the presented id.
pub fn current(
    conn: &mut AnyConnection,
    presented: Option<&str>,
    settings: &OidcSettings,
    now: i64,
) -> StoreResult<Option<(String, BrowserSession)>> {
    let Some(id) = presented else { return Ok(None) };
    let hash = SecretHash::of(id);
    Ok(browser_sessions::get_active(conn, hash.as_str(), settings.session_idle_timeout, now)?
        .map(|s| (id.to_owned(), s)))
}

/// Where a sign-in came from, kept with its session for the lists of sessions the user and
/// admins see.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Device {
    /// The client's address (after trusted proxies: `crate::proxy` rewrote the peer).
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
}

impl Device {
    pub fn of(request: &HttpRequest) -> Device {
        Device {
            client_ip: request.peer_addr().map(|a| a.ip().to_string()),
            user_agent: request
                .headers()
                .get(actix_web::http::header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        }
    }
}

/// A new session (anonymous, or signed in when `user` is given: who, when, how, and from
/// which device) replacing `old_id`, if any. Returns the new id for the cookie.
pub fn start(
    conn: &mut AnyConnection,
    old_id: Option<&str>,
    user: Option<(&UserId, i64, Vec<String>, &Device)>,
    settings: &OidcSettings,
    now: i64,
) -> StoreResult<(String, BrowserSession)> {
    let id = generate_secret();
    let sid = generate_secret();
    let (user_id, auth_time, amr, device) = match user {
        Some((user_id, auth_time, amr, device)) => (Some(user_id.clone()), Some(auth_time), amr, device.clone()),
        None => (None, None, Vec::new(), Device::default()),
    };
    // An anonymous session only binds pending requests to this browser: it lives as long
    // as one, so unauthenticated requests leave nothing behind for long.
    let lifetime = if user_id.is_some() {
        settings.session_absolute_timeout
    } else {
        settings.session_absolute_timeout.min(ANONYMOUS_SESSION_LIFETIME)
    };
    let new = NewSession {
        id_hash: id.hash().as_str().to_owned(),
        // The `sid` claim (OIDC Front/Back-Channel Logout) is public; it is not the cookie.
        sid: sid.expose().chars().take(32).collect(),
        user_id,
        auth_time,
        amr,
        expires_at: now + lifetime,
        client_ip: device.client_ip,
        user_agent: device.user_agent,
    };
    let old_hash = old_id.map(|id| SecretHash::of(id).as_str().to_owned());
    let session = browser_sessions::replace(conn, old_hash.as_deref(), &new, now)?;
    Ok((id.expose().to_owned(), session))
}

/// The session cookie carrying `id`.
pub fn cookie(id: &str, settings: &OidcSettings) -> Cookie<'static> {
    let mut cookie = Cookie::new(cookie_name(settings), id.to_owned());
    cookie.set_http_only(true);
    cookie.set_same_site(SameSite::Lax);
    cookie.set_path("/");
    cookie.set_secure(settings.secure_cookies());
    cookie.set_max_age(CookieDuration::seconds(settings.session_absolute_timeout));
    cookie
}

/// A cookie that removes the session cookie.
pub fn removal(settings: &OidcSettings) -> Cookie<'static> {
    let mut cookie = cookie("", settings);
    cookie.make_removal();
    cookie
}

/// The CSRF token of the forms shown to this session: SHA-256 of a label and the
/// session id, which only this browser (HttpOnly cookie) and the server know.
pub fn csrf_token(session_id: &str) -> String {
    let digest = Sha256::digest(format!("tessera csrf\0{session_id}").as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether a submitted CSRF token belongs to this session (constant-time).
pub fn csrf_matches(session_id: &str, submitted: Option<&str>) -> bool {
    let expected = csrf_token(session_id);
    submitted.is_some_and(|s| bool::from(s.as_bytes().ct_eq(expected.as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csrf_token_is_bound_to_the_session() {
        let token = csrf_token("session-a");
        assert!(csrf_matches("session-a", Some(&token)));
        assert!(!csrf_matches("session-b", Some(&token)));
        assert!(!csrf_matches("session-a", None));
        assert!(!csrf_matches("session-a", Some("")));
    }

    #[test]
    fn https_issuers_get_secure_host_prefixed_cookies() {
        let mut settings = OidcSettings::new("https://id.example.com");
        let secure = cookie("x", &settings);
        assert_eq!(secure.name(), "__Host-tessera_session");
        assert_eq!(secure.secure(), Some(true));
        assert_eq!(secure.http_only(), Some(true));
        assert_eq!(secure.same_site(), Some(SameSite::Lax));
        assert_eq!(secure.path(), Some("/"));
        settings.issuer = "http://localhost:8080".into();
        let plain = cookie("x", &settings);
        assert_eq!(plain.name(), "tessera_session");
        assert_eq!(plain.secure(), Some(false));
    }
}
