//! Access tokens presented back to Tessera (userinfo, introspection): the claims of an
//! active token it issued, whether JWT or reference, and the bearer token of a request
//! per RFC 6750 (header or form body, never the query string).

use actix_web::HttpRequest;
use actix_web::http::header;
use serde_json::{Map, Value};
use tessera_claims::IssuedClaims;
use tessera_domain::GrantId;
use tessera_store::config::Config;
use tessera_store::{grants, reference_tokens};
use tessera_tokens::SecretHash;

use crate::error::OAuthError;
use crate::form::Params;
use crate::state::OidcState;

/// Clock skew tolerated on `nbf` and `exp` of JWT access tokens.
const LEEWAY: i64 = 30;

/// An active access token: its claims and, for a user's token, the custom claims of its
/// grant's latest issuance (which userinfo and introspection answer from).
pub struct ActiveToken {
    pub claims: Map<String, Value>,
    pub issued: IssuedClaims,
}

/// What can be told of a presented access token without the database.
pub enum Looked {
    /// Active: a JWT of no grant (a machine token), verified.
    Active(ActiveToken),
    /// Not active: malformed, unverifiable, expired, of another issuer.
    Inactive,
    /// A verified JWT of a grant, whose revocation only the database knows.
    OfGrant { claims: Map<String, Value>, grant_id: GrantId },
    /// A reference token, known only to the database.
    Reference,
}

/// Looks at a token without I/O. A JWT must carry `typ: at+jwt` (RFC 9068 §4), our
/// issuer and a live `exp`.
pub fn look(state: &OidcState, token: &str, now: i64) -> Looked {
    if token.matches('.').count() != 2 {
        return if token.is_empty() || token.len() > 512 { Looked::Inactive } else { Looked::Reference };
    }
    let keys = state.keys.current();
    let Some(verified) =
        tessera_tokens::jwt::verify_access_token(token, keys.verifying_keys(), &state.issuer, now, LEEWAY)
    else {
        return Looked::Inactive;
    };
    let claims = verified.claims;
    match claims.get("grant_id").and_then(Value::as_str).map(GrantId::from) {
        Some(grant_id) => Looked::OfGrant { claims, grant_id },
        None => Looked::Active(ActiveToken { claims, issued: IssuedClaims::default() }),
    }
}

/// The active access token Tessera issued, or `None` (unknown, malformed, expired,
/// revoked, of a revoked grant, of a disabled or deleted user, or of a disabled or
/// deleted application: RFC 7662 §2.2, `active` reflects all of them); a reference token
/// is found by its hash. One database read at most (a JWT of a machine token: none).
pub fn active_token(state: &OidcState, token: &str, now: i64) -> Result<Option<ActiveToken>, OAuthError> {
    let active = match look(state, token, now) {
        Looked::Active(active) => Some(active),
        Looked::Inactive => None,
        // A JWT of a grant that was revoked (refresh reuse, revocation, logout, the user
        // disabled) is no longer active, though it still verifies offline until it expires.
        Looked::OfGrant { claims, grant_id } => state
            .store
            .read_statement(|c| grants::find_live_grant(c, &grant_id))?
            .map(|grant| ActiveToken { issued: IssuedClaims::from_map(&grant.issued_claims), claims }),
        Looked::Reference => {
            let hash = SecretHash::of(token);
            state
                .store
                .read_statement(|c| reference_tokens::find_active(c, hash.as_str(), now))?
                .map(|found| ActiveToken { claims: found.claims, issued: IssuedClaims::from_map(&found.issued_claims) })
        }
    };
    match active {
        Some(active) if of_enabled_application(&*state.store.config()?, &active.claims) => Ok(Some(active)),
        _ => Ok(None),
    }
}

/// Whether the application a token was issued to (`client_id`) still exists and is
/// enabled, from the in-memory configuration: disabling or deleting an application ends
/// its tokens at once, machine JWTs included, which no grant records.
pub fn of_enabled_application(config: &Config, claims: &Map<String, Value>) -> bool {
    let client_id = claims.get("client_id").and_then(Value::as_str);
    client_id.and_then(|id| config.application_by_client_id(id)).is_some_and(|app| app.settings.enabled)
}

/// An access token presented to a protected resource, and how.
pub struct Presented {
    pub token: String,
    /// RFC 9449 §7.1: sent as `Authorization: DPoP`, with a proof beside it.
    pub dpop: bool,
}

/// RFC 6750 §2.1 and §2.2: the token from `Authorization: Bearer` (or `DPoP`, RFC 9449
/// §7.1), or from the form body of a POST; both at once is `invalid_request`. §2.3 (the
/// query string) is not accepted.
pub fn bearer_token(request: &HttpRequest, form: Option<&Params>) -> Result<Option<Presented>, &'static str> {
    let from_header = match request.headers().get(header::AUTHORIZATION) {
        None => None,
        Some(value) => {
            let value = value.to_str().map_err(|_| "malformed Authorization header")?;
            match value.split_once(' ') {
                Some((scheme, token)) if !token.trim().is_empty() && scheme.eq_ignore_ascii_case("bearer") => {
                    Some(Presented { token: token.trim().to_owned(), dpop: false })
                }
                Some((scheme, token)) if !token.trim().is_empty() && scheme.eq_ignore_ascii_case("dpop") => {
                    Some(Presented { token: token.trim().to_owned(), dpop: true })
                }
                _ => return Err("the Authorization header must use the Bearer or DPoP scheme"),
            }
        }
    };
    let from_form =
        form.and_then(|f| f.get("access_token")).map(|token| Presented { token: token.to_owned(), dpop: false });
    match (from_header, from_form) {
        (Some(_), Some(_)) => Err("send the access token once"),
        (header, form) => Ok(header.or(form)),
    }
}

/// RFC 9449 §6.1: the thumbprint of the key a token's claims bind it to (`cnf.jkt`).
pub fn bound_key(claims: &Map<String, Value>) -> Option<&str> {
    claims.get("cnf").and_then(|cnf| cnf.get("jkt")).and_then(Value::as_str)
}
