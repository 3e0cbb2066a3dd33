//! Why a sign-in did not complete: one line each, printed by `main` with exit status 2.

use crate::ConfigError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot build the HTTP client: {0}")]
    HttpClient(String),
    #[error("discovery at {issuer}/.well-known/openid-configuration failed: {reason}")]
    Discovery { issuer: String, reason: String },
    #[error("REDIRECT_PORT: cannot listen on 127.0.0.1:{port}: {reason}")]
    Listen { port: u16, reason: String },
    #[error("no browser came back to {redirect_uri} within {seconds} s")]
    CallbackTimeout { redirect_uri: String, seconds: f64 },
    /// RFC 6749 §4.1.2.1: Tessera answered the redirect URI with an error.
    #[error("the sign-in ended with {error}: {description}")]
    Authorization { error: String, description: String },
    /// RFC 6749 §10.12: a response this sign-in did not start (CSRF).
    #[error("the callback's state does not match the one sent; refused")]
    StateMismatch,
    /// RFC 9207 §2.4: the response must name the issuer it was sent to (mix-up attacks).
    #[error("the callback's iss is {found:?}, not the issuer {expected:?}; refused")]
    IssuerMismatch { expected: String, found: Option<String> },
    #[error("the callback carries no code")]
    MissingCode,
    #[error("the code exchange failed: {0}")]
    TokenExchange(String),
    #[error("the token response carries no ID token")]
    MissingIdToken,
    #[error("the ID token is not valid: {0}")]
    IdToken(String),
    #[error("userinfo failed: {0}")]
    UserInfo(String),
}

/// An error and its sources on one line: the `openidconnect` errors say "Request failed"
/// and keep the cause in `source()`.
pub(crate) fn describe(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text.replace(['\r', '\n'], " ")
}
