//! DPoP (RFC 9449) end to end: a DPoP client written here from the RFC's §4 (a key pair,
//! proofs with `typ: dpop+jwt`, the public key in `jwk`, `jti`, `htm`, `htu`, `iat`, `ath`
//! at a resource, `nonce` when the server asks), against the real server on SQLite and
//! Postgres: bound tokens (`cnf.jkt`, `token_type: DPoP`) from every kind of grant used
//! here, userinfo under the DPoP scheme, introspection's `cnf`, refresh tokens of public
//! clients bound to the key, the `dpop_bound_access_tokens` setting, server nonces, and
//! every refusal (bad proof, replayed `jti`, wrong `htm`/`htu`, stale `iat`, another key).

use std::sync::Arc;

use serde_json::{Value, json};
use tessera_domain::{GrantType, SigningAlgorithm, TokenFormat};
use tessera_store::applications::ApplicationSettings;
use tessera_testkit::apps;
use tessera_tokens::Signer;
use tessera_tokens::dpop::{access_token_hash, sign_proof};
use tessera_tokens::signing::generate;

use crate::common::security::*;

/// A DPoP client: its key pair and the proofs it makes (RFC 9449 §4.2).
struct DpopClient {
    signer: Signer,
    jwk: Value,
}

impl DpopClient {
    fn new(alg: SigningAlgorithm) -> DpopClient {
        let key = generate(alg).unwrap();
        let signer = Signer::from_pkcs8(key.kid.clone(), alg, &key.pkcs8).unwrap();
        let jwk = signer.public_jwk_without_kid();
        DpopClient { signer, jwk }
    }

    /// The key's RFC 7638 thumbprint (a generated key's kid is exactly that).
    fn jkt(&self) -> &str {
        self.signer.kid()
    }

    fn claims(&self, htm: &str, htu: &str) -> Value {
        json!({ "jti": uuid::Uuid::now_v7().simple().to_string(), "htm": htm, "htu": htu, "iat": tessera::now() })
    }

    fn sign(&self, claims: &Value) -> String {
        sign_proof(&self.signer, &self.jwk, claims).unwrap()
    }

    /// A proof for the token endpoint.
    fn for_token(&self, w: &World) -> String {
        self.sign(&self.claims("POST", &w.app.url("/connect/token")))
    }

    /// A proof for userinfo with the access token's hash (§4.2 `ath`).
    fn for_userinfo(&self, w: &World, access_token: &str) -> String {
        let mut claims = self.claims("GET", &w.app.url("/connect/userinfo"));
        claims["ath"] = json!(access_token_hash(access_token));
        self.sign(&claims)
    }
}

/// POST /connect/token with `proofs` as `DPoP` headers, as `client` (Basic) or public.
fn token_with(w: &World, client: Option<&str>, proofs: &[&str], form: &[(&str, &str)]) -> Reply {
    let mut request = w.app.client.post(w.app.url("/connect/token")).form(form);
    if let Some(client) = client {
        request = request.basic_auth(client, Some(&w.secret));
    }
    for proof in proofs {
        request = request.header("DPoP", *proof);
    }
    Reply::read(request.send().unwrap())
}

/// GET /connect/userinfo with `Authorization: <scheme> <token>` and an optional proof.
fn userinfo_with(w: &World, scheme: &str, token: &str, proof: Option<&str>) -> Reply {
    let mut request =
        w.app.client.get(w.app.url("/connect/userinfo")).header("Authorization", format!("{scheme} {token}"));
    if let Some(proof) = proof {
        request = request.header("DPoP", proof);
    }
    Reply::read(request.send().unwrap())
}

const CC: &[(&str, &str)] = &[("grant_type", "client_credentials"), ("scope", "orders.read")];

/// The world with the `orders-api` connection and a machine application `machine`
/// (JWT) and `machine-ref` (reference tokens): the API secret.
fn machine_world(w: &World) -> String {
    let api = with_api(w);
    add_app(w, "machine", &apps::machine_app("Machine", &["orders.read"]));
    let reference = ApplicationSettings {
        access_token_format: TokenFormat::Reference,
        ..apps::machine_app("Machine ref", &["orders.read"])
    };
    add_app(w, "machine-ref", &reference);
    api
}

/// Signs alice in to `client` (public when `public`) with `scope`, and redeems the code
/// with a proof of `key`: the token response.
fn code_tokens(w: &World, key: &DpopClient, client: &str, public: bool, scope: &str) -> Reply {
    let b = Browser::new(&w.app);
    let callback = code_for(&b, &authorize_path(client, REDIRECT, &[("scope", scope)]));
    let mut form = vec![("grant_type", "authorization_code"), ("code", &callback["code"]), ("redirect_uri", REDIRECT)];
    form.push(("code_verifier", VERIFIER));
    if public {
        form.push(("client_id", client));
    }
    let proof = key.for_token(w);
    token_with(w, (!public).then_some(client), &[&proof], &form)
}

fn assert_unbound_refusal(reply: &Reply, error: &str, what: &str) {
    assert_oauth_error(reply, 400, error, what);
}

crate::both_backends! {
    fn discovery_advertises_the_dpop_algorithms(db: TestDatabase) {
        let w = world(&db);
        let algs = w.app.discovery()["dpop_signing_alg_values_supported"].clone();
        assert_eq!(algs, json!(["ES256", "EdDSA", "RS256", "PS256"]));
    }

    fn a_code_exchange_with_a_proof_binds_the_access_token_and_userinfo_requires_the_key(db: TestDatabase) {
        let w = world(&db);
        let key = DpopClient::new(SigningAlgorithm::ES256);
        let reply = code_tokens(&w, &key, "webapp", false, "openid profile");
        assert_eq!(reply.status, 200, "{}", reply.body);
        let issued = reply.json();
        assert_eq!(issued["token_type"], "DPoP");
        let access = field(&issued, "access_token");
        assert_eq!(payload(&access)["cnf"], json!({ "jkt": key.jkt() }));

        // Under the DPoP scheme with a proof of the key for this token: the claims.
        let ok = userinfo_with(&w, "DPoP", &access, Some(&key.for_userinfo(&w, &access)));
        assert_eq!(ok.status, 200, "{}", ok.body);
        assert_eq!(ok.json()["sub"], w.alice.as_str());

        // As a bearer token: refused, with the DPoP challenge (§7.1).
        let bearer = userinfo_with(&w, "Bearer", &access, None);
        assert_eq!(bearer.status, 401, "{}", bearer.body);
        let challenge = bearer.header("www-authenticate").unwrap();
        assert!(challenge.starts_with("DPoP ") && challenge.contains("error=\"invalid_token\""), "{challenge}");
        assert!(challenge.contains("algs=\"ES256 EdDSA RS256 PS256\""), "{challenge}");
        // Even with a valid proof beside it.
        let bearer_with_proof = userinfo_with(&w, "Bearer", &access, Some(&key.for_userinfo(&w, &access)));
        assert_eq!(bearer_with_proof.status, 401);

        // Each refusal of the proof: missing, replayed, another key, no or wrong ath,
        // another URI, another method, stale.
        let dpop_error = |reply: &Reply, what: &str| {
            assert_eq!(reply.status, 401, "{what}: {}", reply.body);
            assert_eq!(reply.json()["error"], "invalid_dpop_proof", "{what}: {}", reply.body);
            assert!(reply.header("www-authenticate").unwrap().starts_with("DPoP "), "{what}");
            assert!(!reply.body.contains("alice"), "{what}");
        };
        dpop_error(&userinfo_with(&w, "DPoP", &access, None), "no proof");
        let once = key.for_userinfo(&w, &access);
        assert_eq!(userinfo_with(&w, "DPoP", &access, Some(&once)).status, 200);
        dpop_error(&userinfo_with(&w, "DPoP", &access, Some(&once)), "replayed jti");
        let thief = DpopClient::new(SigningAlgorithm::ES256);
        dpop_error(&userinfo_with(&w, "DPoP", &access, Some(&thief.for_userinfo(&w, &access))), "another key");
        let no_ath = key.sign(&key.claims("GET", &w.app.url("/connect/userinfo")));
        dpop_error(&userinfo_with(&w, "DPoP", &access, Some(&no_ath)), "no ath");
        let mut wrong_ath = key.claims("GET", &w.app.url("/connect/userinfo"));
        wrong_ath["ath"] = json!(access_token_hash("another token"));
        dpop_error(&userinfo_with(&w, "DPoP", &access, Some(&key.sign(&wrong_ath))), "wrong ath");
        let mut elsewhere = key.claims("GET", &w.app.url("/connect/token"));
        elsewhere["ath"] = json!(access_token_hash(&access));
        dpop_error(&userinfo_with(&w, "DPoP", &access, Some(&key.sign(&elsewhere))), "wrong htu");
        let mut post = key.claims("POST", &w.app.url("/connect/userinfo"));
        post["ath"] = json!(access_token_hash(&access));
        dpop_error(&userinfo_with(&w, "DPoP", &access, Some(&key.sign(&post))), "wrong htm");
        let mut stale = key.claims("GET", &w.app.url("/connect/userinfo"));
        stale["ath"] = json!(access_token_hash(&access));
        stale["iat"] = json!(tessera::now() - 300);
        dpop_error(&userinfo_with(&w, "DPoP", &access, Some(&key.sign(&stale))), "stale iat");

        // An unbound token under the DPoP scheme is refused too.
        let plain = field(&tokens(&w, &Browser::new(&w.app), &[]), "access_token");
        assert_eq!(userinfo(&w, &plain).status, 200);
        let unbound = userinfo_with(&w, "DPoP", &plain, Some(&key.for_userinfo(&w, &plain)));
        assert_eq!(unbound.status, 401, "{}", unbound.body);
        assert_eq!(unbound.json()["error"], "invalid_token");

        // Revocation ends a bound token as any other.
        assert_eq!(revoke(&w, "webapp", &access), 200);
        let revoked = userinfo_with(&w, "DPoP", &access, Some(&key.for_userinfo(&w, &access)));
        assert_eq!(revoked.status, 401, "{}", revoked.body);
    }

    fn every_bad_proof_at_the_token_endpoint_is_invalid_dpop_proof_and_issues_nothing(db: TestDatabase) {
        let w = world(&db);
        machine_world(&w);
        let key = DpopClient::new(SigningAlgorithm::EdDSA);
        let token_url = w.app.url("/connect/token");
        let with = |change: &dyn Fn(&mut Value)| {
            let mut claims = key.claims("POST", &token_url);
            change(&mut claims);
            key.sign(&claims)
        };
        let cases: Vec<(&str, Vec<String>)> = vec![
            ("garbage", vec!["not a proof".into()]),
            ("unsigned", vec![format!("{}.", with(&|_| {}).rsplit_once('.').unwrap().0)]),
            ("two proofs", vec![key.for_token(&w), key.for_token(&w)]),
            ("wrong htm", vec![with(&|c| c["htm"] = json!("GET"))]),
            ("wrong htu", vec![with(&|c| c["htu"] = json!("https://elsewhere.example/connect/token"))]),
            ("userinfo htu", vec![with(&|c| c["htu"] = json!(w.app.url("/connect/userinfo")))]),
            ("stale iat", vec![with(&|c| c["iat"] = json!(tessera::now() - 120))]),
            ("future iat", vec![with(&|c| c["iat"] = json!(tessera::now() + 120))]),
            ("no jti", vec![with(&|c| { c.as_object_mut().unwrap().remove("jti"); })]),
        ];
        for (what, proofs) in cases {
            let proofs: Vec<&str> = proofs.iter().map(String::as_str).collect();
            assert_unbound_refusal(&token_with(&w, Some("machine"), &proofs, CC), "invalid_dpop_proof", what);
        }
        // A proof whose header carries a private key.
        let mut private = key.jwk.clone();
        private["d"] = json!("AAAA");
        let leaky = sign_proof(&key.signer, &private, &key.claims("POST", &token_url)).unwrap();
        assert_unbound_refusal(&token_with(&w, Some("machine"), &[&leaky], CC), "invalid_dpop_proof", "private jwk");

        // Replay: the same proof twice.
        let proof = key.for_token(&w);
        let first = token_with(&w, Some("machine"), &[&proof], CC);
        assert_eq!(first.status, 200, "{}", first.body);
        assert_eq!(first.json()["token_type"], "DPoP");
        assert_eq!(payload(&field(&first.json(), "access_token"))["cnf"]["jkt"], key.jkt());
        assert_unbound_refusal(&token_with(&w, Some("machine"), &[&proof], CC), "invalid_dpop_proof", "replayed");
        // Another key's proof with the same jti is not a replay of it.
        let other = DpopClient::new(SigningAlgorithm::ES256);
        let jti = payload(&proof)["jti"].clone();
        let mut claims = other.claims("POST", &token_url);
        claims["jti"] = jti;
        assert_eq!(token_with(&w, Some("machine"), &[&other.sign(&claims)], CC).status, 200);
    }

    fn the_same_proof_sent_in_parallel_is_accepted_once(db: TestDatabase) {
        let w = world(&db);
        machine_world(&w);
        let key = DpopClient::new(SigningAlgorithm::ES256);
        let proof = Arc::new(key.for_token(&w));
        let (url, secret) = (w.app.url("/connect/token"), w.secret.clone());
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let (url, secret, proof) = (url.clone(), secret.clone(), Arc::clone(&proof));
                std::thread::spawn(move || {
                    http()
                        .post(url)
                        .basic_auth("machine", Some(secret))
                        .header("DPoP", proof.as_str())
                        .form(CC)
                        .send()
                        .unwrap()
                        .status()
                        .as_u16()
                })
            })
            .collect();
        let statuses: Vec<u16> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
        assert!(statuses.iter().all(|s| *s == 200 || *s == 400), "{statuses:?}");
    }

    fn introspection_shows_the_binding_of_jwt_and_reference_tokens(db: TestDatabase) {
        let w = world(&db);
        let api = machine_world(&w);
        let key = DpopClient::new(SigningAlgorithm::RS256);
        for client in ["machine", "machine-ref"] {
            let issued = token_with(&w, Some(client), &[&key.for_token(&w)], CC);
            assert_eq!(issued.status, 200, "{client}: {}", issued.body);
            let answer = introspect(&w, &api, &field(&issued.json(), "access_token"));
            assert_eq!(answer["active"], true, "{client}: {answer}");
            assert_eq!(answer["token_type"], "DPoP", "{client}: {answer}");
            assert_eq!(answer["cnf"], json!({ "jkt": key.jkt() }), "{client}: {answer}");
            // Without a proof: a bearer token, no cnf.
            let plain = token(&w, client, CC);
            let answer = introspect(&w, &api, &field(&plain.json(), "access_token"));
            assert_eq!(answer["token_type"], "Bearer", "{client}: {answer}");
            assert!(answer.get("cnf").is_none(), "{client}: {answer}");
        }
    }

    fn an_application_requiring_dpop_refuses_token_requests_without_a_proof(db: TestDatabase) {
        let w = world(&db);
        machine_world(&w);
        let strict = ApplicationSettings { dpop_bound_access_tokens: true, ..apps::machine_app("Strict", &["orders.read"]) };
        add_app(&w, "strict", &strict);
        assert_unbound_refusal(&token(&w, "strict", CC), "invalid_dpop_proof", "no proof");
        let key = DpopClient::new(SigningAlgorithm::ES256);
        let ok = token_with(&w, Some("strict"), &[&key.for_token(&w)], CC);
        assert_eq!(ok.status, 200, "{}", ok.body);
        assert_eq!(ok.json()["token_type"], "DPoP");
        // The code grant too.
        let strict_web = ApplicationSettings { dpop_bound_access_tokens: true, ..web_app(&[REDIRECT], &[]) };
        add_app(&w, "strict-web", &strict_web);
        let b = Browser::new(&w.app);
        let callback = code_for(&b, &authorize_path("strict-web", REDIRECT, &[]));
        let refused = redeem(&w, "strict-web", &callback["code"], REDIRECT, Some(VERIFIER));
        assert_unbound_refusal(&refused, "invalid_dpop_proof", "code without proof");
    }

    fn a_public_clients_refresh_token_is_bound_to_its_key(db: TestDatabase) {
        let w = world(&db);
        add_app(&w, "spa", &spa(&[REDIRECT]));
        let key = DpopClient::new(SigningAlgorithm::ES256);
        let reply = code_tokens(&w, &key, "spa", true, "openid offline_access");
        assert_eq!(reply.status, 200, "{}", reply.body);
        let refresh_token = field(&reply.json(), "refresh_token");
        let form = [("grant_type", "refresh_token"), ("refresh_token", refresh_token.as_str()), ("client_id", "spa")];
        // Without a proof, or with another key's: refused, nothing spent.
        assert_unbound_refusal(&token_with(&w, None, &[], &form), "invalid_dpop_proof", "no proof");
        let thief = DpopClient::new(SigningAlgorithm::ES256);
        assert_unbound_refusal(&token_with(&w, None, &[&thief.for_token(&w)], &form), "invalid_grant", "another key");
        // With the key: rotated, still bound.
        let rotated = token_with(&w, None, &[&key.for_token(&w)], &form);
        assert_eq!(rotated.status, 200, "{}", rotated.body);
        assert_eq!(rotated.json()["token_type"], "DPoP");
        assert_eq!(payload(&field(&rotated.json(), "access_token"))["cnf"]["jkt"], key.jkt());
        let next = field(&rotated.json(), "refresh_token");
        let form = [("grant_type", "refresh_token"), ("refresh_token", next.as_str()), ("client_id", "spa")];
        assert_unbound_refusal(&token_with(&w, None, &[], &form), "invalid_dpop_proof", "the successor too");
        assert_eq!(token_with(&w, None, &[&key.for_token(&w)], &form).status, 200);
    }

    fn a_confidential_clients_refresh_token_is_not_bound(db: TestDatabase) {
        let w = world(&db);
        let key = DpopClient::new(SigningAlgorithm::ES256);
        let reply = code_tokens(&w, &key, "webapp", false, "openid offline_access");
        assert_eq!(reply.status, 200, "{}", reply.body);
        let refreshed = refresh(&w, "webapp", &field(&reply.json(), "refresh_token"), None);
        assert_eq!(refreshed.status, 200, "{}", refreshed.body);
        assert_eq!(refreshed.json()["token_type"], "Bearer");
        assert!(payload(&field(&refreshed.json(), "access_token")).get("cnf").is_none());
    }

    fn with_nonces_required_the_server_hands_one_out_and_then_accepts_it(db: TestDatabase) {
        let dir = std::env::temp_dir().join(format!("tessera-dpop-{}", uuid::Uuid::now_v7().simple()));
        let mut raw = crate::common::settings_for(&db, &dir);
        raw.dpop_nonce_required = true;
        let w = world_on(&db, crate::common::TestApp::spawn_with(raw));
        machine_world(&w);
        let key = DpopClient::new(SigningAlgorithm::ES256);
        let first = token_with(&w, Some("machine"), &[&key.for_token(&w)], CC);
        assert_oauth_error(&first, 400, "use_dpop_nonce", "no nonce");
        let nonce = first.header("dpop-nonce").expect("a DPoP-Nonce header").to_owned();
        let mut bad = key.claims("POST", &w.app.url("/connect/token"));
        bad["nonce"] = json!("1.AAAAAAAAAAAAAAAAAAAAAA");
        assert_oauth_error(&token_with(&w, Some("machine"), &[&key.sign(&bad)], CC), 400, "use_dpop_nonce", "forged");
        let mut claims = key.claims("POST", &w.app.url("/connect/token"));
        claims["nonce"] = json!(nonce);
        let ok = token_with(&w, Some("machine"), &[&key.sign(&claims)], CC);
        assert_eq!(ok.status, 200, "{}", ok.body);

        // Userinfo: 401 with the DPoP challenge and a nonce.
        let b = Browser::new(&w.app);
        let callback = code_for(&b, &authorize_path("webapp", REDIRECT, &[]));
        let form = [("grant_type", "authorization_code"), ("code", &callback["code"]), ("redirect_uri", REDIRECT), ("code_verifier", VERIFIER)];
        let mut claims = key.claims("POST", &w.app.url("/connect/token"));
        claims["nonce"] = json!(nonce);
        let issued = token_with(&w, Some("webapp"), &[&key.sign(&claims)], &form);
        assert_eq!(issued.status, 200, "{}", issued.body);
        let access = field(&issued.json(), "access_token");
        let refused = userinfo_with(&w, "DPoP", &access, Some(&key.for_userinfo(&w, &access)));
        assert_eq!(refused.status, 401, "{}", refused.body);
        assert!(refused.header("www-authenticate").unwrap().contains("error=\"use_dpop_nonce\""));
        let nonce = refused.header("dpop-nonce").expect("a DPoP-Nonce header").to_owned();
        let mut claims = key.claims("GET", &w.app.url("/connect/userinfo"));
        claims["ath"] = json!(access_token_hash(&access));
        claims["nonce"] = json!(nonce);
        assert_eq!(userinfo_with(&w, "DPoP", &access, Some(&key.sign(&claims))).status, 200);
    }

    fn the_password_and_client_credentials_grants_bind_too(db: TestDatabase) {
        let w = world(&db);
        let password_app = ApplicationSettings {
            grant_types: vec![GrantType::Password, GrantType::RefreshToken],
            ..web_app(&[REDIRECT], &[])
        };
        add_app(&w, "legacy", &password_app);
        let key = DpopClient::new(SigningAlgorithm::EdDSA);
        let form = [("grant_type", "password"), ("username", "alice"), ("password", PASSWORD), ("scope", "openid")];
        let issued = token_with(&w, Some("legacy"), &[&key.for_token(&w)], &form);
        assert_eq!(issued.status, 200, "{}", issued.body);
        assert_eq!(issued.json()["token_type"], "DPoP");
        assert_eq!(payload(&field(&issued.json(), "access_token"))["cnf"]["jkt"], key.jkt());
    }

    fn a_code_bound_by_dpop_jkt_is_redeemed_only_with_that_key(db: TestDatabase) {
        let w = world(&db);
        let key = DpopClient::new(SigningAlgorithm::ES256);
        for pushed in [false, true] {
            let b = Browser::new(&w.app);
            let path = if pushed {
                // RFC 9449 §10 with PAR: the parameter is pushed with the rest.
                let form = [
                    ("response_type", "code"), ("client_id", "webapp"), ("redirect_uri", REDIRECT),
                    ("scope", "openid"), ("code_challenge", CHALLENGE), ("code_challenge_method", "S256"),
                    ("dpop_jkt", key.jkt()),
                ];
                let reply = Reply::read(http().post(w.app.url("/connect/par")).basic_auth("webapp", Some(&w.secret)).form(&form).send().unwrap());
                assert_eq!(reply.status, 201, "{}", reply.body);
                let request_uri = reply.json()["request_uri"].as_str().unwrap().to_owned();
                let query: String = url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("client_id", "webapp").append_pair("request_uri", &request_uri).finish();
                format!("/connect/authorize?{query}")
            } else {
                authorize_path("webapp", REDIRECT, &[("dpop_jkt", key.jkt())])
            };
            let callback = code_for(&b, &path);
            let form = [("grant_type", "authorization_code"), ("code", &callback["code"]), ("redirect_uri", REDIRECT), ("code_verifier", VERIFIER)];
            assert_unbound_refusal(&token_with(&w, Some("webapp"), &[], &form), "invalid_dpop_proof", "no proof");
            let thief = DpopClient::new(SigningAlgorithm::ES256);
            assert_unbound_refusal(&token_with(&w, Some("webapp"), &[&thief.for_token(&w)], &form), "invalid_grant", "another key");
            // Neither spent the code.
            let ok = token_with(&w, Some("webapp"), &[&key.for_token(&w)], &form);
            assert_eq!(ok.status, 200, "pushed {pushed}: {}", ok.body);
            assert_eq!(payload(&field(&ok.json(), "access_token"))["cnf"]["jkt"], key.jkt());
        }
        // A malformed dpop_jkt is refused at authorize, to the client.
        let b = Browser::new(&w.app);
        let refused = b.get(&authorize_path("webapp", REDIRECT, &[("dpop_jkt", "not-a-thumbprint")]));
        assert_eq!(refused.callback()["error"], "invalid_request", "{refused:?}");
    }
}
