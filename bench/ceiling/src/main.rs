//! Single-thread ceilings on this machine, printed as `name ops_per_second` lines:
//! what one core can do at most for the crypto each benchmark row needs.
//!
//! - `es256_sign`, `eddsa_sign`: aws-lc-rs, the key parsed once (as Tessera holds it),
//!   over a signing input the size of a client-credentials access token's.
//! - `es256_verify`, `eddsa_verify`: `UnparsedPublicKey` (the key parsed at every
//!   verification, as Tessera's jwt.rs does) and `ParsedPublicKey` (parsed once); the
//!   ceiling is the faster of the two.
//! - `argon2id_hash`: one argon2id hash at Tessera's defaults (19456 KiB, 2 iterations,
//!   1 lane), the cost of one sign-in.
//!
//! Usage: ceiling [SECONDS_PER_ITEM]   (default 2)

use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, ParsedPublicKey, UnparsedPublicKey,
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, ED25519,
};

/// Runs `op` repeatedly for about `budget`, returns operations per second.
fn rate(budget: Duration, mut op: impl FnMut()) -> f64 {
    // Warm up briefly.
    let warm = Instant::now();
    while warm.elapsed() < budget / 10 {
        op();
    }
    let start = Instant::now();
    let mut n: u64 = 0;
    loop {
        for _ in 0..16 {
            op();
        }
        n += 16;
        let elapsed = start.elapsed();
        if elapsed >= budget {
            return n as f64 / elapsed.as_secs_f64();
        }
    }
}

fn main() {
    let secs: f64 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(2.0);
    let budget = Duration::from_secs_f64(secs);
    let rng = SystemRandom::new();
    // A signing input of the size of Tessera's client-credentials access token
    // (base64url header "." base64url claims).
    let message: Vec<u8> = {
        let header = r#"{"alg":"ES256","kid":"m1h0v2Yw0nqQ1T0mPZ6o8lC7Q1wFvZr3Qy0xg5bJ8Kc","typ":"at+jwt"}"#;
        let claims = r#"{"iss":"http://127.0.0.1:8080","sub":"bench-es256","aud":"urn:bench:api","client_id":"bench-es256","scope":"urn:bench:api","iat":1795559112,"nbf":1795559112,"exp":1795562712,"jti":"019ab6f0-8c3e-7d41-9a2b-5c6d7e8f9012","gty":"client_credentials"}"#;
        format!("{}.{}", b64(header.as_bytes()), b64(claims.as_bytes())).into_bytes()
    };

    let es_pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let es = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, es_pkcs8.as_ref()).unwrap();
    let es_sig = es.sign(&rng, &message).unwrap();
    let es_pub = es.public_key().as_ref().to_vec();
    let r = rate(budget, || {
        std::hint::black_box(es.sign(&rng, std::hint::black_box(&message)).unwrap());
    });
    println!("es256_sign {r:.0}");
    let unparsed = rate(budget, || {
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &es_pub)
            .verify(std::hint::black_box(&message), es_sig.as_ref())
            .unwrap();
    });
    println!("es256_verify_unparsed {unparsed:.0}");
    let parsed_key = ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &es_pub).unwrap();
    let parsed = rate(budget, || {
        parsed_key.verify_sig(std::hint::black_box(&message), es_sig.as_ref()).unwrap();
    });
    println!("es256_verify_parsed {parsed:.0}");
    println!("es256_verify {:.0}", unparsed.max(parsed));

    let ed_pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
    let ed = Ed25519KeyPair::from_pkcs8(ed_pkcs8.as_ref()).unwrap();
    let ed_sig = ed.sign(&message);
    let ed_pub = ed.public_key().as_ref().to_vec();
    let r = rate(budget, || {
        std::hint::black_box(ed.sign(std::hint::black_box(&message)));
    });
    println!("eddsa_sign {r:.0}");
    let r = rate(budget, || {
        UnparsedPublicKey::new(&ED25519, &ed_pub).verify(std::hint::black_box(&message), ed_sig.as_ref()).unwrap();
    });
    let ed_parsed = ParsedPublicKey::new(&signature::ED25519, &ed_pub).unwrap();
    let p = rate(budget, || {
        ed_parsed.verify_sig(std::hint::black_box(&message), ed_sig.as_ref()).unwrap();
    });
    println!("eddsa_verify {:.0}", r.max(p));

    let params = Params::new(19456, 2, 1, None).unwrap();
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let salt = SaltString::encode_b64(b"tessera-bench-salt").unwrap();
    let r = rate(budget.max(Duration::from_secs(1)), || {
        std::hint::black_box(argon2.hash_password(b"correct horse battery staple", &salt).unwrap());
    });
    println!("argon2id_hash {r:.1}");
}

fn b64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}
