//! Access tokens in two interchangeable formats behind one trait: an RFC 9068 JWT
//! (self-contained, verifiable with the JWKS) or a reference token (256 random bits;
//! the claims stay in the database, stored under the token's SHA-256, and resource
//! servers ask `/connect/introspect`).

use serde_json::{Map, Value};
use tessera_domain::{ApplicationId, GrantId, SigningAlgorithm, TokenFormat, UserId};
use tessera_store::applications::Application;
use tessera_store::config::Config;
use tessera_store::{AnyConnection, StoreResult};
use tessera_store::{reference_tokens, reference_tokens::NewReferenceToken};
use tessera_tokens::{KeySet, generate_secret};

use crate::error::OAuthError;

/// The claims of an access token about to be issued.
#[derive(Debug, Clone)]
pub struct AccessTokenClaims {
    /// RFC 9068 §2.2 claims and any others, ready to serialise.
    pub claims: Map<String, Value>,
    pub expires_at: i64,
    pub application_id: ApplicationId,
    pub user_id: Option<UserId>,
    pub grant_id: Option<GrantId>,
}

/// A minted token: the string for the client and, for a reference token, the row to
/// store in the same transaction as the rest of the issuance.
#[derive(Debug)]
pub struct Minted {
    pub token: String,
    pub reference: Option<NewReferenceToken>,
}

impl Minted {
    /// Stores the reference token's row, if any.
    pub fn persist(&self, conn: &mut AnyConnection, now: i64) -> StoreResult<()> {
        match &self.reference {
            Some(row) => reference_tokens::insert_reference_token(conn, row, now),
            None => Ok(()),
        }
    }
}

/// Turns claims into the token string handed to the client.
pub trait AccessTokenFormat {
    fn mint(&self, token: &AccessTokenClaims) -> Result<Minted, OAuthError>;
}

/// RFC 9068: a JWT with `typ: at+jwt`, signed with the application's algorithm.
pub struct JwtAccessToken<'a> {
    pub keys: &'a KeySet,
    pub alg: SigningAlgorithm,
}

impl AccessTokenFormat for JwtAccessToken<'_> {
    fn mint(&self, token: &AccessTokenClaims) -> Result<Minted, OAuthError> {
        let signer = self.keys.signer(self.alg).ok_or_else(|| {
            tracing::error!(alg = %self.alg, "no active signing key");
            OAuthError::server_error()
        })?;
        let jwt = tessera_tokens::jwt::sign(signer, "at+jwt", &token.claims).map_err(|e| {
            tracing::error!(error = %e, "signing an access token failed");
            OAuthError::server_error()
        })?;
        Ok(Minted { token: jwt, reference: None })
    }
}

/// An opaque reference token; only its hash and claims are stored.
pub struct ReferenceAccessToken;

impl AccessTokenFormat for ReferenceAccessToken {
    fn mint(&self, token: &AccessTokenClaims) -> Result<Minted, OAuthError> {
        let secret = generate_secret();
        let row = NewReferenceToken {
            token_hash: secret.hash().as_str().to_owned(),
            grant_id: token.grant_id.clone(),
            application_id: token.application_id.clone(),
            user_id: token.user_id.clone(),
            claims: token.claims.clone(),
            expires_at: token.expires_at,
        };
        Ok(Minted { token: secret.expose().to_owned(), reference: Some(row) })
    }
}

/// Mints in `format`.
pub fn mint(
    format: TokenFormat,
    keys: &KeySet,
    alg: SigningAlgorithm,
    token: &AccessTokenClaims,
) -> Result<Minted, OAuthError> {
    match format {
        TokenFormat::Jwt => JwtAccessToken { keys, alg }.mint(token),
        TokenFormat::Reference => ReferenceAccessToken.mint(token),
    }
}

/// The format for a token of `app` for `audience`: the application's, unless the token's
/// only audience is an API connection that sets its own.
pub fn format_for(app: &Application, audience: &[String], config: &Config) -> TokenFormat {
    let connection_format = match audience {
        [only] => config.connection_by_name(only).and_then(|c| c.access_token_format),
        _ => None,
    };
    connection_format.unwrap_or(app.settings.access_token_format)
}
