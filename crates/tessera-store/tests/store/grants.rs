use serde_json::{Value, json};
use tessera_domain::{ApplicationId, GrantId};
use tessera_store::grants::{self, NewGrant};
use tessera_store::{StoreError, reference_tokens, refresh_tokens};

use crate::fixtures::{Parties, active, claims, create_grant, grant, insert_reference, parties, reference, rotate};
use tessera_testkit::NOW;

fn for_app(p: &Parties, application_id: &ApplicationId, sid: &str) -> NewGrant {
    NewGrant { application_id: application_id.clone(), ..grant(p, sid, NOW + 3600) }
}

crate::both_backends! {
    fn grant_is_created_with_the_id_its_code_carried(store: Store) {
        let p = parties(&store);
        let from_code = NewGrant { id: Some("grant-from-code".into()), ..grant(&p, "sid-1", NOW + 3600) };
        let created = create_grant(&store, &from_code);
        assert_eq!(created.id.as_str(), "grant-from-code");
        let read = store.read_transaction(|c| grants::get_grant(c, &GrantId::from("grant-from-code"))).unwrap();
        assert_eq!(read, created);
        assert_eq!(read.amr, vec!["pwd".to_owned()]);
        assert_eq!(read.revoked_at, None);
        let fresh = create_grant(&store, &grant(&p, "sid-1", NOW + 3600));
        assert_eq!(fresh.id.as_str().len(), 36);
        assert!(matches!(store.read_transaction(|c| grants::get_grant(c, &GrantId::from("nope"))), Err(StoreError::NotFound { entity: "grant" })));
    }

    fn custom_claims_of_a_grant_persist_through_rotation(store: Store) {
        let p = parties(&store);
        let g = create_grant(&store, &grant(&p, "sid-1", NOW + 3600));
        store.write_transaction(|c| refresh_tokens::insert_refresh_token(c, "rt-1", &g.id, NOW + 1000, NOW)).unwrap();
        let custom = claims(json!({"tenant": "acme", "tier": 3}));
        store.write_transaction(|c| grants::set_custom_claims(c, &g.id, &custom)).unwrap();
        assert!(rotate(&store, "rt-1", g.id.as_str(), "rt-2", NOW + 1000, NOW + 1));
        let (_, after) = store.read_transaction(|c| refresh_tokens::find_refresh_token(c, "rt-2")).unwrap().unwrap();
        assert_eq!(after.custom_claims, custom);
        assert!(rotate(&store, "rt-2", g.id.as_str(), "rt-3", NOW + 1000, NOW + 2));
        let (_, again) = store.read_transaction(|c| refresh_tokens::find_refresh_token(c, "rt-3")).unwrap().unwrap();
        assert_eq!(again.custom_claims, custom);
        assert!(matches!(
            store.write_transaction(|c| grants::set_custom_claims(c, &GrantId::from("nope"), &custom)),
            Err(StoreError::NotFound { entity: "grant" })
        ));
    }

    fn revoking_a_grant_makes_its_reference_tokens_inactive(store: Store) {
        let p = parties(&store);
        let g = create_grant(&store, &grant(&p, "sid-1", NOW + 3600));
        let other = create_grant(&store, &grant(&p, "sid-1", NOW + 3600));
        insert_reference(&store, &reference(&p, "at-1", Some(g.id.as_str()), NOW + 600));
        insert_reference(&store, &reference(&p, "at-2", Some(g.id.as_str()), NOW + 600));
        insert_reference(&store, &reference(&p, "at-3", Some(other.id.as_str()), NOW + 600));
        insert_reference(&store, &reference(&p, "at-m2m", None, NOW + 600));
        let issued = json!({ "plan": { "value": "gold", "outputs": ["userinfo"], "source": { "kind": "script" } } });
        store.write_transaction(|c| grants::set_issued_claims(c, &g.id, issued.as_object().unwrap())).unwrap();
        let found = store.read_transaction(|c| reference_tokens::find_active(c, "at-1", NOW + 1)).unwrap().unwrap();
        assert_eq!(found.claims["client_id"], json!("web-app"));
        assert_eq!(Value::Object(found.issued_claims), issued, "the grant's latest issued claims come along");
        let machine = store.read_transaction(|c| reference_tokens::find_active(c, "at-m2m", NOW + 1)).unwrap().unwrap();
        assert!(machine.issued_claims.is_empty(), "a machine token has no grant");

        assert!(store.write_transaction(|c| grants::revoke_grant(c, &g.id, NOW + 2)).unwrap());
        assert!(!store.write_transaction(|c| grants::revoke_grant(c, &g.id, NOW + 3)).unwrap());
        assert!(!active(&store, "at-1", NOW + 4));
        assert!(!active(&store, "at-2", NOW + 4));
        assert!(active(&store, "at-3", NOW + 4));
        assert!(active(&store, "at-m2m", NOW + 4));
        assert_eq!(store.read_transaction(|c| grants::get_grant(c, &g.id)).unwrap().revoked_at, Some(NOW + 2));
        assert_eq!(store.read_transaction(|c| grants::get_grant(c, &other.id)).unwrap().revoked_at, None);
    }

    fn revoking_the_grants_of_a_user_for_one_application_leaves_other_applications_alone(store: Store) {
        let p = parties(&store);
        let web = create_grant(&store, &grant(&p, "sid-1", NOW + 3600));
        let other = create_grant(&store, &for_app(&p, &p.other_app, "sid-1"));
        let bobs = create_grant(&store, &NewGrant { user_id: Some(p.bob.clone()), ..grant(&p, "sid-b", NOW + 3600) });
        let revoked = store.write_transaction(|c| grants::revoke_grants_of_user_application(c, &p.alice, &p.app, NOW + 1));
        assert_eq!(revoked.unwrap(), 1);
        assert_eq!(store.read_transaction(|c| grants::get_grant(c, &web.id)).unwrap().revoked_at, Some(NOW + 1));
        assert_eq!(store.read_transaction(|c| grants::get_grant(c, &other.id)).unwrap().revoked_at, None);
        assert_eq!(store.read_transaction(|c| grants::get_grant(c, &bobs.id)).unwrap().revoked_at, None);
        assert_eq!(store.write_transaction(|c| grants::revoke_grants_of_user(c, &p.alice, NOW + 2)).unwrap(), 1);
        assert_eq!(store.read_transaction(|c| grants::get_grant(c, &other.id)).unwrap().revoked_at, Some(NOW + 2));
        assert_eq!(store.read_transaction(|c| grants::get_grant(c, &bobs.id)).unwrap().revoked_at, None);
    }

    fn logout_revokes_the_sessions_online_grants_and_keeps_offline_ones(store: Store) {
        let p = parties(&store);
        let online = create_grant(&store, &NewGrant { scope: "openid profile".into(), ..grant(&p, "sid-9", NOW + 3600) });
        let offline = create_grant(&store, &NewGrant { scope: "offline_access openid".into(), ..grant(&p, "sid-9", NOW + 3600) });
        assert_eq!(store.write_transaction(|c| grants::revoke_online_grants_of_session(c, "sid-9", NOW + 1)).unwrap(), 1);
        assert_eq!(store.read_transaction(|c| grants::get_grant(c, &online.id)).unwrap().revoked_at, Some(NOW + 1));
        assert_eq!(store.read_transaction(|c| grants::get_grant(c, &offline.id)).unwrap().revoked_at, None);
    }
}
