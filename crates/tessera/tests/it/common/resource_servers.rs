//! Two API connections (`orders-api` with `orders.read`, `billing-api` with
//! `billing.read`) and two machine applications allowed all their scopes (`machine`
//! issues JWTs, `ref-machine` reference tokens), for the resource-server tests.

use serde_json::Value;
use tessera_domain::TokenFormat;
use tessera_store::applications::{self, ApplicationSettings};
use tessera_store::connections::{self, NewApiConnection};
use tessera_store::scopes::{self, NewApiScope};
use tessera_store::{PoolOptions, Store};
use tessera_tokens::generate_secret;

use super::{TestApp, TestDatabase};
use tessera_testkit::apps;

pub const NOW: i64 = 1_800_000_000;

pub struct World {
    pub app: TestApp,
    pub store: Store,
    /// (name, secret) of the two connections.
    pub orders: (String, String),
    pub billing: (String, String),
    /// Client secret of "machine" (JWT) and "ref-machine" (reference).
    pub client_secret: String,
}

pub fn world(db: &TestDatabase) -> World {
    world_on(db, TestApp::spawn(db))
}

/// The same world on a server that looks for configuration changed elsewhere only
/// every minute: it reads everything set up here at its first request, and from then on
/// has it current in memory (requests that need no I/O are answered without the
/// blocking pool).
pub fn world_with_configuration_in_memory(db: &TestDatabase) -> World {
    let dir = std::env::temp_dir().join(format!("tessera-rs-{}", uuid::Uuid::now_v7().simple()));
    let mut raw = super::settings_for(db, &dir);
    raw.config_refresh_interval_ms = 60_000;
    world_on(db, TestApp::spawn_with(raw))
}

/// The same world on a server whose settings `tweak` changes.
pub fn world_with_settings(db: &TestDatabase, tweak: impl FnOnce(&mut tessera::settings::RawSettings)) -> World {
    let dir = std::env::temp_dir().join(format!("tessera-rs-{}", uuid::Uuid::now_v7().simple()));
    let mut raw = super::settings_for(db, &dir);
    tweak(&mut raw);
    let mut app = TestApp::spawn_with(raw);
    app.owned_data_dir = Some(dir);
    world_on(db, app)
}

fn world_on(db: &TestDatabase, app: TestApp) -> World {
    let store = Store::connect(&db.url, &PoolOptions::for_backend(db.url.backend())).unwrap();
    let mut secrets = vec![];
    for (name, extra) in [("orders-api", "orders.read"), ("billing-api", "billing.read")] {
        let secret = generate_secret();
        let new = NewApiConnection {
            name: name.into(),
            display_name: name.into(),
            description: String::new(),
            access_token_format: None,
            resource_uri: None,
            requirement: None,
        };
        let connection =
            store.write_transaction(|c| connections::create(c, &new, secret.hash().as_str(), NOW)).unwrap();
        let scope = NewApiScope {
            name: extra.into(),
            display_name: extra.into(),
            description: String::new(),
            requirement: None,
        };
        store.write_transaction(|c| scopes::create_api_scope(c, &connection.id, &scope, NOW)).unwrap();
        secrets.push((name.to_owned(), secret.expose().to_owned()));
    }
    let client_secret = generate_secret();
    for (client_id, format) in [("machine", TokenFormat::Jwt), ("ref-machine", TokenFormat::Reference)] {
        let settings = ApplicationSettings {
            access_token_format: format,
            ..apps::machine_app(client_id, &["orders-api", "orders.read", "billing-api", "billing.read"])
        };
        store
            .write_transaction(|c| {
                applications::create(c, &client_id.into(), &settings, Some(client_secret.hash().as_str()), NOW)
            })
            .unwrap();
    }
    let billing = secrets.pop().unwrap();
    let orders = secrets.pop().unwrap();
    World { app, store, orders, billing, client_secret: client_secret.expose().to_owned() }
}

pub fn issue(world: &World, client_id: &str, scope: &str) -> String {
    let form = [("grant_type", "client_credentials"), ("scope", scope)];
    let response: Value = world.app.token(Some((client_id, &world.client_secret)), &form).json().unwrap();
    response["access_token"].as_str().unwrap_or_else(|| panic!("{response}")).to_owned()
}

pub fn introspect(world: &World, caller: &(String, String), form: &[(&str, &str)]) -> (u16, Value) {
    let response = world.app.introspect((&caller.0, &caller.1), form);
    let status = response.status().as_u16();
    assert_eq!(response.headers()["cache-control"], "no-store");
    (status, response.json().unwrap_or(Value::Null))
}
