#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

fn refusal(password: &str, account: &[&str]) -> PasswordRefused {
    match PasswordPolicy::default().check(password.to_owned(), account) {
        Ok(_) => panic!("{password:?} was accepted"),
        Err(refused) => refused,
    }
}

fn weakness(password: &str, account: &[&str]) -> Weakness {
    match refusal(password, account) {
        PasswordRefused::TooEasyToGuess { weakness, .. } => weakness,
        other => panic!("{password:?} was refused for its length: {other}"),
    }
}

#[test]
fn the_most_common_password_is_refused_as_too_common() {
    assert_eq!(weakness("password", &[]), Weakness::Common);
    let message = refusal("password", &[]).to_string();
    assert!(message.starts_with("This password is too common"), "{message}");
}

#[test]
fn eight_spaces_are_refused_as_easy_to_guess() {
    let refused = refusal("        ", &[]);
    assert!(matches!(refused, PasswordRefused::TooEasyToGuess { weakness: Weakness::Predictable(Some(_)), .. }));
    let message = refused.to_string();
    assert!(message.starts_with("This password is too easy to guess. Repeats like"), "{message}");
}

#[test]
fn a_capitalised_common_password_with_a_digit_is_refused() {
    assert_eq!(weakness("Password1", &[]), Weakness::Common);
}

#[test]
fn a_password_made_of_the_username_and_digits_is_refused() {
    // Not a common word: only the account's own words make it guessable.
    assert!(PasswordPolicy::default().check("quokkaorbit42".into(), &[]).is_ok());
    assert_eq!(weakness("quokkaorbit42", &["quokkaorbit"]), Weakness::Personal);
    let message = refusal("quokkaorbit42", &["quokkaorbit", "q.orbit@example.com"]).to_string();
    assert!(message.contains("built from your username, e-mail address or name"), "{message}");
    assert!(message.contains("Leave out your username"), "{message}");
}

#[test]
fn a_password_built_from_a_piece_of_the_email_address_is_refused() {
    assert_eq!(weakness("lovelace-1815", &["ada", "ada.lovelace@example.com"]), Weakness::Personal);
}

#[test]
fn a_password_built_from_the_site_name_is_refused() {
    let policy = PasswordPolicy::default().with_context_words(["id.quokkabank.example"]);
    assert!(policy.context_words().iter().any(|w| w == "quokkabank"));
    assert!(PasswordPolicy::default().check("quokkabank2024".into(), &[]).is_ok());
    match policy.check("quokkabank2024".into(), &[]) {
        Err(PasswordRefused::TooEasyToGuess { weakness: Weakness::SiteName, .. }) => {}
        other => panic!("{other:?}"),
    }
    assert!(PasswordPolicy::default().check("tessera2026".into(), &[]).is_err());
}

#[test]
fn a_long_passphrase_is_accepted_and_kept_whole() {
    for passphrase in ["purple giraffes eat quietly at noon", "correct horse battery staple"] {
        let password = PasswordPolicy::default().check(passphrase.to_owned(), &["alice", "alice@example.com"]).unwrap();
        assert_eq!(password.expose(), passphrase);
    }
}

#[test]
fn passwords_of_64_characters_and_more_are_accepted_whole() {
    let long: String = "Tr0ub4dor&3-é-".chars().cycle().take(300).collect();
    let password = PasswordPolicy::default().check(long.clone(), &[]).unwrap();
    assert_eq!(password.expose(), long);
}

#[test]
fn the_length_rules_come_first_and_count_characters() {
    assert_eq!(
        refusal("Kx9!mQ2", &[]),
        PasswordRefused::Length(PasswordError::TooShort { min: tessera_domain::names::MIN_PASSWORD_CHARS })
    );
    assert_eq!(refusal("Kx9!mQ2", &[]).to_string(), "The password must have at least 8 characters.");
    let too_long = "x".repeat(tessera_domain::names::MAX_PASSWORD_CHARS + 1);
    assert!(matches!(refusal(&too_long, &[]), PasswordRefused::Length(PasswordError::TooLong { .. })));
}

#[test]
fn the_minimum_score_is_honoured() {
    // "a fine password" scores 3 (about 10^9 guesses), "password" 0.
    let at = |min| PasswordPolicy::new(min).unwrap();
    assert!(at(3).check("a fine password".into(), &[]).is_ok());
    assert!(matches!(at(4).check("a fine password".into(), &[]), Err(PasswordRefused::TooEasyToGuess { .. })));
    assert!(at(1).check("password".into(), &[]).is_err());
    assert!(at(0).check("password".into(), &[]).is_ok(), "0 keeps only the length rules");
    assert!(at(0).check("passwor".into(), &[]).is_err());
    assert_eq!(PasswordPolicy::default().min_score(), DEFAULT_MIN_SCORE);
}

#[test]
fn a_minimum_score_above_4_is_refused() {
    assert_eq!(PasswordPolicy::new(5), Err(MinScoreOutOfRange(5)));
    assert!(PasswordPolicy::new(4).is_ok());
}

#[test]
fn a_refusal_never_repeats_the_password() {
    for (password, account) in [
        ("iloveyou2", &[][..]),
        ("quokkaorbit42", &["quokkaorbit"][..]),
        ("Kx9!mQ2", &[][..]),
        ("zxcvbnmasdf", &[][..]),
    ] {
        let refused = refusal(password, account);
        assert!(!refused.to_string().contains(password), "{refused}");
        assert!(!format!("{refused:?}").contains(password), "{refused:?}");
    }
}

#[test]
fn every_refusal_for_guessability_gives_advice() {
    match PasswordPolicy::new(4).unwrap().check("a fine password".into(), &[]) {
        Err(PasswordRefused::TooEasyToGuess { advice, .. }) => assert!(!advice.is_empty()),
        other => panic!("{other:?}"),
    }
}
