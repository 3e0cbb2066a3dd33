//! The server as a whole: health, readiness, first start and restart, on both backends.

use serde_json::Value;

use crate::common::{self, TestApp, settings_for};

crate::both_backends! {
    fn healthz_and_readyz_answer_200(db: TestDatabase) {
        let app = TestApp::spawn(&db);
        let health = app.get("/healthz");
        assert_eq!(health.status(), 200);
        assert_eq!(health.headers()["cache-control"], "no-store");
        assert_eq!(health.json::<Value>().unwrap()["status"], "ok");
        let ready = app.get("/readyz");
        assert_eq!(ready.status(), 200);
        assert_eq!(ready.json::<Value>().unwrap()["status"], "ready");
    }

    fn unknown_paths_are_404_not_500(db: TestDatabase) {
        let app = TestApp::spawn(&db);
        assert_eq!(app.get("/nope").status(), 404);
        assert_eq!(app.client.post(app.url("/healthz")).send().unwrap().status(), 404);
    }

    fn first_start_creates_an_admin_once_and_a_restart_keeps_the_data(db: TestDatabase) {
        let data_dir = std::env::temp_dir().join(format!("tessera-restart-{}", uuid::Uuid::now_v7().simple()));
        let raw = settings_for(&db, &data_dir);
        let mut first = TestApp::spawn_with(raw.clone());
        let password = first.bootstrap_password.clone().expect("the first start creates an administrator");
        assert!(password.len() >= 32, "a strong random password");
        first.stop();
        drop(first);
        let second = TestApp::spawn_with(raw.clone());
        assert!(second.bootstrap_password.is_none(), "a restart must not create another administrator");
        assert_eq!(second.get("/readyz").status(), 200);
        let store = tessera_store::Store::connect(&db.url, &tessera_store::PoolOptions::for_backend(db.url.backend())).unwrap();
        let admin = store.read_transaction(|c| tessera_store::users::find_by_login(c, "admin")).unwrap().expect("admin kept");
        assert!(store.read_transaction(|c| tessera_store::users::has_role(c, &admin.id, "tessera-admin")).unwrap());
        let hasher = tessera_tokens::PasswordHasher::new(tessera_tokens::PasswordParams::TESTING).unwrap();
        assert!(hasher.verify(&password, admin.password_hash.as_deref()), "the printed password signs in");
        let events = store
            .read_transaction(|c| tessera_store::audit::list(c, &Default::default(), &tessera_store::Page::first(10)))
            .unwrap();
        assert!(events.items.iter().any(|e| e.action == "user.bootstrap_admin"));
        let _ = std::fs::remove_dir_all(&data_dir);
    }

    fn a_node_with_another_master_key_refuses_to_start(db: TestDatabase) {
        let data_dir = std::env::temp_dir().join(format!("tessera-key-{}", uuid::Uuid::now_v7().simple()));
        let mut raw = settings_for(&db, &data_dir);
        raw.master_key = Some(tessera_tokens::MasterKey::generate().unwrap().to_base64().to_owned());
        drop(TestApp::spawn_with(raw.clone()));
        raw.master_key = Some(tessera_tokens::MasterKey::generate().unwrap().to_base64().to_owned());
        let settings = tessera::settings::Settings::from_raw(raw, vec![]).unwrap();
        let error = tessera::server::prepare(&settings).err().expect("a wrong key is refused");
        assert!(error.0.starts_with("master_key:"), "{}", error.0);
        let _ = std::fs::remove_dir_all(&data_dir);
    }
}

#[test]
fn an_embedded_installation_generates_its_master_key_once() {
    let db = common::TestDatabase::sqlite();
    let data_dir = std::env::temp_dir().join(format!("tessera-mk-{}", uuid::Uuid::now_v7().simple()));
    let raw = settings_for(&db, &data_dir);
    assert!(raw.master_key.is_none());
    let settings = tessera::settings::Settings::from_raw(raw.clone(), vec![]).unwrap();
    drop(tessera::server::prepare(&settings).unwrap());
    let key_file = data_dir.join("master.key");
    let written = std::fs::read_to_string(&key_file).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777, 0o600);
    }
    drop(tessera::server::prepare(&settings).unwrap());
    assert_eq!(std::fs::read_to_string(&key_file).unwrap(), written, "the key is not replaced");
    let _ = std::fs::remove_dir_all(&data_dir);
}

#[test]
fn postgres_without_a_master_key_is_refused() {
    let Some(db) = common::TestDatabase::postgres() else {
        return;
    };
    let data_dir = std::env::temp_dir().join(format!("tessera-nokey-{}", uuid::Uuid::now_v7().simple()));
    let mut raw = settings_for(&db, &data_dir);
    raw.master_key = None;
    let settings = tessera::settings::Settings::from_raw(raw, vec![]).unwrap();
    let error = tessera::server::prepare(&settings).err().expect("refused");
    assert!(error.0.starts_with("master_key: not set"), "{}", error.0);
    assert!(!data_dir.join("master.key").exists(), "no key may be generated for Postgres");
}
