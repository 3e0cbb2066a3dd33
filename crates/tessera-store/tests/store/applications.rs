use serde_json::json;
use tessera_domain::{ApplicationType, ClientAuthMethod, GrantType, SigningAlgorithm, TokenFormat, TokenLifetimes};
use tessera_store::applications::{self, ApplicationSettings};
use tessera_store::connections::{self, NewApiConnection};
use tessera_store::scopes::{self, ClaimTypeInput};
use tessera_store::{Page, StoreError};

use tessera_testkit::NOW;

pub fn web_app() -> ApplicationSettings {
    ApplicationSettings {
        name: "Library website".into(),
        description: String::new(),
        app_type: ApplicationType::Web,
        token_endpoint_auth_method: ClientAuthMethod::ClientSecretBasic,
        grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        access_token_format: TokenFormat::Jwt,
        id_token_signed_response_alg: SigningAlgorithm::ES256,
        lifetimes: TokenLifetimes::default(),
        require_consent: true,
        always_issue_refresh_token: false,
        require_pushed_authorization_requests: false,
        dpop_bound_access_tokens: false,
        require_signed_request_object: false,
        backchannel_logout_uri: Some("https://library.example/backchannel-logout".into()),
        backchannel_logout_session_required: true,
        require_verified_email: false,
        self_registration: true,
        sign_in_policy: None,
        jwks: None,
        jwks_uri: Some("https://library.example/jwks.json".into()),
        request_uris: vec!["https://library.example/requests/a".into(), "https://library.example/requests/b".into()],
        app_metadata: json!({}),
        enabled: true,
        redirect_uris: vec!["https://library.example/callback".into(), "http://127.0.0.1/cb".into()],
        post_logout_redirect_uris: vec!["https://library.example/".into()],
        allowed_scopes: vec!["openid".into(), "profile".into()],
        required_claims: vec![],
    }
}

crate::both_backends! {
    fn application_round_trips_every_setting(store: Store) {
        store.write_transaction(|c| connections::create(c, &NewApiConnection {
            name: "library-api".into(), display_name: "Library".into(), description: String::new(), access_token_format: None, resource_uri: None,
            requirement: None,
        }, "h", NOW)).unwrap();
        store.write_transaction(|c| scopes::create_claim_type(c, &ClaimTypeInput {
            name: "library_card".into(), display_name: "Library card".into(), description: String::new(),
            value_type: tessera_domain::ClaimValueType::String,
            user_editable: false,
        }, NOW)).unwrap();
        let mut settings = web_app();
        settings.allowed_scopes.push("library-api".into());
        settings.required_claims = vec!["library_card".into()];
        settings.access_token_format = TokenFormat::Reference;
        settings.id_token_signed_response_alg = SigningAlgorithm::EdDSA;
        settings.lifetimes.access_token = 600;
        settings.app_metadata = json!({"tier": "gold"});
        settings.jwks = Some(json!({"keys": []}));
        settings.require_signed_request_object = true;
        settings.require_verified_email = true;
        settings.self_registration = false;
        let app = store.write_transaction(|c| applications::create(c, &"library-web".into(), &settings, Some("secret-hash"), NOW)).unwrap();
        let mut expected = settings.clone();
        expected.allowed_scopes.sort();
        expected.redirect_uris.sort();
        assert_eq!(app.settings, expected);
        assert_eq!(app.client_id.as_str(), "library-web");
        let found = store.read_transaction(|c| applications::find_by_client_id(c, &"library-web".into())).unwrap().unwrap();
        assert_eq!(found, app);
        let secrets = store.read_transaction(|c| applications::live_secrets(c, &app.id, NOW)).unwrap();
        assert_eq!(secrets.len(), 1);
        assert_eq!(secrets[0].secret_hash, "secret-hash");
    }

    fn duplicate_client_id_is_a_conflict(store: Store) {
        store.write_transaction(|c| applications::create(c, &"dup".into(), &web_app(), None, NOW)).unwrap();
        match store.write_transaction(|c| applications::create(c, &"dup".into(), &web_app(), None, NOW)) {
            Err(StoreError::Conflict { field }) => assert_eq!(field, "client_id"),
            other => panic!("expected conflict, got {other:?}"),
        }
    }

    fn unknown_scope_or_claim_is_refused_and_nothing_is_written(store: Store) {
        let mut settings = web_app();
        settings.allowed_scopes.push("no-such-scope".into());
        match store.write_transaction(|c| applications::create(c, &"app".into(), &settings, None, NOW)) {
            Err(StoreError::Invalid { field, .. }) => assert_eq!(field.as_deref(), Some("allowed_scopes")),
            other => panic!("expected invalid, got {other:?}"),
        }
        let mut settings = web_app();
        settings.required_claims.push("no_such_claim".into());
        match store.write_transaction(|c| applications::create(c, &"app".into(), &settings, None, NOW)) {
            Err(StoreError::Invalid { field, .. }) => assert_eq!(field.as_deref(), Some("required_claims")),
            other => panic!("expected invalid, got {other:?}"),
        }
        assert_eq!(store.read_transaction(applications::count).unwrap(), 0);
    }

    fn update_replaces_settings_and_lists(store: Store) {
        let app = store.write_transaction(|c| applications::create(c, &"app".into(), &web_app(), None, NOW)).unwrap();
        let mut settings = web_app();
        settings.name = "Renamed".into();
        settings.redirect_uris = vec!["https://new.example/cb".into()];
        settings.allowed_scopes = vec!["openid".into(), "email".into()];
        settings.grant_types = vec![GrantType::AuthorizationCode];
        settings.require_consent = false;
        let updated = store.write_transaction(|c| applications::update(c, &app.id, &settings, NOW + 9)).unwrap();
        assert_eq!(updated.settings.name, "Renamed");
        assert_eq!(updated.settings.redirect_uris, ["https://new.example/cb"]);
        assert_eq!(updated.settings.allowed_scopes, ["email", "openid"]);
        assert_eq!(updated.settings.grant_types, [GrantType::AuthorizationCode]);
        assert!(!updated.settings.require_consent);
        assert_eq!(updated.updated_at, NOW + 9);
    }

    fn deleting_a_scope_removes_it_from_applications(store: Store) {
        let conn = store.write_transaction(|c| connections::create(c, &NewApiConnection {
            name: "orders".into(), display_name: "Orders".into(), description: String::new(), access_token_format: None, resource_uri: None,
            requirement: None,
        }, "h", NOW)).unwrap();
        let mut settings = web_app();
        settings.allowed_scopes.push("orders".into());
        let app = store.write_transaction(|c| applications::create(c, &"app".into(), &settings, None, NOW)).unwrap();
        store.write_transaction(|c| connections::delete(c, &conn.id)).unwrap();
        let app = store.read_transaction(|c| applications::get(c, &app.id)).unwrap();
        assert_eq!(app.settings.allowed_scopes, ["openid", "profile"]);
    }

    fn secret_rotation_expires_the_old_secret(store: Store) {
        let app = store.write_transaction(|c| applications::create(c, &"app".into(), &web_app(), Some("one"), NOW)).unwrap();
        store.write_transaction(|c| applications::rotate_secret(c, &app.id, "two", NOW, NOW)).unwrap();
        let live = store.read_transaction(|c| applications::live_secrets(c, &app.id, NOW)).unwrap();
        assert_eq!(live.iter().map(|s| s.secret_hash.as_str()).collect::<Vec<_>>(), ["two"]);
    }

    fn list_paginates_and_delete_removes(store: Store) {
        let mut ids = vec![];
        for i in 0..3 {
            ids.push(store.write_transaction(|c| applications::create(c, &format!("app{i}").into(), &web_app(), None, NOW)).unwrap().id);
        }
        let page = store.read_transaction(|c| applications::list(c, &Page::first(2))).unwrap();
        assert_eq!(page.items.iter().map(|a| a.id.clone()).collect::<Vec<_>>(), ids[..2]);
        store.write_transaction(|c| applications::delete(c, &ids[0])).unwrap();
        assert!(matches!(store.read_transaction(|c| applications::get(c, &ids[0])), Err(StoreError::NotFound { .. })));
        assert!(matches!(store.write_transaction(|c| applications::delete(c, &ids[0])), Err(StoreError::NotFound { .. })));
    }
}
