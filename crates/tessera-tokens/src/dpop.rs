//! DPoP (RFC 9449): proofs of possession of a client's key, checked on material handed
//! in (the proof, the request's method and URI, the time, the access token), the JWK
//! SHA-256 thumbprint (RFC 7638) that binds tokens to that key (`cnf.jkt`), and the
//! server's stateless nonces (§8, §9). Replay of a proof's `jti` needs the database: the
//! caller checks [`Proof::jti`] there.

use aws_lc_rs::hmac;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ED25519, RSA_PKCS1_2048_8192_SHA256, RSA_PSS_2048_8192_SHA256, RsaPublicKeyComponents,
    UnparsedPublicKey,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::signing::{KeyError, Signer};

/// RFC 9449 §5.1 `dpop_signing_alg_values_supported`: the algorithms a proof may use.
pub const ALGORITHMS: &[&str] = &["ES256", "EdDSA", "RS256", "PS256"];

/// The longest proof read (an RSA 4096 key in the header fits in well under this).
pub const MAX_PROOF_LEN: usize = 8192;

/// Seconds a proof's `iat` may lie in the past (RFC 9449 §11.1: a short window limits
/// pre-generated proofs; `jti` replay is checked for as long).
pub const IAT_WINDOW: i64 = 60;

/// Seconds a proof's `iat` may lie in the future (clock skew).
pub const IAT_LEEWAY: i64 = 10;

/// Seconds a server nonce lives: one is valid in the slot it was made in and the next.
pub const NONCE_SLOT: i64 = 300;

/// What is wrong with a proof. Every one is `invalid_dpop_proof` to the client, except
/// the nonce cases, which are `use_dpop_nonce` (§8).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DpopError {
    #[error("the DPoP proof is not a JWS compact serialisation")]
    Malformed,
    #[error("the DPoP proof's typ must be dpop+jwt")]
    Typ,
    #[error("the DPoP proof's algorithm is not supported")]
    Algorithm,
    #[error("the DPoP proof's jwk is not a supported public key")]
    Key,
    #[error("the DPoP proof's signature does not verify")]
    Signature,
    #[error("the DPoP proof lacks the {0} claim")]
    Missing(&'static str),
    #[error("the DPoP proof's htm is not this request's method")]
    Method,
    #[error("the DPoP proof's htu is not this request's URI")]
    Uri,
    #[error("the DPoP proof's iat is outside the accepted window")]
    Time,
    #[error("the DPoP proof's ath does not match the access token")]
    AccessTokenHash,
    #[error("a DPoP nonce from this server is required")]
    NonceRequired,
    #[error("the DPoP nonce is not valid; use the one from the DPoP-Nonce header")]
    BadNonce,
}

impl DpopError {
    /// Whether the client should retry with a fresh server nonce (§8: `use_dpop_nonce`).
    pub fn wants_nonce(&self) -> bool {
        matches!(self, DpopError::NonceRequired | DpopError::BadNonce)
    }
}

/// What the request a proof must match is.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    /// The request's HTTP method (§4.3 check 8).
    pub htm: &'a str,
    /// The request's URI, without query and fragment (§4.3 check 9).
    pub htu: &'a str,
    /// The access token presented with the proof at a protected resource (§4.3 check 12).
    pub access_token: Option<&'a str>,
    pub now: i64,
}

/// A proof that verified and matched its request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    /// RFC 7638 JWK SHA-256 thumbprint of the proof's key, base64url.
    pub jkt: String,
    /// The proof's unique identifier, to be checked for replay by the caller.
    pub jti: String,
    pub iat: i64,
    /// The server nonce the proof carries, if any.
    pub nonce: Option<String>,
}

/// The proof's signing algorithms, with the key types they need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Alg {
    Es256,
    EdDsa,
    Rs256,
    Ps256,
}

impl Alg {
    fn parse(text: &str) -> Option<Alg> {
        match text {
            "ES256" => Some(Alg::Es256),
            "EdDSA" => Some(Alg::EdDsa),
            "RS256" => Some(Alg::Rs256),
            "PS256" => Some(Alg::Ps256),
            _ => None,
        }
    }
}

/// RFC 9449 §4.3: checks `proof` (the `DPoP` header's value) against `expected`: a JWS
/// with `typ: dpop+jwt`, a supported asymmetric `alg`, a public `jwk` (no private
/// member) whose key verifies the signature; `jti`, `htm`, `htu` and `iat` present;
/// `htm` and `htu` this request's; `iat` within [`IAT_WINDOW`]; `ath` the hash of the
/// access token when one is presented. The nonce and the `jti`'s uniqueness are the
/// caller's to check.
pub fn verify_proof(proof: &str, expected: &Expected<'_>) -> Result<Proof, DpopError> {
    if proof.len() > MAX_PROOF_LEN {
        return Err(DpopError::Malformed);
    }
    let mut parts = proof.split('.');
    let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(DpopError::Malformed);
    };
    let header = decode_object(header_b64)?;
    if header.get("typ").and_then(Value::as_str) != Some("dpop+jwt") {
        return Err(DpopError::Typ);
    }
    let alg = header.get("alg").and_then(Value::as_str).and_then(Alg::parse).ok_or(DpopError::Algorithm)?;
    if header.contains_key("crit") {
        return Err(DpopError::Malformed);
    }
    let jwk = header.get("jwk").and_then(Value::as_object).ok_or(DpopError::Key)?;
    let signature = URL_SAFE_NO_PAD.decode(signature_b64).map_err(|_| DpopError::Malformed)?;
    let message = &proof[..header_b64.len() + 1 + payload_b64.len()];
    verify_signature(alg, jwk, message.as_bytes(), &signature)?;
    let jkt = thumbprint(jwk).ok_or(DpopError::Key)?;

    let claims = decode_object(payload_b64)?;
    let text = |name: &'static str| {
        claims.get(name).and_then(Value::as_str).filter(|v| !v.is_empty()).ok_or(DpopError::Missing(name))
    };
    let jti = text("jti")?;
    if jti.len() > 256 {
        return Err(DpopError::Malformed);
    }
    if text("htm")? != expected.htm {
        return Err(DpopError::Method);
    }
    if normalize_htu(text("htu")?).is_none_or(|htu| Some(htu) != normalize_htu(expected.htu)) {
        return Err(DpopError::Uri);
    }
    let iat = claims.get("iat").and_then(Value::as_i64).ok_or(DpopError::Missing("iat"))?;
    if iat < expected.now - IAT_WINDOW || iat > expected.now + IAT_LEEWAY {
        return Err(DpopError::Time);
    }
    if let Some(token) = expected.access_token {
        let ath = text("ath")?;
        if !bool::from(subtle::ConstantTimeEq::ct_eq(ath.as_bytes(), access_token_hash(token).as_bytes())) {
            return Err(DpopError::AccessTokenHash);
        }
    }
    let nonce = claims.get("nonce").and_then(Value::as_str).map(str::to_owned);
    Ok(Proof { jkt, jti: jti.to_owned(), iat, nonce })
}

fn decode_object(part: &str) -> Result<Map<String, Value>, DpopError> {
    let bytes = URL_SAFE_NO_PAD.decode(part).map_err(|_| DpopError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| DpopError::Malformed)
}

/// Members of a private JWK (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037 §2): a proof's
/// key carrying any is refused (§4.3 check 7).
const PRIVATE_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

fn verify_signature(alg: Alg, jwk: &Map<String, Value>, message: &[u8], signature: &[u8]) -> Result<(), DpopError> {
    if PRIVATE_MEMBERS.iter().any(|m| jwk.contains_key(*m)) {
        return Err(DpopError::Key);
    }
    let field = |name: &str| {
        jwk.get(name).and_then(Value::as_str).and_then(|v| URL_SAFE_NO_PAD.decode(v).ok()).ok_or(DpopError::Key)
    };
    let kty = jwk.get("kty").and_then(Value::as_str);
    let crv = jwk.get("crv").and_then(Value::as_str);
    let verified = match (alg, kty, crv) {
        (Alg::Es256, Some("EC"), Some("P-256")) => {
            let (x, y) = (field("x")?, field("y")?);
            if x.len() != 32 || y.len() != 32 {
                return Err(DpopError::Key);
            }
            let mut point = Vec::with_capacity(65);
            point.push(4u8);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point).verify(message, signature).is_ok()
        }
        (Alg::EdDsa, Some("OKP"), Some("Ed25519")) => {
            UnparsedPublicKey::new(&ED25519, field("x")?).verify(message, signature).is_ok()
        }
        (Alg::Rs256 | Alg::Ps256, Some("RSA"), _) => {
            let (n, e) = (field("n")?, field("e")?);
            let params = if alg == Alg::Rs256 { &RSA_PKCS1_2048_8192_SHA256 } else { &RSA_PSS_2048_8192_SHA256 };
            RsaPublicKeyComponents { n: &n, e: &e }.verify(params, message, signature).is_ok()
        }
        _ => return Err(DpopError::Key),
    };
    if verified { Ok(()) } else { Err(DpopError::Signature) }
}

/// RFC 7638 §3: the base64url SHA-256 of the key's required members, in lexicographic
/// order, with no whitespace. `None` for a key type not supported or a member missing.
pub fn thumbprint(jwk: &Map<String, Value>) -> Option<String> {
    let member = |name: &str| jwk.get(name).and_then(Value::as_str).filter(|v| !v.is_empty());
    // serde_json writes strings with the escaping RFC 7638 §3.3 asks for; the members
    // are base64url and names, so none needs any.
    let ordered: Vec<(&str, &str)> = match member("kty")? {
        "EC" => vec![("crv", member("crv")?), ("kty", "EC"), ("x", member("x")?), ("y", member("y")?)],
        "OKP" => vec![("crv", member("crv")?), ("kty", "OKP"), ("x", member("x")?)],
        "RSA" => vec![("e", member("e")?), ("kty", "RSA"), ("n", member("n")?)],
        _ => return None,
    };
    let mut canonical = String::from("{");
    for (i, (name, value)) in ordered.iter().enumerate() {
        if i > 0 {
            canonical.push(',');
        }
        canonical.push_str(&serde_json::to_string(name).ok()?);
        canonical.push(':');
        canonical.push_str(&serde_json::to_string(value).ok()?);
    }
    canonical.push('}');
    Some(URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes())))
}

/// RFC 9449 §4.2 `ath`: base64url of the SHA-256 of the access token's ASCII.
pub fn access_token_hash(access_token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(access_token.as_bytes()))
}

/// RFC 9449 §4.3 check 9: the URI without query and fragment, normalised as RFC 3986
/// §6.2.2 and §6.2.3 say (scheme and host in lower case, the scheme's default port
/// dropped, an empty path as `/`). `None` if it is not an absolute http(s) URI.
pub fn normalize_htu(uri: &str) -> Option<String> {
    let without_fragment = uri.split('#').next().unwrap_or(uri);
    let without_query = without_fragment.split('?').next().unwrap_or(without_fragment);
    let (scheme, rest) = without_query.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "https" && scheme != "http" {
        return None;
    }
    let (authority, path) = match rest.find('/') {
        Some(at) => rest.split_at(at),
        None => (rest, "/"),
    };
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    let authority = authority.to_ascii_lowercase();
    let default_port = if scheme == "https" { ":443" } else { ":80" };
    let authority = authority.strip_suffix(default_port).unwrap_or(&authority);
    Some(format!("{scheme}://{authority}{path}"))
}

/// The server's DPoP nonces (RFC 9449 §8, §9): stateless, so any node that holds the
/// same key (derived from the master key) accepts them. A nonce is the time slot it was
/// made in and a MAC of it; it is accepted in that slot and the next.
#[derive(Clone)]
pub struct NonceKey {
    key: hmac::Key,
}

impl std::fmt::Debug for NonceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NonceKey(***)")
    }
}

impl NonceKey {
    pub fn new(secret: &[u8; 32]) -> NonceKey {
        NonceKey { key: hmac::Key::new(hmac::HMAC_SHA256, secret) }
    }

    fn tag(&self, slot: i64) -> String {
        let tag = hmac::sign(&self.key, &slot.to_be_bytes());
        URL_SAFE_NO_PAD.encode(&tag.as_ref()[..16])
    }

    /// The nonce to hand out at `now`.
    pub fn issue(&self, now: i64) -> String {
        let slot = now.div_euclid(NONCE_SLOT);
        format!("{slot}.{}", self.tag(slot))
    }

    /// Whether `nonce` was made by this key in the current slot or the one before.
    pub fn accepts(&self, nonce: &str, now: i64) -> bool {
        let Some((slot, tag)) = nonce.split_once('.') else { return false };
        let Ok(slot) = slot.parse::<i64>() else { return false };
        let current = now.div_euclid(NONCE_SLOT);
        if slot != current && slot != current - 1 {
            return false;
        }
        bool::from(subtle::ConstantTimeEq::ct_eq(tag.as_bytes(), self.tag(slot).as_bytes()))
    }
}

/// A client's side of §4.2: signs `claims` as a proof with `signer`, whose public key
/// `jwk` goes into the header (Tessera's tests and the example resource server's use it;
/// Tessera itself never makes proofs).
pub fn sign_proof(signer: &Signer, jwk: &Value, claims: &Value) -> Result<String, KeyError> {
    let header = serde_json::json!({ "typ": "dpop+jwt", "alg": signer.alg().as_str(), "jwk": jwk });
    let header = serde_json::to_vec(&header).map_err(|_| KeyError::Sign)?;
    let payload = serde_json::to_vec(claims).map_err(|_| KeyError::Sign)?;
    let mut proof = URL_SAFE_NO_PAD.encode(header);
    proof.push('.');
    URL_SAFE_NO_PAD.encode_string(payload, &mut proof);
    let signature = signer.sign(proof.as_bytes())?;
    proof.push('.');
    URL_SAFE_NO_PAD.encode_string(signature, &mut proof);
    Ok(proof)
}

#[cfg(test)]
mod tests;
