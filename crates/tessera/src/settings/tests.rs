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

#[test]
fn mail_goes_to_files_in_the_data_folder_unless_smtp_is_configured() {
    let settings = with(RawSettings { data_dir: "/srv/tessera".into(), ..RawSettings::default() }).unwrap();
    assert_eq!(settings.mail.transport, tessera_mail::Transport::Files("/srv/tessera/mail".into()));
    assert_eq!(settings.mail.issuer_name, "Tessera");
    let smtp = with(RawSettings {
        smtp_url: Some("smtps://u:p@mail.example.com".into()),
        mail_from: Some("id@example.com".into()),
        issuer_name: "Example ID".into(),
        ..RawSettings::default()
    })
    .unwrap();
    assert!(matches!(smtp.mail.transport, tessera_mail::Transport::Smtp(_)));
    assert_eq!(smtp.mail.from.to_string(), "Example ID <id@example.com>");
    let error = with(RawSettings { smtp_url: Some("smtps://mail.example.com".into()), ..RawSettings::default() });
    assert_eq!(error.unwrap_err().setting, "mail_from");
    let error =
        with(RawSettings { smtp_url: Some("smtp://u:p@mail.example.com?tls=none".into()), ..RawSettings::default() });
    assert_eq!(error.unwrap_err().setting, "smtp_url");
    let error = with(RawSettings { issuer_name: "".into(), ..RawSettings::default() });
    assert_eq!(error.unwrap_err().setting, "issuer_name");
}

#[test]
fn the_sign_in_policy_defaults_to_password_and_an_unknown_one_is_refused_naming_the_setting() {
    assert_eq!(with(RawSettings::default()).unwrap().sign_in_policy, tessera_domain::SignInPolicy::Password);
    let strict = with(RawSettings { sign_in_policy: "passkey".into(), ..RawSettings::default() }).unwrap();
    assert_eq!(strict.sign_in_policy, tessera_domain::SignInPolicy::Passkey);
    let error = with(RawSettings { sign_in_policy: "sms".into(), ..RawSettings::default() }).unwrap_err();
    assert_eq!(error.setting, "sign_in_policy");
}

#[test]
fn webauthn_settings_default_to_the_issuer_and_are_checked_when_set() {
    let defaults = with(RawSettings::default()).unwrap();
    assert_eq!(defaults.webauthn, WebauthnSettings::default());
    let party = defaults.webauthn.relying_party(defaults.issuer.as_str(), "Tessera").unwrap();
    assert_eq!(party.rp_id(), "localhost");
    // An issuer on an IP address is no error: passkeys are simply unavailable.
    let by_address = with(RawSettings { issuer: "http://127.0.0.1:8080".into(), ..RawSettings::default() }).unwrap();
    assert!(by_address.webauthn.relying_party(by_address.issuer.as_str(), "Tessera").is_err());
    let shared = with(RawSettings {
        issuer: "https://id.example.com".into(),
        webauthn_rp_id: Some("example.com".into()),
        webauthn_origins: vec!["https://id.example.com".into(), "https://login.example.com".into()],
        ..RawSettings::default()
    })
    .unwrap();
    assert_eq!(shared.webauthn.rp_id.as_deref(), Some("example.com"));
    let foreign = RawSettings {
        issuer: "https://id.example.com".into(),
        webauthn_rp_id: Some("other.org".into()),
        ..RawSettings::default()
    };
    assert_eq!(with(foreign).unwrap_err().setting, "webauthn_rp_id");
    let ip = RawSettings { webauthn_rp_id: Some("127.0.0.1".into()), ..RawSettings::default() };
    assert_eq!(with(ip).unwrap_err().setting, "webauthn_rp_id");
    let path = RawSettings { webauthn_origins: vec!["http://localhost:8080/login".into()], ..RawSettings::default() };
    assert_eq!(with(path).unwrap_err().setting, "webauthn_origins");
}
