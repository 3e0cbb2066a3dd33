//! Resource servers as clients and agents find them: an API connection's resource URI
//! (RFC 8707), set through the management API, names the connection wherever `resource`
//! is accepted (authorize, PAR, the token endpoint) while tokens keep the connection's
//! name as their audience; an absolute URI that names no connection is `invalid_target`.
//! Each connection with a resource URI has the RFC 9728 protected-resource metadata
//! document Tessera generates, from the management API, and discovery lists the URIs
//! (RFC 9728 §4).

use reqwest::Method;
use serde_json::{Value, json};
use tessera_store::connections;

use crate::common::security::*;
use crate::common::{TestApp, TestDatabase};
use tessera_testkit::apps;

const ORDERS_URI: &str = "https://orders.example.com";

struct Fixture {
    w: World,
    key: String,
    /// The id of `orders-api`.
    orders: String,
}

/// The security world with `orders-api` (see [`with_api`]), a machine application
/// `worker` allowed its scopes, and a management key.
fn fixture(db: &TestDatabase) -> Fixture {
    let w = world(db);
    with_api(&w);
    add_app(&w, "worker", &apps::machine_app("Worker", &["orders-api", "orders.read"]));
    let orders = w.store.read_transaction(|c| connections::find_by_name(c, "orders-api")).unwrap().unwrap();
    Fixture { key: tessera_testkit::management_key(&w.store, "cli", None), orders: orders.id.into_string(), w }
}

fn api(f: &Fixture, method: Method, path: &str, body: &Value) -> (u16, Value) {
    let response = f.w.app.api(method, path, &f.key, body);
    (response.status().as_u16(), response.json().unwrap_or(Value::Null))
}

/// Sets `orders-api`'s resource URI through the management API.
fn set_resource_uri(f: &Fixture, uri: Option<&str>) -> (u16, Value) {
    let body = json!({ "display_name": "Orders", "resource_uri": uri });
    api(f, Method::PUT, &format!("/api/v1/connections/{}", f.orders), &body)
}

fn client_credentials(f: &Fixture, resource: &str) -> Reply {
    token(&f.w, "worker", &[("grant_type", "client_credentials"), ("scope", "orders.read"), ("resource", resource)])
}

fn metadata(f: &Fixture) -> (u16, Value) {
    api(f, Method::GET, &format!("/api/v1/connections/{}/protected-resource-metadata", f.orders), &Value::Null)
}

crate::both_backends! {
    fn a_resource_uri_names_its_connection_at_authorize_and_token_and_the_audience_stays_the_name(db: TestDatabase) {
        let f = fixture(&db);
        let (status, view) = set_resource_uri(&f, Some(ORDERS_URI));
        assert_eq!(status, 200, "{view}");
        assert_eq!(view["resource_uri"], ORDERS_URI);

        // The token endpoint: client credentials for the URI.
        let reply = client_credentials(&f, ORDERS_URI);
        assert_eq!(reply.status, 200, "{}", reply.body);
        let access = payload(&field(&reply.json(), "access_token"));
        assert_eq!(access["aud"], "orders-api");
        assert_eq!(access["scope"], "orders.read");

        // Authorize: the code remembers the connection, the token is for it.
        let b = Browser::new(&f.w.app);
        let path = authorize_path("jwtapp", REDIRECT, &[("scope", "openid orders.read"), ("resource", ORDERS_URI)]);
        let callback = code_for(&b, &path);
        let reply = redeem(&f.w, "jwtapp", &callback["code"], REDIRECT, Some(VERIFIER));
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(payload(&field(&reply.json(), "access_token"))["aud"], "orders-api");

        // A pushed request with the URI is accepted too.
        let pushed = Reply::read(http().post(f.w.app.url("/connect/par")).basic_auth("jwtapp", Some(&f.w.secret))
            .form(&[("response_type", "code"), ("redirect_uri", REDIRECT), ("scope", "openid orders.read"),
                ("code_challenge", CHALLENGE), ("code_challenge_method", "S256"), ("resource", ORDERS_URI)])
            .send().unwrap());
        assert_eq!(pushed.status, 201, "{}", pushed.body);
    }

    fn an_absolute_uri_that_names_no_connection_is_invalid_target_everywhere(db: TestDatabase) {
        let f = fixture(&db);
        set_resource_uri(&f, Some(ORDERS_URI));
        for unknown in ["https://billing.example.com", "https://orders.example.com/", "HTTPS://orders.example.com"] {
            let reply = client_credentials(&f, unknown);
            assert_eq!((reply.status, reply.json()["error"].clone()), (400, json!("invalid_target")), "{unknown}");

            let b = Browser::new(&f.w.app);
            let reply = b.get(&authorize_path("jwtapp", REDIRECT, &[("scope", "openid orders.read"), ("resource", unknown)]));
            assert_eq!(reply.callback()["error"], "invalid_target", "{unknown}");

            let pushed = Reply::read(http().post(f.w.app.url("/connect/par")).basic_auth("jwtapp", Some(&f.w.secret))
                .form(&[("response_type", "code"), ("redirect_uri", REDIRECT), ("scope", "openid orders.read"),
                    ("code_challenge", CHALLENGE), ("code_challenge_method", "S256"), ("resource", unknown)])
                .send().unwrap());
            assert_eq!((pushed.status, pushed.json()["error"].clone()), (400, json!("invalid_target")), "{unknown}");
        }
        // Once the URI is cleared it names nothing either.
        assert_eq!(set_resource_uri(&f, None).0, 200);
        assert_eq!(client_credentials(&f, ORDERS_URI).json()["error"], "invalid_target");
        assert_eq!(client_credentials(&f, "orders-api").status, 200, "the name still works");
    }

    fn resource_uris_are_checked_and_unique_in_the_management_api(db: TestDatabase) {
        let f = fixture(&db);
        for bad in ["http://orders.example.com", "https://orders.example.com/#x", "https://orders.example.com/?a=1", "orders"] {
            let (status, body) = set_resource_uri(&f, Some(bad));
            assert_eq!((status, body["field"].clone()), (400, json!("resource_uri")), "{bad}: {body}");
        }
        assert_eq!(set_resource_uri(&f, Some(ORDERS_URI)).0, 200);
        let (status, body) = api(&f, Method::POST, "/api/v1/connections",
            &json!({ "name": "billing-api", "resource_uri": ORDERS_URI }));
        assert_eq!((status, body["error"].clone(), body["field"].clone()), (409, json!("conflict"), json!("resource_uri")), "{body}");
        assert!(f.w.store.read_transaction(|c| connections::find_by_name(c, "billing-api")).unwrap().is_none(), "nothing written");
        let (status, created) = api(&f, Method::POST, "/api/v1/connections",
            &json!({ "name": "billing-api", "resource_uri": "http://127.0.0.1:9000" }));
        assert_eq!(status, 201, "{created}");
        assert_eq!(created["resource_uri"], "http://127.0.0.1:9000", "loopback http for development");
    }

    fn the_protected_resource_metadata_names_the_resource_the_issuer_and_the_api_scopes(db: TestDatabase) {
        let f = fixture(&db);
        let (status, body) = metadata(&f);
        assert_eq!((status, body["error"].clone()), (404, json!("not_found")), "no resource URI yet: {body}");
        set_resource_uri(&f, Some(ORDERS_URI));
        let (status, mut document) = metadata(&f);
        assert_eq!(status, 200, "{document}");
        let mut scopes: Vec<String> = serde_json::from_value(document["scopes_supported"].take()).unwrap();
        scopes.sort();
        assert_eq!(scopes, ["orders-api", "orders.read"]);
        document.as_object_mut().unwrap().remove("scopes_supported");
        assert_eq!(document, json!({
            "resource": ORDERS_URI,
            "authorization_servers": [f.w.app.base],
            "bearer_methods_supported": ["header"],
            "resource_name": "Orders",
            "dpop_signing_alg_values_supported": tessera_tokens::dpop::ALGORITHMS,
        }));
        // RFC 9728 §4 and RFC 9101: what discovery now says.
        for path in ["/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"] {
            let discovery: Value = http().get(f.w.app.url(path)).send().unwrap().json().unwrap();
            assert_eq!(discovery["protected_resources"], json!([ORDERS_URI]), "{path}");
            assert_eq!(discovery["request_uri_parameter_supported"], true);
            assert_eq!(discovery["require_request_uri_registration"], true);
            assert!(discovery["revocation_endpoint_auth_signing_alg_values_supported"].as_array().is_some_and(|a| !a.is_empty()));
        }
        let (status, _) = api(&f, Method::GET, "/api/v1/connections/nope/protected-resource-metadata", &Value::Null);
        assert_eq!(status, 404);
    }
}

#[test]
fn the_metadata_route_is_in_the_openapi_document() {
    let db = TestDatabase::sqlite();
    let app = TestApp::spawn(&db);
    let openapi: Value = http().get(app.url("/api/v1/openapi.json")).send().unwrap().json().unwrap();
    assert!(openapi["paths"]["/api/v1/connections/{id}/protected-resource-metadata"]["get"].is_object());
    let schema = &openapi["components"]["schemas"]["NewConnectionInput"]["properties"];
    assert!(schema["resource_uri"].is_object(), "{schema}");
}
