//! Access tokens in two interchangeable formats behind one trait: an RFC 9068 JWT
//! (self-contained, verifiable with the JWKS) or a reference token (256 random bits;
//! the claims stay in the database, stored under the token's SHA-256, and resource
//! servers ask `/connect/introspect`).

use serde_json::{Map, Value};
use tessera_domain::{SigningAlgorithm, TokenFormat};
use tessera_store::Store;
use tessera_store::tokens::{self, NewReferenceToken};
use tessera_tokens::{KeySet, generate_secret};

use crate::error::OAuthError;

/// The claims of an access token about to be issued.
#[derive(Debug, Clone)]
pub struct AccessTokenClaims {
    /// RFC 9068 §2.2 claims and any others, ready to serialise.
    pub claims: Map<String, Value>,
    pub expires_at: i64,
    pub application_id: String,
    pub user_id: Option<String>,
    pub grant_id: Option<String>,
}

/// Turns claims into the token string handed to the client.
pub trait AccessTokenFormat {
    fn mint(&self, token: &AccessTokenClaims, now: i64) -> Result<String, OAuthError>;
}

/// RFC 9068: a JWT with `typ: at+jwt`, signed with the application's algorithm.
pub struct JwtAccessToken<'a> {
    pub keys: &'a KeySet,
    pub alg: SigningAlgorithm,
}

impl AccessTokenFormat for JwtAccessToken<'_> {
    fn mint(&self, token: &AccessTokenClaims, _now: i64) -> Result<String, OAuthError> {
        let signer = self.keys.signer(self.alg).ok_or_else(|| {
            tracing::error!(alg = %self.alg, "no active signing key");
            OAuthError::server_error()
        })?;
        tessera_tokens::jwt::sign(signer, "at+jwt", &token.claims).map_err(|e| {
            tracing::error!(error = %e, "signing an access token failed");
            OAuthError::server_error()
        })
    }
}

/// An opaque reference token; only its hash and claims are stored.
pub struct ReferenceAccessToken<'a> {
    pub store: &'a Store,
}

impl AccessTokenFormat for ReferenceAccessToken<'_> {
    fn mint(&self, token: &AccessTokenClaims, now: i64) -> Result<String, OAuthError> {
        let secret = generate_secret();
        let hash = secret.hash();
        let new = NewReferenceToken {
            token_hash: hash.as_str().to_owned(),
            grant_id: token.grant_id.clone(),
            application_id: token.application_id.clone(),
            user_id: token.user_id.clone(),
            claims: token.claims.clone(),
            expires_at: token.expires_at,
        };
        self.store.write(|c| tokens::insert_reference_token(c, &new, now))?;
        Ok(secret.expose().to_owned())
    }
}

/// The format for a token: the application's, unless the token's only audience is an
/// API connection that sets its own.
pub fn format_for(
    application_format: TokenFormat,
    audience: &[String],
    connection_format: Option<TokenFormat>,
) -> TokenFormat {
    match (audience, connection_format) {
        ([_only], Some(format)) => format,
        _ => application_format,
    }
}
