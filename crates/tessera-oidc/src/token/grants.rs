//! The grants of the token endpoint, one module each, every one a [`Grant`]: `check`
//! then `redeem`, as fosite splits `HandleTokenEndpointRequest` and
//! `PopulateTokenEndpointResponse`.

pub mod authorization_code;
pub mod client_credentials;
pub mod device_code;
pub mod password;
pub mod refresh_token;
pub mod token_exchange;

use serde_json::Value;
use tessera_store::applications::Application;
use tessera_store::audit;

use crate::error::OAuthError;
use crate::state::OidcState;
use crate::token::{TokenRequest, TokenResponse};

/// A grant of the token endpoint, in two phases. The split costs no round trip: `check`
/// reads what it needs (one statement where it can), and `redeem`'s write is one
/// statement on Postgres where a code or refresh token is spent (see
/// `tessera_store::redeem`).
pub trait Grant {
    /// What `check` read and decided, for `redeem`.
    type Checked;

    /// Reads what the request presents and decides: nothing is spent and nothing is
    /// stored, except the audit event of a misuse ([`misuse`]; for the password grant,
    /// the sign-in throttle's own accounting and a failed sign-in).
    fn check(state: &OidcState, request: &TokenRequest<'_>) -> Result<Self::Checked, OAuthError>;

    /// Issues the tokens (scripts run and tokens are signed with no lock held), then makes
    /// the one write that spends what was presented and stores what was issued, or
    /// records the refusal that `check` decided or issuing met. A code or refresh token
    /// found spent (when `check` read it, or by that write: a concurrent redemption won)
    /// is answered by its refusal, a replay revoking what it issued.
    fn redeem(
        state: &OidcState,
        request: &TokenRequest<'_>,
        checked: Self::Checked,
    ) -> Result<TokenResponse, OAuthError>;
}

/// RFC 9449 §5: the key a new grant's refresh tokens are bound to: the request's DPoP
/// key, for a public client (a confidential client's refresh tokens are bound to its
/// own authentication instead).
pub(crate) fn refresh_binding(request: &TokenRequest<'_>) -> Option<String> {
    let public = request.app.settings.token_endpoint_auth_method == tessera_domain::ClientAuthMethod::None;
    request.dpop_jkt.filter(|_| public).map(str::to_owned)
}

/// Answers `request` with grant `G`.
pub fn run<G: Grant>(state: &OidcState, request: &TokenRequest<'_>) -> Result<TokenResponse, OAuthError> {
    let checked = G::check(state, request)?;
    G::redeem(state, request, checked)
}

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
