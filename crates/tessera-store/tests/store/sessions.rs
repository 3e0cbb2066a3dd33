use serde_json::json;
use tessera_domain::{ApplicationType, ClientAuthMethod, GrantType, SigningAlgorithm, TokenFormat, TokenLifetimes};
use tessera_store::applications::{self, ApplicationSettings};
use tessera_store::sessions::{
    self, AuthorizationCode, CodeConsumption, NewAuthorizationCode, NewAuthorizationRequest, NewSession,
};
use tessera_store::users::{self, NewUser};
use tessera_store::{Store, StoreError};

use tessera_testkit::NOW;

/// The rows sessions, codes and grants point at: two users and two applications.
pub(crate) struct Parties {
    pub alice: String,
    pub bob: String,
    pub app: String,
    pub other_app: String,
}

pub(crate) fn parties(store: &Store) -> Parties {
    store
        .write(|c| {
            let alice = users::create(c, &NewUser { username: "alice".into(), ..Default::default() }, NOW)?;
            let bob = users::create(c, &NewUser { username: "bob".into(), ..Default::default() }, NOW)?;
            let app = applications::create(c, "web-app", &web_app("Web app"), Some("secret-hash"), NOW)?;
            let other_app = applications::create(c, "other-app", &web_app("Other app"), Some("secret-hash"), NOW)?;
            Ok(Parties { alice: alice.id, bob: bob.id, app: app.id, other_app: other_app.id })
        })
        .unwrap()
}

fn web_app(name: &str) -> ApplicationSettings {
    ApplicationSettings {
        name: name.into(),
        description: String::new(),
        app_type: ApplicationType::Web,
        token_endpoint_auth_method: ClientAuthMethod::ClientSecretBasic,
        grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        access_token_format: TokenFormat::Jwt,
        id_token_signed_response_alg: SigningAlgorithm::ES256,
        lifetimes: TokenLifetimes::default(),
        require_consent: true,
        always_issue_refresh_token: false,
        jwks: None,
        app_metadata: json!({}),
        enabled: true,
        redirect_uris: vec!["https://app.example.com/callback".into()],
        post_logout_redirect_uris: vec![],
        allowed_scopes: vec![],
        required_claims: vec![],
    }
}

fn session(id_hash: &str, sid: &str, user_id: Option<&str>) -> NewSession {
    NewSession {
        id_hash: id_hash.into(),
        sid: sid.into(),
        user_id: user_id.map(str::to_owned),
        auth_time: user_id.map(|_| NOW),
        amr: if user_id.is_some() { vec!["pwd".into()] } else { vec![] },
        expires_at: NOW + 3600,
    }
}

pub(crate) fn code(p: &Parties, code_hash: &str, grant_id: &str) -> NewAuthorizationCode {
    NewAuthorizationCode {
        code_hash: code_hash.into(),
        grant_id: grant_id.into(),
        application_id: p.app.clone(),
        user_id: p.alice.clone(),
        sid: Some("sid-1".into()),
        redirect_uri: "https://app.example.com/callback".into(),
        scope: "openid profile".into(),
        resources: vec!["https://api.example.com".into()],
        nonce: Some("n-0S6_WzA2Mj".into()),
        code_challenge: Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into()),
        code_challenge_method: Some("S256".into()),
        auth_time: NOW - 5,
        amr: vec!["pwd".into()],
        expires_at: NOW + 60,
    }
}

fn request(p: &Parties, id_hash: &str, session_id_hash: Option<&str>) -> NewAuthorizationRequest {
    NewAuthorizationRequest {
        id_hash: id_hash.into(),
        application_id: p.app.clone(),
        session_id_hash: session_id_hash.map(str::to_owned),
        parameters: json!({"client_id": "web-app", "scope": "openid", "state": "xyz"}),
        expires_at: NOW + 600,
    }
}

fn consumed(outcome: CodeConsumption) -> AuthorizationCode {
    match outcome {
        CodeConsumption::Consumed(code) => code,
        other => panic!("expected Consumed, got {other:?}"),
    }
}

crate::both_backends! {
    fn session_is_active_until_its_idle_timeout_passes(store: Store) {
        let p = parties(&store);
        store.write(|c| sessions::create(c, &session("h1", "sid-1", Some(&p.alice)), NOW)).unwrap();
        let idle = 600;
        let active = store.read(|c| sessions::get_active(c, "h1", idle, NOW + 599)).unwrap().unwrap();
        assert_eq!(active.user_id.as_deref(), Some(p.alice.as_str()));
        assert_eq!(active.amr, vec!["pwd".to_owned()]);
        assert_eq!(active.last_seen_at, NOW);
        assert!(store.read(|c| sessions::get_active(c, "h1", idle, NOW + 600)).unwrap().is_none());

        // Activity restarts the idle timeout.
        store.write(|c| sessions::touch(c, "h1", NOW + 500)).unwrap();
        let touched = store.read(|c| sessions::get_active(c, "h1", idle, NOW + 1099)).unwrap().unwrap();
        assert_eq!(touched.last_seen_at, NOW + 500);
        assert!(store.read(|c| sessions::get_active(c, "h1", idle, NOW + 1100)).unwrap().is_none());
    }

    fn session_ends_at_its_absolute_timeout_however_active(store: Store) {
        let p = parties(&store);
        store.write(|c| sessions::create(c, &session("h1", "sid-1", Some(&p.alice)), NOW)).unwrap();
        store.write(|c| sessions::touch(c, "h1", NOW + 3599)).unwrap();
        assert!(store.read(|c| sessions::get_active(c, "h1", 600, NOW + 3599)).unwrap().is_some());
        assert!(store.read(|c| sessions::get_active(c, "h1", 600, NOW + 3600)).unwrap().is_none());
        assert!(store.read(|c| sessions::get_active(c, "unknown", 600, NOW)).unwrap().is_none());
    }

    fn authenticate_records_the_user_auth_time_and_amr(store: Store) {
        let p = parties(&store);
        store.write(|c| sessions::create(c, &session("h1", "sid-1", None), NOW)).unwrap();
        let amr = vec!["pwd".to_owned(), "otp".to_owned()];
        let signed_in = store.write(|c| sessions::authenticate(c, "h1", &p.alice, NOW + 10, &amr, NOW + 10)).unwrap();
        assert_eq!(signed_in.user_id.as_deref(), Some(p.alice.as_str()));
        assert_eq!(signed_in.auth_time, Some(NOW + 10));
        assert_eq!(signed_in.amr, amr);
        assert_eq!(signed_in.last_seen_at, NOW + 10);
        assert_eq!(store.read(|c| sessions::get_active(c, "h1", 600, NOW + 11)).unwrap(), Some(signed_in));
    }

    fn replace_ends_the_old_session_and_moves_its_pending_requests_to_the_new_one(store: Store) {
        let p = parties(&store);
        store.write(|c| sessions::create(c, &session("old", "sid-old", None), NOW)).unwrap();
        store.write(|c| sessions::create_request(c, &request(&p, "req", Some("old")), NOW)).unwrap();
        let new = store
            .write(|c| sessions::replace(c, Some("old"), &session("new", "sid-new", Some(&p.alice)), NOW + 20))
            .unwrap();
        assert_eq!(new.sid, "sid-new");
        assert_eq!(new.created_at, NOW + 20);
        assert!(store.read(|c| sessions::get_active(c, "old", 600, NOW + 21)).unwrap().is_none());
        assert_eq!(store.read(|c| sessions::find_by_sid(c, "sid-old")).unwrap().unwrap().ended_at, Some(NOW + 20));
        assert_eq!(store.read(|c| sessions::get_active(c, "new", 600, NOW + 21)).unwrap(), Some(new));
        let moved = store.read(|c| sessions::get_request(c, "req", NOW + 21)).unwrap().unwrap();
        assert_eq!(moved.session_id_hash.as_deref(), Some("new"));
    }

    fn replace_without_an_old_session_just_creates_one(store: Store) {
        let p = parties(&store);
        let new = store.write(|c| sessions::replace(c, None, &session("new", "sid-new", Some(&p.alice)), NOW)).unwrap();
        assert_eq!(store.read(|c| sessions::get_active(c, "new", 600, NOW)).unwrap(), Some(new));
    }

    fn ended_session_is_inactive_and_cannot_be_touched_or_signed_into(store: Store) {
        let p = parties(&store);
        store.write(|c| sessions::create(c, &session("h1", "sid-1", Some(&p.alice)), NOW)).unwrap();
        assert!(store.write(|c| sessions::end(c, "h1", NOW + 5)).unwrap());
        assert!(!store.write(|c| sessions::end(c, "h1", NOW + 6)).unwrap());
        assert!(store.read(|c| sessions::get_active(c, "h1", 600, NOW + 6)).unwrap().is_none());
        assert!(matches!(
            store.write(|c| sessions::touch(c, "h1", NOW + 7)),
            Err(StoreError::NotFound { entity: "session" })
        ));
        assert!(matches!(
            store.write(|c| sessions::authenticate(c, "h1", &p.alice, NOW + 7, &[], NOW + 7)),
            Err(StoreError::NotFound { entity: "session" })
        ));
        assert_eq!(store.read(|c| sessions::find_by_sid(c, "sid-1")).unwrap().unwrap().ended_at, Some(NOW + 5));
    }

    fn ending_all_sessions_of_a_user_leaves_other_users_signed_in(store: Store) {
        let p = parties(&store);
        store.write(|c| sessions::create(c, &session("a1", "sid-a1", Some(&p.alice)), NOW)).unwrap();
        store.write(|c| sessions::create(c, &session("a2", "sid-a2", Some(&p.alice)), NOW + 1)).unwrap();
        store.write(|c| sessions::create(c, &session("b1", "sid-b1", Some(&p.bob)), NOW)).unwrap();
        let listed = store.read(|c| sessions::list_active_of_user(c, &p.alice, 600, NOW + 2)).unwrap();
        assert_eq!(listed.iter().map(|s| s.sid.as_str()).collect::<Vec<_>>(), ["sid-a2", "sid-a1"]);

        assert_eq!(store.write(|c| sessions::end_all_of_user(c, &p.alice, NOW + 3)).unwrap(), 2);
        assert!(store.read(|c| sessions::list_active_of_user(c, &p.alice, 600, NOW + 4)).unwrap().is_empty());
        assert!(store.read(|c| sessions::get_active(c, "a1", 600, NOW + 4)).unwrap().is_none());
        assert!(store.read(|c| sessions::get_active(c, "b1", 600, NOW + 4)).unwrap().is_some());
        assert_eq!(store.write(|c| sessions::end_all_of_user(c, &p.alice, NOW + 5)).unwrap(), 0);
    }

    fn listing_active_sessions_skips_idle_and_expired_ones(store: Store) {
        let p = parties(&store);
        store.write(|c| sessions::create(c, &session("a1", "sid-a1", Some(&p.alice)), NOW)).unwrap();
        store.write(|c| sessions::create(c, &session("a2", "sid-a2", Some(&p.alice)), NOW + 500)).unwrap();
        let listed = store.read(|c| sessions::list_active_of_user(c, &p.alice, 600, NOW + 700)).unwrap();
        assert_eq!(listed.iter().map(|s| s.sid.as_str()).collect::<Vec<_>>(), ["sid-a2"]);
    }

    fn duplicate_sid_is_a_conflict(store: Store) {
        store.write(|c| sessions::create(c, &session("h1", "sid-1", None), NOW)).unwrap();
        match store.write(|c| sessions::create(c, &session("h2", "sid-1", None), NOW)) {
            Err(StoreError::Conflict { field }) => assert_eq!(field, "sid"),
            other => panic!("expected a conflict, got {other:?}"),
        }
        assert!(store.read(|c| sessions::get_active(c, "h2", 600, NOW)).unwrap().is_none());
    }

    fn authorization_request_is_found_until_it_expires_or_is_deleted(store: Store) {
        let p = parties(&store);
        let created = store.write(|c| sessions::create_request(c, &request(&p, "req", None), NOW)).unwrap();
        let found = store.read(|c| sessions::get_request(c, "req", NOW + 599)).unwrap().unwrap();
        assert_eq!(found, created);
        assert_eq!(found.parameters["state"], json!("xyz"));
        assert!(store.read(|c| sessions::get_request(c, "req", NOW + 600)).unwrap().is_none());
        assert!(store.write(|c| sessions::delete_request(c, "req")).unwrap());
        assert!(!store.write(|c| sessions::delete_request(c, "req")).unwrap());
        assert!(store.read(|c| sessions::get_request(c, "req", NOW)).unwrap().is_none());
    }

    fn authorization_code_is_consumed_once_and_the_second_redemption_is_already_consumed(store: Store) {
        let p = parties(&store);
        store.write(|c| sessions::insert_code(c, &code(&p, "code-1", "grant-1"), NOW)).unwrap();
        let first = consumed(store.write(|c| sessions::consume(c, "code-1", NOW + 1)).unwrap());
        assert_eq!(first.grant_id, "grant-1");
        assert_eq!(first.application_id, p.app);
        assert_eq!(first.user_id, p.alice);
        assert_eq!(first.scope, "openid profile");
        assert_eq!(first.resources, vec!["https://api.example.com".to_owned()]);
        assert_eq!(first.code_challenge_method.as_deref(), Some("S256"));
        assert_eq!(first.nonce.as_deref(), Some("n-0S6_WzA2Mj"));
        assert_eq!(first.auth_time, NOW - 5);
        assert_eq!(first.consumed_at, Some(NOW + 1));

        match store.write(|c| sessions::consume(c, "code-1", NOW + 2)).unwrap() {
            CodeConsumption::AlreadyConsumed(code) => {
                assert_eq!(code.grant_id, "grant-1");
                assert_eq!(code.consumed_at, Some(NOW + 1));
            }
            other => panic!("expected AlreadyConsumed, got {other:?}"),
        }
        // Still recognised as a replay after the code's expiry.
        assert!(matches!(
            store.write(|c| sessions::consume(c, "code-1", NOW + 61)).unwrap(),
            CodeConsumption::AlreadyConsumed(_)
        ));
    }

    fn expired_code_gives_expired_and_is_not_marked_consumed(store: Store) {
        let p = parties(&store);
        store.write(|c| sessions::insert_code(c, &code(&p, "code-1", "grant-1"), NOW)).unwrap();
        assert_eq!(store.write(|c| sessions::consume(c, "code-1", NOW + 60)).unwrap(), CodeConsumption::Expired);
        assert_eq!(store.write(|c| sessions::consume(c, "code-1", NOW + 61)).unwrap(), CodeConsumption::Expired);
        assert_eq!(store.read(|c| sessions::get_code(c, "code-1")).unwrap().unwrap().consumed_at, None);
    }

    fn unknown_code_gives_unknown(store: Store) {
        assert_eq!(store.write(|c| sessions::consume(c, "nope", NOW)).unwrap(), CodeConsumption::Unknown);
        assert!(store.read(|c| sessions::get_code(c, "nope")).unwrap().is_none());
    }

    fn eight_concurrent_redemptions_of_one_code_give_exactly_one_consumed(store: Store) {
        let p = parties(&store);
        store.write(|c| sessions::insert_code(c, &code(&p, "code-1", "grant-1"), NOW)).unwrap();
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(8));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let store = store.clone();
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    barrier.wait();
                    store.write(|c| sessions::consume(c, "code-1", NOW + 1)).unwrap()
                })
            })
            .collect();
        let outcomes: Vec<CodeConsumption> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        let won = outcomes.iter().filter(|o| matches!(o, CodeConsumption::Consumed(_))).count();
        let replayed = outcomes.iter().filter(|o| matches!(o, CodeConsumption::AlreadyConsumed(_))).count();
        assert_eq!((won, replayed), (1, 7), "{outcomes:?}");
        assert_eq!(store.read(|c| sessions::get_code(c, "code-1")).unwrap().unwrap().consumed_at, Some(NOW + 1));
    }

    fn consent_merges_scopes_into_canonical_order(store: Store) {
        let p = parties(&store);
        assert!(store.read(|c| sessions::get_consent(c, &p.alice, &p.app)).unwrap().is_none());
        let first = store.write(|c| sessions::upsert_consent(c, &p.alice, &p.app, "openid  email", NOW)).unwrap();
        assert_eq!(first.scope, "email openid");
        let merged = store.write(|c| sessions::upsert_consent(c, &p.alice, &p.app, "profile openid", NOW + 9)).unwrap();
        assert_eq!(merged.scope, "email openid profile");
        assert_eq!(merged.created_at, NOW);
        assert_eq!(merged.updated_at, NOW + 9);
        assert_eq!(store.read(|c| sessions::get_consent(c, &p.alice, &p.app)).unwrap(), Some(merged));
    }

    fn consent_with_a_malformed_scope_is_refused_and_nothing_is_written(store: Store) {
        let p = parties(&store);
        match store.write(|c| sessions::upsert_consent(c, &p.alice, &p.app, "openid \"email\"", NOW)) {
            Err(StoreError::Invalid { field, .. }) => assert_eq!(field.as_deref(), Some("scope")),
            other => panic!("expected invalid scope, got {other:?}"),
        }
        assert!(store.read(|c| sessions::get_consent(c, &p.alice, &p.app)).unwrap().is_none());
    }

    fn consents_are_listed_per_user_and_can_be_withdrawn(store: Store) {
        let p = parties(&store);
        store.write(|c| sessions::upsert_consent(c, &p.alice, &p.app, "openid", NOW)).unwrap();
        store.write(|c| sessions::upsert_consent(c, &p.alice, &p.other_app, "openid email", NOW)).unwrap();
        store.write(|c| sessions::upsert_consent(c, &p.bob, &p.app, "openid", NOW)).unwrap();
        let mut expected = vec![p.app.clone(), p.other_app.clone()];
        expected.sort();
        let listed = store.read(|c| sessions::consents_of_user(c, &p.alice)).unwrap();
        assert_eq!(listed.iter().map(|c| c.application_id.clone()).collect::<Vec<_>>(), expected);

        store.write(|c| sessions::delete_consent(c, &p.alice, &p.app)).unwrap();
        assert!(store.read(|c| sessions::get_consent(c, &p.alice, &p.app)).unwrap().is_none());
        assert!(store.read(|c| sessions::get_consent(c, &p.bob, &p.app)).unwrap().is_some());
        assert!(matches!(
            store.write(|c| sessions::delete_consent(c, &p.alice, &p.app)),
            Err(StoreError::NotFound { entity: "consent" })
        ));
    }
}
