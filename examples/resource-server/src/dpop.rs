//! DPoP (RFC 9449 §7): a token Tessera bound to a client's key (`cnf.jkt`) is accepted
//! only under the `DPoP` scheme with a proof, made by that key, for this request (`htm`,
//! `htu`) and this token (`ath`), fresh (`iat`) and never seen before (`jti`, kept in
//! memory for as long as a proof is fresh). A bound token sent as a bearer token is
//! refused, and so is an unbound one sent under the `DPoP` scheme.

use std::collections::HashMap;
use std::sync::Mutex;

use actix_web::HttpRequest;
use tessera_tokens::dpop::{self, Expected};

use crate::bearer::Scheme;
use crate::error::ApiError;
use crate::introspection::ActiveToken;

/// The `jti` of every proof accepted while it is fresh, with when it stops being so.
#[derive(Default)]
pub struct SeenProofs {
    seen: Mutex<HashMap<String, i64>>,
}

impl SeenProofs {
    /// Records `key` until `until`; `false` if it was already there (a replay).
    fn record(&self, key: String, until: i64, now: i64) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        seen.retain(|_, expires| *expires > now);
        seen.insert(key, until).is_none()
    }
}

/// Checks the binding of `active`, presented under `scheme` with `request`'s `DPoP`
/// header, for `htu` (this route's public URL).
pub fn check(
    request: &HttpRequest,
    scheme: Scheme,
    token: &str,
    active: &ActiveToken,
    htu: &str,
    seen: &SeenProofs,
    now: i64,
) -> Result<(), ApiError> {
    let bound = active.cnf.as_ref().and_then(|cnf| cnf.jkt.as_deref());
    let jkt = match (bound, scheme) {
        (None, Scheme::Bearer) => return Ok(()),
        (Some(_), Scheme::Bearer) => return Err(ApiError::DpopRequired),
        (None, Scheme::Dpop) => return Err(ApiError::InvalidToken),
        (Some(jkt), Scheme::Dpop) => jkt,
    };
    let mut headers = request.headers().get_all("DPoP");
    let proof = match (headers.next(), headers.next()) {
        (Some(proof), None) => proof.to_str().map_err(|_| ApiError::InvalidProof("the DPoP header is not text"))?,
        _ => return Err(ApiError::InvalidProof("send exactly one DPoP header")),
    };
    let expected = Expected { htm: request.method().as_str(), htu, access_token: Some(token), now };
    let proof =
        dpop::verify_proof(proof, &expected).map_err(|_| ApiError::InvalidProof("the DPoP proof is not valid"))?;
    if proof.jkt != jkt {
        return Err(ApiError::InvalidProof("the DPoP proof is not made with the token's key"));
    }
    if !seen.record(format!("{}.{}", proof.jkt, proof.jti), proof.iat + dpop::IAT_WINDOW + 1, now) {
        return Err(ApiError::InvalidProof("the DPoP proof was already used"));
    }
    Ok(())
}
