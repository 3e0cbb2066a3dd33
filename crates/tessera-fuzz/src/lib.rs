//! Fuzz targets: every parser of outside input that stands alone, each with the
//! properties it must keep besides "never panics". `fuzz/` wraps each in a libFuzzer
//! target for `cargo fuzz` (nightly, see `docs/fuzzing.md`); `tests/corpus.rs` runs each
//! over the corpus kept in `fuzz/corpus/<target>/` on every test run, so what fuzzing
//! once found stays found.
//!
//! A target takes arbitrary bytes. Where a parser takes text, bytes that are not UTF-8
//! are read lossily: the HTTP layer hands the parsers text already.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::LazyLock;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};
use tessera_domain::{ApplicationType, ClaimValueType, RedirectUri, ScopeSet};
use tessera_oidc::parsers::{Params, parse_basic, request_object_claims};
use tessera_tokens::{Signer, VerifyingKey, jwt};

/// A fuzz target: arbitrary bytes in, a panic if a property fails.
pub type Target = fn(&[u8]);

/// Every target, by the name its corpus folder and libFuzzer binary carry.
pub const TARGETS: &[(&str, Target)] = &[
    ("scope", scope),
    ("redirect_uri", redirect_uri),
    ("form", form),
    ("basic_credentials", basic_credentials),
    ("jwt", jwt),
    ("dpop_proof", dpop_proof),
    ("claim_value", claim_value),
    ("custom_claims", custom_claims),
    ("request_object", request_object),
];

fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}

/// RFC 6749 §3.3 scope strings: what parses prints back to a string that parses to the
/// same set, and holds only scope-token characters.
pub fn scope(data: &[u8]) {
    let raw = text(data);
    if let Ok(set) = ScopeSet::parse(&raw) {
        let printed = set.to_string();
        assert!(printed.bytes().all(|b| b == b' ' || (0x21..=0x7e).contains(&b) && b != b'"' && b != b'\\'));
        assert_eq!(ScopeSet::parse(&printed).unwrap(), set, "{raw:?} -> {printed:?}");
    }
}

/// Redirect URIs, as registered by each kind of application and as presented at
/// authorize: a registered URI matches itself; a URI whose registration fails never
/// reaches `matches`; a match by another string happens only for a native application's
/// loopback IP URI (RFC 8252 §7.3) and never changes what comes before the port.
pub fn redirect_uri(data: &[u8]) {
    let raw = text(data);
    let (registered, presented) = raw.split_once('\n').unwrap_or((raw.as_str(), raw.as_str()));
    for app_type in [ApplicationType::Web, ApplicationType::Spa, ApplicationType::Native, ApplicationType::Machine] {
        let Ok(uri) = RedirectUri::parse(registered, app_type) else { continue };
        assert!(uri.matches(registered));
        if uri.matches(presented) && presented != registered {
            assert!(app_type == ApplicationType::Native && uri.is_loopback_ip(), "{registered:?} ~ {presented:?}");
            let host_end = registered.find("://").map(|i| i + 3).unwrap_or(0);
            let host_len = registered[host_end..].find([':', '/', '?', '#']).unwrap_or(registered.len() - host_end);
            assert_eq!(registered[..host_end + host_len], presented[..host_end + host_len]);
        }
    }
}

/// `application/x-www-form-urlencoded` bodies and query strings: a parameter given twice
/// (other than `resource`) is refused, so whatever parses has one value per name.
pub fn form(data: &[u8]) {
    if let Ok(params) = Params::parse(data) {
        for name in ["client_id", "scope", "redirect_uri", "grant_type", "code", "state"] {
            assert!(params.get_all(name).len() <= 1, "{name} repeated");
        }
    }
    let _ = Params::parse_noting_repeats(data);
    let _ = Params::from_page_form(data);
}

/// RFC 6749 §2.3.1 Basic credentials: what parses has a non-empty client id and no NUL.
pub fn basic_credentials(data: &[u8]) {
    if let Ok((id, secret)) = parse_basic(&text(data)) {
        assert!(!id.is_empty());
        assert!(!id.contains('\0') && !secret.contains('\0'));
    }
}

/// A fixed ES256 key, its verifying key and an RS256 one for algorithm confusion.
struct Keys {
    signer: Signer,
    verifying: Vec<VerifyingKey>,
}

static KEYS: LazyLock<Keys> = LazyLock::new(|| {
    use tessera_domain::SigningAlgorithm;
    let es = tessera_tokens::signing::generate(SigningAlgorithm::ES256).unwrap();
    let rs = tessera_tokens::signing::generate(SigningAlgorithm::RS256).unwrap();
    let signer = Signer::from_pkcs8(es.kid.clone(), SigningAlgorithm::ES256, &es.pkcs8).unwrap();
    let verifying = [&es, &rs].iter().map(|k| VerifyingKey::from_jwk(&k.public_jwk, Some(k.alg)).unwrap()).collect();
    Keys { signer, verifying }
});

/// JWTs and client assertions (RFC 7515 compact form). The first byte chooses: as given
/// (whatever arrives in a request), or the rest split at the first newline into a header
/// and a payload that the target signs with the real key, so the fuzzer reaches what
/// happens after a valid signature. Only ES256 is allowed: a token verifies only if its
/// header says ES256, and the claims it yields are the payload's own.
pub fn jwt(data: &[u8]) {
    use tessera_domain::SigningAlgorithm;
    let Some((&mode, rest)) = data.split_first() else { return };
    let keys = &*KEYS;
    let token = if mode % 2 == 0 {
        text(rest)
    } else {
        let rest = text(rest);
        let (header, payload) = rest.split_once('\n').unwrap_or((rest.as_str(), "{}"));
        let mut token = URL_SAFE_NO_PAD.encode(header);
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(payload));
        let signature = keys.signer.sign(token.as_bytes()).unwrap();
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(signature));
        token
    };
    if let Ok(verified) = jwt::verify(&token, &keys.verifying, &[SigningAlgorithm::ES256]) {
        assert_eq!(verified.alg, SigningAlgorithm::ES256);
        let payload = token.split('.').nth(1).unwrap();
        let decoded: Map<String, Value> = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        assert_eq!(verified.claims, decoded);
    }
    let _ = jwt::verify_access_token(&token, &keys.verifying, "https://id.example", 1_800_000_000, 60);
}

/// DPoP proofs (RFC 9449 §4.3) from the `DPoP` header. The first byte chooses: as given,
/// or the rest split at the first newline into a header (whose `jwk` is replaced by the
/// real key's when it has one) and a payload that the target signs with that ES256 key,
/// so the fuzzer reaches the claim checks. What verifies was signed by the key its header
/// names: its thumbprint is that key's, and its `jti` and `iat` are the payload's own.
pub fn dpop_proof(data: &[u8]) {
    use tessera_tokens::dpop::{self, Expected};
    let Some((&mode, rest)) = data.split_first() else { return };
    let keys = &*KEYS;
    let jwk = keys.signer.public_jwk_without_kid();
    let proof = if mode % 2 == 0 {
        text(rest)
    } else {
        let rest = text(rest);
        let (header, payload) = rest.split_once('\n').unwrap_or((rest.as_str(), "{}"));
        let header = match serde_json::from_str::<Value>(header) {
            Ok(Value::Object(mut map)) if map.contains_key("jwk") => {
                map.insert("jwk".into(), jwk.clone());
                Value::Object(map).to_string()
            }
            _ => header.to_owned(),
        };
        let mut proof = URL_SAFE_NO_PAD.encode(header);
        proof.push('.');
        proof.push_str(&URL_SAFE_NO_PAD.encode(payload));
        let signature = keys.signer.sign(proof.as_bytes()).unwrap();
        proof.push('.');
        proof.push_str(&URL_SAFE_NO_PAD.encode(signature));
        proof
    };
    let now = 1_800_000_000;
    for access_token in [None, Some("token")] {
        let expected = Expected { htm: "POST", htu: "https://id.example/connect/token", access_token, now };
        if let Ok(verified) = dpop::verify_proof(&proof, &expected) {
            assert_eq!(verified.jkt, dpop::thumbprint(jwk.as_object().unwrap()).unwrap());
            assert!(verified.iat >= now - dpop::IAT_WINDOW && verified.iat <= now + dpop::IAT_LEEWAY);
            assert!(!verified.jti.is_empty());
        }
    }
    let _ = dpop::normalize_htu(&text(rest));
}

/// A claim value typed in a form (sign-up, the account page, the console) for each claim
/// type: what is accepted passes the type's own check and normalizes to itself.
pub fn claim_value(data: &[u8]) {
    let raw = text(data);
    for value_type in ClaimValueType::ALL {
        if let Ok(value) = value_type.parse_input(&raw) {
            value_type.check_value(&value).unwrap_or_else(|e| panic!("{value_type:?} {raw:?}: {e}"));
            assert_eq!(value_type.normalize_value(&value).unwrap(), value, "{value_type:?} {raw:?}");
        }
    }
}

/// The JSON of custom claims and custom attributes (the custom-claims API, user and
/// application metadata): any JSON, then the check that refuses registered claim names.
pub fn custom_claims(data: &[u8]) {
    if let Ok(Value::Object(claims)) = serde_json::from_slice::<Value>(data)
        && tessera_domain::check_custom_claims(&claims).is_ok()
    {
        for name in claims.keys() {
            assert!(!tessera_domain::is_reserved(name), "{name}");
        }
    }
}

/// The claims of a request object (RFC 9101 §4–§6), as `request_object_claims` reads them
/// after the signature verified: what passes names the client as `iss`, the issuer in
/// `aud`, has a live `exp`, and yields a form that parses, has one `client_id` (the
/// client's), and carries none of `request`, `request_uri` or the JWT's own claims.
pub fn request_object(data: &[u8]) {
    const ISSUER: &str = "https://id.example.com";
    const NOW: i64 = 1_800_000_000;
    let Ok(Value::Object(claims)) = serde_json::from_slice::<Value>(data) else { return };
    let Ok(form) = request_object_claims(&claims, "webapp", ISSUER, NOW) else { return };
    assert_eq!(claims.get("iss").and_then(Value::as_str), Some("webapp"));
    assert!(claims.get("exp").and_then(Value::as_i64).is_some_and(|exp| exp > NOW - 120));
    let (params, _) = Params::parse_noting_repeats(form.as_bytes()).unwrap_or_default();
    if !form.is_empty() && params.get("client_id").is_some() {
        assert_eq!(params.get_all("client_id"), ["webapp"]);
    }
    for name in ["request", "request_uri", "iss", "aud", "exp", "nbf", "iat", "jti"] {
        assert!(params.get(name).is_none(), "{name}");
    }
}
