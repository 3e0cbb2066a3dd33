use std::time::Duration;

use diesel::connection::SimpleConnection;
use tessera_store::applications;
use tessera_store::config;
use tessera_store::connections::{self, NewApiConnection};
use tessera_store::scopes::{self, ClaimTypeInput, IdentityScopeInput};
use tessera_store::scripts::{self, OnFailure, ScriptInput, ScriptKind};
use tessera_store::{PoolOptions, Store};
use tessera_testkit::TestDatabase;

use crate::applications::web_app;
use tessera_testkit::NOW;

/// A second node on the same database, looking for changes every `interval`.
fn node(db: &TestDatabase, interval: Duration) -> Store {
    let options = PoolOptions { config_refresh_interval: interval, ..PoolOptions::for_backend(db.url.backend()) };
    Store::connect(&db.url, &options).unwrap()
}

fn version(store: &Store) -> i64 {
    store.read_transaction(config::current_version).unwrap()
}

fn connection(name: &str) -> NewApiConnection {
    NewApiConnection {
        name: name.into(),
        display_name: name.into(),
        description: String::new(),
        access_token_format: None,
        resource_uri: None,
        requirement: None,
    }
}

crate::both_backends! {
    fn a_change_on_this_node_is_seen_at_once_however_long_the_interval(db: TestDatabase) {
        let store = db.store();
        store.set_config_refresh_interval(Duration::from_secs(3600));
        let before = store.config().unwrap();
        assert!(before.application_by_client_id("library-web").is_none());

        let app = store.write_transaction(|c| applications::create(c, &"library-web".into(), &web_app(), Some("hash-1"), NOW)).unwrap();
        let after = store.config().unwrap();
        assert!(after.version > before.version, "the triggers moved the version");
        assert_eq!(after.application_by_client_id("library-web").map(|a| a.id.as_str()), Some(app.id.as_str()));
        assert_eq!(after.application(&app.id).map(|a| a.client_id.as_str()), Some("library-web"));
        let hashes: Vec<_> = after.live_application_secrets(&app.id, NOW).iter().map(|s| s.secret_hash.clone()).collect();
        assert_eq!(hashes, ["hash-1"]);

        // A clone of the store shares the snapshot and sees the change too.
        let clone = store.clone();
        store.write_transaction(|c| applications::delete(c, &app.id)).unwrap();
        assert!(clone.config().unwrap().application_by_client_id("library-web").is_none());
    }

    fn a_read_or_failed_write_keeps_the_snapshot(db: TestDatabase) {
        let store = db.store();
        store.set_config_refresh_interval(Duration::from_secs(3600));
        let first = store.config().unwrap();
        store.read_transaction(|c| applications::find_by_client_id(c, &"nobody".into())).unwrap();
        let refused = store.write_transaction(|c| {
            connections::create(c, &connection("orders-api"), "h", NOW)?;
            Err::<(), _>(tessera_store::StoreError::invalid("name", "rolled back"))
        });
        assert!(refused.is_err());
        let second = store.config().unwrap();
        assert!(std::sync::Arc::ptr_eq(&first, &second), "nothing changed, nothing was loaded again");
        assert!(second.connection_by_name("orders-api").is_none());
    }

    fn another_node_sees_a_change_after_its_interval_and_not_before(db: TestDatabase) {
        let writer = db.store();
        let patient = node(&db, Duration::from_secs(3600));
        let eager = node(&db, Duration::ZERO);
        assert!(patient.config().unwrap().connection_by_name("orders-api").is_none());
        assert!(eager.config().unwrap().connection_by_name("orders-api").is_none());

        writer.write_transaction(|c| connections::create(c, &connection("orders-api"), "h", NOW)).unwrap();
        assert!(eager.config().unwrap().connection_by_name("orders-api").is_some(), "interval 0 looks every time");
        assert!(patient.config().unwrap().connection_by_name("orders-api").is_none(), "an hour has not passed");

        let brisk = node(&db, Duration::from_millis(50));
        brisk.config().unwrap();
        writer.write_transaction(|c| connections::create(c, &connection("billing-api"), "h", NOW)).unwrap();
        std::thread::sleep(Duration::from_millis(120));
        let seen = brisk.config().unwrap();
        assert!(seen.connection_by_name("billing-api").is_some());
        assert_eq!(seen.version, version(&writer));
    }

    fn every_configuration_table_moves_the_version_whoever_writes(db: TestDatabase) {
        let store = db.store();
        let mut last = version(&store);
        let mut moved = |what: &str| {
            let now = version(&store);
            assert!(now > last, "{what} did not move the configuration version");
            last = now;
        };
        let app = store.write_transaction(|c| applications::create(c, &"library-web".into(), &web_app(), Some("h"), NOW)).unwrap();
        moved("creating an application");
        store.write_transaction(|c| applications::rotate_secret(c, &app.id, "h2", NOW, NOW)).unwrap();
        moved("rotating an application secret");
        let conn = store.write_transaction(|c| connections::create(c, &connection("orders-api"), "h", NOW)).unwrap();
        moved("creating a connection");
        store.write_transaction(|c| connections::rotate_secret(c, &conn.id, "h2", NOW, NOW)).unwrap();
        moved("rotating a connection secret");
        let claim = ClaimTypeInput {
            name: "badge".into(),
            display_name: "Badge".into(),
            description: String::new(),
            value_type: tessera_domain::ClaimValueType::String,
            user_editable: false,
        };
        store.write_transaction(|c| scopes::create_claim_type(c, &claim, NOW)).unwrap();
        moved("creating a claim type");
        let scope = IdentityScopeInput {
            name: "badges".into(),
            display_name: "Badges".into(),
            description: String::new(),
            show_in_discovery: true,
            claims: vec!["badge".into()],
        };
        store.write_transaction(|c| scopes::create_identity_scope(c, &scope, NOW)).unwrap();
        moved("creating an identity scope");
        let script = ScriptInput { source: "return {};".into(), enabled: true, on_failure: OnFailure::Deny };
        store.write_transaction(|c| scripts::save(c, ScriptKind::User, &script, NOW)).unwrap();
        moved("saving a script");
        store.write_transaction(|c| scripts::set_variable(c, "TIER", "x", false, NOW)).unwrap();
        moved("setting a variable");
        // A statement outside the store's functions (an operator's SQL, another version of
        // Tessera) moves it too: the triggers are in the database.
        store.conn().unwrap().batch_execute("UPDATE applications SET description = 'edited by hand'").unwrap();
        moved("an UPDATE by hand");
        store.conn().unwrap().batch_execute("DELETE FROM script_environment_variables").unwrap();
        moved("a DELETE by hand");
        store.write_transaction(|c| scopes::delete_scope(c, "badges")).unwrap();
        moved("deleting a scope");
    }

    fn the_snapshot_holds_scopes_connections_scripts_and_only_live_secrets(db: TestDatabase) {
        let store = db.store();
        let conn = store.write_transaction(|c| connections::create(c, &connection("orders-api"), "old", NOW)).unwrap();
        store.write_transaction(|c| connections::rotate_secret(c, &conn.id, "new", NOW + 60, NOW)).unwrap();
        let disabled = ScriptInput { source: "return {};".into(), enabled: false, on_failure: OnFailure::Deny };
        store.write_transaction(|c| scripts::save(c, ScriptKind::User, &disabled, NOW)).unwrap();
        let machine = ScriptInput { source: "return {a: 1};".into(), enabled: true, on_failure: OnFailure::Deny };
        store.write_transaction(|c| scripts::save(c, ScriptKind::Machine, &machine, NOW)).unwrap();

        let config = store.config().unwrap();
        let found = config.connection_by_name("orders-api").unwrap();
        let secrets =
            |at| config.live_connection_secrets(&found.id, at).iter().map(|s| s.secret_hash.clone()).collect::<Vec<_>>();
        assert_eq!(secrets(NOW), ["old", "new"]);
        assert_eq!(secrets(NOW + 60), ["new"], "the old secret expires with time, without a reload");
        let own: Vec<_> = config.scopes_of_connection(&found.id).map(|s| s.name.as_str()).collect();
        assert_eq!(own, ["orders-api"]);
        assert_eq!(config.catalog().api_connection("orders-api"), Some("orders-api"));
        assert!(config.catalog().identity_claims("profile").is_some());
        assert!(config.claim_types().iter().any(|c| c.name == "email"));
        assert!(config.enabled_script(ScriptKind::User).is_none(), "disabled");
        assert_eq!(config.enabled_script(ScriptKind::Machine).map(|s| s.version), Some(1));
    }
}
