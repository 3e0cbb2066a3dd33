//! Micro-benchmarks of the rules every request applies: parsing a scope string, checking a
//! redirect URI, checking custom claims and a claim value. `cargo bench -p tessera-domain`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use tessera_domain::{ApplicationType, ClaimValueType, RedirectUri, ScopeSet, check_custom_claims};

fn domain(c: &mut Criterion) {
    c.bench_function("parse a scope string", |b| {
        b.iter(|| ScopeSet::parse(black_box("openid profile email offline_access orders-api orders-api:read")).unwrap())
    });
    c.bench_function("check a redirect URI", |b| {
        b.iter(|| RedirectUri::parse(black_box("https://app.example.com/auth/callback"), ApplicationType::Web).unwrap())
    });
    let claims = json!({ "https://example.com/roles": ["admin", "support"], "tier": "gold", "plan": 3 });
    let claims = claims.as_object().unwrap().clone();
    c.bench_function("check custom claims", |b| b.iter(|| check_custom_claims(black_box(&claims)).unwrap()));
    c.bench_function("check a phone number claim", |b| {
        b.iter(|| ClaimValueType::Phone.parse_input(black_box("+1 202 555 0143")).unwrap())
    });
}

criterion_group!(benches, domain);
criterion_main!(benches);
