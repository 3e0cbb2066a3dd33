//! The JSON Web Key Set (RFC 7517 §5, OIDC Discovery §3 `jwks_uri`): every public key
//! that may verify a live token Tessera signed, including the next key before it signs
//! and retired keys until their last token expires. Served from the document the key
//! set serialised once.

use actix_web::http::header::{self, CacheControl, CacheDirective, ContentType};
use actix_web::{HttpResponse, get, web};
use tessera_tokens::SharedKeySet;

/// How long relying parties and resource servers may cache the set. Short, so that a
/// verifier meeting an unknown `kid` after a rotation finds it on its next fetch.
const MAX_AGE: u32 = 60;

#[get("/.well-known/openid-configuration/jwks")]
pub(crate) async fn jwks(keys: web::Data<SharedKeySet>) -> HttpResponse {
    let keys = keys.current();
    HttpResponse::Ok()
        .insert_header(ContentType(mime_jwk_set()))
        .insert_header(CacheControl(vec![CacheDirective::Public, CacheDirective::MaxAge(MAX_AGE)]))
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .body(keys.jwks_json().to_owned())
}

/// RFC 7517 §8.5.1: `application/jwk-set+json`.
fn mime_jwk_set() -> actix_web::mime::Mime {
    "application/jwk-set+json".parse().unwrap_or(actix_web::mime::APPLICATION_JSON)
}
