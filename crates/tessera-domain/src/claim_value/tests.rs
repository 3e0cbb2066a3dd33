use proptest::prelude::*;
use serde_json::json;

use super::*;

fn parse(t: ClaimValueType, raw: &str) -> Result<Value, ClaimError> {
    t.parse_input(raw)
}

fn reason(err: ClaimError) -> String {
    match err {
        ClaimError::InvalidValue { reason, .. } => reason,
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn value_type_names_round_trip() {
    let names: Vec<&str> = ClaimValueType::ALL.iter().map(|t| t.as_str()).collect();
    assert_eq!(names, vec!["string", "boolean", "number", "date", "email", "phone", "url", "json"]);
    for t in ClaimValueType::ALL {
        assert_eq!(ClaimValueType::parse(t.as_str()).unwrap(), t);
        assert_eq!(t.as_str().parse::<ClaimValueType>().unwrap(), t);
        assert_eq!(t.to_string(), t.as_str());
        assert_eq!(serde_json::to_value(t).unwrap(), json!(t.as_str()));
        let back: ClaimValueType = serde_json::from_value(json!(t.as_str())).unwrap();
        assert_eq!(back, t);
    }
}

#[test]
fn an_unknown_value_type_is_refused_naming_it() {
    let err = ClaimValueType::parse("String").unwrap_err();
    assert_eq!(err, ClaimError::UnknownValueType { value: "String".into() });
    assert!(err.to_string().contains("\"String\""));
    assert!(serde_json::from_value::<ClaimValueType>(json!("text")).is_err());
}

#[test]
fn every_type_refuses_blank_input() {
    for t in ClaimValueType::ALL {
        assert_eq!(reason(parse(t, "  ").unwrap_err()), "is empty", "{t}");
    }
}

#[test]
fn strings_are_trimmed_and_bounded() {
    let t = ClaimValueType::String;
    assert_eq!(parse(t, "  John Doe ").unwrap(), json!("John Doe"));
    assert_eq!(parse(t, "line one\nline two").unwrap(), json!("line one\nline two"));
    assert!(parse(t, &"é".repeat(MAX_STRING_CLAIM_LEN)).is_ok());
    assert!(parse(t, &"é".repeat(MAX_STRING_CLAIM_LEN + 1)).is_err());
    assert_eq!(reason(parse(t, "a\u{0}b").unwrap_err()), "contains a control character");
}

#[test]
fn booleans_accept_the_usual_form_spellings() {
    let t = ClaimValueType::Boolean;
    for yes in ["true", "TRUE", "on", "1", "yes", " Yes "] {
        assert_eq!(parse(t, yes).unwrap(), json!(true), "{yes}");
    }
    for no in ["false", "off", "0", "no", "No"] {
        assert_eq!(parse(t, no).unwrap(), json!(false), "{no}");
    }
    assert!(parse(t, "maybe").is_err());
    assert!(parse(t, "2").is_err());
}

#[test]
fn numbers_are_finite_and_integers_stay_integers() {
    let t = ClaimValueType::Number;
    assert_eq!(parse(t, "42").unwrap(), json!(42));
    assert_eq!(parse(t, "-7").unwrap(), json!(-7));
    assert_eq!(parse(t, "18446744073709551615").unwrap(), json!(u64::MAX));
    assert_eq!(parse(t, "3.5").unwrap(), json!(3.5));
    assert_eq!(parse(t, "1e3").unwrap(), json!(1000.0));
    for bad in ["NaN", "inf", "-infinity", "1e400", "abc", "1,5", "0x10", "1_000"] {
        assert!(parse(t, bad).is_err(), "{bad}");
    }
}

#[test]
fn dates_follow_oidc_birthdate() {
    let t = ClaimValueType::Date;
    assert_eq!(parse(t, "1990-01-31").unwrap(), json!("1990-01-31"));
    assert_eq!(parse(t, "0000-02-29").unwrap(), json!("0000-02-29"));
    assert_eq!(parse(t, "1990").unwrap(), json!("1990"));
    assert!(parse(t, "2023-02-29").is_err());
    assert!(parse(t, "31/01/1990").is_err());
}

#[test]
fn emails_are_checked_and_their_domain_lowercased() {
    let t = ClaimValueType::Email;
    assert_eq!(parse(t, " John.Doe@Email.COM ").unwrap(), json!("John.Doe@email.com"));
    assert_eq!(reason(parse(t, "john.doe").unwrap_err()), "must contain an @");
    assert!(parse(t, "a@b").is_err());
}

#[test]
fn phones_are_normalised_to_e164() {
    let t = ClaimValueType::Phone;
    assert_eq!(parse(t, "+55 (11) 99999-9999").unwrap(), json!("+5511999999999"));
    assert_eq!(parse(t, "+1 604.555.1234").unwrap(), json!("+16045551234"));
    assert_eq!(parse(t, "+1 (604) 555-1234;ext=5678").unwrap(), json!("+16045551234;ext=5678"));
    assert_eq!(parse(t, "+5500000000000").unwrap(), json!("+5500000000000"));
}

#[test]
fn phones_without_plus_or_with_wrong_digit_counts_are_refused() {
    let t = ClaimValueType::Phone;
    for (bad, why) in [
        ("11 99999-9999", "must start with + and the country code (E.164)"),
        ("+123456", "must have 7 to 15 digits (E.164)"),
        ("+1234567890123456", "must have 7 to 15 digits (E.164)"),
        ("+0123456789", "has a country code starting with 0"),
        ("+1 604 555 CALL", "may only contain digits, spaces, dashes, dots and parentheses after +"),
        ("+16045551234;ext=", "has an extension that is not 1 to 10 digits"),
        ("+16045551234;ext=12a", "has an extension that is not 1 to 10 digits"),
    ] {
        assert_eq!(reason(parse(t, bad).unwrap_err()), why, "{bad}");
    }
    assert!(parse(t, "+1234567").is_ok());
    assert!(parse(t, "+123456789012345").is_ok());
}

#[test]
fn urls_must_be_absolute_http_or_https() {
    let t = ClaimValueType::Url;
    assert_eq!(parse(t, " https://example.com/me ").unwrap(), json!("https://example.com/me"));
    assert_eq!(parse(t, "http://example.com").unwrap(), json!("http://example.com"));
    for bad in [
        "example.com",
        "/relative",
        "javascript:alert(1)",
        "ftp://example.com/",
        "https://user:pw@example.com/",
        "https://exa mple.com/",
        "https:///path",
        "mailto:a@example.com",
    ] {
        assert!(parse(t, bad).is_err(), "{bad}");
    }
    assert!(parse(t, &format!("https://example.com/{}", "a".repeat(MAX_URL_CLAIM_LEN))).is_err());
}

#[test]
fn json_values_are_any_json_but_null_up_to_16_kib() {
    let t = ClaimValueType::Json;
    assert_eq!(
        parse(t, r#"{"street_address":"1 Main St","country":"BR"}"#).unwrap(),
        json!({"street_address": "1 Main St", "country": "BR"})
    );
    assert_eq!(parse(t, "[1,2]").unwrap(), json!([1, 2]));
    assert_eq!(parse(t, "\"s\"").unwrap(), json!("s"));
    assert_eq!(parse(t, "7").unwrap(), json!(7));
    assert!(parse(t, "null").is_err());
    assert_eq!(reason(parse(t, "{bad").unwrap_err()), "is not valid JSON");
    let big = format!("\"{}\"", "a".repeat(MAX_JSON_CLAIM_BYTES));
    assert_eq!(reason(parse(t, &big).unwrap_err()), "is larger than 16 KiB");
}

#[test]
fn deeply_nested_json_is_refused_not_a_crash() {
    let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    assert!(ClaimValueType::Json.parse_input(&deep).is_err());
}

#[test]
fn api_values_must_have_the_json_type_of_their_claim_type() {
    assert!(ClaimValueType::Boolean.check_value(&json!(true)).is_ok());
    assert!(ClaimValueType::Boolean.check_value(&json!("true")).is_err());
    assert!(ClaimValueType::Number.check_value(&json!(1.5)).is_ok());
    assert!(ClaimValueType::Number.check_value(&json!("1.5")).is_err());
    assert!(ClaimValueType::String.check_value(&json!("x")).is_ok());
    assert!(ClaimValueType::String.check_value(&json!(1)).is_err());
    assert!(ClaimValueType::Date.check_value(&json!("2024-02-29")).is_ok());
    assert!(ClaimValueType::Date.check_value(&json!("2023-02-29")).is_err());
    assert!(ClaimValueType::Json.check_value(&json!({"a": [1]})).is_ok());
    assert!(ClaimValueType::Url.check_value(&json!("https://x.example/")).is_ok());
    for t in ClaimValueType::ALL {
        assert!(t.check_value(&Value::Null).is_err(), "{t}");
    }
}

#[test]
fn api_values_must_already_be_canonical() {
    let phone = ClaimValueType::Phone;
    assert!(phone.check_value(&json!("+5511999999999")).is_ok());
    let err = phone.check_value(&json!("+55 11 99999-9999")).unwrap_err();
    assert!(reason(err).contains("E.164"));
    assert!(ClaimValueType::String.check_value(&json!(" x ")).is_err());
    assert!(ClaimValueType::Email.check_value(&json!("a@B.com")).is_err());
    assert!(ClaimValueType::Email.check_value(&json!("A@b.com")).is_ok());
}

#[test]
fn api_values_can_be_normalised_instead() {
    assert_eq!(ClaimValueType::Phone.normalize_value(&json!(" +55 (11) 9999-9999 ")).unwrap(), json!("+551199999999"));
    assert_eq!(ClaimValueType::Boolean.normalize_value(&json!(false)).unwrap(), json!(false));
}

#[test]
fn api_json_values_are_bounded() {
    let big = json!({"a": "b".repeat(MAX_JSON_CLAIM_BYTES)});
    assert!(ClaimValueType::Json.check_value(&big).is_err());
}

#[test]
fn value_errors_do_not_repeat_the_value() {
    let err = ClaimValueType::Phone.parse_input("+1 555 SECRET").unwrap_err();
    assert!(!err.to_string().contains("SECRET"));
    assert_eq!(err.claim(), None);
}

proptest! {
    #[test]
    fn parse_input_never_panics(raw in any::<String>()) {
        for t in ClaimValueType::ALL {
            let _ = t.parse_input(&raw);
        }
    }

    #[test]
    fn parse_input_never_panics_on_near_misses(raw in "[+0-9a-z@.:/ ()-]{0,40}") {
        for t in ClaimValueType::ALL {
            let _ = t.parse_input(&raw);
        }
    }

    #[test]
    fn a_parsed_value_is_canonical(raw in "[+0-9a-zA-Z@. -]{0,30}") {
        for t in ClaimValueType::ALL {
            if let Ok(value) = t.parse_input(&raw) {
                prop_assert!(t.check_value(&value).is_ok(), "{} {:?}", t, value);
            }
        }
    }
}
