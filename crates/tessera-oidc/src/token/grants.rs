//! The grants of the token endpoint, one module each.

pub mod authorization_code;
pub mod client_credentials;
pub mod password;
pub mod refresh_token;

use serde_json::Value;
use tessera_store::applications::Application;
use tessera_store::audit;

use crate::error::OAuthError;
use crate::state::OidcState;

/// RFC 9700 §4.5 (code injection) and §4.14 (refresh token misuse): a code or refresh
/// token presented outside its binding (another client, another redirect URI, a wrong
/// PKCE verifier) is refused without spending it, and the attempt is a security event
/// (ASVS 5.0 V16.3.3), recorded as `action` against `target` (the token's user) by the
/// presenting client. That client has authenticated, so anonymous requests cannot make
/// these events. Returns the error to answer (the store's, if the event could not be
/// written).
pub(crate) fn misuse(
    state: &OidcState,
    app: &Application,
    action: &str,
    target: &str,
    summary: Value,
    error: OAuthError,
    now: i64,
) -> OAuthError {
    let actor = format!("client:{}", app.client_id);
    let event = audit::NewAuditEvent { actor: &actor, action, target, summary, client_ip: None };
    match state.store.write_transaction(|c| audit::record(c, &event, now)) {
        Ok(_) => error,
        Err(store) => store.into(),
    }
}
