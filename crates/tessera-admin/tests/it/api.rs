//! The management API over HTTP (actix test service), on both backends.

use actix_web::http::Method;
use actix_web::test::TestRequest;
use serde_json::{Value, json};
use tessera_domain::UserId;
use tessera_store::management_keys;
use tessera_testkit::{admin_key, both_backends, management_key};

use crate::common::{PEER, app, assert_error, audit_events, call, send};

fn web_app() -> Value {
    json!({ "name": "Shop", "app_type": "web", "redirect_uris": ["https://shop.example/cb"] })
}

both_backends! {
    async fn requests_without_a_usable_key_get_401(store: Store) {
        let app = app(&store).await;
        let good = admin_key(&store);
        let got = call(&app, Method::GET, "/api/v1/applications", None, None).await;
        assert_error(&got, 401, "unauthorized", None);
        let (id, _) = good.split_once('.').unwrap();
        let got = call(&app, Method::GET, "/api/v1/applications", Some(&format!("{id}.wrong")), None).await;
        assert_error(&got, 401, "unauthorized", None);
        let got = call(&app, Method::GET, "/api/v1/applications", Some("no-dot"), None).await;
        assert_error(&got, 401, "unauthorized", None);
        // Expired.
        let admin = tessera_testkit::admin(&store);
        let expired = management_key(&store, admin.as_str(), Some(2));
        assert_error(&call(&app, Method::GET, "/api/v1/applications", Some(&expired), None).await, 401, "unauthorized", None);
        // Revoked.
        store.write_transaction(|c| management_keys::revoke(c, id, 5)).unwrap();
        assert_error(&call(&app, Method::GET, "/api/v1/applications", Some(&good), None).await, 401, "unauthorized", None);
        // A refused key is a security event in the audit log, without the secret; from one
        // address, one a minute (the others are counted in the next one's passed_over).
        let refused = audit_events(&store, "management_key.authentication_failed");
        assert_eq!(refused.len(), 1, "wrong secret, expired, revoked: sampled");
        assert_eq!(refused[0].summary["passed_over"], 0);
        assert!(refused.iter().all(|e| !e.summary.to_string().contains("wrong")));
    }

    async fn cotter_headers_authenticate_and_use_is_recorded(store: Store) {
        let app = app(&store).await;
        let key = admin_key(&store);
        let (id, secret) = key.split_once('.').unwrap();
        let req = TestRequest::get().uri("/api/v1/applications").insert_header(("API_KEY_ID", id)).insert_header(("API_SECRET_KEY", secret));
        let (status, body) = send(&app, req).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body, json!({ "items": [], "next": null }));
        let stored = store.read_transaction(|c| management_keys::get(c, id)).unwrap();
        assert!(stored.last_used_at.is_some());
    }

    async fn a_key_whose_creator_lost_the_admin_role_is_forbidden(store: Store) {
        let app = app(&store).await;
        let user = store.write_transaction(|c| tessera_store::users::create(c, &tessera_store::users::NewUser { username: "bob".into(), ..Default::default() }, 1)).unwrap();
        let key = management_key(&store, user.id.as_str(), None);
        assert_error(&call(&app, Method::GET, "/api/v1/users", Some(&key), None).await, 403, "forbidden", None);
    }

    async fn applications_lifecycle_with_secret_shown_once_and_audited(store: Store) {
        let app = app(&store).await;
        let key = admin_key(&store);
        let (status, created) = call(&app, Method::POST, "/api/v1/applications", Some(&key), Some(web_app())).await;
        assert_eq!(status, 201, "{created}");
        let secret = created["client_secret"].as_str().unwrap().to_owned();
        assert!(secret.len() >= 43);
        assert_eq!(created["token_endpoint_auth_method"], "client_secret_basic");
        assert_eq!(created["allowed_scopes"], json!(["openid"]));
        assert_eq!(created["require_pushed_authorization_requests"], false);
        assert_eq!(created["dpop_bound_access_tokens"], false);
        assert_eq!(created["refresh_token_retry_grace_seconds"], 10, "the default");
        let id = created["id"].as_str().unwrap().to_owned();
        let (status, got) = call(&app, Method::GET, &format!("/api/v1/applications/{id}"), Some(&key), None).await;
        assert_eq!(status, 200);
        assert!(got.get("client_secret").is_none());
        let mut replaced = web_app();
        replaced["name"] = json!("Shop 2");
        replaced["access_token_format"] = json!("reference");
        replaced["require_pushed_authorization_requests"] = json!(true);
        replaced["dpop_bound_access_tokens"] = json!(true);
        replaced["refresh_token_retry_grace_seconds"] = json!(0);
        let (status, got) = call(&app, Method::PUT, &format!("/api/v1/applications/{id}"), Some(&key), Some(replaced)).await;
        assert_eq!(status, 200, "{got}");
        assert_eq!(got["access_token_format"], "reference");
        assert_eq!(got["require_pushed_authorization_requests"], true);
        assert_eq!(got["dpop_bound_access_tokens"], true);
        assert_eq!(got["refresh_token_retry_grace_seconds"], 0);
        let (_, got) = call(&app, Method::GET, &format!("/api/v1/applications/{id}"), Some(&key), None).await;
        assert_eq!(got["refresh_token_retry_grace_seconds"], 0);
        assert_eq!(got["require_signed_request_object"], false);
        // RFC 9101 §10.5: requiring signed request objects needs the keys that verify them.
        let mut signed = web_app();
        signed["require_signed_request_object"] = json!(true);
        let (status, refused) = call(&app, Method::PUT, &format!("/api/v1/applications/{id}"), Some(&key), Some(signed.clone())).await;
        assert_eq!((status.as_u16(), refused["field"].as_str()), (400, Some("jwks")), "{refused}");
        signed["jwks"] = json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]});
        let (status, got) = call(&app, Method::PUT, &format!("/api/v1/applications/{id}"), Some(&key), Some(signed)).await;
        assert_eq!(status, 200, "{got}");
        assert_eq!(got["require_signed_request_object"], true);
        assert_eq!(got["jwks"]["keys"][0]["crv"], "Ed25519");
        let updates = audit_events(&store, "application.update");
        assert!(updates.iter().any(|e| e.summary["after"]["require_signed_request_object"] == json!(true)
            && e.summary["before"]["require_signed_request_object"] == json!(false)), "audited with the settings");
        let (status, rotated) = call(&app, Method::POST, &format!("/api/v1/applications/{id}/secret"), Some(&key), Some(json!({"grace_period_seconds": 60}))).await;
        assert_eq!(status, 200, "{rotated}");
        let secret2 = rotated["client_secret"].as_str().unwrap().to_owned();
        assert_ne!(secret, secret2);
        let events = audit_events(&store, "application.create");
        assert_eq!(events.len(), 1);
        let event = &events[0];
        assert!(event.actor.starts_with("key:"));
        assert_eq!(event.client_ip.as_deref(), Some(PEER.split(':').next().unwrap()));
        let all = serde_json::to_string(&store.read_transaction(|c| tessera_store::audit::list(c, &Default::default(), &tessera_store::Page::first(100))).unwrap().items.iter().map(|e| e.summary.clone()).collect::<Vec<_>>()).unwrap();
        assert!(!all.contains(&secret) && !all.contains(&secret2), "a secret reached the audit log");
        assert_eq!(audit_events(&store, "application.update").len(), 2, "the replacement and the signed one; the refused one wrote nothing");
        assert_eq!(audit_events(&store, "application.rotate_secret").len(), 1);
        let (status, _) = call(&app, Method::DELETE, &format!("/api/v1/applications/{id}"), Some(&key), None).await;
        assert_eq!(status, 204);
        assert_error(&call(&app, Method::GET, &format!("/api/v1/applications/{id}"), Some(&key), None).await, 404, "not_found", None);
        assert_error(&call(&app, Method::DELETE, &format!("/api/v1/applications/{id}"), Some(&key), None).await, 404, "not_found", None);
        assert_eq!(audit_events(&store, "application.delete").len(), 1);
    }

    async fn application_validation_names_the_field(store: Store) {
        let app = app(&store).await;
        let key = admin_key(&store);
        let post = |body: Value| { let key = key.clone(); let app = &app; async move { call(app, Method::POST, "/api/v1/applications", Some(&key), Some(body)).await } };
        let mut bad = web_app(); bad["redirect_uris"] = json!(["https://ok.example/cb", "http://evil.example/cb"]);
        assert_error(&post(bad).await, 400, "invalid_request", Some("redirect_uris[1]"));
        let mut bad = web_app(); bad["app_type"] = json!("toaster");
        assert_error(&post(bad).await, 400, "invalid_request", Some("app_type"));
        let mut bad = web_app(); bad["extra"] = json!(1);
        assert_error(&post(bad).await, 400, "invalid_request", Some("extra"));
        assert_error(&post(json!({ "app_type": "web" })).await, 400, "invalid_request", Some("name"));
        let mut bad = web_app(); bad["access_token_lifetime"] = json!(5);
        assert_error(&post(bad).await, 400, "invalid_request", Some("access_token_lifetime"));
        let mut bad = web_app(); bad["refresh_token_retry_grace_seconds"] = json!(61);
        assert_error(&post(bad).await, 400, "invalid_request", Some("refresh_token_retry_grace_seconds"));
        let mut bad = web_app(); bad["access_token_lifetime"] = json!("soon");
        assert_error(&post(bad).await, 400, "invalid_request", Some("access_token_lifetime"));
        let mut bad = web_app(); bad["allowed_scopes"] = json!(["nope"]);
        assert_error(&post(bad).await, 400, "invalid_request", Some("allowed_scopes"));
        let mut bad = web_app(); bad["app_metadata"] = json!([1]);
        assert_error(&post(bad).await, 400, "invalid_request", Some("app_metadata"));
        let mut bad = web_app(); bad["token_endpoint_auth_method"] = json!("none");
        assert_error(&post(bad).await, 400, "invalid_request", Some("token_endpoint_auth_method"));
        let req = TestRequest::post().uri("/api/v1/applications").insert_header(("Authorization", format!("Bearer {key}"))).set_payload("{not json");
        assert_error(&send(&app, req).await, 400, "invalid_request", None);
        // Nothing was written.
        assert_eq!(store.read_transaction(tessera_store::applications::count).unwrap(), 0);
        assert!(audit_events(&store, "application.create").is_empty());
        // A public client has no secret to regenerate.
        let spa = json!({ "name": "Spa", "app_type": "spa", "redirect_uris": ["https://spa.example/cb"] });
        let (status, created) = post(spa).await;
        assert_eq!(status, 201, "{created}");
        assert!(created["client_secret"].is_null());
        let id = created["id"].as_str().unwrap();
        assert_error(&call(&app, Method::POST, &format!("/api/v1/applications/{id}/secret"), Some(&key), None).await, 409, "conflict", Some("token_endpoint_auth_method"));
    }

    async fn the_device_grant_is_enabled_by_its_urn_for_native_and_web_applications_only(store: Store) {
        let app = app(&store).await;
        let key = admin_key(&store);
        let post = |body: Value| { let key = key.clone(); let app = &app; async move { call(app, Method::POST, "/api/v1/applications", Some(&key), Some(body)).await } };
        let device = "urn:ietf:params:oauth:grant-type:device_code";
        let tv = json!({ "name": "TV", "app_type": "native", "grant_types": [device, "refresh_token"] });
        let (status, created) = post(tv).await;
        assert_eq!(status, 201, "{created}");
        assert_eq!(created["grant_types"], json!([device, "refresh_token"]));
        let spa = json!({ "name": "Spa", "app_type": "spa", "redirect_uris": ["https://spa.example/cb"], "grant_types": ["authorization_code", device] });
        assert_error(&post(spa).await, 400, "invalid_request", Some("grant_types"));
        let machine = json!({ "name": "Robot", "app_type": "machine", "grant_types": ["client_credentials", device] });
        assert_error(&post(machine).await, 400, "invalid_request", Some("grant_types"));
    }

    async fn lists_page_with_a_cursor(store: Store) {
        let app = app(&store).await;
        let key = admin_key(&store);
        for _ in 0..3 {
            assert_eq!(call(&app, Method::POST, "/api/v1/applications", Some(&key), Some(web_app())).await.0, 201);
        }
        let (status, first) = call(&app, Method::GET, "/api/v1/applications?limit=2", Some(&key), None).await;
        assert_eq!(status, 200);
        assert_eq!(first["items"].as_array().unwrap().len(), 2);
        let next = first["next"].as_str().unwrap();
        let (_, second) = call(&app, Method::GET, &format!("/api/v1/applications?limit=2&after={next}"), Some(&key), None).await;
        assert_eq!(second["items"].as_array().unwrap().len(), 1);
        assert!(second["next"].is_null());
        assert_error(&call(&app, Method::GET, "/api/v1/applications?limit=0", Some(&key), None).await, 400, "invalid_request", Some("limit"));
        assert_error(&call(&app, Method::GET, "/api/v1/applications?limit=x", Some(&key), None).await, 400, "invalid_request", Some("limit"));
        assert_error(&call(&app, Method::GET, "/api/v1/applications?bogus=1", Some(&key), None).await, 400, "invalid_request", Some("bogus"));
        // In-memory pages too.
        let (_, claims) = call(&app, Method::GET, "/api/v1/claim-types?limit=3", Some(&key), None).await;
        assert_eq!(claims["items"].as_array().unwrap().len(), 3);
        let next = claims["next"].as_str().unwrap();
        let (_, more) = call(&app, Method::GET, &format!("/api/v1/claim-types?limit=3&after={next}"), Some(&key), None).await;
        assert_ne!(more["items"][0]["name"], claims["items"][0]["name"]);
    }

    async fn connections_lifecycle(store: Store) {
        let app = app(&store).await;
        let key = admin_key(&store);
        let (status, created) = call(&app, Method::POST, "/api/v1/connections", Some(&key), Some(json!({ "name": "billing-api" }))).await;
        assert_eq!(status, 201, "{created}");
        let secret = created["secret"].as_str().unwrap().to_owned();
        let id = created["id"].as_str().unwrap().to_owned();
        assert_error(&call(&app, Method::POST, "/api/v1/connections", Some(&key), Some(json!({ "name": "billing-api" }))).await, 409, "conflict", Some("name"));
        assert_error(&call(&app, Method::POST, "/api/v1/connections", Some(&key), Some(json!({ "name": "Bad Name" }))).await, 400, "invalid_request", Some("name"));
        let (status, updated) = call(&app, Method::PUT, &format!("/api/v1/connections/{id}"), Some(&key), Some(json!({ "display_name": "Billing", "access_token_format": "reference" }))).await;
        assert_eq!(status, 200, "{updated}");
        assert_eq!(updated["access_token_format"], "reference");
        let (status, scope) = call(&app, Method::POST, &format!("/api/v1/connections/{id}/scopes"), Some(&key), Some(json!({ "name": "billing-api:read" }))).await;
        assert_eq!(status, 201, "{scope}");
        assert_error(&call(&app, Method::POST, &format!("/api/v1/connections/{id}/scopes"), Some(&key), Some(json!({ "name": "openid" }))).await, 409, "conflict", Some("name"));
        let (_, scopes) = call(&app, Method::GET, &format!("/api/v1/connections/{id}/scopes"), Some(&key), None).await;
        assert_eq!(scopes["items"].as_array().unwrap().len(), 2);
        assert_error(&call(&app, Method::DELETE, &format!("/api/v1/connections/{id}/scopes/billing-api"), Some(&key), None).await, 403, "forbidden", Some("name"));
        assert_eq!(call(&app, Method::DELETE, &format!("/api/v1/connections/{id}/scopes/billing-api:read"), Some(&key), None).await.0, 204);
        let (status, rotated) = call(&app, Method::POST, &format!("/api/v1/connections/{id}/secret"), Some(&key), Some(json!({ "grace_period_seconds": 300 }))).await;
        assert_eq!(status, 200, "{rotated}");
        assert!(rotated["previous_secrets_expire_at"].is_i64());
        assert_error(&call(&app, Method::POST, &format!("/api/v1/connections/{id}/secret"), Some(&key), Some(json!({ "grace_period_seconds": -1 }))).await, 400, "invalid_request", Some("grace_period_seconds"));
        let (_, list) = call(&app, Method::GET, "/api/v1/connections", Some(&key), None).await;
        assert_eq!(list["items"].as_array().unwrap().len(), 1);
        assert_eq!(call(&app, Method::DELETE, &format!("/api/v1/connections/{id}"), Some(&key), None).await.0, 204);
        assert_error(&call(&app, Method::GET, &format!("/api/v1/connections/{id}"), Some(&key), None).await, 404, "not_found", None);
        let events = store.read_transaction(|c| tessera_store::audit::list(c, &Default::default(), &tessera_store::Page::first(100))).unwrap().items;
        assert!(events.iter().any(|e| e.action == "connection.create"));
        assert!(!serde_json::to_string(&events.iter().map(|e| e.summary.clone()).collect::<Vec<_>>()).unwrap().contains(&secret));
    }

    async fn claim_types_custom_editable_standard_read_only(store: Store) {
        let app = app(&store).await;
        let key = admin_key(&store);
        let (status, created) = call(&app, Method::POST, "/api/v1/claim-types", Some(&key), Some(json!({ "name": "department", "value_type": "string" }))).await;
        assert_eq!(status, 201, "{created}");
        assert_error(&call(&app, Method::POST, "/api/v1/claim-types", Some(&key), Some(json!({ "name": "department", "value_type": "string" }))).await, 409, "conflict", Some("name"));
        assert_error(&call(&app, Method::POST, "/api/v1/claim-types", Some(&key), Some(json!({ "name": "iss", "value_type": "string" }))).await, 400, "invalid_request", Some("name"));
        assert_error(&call(&app, Method::POST, "/api/v1/claim-types", Some(&key), Some(json!({ "name": "x1", "value_type": "blob" }))).await, 400, "invalid_request", Some("value_type"));
        let (status, updated) = call(&app, Method::PUT, "/api/v1/claim-types/department", Some(&key), Some(json!({ "display_name": "Department", "value_type": "json" }))).await;
        assert_eq!(status, 200, "{updated}");
        assert_eq!(updated["value_type"], "json");
        assert_error(&call(&app, Method::PUT, "/api/v1/claim-types/email", Some(&key), Some(json!({ "display_name": "E", "value_type": "string" }))).await, 403, "forbidden", Some("name"));
        assert_error(&call(&app, Method::DELETE, "/api/v1/claim-types/email", Some(&key), None).await, 403, "forbidden", Some("name"));
        assert_eq!(call(&app, Method::GET, "/api/v1/claim-types/email", Some(&key), None).await.1["standard"], true);
        // user_editable: off by default, kept by an update that omits it, settable on a standard claim too.
        assert_eq!(updated["user_editable"], false);
        let (_, editable) = call(&app, Method::PUT, "/api/v1/claim-types/department", Some(&key), Some(json!({ "display_name": "Department", "value_type": "json", "user_editable": true }))).await;
        assert_eq!(editable["user_editable"], true);
        let (_, kept) = call(&app, Method::PUT, "/api/v1/claim-types/department", Some(&key), Some(json!({ "display_name": "Dept", "value_type": "json" }))).await;
        assert_eq!(kept["user_editable"], true);
        let (status, phone) = call(&app, Method::PUT, "/api/v1/claim-types/phone_number/user-editable", Some(&key), Some(json!({ "user_editable": true }))).await;
        assert_eq!(status, 200, "{phone}");
        assert_eq!((&phone["user_editable"], &phone["standard"]), (&json!(true), &json!(true)), "{phone}");
        assert_eq!(call(&app, Method::GET, "/api/v1/claim-types/phone_number", Some(&key), None).await.1["user_editable"], true);
        assert_error(&call(&app, Method::PUT, "/api/v1/claim-types/no_such/user-editable", Some(&key), Some(json!({ "user_editable": true }))).await, 404, "not_found", None);
        assert_eq!(call(&app, Method::PUT, "/api/v1/claim-types/phone_number/user-editable", Some(&key), Some(json!({ "user_editable": "yes" }))).await.0, 400);
        assert_eq!(call(&app, Method::PUT, "/api/v1/claim-types/phone_number/user-editable", None, Some(json!({ "user_editable": false }))).await.0, 401);
        assert_eq!(audit_events(&store, "claim_type.update").len(), 4);
        assert_eq!(call(&app, Method::DELETE, "/api/v1/claim-types/department", Some(&key), None).await.0, 204);
        assert_error(&call(&app, Method::GET, "/api/v1/claim-types/department", Some(&key), None).await, 404, "not_found", None);
        assert_eq!(audit_events(&store, "claim_type.delete").len(), 1);
    }

    async fn identity_scopes_custom_editable_standard_read_only(store: Store) {
        let app = app(&store).await;
        let key = admin_key(&store);
        call(&app, Method::POST, "/api/v1/claim-types", Some(&key), Some(json!({ "name": "department", "value_type": "string" }))).await;
        let (status, created) = call(&app, Method::POST, "/api/v1/identity-scopes", Some(&key), Some(json!({ "name": "employee", "claims": ["department", "email"] }))).await;
        assert_eq!(status, 201, "{created}");
        assert_eq!(created["claims"], json!(["department", "email"]));
        assert_error(&call(&app, Method::POST, "/api/v1/identity-scopes", Some(&key), Some(json!({ "name": "employee" }))).await, 409, "conflict", Some("name"));
        assert_error(&call(&app, Method::POST, "/api/v1/identity-scopes", Some(&key), Some(json!({ "name": "x", "claims": ["nope"] }))).await, 400, "invalid_request", Some("claims"));
        assert_error(&call(&app, Method::POST, "/api/v1/identity-scopes", Some(&key), Some(json!({ "claims": [] }))).await, 400, "invalid_request", Some("name"));
        let (status, updated) = call(&app, Method::PUT, "/api/v1/identity-scopes/employee", Some(&key), Some(json!({ "claims": ["department"], "show_in_discovery": false }))).await;
        assert_eq!(status, 200, "{updated}");
        assert_eq!(updated["claims"], json!(["department"]));
        assert_error(&call(&app, Method::PUT, "/api/v1/identity-scopes/profile", Some(&key), Some(json!({ "claims": [] }))).await, 403, "forbidden", Some("name"));
        assert_error(&call(&app, Method::DELETE, "/api/v1/identity-scopes/openid", Some(&key), None).await, 403, "forbidden", Some("name"));
        let (_, list) = call(&app, Method::GET, "/api/v1/identity-scopes", Some(&key), None).await;
        assert!(list["items"].as_array().unwrap().iter().any(|s| s["name"] == "employee"));
        assert_eq!(call(&app, Method::DELETE, "/api/v1/identity-scopes/employee", Some(&key), None).await.0, 204);
        assert_error(&call(&app, Method::GET, "/api/v1/identity-scopes/employee", Some(&key), None).await, 404, "not_found", None);
        assert_eq!(audit_events(&store, "identity_scope.update").len(), 1);
    }

    async fn users_lifecycle(store: Store) {
        let app = app(&store).await;
        let key = admin_key(&store);
        let body = json!({ "username": "Ada", "email": "Ada@Example.com", "password": "correct horse battery", "user_metadata": { "theme": "dark" } });
        let (status, created) = call(&app, Method::POST, "/api/v1/users", Some(&key), Some(body)).await;
        assert_eq!(status, 201, "{created}");
        assert_eq!(created["username"], "ada");
        assert_eq!(created["has_password"], true);
        assert!(created.get("password_hash").is_none());
        let id = created["id"].as_str().unwrap().to_owned();
        assert_error(&call(&app, Method::POST, "/api/v1/users", Some(&key), Some(json!({ "username": "ada" }))).await, 409, "conflict", Some("username"));
        assert_error(&call(&app, Method::POST, "/api/v1/users", Some(&key), Some(json!({ "username": "bo", }))).await, 400, "invalid_request", Some("username"));
        assert_error(&call(&app, Method::POST, "/api/v1/users", Some(&key), Some(json!({ "username": "bob", "password": "short" }))).await, 400, "invalid_request", Some("password"));
        assert_error(&call(&app, Method::POST, "/api/v1/users", Some(&key), Some(json!({ "username": "bob", "email": "nope" }))).await, 400, "invalid_request", Some("email"));
        let (_, found) = call(&app, Method::GET, "/api/v1/users?search=ADA", Some(&key), None).await;
        assert_eq!(found["items"].as_array().unwrap().len(), 1);
        let path = format!("/api/v1/users/{id}");
        let (status, patched) = call(&app, Method::PATCH, &path, Some(&key), Some(json!({ "disabled": true, "email": null, "app_metadata": { "plan": "pro" } }))).await;
        assert_eq!(status, 200, "{patched}");
        assert!(patched["email"].is_null());
        assert_eq!(patched["app_metadata"], json!({ "plan": "pro" }));
        assert_error(&call(&app, Method::PATCH, &path, Some(&key), Some(json!({ "user_metadata": "x" }))).await, 400, "invalid_request", Some("user_metadata"));
        // Claim values are checked by their claim type and stored canonically.
        let (status, with_claims) = call(&app, Method::PUT, &format!("{path}/claims"), Some(&key), Some(json!({ "phone_number": " +55 (11) 9999-9999 ", "given_name": "Ada" }))).await;
        assert_eq!(status, 200, "{with_claims}");
        assert_eq!(with_claims["claims"]["phone_number"], "+551199999999");
        assert_error(&call(&app, Method::PUT, &format!("{path}/claims"), Some(&key), Some(json!({ "birthdate": "yesterday" }))).await, 400, "invalid_request", Some("birthdate"));
        assert_error(&call(&app, Method::PUT, &format!("{path}/claims"), Some(&key), Some(json!({ "nope": 1 }))).await, 400, "invalid_request", Some("nope"));
        assert_error(&call(&app, Method::PUT, &format!("{path}/claims"), Some(&key), Some(json!([1]))).await, 400, "invalid_request", None);
        assert_eq!(call(&app, Method::PUT, &format!("{path}/password"), Some(&key), Some(json!({ "password": "another long one" }))).await.0, 204);
        assert_error(&call(&app, Method::PUT, &format!("{path}/password"), Some(&key), Some(json!({ "password": "x" }))).await, 400, "invalid_request", Some("password"));
        // Roles.
        let role = store.write_transaction(|c| tessera_store::organizations::create_role(c, "support", "", 1)).unwrap();
        let (status, with_role) = call(&app, Method::PUT, &format!("{path}/roles/{}", role.id), Some(&key), None).await;
        assert_eq!(status, 200, "{with_role}");
        assert_eq!(with_role["roles"][0]["name"], "support");
        assert_error(&call(&app, Method::PUT, &format!("{path}/roles/nope"), Some(&key), None).await, 404, "not_found", None);
        let (_, without) = call(&app, Method::DELETE, &format!("{path}/roles/{}", role.id), Some(&key), None).await;
        assert_eq!(without["roles"], json!([]));
        assert_error(&call(&app, Method::DELETE, &format!("{path}/roles/{}", role.id), Some(&key), None).await, 404, "not_found", None);
        let events = store.read_transaction(|c| tessera_store::audit::list(c, &Default::default(), &tessera_store::Page::first(100))).unwrap().items;
        let text = serde_json::to_string(&events.iter().map(|e| e.summary.clone()).collect::<Vec<_>>()).unwrap();
        assert!(!text.contains("correct horse") && !text.contains("another long one") && !text.contains("argon2"));
        assert!(!text.contains("+551199999999"), "claim values are personal data");
        assert_eq!(call(&app, Method::DELETE, &path, Some(&key), None).await.0, 204);
        assert_error(&call(&app, Method::GET, &path, Some(&key), None).await, 404, "not_found", None);
    }

    async fn a_common_or_personal_password_is_refused_on_the_password_field_and_nothing_is_written(store: Store) {
        let app = app(&store).await;
        let key = admin_key(&store);
        let create = |username: &str, password: &str| json!({ "username": username, "password": password });
        for (username, password, why) in [
            ("bob", "password", "This password is too common"),
            ("bob", "        ", "This password is too easy to guess"),
            ("quokkaorbit", "quokkaorbit42", "This password is too easy to guess: it is built from your username"),
        ] {
            let refused = call(&app, Method::POST, "/api/v1/users", Some(&key), Some(create(username, password))).await;
            assert_error(&refused, 400, "invalid_request", Some("password"));
            assert!(refused.1["message"].as_str().unwrap().starts_with(why), "{}", refused.1);
            assert!(store.read_transaction(|c| tessera_store::users::find_by_login(c, username)).unwrap().is_none());
        }
        assert!(audit_events(&store, "user.create").is_empty());

        // Setting a password: the user's claim values (their name) count as their own words.
        let (status, carol) = call(&app, Method::POST, "/api/v1/users", Some(&key), Some(json!({ "username": "carol" }))).await;
        assert_eq!(status, 201, "{carol}");
        let path = format!("/api/v1/users/{}", carol["id"].as_str().unwrap());
        let (status, _) = call(&app, Method::PUT, &format!("{path}/claims"), Some(&key), Some(json!({ "given_name": "Quokkaorbit" }))).await;
        assert_eq!(status, 200);
        for (password, why) in [("Password1", "This password is too common"), ("quokkaorbit42", "This password is too easy to guess: it is built from your username")] {
            let refused = call(&app, Method::PUT, &format!("{path}/password"), Some(&key), Some(json!({ "password": password }))).await;
            assert_error(&refused, 400, "invalid_request", Some("password"));
            assert!(refused.1["message"].as_str().unwrap().starts_with(why), "{}", refused.1);
        }
        assert_eq!(call(&app, Method::GET, &path, Some(&key), None).await.1["has_password"], false);
        assert!(audit_events(&store, "user.set_password").is_empty());
    }

    async fn initial_access_tokens_are_shown_once_hashed_bounded_and_revocable(store: Store) {
        let app = app(&store).await;
        let key = admin_key(&store);
        let path = "/api/v1/initial-access-tokens";
        let (status, created) = call(&app, Method::POST, path, Some(&key), Some(json!({ "quota": 3, "expires_in": 600, "note": "partner" }))).await;
        assert_eq!(status, 201, "{created}");
        let token = created["token"].as_str().unwrap().to_owned();
        let id = created["id"].as_str().unwrap().to_owned();
        assert!(token.len() >= 43, "256 bits: {token}");
        assert_eq!((created["quota"].as_i64(), created["uses_left"].as_i64()), (Some(3), Some(3)));
        let stored = store.read_transaction(|c| tessera_store::initial_access_tokens::get(c, &id)).unwrap();
        assert_eq!(stored.token_hash, tessera_tokens::SecretHash::of(&token).as_str(), "only the hash is kept");
        let (status, read) = call(&app, Method::GET, &format!("{path}/{id}"), Some(&key), None).await;
        assert_eq!(status, 200);
        assert!(read.get("token").is_none(), "{read}");
        assert_eq!(call(&app, Method::GET, path, Some(&key), None).await.1["items"].as_array().unwrap().len(), 1);
        // Defaults: one use, one day.
        let (status, defaults) = call(&app, Method::POST, path, Some(&key), None).await;
        assert_eq!(status, 201, "{defaults}");
        assert_eq!(defaults["quota"], 1);
        assert_eq!(defaults["expires_at"].as_i64().unwrap() - defaults["created_at"].as_i64().unwrap(), 86_400);
        assert_error(&call(&app, Method::POST, path, Some(&key), Some(json!({ "quota": 0 }))).await, 400, "invalid_request", Some("quota"));
        assert_error(&call(&app, Method::POST, path, Some(&key), Some(json!({ "expires_in": 5 }))).await, 400, "invalid_request", Some("expires_in"));
        assert_eq!(call(&app, Method::DELETE, &format!("{path}/{id}"), Some(&key), None).await.0, 204);
        assert_error(&call(&app, Method::GET, &format!("{path}/{id}"), Some(&key), None).await, 404, "not_found", None);
        let events = audit_events(&store, "initial_access_token.create");
        assert_eq!(events.len(), 2);
        assert!(!events.iter().any(|e| e.summary.to_string().contains(&token)));
        assert_eq!(audit_events(&store, "initial_access_token.revoke").len(), 1);
        // The view of an application says whether it registered itself.
        let (_, application) = call(&app, Method::POST, "/api/v1/applications", Some(&key), Some(web_app())).await;
        assert!(application["registration"].is_null(), "{application}");
    }

    async fn management_keys_are_shown_once_and_revocable(store: Store) {
        let app = app(&store).await;
        let key = admin_key(&store);
        let (status, created) = call(&app, Method::POST, "/api/v1/management-keys", Some(&key), Some(json!({ "name": "deploy" }))).await;
        assert_eq!(status, 201, "{created}");
        let new_key = created["key"].as_str().unwrap().to_owned();
        let id = created["id"].as_str().unwrap().to_owned();
        assert_eq!(call(&app, Method::GET, "/api/v1/management-keys", Some(&new_key), None).await.0, 200);
        assert_error(&call(&app, Method::POST, "/api/v1/management-keys", Some(&key), Some(json!({ "name": "x", "expires_at": 5 }))).await, 400, "invalid_request", Some("expires_at"));
        assert_error(&call(&app, Method::POST, "/api/v1/management-keys", Some(&key), Some(json!({ "name": "" }))).await, 400, "invalid_request", Some("name"));
        let (status, revoked) = call(&app, Method::DELETE, &format!("/api/v1/management-keys/{id}"), Some(&key), None).await;
        assert_eq!(status, 200);
        assert!(revoked["revoked_at"].is_i64());
        assert!(revoked.get("key").is_none());
        assert_error(&call(&app, Method::GET, "/api/v1/management-keys", Some(&new_key), None).await, 401, "unauthorized", None);
        assert_error(&call(&app, Method::DELETE, "/api/v1/management-keys/nope", Some(&key), None).await, 404, "not_found", None);
        let events = audit_events(&store, "management_key.create");
        assert!(!events[0].summary.to_string().contains(new_key.split_once('.').unwrap().1));
    }

    async fn a_key_cannot_mint_a_key_that_outlives_it_and_revoking_it_revokes_its_children(store: Store) {
        // Finding 6 of the 2026-12 review: a short-lived key minted a permanent one.
        let app = app(&store).await;
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
        let parent = management_key(&store, "cli", Some(now + 600));
        let parent_id = parent.split_once('.').unwrap().0.to_owned();
        let (status, child) = call(&app, Method::POST, "/api/v1/management-keys", Some(&parent), Some(json!({ "name": "child" }))).await;
        assert_eq!(status, 201, "{child}");
        assert_eq!(child["expires_at"], now + 600, "the parent's expiry by default");
        assert_eq!(child["parent_id"], parent_id.as_str());
        let later = json!({ "name": "later", "expires_at": now + 3600 });
        assert_error(&call(&app, Method::POST, "/api/v1/management-keys", Some(&parent), Some(later)).await, 400, "invalid_request", Some("expires_at"));
        let (status, sooner) = call(&app, Method::POST, "/api/v1/management-keys", Some(&parent), Some(json!({ "name": "sooner", "expires_at": now + 60 }))).await;
        assert_eq!((status.as_u16(), sooner["expires_at"].as_i64()), (201, Some(now + 60)));
        // A grandchild, made with the child.
        let child_key = child["key"].as_str().unwrap().to_owned();
        let (status, grandchild) = call(&app, Method::POST, "/api/v1/management-keys", Some(&child_key), Some(json!({ "name": "grandchild" }))).await;
        assert_eq!(status, 201);
        let grandchild_key = grandchild["key"].as_str().unwrap().to_owned();
        // Revoking the parent (with another key) revokes every key derived from it.
        let admin_key = admin_key(&store);
        let (status, _) = call(&app, Method::DELETE, &format!("/api/v1/management-keys/{parent_id}"), Some(&admin_key), None).await;
        assert_eq!(status, 200);
        for k in [&parent, &child_key, &grandchild_key] {
            assert_error(&call(&app, Method::GET, "/api/v1/management-keys", Some(k), None).await, 401, "unauthorized", None);
        }
        let revoked = audit_events(&store, "management_key.revoke");
        assert_eq!(revoked[0].summary["derived_keys_revoked"], 3, "{}", revoked[0].summary);
    }

    async fn audit_events_filter_by_actor_action_and_time(store: Store) {
        let app = app(&store).await;
        let key = admin_key(&store);
        let actor = format!("key:{}", key.split_once('.').unwrap().0);
        call(&app, Method::POST, "/api/v1/claim-types", Some(&key), Some(json!({ "name": "team", "value_type": "string" }))).await;
        call(&app, Method::POST, "/api/v1/connections", Some(&key), Some(json!({ "name": "orders" }))).await;
        let (status, all) = call(&app, Method::GET, &format!("/api/v1/audit-events?actor={actor}"), Some(&key), None).await;
        assert_eq!(status, 200, "{all}");
        assert_eq!(all["items"].as_array().unwrap().len(), 2);
        let (_, one) = call(&app, Method::GET, "/api/v1/audit-events?action=claim_type.create&target=claim_type:team", Some(&key), None).await;
        assert_eq!(one["items"].as_array().unwrap().len(), 1);
        assert_eq!(one["items"][0]["client_ip"], "203.0.113.9");
        let (_, none) = call(&app, Method::GET, "/api/v1/audit-events?until=5", Some(&key), None).await;
        assert_eq!(none["items"], json!([]));
        assert_error(&call(&app, Method::GET, "/api/v1/audit-events?from=yesterday", Some(&key), None).await, 400, "invalid_request", Some("from"));
    }

    async fn forwarded_for_does_not_change_the_audited_ip(store: Store) {
        let app = app(&store).await;
        let key = admin_key(&store);
        let req = TestRequest::post().uri("/api/v1/claim-types").peer_addr(PEER.parse().unwrap())
            .insert_header(("Authorization", format!("Bearer {key}")))
            .insert_header(("X-Forwarded-For", "198.51.100.1"))
            .set_json(json!({ "name": "team", "value_type": "string" }));
        assert_eq!(send(&app, req).await.0, 201);
        assert_eq!(audit_events(&store, "claim_type.create")[0].client_ip.as_deref(), Some("203.0.113.9"));
    }

    async fn unknown_endpoints_answer_json_404(store: Store) {
        let app = app(&store).await;
        let key = admin_key(&store);
        assert_error(&call(&app, Method::GET, "/api/v1/nothing-here", Some(&key), None).await, 404, "not_found", None);
    }

    async fn roles_lifecycle_with_the_admin_role_protected(store: Store) {
        let app = app(&store).await;
        let key = admin_key(&store);
        let (status, created) = call(&app, Method::POST, "/api/v1/roles", Some(&key), Some(json!({ "name": "support", "description": "Help desk" }))).await;
        assert_eq!(status, 201, "{created}");
        assert_eq!(created["description"], "Help desk");
        let id = created["id"].as_str().unwrap().to_owned();
        let path = format!("/api/v1/roles/{id}");
        assert_error(&call(&app, Method::POST, "/api/v1/roles", Some(&key), Some(json!({ "name": "support" }))).await, 409, "conflict", Some("name"));
        assert_error(&call(&app, Method::POST, "/api/v1/roles", Some(&key), Some(json!({ "name": "Bad Name" }))).await, 400, "invalid_request", Some("name"));
        assert_error(&call(&app, Method::POST, "/api/v1/roles", Some(&key), Some(json!({ "description": "x" }))).await, 400, "invalid_request", Some("name"));
        assert_error(&call(&app, Method::POST, "/api/v1/roles", Some(&key), Some(json!({ "name": "x", "extra": 1 }))).await, 400, "invalid_request", Some("extra"));
        assert_error(&call(&app, Method::POST, "/api/v1/roles", Some(&key), Some(json!({ "name": "x", "description": "d".repeat(1001) }))).await, 400, "invalid_request", Some("description"));
        let (status, got) = call(&app, Method::GET, &path, Some(&key), None).await;
        assert_eq!((status.as_u16(), &got["name"]), (200, &json!("support")));
        let (status, updated) = call(&app, Method::PUT, &path, Some(&key), Some(json!({ "name": "helpdesk" }))).await;
        assert_eq!(status, 200, "{updated}");
        assert_eq!((updated["name"].as_str(), updated["description"].as_str()), (Some("helpdesk"), Some("")));
        assert_error(&call(&app, Method::PUT, &path, Some(&key), Some(json!({ "name": "tessera-admin" }))).await, 409, "conflict", Some("name"));
        // The admin role keeps its name and cannot go.
        let admin_role = store.read_transaction(|c| tessera_store::organizations::find_role_by_name(c, "tessera-admin")).unwrap().unwrap();
        let admin_path = format!("/api/v1/roles/{}", admin_role.id);
        assert_error(&call(&app, Method::PUT, &admin_path, Some(&key), Some(json!({ "name": "root" }))).await, 403, "forbidden", Some("name"));
        assert_error(&call(&app, Method::DELETE, &admin_path, Some(&key), None).await, 403, "forbidden", Some("name"));
        let (status, described) = call(&app, Method::PUT, &admin_path, Some(&key), Some(json!({ "name": "tessera-admin", "description": "Admins" }))).await;
        assert_eq!(status, 200, "{described}");
        assert_eq!(store.read_transaction(|c| tessera_store::organizations::get_role(c, &admin_role.id)).unwrap().name, "tessera-admin");
        assert_eq!(audit_events(&store, "role.update").len(), 2);
        assert!(audit_events(&store, "role.delete").is_empty());
        assert_eq!(call(&app, Method::DELETE, &path, Some(&key), None).await.0, 204);
        assert_error(&call(&app, Method::GET, &path, Some(&key), None).await, 404, "not_found", None);
        assert_error(&call(&app, Method::PUT, &path, Some(&key), Some(json!({ "name": "gone" }))).await, 404, "not_found", None);
        assert_error(&call(&app, Method::DELETE, &path, Some(&key), None).await, 404, "not_found", None);
        assert_eq!(audit_events(&store, "role.create").len(), 1);
        assert_eq!(audit_events(&store, "role.delete")[0].target, format!("role:{id}"));
    }

    async fn roles_page_with_a_cursor(store: Store) {
        let app = app(&store).await;
        let key = admin_key(&store);
        for name in ["a", "b", "c", "d"] {
            assert_eq!(call(&app, Method::POST, "/api/v1/roles", Some(&key), Some(json!({ "name": name }))).await.0, 201);
        }
        // Four new roles and tessera-admin.
        let (status, first) = call(&app, Method::GET, "/api/v1/roles?limit=3", Some(&key), None).await;
        assert_eq!(status, 200, "{first}");
        assert_eq!(first["items"].as_array().unwrap().len(), 3);
        let next = first["next"].as_str().unwrap();
        let (_, second) = call(&app, Method::GET, &format!("/api/v1/roles?limit=3&after={next}"), Some(&key), None).await;
        assert_eq!(second["items"].as_array().unwrap().len(), 2);
        assert!(second["next"].is_null());
        let mut names: Vec<Value> = first["items"].as_array().unwrap().iter().chain(second["items"].as_array().unwrap()).map(|r| r["name"].clone()).collect();
        names.sort_by_key(|n| n.as_str().unwrap().to_owned());
        assert_eq!(names, vec![json!("a"), json!("b"), json!("c"), json!("d"), json!("tessera-admin")]);
        assert_error(&call(&app, Method::GET, "/api/v1/roles?limit=501", Some(&key), None).await, 400, "invalid_request", Some("limit"));
    }

    async fn organizations_lifecycle(store: Store) {
        let app = app(&store).await;
        let key = admin_key(&store);
        let (status, created) = call(&app, Method::POST, "/api/v1/organizations", Some(&key), Some(json!({ "name": "acme", "metadata": { "tier": "gold" } }))).await;
        assert_eq!(status, 201, "{created}");
        assert_eq!((created["display_name"].as_str(), &created["metadata"]), (Some("acme"), &json!({ "tier": "gold" })));
        let id = created["id"].as_str().unwrap().to_owned();
        let path = format!("/api/v1/organizations/{id}");
        let post = |body: Value| { let key = key.clone(); let app = &app; async move { call(app, Method::POST, "/api/v1/organizations", Some(&key), Some(body)).await } };
        assert_error(&post(json!({ "name": "acme" })).await, 409, "conflict", Some("name"));
        assert_error(&post(json!({ "name": "Acme Corp" })).await, 400, "invalid_request", Some("name"));
        assert_error(&post(json!({ "name": "initech", "display_name": "  " })).await, 400, "invalid_request", Some("display_name"));
        assert_error(&post(json!({ "name": "initech", "metadata": [1] })).await, 400, "invalid_request", Some("metadata"));
        assert_error(&post(json!({ "display_name": "Initech" })).await, 400, "invalid_request", Some("name"));
        let (status, replaced) = call(&app, Method::PUT, &path, Some(&key), Some(json!({ "name": "acme-corp", "display_name": "Acme Corp." }))).await;
        assert_eq!(status, 200, "{replaced}");
        assert_eq!((replaced["name"].as_str(), replaced["display_name"].as_str(), &replaced["metadata"]), (Some("acme-corp"), Some("Acme Corp."), &json!({})));
        assert_eq!(call(&app, Method::GET, &path, Some(&key), None).await.1["name"], "acme-corp");
        assert_eq!(post(json!({ "name": "initech" })).await.0, 201);
        assert_error(&call(&app, Method::PUT, &path, Some(&key), Some(json!({ "name": "initech" }))).await, 409, "conflict", Some("name"));
        let (_, list) = call(&app, Method::GET, "/api/v1/organizations?limit=1", Some(&key), None).await;
        assert_eq!(list["items"].as_array().unwrap().len(), 1);
        assert!(list["next"].is_string());
        let update = &audit_events(&store, "organization.update")[0];
        assert_eq!(update.target, format!("organization:{id}"));
        assert_eq!(update.summary["metadata_changed"], true);
        assert!(!update.summary.to_string().contains("gold"), "metadata values stay out of the audit log");
        assert_eq!(call(&app, Method::DELETE, &path, Some(&key), None).await.0, 204);
        assert_error(&call(&app, Method::GET, &path, Some(&key), None).await, 404, "not_found", None);
        assert_error(&call(&app, Method::PUT, &path, Some(&key), Some(json!({ "name": "acme" }))).await, 404, "not_found", None);
        assert_error(&call(&app, Method::DELETE, &path, Some(&key), None).await, 404, "not_found", None);
        assert_eq!(audit_events(&store, "organization.create").len(), 2);
        assert_eq!(audit_events(&store, "organization.delete").len(), 1);
    }

    async fn organization_memberships_are_set_replaced_and_removed(store: Store) {
        let app = app(&store).await;
        let key = admin_key(&store);
        let (_, org) = call(&app, Method::POST, "/api/v1/organizations", Some(&key), Some(json!({ "name": "acme" }))).await;
        let org_path = format!("/api/v1/organizations/{}", org["id"].as_str().unwrap());
        let (_, user) = call(&app, Method::POST, "/api/v1/users", Some(&key), Some(json!({ "username": "ada" }))).await;
        let user_id = user["id"].as_str().unwrap().to_owned();
        let (_, billing) = call(&app, Method::POST, "/api/v1/roles", Some(&key), Some(json!({ "name": "billing" }))).await;
        let (_, support) = call(&app, Method::POST, "/api/v1/roles", Some(&key), Some(json!({ "name": "support" }))).await;
        let (billing, support) = (billing["id"].as_str().unwrap().to_owned(), support["id"].as_str().unwrap().to_owned());
        let member_path = format!("{org_path}/members/{user_id}");
        let (status, set) = call(&app, Method::PUT, &member_path, Some(&key), Some(json!({ "role_ids": [support, billing] }))).await;
        assert_eq!(status, 200, "{set}");
        assert_eq!(set["user_id"], user_id.as_str());
        assert_eq!(set["roles"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect::<Vec<_>>(), ["billing", "support"]);
        // Replaced, not added to.
        let (status, replaced) = call(&app, Method::PUT, &member_path, Some(&key), Some(json!({ "role_ids": [support] }))).await;
        assert_eq!(status, 200, "{replaced}");
        assert_eq!(replaced["roles"], json!([{ "id": support, "name": "support" }]));
        let (status, members) = call(&app, Method::GET, &format!("{org_path}/members"), Some(&key), None).await;
        assert_eq!(status, 200, "{members}");
        assert_eq!(members, json!({ "items": [{ "user_id": user_id, "roles": [{ "id": support, "name": "support" }] }], "next": null }));
        // Bad requests change nothing.
        assert_error(&call(&app, Method::PUT, &member_path, Some(&key), Some(json!({ "role_ids": [billing, "nope"] }))).await, 400, "invalid_request", Some("role_ids[1]"));
        assert_error(&call(&app, Method::PUT, &member_path, Some(&key), Some(json!({}))).await, 400, "invalid_request", Some("role_ids"));
        assert_error(&call(&app, Method::PUT, &format!("{org_path}/members/nobody"), Some(&key), Some(json!({ "role_ids": [] }))).await, 404, "not_found", None);
        assert_error(&call(&app, Method::PUT, &format!("/api/v1/organizations/nope/members/{user_id}"), Some(&key), Some(json!({ "role_ids": [] }))).await, 404, "not_found", None);
        assert_eq!(call(&app, Method::GET, &format!("{org_path}/members"), Some(&key), None).await.1, members);
        assert_eq!(audit_events(&store, "organization.set_member").len(), 2);
        assert_eq!(audit_events(&store, "organization.set_member")[0].summary["roles"], json!(["support"]));
        // Removed.
        assert_eq!(call(&app, Method::DELETE, &member_path, Some(&key), None).await.0, 204);
        assert_eq!(call(&app, Method::GET, &format!("{org_path}/members"), Some(&key), None).await.1["items"], json!([]));
        assert_error(&call(&app, Method::DELETE, &member_path, Some(&key), None).await, 404, "not_found", None);
        assert_error(&call(&app, Method::GET, "/api/v1/organizations/nope/members", Some(&key), None).await, 404, "not_found", None);
        assert_eq!(audit_events(&store, "organization.remove_member").len(), 1);
        assert!(store.read_transaction(|c| tessera_store::organizations::memberships_of_user(c, &UserId::from(user_id.as_str()))).unwrap().is_empty());
    }

    async fn signing_keys_are_listed_and_rotated(store: Store) {
        let app = app(&store).await;
        let key = admin_key(&store);
        let got = call(&app, Method::POST, "/api/v1/signing-keys/rotate", Some(&key), Some(json!({ "alg": "HS256" }))).await;
        assert_error(&got, 400, "invalid_request", Some("alg"));
        let (status, created) =
            call(&app, Method::POST, "/api/v1/signing-keys/rotate", Some(&key), Some(json!({ "alg": "EdDSA" }))).await;
        assert_eq!(status, 201, "{created}");
        assert_eq!(created["alg"], "EdDSA");
        assert_eq!(created["state"], "next");
        assert!(created.get("private_key").is_none());
        let (status, page) = call(&app, Method::GET, "/api/v1/signing-keys?limit=1", Some(&key), None).await;
        assert_eq!(status, 200);
        assert_eq!(page["items"].as_array().unwrap().len(), 1);
        let events = audit_events(&store, "signing_key.rotate");
        assert!(events[0].actor.starts_with("key:"), "{:?}", events[0]);
        let got = call(&app, Method::GET, "/api/v1/signing-keys", None, None).await;
        assert_error(&got, 401, "unauthorized", None);
    }

    async fn openapi_document_lists_every_route_and_each_is_mounted(store: Store) {
        let app = app(&store).await;
        let (status, doc) = call(&app, Method::GET, "/api/v1/openapi.json", None, None).await;
        assert_eq!(status, 200);
        assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
        let expected = [
            ("get", "/api/v1/applications"), ("post", "/api/v1/applications"), ("get", "/api/v1/applications/{id}"),
            ("put", "/api/v1/applications/{id}"), ("delete", "/api/v1/applications/{id}"), ("post", "/api/v1/applications/{id}/secret"),
            ("get", "/api/v1/connections"), ("post", "/api/v1/connections"), ("get", "/api/v1/connections/{id}"),
            ("put", "/api/v1/connections/{id}"), ("delete", "/api/v1/connections/{id}"), ("get", "/api/v1/connections/{id}/scopes"),
            ("post", "/api/v1/connections/{id}/scopes"), ("put", "/api/v1/connections/{id}/scopes/{name}"),
            ("delete", "/api/v1/connections/{id}/scopes/{name}"),
            ("post", "/api/v1/connections/{id}/secret"), ("get", "/api/v1/connections/{id}/protected-resource-metadata"),
            ("get", "/api/v1/claim-types"), ("post", "/api/v1/claim-types"), ("get", "/api/v1/claim-types/{name}"),
            ("put", "/api/v1/claim-types/{name}"), ("delete", "/api/v1/claim-types/{name}"),
            ("put", "/api/v1/claim-types/{name}/user-editable"),
            ("get", "/api/v1/identity-scopes"), ("post", "/api/v1/identity-scopes"), ("get", "/api/v1/identity-scopes/{name}"),
            ("put", "/api/v1/identity-scopes/{name}"), ("delete", "/api/v1/identity-scopes/{name}"),
            ("get", "/api/v1/users"), ("post", "/api/v1/users"), ("get", "/api/v1/users/{id}"), ("patch", "/api/v1/users/{id}"),
            ("delete", "/api/v1/users/{id}"), ("put", "/api/v1/users/{id}/claims"), ("put", "/api/v1/users/{id}/password"),
            ("put", "/api/v1/users/{id}/roles/{role_id}"), ("delete", "/api/v1/users/{id}/roles/{role_id}"),
            ("get", "/api/v1/users/{id}/sessions"), ("delete", "/api/v1/users/{id}/sessions"),
            ("delete", "/api/v1/users/{id}/sessions/{sid}"), ("get", "/api/v1/users/{id}/consents"),
            ("delete", "/api/v1/users/{id}/consents/{application_id}"),
            ("get", "/api/v1/users/{id}/factors"), ("delete", "/api/v1/users/{id}/factors"),
            ("post", "/api/v1/users/{id}/send-verification"), ("post", "/api/v1/users/{id}/send-recovery-link"),
            ("get", "/api/v1/management-keys"), ("post", "/api/v1/management-keys"), ("get", "/api/v1/management-keys/{id}"),
            ("delete", "/api/v1/management-keys/{id}"),
            ("get", "/api/v1/initial-access-tokens"), ("post", "/api/v1/initial-access-tokens"),
            ("get", "/api/v1/initial-access-tokens/{id}"), ("delete", "/api/v1/initial-access-tokens/{id}"),
            ("get", "/api/v1/roles"), ("post", "/api/v1/roles"), ("get", "/api/v1/roles/{id}"), ("put", "/api/v1/roles/{id}"),
            ("delete", "/api/v1/roles/{id}"),
            ("get", "/api/v1/organizations"), ("post", "/api/v1/organizations"), ("get", "/api/v1/organizations/{id}"),
            ("put", "/api/v1/organizations/{id}"), ("delete", "/api/v1/organizations/{id}"),
            ("get", "/api/v1/organizations/{id}/members"), ("put", "/api/v1/organizations/{id}/members/{user_id}"),
            ("delete", "/api/v1/organizations/{id}/members/{user_id}"),
            ("get", "/api/v1/signing-keys"), ("post", "/api/v1/signing-keys/rotate"),
            ("get", "/api/v1/audit-events"),
            ("post", "/api/v1/token/custom"),
            ("get", "/api/v1/scripts"), ("get", "/api/v1/scripts/{kind}"), ("put", "/api/v1/scripts/{kind}"),
            ("post", "/api/v1/scripts/{kind}/test"),
            ("get", "/api/v1/script-variables"), ("put", "/api/v1/script-variables/{name}"),
            ("delete", "/api/v1/script-variables/{name}"),
            ("get", "/api/v1/claim-mappings"), ("post", "/api/v1/claim-mappings"), ("get", "/api/v1/claim-mappings/{id}"),
            ("put", "/api/v1/claim-mappings/{id}"), ("delete", "/api/v1/claim-mappings/{id}"),
            ("post", "/api/v1/applications/{id}/preview"),
            ("get", "/api/v1/connections/{id}/token-exchange"), ("put", "/api/v1/connections/{id}/token-exchange"),
            ("post", "/api/v1/connections/{id}/token-exchange/preview"),
        ];
        let paths = doc["paths"].as_object().unwrap();
        let documented: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
        assert_eq!(documented, expected.len(), "documented operations differ from the mounted routes");
        for (method, path) in expected {
            let op = &paths[path][method];
            assert!(op.is_object(), "{method} {path} is not documented");
            assert!(op["responses"]["401"].is_object(), "{method} {path} lacks its 401");
            // Mounted: without a key the route answers 401, not 404.
            let concrete = path.replace("{id}", "x").replace("{name}", "x").replace("{kind}", "user").replace("{role_id}", "x").replace("{user_id}", "x")
                .replace("{sid}", "x").replace("{application_id}", "x");
            let got = call(&app, method.to_uppercase().parse().unwrap(), &concrete, None, None).await;
            assert_eq!(got.0, 401, "{method} {path} is not mounted: {}", got.1);
        }
        assert!(doc["components"]["schemas"]["ErrorBody"].is_object());
    }
}
