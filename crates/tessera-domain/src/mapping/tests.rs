use super::*;

fn input<'a>(subject: &'a str, source: &'a str, path: &'a str, name: &'a str) -> ClaimRuleInput<'a> {
    ClaimRuleInput { subject, source, path, name, ..ClaimRuleInput::default() }
}

#[test]
fn a_user_rule_defaults_to_every_output_and_refresh() {
    let rule = ClaimRule::parse(&input("user", "roles", "", "roles")).unwrap();
    assert_eq!(rule.claim, "roles");
    assert_eq!(rule.source, MappingSource::Roles);
    assert_eq!(rule.outputs, Outputs::of(Output::ALL));
    assert_eq!(rule.freshness, Freshness::Refresh);
}

#[test]
fn a_machine_rule_goes_to_the_access_token_and_introspection_only() {
    let rule = ClaimRule::parse(&input("machine", "application_metadata", "/tenant", "tenant")).unwrap();
    assert_eq!(rule.outputs, Outputs::ACCESS);
    assert_eq!(rule.outputs.to_text(), "access_token introspection");
    let outputs = vec!["id_token".to_owned()];
    let err =
        ClaimRule::parse(&ClaimRuleInput { outputs: &outputs, ..input("machine", "script", "", "t") }).unwrap_err();
    assert_eq!(err.field, "outputs");
}

#[test]
fn machine_tokens_have_no_user_data_to_map() {
    for source in ["claim", "app_metadata", "user_metadata", "roles", "organization_id"] {
        let path = if source == "claim" { "email" } else { "" };
        let err = ClaimRule::parse(&input("machine", source, path, "x")).unwrap_err();
        assert_eq!(err.field, "source", "{source}");
    }
}

#[test]
fn namespaces_are_joined_with_one_slash() {
    for (namespace, claim) in [
        ("https://example.com", "https://example.com/roles"),
        ("https://example.com/", "https://example.com/roles"),
        ("http://example.com/claims", "http://example.com/claims/roles"),
    ] {
        let rule = ClaimRule::parse(&ClaimRuleInput { namespace, ..input("user", "roles", "", "roles") }).unwrap();
        assert_eq!(rule.claim, claim);
        assert_eq!(rule.namespace.as_deref(), Some(namespace));
        assert_eq!(rule.name, "roles");
    }
}

#[test]
fn bad_namespaces_are_refused_beside_their_field() {
    for namespace in
        ["example.com", "ftp://example.com/", "https://example.com/?a=1", "https://u:p@example.com/", "https://"]
    {
        let err = ClaimRule::parse(&ClaimRuleInput { namespace, ..input("user", "roles", "", "roles") }).unwrap_err();
        assert_eq!(err.field, "namespace", "{namespace}");
    }
}

#[test]
fn registered_claims_cannot_be_targets() {
    for name in ["sub", "SCOPE", "grant_id", "aud"] {
        let err = ClaimRule::parse(&input("user", "roles", "", name)).unwrap_err();
        assert_eq!(err.field, "name", "{name}");
        assert!(err.message.contains("registered"), "{err}");
    }
    assert_eq!(ClaimRule::parse(&input("user", "roles", "", "")).unwrap_err().field, "name");
    assert_eq!(ClaimRule::parse(&input("user", "roles", "", "my roles")).unwrap_err().field, "name");
}

#[test]
fn paths_are_checked_for_their_source() {
    assert_eq!(
        ClaimRule::parse(&input("user", "app_metadata", "/plan/tier", "plan")).unwrap().source,
        MappingSource::AppMetadata(JsonPointer::parse("/plan/tier").unwrap())
    );
    assert_eq!(ClaimRule::parse(&input("user", "app_metadata", "plan", "plan")).unwrap_err().field, "path");
    assert_eq!(ClaimRule::parse(&input("user", "user_metadata", "/a~2b", "plan")).unwrap_err().field, "path");
    assert_eq!(ClaimRule::parse(&input("user", "roles", "/x", "roles")).unwrap_err().field, "path");
    assert_eq!(ClaimRule::parse(&input("user", "claim", "Not A Claim", "x")).unwrap_err().field, "path");
    assert_eq!(ClaimRule::parse(&input("user", "organization_id", "Acme Inc", "org")).unwrap_err().field, "path");
    let org = ClaimRule::parse(&input("user", "organization_roles", "acme", "org_roles")).unwrap();
    assert_eq!(org.source.path(), "acme");
    assert_eq!(ClaimRule::parse(&input("user", "nonsense", "", "x")).unwrap_err().field, "source");
    assert_eq!(ClaimRule::parse(&input("robot", "roles", "", "x")).unwrap_err().field, "subject");
}

#[test]
fn every_source_round_trips_through_its_name_and_path() {
    for (source, path) in [
        ("claim", "email"),
        ("app_metadata", "/plan"),
        ("user_metadata", ""),
        ("roles", ""),
        ("organization_id", "acme"),
        ("organization_name", ""),
        ("organization_roles", "acme"),
        ("application_metadata", "/tier"),
        ("script", ""),
    ] {
        let parsed = MappingSource::parse(source, path).unwrap();
        assert_eq!((parsed.name(), parsed.path()), (source, path));
        assert_eq!(MappingSource::parse(parsed.name(), parsed.path()).unwrap(), parsed);
    }
}

#[test]
fn outputs_and_freshness_parse_and_print() {
    let outputs = Outputs::parse(&["userinfo", "id_token"]).unwrap();
    assert_eq!(outputs.to_text(), "id_token userinfo");
    assert!(outputs.contains(Output::Userinfo) && !outputs.contains(Output::AccessToken));
    assert_eq!(Outputs::parse::<&str>(&[]).unwrap_err().field, "outputs");
    assert_eq!(Outputs::parse(&["cookie"]).unwrap_err().field, "outputs");
    let freshness = vec!["access_token".to_owned()];
    let rule = ClaimRule::parse(&ClaimRuleInput {
        outputs: &freshness,
        freshness: "grant",
        ..input("user", "roles", "", "roles")
    })
    .unwrap();
    assert_eq!((rule.outputs, rule.freshness), (Outputs::of([Output::AccessToken]), Freshness::Grant));
    let err = ClaimRule::parse(&ClaimRuleInput { freshness: "daily", ..input("user", "roles", "", "r") }).unwrap_err();
    assert_eq!(err.field, "freshness");
}
