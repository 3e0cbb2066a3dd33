//! Authentication by management API keys.
//!
//! A key is presented as `Authorization: Bearer <key_id>.<secret>` or, for drop-in
//! familiarity with Cotter, as the headers `API_KEY_ID: <key_id>` and
//! `API_SECRET_KEY: <secret>`. The key must exist, be neither revoked nor expired, and
//! its secret must match the stored SHA-256 (compared in constant time). The key's
//! creator must still hold the `tessera-admin` role (keys created by the CLI, `cli`,
//! stand for the operator). `last_used_at` is written at most once a minute per key, so
//! a busy automation does not turn every read into a write.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header::{AUTHORIZATION, HeaderMap};
use actix_web::{FromRequest, HttpRequest, web};
use tessera_domain::UserId;
use tessera_store::organizations::ADMIN_ROLE;
use tessera_store::{Store, management_keys, users};
use tessera_tokens::SecretHash;

use super::body::blocking;
use super::error::ApiError;

/// The Cotter-style header carrying the key id.
pub const KEY_ID_HEADER: &str = "API_KEY_ID";
/// The Cotter-style header carrying the secret.
pub const SECRET_HEADER: &str = "API_SECRET_KEY";
/// `last_used_at` is refreshed when older than this many seconds.
pub const TOUCH_INTERVAL: i64 = 60;

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub key_id: String,
    /// Who created the key (a user id, or `cli`): keys created through the API inherit it.
    pub created_by: String,
    /// When the key expires: keys created with it expire no later.
    pub expires_at: Option<i64>,
    /// The TCP peer's address (never `X-Forwarded-For`: no trusted proxy is configured).
    pub client_ip: Option<String>,
}

impl super::changes::Actor for Caller {
    /// `key:<key_id>`.
    fn actor(&self) -> String {
        format!("key:{}", self.key_id)
    }

    fn client_ip(&self) -> Option<&str> {
        self.client_ip.as_deref()
    }

    /// A key created with a key inherits its creator.
    fn principal(&self) -> String {
        self.created_by.clone()
    }

    fn calling_key(&self) -> Option<(&str, Option<i64>)> {
        Some((&self.key_id, self.expires_at))
    }
}

/// The key id and secret presented, or why none could be read.
fn presented(headers: &HeaderMap) -> Result<(String, String), ApiError> {
    if let Some(value) = headers.get(AUTHORIZATION) {
        let value = value.to_str().map_err(|_| ApiError::unauthorized("the Authorization header is not text"))?;
        let (scheme, credentials) = value.trim().split_once(' ').unwrap_or((value, ""));
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(ApiError::unauthorized("use Authorization: Bearer <key_id>.<secret>"));
        }
        let (id, secret) = credentials
            .trim()
            .split_once('.')
            .ok_or_else(|| ApiError::unauthorized("a management key has the form <key_id>.<secret>"))?;
        return Ok((id.to_owned(), secret.to_owned()));
    }
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(|v| v.trim().to_owned());
    match (header(KEY_ID_HEADER), header(SECRET_HEADER)) {
        (Some(id), Some(secret)) => Ok((id, secret)),
        _ => Err(ApiError::unauthorized(
            "a management API key is required: Authorization: Bearer <key_id>.<secret>, or API_KEY_ID and API_SECRET_KEY",
        )),
    }
}

/// Checks the key against the store; one read, and a write at most once a minute.
fn authenticate(store: &Store, id: &str, secret: &str, now: i64) -> Result<(String, Option<i64>, bool), ApiError> {
    let refused = || ApiError::unauthorized("the management key is unknown, revoked, expired or wrong");
    let (key, creator_ok) = store.read_transaction(|c| {
        let Some(key) = management_keys::find_usable(c, id, now)? else { return Ok((None, false)) };
        let creator_ok = key.created_by == "cli"
            || match users::get(c, &UserId::from(key.created_by.as_str())) {
                Ok(user) => !user.disabled && users::has_role(c, &user.id, ADMIN_ROLE)?,
                Err(tessera_store::StoreError::NotFound { .. }) => false,
                Err(e) => return Err(e),
            };
        Ok((Some(key), creator_ok))
    })?;
    let key = key.ok_or_else(refused)?;
    if !SecretHash::from_stored(key.secret_hash.as_str()).matches(secret) {
        return Err(refused());
    }
    if !creator_ok {
        return Err(ApiError::forbidden(
            None,
            format!("the key's creator no longer holds the {ADMIN_ROLE} role or is disabled; create a new key"),
        ));
    }
    let stale = key.last_used_at.is_none_or(|t| now - t >= TOUCH_INTERVAL);
    Ok((key.created_by, key.expires_at, stale))
}

/// A refused management key is a security event: audited (never with the secret).
fn record_refusal(store: &Store, key_id: &str, status: u16, client_ip: Option<&str>, now: i64) {
    if status >= 500 {
        return;
    }
    let target = format!("management_key:{}", key_id.chars().take(64).collect::<String>());
    let event = tessera_store::audit::NewAuditEvent {
        actor: "anonymous",
        action: "management_key.authentication_failed",
        target: &target,
        summary: serde_json::json!({ "status": status }),
        client_ip,
    };
    // Anyone can cause this event: at most one a minute per address reaches the log.
    let key = format!("audit:management_key.authentication_failed:{}", client_ip.unwrap_or("unknown"));
    if let Err(error) = store.write_transaction(|c| tessera_store::audit::record_sampled(c, &event, &key, 60, now)) {
        tracing::warn!(%error, "could not record a refused management key");
    }
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Caller, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let store = req.app_data::<web::Data<Store>>().cloned();
        let presented = presented(req.headers());
        let client_ip = req.peer_addr().map(|a| a.ip().to_string());
        Box::pin(async move {
            let (id, secret) = presented?;
            let Some(store) = store else {
                tracing::error!("the management API is mounted without a Store in app data");
                return Err(ApiError::internal());
            };
            let now = super::now();
            let key_id = id.clone();
            let ip = client_ip.clone();
            let (created_by, expires_at) = blocking(move || {
                let (created_by, expires_at, stale) = match authenticate(&store, &id, &secret, now) {
                    Ok(found) => found,
                    Err(refusal) => {
                        record_refusal(&store, &id, refusal.status.as_u16(), ip.as_deref(), now);
                        return Err(refusal);
                    }
                };
                if stale {
                    // Best effort: a failed touch must not refuse a valid key.
                    if let Err(e) = store.write_transaction(|c| management_keys::touch(c, &id, now)) {
                        tracing::warn!(error = %e, "could not record management key use");
                    }
                }
                Ok((created_by, expires_at))
            })
            .await?;
            Ok(Caller { key_id, created_by, expires_at, client_ip })
        })
    }
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(name.parse().unwrap(), HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn bearer_key_is_split_at_the_first_dot() {
        let (id, secret) = presented(&headers(&[("authorization", "Bearer abc.def.ghi")])).unwrap();
        assert_eq!((id.as_str(), secret.as_str()), ("abc", "def.ghi"));
    }

    #[test]
    fn cotter_headers_are_accepted() {
        let (id, secret) = presented(&headers(&[("api_key_id", "abc"), ("api_secret_key", "s3")])).unwrap();
        assert_eq!((id.as_str(), secret.as_str()), ("abc", "s3"));
    }

    #[test]
    fn basic_scheme_and_missing_headers_are_refused() {
        assert!(presented(&headers(&[("authorization", "Basic YTpi")])).is_err());
        assert!(presented(&headers(&[("api_key_id", "abc")])).is_err());
        assert!(presented(&HeaderMap::new()).is_err());
    }
}
