//! A user's sessions and consents through the management API: listed, ended, withdrawn,
//! with what depended on them revoked and the change audited.

use actix_web::http::Method;
use serde_json::json;
use tessera_domain::UserId;
use tessera_store::browser_sessions::{self, NewSession};
use tessera_store::grants::{self, NewGrant};
use tessera_store::users::{self, NewUser};
use tessera_store::{Store, applications, consents};
use tessera_testkit::{admin_key, apps, both_backends};

use crate::common::{app, assert_error, audit_events, call};

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

struct Seeded {
    ada: UserId,
    bob: UserId,
    app: tessera_domain::ApplicationId,
    online: tessera_domain::GrantId,
    offline: tessera_domain::GrantId,
}

/// Ada signed in twice (sid-1 from a phone, sid-2), Bob once (sid-3); Ada consented to one
/// application and holds an online and an offline grant from sid-1.
fn seed(store: &Store) -> Seeded {
    let t = now();
    store
        .write_transaction(|c| {
            let ada = users::create(c, &NewUser { username: "ada".into(), ..Default::default() }, t)?;
            let bob = users::create(c, &NewUser { username: "bob".into(), ..Default::default() }, t)?;
            let mut shop = apps::web_app("Shop", &["https://shop.example/cb"]);
            shop.backchannel_logout_uri = Some("https://shop.example/logout".into());
            let app = applications::create(c, &"shop".into(), &shop, Some("h"), t)?;
            for (hash, sid, user, agent) in [
                ("h1", "sid-1", &ada.id, Some("Phone/1.0")),
                ("h2", "sid-2", &ada.id, None),
                ("h3", "sid-3", &bob.id, None),
            ] {
                let new = NewSession {
                    id_hash: hash.into(),
                    sid: sid.into(),
                    user_id: Some(user.clone()),
                    auth_time: Some(t),
                    amr: vec!["pwd".into()],
                    expires_at: t + 3600,
                    client_ip: Some("198.51.100.7".into()),
                    user_agent: agent.map(str::to_owned),
                };
                browser_sessions::create(c, &new, t)?;
            }
            consents::upsert_consent(c, &ada.id, &app.id, "offline_access openid", t)?;
            let grant = |scope: &str| NewGrant {
                id: None,
                application_id: app.id.clone(),
                user_id: Some(ada.id.clone()),
                sid: Some("sid-1".into()),
                scope: scope.into(),
                resources: vec![],
                auth_time: Some(t),
                amr: vec!["pwd".into()],
                custom_claims: Default::default(),
                issued_claims: Default::default(),
                expires_at: t + 3600,
                dpop_jkt: None,
            };
            let online = grants::create_grant(c, &grant("openid"), t)?;
            let offline = grants::create_grant(c, &grant("offline_access openid"), t)?;
            Ok(Seeded { ada: ada.id, bob: bob.id, app: app.id, online: online.id, offline: offline.id })
        })
        .unwrap()
}

fn revoked(store: &Store, id: &tessera_domain::GrantId) -> bool {
    store.read_transaction(|c| grants::get_grant(c, id)).unwrap().revoked_at.is_some()
}

both_backends! {
    async fn an_admin_lists_a_users_sessions_and_ends_one(store: Store) {
        let app = app(&store).await;
        let key = admin_key(&store);
        let s = seed(&store);
        let path = format!("/api/v1/users/{}/sessions", s.ada);
        let (status, listed) = call(&app, Method::GET, &path, Some(&key), None).await;
        assert_eq!(status, 200, "{listed}");
        let sids: Vec<&str> = listed.as_array().unwrap().iter().map(|s| s["sid"].as_str().unwrap()).collect();
        assert_eq!(sids.len(), 2);
        assert!(sids.contains(&"sid-1") && sids.contains(&"sid-2"));
        let phone = listed.as_array().unwrap().iter().find(|s| s["sid"] == "sid-1").unwrap();
        assert_eq!(phone["user_agent"], "Phone/1.0");
        assert_eq!(phone["client_ip"], "198.51.100.7");
        assert_eq!(phone["amr"], json!(["pwd"]));
        assert!(phone.get("id_hash").is_none(), "the cookie's hash never leaves the server");

        // Bob's session is not Ada's to end: 404, nothing ended.
        assert_error(&call(&app, Method::DELETE, &format!("{path}/sid-3"), Some(&key), None).await, 404, "not_found", None);
        assert!(audit_events(&store, "user.session_end").is_empty());

        let (status, body) = call(&app, Method::DELETE, &format!("{path}/sid-1"), Some(&key), None).await;
        assert_eq!(status, 204, "{body}");
        assert!(revoked(&store, &s.online), "the session's online grant ends with it");
        let told = store.read_transaction(|c| tessera_store::outbox::pending(c, tessera_store::backchannel_logout::KIND)).unwrap();
        assert_eq!(told.len(), 1, "the application the session signed in to is told (back-channel logout)");
        assert!(!revoked(&store, &s.offline), "offline_access outlives the session");
        let (_, listed) = call(&app, Method::GET, &path, Some(&key), None).await;
        assert_eq!(listed.as_array().unwrap().len(), 1);
        let events = audit_events(&store, "user.session_end");
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].target, format!("user:{}", s.ada));
        assert_eq!(events[0].summary, json!({ "sid": "sid-1", "grants_revoked": 1 }));
        // Ending it again: 404.
        assert_error(&call(&app, Method::DELETE, &format!("{path}/sid-1"), Some(&key), None).await, 404, "not_found", None);
    }

    async fn an_admin_signs_a_user_out_everywhere(store: Store) {
        let app = app(&store).await;
        let key = admin_key(&store);
        let s = seed(&store);
        let (status, ended) =
            call(&app, Method::DELETE, &format!("/api/v1/users/{}/sessions", s.ada), Some(&key), None).await;
        assert_eq!(status, 200, "{ended}");
        assert_eq!(ended, json!({ "sessions": 2, "grants_revoked": 1 }));
        let (_, listed) = call(&app, Method::GET, &format!("/api/v1/users/{}/sessions", s.ada), Some(&key), None).await;
        assert_eq!(listed, json!([]));
        let (_, bobs) = call(&app, Method::GET, &format!("/api/v1/users/{}/sessions", s.bob), Some(&key), None).await;
        assert_eq!(bobs.as_array().unwrap().len(), 1, "other users keep their sessions");
        assert_eq!(audit_events(&store, "user.sessions_end").len(), 1);
    }

    async fn an_admin_withdraws_a_consent_and_the_applications_grants_are_revoked(store: Store) {
        let app = app(&store).await;
        let key = admin_key(&store);
        let s = seed(&store);
        let path = format!("/api/v1/users/{}/consents", s.ada);
        let (status, listed) = call(&app, Method::GET, &path, Some(&key), None).await;
        assert_eq!(status, 200, "{listed}");
        assert_eq!(listed.as_array().unwrap().len(), 1);
        assert_eq!(listed[0]["client_id"], "shop");
        assert_eq!(listed[0]["application_name"], "Shop");
        assert_eq!(listed[0]["scope"], "offline_access openid");

        let (status, body) = call(&app, Method::DELETE, &format!("{path}/{}", s.app), Some(&key), None).await;
        assert_eq!(status, 204, "{body}");
        assert!(revoked(&store, &s.online) && revoked(&store, &s.offline), "every grant to that application ends");
        assert_eq!(call(&app, Method::GET, &path, Some(&key), None).await.1, json!([]));
        let events = audit_events(&store, "user.consent_revoke");
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].summary["grants_revoked"], 2);
        assert_error(&call(&app, Method::DELETE, &format!("{path}/{}", s.app), Some(&key), None).await, 404, "not_found", None);
    }

    async fn sessions_and_consents_of_an_unknown_user_are_404(store: Store) {
        let app = app(&store).await;
        let key = admin_key(&store);
        for (method, path) in [
            (Method::GET, "/api/v1/users/nobody/sessions"),
            (Method::DELETE, "/api/v1/users/nobody/sessions"),
            (Method::DELETE, "/api/v1/users/nobody/sessions/sid-1"),
            (Method::GET, "/api/v1/users/nobody/consents"),
            (Method::DELETE, "/api/v1/users/nobody/consents/app"),
        ] {
            assert_error(&call(&app, method, path, Some(&key), None).await, 404, "not_found", None);
        }
    }
}
