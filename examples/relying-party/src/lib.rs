//! An example relying party for Tessera: a command-line program that signs a user in with
//! the authorization code flow and PKCE (S256), checks the response's `state` and `iss`,
//! redeems the code, verifies the ID token (signature, nonce, `at_hash`) and reads
//! userinfo, all with the `openidconnect` crate. The browser comes back to a one-shot
//! listener on `http://127.0.0.1:{port}/callback`. See README.md.
//!
//! It is an example to copy from, not a library to depend on: it speaks plain HTTP to a
//! local Tessera, where production uses https.
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod callback;
mod config;
mod error;

use openidconnect::core::{CoreClient, CoreProviderMetadata, CoreResponseType, CoreUserInfoClaims};
use openidconnect::{
    AccessTokenHash, AuthenticationFlow, AuthorizationCode, ClientId, ClientSecret, CsrfToken, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
};
use serde_json::Value;

pub use callback::{AuthorizationResponse, CALLBACK_PATH, CallbackListener};
pub use config::{
    Config, ConfigError, DEFAULT_CALLBACK_TIMEOUT, DEFAULT_ISSUER, DEFAULT_REDIRECT_PORT, DEFAULT_SCOPES,
};
pub use error::Error;
use error::describe;

/// Seconds any request to Tessera may take.
const HTTP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// What a completed sign-in gives the application.
pub struct SignIn {
    /// The verified ID token's claims.
    pub id_token_claims: Value,
    /// The userinfo response (its `sub` checked against the ID token's).
    pub userinfo: Value,
    /// The access token, to call userinfo or an API with.
    pub access_token: String,
}

impl std::fmt::Debug for SignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignIn")
            .field("id_token_claims", &self.id_token_claims)
            .field("userinfo", &self.userinfo)
            .field("access_token", &"<hidden>")
            .finish()
    }
}

/// Signs one user in: discovers Tessera, starts listening on the redirect URI, hands the
/// authorization URL to `on_url` (to print, or to open), waits for the browser to come
/// back, then redeems the code and reads userinfo.
pub fn run(config: &Config, on_url: impl FnOnce(&str)) -> Result<SignIn, Error> {
    // No redirects: OIDC endpoints answer directly, and following them could leak tokens.
    let http = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(HTTP_TIMEOUT)
        .build()
        .map_err(|e| Error::HttpClient(describe(&e)))?;

    // OIDC Discovery: the endpoints and the signing keys (JWKS).
    let metadata = CoreProviderMetadata::discover(&config.issuer, &http).map_err(|e| Error::Discovery {
        issuer: config.issuer.as_str().trim_end_matches('/').to_owned(),
        reason: describe(&e),
    })?;
    let issuer = metadata.issuer().as_str().to_owned();

    let listener = CallbackListener::bind(config.redirect_port)?;
    let redirect_uri = RedirectUrl::new(listener.redirect_uri())
        .map_err(|e| Error::Listen { port: config.redirect_port, reason: e.to_string() })?;
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(config.client_id.clone()),
        config.client_secret.clone().map(ClientSecret::new),
    )
    .set_redirect_uri(redirect_uri);

    // The authorization request: PKCE S256 (RFC 7636), state against CSRF, nonce against
    // ID token replay. The crate adds the openid scope itself.
    let (pkce_challenge, pkce_verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = client
        .authorize_url(
            AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .set_pkce_challenge(pkce_challenge);
    for scope in config.scopes.iter().filter(|scope| *scope != "openid") {
        request = request.add_scope(Scope::new(scope.clone()));
    }
    let (authorize_url, state, nonce) = request.url();
    on_url(authorize_url.as_str());

    let response = listener.wait(config.callback_timeout)?;
    let code = check_authorization_response(&response, &issuer, state.secret())?;

    // The token request, authenticated with the secret (HTTP Basic) or, for a public
    // client, by the PKCE verifier alone.
    let tokens = client
        .exchange_code(AuthorizationCode::new(code.to_owned()))
        .map_err(|e| Error::TokenExchange(describe(&e)))?
        .set_pkce_verifier(pkce_verifier)
        .request(&http)
        .map_err(|e| Error::TokenExchange(describe(&e)))?;

    // The ID token: signature (JWKS), iss, aud, exp and nonce by `claims`; at_hash binds
    // the access token to it (OIDC Core §3.1.3.8).
    let id_token = tokens.id_token().ok_or(Error::MissingIdToken)?;
    let id_token_verifier = client.id_token_verifier();
    let claims = id_token.claims(&id_token_verifier, &nonce).map_err(|e| Error::IdToken(describe(&e)))?;
    if let Some(expected) = claims.access_token_hash() {
        let alg = id_token.signing_alg().map_err(|e| Error::IdToken(describe(&e)))?;
        let key = id_token.signing_key(&id_token_verifier).map_err(|e| Error::IdToken(describe(&e)))?;
        let actual =
            AccessTokenHash::from_token(tokens.access_token(), alg, key).map_err(|e| Error::IdToken(describe(&e)))?;
        if actual != *expected {
            return Err(Error::IdToken("at_hash does not match the access token".into()));
        }
    }

    // Userinfo with the access token; the crate checks its sub is the ID token's.
    let userinfo: CoreUserInfoClaims = client
        .user_info(tokens.access_token().clone(), Some(claims.subject().clone()))
        .map_err(|e| Error::UserInfo(describe(&e)))?
        .request(&http)
        .map_err(|e| Error::UserInfo(describe(&e)))?;

    Ok(SignIn {
        id_token_claims: serde_json::to_value(claims).map_err(|e| Error::IdToken(e.to_string()))?,
        userinfo: serde_json::to_value(&userinfo).map_err(|e| Error::UserInfo(e.to_string()))?,
        access_token: tokens.access_token().secret().clone(),
    })
}

/// The checks on what came back to the redirect URI, in the order that keeps an attacker's
/// response from being acted on: issuer (RFC 9207 §2.4; Tessera always sends `iss`), then
/// state (RFC 6749 §10.12), then an error, then the code.
fn check_authorization_response<'r>(
    response: &'r AuthorizationResponse,
    issuer: &str,
    state: &str,
) -> Result<&'r str, Error> {
    if response.get("iss") != Some(issuer) {
        return Err(Error::IssuerMismatch {
            expected: issuer.to_owned(),
            found: response.get("iss").map(str::to_owned),
        });
    }
    if response.get("state") != Some(state) {
        return Err(Error::StateMismatch);
    }
    if let Some(error) = response.get("error") {
        let description = response.get("error_description").unwrap_or("no description");
        return Err(Error::Authorization { error: error.to_owned(), description: description.to_owned() });
    }
    response.get("code").ok_or(Error::MissingCode)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(pairs: &[(&str, &str)]) -> AuthorizationResponse {
        AuthorizationResponse(pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect())
    }

    const ISSUER: &str = "http://localhost:8080";

    #[test]
    fn a_response_with_the_issuer_and_state_gives_its_code() {
        let r = response(&[("code", "c"), ("state", "s"), ("iss", ISSUER)]);
        assert_eq!(check_authorization_response(&r, ISSUER, "s").unwrap(), "c");
    }

    #[test]
    fn the_issuer_is_checked_first_then_the_state() {
        let r = response(&[("code", "c"), ("state", "other")]);
        assert!(matches!(
            check_authorization_response(&r, ISSUER, "s"),
            Err(Error::IssuerMismatch { found: None, .. })
        ));
        let r = response(&[("code", "c"), ("state", "s"), ("iss", "http://evil.example")]);
        assert!(matches!(check_authorization_response(&r, ISSUER, "s"), Err(Error::IssuerMismatch { .. })));
        let r = response(&[("error", "access_denied"), ("state", "other"), ("iss", ISSUER)]);
        assert!(matches!(check_authorization_response(&r, ISSUER, "s"), Err(Error::StateMismatch)));
    }

    #[test]
    fn an_error_response_is_reported_with_its_description() {
        let r = response(&[
            ("error", "access_denied"),
            ("error_description", "the user said no"),
            ("state", "s"),
            ("iss", ISSUER),
        ]);
        let e = check_authorization_response(&r, ISSUER, "s").unwrap_err();
        assert_eq!(e.to_string(), "the sign-in ended with access_denied: the user said no");
    }
}
