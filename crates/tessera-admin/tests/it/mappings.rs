//! Claim mappings and the preview over the management API, on both backends: the rules'
//! lifecycle with every refusal naming its field, audit events, and "what does
//! application X get for user Y", each claim labelled with its source.

use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::{Method, StatusCode};
use serde_json::{Value, json};
use tessera_store::Store;
use tessera_store::scripts::{self, OnFailure, ScriptInput, ScriptKind};
use tessera_testkit::{admin_key, both_backends};

use crate::common::{app, assert_error, audit_events, call};

async fn post<S>(app: &S, key: &str, path: &str, body: Value) -> (StatusCode, Value)
where
    S: Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>,
{
    call(app, Method::POST, path, Some(key), Some(body)).await
}

/// Creates an application and a user with app metadata, a role and a badge; returns
/// their ids.
async fn world<S>(app: &S, key: &str) -> (String, String)
where
    S: Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>,
{
    let (status, _) = post(app, key, "/api/v1/connections", json!({ "name": "orders-api" })).await;
    assert_eq!(status, 201);
    let (status, claim) =
        post(app, key, "/api/v1/claim-types", json!({ "name": "badge", "value_type": "string" })).await;
    assert_eq!(status, 201, "{claim}");
    let (status, created) = post(
        app,
        key,
        "/api/v1/applications",
        json!({ "name": "Shop", "app_type": "web", "redirect_uris": ["https://shop.example/cb"],
                "allowed_scopes": ["openid", "profile", "email", "orders-api"],
                "app_metadata": { "tenant": "shop-1" } }),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let (status, user) = post(
        app,
        key,
        "/api/v1/users",
        json!({ "username": "ada", "email": "ada@example.com", "app_metadata": { "plan": "pro" } }),
    )
    .await;
    assert_eq!(status, 201, "{user}");
    let user_id = user["id"].as_str().unwrap().to_owned();
    let (status, body) =
        call(app, Method::PUT, &format!("/api/v1/users/{user_id}/claims"), Some(key), Some(json!({ "badge": "B-7" })))
            .await;
    assert!(status.is_success(), "{body}");
    (created["id"].as_str().unwrap().to_owned(), user_id)
}

fn claim<'a>(claims: &'a Value, name: &str) -> Option<&'a Value> {
    claims.as_array().unwrap().iter().find(|c| c["name"] == name)
}

both_backends! {
    async fn a_mapping_is_created_read_replaced_listed_and_deleted_with_audit(store: Store) {
        let app = app(&store).await;
        let key = admin_key(&store);
        let (app_id, _) = world(&app, &key).await;
        let body = json!({ "subject": "user", "source": "app_metadata", "path": "/plan",
                           "namespace": "https://example.com/", "name": "plan", "outputs": ["access_token", "userinfo"],
                           "freshness": "grant" });
        let (status, created) = post(&app, &key, "/api/v1/claim-mappings", body).await;
        assert_eq!(status, 201, "{created}");
        assert_eq!(created["claim"], "https://example.com/plan");
        assert_eq!(created["outputs"], json!(["access_token", "userinfo"]));
        assert_eq!((created["freshness"].as_str(), created["application_id"].is_null()), (Some("grant"), true));
        let id = created["id"].as_str().unwrap().to_owned();
        let (status, got) = call(&app, Method::GET, &format!("/api/v1/claim-mappings/{id}"), Some(&key), None).await;
        assert_eq!((status, got.clone()), (StatusCode::OK, created.clone()));

        let own = json!({ "application_id": app_id, "subject": "user", "source": "roles", "name": "roles" });
        let (status, own) = post(&app, &key, "/api/v1/claim-mappings", own).await;
        assert_eq!(status, 201, "{own}");
        assert_eq!(own["outputs"], json!(["id_token", "access_token", "userinfo", "introspection"]), "the default");
        let (_, mine) = call(&app, Method::GET, &format!("/api/v1/claim-mappings?application_id={app_id}"), Some(&key), None).await;
        assert_eq!(mine["items"].as_array().unwrap().len(), 1);
        let (_, all) = call(&app, Method::GET, "/api/v1/claim-mappings?limit=1", Some(&key), None).await;
        assert_eq!(all["items"].as_array().unwrap().len(), 1);
        assert!(all["next"].is_string());

        let replaced = json!({ "subject": "user", "source": "user_metadata", "path": "/theme", "name": "theme" });
        let (status, updated) = call(&app, Method::PUT, &format!("/api/v1/claim-mappings/{id}"), Some(&key), Some(replaced)).await;
        assert_eq!(status, 200, "{updated}");
        assert_eq!((updated["claim"].as_str(), updated["freshness"].as_str()), (Some("theme"), Some("refresh")));
        let moved = json!({ "application_id": app_id, "subject": "user", "source": "roles", "name": "theme" });
        let got = call(&app, Method::PUT, &format!("/api/v1/claim-mappings/{id}"), Some(&key), Some(moved)).await;
        assert_error(&got, 400, "invalid_request", Some("application_id"));

        let (status, _) = call(&app, Method::DELETE, &format!("/api/v1/claim-mappings/{id}"), Some(&key), None).await;
        assert_eq!(status, 204);
        let got = call(&app, Method::GET, &format!("/api/v1/claim-mappings/{id}"), Some(&key), None).await;
        assert_error(&got, 404, "not_found", None);
        for action in ["claim_mapping.create", "claim_mapping.update", "claim_mapping.delete"] {
            let events = audit_events(&store, action);
            assert!(!events.is_empty(), "{action}");
            assert!(events[0].actor.starts_with("key:"));
        }
        let created_events = audit_events(&store, "claim_mapping.create");
        assert!(created_events.iter().any(|e| e.summary["claim"] == "https://example.com/plan"));
    }

    async fn a_bad_mapping_is_refused_beside_its_field(store: Store) {
        let app = app(&store).await;
        let key = admin_key(&store);
        world(&app, &key).await;
        let cases = [
            (json!({ "subject": "robot", "source": "roles", "name": "r" }), "subject"),
            (json!({ "subject": "user", "source": "guess", "name": "r" }), "source"),
            (json!({ "subject": "user", "source": "app_metadata", "path": "plan", "name": "r" }), "path"),
            (json!({ "subject": "user", "source": "claim", "path": "no_such_claim", "name": "r" }), "path"),
            (json!({ "subject": "user", "source": "roles", "name": "sub" }), "name"),
            (json!({ "subject": "user", "source": "roles", "name": "email" }), "name"),
            (json!({ "subject": "user", "source": "roles", "name": "r", "namespace": "example.com" }), "namespace"),
            (json!({ "subject": "user", "source": "roles", "name": "r", "outputs": [] }), "outputs"),
            (json!({ "subject": "user", "source": "roles", "name": "r", "outputs": ["cookie"] }), "outputs"),
            (json!({ "subject": "user", "source": "roles", "name": "r", "freshness": "daily" }), "freshness"),
            (json!({ "subject": "machine", "source": "roles", "name": "r" }), "source"),
            (json!({ "subject": "machine", "source": "script", "name": "r", "outputs": ["userinfo"] }), "outputs"),
            (json!({ "subject": "user", "source": "roles", "name": "r", "application_id": "nope" }), "application_id"),
            (json!({ "subject": "user", "source": "roles", "name": "r", "colour": "red" }), "colour"),
            (json!({ "subject": "user", "source": "roles" }), "name"),
        ];
        for (body, field) in cases {
            let got = post(&app, &key, "/api/v1/claim-mappings", body.clone()).await;
            assert_error(&got, 400, "invalid_request", Some(field));
        }
        // The namespace keeps a standard claim's name apart.
        let (status, _) = post(&app, &key, "/api/v1/claim-mappings",
            json!({ "subject": "user", "source": "roles", "name": "email", "namespace": "https://example.com" })).await;
        assert_eq!(status, 201);
        let taken = post(&app, &key, "/api/v1/claim-mappings",
            json!({ "subject": "user", "source": "user_metadata", "path": "/e", "name": "email", "namespace": "https://example.com/" })).await;
        assert_error(&taken, 409, "conflict", Some("name"));
        assert!(audit_events(&store, "claim_mapping.create").len() == 1, "refusals write nothing");
    }

    async fn the_preview_shows_each_output_with_each_claims_source(store: Store) {
        let app = app(&store).await;
        let key = admin_key(&store);
        let (app_id, user_id) = world(&app, &key).await;
        let global = json!({ "subject": "user", "source": "app_metadata", "path": "/plan", "name": "plan",
                             "outputs": ["id_token", "introspection"] });
        let (_, global) = post(&app, &key, "/api/v1/claim-mappings", global).await;
        let own = json!({ "application_id": app_id, "subject": "user", "source": "claim", "path": "badge",
                          "namespace": "https://example.com", "name": "badge", "outputs": ["userinfo"] });
        let (_, own) = post(&app, &key, "/api/v1/claim-mappings", own).await;
        save(&store, ScriptKind::User, "function getCustomJwtClaims({ context }) { console.log('hi ' + context.user.username); return { from_script: context.application.app_metadata.tenant }; }");

        let (status, preview) = post(&app, &key, &format!("/api/v1/applications/{app_id}/preview"),
            json!({ "user_id": user_id, "scope": "openid email orders-api" })).await;
        assert_eq!(status, 200, "{preview}");
        assert_eq!((preview["outcome"].as_str(), preview["scope"].as_str()), (Some("issued"), Some("email openid orders-api")));
        assert_eq!(preview["script"]["logs"], json!(["hi ada"]));

        let id_token = &preview["id_token"];
        assert_eq!(claim(id_token, "iss").unwrap()["source"], "registered");
        assert_eq!(claim(id_token, "email").unwrap()["source"], "standard");
        let plan = claim(id_token, "plan").unwrap();
        assert_eq!((plan["value"].as_str(), plan["source"].as_str()), (Some("pro"), Some("mapping")));
        assert_eq!((plan["mapping_id"].clone(), plan["global"].clone()), (global["id"].clone(), json!(true)));
        assert!(claim(id_token, "from_script").is_none(), "undeclared script claims are not in the ID token");

        let access = &preview["access_token"];
        assert_eq!(claim(access, "from_script").unwrap()["source"], "script");
        assert_eq!(claim(access, "from_script").unwrap()["value"], "shop-1");
        assert_eq!(claim(access, "aud").unwrap()["value"], "orders-api");
        assert!(claim(access, "plan").is_none());

        let userinfo = &preview["userinfo"];
        let badge = claim(userinfo, "https://example.com/badge").unwrap();
        assert_eq!((badge["value"].as_str(), badge["mapping_id"].clone(), badge["global"].clone()), (Some("B-7"), own["id"].clone(), json!(false)));
        assert_eq!(claim(userinfo, "sub").unwrap()["source"], "registered");
        assert_eq!(claim(userinfo, "email").unwrap()["source"], "standard");

        let introspection = preview["introspection"].as_array().unwrap();
        assert_eq!(introspection.len(), 1);
        assert_eq!(introspection[0]["connection"], "orders-api");
        let answer = &introspection[0]["claims"];
        assert_eq!(claim(answer, "active").unwrap()["value"], true);
        assert_eq!(claim(answer, "scope").unwrap()["value"], "orders-api");
        assert_eq!(claim(answer, "plan").unwrap()["source"], "mapping");
        assert_eq!(claim(answer, "from_script").unwrap()["source"], "script");

        let events = audit_events(&store, "token.preview");
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].summary["outcome"], "issued");
    }

    async fn the_preview_reports_a_denial_and_refuses_what_cannot_be_previewed(store: Store) {
        let app = app(&store).await;
        let key = admin_key(&store);
        let (app_id, user_id) = world(&app, &key).await;
        save(&store, ScriptKind::User, "function getCustomJwtClaims({ api }) { api.denyAccess('not today'); }");
        let path = format!("/api/v1/applications/{app_id}/preview");
        let (status, preview) = post(&app, &key, &path, json!({ "user_id": user_id })).await;
        assert_eq!(status, 200, "{preview}");
        assert_eq!((preview["outcome"].as_str(), preview["denied"].as_str()), (Some("denied"), Some("not today")));
        assert_eq!(preview["script"]["error"]["kind"], "denied");

        assert_error(&post(&app, &key, &path, json!({})).await, 400, "invalid_request", Some("user_id"));
        assert_error(&post(&app, &key, &path, json!({ "user_id": "nobody" })).await, 400, "invalid_request", Some("user_id"));
        assert_error(&post(&app, &key, &path, json!({ "user_id": user_id, "scope": "admin" })).await, 400, "invalid_request", Some("scope"));
        assert_error(&post(&app, &key, "/api/v1/applications/nope/preview", json!({ "user_id": user_id })).await, 404, "not_found", None);
    }

    async fn the_preview_shows_a_secret_variable_as_its_marker_never_its_value(store: Store) {
        let app = app(&store).await;
        let key = admin_key(&store);
        let (app_id, user_id) = world(&app, &key).await;
        let (status, _) = call(&app, Method::PUT, "/api/v1/script-variables/STRIPE_KEY", Some(&key),
            Some(json!({ "value": "sk_live_51HxQ", "secret": true }))).await;
        assert_eq!(status, 200);
        save(&store, ScriptKind::User, "function getCustomJwtClaims({ environmentVariables: env, api }) { console.log(env.STRIPE_KEY); return { key: env.STRIPE_KEY }; }");
        let path = format!("/api/v1/applications/{app_id}/preview");
        let (status, preview) = post(&app, &key, &path, json!({ "user_id": user_id })).await;
        assert_eq!(status, 200, "{preview}");
        assert!(!preview.to_string().contains("sk_live_51HxQ"), "{preview}");
        assert_eq!(preview["script"]["logs"], json!(["[secret:STRIPE_KEY]"]));
        assert_eq!(claim(&preview["access_token"], "key").unwrap()["value"], "[secret:STRIPE_KEY]");

        save(&store, ScriptKind::User, "function getCustomJwtClaims({ environmentVariables: env, api }) { api.denyAccess('revoked ' + env.STRIPE_KEY); }");
        let (_, preview) = post(&app, &key, &path, json!({ "user_id": user_id })).await;
        assert_eq!(preview["denied"], "revoked [secret:STRIPE_KEY]", "{preview}");
        assert_eq!(preview["script"]["error"]["message"], "revoked [secret:STRIPE_KEY]");
    }

    async fn a_machine_client_previews_its_own_token(store: Store) {
        let app = app(&store).await;
        let key = admin_key(&store);
        world(&app, &key).await;
        let (status, robot) = post(&app, &key, "/api/v1/applications",
            json!({ "name": "Robot", "app_type": "machine", "allowed_scopes": ["orders-api"], "app_metadata": { "tier": 3 } })).await;
        assert_eq!(status, 201, "{robot}");
        let rule = json!({ "subject": "machine", "source": "application_metadata", "path": "/tier", "name": "tier" });
        assert_eq!(post(&app, &key, "/api/v1/claim-mappings", rule).await.0, 201);
        let (status, preview) = post(&app, &key, &format!("/api/v1/applications/{}/preview", robot["id"].as_str().unwrap()), json!({})).await;
        assert_eq!(status, 200, "{preview}");
        assert!(preview["user_id"].is_null() && preview["id_token"].is_null() && preview["userinfo"].is_null());
        assert_eq!(claim(&preview["access_token"], "gty").unwrap()["value"], "client_credentials");
        assert_eq!(claim(&preview["access_token"], "tier").unwrap()["value"], 3);
        assert_eq!(claim(&preview["introspection"][0]["claims"], "tier").unwrap()["source"], "mapping");
    }
}

fn save(store: &Store, kind: ScriptKind, source: &str) {
    let input = ScriptInput { source: source.into(), enabled: true, on_failure: OnFailure::Deny };
    store.write_transaction(|c| scripts::save(c, kind, &input, 1_800_000_000)).unwrap();
}
