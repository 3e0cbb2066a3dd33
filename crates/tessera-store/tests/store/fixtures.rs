//! Rows the aggregate tests share: the users and applications they point at, and the
//! codes, grants and reference tokens they start from.

use serde_json::{Map, Value, json};
use tessera_domain::{ApplicationId, GrantId, UserId};
use tessera_store::Store;
use tessera_store::applications::{self, ApplicationSettings};
use tessera_store::authorization_requests::NewAuthorizationRequest;
use tessera_store::codes::NewAuthorizationCode;
use tessera_store::grants::{self, Grant, NewGrant};
use tessera_store::redeem::{self, NotRotated, Rotate};
use tessera_store::reference_tokens::{self, NewReferenceToken};
use tessera_store::users::{self, NewUser};

use tessera_testkit::NOW;
use tessera_testkit::apps;

pub(crate) fn grant(p: &Parties, sid: &str, expires_at: i64) -> NewGrant {
    NewGrant {
        id: None,
        application_id: p.app.clone(),
        user_id: Some(p.alice.clone()),
        sid: Some(sid.into()),
        scope: "offline_access openid".into(),
        resources: vec![],
        auth_time: Some(NOW - 5),
        amr: vec!["pwd".into()],
        custom_claims: Map::new(),
        issued_claims: Map::new(),
        expires_at,
        dpop_jkt: None,
    }
}

pub(crate) fn create_grant(store: &Store, new: &NewGrant) -> Grant {
    store.write_transaction(|c| grants::create_grant(c, new, NOW)).unwrap()
}

pub(crate) fn reference(p: &Parties, hash: &str, grant_id: Option<&str>, expires_at: i64) -> NewReferenceToken {
    NewReferenceToken {
        token_hash: hash.into(),
        grant_id: grant_id.map(GrantId::from),
        application_id: p.app.clone(),
        user_id: Some(p.alice.clone()),
        claims: claims(json!({"sub": p.alice, "scope": "openid", "client_id": "web-app"})),
        expires_at,
    }
}

pub(crate) fn claims(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

pub(crate) fn insert_reference(store: &Store, new: &NewReferenceToken) {
    store.write_transaction(|c| reference_tokens::insert_reference_token(c, new, NOW)).unwrap();
}

/// Rotates the refresh token `old` of `grant_id` into `new` (expiring at `new_expires_at`)
/// as the token endpoint does: one [`redeem::rotate_refresh`] through `write_statement`,
/// issuing no claims and no reference token. `false`: nothing was spent or written.
pub(crate) fn rotate(store: &Store, old: &str, grant_id: &str, new: &str, new_expires_at: i64, now: i64) -> bool {
    let issued = Map::new();
    let rotation = Rotate {
        old_hash: old,
        grant_id: &GrantId::from(grant_id),
        new_hash: new,
        new_expires_at,
        issued_claims: &issued,
        reference: None,
    };
    store.write_statement(|c| redeem::rotate_refresh(c, &rotation, now)).unwrap()
}

/// Why `old` could not be rotated, as the token endpoint asks after [`rotate`] answered
/// `false` (a spent token revokes its grant), for an application without a retry grace.
pub(crate) fn refuse(store: &Store, old: &str, now: i64) -> NotRotated {
    refuse_within(store, old, 0, now)
}

/// [`refuse`] for an application whose retry grace is `grace` seconds.
pub(crate) fn refuse_within(store: &Store, old: &str, grace: i64, now: i64) -> NotRotated {
    store.write_transaction(|c| redeem::refuse_rotation(c, old, grace, "client:web-app", now)).unwrap()
}

pub(crate) fn active(store: &Store, hash: &str, now: i64) -> bool {
    store.read_transaction(|c| reference_tokens::find_active(c, hash, now)).unwrap().is_some()
}

/// The rows sessions, codes and grants point at: two users and two applications.
pub(crate) struct Parties {
    pub alice: UserId,
    pub bob: UserId,
    pub app: ApplicationId,
    pub other_app: ApplicationId,
}

pub(crate) fn parties(store: &Store) -> Parties {
    store
        .write_transaction(|c| {
            let alice = users::create(c, &NewUser { username: "alice".into(), ..Default::default() }, NOW)?;
            let bob = users::create(c, &NewUser { username: "bob".into(), ..Default::default() }, NOW)?;
            let app = applications::create(c, &"web-app".into(), &web_app("Web app"), Some("secret-hash"), NOW)?;
            let other_app =
                applications::create(c, &"other-app".into(), &web_app("Other app"), Some("secret-hash"), NOW)?;
            Ok(Parties { alice: alice.id, bob: bob.id, app: app.id, other_app: other_app.id })
        })
        .unwrap()
}

pub(crate) fn web_app(name: &str) -> ApplicationSettings {
    ApplicationSettings {
        require_consent: true,
        allowed_scopes: vec![],
        ..apps::web_app(name, &["https://app.example.com/callback"])
    }
}

pub(crate) fn code(p: &Parties, code_hash: &str, grant_id: &str) -> NewAuthorizationCode {
    NewAuthorizationCode {
        code_hash: code_hash.into(),
        grant_id: GrantId::from(grant_id),
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
        dpop_jkt: None,
    }
}

pub(crate) fn request(p: &Parties, id_hash: &str, session_id_hash: Option<&str>) -> NewAuthorizationRequest {
    NewAuthorizationRequest {
        id_hash: id_hash.into(),
        application_id: p.app.clone(),
        session_id_hash: session_id_hash.map(str::to_owned),
        parameters: json!({"client_id": "web-app", "scope": "openid", "state": "xyz"}),
        expires_at: NOW + 600,
    }
}
