//! `/api/v1/signing-keys`: the keys that sign ID and access tokens. Listed with their
//! public JWK and state (never the private key); rotated one algorithm at a time. The
//! binary generates keys (it holds the master key), so rotation goes through
//! [`KeyRotation`] in the app data, as in the console.

use std::sync::Arc;

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tessera_domain::SigningAlgorithm;
use tessera_store::Store;
use tessera_store::keys::{self, SigningKey};
use utoipa::ToSchema;

use super::auth::Caller;
use super::body::{self, PageQuery, blocking, page_schema};
use super::changes::Actor;
use super::error::ApiError;

/// Rotates the signing key of one algorithm: `(algorithm, activate_now, actor)` → the
/// new key id, or why not. The binary provides it: it owns key generation and the
/// master key, and writes the audit event.
pub type RotateKeys = Arc<dyn Fn(SigningAlgorithm, bool, &str) -> Result<String, String> + Send + Sync>;

/// Key rotation, in the app data of the API and the console.
#[derive(Clone)]
pub struct KeyRotation(pub RotateKeys);

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/signing-keys", web::get().to(list)).route("/signing-keys/rotate", web::post().to(rotate));
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SigningKeyView {
    kid: String,
    alg: String,
    /// `next` (published, not yet signing), `active` (signing) or `retired` (published
    /// until `publish_until`).
    state: String,
    /// The public key as a JWK, as the JWKS publishes it.
    #[schema(value_type = Object)]
    public_jwk: Value,
    created_at: i64,
    activated_at: Option<i64>,
    retired_at: Option<i64>,
    publish_until: Option<i64>,
}

page_schema!(SigningKeyPage, SigningKeyView);

fn view(k: SigningKey) -> SigningKeyView {
    SigningKeyView {
        state: k.state.as_str().to_owned(),
        kid: k.kid,
        alg: k.alg,
        public_jwk: k.public_jwk,
        created_at: k.created_at,
        activated_at: k.activated_at,
        retired_at: k.retired_at,
        publish_until: k.publish_until,
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateBody {
    /// `ES256`, `RS256` or `EdDSA`.
    #[schema(example = "ES256")]
    alg: String,
    /// Sign with the new key at once (a compromised key) instead of after the activation
    /// delay; nodes that have not reloaded may briefly sign with a key others do not
    /// publish yet. Default false.
    activate_now: Option<bool>,
}

/// Every key still stored, newest first by creation; the cursor is the last kid.
#[utoipa::path(get, path = "/api/v1/signing-keys", tag = "signing keys", params(PageQuery),
    responses((status = 200, body = SigningKeyPage)))]
pub async fn list(
    store: web::Data<Store>,
    _caller: Caller,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = query.page()?;
    let all = blocking(move || Ok(store.read_transaction(keys::list)?)).await?;
    let paged = body::page_in_memory(all, &page, |k| k.kid.as_str());
    Ok(HttpResponse::Ok().json(body::PageOf::of(paged, view)))
}

/// Starts a rotation: a new key, published at once, signing after the activation delay
/// (or at once with `activate_now`).
#[utoipa::path(post, path = "/api/v1/signing-keys/rotate", tag = "signing keys", request_body = RotateBody,
    responses((status = 201, body = SigningKeyView), (status = 400, body = super::ErrorBody)))]
pub async fn rotate(
    store: web::Data<Store>,
    rotation: web::Data<KeyRotation>,
    caller: Caller,
    bytes: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let input: RotateBody = body::parse(&bytes)?;
    let alg = SigningAlgorithm::parse(&input.alg).map_err(|e| ApiError::invalid("alg", e.to_string()))?;
    let rotation = rotation.into_inner();
    let key = blocking(move || {
        let kid = (rotation.0)(alg, input.activate_now.unwrap_or(false), &caller.actor()).map_err(|message| {
            tracing::error!(%message, "signing key rotation failed");
            ApiError::internal()
        })?;
        Ok(store.read_transaction(|c| keys::get(c, &kid))?)
    })
    .await?;
    Ok(HttpResponse::Created().json(view(key)))
}
