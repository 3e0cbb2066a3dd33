use proptest::prelude::*;

use super::*;

fn set(s: &str) -> ScopeSet {
    ScopeSet::parse(s).unwrap()
}

fn catalog() -> ScopeCatalog {
    ScopeCatalog::standard()
        .with_identity_scope("roles", ["roles"])
        .unwrap()
        .with_api_scope("library-api", "library-api")
        .unwrap()
        .with_api_scope("library-api-checked-books", "library-api")
        .unwrap()
        .with_api_scope("billing", "billing")
        .unwrap()
        .with_api_scope("secret-api", "secret-api")
        .unwrap()
}

fn allowed() -> AllowedScopes {
    AllowedScopes {
        identity: set("openid profile email name"),
        api: set("library-api library-api-checked-books billing"),
        offline_access: true,
    }
}

// ---- ScopeToken ----

#[test]
fn a_scope_token_accepts_every_rfc_6749_character() {
    let all: String = (0x21u8..=0x7e).map(char::from).filter(|c| *c != '"' && *c != '\\').collect();
    assert_eq!(ScopeToken::parse(&all).unwrap().as_str(), all);
    assert_eq!(ScopeToken::parse("https://api.example.com/read").unwrap().to_string(), "https://api.example.com/read");
}

#[test]
fn an_empty_scope_token_is_refused() {
    assert_eq!(ScopeToken::parse(""), Err(ScopeError::EmptyToken));
}

#[test]
fn a_scope_token_with_a_quote_backslash_space_or_non_ascii_is_refused() {
    for (raw, bad) in [("a\"b", '"'), ("a\\b", '\\'), ("a b", ' '), ("é", 'é'), ("a\tb", '\t'), ("a\u{7f}", '\u{7f}')]
    {
        assert_eq!(ScopeToken::parse(raw), Err(ScopeError::InvalidCharacter { token: raw.into(), ch: bad }), "{raw:?}");
    }
}

#[test]
fn a_scope_token_longer_than_the_limit_is_refused() {
    assert!(ScopeToken::parse(&"a".repeat(MAX_SCOPE_TOKEN_LEN)).is_ok());
    let err = ScopeToken::parse(&"a".repeat(MAX_SCOPE_TOKEN_LEN + 1)).unwrap_err();
    assert!(matches!(err, ScopeError::TooLong { max: MAX_SCOPE_TOKEN_LEN, .. }));
}

#[test]
fn scope_errors_name_the_scope_in_their_message() {
    let err = ScopeToken::parse("bad\"one").unwrap_err();
    assert!(err.to_string().contains("bad\\\"one"), "{err}");
    assert_eq!(err.scope(), Some("bad\"one"));
    assert_eq!(err.oauth_error_code(), "invalid_scope");
}

#[test]
fn scope_tokens_round_trip_through_serde() {
    let t: ScopeToken = serde_json::from_str("\"openid\"").unwrap();
    assert_eq!(serde_json::to_string(&t).unwrap(), "\"openid\"");
    assert!(serde_json::from_str::<ScopeToken>("\"a b\"").is_err());
}

// ---- ScopeSet ----

#[test]
fn duplicate_scopes_are_removed() {
    let s = set("openid profile openid");
    assert_eq!(s.len(), 2);
    assert_eq!(s.to_string(), "openid profile");
}

#[test]
fn scope_order_does_not_matter() {
    assert_eq!(set("profile openid email"), set("email openid profile"));
}

#[test]
fn the_canonical_string_is_sorted_with_single_spaces() {
    assert_eq!(set("  profile   openid ").to_string(), "openid profile");
}

#[test]
fn an_empty_string_is_the_empty_set() {
    assert!(set("").is_empty());
    assert!(set("   ").is_empty());
    assert_eq!(ScopeSet::new().to_string(), "");
}

#[test]
fn tabs_and_newlines_are_not_separators() {
    assert!(matches!(ScopeSet::parse("openid\tprofile"), Err(ScopeError::InvalidCharacter { ch: '\t', .. })));
    assert!(matches!(ScopeSet::parse("openid\nprofile"), Err(ScopeError::InvalidCharacter { ch: '\n', .. })));
}

#[test]
fn a_set_reports_the_offending_token() {
    let err = ScopeSet::parse("openid pro\"file").unwrap_err();
    assert_eq!(err.scope(), Some("pro\"file"));
}

#[test]
fn set_operations_behave_like_sets() {
    let a = set("openid profile email");
    let b = set("openid email phone");
    assert!(a.contains("email"));
    assert!(!a.contains("phone"));
    assert_eq!(a.intersection(&b), set("email openid"));
    assert_eq!(a.union(&b), set("openid profile email phone"));
    assert!(set("openid").is_subset(&a));
    assert!(!b.is_subset(&a));
    assert!(ScopeSet::new().is_subset(&a));
    let names: Vec<&str> = a.iter().map(ScopeToken::as_str).collect();
    assert_eq!(names, vec!["email", "openid", "profile"]);
}

#[test]
fn insert_and_remove_report_changes() {
    let mut s = set("openid");
    assert!(!s.insert(ScopeToken::parse("openid").unwrap()));
    assert!(s.insert(ScopeToken::parse("email").unwrap()));
    assert!(s.remove("email"));
    assert!(!s.remove("email"));
    assert_eq!(s, set("openid"));
}

#[test]
fn openid_and_offline_access_are_detected() {
    let s = set("offline_access openid");
    assert!(s.has_openid());
    assert!(s.has_offline_access());
    assert!(!set("profile").has_openid());
    assert!(!set("profile").has_offline_access());
    assert_eq!(OPENID, "openid");
    assert_eq!(OFFLINE_ACCESS, "offline_access");
}

#[test]
fn a_set_collects_from_tokens() {
    let s: ScopeSet = ["b", "a", "b"].iter().map(|t| ScopeToken::parse(t).unwrap()).collect();
    assert_eq!(s.to_string(), "a b");
    let owned: Vec<String> = s.into_iter().map(ScopeToken::into_string).collect();
    assert_eq!(owned, vec!["a", "b"]);
}

#[test]
fn a_set_serializes_as_one_space_separated_string() {
    let s = set("profile openid");
    assert_eq!(serde_json::to_string(&s).unwrap(), "\"openid profile\"");
    let back: ScopeSet = serde_json::from_str("\"openid profile\"").unwrap();
    assert_eq!(back, s);
}

#[test]
fn a_set_also_reads_a_json_array() {
    let s: ScopeSet = serde_json::from_str(r#"["profile","openid"]"#).unwrap();
    assert_eq!(s, set("openid profile"));
    assert!(serde_json::from_str::<ScopeSet>(r#"["a b"]"#).is_err());
    assert!(serde_json::from_str::<ScopeSet>("42").is_err());
}

// ---- resolution ----

#[test]
fn allowed_scopes_are_granted_and_split_by_kind() {
    let r = resolve_requested(&set("openid profile library-api-checked-books offline_access"), &catalog(), &allowed())
        .unwrap();
    let identity: Vec<&str> = r.identity.iter().map(|g| g.scope.as_str()).collect();
    assert_eq!(identity, vec!["openid", "profile"]);
    assert_eq!(r.identity[0].claims, vec!["sub"]);
    assert_eq!(
        r.api,
        vec![ApiGrant {
            scope: ScopeToken::parse("library-api-checked-books").unwrap(),
            connection: "library-api".into()
        }]
    );
    assert!(r.offline_access);
    assert!(r.refused.is_empty());
    assert!(r.has_openid());
    assert_eq!(r.granted(), set("openid profile library-api-checked-books offline_access"));
    assert_eq!(r.connections(), vec!["library-api"]);
}

#[test]
fn an_unknown_scope_refuses_the_request() {
    let err = resolve_requested(&set("openid admin"), &catalog(), &allowed()).unwrap_err();
    assert_eq!(err, ScopeError::NotAllowed { scope: "admin".into(), reason: RefusalReason::Unknown });
    assert_eq!(err.to_string(), "scope \"admin\" does not exist");
}

#[test]
fn a_scope_not_allowed_to_the_application_refuses_the_request() {
    for scope in ["secret-api", "roles", "phone"] {
        let err = resolve_requested(&set(&format!("openid {scope}")), &catalog(), &allowed()).unwrap_err();
        assert_eq!(
            err,
            ScopeError::NotAllowed { scope: scope.into(), reason: RefusalReason::NotAllowedForApplication }
        );
    }
}

#[test]
fn openid_must_be_allowed_like_any_identity_scope() {
    let mut a = allowed();
    a.identity = set("profile");
    let err = resolve_requested(&set("openid"), &catalog(), &a).unwrap_err();
    assert_eq!(err.scope(), Some("openid"));
}

#[test]
fn offline_access_needs_refresh_tokens_enabled() {
    let mut a = allowed();
    a.offline_access = false;
    let err = resolve_requested(&set("openid offline_access"), &catalog(), &a).unwrap_err();
    assert_eq!(
        err,
        ScopeError::NotAllowed { scope: "offline_access".into(), reason: RefusalReason::RefreshTokensDisabled }
    );
}

#[test]
fn identity_scopes_without_openid_are_granted_but_not_openid_connect() {
    let r = resolve_requested(&set("profile billing"), &catalog(), &allowed()).unwrap();
    assert_eq!(r.identity_scopes(), set("profile"));
    assert!(!r.has_openid());
}

#[test]
fn the_first_refused_scope_in_sorted_order_is_reported() {
    let err = resolve_requested(&set("zzz openid aaa"), &catalog(), &allowed()).unwrap_err();
    assert_eq!(err.scope(), Some("aaa"));
}

#[test]
fn lenient_resolution_lists_what_it_refused() {
    let r = resolve_requested_lenient(&set("openid secret-api nope billing"), &catalog(), &allowed());
    assert_eq!(r.granted(), set("openid billing"));
    let refused: Vec<(&str, RefusalReason)> = r.refused.iter().map(|x| (x.scope.as_str(), x.reason)).collect();
    assert_eq!(
        refused,
        vec![("nope", RefusalReason::Unknown), ("secret-api", RefusalReason::NotAllowedForApplication)]
    );
}

#[test]
fn an_empty_request_grants_nothing() {
    let r = resolve_requested(&ScopeSet::new(), &catalog(), &allowed()).unwrap();
    assert!(r.is_empty());
    assert!(r.connections().is_empty());
}

#[test]
fn client_credentials_grant_only_api_scopes() {
    let r = resolve_for_client_credentials(&set("billing"), &catalog(), &allowed()).unwrap();
    assert_eq!(r.granted(), set("billing"));
    assert!(r.identity.is_empty());
    assert!(!r.offline_access);
}

#[test]
fn client_credentials_refuse_identity_scopes() {
    let err = resolve_for_client_credentials(&set("openid billing"), &catalog(), &allowed()).unwrap_err();
    assert_eq!(err, ScopeError::NotAllowed { scope: "openid".into(), reason: RefusalReason::NeedsUser });
    assert!(err.to_string().contains("needs a user"));
}

#[test]
fn client_credentials_refuse_offline_access() {
    let err = resolve_for_client_credentials(&set("billing offline_access"), &catalog(), &allowed()).unwrap_err();
    assert_eq!(
        err,
        ScopeError::NotAllowed { scope: "offline_access".into(), reason: RefusalReason::NoRefreshForClientCredentials }
    );
}

#[test]
fn client_credentials_with_no_scope_get_every_allowed_api_scope() {
    let mut a = allowed();
    a.api.insert(ScopeToken::parse("deleted-api").unwrap());
    let r = resolve_for_client_credentials(&ScopeSet::new(), &catalog(), &a).unwrap();
    assert_eq!(r.granted(), set("billing library-api library-api-checked-books"));
    assert_eq!(r.connections(), vec!["billing", "library-api"]);
}

#[test]
fn client_credentials_without_any_api_scope_is_refused() {
    let mut a = allowed();
    a.api = ScopeSet::new();
    assert_eq!(resolve_for_client_credentials(&ScopeSet::new(), &catalog(), &a), Err(ScopeError::NothingToGrant));
}

#[test]
fn client_credentials_refuse_disallowed_api_scopes() {
    let err = resolve_for_client_credentials(&set("secret-api"), &catalog(), &allowed()).unwrap_err();
    assert_eq!(err.scope(), Some("secret-api"));
}

// ---- narrowing ----

#[test]
fn a_refresh_without_scope_keeps_the_granted_set() {
    let granted = set("openid profile billing");
    assert_eq!(narrow(&granted, &ScopeSet::new()).unwrap(), granted);
}

#[test]
fn a_refresh_may_narrow_the_scope() {
    let granted = set("openid profile billing");
    assert_eq!(narrow(&granted, &set("billing openid")).unwrap(), set("openid billing"));
}

#[test]
fn a_refresh_never_widens_the_scope() {
    let err = narrow(&set("openid billing"), &set("openid billing admin")).unwrap_err();
    assert_eq!(err, ScopeError::NotGranted { scope: "admin".into() });
    assert_eq!(err.oauth_error_code(), "invalid_scope");
}

// ---- properties ----

fn token_strategy() -> impl Strategy<Value = String> {
    "[!#-\\[\\]-~]{1,12}"
}

proptest! {
    #[test]
    fn parsing_is_order_insensitive(tokens in prop::collection::vec(token_strategy(), 0..8)) {
        let forward = tokens.join(" ");
        let mut reversed = tokens.clone();
        reversed.reverse();
        let backward = reversed.join("  ");
        prop_assert_eq!(ScopeSet::parse(&forward).unwrap(), ScopeSet::parse(&backward).unwrap());
    }

    #[test]
    fn parsing_the_canonical_string_gives_the_same_set(tokens in prop::collection::vec(token_strategy(), 0..8)) {
        let parsed = ScopeSet::parse(&tokens.join(" ")).unwrap();
        let again = ScopeSet::parse(&parsed.to_string()).unwrap();
        prop_assert_eq!(&again, &parsed);
        prop_assert_eq!(again.to_string(), parsed.to_string());
    }

    #[test]
    fn parsing_never_panics(raw in any::<String>()) {
        let _ = ScopeSet::parse(&raw);
        let _ = ScopeToken::parse(&raw);
    }

    #[test]
    fn any_character_outside_the_rfc_6749_set_is_refused(
        prefix in token_strategy(),
        bad in any::<char>().prop_filter("outside the scope set", |c| *c != ' ' && !is_scope_char(*c)),
        suffix in "[a-z]{0,5}",
    ) {
        let raw = format!("{prefix}{bad}{suffix}");
        let is_invalid_char = matches!(
            ScopeSet::parse(&raw),
            Err(ScopeError::InvalidCharacter { ch, .. }) if ch == bad
        );
        prop_assert!(is_invalid_char);
    }

    #[test]
    fn a_narrowed_set_is_a_subset_of_the_grant(tokens in prop::collection::vec(token_strategy(), 0..8), keep in any::<u8>()) {
        let granted = ScopeSet::parse(&tokens.join(" ")).unwrap();
        let requested: ScopeSet = granted
            .iter()
            .enumerate()
            .filter(|(i, _)| (keep >> (i % 8)) & 1 == 1)
            .map(|(_, t)| t.clone())
            .collect();
        let narrowed = narrow(&granted, &requested).unwrap();
        prop_assert!(narrowed.is_subset(&granted));
    }
}
