use super::*;

use ApplicationType::{Machine, Native, Spa, Web};
use GrantType::{AuthorizationCode, ClientCredentials, DeviceCode, Password, RefreshToken};

fn settings(
    app_type: ApplicationType,
    auth_method: ClientAuthMethod,
    grant_types: &[GrantType],
    redirect_uri_count: usize,
) -> Result<(), ApplicationSettingsError> {
    Consistency {
        app_type,
        auth_method,
        grant_types,
        redirect_uri_count,
        post_logout_redirect_uri_count: 0,
        required_claim_count: 0,
        always_issue_refresh_token: false,
        has_jwks: auth_method == ClientAuthMethod::PrivateKeyJwt,
        require_signed_request_object: false,
    }
    .validate()
}

#[test]
fn enum_strings_are_the_protocol_strings() {
    let pairs: Vec<(&str, String)> = vec![
        ("web", Web.to_string()),
        ("spa", Spa.to_string()),
        ("native", Native.to_string()),
        ("machine", Machine.to_string()),
        ("authorization_code", AuthorizationCode.to_string()),
        ("refresh_token", RefreshToken.to_string()),
        ("client_credentials", ClientCredentials.to_string()),
        ("password", Password.to_string()),
        ("jwt", TokenFormat::Jwt.to_string()),
        ("reference", TokenFormat::Reference.to_string()),
        ("client_secret_basic", ClientAuthMethod::ClientSecretBasic.to_string()),
        ("client_secret_post", ClientAuthMethod::ClientSecretPost.to_string()),
        ("private_key_jwt", ClientAuthMethod::PrivateKeyJwt.to_string()),
        ("none", ClientAuthMethod::None.to_string()),
        ("ES256", SigningAlgorithm::ES256.to_string()),
        ("RS256", SigningAlgorithm::RS256.to_string()),
        ("EdDSA", SigningAlgorithm::EdDSA.to_string()),
    ];
    for (expected, actual) in pairs {
        assert_eq!(expected, actual);
    }
}

#[test]
fn every_enum_value_parses_back_and_round_trips_through_serde() {
    fn check<T>(all: &[T])
    where
        T: Copy + PartialEq + fmt::Debug + fmt::Display + FromStr + Serialize,
        T: for<'de> Deserialize<'de>,
        <T as FromStr>::Err: fmt::Debug,
    {
        for v in all {
            assert_eq!(v.to_string().parse::<T>().unwrap(), *v);
            let json = serde_json::to_value(v).unwrap();
            assert_eq!(json, serde_json::Value::String(v.to_string()));
            assert_eq!(serde_json::from_value::<T>(json).unwrap(), *v);
        }
    }
    check(ApplicationType::ALL);
    check(GrantType::ALL);
    check(TokenFormat::ALL);
    check(ClientAuthMethod::ALL);
    check(SigningAlgorithm::ALL);
    assert_eq!(GrantType::ALL.len(), 6);
    assert_eq!(GrantType::parse("urn:ietf:params:oauth:grant-type:device_code"), Ok(DeviceCode));
}

#[test]
fn unknown_enum_strings_are_refused_naming_setting_and_value() {
    let err = GrantType::parse("implicit").unwrap_err();
    assert_eq!(err.field, "grant_type");
    assert_eq!(err.value, "implicit");
    assert_eq!(
        err.to_string(),
        "\"implicit\" is not a valid grant_type; expected one of: authorization_code, refresh_token, client_credentials, \
         password, urn:ietf:params:oauth:grant-type:device_code, urn:ietf:params:oauth:grant-type:token-exchange"
    );
    assert!(SigningAlgorithm::parse("es256").is_err());
    assert!(SigningAlgorithm::parse("none").is_err());
    assert!(ApplicationType::parse("Web").is_err());
    assert!(serde_json::from_str::<TokenFormat>("\"opaque\"").is_err());
}

#[test]
fn defaults_are_es256_and_jwt() {
    assert_eq!(SigningAlgorithm::default(), SigningAlgorithm::ES256);
    assert_eq!(TokenFormat::default(), TokenFormat::Jwt);
}

#[test]
fn spa_and_native_are_public_clients_that_need_pkce() {
    assert!(Spa.is_public() && Spa.requires_pkce());
    assert!(Native.is_public() && Native.requires_pkce());
    assert!(!Web.is_public());
    assert!(!Machine.is_public());
}

#[test]
fn consistent_settings_pass() {
    use ClientAuthMethod as A;
    assert!(settings(Web, A::ClientSecretBasic, &[AuthorizationCode, RefreshToken], 1).is_ok());
    assert!(settings(Web, A::PrivateKeyJwt, &[AuthorizationCode, Password, ClientCredentials], 2).is_ok());
    assert!(settings(Spa, A::None, &[AuthorizationCode, RefreshToken], 1).is_ok());
    assert!(settings(Native, A::None, &[AuthorizationCode], 1).is_ok());
    assert!(settings(Machine, A::ClientSecretPost, &[ClientCredentials], 0).is_ok());
    assert!(settings(Web, A::ClientSecretBasic, &[Password], 0).is_ok());
}

#[test]
fn public_clients_must_use_none() {
    let err = settings(Spa, ClientAuthMethod::ClientSecretBasic, &[AuthorizationCode], 1).unwrap_err();
    assert_eq!(
        err,
        ApplicationSettingsError::PublicClientMustUseNone {
            app_type: Spa,
            auth_method: ClientAuthMethod::ClientSecretBasic
        }
    );
    assert_eq!(err.field(), "token_endpoint_auth_method");
    assert!(err.to_string().contains("spa applications are public clients"));
}

#[test]
fn confidential_clients_cannot_use_none() {
    for app_type in [Web, Machine] {
        let err = settings(app_type, ClientAuthMethod::None, &[ClientCredentials], 1).unwrap_err();
        assert_eq!(err, ApplicationSettingsError::ConfidentialClientNeedsAuthentication { app_type });
        assert_eq!(err.field(), "token_endpoint_auth_method");
    }
}

#[test]
fn at_least_one_grant_type_is_needed() {
    let err = settings(Web, ClientAuthMethod::ClientSecretBasic, &[], 1).unwrap_err();
    assert_eq!(err, ApplicationSettingsError::NoGrantType);
    assert_eq!(err.field(), "grant_types");
}

#[test]
fn machine_apps_only_use_client_credentials() {
    for grant_type in [AuthorizationCode, RefreshToken, Password] {
        let err =
            settings(Machine, ClientAuthMethod::ClientSecretBasic, &[ClientCredentials, grant_type], 1).unwrap_err();
        assert_eq!(err, ApplicationSettingsError::GrantNotAllowed { app_type: Machine, grant_type });
    }
}

#[test]
fn a_machine_app_with_only_a_user_grant_is_refused_for_that_grant() {
    let err = settings(Machine, ClientAuthMethod::ClientSecretBasic, &[AuthorizationCode], 1).unwrap_err();
    assert_eq!(err, ApplicationSettingsError::GrantNotAllowed { app_type: Machine, grant_type: AuthorizationCode });
    assert_eq!(err.field(), "grant_types");
}

#[test]
fn public_clients_cannot_use_client_credentials_or_password() {
    for app_type in [Spa, Native] {
        for grant_type in [ClientCredentials, Password] {
            let err = settings(app_type, ClientAuthMethod::None, &[AuthorizationCode, grant_type], 1).unwrap_err();
            assert_eq!(err, ApplicationSettingsError::GrantNotAllowed { app_type, grant_type });
        }
    }
}

#[test]
fn public_clients_need_the_authorization_code_grant() {
    let err = settings(Native, ClientAuthMethod::None, &[RefreshToken], 1).unwrap_err();
    assert_eq!(err, ApplicationSettingsError::GrantRequired { app_type: Native, grant_type: AuthorizationCode });
}

#[test]
fn refresh_tokens_need_a_grant_with_a_user() {
    let err = settings(Web, ClientAuthMethod::ClientSecretBasic, &[ClientCredentials, RefreshToken], 1).unwrap_err();
    assert_eq!(err, ApplicationSettingsError::RefreshWithoutUserGrant);
    assert_eq!(err.field(), "grant_types");
}

#[test]
fn the_code_flow_needs_a_redirect_uri() {
    let err = settings(Web, ClientAuthMethod::ClientSecretBasic, &[AuthorizationCode], 0).unwrap_err();
    assert_eq!(err, ApplicationSettingsError::MissingRedirectUri);
    assert_eq!(err.field(), "redirect_uris");
}

#[test]
fn machine_applications_neither_redirect_nor_require_claims() {
    let base = Consistency {
        app_type: ApplicationType::Machine,
        auth_method: ClientAuthMethod::ClientSecretBasic,
        grant_types: &[GrantType::ClientCredentials],
        redirect_uri_count: 0,
        post_logout_redirect_uri_count: 0,
        required_claim_count: 0,
        always_issue_refresh_token: false,
        has_jwks: false,
        require_signed_request_object: false,
    };
    assert!(base.validate().is_ok());
    assert_eq!(
        Consistency { post_logout_redirect_uri_count: 1, ..base }.validate().unwrap_err().field(),
        "post_logout_redirect_uris"
    );
    assert_eq!(Consistency { required_claim_count: 1, ..base }.validate().unwrap_err().field(), "required_claims");
    assert_eq!(
        Consistency { always_issue_refresh_token: true, ..base }.validate().unwrap_err().field(),
        "always_issue_refresh_token"
    );
    assert_eq!(Consistency { has_jwks: true, ..base }.validate().unwrap_err().field(), "jwks");
    let signed = Consistency { auth_method: ClientAuthMethod::PrivateKeyJwt, ..base };
    assert_eq!(signed.validate().unwrap_err().field(), "jwks");
    assert!(Consistency { has_jwks: true, ..signed }.validate().is_ok());
}

#[test]
fn a_client_id_shaped_like_a_uuid_is_refused_in_every_form() {
    // RFC 9068 §5: user ids are UUIDs and a machine token's sub is its client id.
    for uuid_shaped in [
        "0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b",
        "0190A1B2-C3D4-7E5F-8A6B-7C8D9E0F1A2B",
        "0190a1b2c3d47e5f8a6b7c8d9e0f1a2b",
        "0190A1B2C3D47E5F8A6B7C8D9E0F1A2B",
        "f47ac10b-58cc-4372-a567-0e02b2c3d479",
        "00000000-0000-0000-0000-000000000000",
        "ffffffff-ffff-ffff-ffff-ffffffffffff",
        "{0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b}",
        "urn:uuid:0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b",
    ] {
        let err = check_client_id(uuid_shaped).unwrap_err();
        assert!(err.contains("UUID"), "{uuid_shaped}: {err}");
    }
    // Near misses are ordinary client ids.
    for fine in [
        "0190a1b2-c3d4-7e5f-8a6b",
        "0190a1b2c3d47e5f8a6b7c8d9e0f1a2",
        "0190a1b2c3d47e5f8a6b7c8d9e0f1a2b3",
        "0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2g",
        "app-0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b",
        "robot-0190a1b2",
    ] {
        assert!(check_client_id(fine).is_ok(), "{fine}");
    }
}

#[test]
fn client_ids_and_jwks_are_checked() {
    assert!(check_client_id("my-app_1.x~").is_ok());
    for bad in ["ab", "-flag", "has space", "colon:no", &"x".repeat(101)] {
        assert!(check_client_id(bad).is_err(), "{bad}");
    }
    assert!(check_jwks(&serde_json::json!({"keys": [{"kty": "EC", "crv": "P-256", "x": "a", "y": "b"}]})).is_ok());
    assert!(check_jwks(&serde_json::json!({"keys": []})).is_err());
    assert!(check_jwks(&serde_json::json!({"keys": [{"kty": "EC", "d": "secret"}]})).is_err());
    assert!(check_jwks(&serde_json::json!([1])).is_err());
}

fn input(app_type: &str) -> ApplicationInput {
    ApplicationInput {
        name: "Billing".into(),
        app_type: app_type.into(),
        redirect_uris: vec!["https://billing.example.com/cb".into()],
        ..Default::default()
    }
}

#[test]
fn omitted_settings_take_the_defaults_of_the_type() {
    let web = input("web").into_settings(None).unwrap();
    assert_eq!(web.grant_types, [AuthorizationCode, RefreshToken]);
    assert_eq!(web.token_endpoint_auth_method, ClientAuthMethod::ClientSecretBasic);
    assert_eq!(web.allowed_scopes, ["openid"]);
    assert_eq!(
        (web.access_token_format, web.id_token_signed_response_alg),
        (TokenFormat::Jwt, SigningAlgorithm::ES256)
    );
    assert_eq!(web.lifetimes, crate::TokenLifetimes::default());
    assert!(web.require_consent && web.enabled && !web.always_issue_refresh_token);
    assert_eq!(web.app_metadata, serde_json::json!({}));
    assert!(web.uses_client_secret());

    let machine = ApplicationInput { redirect_uris: vec![], ..input("machine") }.into_settings(None).unwrap();
    assert_eq!(machine.grant_types, [ClientCredentials]);
    assert!(machine.allowed_scopes.is_empty());

    let spa = input("spa").into_settings(None).unwrap();
    assert_eq!(spa.token_endpoint_auth_method, ClientAuthMethod::None);
    assert!(!spa.uses_client_secret());
}

#[test]
fn each_refused_setting_names_its_field_as_the_api_spells_it() {
    let cases: Vec<(ApplicationInput, &str)> = vec![
        (ApplicationInput { name: " ".into(), ..input("web") }, "name"),
        (ApplicationInput { description: Some("x".repeat(1001)), ..input("web") }, "description"),
        (input("daemon"), "app_type"),
        (
            ApplicationInput {
                redirect_uris: vec!["https://ok.example/cb".into(), "http://evil.example/cb".into()],
                ..input("web")
            },
            "redirect_uris[1]",
        ),
        (ApplicationInput { grant_types: Some(vec!["implicit".into()]), ..input("web") }, "grant_types[0]"),
        (
            ApplicationInput { token_endpoint_auth_method: Some("none".into()), ..input("web") },
            "token_endpoint_auth_method",
        ),
        (ApplicationInput { allowed_scopes: Some(vec!["Not A Scope".into()]), ..input("web") }, "allowed_scopes[0]"),
        (ApplicationInput { jwks: Some(serde_json::json!({"keys": []})), ..input("web") }, "jwks"),
        (ApplicationInput { access_token_format: Some("paseto".into()), ..input("web") }, "access_token_format"),
        (
            ApplicationInput { id_token_signed_response_alg: Some("HS256".into()), ..input("web") },
            "id_token_signed_response_alg",
        ),
        (ApplicationInput { access_token_lifetime: Some(30), ..input("web") }, "access_token_lifetime"),
        (ApplicationInput { authorization_code_lifetime: Some(601), ..input("web") }, "authorization_code_lifetime"),
        (
            ApplicationInput { refresh_token_retry_grace_seconds: Some(61), ..input("web") },
            "refresh_token_retry_grace_seconds",
        ),
        (
            ApplicationInput { refresh_token_retry_grace_seconds: Some(-1), ..input("web") },
            "refresh_token_retry_grace_seconds",
        ),
        (ApplicationInput { app_metadata: Some(serde_json::json!([1])), ..input("web") }, "app_metadata"),
        (
            ApplicationInput {
                always_issue_refresh_token: Some(true),
                grant_types: Some(vec!["authorization_code".into()]),
                ..input("web")
            },
            "always_issue_refresh_token",
        ),
    ];
    for (given, field) in cases {
        let error = given.clone().into_settings(None).unwrap_err();
        assert_eq!(error.field, field, "{given:?}: {error}");
    }
}

#[test]
fn the_refresh_token_retry_grace_is_ten_seconds_unless_given() {
    assert_eq!(input("web").into_settings(None).unwrap().lifetimes.refresh_token_retry_grace, 10);
    for given in [0, 60] {
        let settings =
            ApplicationInput { refresh_token_retry_grace_seconds: Some(given), ..input("web") }.into_settings(None);
        assert_eq!(settings.unwrap().lifetimes.refresh_token_retry_grace, given);
    }
}

#[test]
fn a_replacement_without_jwks_keeps_the_registered_keys_of_a_private_key_jwt_client() {
    let keys = serde_json::json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "abc"}]});
    let jwt_client = ApplicationInput { token_endpoint_auth_method: Some("private_key_jwt".into()), ..input("web") };
    assert_eq!(jwt_client.clone().into_settings(Some(keys.clone())).unwrap().jwks, Some(keys.clone()));
    assert_eq!(jwt_client.into_settings(None).unwrap_err().field, "jwks");
    // A client that moves to a secret drops them.
    assert_eq!(input("web").into_settings(Some(keys)).unwrap().jwks, None);
}

#[test]
fn signed_request_objects_need_keys_and_keys_serve_the_code_flow_too() {
    let keys = serde_json::json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "abc"}]});
    assert!(!input("web").into_settings(None).unwrap().require_signed_request_object);
    let required = ApplicationInput { require_signed_request_object: Some(true), ..input("spa") };
    assert_eq!(required.clone().into_settings(None).unwrap_err().field, "jwks");
    let with_keys = ApplicationInput { jwks: Some(keys.clone()), ..required.clone() };
    let settings = with_keys.into_settings(None).unwrap();
    assert!(settings.require_signed_request_object);
    assert_eq!(settings.jwks, Some(keys.clone()));
    // A replacement that leaves the keys out keeps them while they are required.
    assert_eq!(required.into_settings(Some(keys.clone())).unwrap().jwks, Some(keys.clone()));
    // A client secret web app may register keys for its request objects alone.
    let web = ApplicationInput { jwks: Some(keys.clone()), ..input("web") };
    assert_eq!(web.into_settings(None).unwrap().jwks, Some(keys));
}

#[test]
fn pushed_authorization_requests_are_optional_unless_the_application_requires_them() {
    assert!(!input("web").into_settings(None).unwrap().require_pushed_authorization_requests);
    let required = ApplicationInput { require_pushed_authorization_requests: Some(true), ..input("spa") };
    assert!(required.into_settings(None).unwrap().require_pushed_authorization_requests);
}

#[test]
fn the_device_grant_is_for_native_and_web_applications() {
    use ClientAuthMethod as A;
    assert!(settings(Native, A::None, &[DeviceCode, RefreshToken], 0).is_ok());
    assert!(settings(Native, A::None, &[AuthorizationCode, DeviceCode], 1).is_ok());
    assert!(settings(Web, A::ClientSecretBasic, &[DeviceCode, RefreshToken], 0).is_ok());
    let err = settings(Spa, A::None, &[AuthorizationCode, DeviceCode], 1).unwrap_err();
    assert_eq!(err, ApplicationSettingsError::GrantNotAllowed { app_type: Spa, grant_type: DeviceCode });
    let err = settings(Machine, A::ClientSecretBasic, &[ClientCredentials, DeviceCode], 0).unwrap_err();
    assert_eq!(err, ApplicationSettingsError::GrantNotAllowed { app_type: Machine, grant_type: DeviceCode });
}

#[test]
fn token_exchange_is_for_confidential_clients() {
    use ClientAuthMethod as A;
    let exchange = GrantType::TokenExchange;
    assert_eq!(GrantType::parse("urn:ietf:params:oauth:grant-type:token-exchange"), Ok(exchange));
    assert!(settings(Machine, A::ClientSecretBasic, &[ClientCredentials, exchange], 0).is_ok());
    assert!(settings(Web, A::ClientSecretBasic, &[exchange], 0).is_ok());
    let err = settings(Spa, A::None, &[AuthorizationCode, exchange], 1).unwrap_err();
    assert_eq!(err, ApplicationSettingsError::GrantNotAllowed { app_type: Spa, grant_type: exchange });
    let err = settings(Native, A::None, &[AuthorizationCode, exchange], 1).unwrap_err();
    assert_eq!(err, ApplicationSettingsError::GrantNotAllowed { app_type: Native, grant_type: exchange });
}

#[test]
fn dpop_bound_access_tokens_is_off_unless_the_application_requires_it() {
    assert!(!input("web").into_settings(None).unwrap().dpop_bound_access_tokens);
    let required = ApplicationInput { dpop_bound_access_tokens: Some(true), ..input("spa") };
    assert!(required.into_settings(None).unwrap().dpop_bound_access_tokens);
}

#[test]
fn a_backchannel_logout_uri_is_registered_like_a_redirect_uri() {
    let none = input("web").into_settings(None).unwrap();
    assert_eq!((none.backchannel_logout_uri, none.backchannel_logout_session_required), (None, false));
    let with = |uri: &str| ApplicationInput {
        backchannel_logout_uri: Some(uri.into()),
        backchannel_logout_session_required: Some(true),
        ..input("web")
    };
    let ok = with("https://billing.example.com/bcl?tenant=a").into_settings(None).unwrap();
    assert_eq!(ok.backchannel_logout_uri.as_deref(), Some("https://billing.example.com/bcl?tenant=a"));
    assert!(ok.backchannel_logout_session_required);
    assert!(with("http://127.0.0.1:9000/bcl").into_settings(None).is_ok(), "loopback for development");
    for bad in [
        "https://billing.example.com/bcl#frag",
        "http://billing.example.com/bcl",
        "/bcl",
        "javascript:alert(1)",
        "com.example.app:/bcl",
        "https://user@billing.example.com/bcl",
        "",
    ] {
        let error = with(bad).into_settings(None).unwrap_err();
        assert_eq!(error.field, "backchannel_logout_uri", "{bad}");
    }
}

#[test]
fn a_jwks_uri_replaces_the_jwks_and_never_goes_with_it() {
    let keys = serde_json::json!({"keys": [{"kty": "EC", "crv": "P-256", "x": "x", "y": "y"}]});
    let jwt_client = |jwks_uri: Option<&str>, jwks: Option<serde_json::Value>| ApplicationInput {
        token_endpoint_auth_method: Some("private_key_jwt".into()),
        jwks_uri: jwks_uri.map(str::to_owned),
        jwks,
        ..input("web")
    };
    let by_reference = jwt_client(Some("https://billing.example.com/jwks.json"), None).into_settings(None).unwrap();
    assert_eq!(by_reference.jwks_uri.as_deref(), Some("https://billing.example.com/jwks.json"));
    assert_eq!(by_reference.jwks, None);
    // A replacement naming a jwks_uri drops the keys registered before.
    let replaced = jwt_client(Some("https://billing.example.com/jwks.json"), None).into_settings(Some(keys.clone()));
    assert_eq!(replaced.unwrap().jwks, None);
    let both = jwt_client(Some("https://billing.example.com/jwks.json"), Some(keys)).into_settings(None).unwrap_err();
    assert_eq!(both.field, "jwks_uri");
    for bad in ["http://billing.example.com/jwks", "https://billing.example.com/jwks#k", "/jwks", "ftp://x.example/k"] {
        assert_eq!(jwt_client(Some(bad), None).into_settings(None).unwrap_err().field, "jwks_uri", "{bad}");
    }
    // A signed-request-object requirement is met by a jwks_uri too.
    let strict = ApplicationInput {
        require_signed_request_object: Some(true),
        jwks_uri: Some("https://billing.example.com/jwks.json".into()),
        ..input("web")
    };
    assert!(strict.into_settings(None).unwrap().require_signed_request_object);
}

#[test]
fn request_uris_are_https_urls_without_fragments_at_most_twenty() {
    let with = |uris: Vec<String>| ApplicationInput { request_uris: uris, ..input("web") }.into_settings(None);
    let ok = with(vec![
        "https://billing.example.com/requests/1".into(),
        "https://billing.example.com/requests/1".into(),
        "http://127.0.0.1:8080/r".into(),
    ])
    .unwrap();
    assert_eq!(ok.request_uris, ["https://billing.example.com/requests/1", "http://127.0.0.1:8080/r"], "deduplicated");
    assert!(with(vec![]).unwrap().request_uris.is_empty());
    for bad in ["http://billing.example.com/r", "https://billing.example.com/r#h", "urn:x:y", ""] {
        assert_eq!(
            with(vec!["https://ok.example/r".into(), bad.into()]).unwrap_err().field,
            "request_uris[1]",
            "{bad}"
        );
    }
    let many = (0..21).map(|i| format!("https://billing.example.com/r/{i}")).collect();
    assert_eq!(with(many).unwrap_err().field, "request_uris");
}

#[test]
fn the_sign_in_policy_is_the_servers_unless_given_and_an_unknown_one_names_the_field() {
    assert_eq!(input("web").into_settings(None).unwrap().sign_in_policy, None);
    let strict = ApplicationInput { sign_in_policy: Some("second_factor".into()), ..input("web") };
    assert_eq!(strict.into_settings(None).unwrap().sign_in_policy, Some(crate::SignInPolicy::SecondFactor));
    let empty = ApplicationInput { sign_in_policy: Some(" ".into()), ..input("web") };
    assert_eq!(empty.into_settings(None).unwrap().sign_in_policy, None, "an empty form field is the server's");
    let bad = ApplicationInput { sign_in_policy: Some("sms".into()), ..input("web") };
    assert_eq!(bad.into_settings(None).unwrap_err().field, "sign_in_policy");
}
