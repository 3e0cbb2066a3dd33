//! Micro-benchmarks of the token hot path: signing and verifying an access token
//! (ES256, EdDSA), checking a client secret, and opening a value sealed with the master
//! key. `cargo bench -p tessera-tokens`; `bench/run` measures the server as a whole.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use tessera_domain::SigningAlgorithm;
use tessera_tokens::{MasterKey, SecretHash, Signer, VerifyingKey, generate_secret, jwt, signing};

const ISSUER: &str = "https://id.example.com";

fn access_token_claims() -> serde_json::Value {
    json!({
        "iss": ISSUER, "sub": "01a21048-f107-75b0-a73f-c93c16d81043", "aud": "orders-api",
        "client_id": "bench-client", "scope": "orders-api orders-api:read", "iat": 1_764_028_800,
        "nbf": 1_764_028_800, "exp": 4_102_444_800_i64, "jti": "0194f0c1a2b37c4d8e9f0a1b2c3d4e5f",
        "gty": "client_credentials",
    })
}

fn signer_and_key(alg: SigningAlgorithm) -> (Signer, VerifyingKey) {
    let generated = signing::generate(alg).unwrap();
    let signer = Signer::from_pkcs8(generated.kid.clone(), alg, &generated.pkcs8).unwrap();
    let key = VerifyingKey::from_jwk(&generated.public_jwk, Some(alg)).unwrap();
    (signer, key)
}

fn tokens(c: &mut Criterion) {
    let claims = access_token_claims();
    for alg in [SigningAlgorithm::ES256, SigningAlgorithm::EdDSA] {
        let (signer, key) = signer_and_key(alg);
        let token = jwt::sign(&signer, "at+jwt", &claims).unwrap();
        let keys = [key];
        c.bench_function(&format!("sign access token {}", alg.as_str()), |b| {
            b.iter(|| jwt::sign(&signer, "at+jwt", black_box(&claims)).unwrap())
        });
        c.bench_function(&format!("verify access token {}", alg.as_str()), |b| {
            b.iter(|| jwt::verify_access_token(black_box(&token), &keys, ISSUER, 1_764_028_900, 60).unwrap())
        });
    }

    let secret = generate_secret();
    let stored = SecretHash::of(secret.expose());
    c.bench_function("check a client secret (SHA-256, constant time)", |b| {
        b.iter(|| assert!(stored.matches(black_box(secret.expose()))))
    });

    let master_key = MasterKey::generate().unwrap();
    let sealed = master_key.encrypt(b"an environment variable value", "script_variable:API_TOKEN").unwrap();
    c.bench_function("open a value sealed with the master key", |b| {
        b.iter(|| master_key.decrypt(black_box(&sealed), "script_variable:API_TOKEN").unwrap())
    });
}

criterion_group!(benches, tokens);
criterion_main!(benches);
