//! OAuth 2.0 Token Exchange (RFC 8693) at the token endpoint, on both backends: an API
//! that received alice's token exchanges it, through its own application, for a token to
//! another API; `act` records the chain (§4.1), impersonation only where the target's
//! policy allows it, every refusal of §2.2.2 with nothing issued, the expiry capped by
//! the subject token's, introspection at the target showing `act`, and the policy set
//! through the management API, audited.

use reqwest::Method;
use serde_json::{Value, json};
use tessera_domain::{
    ConnectionId, GrantType, PolicyContext, ScopeSet, TokenExchangePolicyInput, TokenExchangeRuleInput, TokenFormat,
};
use tessera_store::applications::ApplicationSettings;
use tessera_store::audit::{self, AuditFilter};
use tessera_store::connections::{self, NewApiConnection};
use tessera_store::scopes::{self, NewApiScope};
use tessera_store::{Page, token_exchange_policies};
use tessera_tokens::generate_secret;

use crate::common::{self, security::*};
use tessera_testkit::apps;

const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";

struct Fixture {
    w: World,
    /// (id, introspection secret) of each connection, by name.
    connections: Vec<(String, ConnectionId, String)>,
}

impl Fixture {
    fn connection(&self, name: &str) -> &(String, ConnectionId, String) {
        self.connections.iter().find(|c| c.0 == name).unwrap()
    }

    fn introspect_at(&self, name: &str, token: &str) -> Value {
        let (_, _, secret) = self.connection(name);
        let reply = Reply::read(self.w.app.introspect((name, secret), &[("token", token)]));
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply.json()
    }

    /// Replaces `target`'s policy in the database (the API's own path is tested below).
    fn policy(&self, target: &str, rules: &[(&str, &str, &[&str], bool)]) {
        let (_, id, _) = self.connection(target);
        let input = TokenExchangePolicyInput {
            rules: rules
                .iter()
                .map(|(client, source, scopes, impersonation)| TokenExchangeRuleInput {
                    client_id: (*client).into(),
                    source_audience: (*source).into(),
                    scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
                    impersonation: *impersonation,
                })
                .collect(),
        };
        let target_scopes: ScopeSet = self
            .w
            .store
            .read_transaction(|c| scopes::scopes_of_connection(c, id))
            .unwrap()
            .iter()
            .map(|s| s.name.parse::<tessera_domain::ScopeToken>().unwrap())
            .collect();
        let policy = input
            .into_policy(&PolicyContext {
                target_scopes: &target_scopes,
                is_client: &|_| true,
                is_connection: &|_| true,
            })
            .unwrap();
        self.w.store.write_transaction(|c| token_exchange_policies::replace(c, id, &policy, tessera::now())).unwrap();
    }

    fn events(&self, action: &str) -> Vec<audit::AuditEvent> {
        let filter = AuditFilter { action: Some(action.into()), ..Default::default() };
        self.w.store.read_transaction(|c| audit::list(c, &filter, &Page::first(100))).unwrap().items
    }
}

/// Alice; `frontend` (JWT) and `frontend-ref` (reference) that sign her in with the
/// password grant for `orders.read`; the APIs `orders-api`, `billing-api` (with
/// `billing.read`) and `shipping-api`; `orders-backend` (JWT) and `billing-backend`
/// (reference tokens) with the token-exchange grant, `no-exchange` without it. Policies:
/// orders-backend may exchange orders-api tokens for billing.read at billing-api, and
/// (impersonating) for shipping-api; billing-backend billing-api tokens for shipping-api.
fn fixture(db: &common::TestDatabase) -> Fixture {
    let w = world(db);
    let now = tessera::now();
    let mut connections = vec![];
    for (name, extra) in
        [("orders-api", Some("orders.read")), ("billing-api", Some("billing.read")), ("shipping-api", None)]
    {
        let secret = generate_secret();
        let new = NewApiConnection {
            name: name.into(),
            display_name: name.into(),
            description: String::new(),
            access_token_format: None,
            resource_uri: None,
            requirement: None,
        };
        let created = w.store.write_transaction(|c| connections::create(c, &new, secret.hash().as_str(), now)).unwrap();
        if let Some(extra) = extra {
            let scope = NewApiScope {
                name: extra.into(),
                display_name: extra.into(),
                description: String::new(),
                requirement: None,
            };
            w.store.write_transaction(|c| scopes::create_api_scope(c, &created.id, &scope, now)).unwrap();
        }
        connections.push((name.to_owned(), created.id, secret.expose().to_owned()));
    }
    for (client, format) in [("frontend", TokenFormat::Jwt), ("frontend-ref", TokenFormat::Reference)] {
        let mut settings = ApplicationSettings {
            grant_types: vec![GrantType::Password, GrantType::RefreshToken],
            ..web_app(&[REDIRECT], &[])
        };
        settings.access_token_format = format;
        settings.lifetimes.access_token = 300;
        settings.allowed_scopes = ["openid", "offline_access", "orders.read", "billing-api"].map(String::from).to_vec();
        add_app(&w, client, &settings);
    }
    for (client, format, grants) in [
        ("orders-backend", TokenFormat::Jwt, vec![GrantType::ClientCredentials, GrantType::TokenExchange]),
        ("billing-backend", TokenFormat::Reference, vec![GrantType::ClientCredentials, GrantType::TokenExchange]),
        ("no-exchange", TokenFormat::Jwt, vec![GrantType::ClientCredentials]),
    ] {
        let mut settings = apps::machine_app(client, &["orders-api", "billing-api"]);
        settings.grant_types = grants;
        settings.access_token_format = format;
        add_app(&w, client, &settings);
    }
    let f = Fixture { w, connections };
    f.policy("billing-api", &[("orders-backend", "orders-api", &["billing.read"], false)]);
    f.policy(
        "shipping-api",
        &[
            ("billing-backend", "billing-api", &["shipping-api"], false),
            ("orders-backend", "orders-api", &["shipping-api"], true),
        ],
    );
    f
}

/// Alice's access token at `client` for `scope` (password grant).
fn alice_token(f: &Fixture, client: &str, scope: &str) -> Value {
    let reply = token(
        &f.w,
        client,
        &[("grant_type", "password"), ("username", "alice"), ("password", PASSWORD), ("scope", scope)],
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()
}

/// A token exchange by `client` of `subject` for `audience`, `extra` added.
fn exchange(f: &Fixture, client: &str, subject: &str, audience: &str, extra: &[(&str, &str)]) -> Reply {
    let mut form = vec![("grant_type", EXCHANGE), ("subject_token", subject), ("subject_token_type", ACCESS_TOKEN)];
    if !audience.is_empty() {
        form.push(("audience", audience));
    }
    form.extend_from_slice(extra);
    token(&f.w, client, &form)
}

fn exchanged(reply: &Reply) -> String {
    assert_eq!(reply.status, 200, "{}", reply.body);
    let body = reply.json();
    assert_eq!(body["issued_token_type"], ACCESS_TOKEN);
    assert_eq!(body["token_type"], "Bearer");
    assert!(body.get("refresh_token").is_none(), "never refreshable: {body}");
    assert!(body.get("id_token").is_none());
    assert_no_store(reply, "token exchange");
    field(&body, "access_token")
}

crate::both_backends! {
    fn delegation_records_the_caller_in_act_and_introspection_shows_it(db: TestDatabase) {
        let f = fixture(&db);
        let subject = field(&alice_token(&f, "frontend", "openid orders.read"), "access_token");
        let reply = exchange(&f, "orders-backend", &subject, "billing-api", &[("scope", "billing.read")]);
        let token = exchanged(&reply);
        assert_eq!(reply.json()["scope"], "billing.read");
        let claims = verified(&f.w, &token);
        let original = verified(&f.w, &subject);
        assert_eq!(claims["sub"], f.w.alice.as_str());
        assert_eq!(claims["aud"], "billing-api");
        assert_eq!(claims["client_id"], "orders-backend");
        assert_eq!(claims["scope"], "billing.read");
        assert_eq!(claims["act"], json!({ "sub": "orders-backend" }));
        assert_eq!(claims["grant_id"], original["grant_id"], "tied to alice's grant");
        assert!(claims["exp"].as_i64() <= original["exp"].as_i64());
        assert_eq!(header_of(&token)["typ"], "at+jwt");

        let seen = f.introspect_at("billing-api", &token);
        assert_eq!(seen["active"], true, "{seen}");
        assert_eq!(seen["act"], json!({ "sub": "orders-backend" }));
        assert_eq!(seen["sub"], f.w.alice.as_str());
        assert_eq!(f.introspect_at("orders-api", &token), json!({ "active": false }), "not for the source API any more");

        // Without `scope`, the rule's scopes; by `resource` (RFC 8707) as well as `audience`.
        let by_resource = exchange(&f, "orders-backend", &subject, "", &[("resource", "billing-api")]);
        assert_eq!(by_resource.json()["scope"], "billing.read", "{}", by_resource.body);
        let events = f.events("token.exchanged");
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].actor, "client:orders-backend");
        assert_eq!(events[0].target, "connection:billing-api");
        assert_eq!(events[0].summary["subject"], f.w.alice.as_str());
    }

    fn a_second_hop_nests_act_and_a_reference_token_keeps_it(db: TestDatabase) {
        let f = fixture(&db);
        let subject = field(&alice_token(&f, "frontend", "orders.read"), "access_token");
        let first = exchanged(&exchange(&f, "orders-backend", &subject, "billing-api", &[]));
        let second = exchange(&f, "billing-backend", &first, "shipping-api", &[]);
        let token = exchanged(&second);
        assert_eq!(token.matches('.').count(), 0, "billing-backend issues reference tokens");
        let seen = f.introspect_at("shipping-api", &token);
        assert_eq!(seen["active"], true, "{seen}");
        assert_eq!(seen["sub"], f.w.alice.as_str());
        assert_eq!(seen["client_id"], "billing-backend");
        assert_eq!(seen["act"], json!({ "sub": "billing-backend", "act": { "sub": "orders-backend" } }));
    }

    fn impersonation_only_where_the_rule_allows_it(db: TestDatabase) {
        let f = fixture(&db);
        let subject = field(&alice_token(&f, "frontend", "orders.read"), "access_token");
        // billing-api's rule is delegation: act is always there.
        let delegated = verified(&f.w, &exchanged(&exchange(&f, "orders-backend", &subject, "billing-api", &[])));
        assert_eq!(delegated["act"], json!({ "sub": "orders-backend" }));
        // shipping-api's rule for orders-backend allows impersonation: no act…
        let impersonated = verified(&f.w, &exchanged(&exchange(&f, "orders-backend", &subject, "shipping-api", &[])));
        assert!(impersonated.get("act").is_none(), "{impersonated:?}");
        assert_eq!(impersonated["sub"], f.w.alice.as_str());
        // …unless the caller names an actor: its own client credentials token.
        let own = token(&f.w, "orders-backend", &[("grant_type", "client_credentials"), ("scope", "orders-api")]);
        let actor = field(&own.json(), "access_token");
        let extra = [("actor_token", actor.as_str()), ("actor_token_type", ACCESS_TOKEN)];
        let named = verified(&f.w, &exchanged(&exchange(&f, "orders-backend", &subject, "shipping-api", &extra)));
        assert_eq!(named["act"], json!({ "sub": "orders-backend" }));
        // Another client's token is no actor for this caller.
        let foreign = token(&f.w, "no-exchange", &[("grant_type", "client_credentials"), ("scope", "orders-api")]);
        let foreign = field(&foreign.json(), "access_token");
        let extra = [("actor_token", foreign.as_str()), ("actor_token_type", ACCESS_TOKEN)];
        assert_oauth_error(&exchange(&f, "orders-backend", &subject, "shipping-api", &extra), 400, "invalid_request", "foreign actor");
    }

    fn every_refusal_has_its_error_and_issues_nothing(db: TestDatabase) {
        let f = fixture(&db);
        let subject = field(&alice_token(&f, "frontend", "orders.read"), "access_token");
        let billing_token = token(&f.w, "no-exchange", &[("grant_type", "client_credentials"), ("scope", "billing-api")]);
        let billing_token = field(&billing_token.json(), "access_token");
        let cases: Vec<(&str, Reply, &str)> = vec![
            ("grant not enabled", exchange(&f, "no-exchange", &subject, "billing-api", &[]), "unauthorized_client"),
            ("no rule for this client", exchange(&f, "billing-backend", &subject, "billing-api", &[]), "invalid_target"),
            ("no rule at all", exchange(&f, "orders-backend", &subject, "orders-api", &[]), "invalid_target"),
            ("wrong source audience", exchange(&f, "orders-backend", &billing_token, "billing-api", &[]), "invalid_request"),
            ("scope outside the rule", exchange(&f, "orders-backend", &subject, "billing-api", &[("scope", "billing-api")]), "invalid_scope"),
            ("unknown audience", exchange(&f, "orders-backend", &subject, "nowhere-api", &[]), "invalid_target"),
            ("no target", exchange(&f, "orders-backend", &subject, "", &[]), "invalid_request"),
            ("two targets", exchange(&f, "orders-backend", &subject, "billing-api", &[("audience", "shipping-api")]), "invalid_target"),
            ("garbage subject", exchange(&f, "orders-backend", "not-a-token", "billing-api", &[]), "invalid_request"),
            ("forged subject", exchange(&f, "orders-backend", &foreign(&subject), "billing-api", &[]), "invalid_request"),
            ("alg none subject", exchange(&f, "orders-backend", &alg_none(&subject), "billing-api", &[]), "invalid_request"),
            ("id token type", token(&f.w, "orders-backend", &[("grant_type", EXCHANGE), ("subject_token", &subject), ("subject_token_type", "urn:ietf:params:oauth:token-type:id_token"), ("audience", "billing-api")]), "invalid_request"),
            ("no subject token type", token(&f.w, "orders-backend", &[("grant_type", EXCHANGE), ("subject_token", &subject), ("audience", "billing-api")]), "invalid_request"),
            ("refresh token requested", exchange(&f, "orders-backend", &subject, "billing-api", &[("requested_token_type", "urn:ietf:params:oauth:token-type:refresh_token")]), "invalid_request"),
            ("actor without type", exchange(&f, "orders-backend", &subject, "billing-api", &[("actor_token", &subject)]), "invalid_request"),
            ("actor type without actor", exchange(&f, "orders-backend", &subject, "billing-api", &[("actor_token_type", ACCESS_TOKEN)]), "invalid_request"),
            ("jwt actor type", exchange(&f, "orders-backend", &subject, "billing-api", &[("actor_token", &subject), ("actor_token_type", "urn:ietf:params:oauth:token-type:jwt")]), "invalid_request"),
        ];
        for (what, reply, error) in &cases {
            assert_oauth_error(reply, 400, error, what);
        }
        assert!(f.events("token.exchanged").is_empty(), "nothing was issued");
        let refused = f.events("token.exchange_refused");
        assert!(refused.iter().any(|e| e.summary["reason"] == "invalid_target" && e.actor == "client:billing-backend"));
        assert!(refused.iter().any(|e| e.summary["reason"] == "subject_token_inactive"));
    }

    fn revoked_and_expired_subject_tokens_are_refused_and_reference_ones_work(db: TestDatabase) {
        let f = fixture(&db);
        let reference = field(&alice_token(&f, "frontend-ref", "orders.read"), "access_token");
        let issued = exchanged(&exchange(&f, "orders-backend", &reference, "billing-api", &[]));
        assert_eq!(verified(&f.w, &issued)["act"], json!({ "sub": "orders-backend" }));
        assert_eq!(revoke(&f.w, "frontend-ref", &reference), 200);
        assert_oauth_error(&exchange(&f, "orders-backend", &reference, "billing-api", &[]), 400, "invalid_request", "revoked");

        // An expired reference token, as the store keeps it.
        let app = f.w.store.read_transaction(|c| tessera_store::applications::find_by_client_id(c, &"frontend-ref".into())).unwrap().unwrap();
        let expired = generate_secret();
        let past = tessera::now() - 5;
        let claims = json!({ "sub": f.w.alice.as_str(), "aud": "orders-api", "scope": "orders.read", "client_id": "frontend-ref", "exp": past });
        f.w.store.write_transaction(|c| tessera_store::reference_tokens::insert_reference_token(c, &tessera_store::reference_tokens::NewReferenceToken {
            token_hash: expired.hash().as_str().to_owned(), grant_id: None, application_id: app.id.clone(), user_id: None,
            claims: claims.as_object().unwrap().clone(), expires_at: past,
        }, past - 60)).unwrap();
        assert_oauth_error(&exchange(&f, "orders-backend", expired.expose(), "billing-api", &[]), 400, "invalid_request", "expired");
    }

    fn the_exchanged_token_never_outlives_the_subject_token_nor_its_grant(db: TestDatabase) {
        let f = fixture(&db);
        // frontend's tokens live 300 s; orders-backend's would live an hour.
        let tokens = alice_token(&f, "frontend", "orders.read offline_access");
        let subject = field(&tokens, "access_token");
        let reply = exchange(&f, "orders-backend", &subject, "billing-api", &[]);
        let token = exchanged(&reply);
        assert_eq!(verified(&f.w, &token)["exp"], verified(&f.w, &subject)["exp"]);
        assert!(reply.json()["expires_in"].as_i64().unwrap() <= 300);
        // Revoking alice's grant (her refresh token) ends the exchanged token too.
        assert_eq!(revoke(&f.w, "frontend", &field(&tokens, "refresh_token")), 200);
        assert_eq!(f.introspect_at("billing-api", &token), json!({ "active": false }));
    }

    fn the_policy_is_set_through_the_api_audited_and_in_discovery(db: TestDatabase) {
        let f = fixture(&db);
        assert!(f.w.app.discovery()["grant_types_supported"].as_array().unwrap().contains(&json!(EXCHANGE)));
        let key = tessera_testkit::management_key(&f.w.store, "cli", None);
        let (_, id, _) = f.connection("orders-api");
        let path = format!("/api/v1/connections/{id}/token-exchange");
        let empty = f.w.app.api(Method::GET, &path, &key, &Value::Null);
        assert_eq!(empty.status(), 200);
        assert_eq!(empty.json::<Value>().unwrap(), json!({ "connection": "orders-api", "rules": [] }));

        let subject = token(&f.w, "no-exchange", &[("grant_type", "client_credentials"), ("scope", "billing-api")]);
        let subject = field(&subject.json(), "access_token");
        assert_oauth_error(&exchange(&f, "billing-backend", &subject, "orders-api", &[]), 400, "invalid_target", "before");

        let bad = json!({ "rules": [{ "client_id": "billing-backend", "source_audience": "billing-api", "scopes": ["billing.read"] }] });
        let refused = f.w.app.api(Method::PUT, &path, &key, &bad);
        assert_eq!(refused.status(), 400);
        assert_eq!(refused.json::<Value>().unwrap()["field"], "rules[0].scopes");
        let unknown = json!({ "rules": [{ "client_id": "nobody-app", "source_audience": "billing-api", "scopes": ["orders.read"] }] });
        assert_eq!(f.w.app.api(Method::PUT, &path, &key, &unknown).json::<Value>().unwrap()["field"], "rules[0].client_id");

        let rules = json!({ "rules": [{ "client_id": "billing-backend", "source_audience": "billing-api", "scopes": ["orders.read"] }] });
        let saved = f.w.app.api(Method::PUT, &path, &key, &rules);
        assert_eq!(saved.status(), 200);
        let saved: Value = saved.json().unwrap();
        assert_eq!(saved["rules"][0]["impersonation"], false);
        let events = f.events("connection.token_exchange_policy");
        assert_eq!(events.len(), 1, "only the accepted change");
        assert_eq!(events[0].target, "connection:orders-api");
        assert_eq!(events[0].summary["before"], json!([]));
        assert_eq!(events[0].summary["after"][0]["client_id"], "billing-backend");

        // The server sees the change at once.
        let reply = exchange(&f, "billing-backend", &subject, "orders-api", &[]);
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(reply.json()["scope"], "orders.read");
        let seen = f.introspect_at("orders-api", &field(&reply.json(), "access_token"));
        assert_eq!(seen["act"], json!({ "sub": "billing-backend" }));
        assert_eq!(seen["sub"], "no-exchange");

        // The claims preview of an exchange under this rule, for alice.
        let preview_path = format!("{path}/preview");
        let body = json!({ "client_id": "billing-backend", "user_id": f.w.alice.as_str() });
        let preview = f.w.app.api(Method::POST, &preview_path, &key, &body);
        assert_eq!(preview.status(), 200);
        let preview: Value = preview.json().unwrap();
        assert_eq!(preview["source_audience"], "billing-api");
        assert_eq!(preview["scope"], "orders.read");
        let claim = |name: &str| preview["access_token"].as_array().unwrap().iter().find(|c| c["name"] == name).cloned();
        assert_eq!(claim("act").unwrap()["value"], json!({ "sub": "billing-backend" }));
        assert_eq!(claim("aud").unwrap()["value"], "orders-api");
        assert_eq!(claim("sub").unwrap()["value"], f.w.alice.as_str());
        assert!(preview["introspection"].as_array().unwrap().iter().any(|c| c["name"] == "active"));
        let refused = f.w.app.api(Method::POST, &preview_path, &key, &json!({ "client_id": "orders-backend", "user_id": f.w.alice.as_str() }));
        assert_eq!(refused.status(), 400);
        assert_eq!(refused.json::<Value>().unwrap()["field"], "client_id");
        assert_eq!(f.events("token.preview").len(), 1, "each preview is audited");
    }
}
