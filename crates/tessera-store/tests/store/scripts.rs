use tessera_store::StoreError;
use tessera_store::scripts::{self, OnFailure, ScriptInput, ScriptKind};

use tessera_testkit::NOW;

fn input(source: &str, enabled: bool, on_failure: OnFailure) -> ScriptInput {
    ScriptInput { source: source.into(), enabled, on_failure }
}

crate::both_backends! {
    fn script_is_none_until_saved_and_each_save_bumps_its_version(store: Store) {
        assert!(store.read_transaction(|c| scripts::get(c, ScriptKind::User)).unwrap().is_none());
        let first = store
            .write_transaction(|c| scripts::save(c, ScriptKind::User, &input("return {a: 1};", false, OnFailure::Deny), NOW))
            .unwrap();
        assert_eq!((first.kind, first.version, first.enabled), (ScriptKind::User, 1, false));
        assert_eq!(first.on_failure, OnFailure::Deny);
        assert_eq!(first.updated_at, NOW);

        let lenient = input("return {b: 2};", true, OnFailure::IssueWithoutClaims);
        let second = store.write_transaction(|c| scripts::save(c, ScriptKind::User, &lenient, NOW + 5)).unwrap();
        assert_eq!(second.version, 2);
        assert_eq!(second.source, "return {b: 2};");
        assert!(second.enabled);
        assert_eq!(second.on_failure, OnFailure::IssueWithoutClaims);
        assert_eq!(second.updated_at, NOW + 5);
        assert_eq!(store.read_transaction(|c| scripts::get(c, ScriptKind::User)).unwrap(), Some(second));
    }

    fn user_and_machine_scripts_are_kept_apart(store: Store) {
        store.write_transaction(|c| scripts::save(c, ScriptKind::User, &input("u", true, OnFailure::Deny), NOW)).unwrap();
        store.write_transaction(|c| scripts::save(c, ScriptKind::User, &input("u2", true, OnFailure::Deny), NOW)).unwrap();
        let machine =
            store.write_transaction(|c| scripts::save(c, ScriptKind::Machine, &input("m", true, OnFailure::Deny), NOW)).unwrap();
        assert_eq!(machine.version, 1);
        let all = store.read_transaction(scripts::all).unwrap();
        let summary: Vec<_> = all.iter().map(|s| (s.kind, s.source.as_str(), s.version)).collect();
        assert_eq!(summary, [(ScriptKind::Machine, "m", 1), (ScriptKind::User, "u2", 2)]);
    }

    fn environment_variables_are_set_replaced_listed_and_deleted(store: Store) {
        let created = store.write_transaction(|c| scripts::set_variable(c, "TIER", "gold", false, NOW)).unwrap();
        assert_eq!((created.value.as_str(), created.created_at, created.updated_at), ("gold", NOW, NOW));
        store.write_transaction(|c| scripts::set_variable(c, "API_KEY", "ciphertext-1", true, NOW)).unwrap();
        let replaced = store.write_transaction(|c| scripts::set_variable(c, "TIER", "platinum", false, NOW + 3)).unwrap();
        assert_eq!((replaced.value.as_str(), replaced.created_at, replaced.updated_at), ("platinum", NOW, NOW + 3));

        let listed = store.read_transaction(scripts::list_variables).unwrap();
        let names: Vec<_> = listed.iter().map(|v| (v.name.as_str(), v.secret)).collect();
        assert_eq!(names, [("API_KEY", true), ("TIER", false)]);
        assert_eq!(store.read_transaction(|c| scripts::get_variable(c, "TIER")).unwrap(), Some(replaced));

        store.write_transaction(|c| scripts::delete_variable(c, "TIER")).unwrap();
        assert!(store.read_transaction(|c| scripts::get_variable(c, "TIER")).unwrap().is_none());
        assert!(matches!(
            store.write_transaction(|c| scripts::delete_variable(c, "TIER")),
            Err(StoreError::NotFound { entity: "environment variable" })
        ));
    }

    fn a_secret_variable_value_never_appears_in_debug_output(store: Store) {
        let secret = store.write_transaction(|c| scripts::set_variable(c, "API_KEY", "ciphertext-1", true, NOW)).unwrap();
        let plain = store.write_transaction(|c| scripts::set_variable(c, "TIER", "gold", false, NOW)).unwrap();
        assert!(!format!("{secret:?}").contains("ciphertext-1"));
        assert!(format!("{plain:?}").contains("gold"));
    }
}
