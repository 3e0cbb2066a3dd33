//! OIDC Back-Channel Logout 1.0 §2.4–§2.8: delivering logout tokens. The store queues one
//! outbox job per (application, session) when a session ends
//! (`tessera_store::backchannel_logout`); this handler of the outbox runner signs the
//! logout token when it delivers it (with the signing key active then, the
//! application's ID token algorithm), `POST`s it form-encoded to the application's
//! `backchannel_logout_uri` through the guarded client, and treats 200 and 204 as done.
//! Any other answer and any network failure is retried with backoff; a destination the
//! guard refuses is given up at once; both are audited (`backchannel_logout.gave_up`).

use std::time::Duration;

use serde_json::{Map, Value, json};
use tessera_domain::ApplicationId;
use tessera_store::backchannel_logout::{KIND, LogoutNotice};
use tessera_store::{Store, StoreError, applications, outbox};
use tessera_tokens::SharedKeySet;
use url::Url;

use crate::client::{OutboundClient, OutboundError, OutboundSettings};
use crate::runner::{Failure, Handler, RetryPolicy, now};

/// §2.4: the `events` member that makes a JWT a logout token.
pub const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// §2.4 recommends a short lifetime: the receiver checks `iat`/`exp` and the token is
/// of no use later.
pub const TOKEN_LIFETIME: i64 = 120;

/// The default schedule: 10 s, 20 s, 40 s … up to 10 minutes apart, eight attempts (about
/// half an hour): a receiver that is down longer than that has lost the session anyway.
pub const DEFAULT_POLICY: RetryPolicy = RetryPolicy { first_delay: 10, max_delay: 600, max_attempts: 8 };

/// Delivers logout tokens.
pub struct LogoutDelivery {
    store: Store,
    keys: SharedKeySet,
    issuer: String,
    client: OutboundClient,
    timeout: Duration,
    runtime: tokio::runtime::Runtime,
    policy: RetryPolicy,
}

impl LogoutDelivery {
    pub fn new(
        store: Store,
        keys: SharedKeySet,
        issuer: &str,
        outbound: &OutboundSettings,
    ) -> Result<LogoutDelivery, OutboundError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| OutboundError::Client(format!("the delivery runtime: {e}")))?;
        Ok(LogoutDelivery {
            store,
            keys,
            issuer: issuer.trim_end_matches('/').to_owned(),
            client: OutboundClient::new(outbound)?,
            timeout: outbound.timeout,
            runtime,
            policy: DEFAULT_POLICY,
        })
    }

    pub fn with_policy(mut self, policy: RetryPolicy) -> LogoutDelivery {
        self.policy = policy;
        self
    }

    /// The signed logout token for `notice` to the application `client_id`.
    fn token(&self, notice: &LogoutNotice, app: &applications::Application, now: i64) -> Result<String, Failure> {
        let claims = logout_token_claims(&self.issuer, app.client_id.as_str(), notice, &tessera_store::new_id(), now);
        let keys = self.keys.current();
        let alg = app.settings.id_token_signed_response_alg;
        let signer = keys.signer(alg).ok_or_else(|| Failure::transient(format!("no active {alg} signing key")))?;
        tessera_tokens::jwt::sign(signer, "logout+jwt", &claims)
            .map_err(|e| Failure::transient(format!("signing the logout token: {e}")))
    }
}

/// §2.4: `iss`, `aud` (the client id), `iat`, `exp`, `jti`, `events` with the back-channel
/// logout event, `sub` and `sid`; §2.4 forbids `nonce`, so there is none.
pub fn logout_token_claims(issuer: &str, client_id: &str, notice: &LogoutNotice, jti: &str, now: i64) -> Value {
    let mut events = Map::new();
    events.insert(EVENT.to_owned(), json!({}));
    json!({
        "iss": issuer,
        "aud": client_id,
        "iat": now,
        "exp": now + TOKEN_LIFETIME,
        "jti": jti,
        "events": events,
        "sub": notice.sub,
        "sid": notice.sid,
    })
}

impl Handler for LogoutDelivery {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn lease(&self) -> i64 {
        i64::try_from(self.timeout.as_secs()).unwrap_or(30).saturating_mul(2).saturating_add(10)
    }

    fn policy(&self) -> RetryPolicy {
        self.policy
    }

    fn attempt(&self, job: &outbox::Job) -> Result<(), Failure> {
        let notice = LogoutNotice::from_payload(&job.payload).map_err(|e| Failure::permanent(e.to_string()))?;
        let id = ApplicationId::from(notice.application_id.clone());
        let app = match self.store.read_statement(|c| applications::get(c, &id)) {
            Ok(app) => app,
            // Deleted since: nobody left to tell.
            Err(StoreError::NotFound { .. }) => return Ok(()),
            Err(e) => return Err(Failure::transient(e.to_string())),
        };
        // The URI removed since: the application no longer wants logout tokens.
        let Some(uri) = &app.settings.backchannel_logout_uri else { return Ok(()) };
        let url = Url::parse(uri).map_err(|e| Failure::permanent(format!("backchannel_logout_uri: {e}")))?;
        let token = self.token(&notice, &app, now())?;
        let answer = self.runtime.block_on(self.client.post_form(&url, &[("logout_token", &token)]));
        match answer {
            // §2.8: 200 OK on success (204 is common and as good).
            Ok(response) if matches!(response.status, 200 | 204) => {
                tracing::debug!(client_id = %app.client_id, "logout token delivered");
                Ok(())
            }
            Ok(response) => Err(Failure::transient(format!("{url} answered {}", response.status))),
            Err(error) if error.is_refusal() => Err(Failure::permanent(format!("{url}: {error}"))),
            Err(error) => Err(Failure::transient(format!("{url}: {error}"))),
        }
    }

    fn describe(&self, job: &outbox::Job) -> Value {
        match LogoutNotice::from_payload(&job.payload) {
            Ok(notice) => json!({ "application_id": notice.application_id, "sid": notice.sid, "sub": notice.sub }),
            Err(_) => Value::Null,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_logout_token_states_the_event_the_session_and_no_nonce() {
        let notice = LogoutNotice { application_id: "app".into(), sid: "sid-1".into(), sub: "user-1".into() };
        let claims = logout_token_claims("https://id.example.com", "billing", &notice, "jti-1", 1000);
        assert_eq!(
            claims,
            json!({
                "iss": "https://id.example.com", "aud": "billing", "iat": 1000, "exp": 1120, "jti": "jti-1",
                "events": { "http://schemas.openid.net/event/backchannel-logout": {} },
                "sub": "user-1", "sid": "sid-1",
            })
        );
        assert!(claims.get("nonce").is_none());
    }
}
