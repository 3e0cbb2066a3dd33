//! `POST /api/v1/token/custom` (Cotter-style): adds custom claims to an access token
//! Tessera issued and returns it re-signed with the same expiry (a reference token yields
//! a new reference token). Given the refresh token of the same user and application, the
//! claims are attached to its grant and a new refresh token is returned: every access
//! token refreshed from it, through every rotation, carries them. The refresh token is
//! rotated as the token endpoint rotates it (`tessera_store::redeem`): a spent one
//! revokes its grant. Registered claims (`iss sub aud exp …`) can never be set this way.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tessera_claims::{Composer, IssuedClaims, Rule};
use tessera_domain::{GrantId, TokenSubject, UserId};
use tessera_store::redeem::{self, NotRotated, Rotate};
use tessera_store::{Store, StoreError};
use tessera_store::{grants, reference_tokens, reference_tokens::NewReferenceToken, refresh_tokens};
use tessera_tokens::{SecretHash, SharedKeySet, generate_secret};
use utoipa::ToSchema;

use super::auth::Caller;
use super::body::{self, blocking};
use super::changes::{self, Actor};
use super::error::ApiError;

/// Clock skew tolerated on the token's times.
const LEEWAY: i64 = 30;

/// What the endpoint needs to read and sign tokens: the node's keys and the issuer.
#[derive(Clone)]
pub struct TokenSigning {
    pub keys: SharedKeySet,
    /// The issuer identifier, without a trailing slash.
    pub issuer: String,
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/token/custom", web::post().to(add_custom_claims));
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomClaimsRequest {
    /// An access token Tessera issued (JWT or reference), unexpired and unrevoked.
    token: String,
    /// The claims to add, e.g. `{"https://example.com/plan": "pro"}`; registered claims
    /// are refused.
    #[schema(value_type = Object)]
    custom_attributes: Map<String, Value>,
    /// A refresh token of the same user and application: its family keeps the claims.
    refresh_token: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CustomClaimsResponse {
    /// The access token with the claims, same expiry.
    token: String,
    /// The new refresh token of the family (when one was given); the old one is spent.
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
}

/// A token found: its claims and what it belongs to.
struct Found {
    claims: Map<String, Value>,
    /// The signing algorithm of a JWT; `None` for a reference token.
    alg: Option<tessera_domain::SigningAlgorithm>,
}

#[utoipa::path(post, path = "/api/v1/token/custom", tag = "tokens", request_body = CustomClaimsRequest,
    responses((status = 200, body = CustomClaimsResponse), (status = 400, body = super::ErrorBody),
        (status = 401, body = super::ErrorBody)))]
pub async fn add_custom_claims(
    store: web::Data<Store>,
    signing: web::Data<TokenSigning>,
    caller: Caller,
    bytes: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let input: CustomClaimsRequest = body::parse(&bytes)?;
    tessera_domain::check_custom_claims(&input.custom_attributes).map_err(|e| {
        let field = e.claim().map_or("custom_attributes".to_owned(), |c| format!("custom_attributes.{c}"));
        ApiError::invalid(field, e.to_string())
    })?;
    let store = store.into_inner();
    let signing = signing.into_inner();
    let response = blocking(move || exchange(&store, &signing, &caller, input)).await?;
    Ok(HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(response))
}

fn invalid_token() -> ApiError {
    ApiError::invalid("token", "is not an active access token issued by this Tessera")
}

fn find(store: &Store, signing: &TokenSigning, token: &str, now: i64) -> Result<Found, ApiError> {
    let (claims, alg) = if token.matches('.').count() == 2 {
        let keys = signing.keys.current();
        let verified =
            tessera_tokens::jwt::verify_access_token(token, keys.verifying_keys(), &signing.issuer, now, LEEWAY)
                .ok_or_else(invalid_token)?;
        (verified.claims, Some(verified.alg))
    } else {
        if token.len() > 512 {
            return Err(invalid_token());
        }
        let hash = SecretHash::of(token);
        (
            store
                .read_transaction(|c| reference_tokens::find_active(c, hash.as_str(), now))?
                .ok_or_else(invalid_token)?
                .claims,
            None,
        )
    };
    if let Some(grant_id) = claims.get("grant_id").and_then(Value::as_str) {
        let revoked = match store.read_transaction(|c| grants::get_grant(c, &GrantId::from(grant_id))) {
            Ok(grant) => grant.revoked_at.is_some(),
            Err(StoreError::NotFound { .. }) => true,
            Err(e) => return Err(e.into()),
        };
        if revoked {
            return Err(invalid_token());
        }
    }
    Ok(Found { claims, alg })
}

fn exchange(
    store: &Store,
    signing: &TokenSigning,
    caller: &Caller,
    input: CustomClaimsRequest,
) -> Result<CustomClaimsResponse, ApiError> {
    let now = super::now();
    let found = find(store, signing, &input.token, now)?;
    let text = |name: &str| found.claims.get(name).and_then(Value::as_str).map(str::to_owned);
    let (client_id, sub) = (text("client_id").unwrap_or_default(), text("sub"));
    let config = store.config()?;
    let app = config.application_by_client_id(&client_id).ok_or_else(invalid_token)?.clone();
    let mut claims = found.claims.clone();
    for (name, value) in &input.custom_attributes {
        claims.insert(name.clone(), value.clone());
    }
    claims.insert("jti".into(), Value::String(tessera_tokens::jwt::new_jti()));
    let expires_at = claims.get("exp").and_then(Value::as_i64).ok_or_else(invalid_token)?;

    let (token, reference) = match found.alg {
        Some(alg) => {
            let keys = signing.keys.current();
            let signer = keys.signer(alg).ok_or_else(ApiError::internal)?;
            (tessera_tokens::jwt::sign(signer, "at+jwt", &claims).map_err(|_| ApiError::internal())?, None)
        }
        None => {
            let secret = generate_secret();
            let row = NewReferenceToken {
                token_hash: secret.hash().as_str().to_owned(),
                grant_id: text("grant_id").map(GrantId::from),
                application_id: app.id.clone(),
                user_id: sub.clone().filter(|s| app.client_id != *s.as_str()).map(UserId::from),
                claims: claims.clone(),
                expires_at,
            };
            (secret.expose().to_owned(), Some(row))
        }
    };
    let names: Vec<&String> = input.custom_attributes.keys().collect();
    let new_refresh = input.refresh_token.as_ref().map(|_| generate_secret());
    let outcome = store.write_transaction(|c| {
        let mut grant_id = text("grant_id").map(GrantId::from);
        if let (Some(presented), Some(new)) = (&input.refresh_token, &new_refresh) {
            let old = SecretHash::of(presented);
            let Some((token, grant)) = refresh_tokens::find_refresh_token(c, old.as_str())? else {
                return Err(StoreError::invalid("refresh_token", "is not a refresh token Tessera issued"));
            };
            if grant.application_id != app.id
                || grant.user_id.is_none()
                || grant.user_id.as_ref().map(UserId::as_str) != sub.as_deref()
            {
                return Err(StoreError::invalid(
                    "refresh_token",
                    "is not an active refresh token of the same user and application",
                ));
            }
            // The grant's latest claims take the attributes at once, so userinfo and
            // introspection agree with the re-signed token.
            let rules: Vec<Rule<'_>> = config
                .rules_for(TokenSubject::User, &app.id)
                .into_iter()
                .map(|m| Rule { id: &m.id, global: m.application_id.is_none(), rule: &m.rule })
                .collect();
            let mut composer = Composer::continuing(rules, IssuedClaims::from_map(&grant.issued_claims));
            composer.attributes(&input.custom_attributes);
            let issued_claims = composer.finish().to_map();
            // The token endpoint's rotation, its retry within the application's grace,
            // and its refusal: a spent token revokes its grant.
            let new_hash = new.hash();
            let rotation = Rotate {
                old_hash: old.as_str(),
                grant_id: &grant.id,
                new_hash: new_hash.as_str(),
                new_expires_at: (now + app.settings.lifetimes.refresh_token).min(grant.expires_at),
                issued_claims: &issued_claims,
                reference: None,
            };
            let grace = app.settings.lifetimes.refresh_token_retry_grace;
            let spent = if token.is_retry(grace, now) {
                redeem::retry_rotation(c, &rotation, grace, &caller.actor(), now)?
            } else {
                redeem::rotate_refresh(c, &rotation, now)?
            };
            if !spent {
                return Ok(Err(redeem::refuse_rotation(c, old.as_str(), grace, &caller.actor(), now)?));
            }
            let mut custom = grant.custom_claims.clone();
            for (name, value) in &input.custom_attributes {
                custom.insert(name.clone(), value.clone());
            }
            grants::set_custom_claims(c, &grant.id, &custom)?;
            grant_id = Some(grant.id);
        }
        if let Some(row) = &reference {
            reference_tokens::insert_reference_token(c, row, now)?;
        }
        let target = match &grant_id {
            Some(id) => format!("grant:{id}"),
            None => format!("client:{}", app.client_id),
        };
        let summary = json!({ "claims": names, "refresh_token": new_refresh.is_some(), "client_id": app.client_id });
        changes::record(c, caller, "token.custom_claims", &target, summary, now)?;
        Ok(Ok(()))
    })?;
    if let Err(refused) = outcome {
        let message = match refused {
            NotRotated::Reused { .. } => "was already used; its grant is revoked",
            NotRotated::Superseded => "was already used by a concurrent request",
            NotRotated::Revoked => "was revoked",
            NotRotated::Expired => "has expired",
            NotRotated::Unknown => "is not a refresh token Tessera issued",
        };
        return Err(ApiError::invalid("refresh_token", message));
    }
    Ok(CustomClaimsResponse { token, refresh_token: new_refresh.map(|s| s.expose().to_owned()) })
}
