use serde_json::json;

use super::*;

fn open() -> Vec<String> {
    ["openid", "profile", "email"].iter().map(|s| (*s).to_owned()).collect()
}

fn register(doc: serde_json::Value) -> Result<(ApplicationSettings, Extras), MetadataError> {
    parse(&doc, Source::Registration, &open(), None)
}

#[test]
fn minimal_metadata_registers_a_confidential_web_client_with_the_open_scopes_and_consent() {
    let (settings, extras) = register(json!({ "redirect_uris": ["https://app.example/cb"] })).unwrap();
    assert_eq!(settings.app_type, ApplicationType::Web);
    assert_eq!(settings.token_endpoint_auth_method, ClientAuthMethod::ClientSecretBasic);
    assert_eq!(settings.grant_types, [GrantType::AuthorizationCode]);
    assert_eq!(settings.allowed_scopes, open());
    assert!(settings.require_consent);
    assert_eq!(settings.name, DEFAULT_CLIENT_NAME);
    let out = registered(&settings, &extras);
    assert_eq!(out["response_types"], json!(["code"]));
    assert_eq!(out["application_type"], "web");
    assert_eq!(out["scope"], "openid profile email");
}

#[test]
fn a_public_native_client_keeps_its_loopback_redirect_and_its_extras() {
    let (settings, extras) = register(json!({
        "redirect_uris": ["http://127.0.0.1/cb"],
        "application_type": "native",
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"],
        "scope": "openid email",
        "client_uri": "https://cli.example",
        "contacts": ["ops@cli.example"],
        "software_id": "cli",
        "unknown": 1
    }))
    .unwrap();
    assert_eq!(settings.app_type, ApplicationType::Native);
    assert_eq!(settings.allowed_scopes, ["openid", "email"]);
    let out = registered(&settings, &extras);
    assert_eq!(out["client_uri"], "https://cli.example");
    assert_eq!(out["contacts"], json!(["ops@cli.example"]));
    assert_eq!(out["application_type"], "native");
    assert!(out.get("unknown").is_none());
}

#[test]
fn each_refusal_has_its_rfc_7591_code() {
    let cases = [
        (json!({ "redirect_uris": ["http://app.example/cb"] }), INVALID_REDIRECT_URI),
        (json!({ "redirect_uris": ["https://app.example/cb#f"] }), INVALID_REDIRECT_URI),
        (json!({}), INVALID_REDIRECT_URI),
        (
            json!({ "redirect_uris": ["https://a.example/cb"], "software_statement": "x.y.z" }),
            INVALID_SOFTWARE_STATEMENT,
        ),
        (
            json!({
                "redirect_uris": ["https://a.example/cb"],
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks_uri": "https://a.example/jwks",
                "jwks": { "keys": [] },
            }),
            INVALID_CLIENT_METADATA,
        ),
        (json!({ "redirect_uris": ["https://a.example/cb"], "response_types": ["token"] }), INVALID_CLIENT_METADATA),
        (
            json!({ "redirect_uris": ["https://a.example/cb"], "grant_types": ["client_credentials"] }),
            INVALID_CLIENT_METADATA,
        ),
        (json!({ "redirect_uris": ["https://a.example/cb"], "scope": "openid admin" }), INVALID_CLIENT_METADATA),
        (
            json!({ "redirect_uris": ["https://a.example/cb"], "token_endpoint_auth_method": "magic" }),
            INVALID_CLIENT_METADATA,
        ),
        (json!({ "redirect_uris": ["https://a.example/cb"], "application_type": "native" }), INVALID_CLIENT_METADATA),
        (
            json!({ "redirect_uris": ["https://a.example/cb"], "logo_uri": "http://a.example/l.png" }),
            INVALID_CLIENT_METADATA,
        ),
        (
            json!({ "redirect_uris": ["https://a.example/cb"], "token_endpoint_auth_method": "private_key_jwt" }),
            INVALID_CLIENT_METADATA,
        ),
        (json!({ "redirect_uris": "https://a.example/cb" }), INVALID_CLIENT_METADATA),
        (json!(["https://a.example/cb"]), INVALID_CLIENT_METADATA),
    ];
    for (doc, code) in cases {
        assert_eq!(register(doc.clone()).unwrap_err().code, code, "{doc}");
    }
}

#[test]
fn a_metadata_document_cannot_ask_for_a_shared_secret() {
    let doc = json!({ "redirect_uris": ["https://a.example/cb"], "token_endpoint_auth_method": "client_secret_post" });
    assert_eq!(parse(&doc, Source::MetadataDocument, &open(), None).unwrap_err().code, INVALID_CLIENT_METADATA);
    let doc = json!({ "redirect_uris": ["https://a.example/cb"] });
    let (settings, _) = parse(&doc, Source::MetadataDocument, &open(), None).unwrap();
    assert_eq!(settings.token_endpoint_auth_method, ClientAuthMethod::None);
    assert_eq!(settings.app_type, ApplicationType::Spa);
}
