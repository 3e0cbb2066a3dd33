#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

fn with(raw: RawSettings) -> Result<Settings, SettingsError> {
    Settings::from_raw(raw, vec!["test".into()])
}

#[test]
fn password_min_score_defaults_to_3_and_above_4_is_refused_naming_the_setting() {
    assert_eq!(with(RawSettings::default()).unwrap().password_policy.min_score(), 3);
    assert_eq!(
        with(RawSettings { password_min_score: 4, ..RawSettings::default() }).unwrap().password_policy.min_score(),
        4
    );
    let error = with(RawSettings { password_min_score: 5, ..RawSettings::default() }).unwrap_err();
    assert_eq!(error, SettingsError::new("password_min_score", "must be between 0 and 4, not 5"));
}

#[test]
fn the_issuer_host_name_is_a_context_word_of_the_password_policy() {
    let settings =
        with(RawSettings { issuer: "https://id.quokkabank.example".into(), ..RawSettings::default() }).unwrap();
    let words = settings.password_policy.context_words();
    assert!(words.iter().any(|w| w == "quokkabank") && words.iter().any(|w| w == "tessera"), "{words:?}");
    assert!(settings.password_policy.check("quokkabank2024".into(), &[]).is_err());
    let by_address = with(RawSettings { issuer: "http://127.0.0.1:8080".into(), ..RawSettings::default() }).unwrap();
    assert_eq!(by_address.password_policy.context_words(), ["tessera"]);
}

#[test]
fn database_time_limits_have_defaults_and_bounds_naming_the_setting() {
    let settings = with(RawSettings::default()).unwrap();
    assert_eq!(settings.pool.statement_timeout, std::time::Duration::from_secs(10));
    assert_eq!(settings.pool.connect_timeout, std::time::Duration::from_secs(5));
    assert_eq!(settings.pool.connection_timeout, std::time::Duration::from_secs(5));
    assert_eq!(settings.database_startup_wait, std::time::Duration::from_secs(60));
    let error = with(RawSettings { database_statement_timeout_ms: 0, ..RawSettings::default() }).unwrap_err();
    assert_eq!(error.setting, "database_statement_timeout_ms");
    let error = with(RawSettings { database_connect_timeout: 1, ..RawSettings::default() }).unwrap_err();
    assert_eq!(error.setting, "database_connect_timeout");
    let error = with(RawSettings { database_startup_wait: 3601, ..RawSettings::default() }).unwrap_err();
    assert_eq!(error.setting, "database_startup_wait");
    let settings = with(RawSettings { database_statement_timeout_ms: 250, ..RawSettings::default() }).unwrap();
    assert_eq!(settings.pool.statement_timeout, std::time::Duration::from_millis(250));
}
