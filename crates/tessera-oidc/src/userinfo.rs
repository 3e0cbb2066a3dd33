//! The UserInfo endpoint (OIDC Core §5.3): `sub` and the claims of the identity scopes
//! the access token was granted, with the user's current values, and the grant's custom
//! claims declared for userinfo; for JWT and reference tokens alike. Errors per RFC 6750
//! §3: 401 `invalid_token` with `WWW-Authenticate`, 403 `insufficient_scope` without
//! `openid`, 400 `invalid_request` for a malformed request.

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::Value;
use tessera_claims::IssuedClaims;
use tessera_domain::{
    AllowedScopes, IdentityClaims, Output, ScopeSet, UserId, claims_for_userinfo, resolve_requested_lenient,
};
use tessera_store::{grants, reference_tokens, users};
use tessera_tokens::SecretHash;

use crate::bearer::{ActiveToken, Looked, Presented, bearer_token, bound_key, look};
use crate::error::BearerError;
use crate::form::Params;
use crate::state::{OidcState, now};

/// `GET /connect/userinfo`.
pub(crate) async fn userinfo_get(
    request: HttpRequest,
    state: web::Data<OidcState>,
) -> Result<HttpResponse, BearerError> {
    answer(request, state, None).await
}

/// `POST /connect/userinfo`: the token in the header or in the form body.
pub(crate) async fn userinfo_post(
    request: HttpRequest,
    body: web::Bytes,
    state: web::Data<OidcState>,
) -> Result<HttpResponse, BearerError> {
    let is_form = request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|ct| {
        ct.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case("application/x-www-form-urlencoded")
    });
    let form = if is_form {
        Some(Params::parse(&body).map_err(|_| BearerError::invalid_request("the form body is malformed"))?)
    } else {
        None
    };
    answer(request, state, form).await
}

async fn answer(
    request: HttpRequest,
    state: web::Data<OidcState>,
    form: Option<Params>,
) -> Result<HttpResponse, BearerError> {
    let presented =
        bearer_token(&request, form.as_ref()).map_err(BearerError::invalid_request)?.ok_or(BearerError::Missing)?;
    let proof = crate::dpop::header(&request).map_err(|e| BearerError::Dpop {
        error: "invalid_dpop_proof",
        description: e.to_string(),
        nonce: None,
    })?;
    let method = request.method().as_str().to_owned();
    let state = state.into_inner();
    let body = web::block(move || lookup(&state, &presented, proof.as_deref(), &method)).await??;
    Ok(crate::error::no_store(StatusCode::OK).insert_header(crate::cors::ALLOW_ANY_ORIGIN).json(body))
}

/// RFC 9449 §7: a token bound to a key (`cnf.jkt`) is accepted only under the DPoP
/// scheme with a proof by that key for this request and token; a token not bound is
/// refused under the DPoP scheme. Checked once the token is known to be active, so only
/// a live token's proofs are recorded.
fn check_binding(
    state: &OidcState,
    presented: &Presented,
    bound: Option<&str>,
    proof: Option<&str>,
    method: &str,
    now: i64,
) -> Result<(), BearerError> {
    let refuse = |error: &'static str, description: String| BearerError::Dpop { error, description, nonce: None };
    match (bound, presented.dpop) {
        (None, false) => Ok(()),
        (None, true) => Err(refuse("invalid_token", "the access token is not bound to a DPoP key".into())),
        (Some(_), false) => {
            Err(refuse("invalid_token", "the access token is bound to a DPoP key: send it with the DPoP scheme".into()))
        }
        (Some(jkt), true) => {
            let proof = proof.ok_or_else(|| refuse("invalid_dpop_proof", "a DPoP proof is required".into()))?;
            let htu = state.url("/connect/userinfo");
            let expected =
                tessera_tokens::dpop::Expected { htm: method, htu: &htu, access_token: Some(&presented.token), now };
            let checked = crate::dpop::check(state, proof, &expected);
            match checked {
                Ok(proof) if proof.jkt == jkt => Ok(()),
                Ok(_) => Err(refuse("invalid_dpop_proof", "the DPoP proof's key is not the access token's".into())),
                Err(crate::dpop::Refused::Proof(e)) if e.wants_nonce() => Err(BearerError::Dpop {
                    error: "use_dpop_nonce",
                    description: e.to_string(),
                    nonce: Some(state.dpop.nonces.issue(now)),
                }),
                Err(crate::dpop::Refused::Proof(e)) => Err(refuse("invalid_dpop_proof", e.to_string())),
                Err(crate::dpop::Refused::Replayed) => {
                    Err(refuse("invalid_dpop_proof", "the DPoP proof was already used".into()))
                }
                Err(crate::dpop::Refused::Store(e)) => Err(BearerError::Store(e)),
            }
        }
    }
}

/// The claims to answer, decided on a blocking thread.
fn lookup(
    state: &OidcState,
    presented: &Presented,
    proof: Option<&str>,
    method: &str,
) -> Result<serde_json::Map<String, Value>, BearerError> {
    let now = now();
    let token = presented.token.as_str();
    let invalid = || BearerError::invalid_token("the access token is not valid");
    // The token and its user with their values in one statement (none for a machine
    // JWT until its scope is known to allow userinfo).
    let (ActiveToken { claims, issued }, user) = match look(state, token, now) {
        Looked::Inactive => return Err(invalid()),
        Looked::Active(active) => (active, None),
        Looked::OfGrant { claims, grant_id } => {
            match state.store.read_statement(|c| grants::get_grant_with_user(c, &grant_id))? {
                // A JWT of a revoked grant is no longer active, though it still
                // verifies offline until it expires.
                Some((grant, user)) if grant.revoked_at.is_none() => {
                    (ActiveToken { claims, issued: IssuedClaims::from_map(&grant.issued_claims) }, user)
                }
                _ => return Err(invalid()),
            }
        }
        Looked::Reference => {
            let hash = SecretHash::of(token);
            match state.store.read_statement(|c| reference_tokens::find_active_with_user(c, hash.as_str(), now))? {
                Some((found, user)) => {
                    let issued = IssuedClaims::from_map(&found.issued_claims);
                    (ActiveToken { claims: found.claims, issued }, user)
                }
                None => return Err(invalid()),
            }
        }
    };
    if !crate::bearer::of_enabled_application(&*state.store.config()?, &claims) {
        return Err(invalid());
    }
    check_binding(state, presented, bound_key(&claims), proof, method, now)?;
    let scope = ScopeSet::parse(claims.get("scope").and_then(Value::as_str).unwrap_or("")).unwrap_or_default();
    if !scope.has_openid() {
        return Err(BearerError::insufficient_scope("the access token was not granted openid"));
    }
    let Some(sub) = claims.get("sub").and_then(Value::as_str) else {
        return Err(BearerError::invalid_token("the access token has no subject"));
    };
    let user = match user {
        Some(user) => Some(user),
        None => state.store.read_statement(|c| users::find_with_claims(c, &UserId::from(sub)))?,
    };
    let (user, values) = match user {
        Some((user, values)) if !user.disabled && user.id.as_str() == sub => (user, values),
        _ => {
            return Err(BearerError::invalid_token("the access token's user no longer exists"));
        }
    };
    let config = state.store.config()?;
    // The token's own identity scopes, as the catalogue defines their claims now.
    let allowed = AllowedScopes { identity: scope.clone(), api: ScopeSet::new(), offline_access: false };
    let resolved = resolve_requested_lenient(&scope, config.catalog(), &allowed);
    let identity = IdentityClaims { sub: user.id.as_str(), user_values: &values, scopes: &resolved.identity };
    let mut body = claims_for_userinfo(&identity);
    // The grant's custom claims declared for userinfo, as its latest issuance set them
    // (so they agree with the ID token and access token issued with them).
    IssuedClaims::merge_into(&mut body, issued.output(Output::Userinfo));
    Ok(body)
}
