use serde_json::json;
use tessera_domain::SigningAlgorithm;

use super::*;
use crate::signing::generate;

const HTU: &str = "https://server.example.com/token";
const NOW: i64 = 1_562_262_616;

/// RFC 9449 §4.1, figure 3: the example proof and its key.
const RFC_PROOF: &str = "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIjoiUE9TVCIsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwiaWF0IjoxNTYyMjYyNjE2fQ.2-GxA6T8lP4vfrg8v-FdWP0A0zdrj8igiMLvqRMUvwnQg4PtFLbdLXiOSsX0x7NVY-FNyJK70nfbV37xRZT3Lg";

fn expected(now: i64) -> Expected<'static> {
    Expected { htm: "POST", htu: HTU, access_token: None, now }
}

struct Client {
    signer: Signer,
    jwk: Value,
}

fn client(alg: SigningAlgorithm) -> Client {
    let key = generate(alg).unwrap();
    let signer = Signer::from_pkcs8(key.kid.clone(), alg, &key.pkcs8).unwrap();
    let jwk = signer.public_jwk_without_kid();
    Client { signer, jwk }
}

impl Client {
    fn proof(&self, claims: Value) -> String {
        sign_proof(&self.signer, &self.jwk, &claims).unwrap()
    }
}

fn claims() -> Value {
    json!({ "jti": "e1j3V_bKic8-LAEB", "htm": "POST", "htu": HTU, "iat": NOW })
}

#[test]
fn the_rfc_example_proof_verifies_and_has_the_rfc_thumbprint() {
    let proof = verify_proof(RFC_PROOF, &expected(NOW)).unwrap();
    assert_eq!(proof.jti, "-BwC3ESc6acc2lTc");
    assert_eq!(proof.iat, NOW);
    // RFC 9449 §6.1: the example's `cnf.jkt`.
    assert_eq!(proof.jkt, "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I");
}

#[test]
fn the_rfc_example_proof_is_refused_out_of_its_window_or_elsewhere() {
    assert_eq!(verify_proof(RFC_PROOF, &expected(NOW + IAT_WINDOW + 1)), Err(DpopError::Time));
    assert_eq!(verify_proof(RFC_PROOF, &expected(NOW - IAT_LEEWAY - 1)), Err(DpopError::Time));
    let get = Expected { htm: "GET", ..expected(NOW) };
    assert_eq!(verify_proof(RFC_PROOF, &get), Err(DpopError::Method));
    let other = Expected { htu: "https://server.example.com/userinfo", ..expected(NOW) };
    assert_eq!(verify_proof(RFC_PROOF, &other), Err(DpopError::Uri));
}

#[test]
fn the_rfc_7638_example_thumbprint() {
    // RFC 7638 §3.1.
    let jwk = json!({
        "kty": "RSA",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29"
    });
    assert_eq!(thumbprint(jwk.as_object().unwrap()).unwrap(), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
}

#[test]
fn proofs_of_every_algorithm_verify_with_the_key_thumbprint() {
    for alg in SigningAlgorithm::ALL {
        let client = client(*alg);
        let proof = verify_proof(&client.proof(claims()), &expected(NOW)).unwrap();
        assert_eq!(proof.jkt, client.signer.kid(), "{alg}: a generated key's kid is its thumbprint");
        assert_eq!(proof.jti, "e1j3V_bKic8-LAEB");
        assert_eq!(proof.nonce, None);
    }
}

#[test]
fn htu_is_compared_without_query_fragment_case_or_default_port() {
    let client = client(SigningAlgorithm::ES256);
    for htu in [
        "https://server.example.com/token?x=1",
        "https://server.example.com/token#frag",
        "HTTPS://Server.Example.COM:443/token",
    ] {
        let proof = client.proof(json!({ "jti": "a", "htm": "POST", "htu": htu, "iat": NOW }));
        assert!(verify_proof(&proof, &expected(NOW)).is_ok(), "{htu}");
    }
    for htu in [
        "https://server.example.com/token/",
        "https://server.example.com/Token",
        "http://server.example.com/token",
        "https://server.example.com:8443/token",
        "https://evil.example.com/token",
        "https://user@server.example.com/token",
        "server.example.com/token",
    ] {
        let proof = client.proof(json!({ "jti": "a", "htm": "POST", "htu": htu, "iat": NOW }));
        assert_eq!(verify_proof(&proof, &expected(NOW)), Err(DpopError::Uri), "{htu}");
    }
}

#[test]
fn ath_must_be_the_hash_of_the_access_token_presented() {
    let client = client(SigningAlgorithm::EdDSA);
    let at = Expected { htm: "GET", htu: HTU, access_token: Some("token-1"), now: NOW };
    let with = |ath: Option<&str>| {
        let mut c = json!({ "jti": "a", "htm": "GET", "htu": HTU, "iat": NOW });
        if let Some(ath) = ath {
            c["ath"] = json!(ath);
        }
        client.proof(c)
    };
    assert!(verify_proof(&with(Some(&access_token_hash("token-1"))), &at).is_ok());
    assert_eq!(verify_proof(&with(Some(&access_token_hash("token-2"))), &at), Err(DpopError::AccessTokenHash));
    assert_eq!(verify_proof(&with(None), &at), Err(DpopError::Missing("ath")));
}

#[test]
fn a_proof_missing_a_claim_or_with_a_wrong_typ_alg_or_key_is_refused() {
    let client = client(SigningAlgorithm::ES256);
    for missing in ["jti", "htm", "htu", "iat"] {
        let mut c = claims();
        c.as_object_mut().unwrap().remove(missing);
        assert!(verify_proof(&client.proof(c), &expected(NOW)).is_err(), "{missing}");
    }
    let header = |h: Value| {
        let good = client.proof(claims());
        let rest = good.split_once('.').unwrap().1;
        format!("{}.{rest}", URL_SAFE_NO_PAD.encode(h.to_string()))
    };
    let jwk = client.jwk.clone();
    assert_eq!(
        verify_proof(&header(json!({"typ": "JWT", "alg": "ES256", "jwk": jwk})), &expected(NOW)),
        Err(DpopError::Typ)
    );
    assert_eq!(
        verify_proof(&header(json!({"typ": "dpop+jwt", "alg": "none", "jwk": jwk})), &expected(NOW)),
        Err(DpopError::Algorithm)
    );
    assert_eq!(
        verify_proof(&header(json!({"typ": "dpop+jwt", "alg": "HS256", "jwk": jwk})), &expected(NOW)),
        Err(DpopError::Algorithm)
    );
    assert_eq!(verify_proof(&header(json!({"typ": "dpop+jwt", "alg": "ES256"})), &expected(NOW)), Err(DpopError::Key));
    let mut private = jwk.clone();
    private["d"] = json!("AAAA");
    assert_eq!(
        verify_proof(&header(json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": private})), &expected(NOW)),
        Err(DpopError::Key)
    );
    // Another key in the header than the one that signed.
    let other = self::client(SigningAlgorithm::ES256).jwk;
    assert_eq!(
        verify_proof(&header(json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": other})), &expected(NOW)),
        Err(DpopError::Signature)
    );
    // An EC key claimed as RSA.
    assert_eq!(
        verify_proof(&header(json!({"typ": "dpop+jwt", "alg": "RS256", "jwk": jwk})), &expected(NOW)),
        Err(DpopError::Key)
    );
}

#[test]
fn garbage_is_refused_never_a_panic() {
    for garbage in ["", ".", "..", "a.b.c", "a.b.c.d", "eyJ.eyJ.", "é.é.é", &"a".repeat(MAX_PROOF_LEN + 1)] {
        assert!(verify_proof(garbage, &expected(NOW)).is_err(), "{garbage:?}");
    }
}

#[test]
fn nonces_live_for_their_slot_and_the_next_on_any_node_with_the_key() {
    let key = NonceKey::new(&[7; 32]);
    let nonce = key.issue(NOW);
    assert!(key.accepts(&nonce, NOW));
    assert!(NonceKey::new(&[7; 32]).accepts(&nonce, NOW + NONCE_SLOT));
    assert!(!key.accepts(&nonce, NOW + 2 * NONCE_SLOT));
    assert!(!NonceKey::new(&[8; 32]).accepts(&nonce, NOW));
    let (slot, tag) = nonce.split_once('.').unwrap();
    assert!(!key.accepts(&format!("{}.{tag}", slot.parse::<i64>().unwrap() + 1), NOW + NONCE_SLOT));
    for garbage in ["", ".", "x.y", "1.", &format!("{slot}.")] {
        assert!(!key.accepts(garbage, NOW), "{garbage:?}");
    }
}

#[test]
fn normalize_htu_examples() {
    assert_eq!(normalize_htu("https://a.example").as_deref(), Some("https://a.example/"));
    assert_eq!(normalize_htu("http://A.example:80/x?y#z").as_deref(), Some("http://a.example/x"));
    assert_eq!(normalize_htu("http://127.0.0.1:8080/x").as_deref(), Some("http://127.0.0.1:8080/x"));
    assert_eq!(normalize_htu("ftp://a.example/x"), None);
}
