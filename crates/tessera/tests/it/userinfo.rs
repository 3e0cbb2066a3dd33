//! Userinfo (OIDC Core §5.3): JWTs with `alg: none` or a foreign key refused, no bearer
//! token in the query string, an expired reference token refused, and CORS for any
//! origin without credentials. Each test drives the real server on SQLite and Postgres.

use serde_json::json;
use tessera_store::applications;
use tessera_store::{reference_tokens, reference_tokens::NewReferenceToken};
use tessera_tokens::generate_secret;

use crate::common::security::*;

crate::both_backends! {
    fn alg_none_and_foreign_keys_are_refused_at_userinfo(db: TestDatabase) {
        let w = world(&db);
        let b = Browser::new(&w.app);
        let issued = tokens(&w, &b, &[]);
        let access = field(&issued, "access_token");
        assert_eq!(userinfo(&w, &access).status, 200);
        for (what, forged) in forgeries(&access) {
            assert_invalid_token(&userinfo(&w, &forged), what);
        }
        // An ID token is not an access token (typ JWT, not at+jwt).
        assert_invalid_token(&userinfo(&w, &field(&issued, "id_token")), "an ID token");
    }

    fn a_bearer_token_in_the_query_string_is_ignored(db: TestDatabase) {
        let w = world(&db);
        let b = Browser::new(&w.app);
        let access = field(&tokens(&w, &b, &[]), "access_token");
        let get = Reply::read(http().get(w.app.url(&format!("/connect/userinfo?access_token={access}"))).send().unwrap());
        assert_eq!(get.status, 401, "{}", get.body);
        assert_eq!(get.header("www-authenticate"), Some("Bearer realm=\"tessera\""), "as if no token were sent");
        let post = Reply::read(http().post(w.app.url(&format!("/connect/userinfo?access_token={access}")))
            .form(&[("x", "1")]).send().unwrap());
        assert_eq!(post.status, 401, "{}", post.body);
        assert!(!post.body.contains("alice"));
        // In the header, or in a POST body, it is accepted.
        assert_eq!(userinfo(&w, &access).status, 200);
        let body = Reply::read(http().post(w.app.url("/connect/userinfo")).form(&[("access_token", access.as_str())]).send().unwrap());
        assert_eq!(body.status, 200, "{}", body.body);
    }

    fn an_expired_reference_token_is_refused_at_userinfo_and_introspection(db: TestDatabase) {
        let w = world(&db);
        let api_secret = with_api(&w);
        let app = w.store.read_transaction(|c| applications::find_by_client_id(c, &"refapp".into())).unwrap().unwrap();
        let expired = generate_secret();
        let past = tessera::now() - 10;
        let claims = json!({"iss": w.app.base, "sub": w.alice, "scope": "openid orders.read", "client_id": "refapp", "exp": past});
        w.store.write_transaction(|c| reference_tokens::insert_reference_token(c, &NewReferenceToken {
            token_hash: expired.hash().as_str().to_owned(), grant_id: None, application_id: app.id.clone(),
            user_id: Some(w.alice.clone()), claims: claims.as_object().unwrap().clone(), expires_at: past,
        }, past - 60)).unwrap();
        assert_invalid_token(&userinfo(&w, expired.expose()), "expired reference token");
        assert_eq!(introspect(&w, &api_secret, expired.expose()), json!({"active": false}));
    }
}

/// Bugs these tests found, fixed: they stay as regression tests.
mod regressions {
    use super::*;

    crate::both_backends! {
        fn userinfo_allows_any_origin_without_credentials(db: TestDatabase) {
            let w = world(&db);
            let access = tokens(&w, &Browser::new(&w.app), &[])["access_token"].as_str().unwrap().to_owned();
            let cors = |request: reqwest::blocking::RequestBuilder| {
                Reply::read(request.header("origin", "https://spa.example.test").send().unwrap())
            };
            let replies = [
                ("userinfo", cors(http().get(w.app.url("/connect/userinfo")).bearer_auth(&access))),
                ("userinfo POST", cors(http().post(w.app.url("/connect/userinfo")).form(&[("access_token", access.as_str())]))),
                ("userinfo without a token", cors(http().get(w.app.url("/connect/userinfo")))),
                ("userinfo preflight", cors(http().request(reqwest::Method::OPTIONS, w.app.url("/connect/userinfo"))
                    .header("access-control-request-method", "GET").header("access-control-request-headers", "authorization"))),
            ];
            for (what, reply) in &replies {
                assert!(reply.status < 400 || reply.status == 401, "{what}: {}", reply.status);
                assert_eq!(reply.header("access-control-allow-origin"), Some("*"), "{what}: {:?}", reply.headers);
                assert!(reply.header("access-control-allow-credentials").is_none(), "{what}");
            }
        }
    }
}
