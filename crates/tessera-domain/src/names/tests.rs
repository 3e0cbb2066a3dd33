use super::*;

#[test]
fn slug_names_accept_the_documented_charset() {
    for ok in ["library-api", "library-api:checked_books", "v2.orders", "0day", "a"] {
        assert_eq!(ScopeName::parse(ok).unwrap().as_str(), ok);
        assert_eq!(ConnectionName::parse(ok).unwrap().to_string(), ok);
        assert!(RoleName::parse(ok).is_ok());
        assert!(OrganizationName::parse(ok).is_ok());
    }
    assert!(ScopeName::parse(&"a".repeat(MAX_NAME_LEN)).is_ok());
}

#[test]
fn slug_names_refuse_anything_else_naming_kind_and_value() {
    for bad in ["", "Library", "-api", ".api", "_api", "my api", "api/v1", "https://api.example.com", "café", "a\"b"] {
        let err = ConnectionName::parse(bad).unwrap_err();
        assert_eq!(err.kind, NameKind::Connection);
        assert_eq!(err.value, bad);
        assert!(err.to_string().starts_with("connection name "), "{bad:?}: {err}");
    }
    let err = ScopeName::parse(&"a".repeat(MAX_NAME_LEN + 1)).unwrap_err();
    assert_eq!(err.reason, "is longer than 100 characters");
    assert_eq!(RoleName::parse("X").unwrap_err().kind, NameKind::Role);
    assert_eq!(OrganizationName::parse("X").unwrap_err().kind, NameKind::Organization);
}

#[test]
fn slug_names_are_valid_scope_tokens() {
    let name = ConnectionName::parse("library-api").unwrap();
    assert_eq!(crate::scope::ScopeToken::parse(name.as_str()).unwrap().as_str(), "library-api");
}

#[test]
fn slug_names_round_trip_through_serde() {
    let n: ScopeName = serde_json::from_str("\"orders:read\"").unwrap();
    assert_eq!(serde_json::to_string(&n).unwrap(), "\"orders:read\"");
    assert!(serde_json::from_str::<ScopeName>("\"Orders\"").is_err());
}

#[test]
fn display_names_are_trimmed_and_bounded() {
    assert_eq!(DisplayName::parse("  Library API ").unwrap().as_str(), "Library API");
    assert_eq!(DisplayName::parse("Numéro ✓").unwrap().as_str(), "Numéro ✓");
    assert!(DisplayName::parse("   ").is_err());
    assert!(DisplayName::parse("a\nb").is_err());
    assert!(DisplayName::parse(&"é".repeat(MAX_DISPLAY_NAME_LEN)).is_ok());
    assert!(DisplayName::parse(&"é".repeat(MAX_DISPLAY_NAME_LEN + 1)).is_err());
}

#[test]
fn usernames_are_trimmed_and_lowercased() {
    assert_eq!(Username::parse("  John.Doe ").unwrap().as_str(), "john.doe");
    assert_eq!(Username::parse("Jane_D-1@Example.com").unwrap().as_str(), "jane_d-1@example.com");
}

#[test]
fn usernames_have_three_to_sixty_four_characters() {
    assert!(Username::parse("abc").is_ok());
    assert!(Username::parse("ab").is_err());
    assert!(Username::parse(&"a".repeat(64)).is_ok());
    let err = Username::parse(&"a".repeat(65)).unwrap_err();
    assert_eq!(err.reason, "must have 3 to 64 characters");
}

#[test]
fn usernames_refuse_other_characters() {
    for bad in ["john doe", "jöhn", "john+1", "john/x", "a\u{0}b"] {
        let err = Username::parse(bad).unwrap_err();
        assert_eq!(err.kind, NameKind::Username, "{bad:?}");
    }
}

#[test]
fn unicode_case_folding_cannot_forge_an_ascii_username() {
    // KELVIN SIGN lowercases to 'k' under full Unicode rules.
    assert!(Username::parse("\u{212A}evin").is_err());
}

#[test]
fn emails_are_trimmed_and_lowercased() {
    assert_eq!(Email::parse(" John.Doe@Example.COM ").unwrap().as_str(), "john.doe@example.com");
    assert!(Email::parse("a+tag@sub.example.co.uk").is_ok());
    assert!(Email::parse("josé@exemplo.com.br").is_ok());
}

#[test]
fn malformed_emails_are_refused_with_a_reason() {
    for (bad, reason) in [
        ("", "must not be empty"),
        ("john.example.com", "must contain an @"),
        ("a@b@example.com", "must contain only one @"),
        ("@example.com", "has nothing before the @"),
        ("john@localhost", "must have a domain with a dot after the @"),
        ("john doe@example.com", "must not contain spaces"),
        ("john@exa mple.com", "must not contain spaces"),
        (".john@example.com", "has a misplaced dot before the @"),
        ("jo..hn@example.com", "has a misplaced dot before the @"),
        ("john@example..com", "has an invalid domain after the @"),
        ("john@-example.com", "has an invalid domain after the @"),
        ("john@example.com.", "has an invalid domain after the @"),
        ("john@exam_ple.com", "has an invalid domain after the @"),
        ("<john@example.com>", "contains a character not allowed in an e-mail address"),
        ("\"j\"@example.com", "contains a character not allowed in an e-mail address"),
    ] {
        let err = Email::parse(bad).unwrap_err();
        assert_eq!(err.reason, reason, "{bad:?}");
        assert_eq!(err.kind, NameKind::Email);
    }
}

#[test]
fn email_local_part_and_total_length_are_bounded() {
    let local64 = "a".repeat(64);
    assert!(Email::parse(&format!("{local64}@example.com")).is_ok());
    assert!(Email::parse(&format!("a{local64}@example.com")).is_err());
    let long_domain = format!("{}.com", vec!["d".repeat(60); 5].join("."));
    let err = Email::parse(&format!("a@{long_domain}")).unwrap_err();
    assert_eq!(err.reason, "is longer than 254 characters");
}

#[test]
fn the_email_claim_keeps_the_local_part_case() {
    assert_eq!(normalize_email_domain("John@Example.COM"), "John@example.com");
}

#[test]
fn passwords_need_at_least_eight_characters() {
    assert_eq!(Password::check_length("1234567"), Err(PasswordError::TooShort { min: 8 }));
    assert!(Password::check_length("12345678").is_ok());
    assert_eq!(PasswordError::TooShort { min: 8 }.to_string(), "the password must have at least 8 characters");
}

#[test]
fn password_length_counts_characters_not_bytes() {
    // Seven characters, fourteen bytes.
    assert!(Password::check_length("ééééééé").is_err());
    assert!(Password::check_length("éééééééé").is_ok());
}

#[test]
fn long_passwords_are_accepted_and_kept_whole() {
    let long = "correct horse battery staple ".repeat(40);
    assert!(long.chars().count() > 1024);
    let p = Password::new(long.clone()).unwrap();
    assert_eq!(p.expose(), long);
    assert!(Password::check_length(&"x".repeat(MAX_PASSWORD_CHARS)).is_ok());
    assert_eq!(
        Password::check_length(&"x".repeat(MAX_PASSWORD_CHARS + 1)),
        Err(PasswordError::TooLong { max: MAX_PASSWORD_CHARS })
    );
}

#[test]
fn the_length_rules_have_no_composition_rules() {
    for p in ["aaaaaaaa", "        ", "password", "12345678", "пароль-пароль"] {
        assert!(Password::check_length(p).is_ok(), "{p:?}");
    }
}

#[test]
fn a_password_is_never_shown_by_debug() {
    let p = Password::new("hunter2hunter2".into()).unwrap();
    assert_eq!(format!("{p:?}"), "Password(<redacted>)");
}
