use serde_json::json;
use tessera_domain::ApplicationId;
use tessera_store::applications::{self, RegistrationKind};
use tessera_store::client_registrations::{self, ABANDONED_AFTER, ClientRegistration};
use tessera_store::grants::NewGrant;
use tessera_store::{Store, purge};

use crate::fixtures::{create_grant, grant, parties, web_app};
use tessera_testkit::NOW;

/// A metadata-document client whose copy goes stale at `stale_at`.
fn metadata_client(store: &Store, url: &str, stale_at: i64) -> ApplicationId {
    store
        .write_transaction(|c| {
            let app = applications::create(c, &url.into(), &web_app(url), None, NOW)?;
            applications::set_registration(c, &app.id, RegistrationKind::MetadataDocument)?;
            client_registrations::create(
                c,
                &ClientRegistration {
                    application_id: app.id.clone(),
                    access_token_hash: None,
                    initial_access_token_id: None,
                    metadata: json!({}),
                    expires_at: Some(stale_at),
                    created_at: NOW,
                    updated_at: NOW,
                },
            )?;
            Ok(app.id)
        })
        .unwrap()
}

fn exists(store: &Store, id: &ApplicationId) -> bool {
    store.read_transaction(|c| applications::get(c, id)).is_ok()
}

crate::both_backends! {
    fn a_metadata_document_client_unused_for_thirty_days_is_purged_and_one_holding_a_grant_is_kept(store: Store) {
        let p = parties(&store);
        let stale_at = NOW + 300;
        let unused = metadata_client(&store, "https://unused.example/client.json", stale_at);
        let in_use = metadata_client(&store, "https://in-use.example/client.json", stale_at);
        let long_grant = stale_at + ABANDONED_AFTER + 86_400;
        create_grant(&store, &NewGrant { application_id: in_use.clone(), ..grant(&p, "sid-1", long_grant) });

        // Stale, but not for thirty days yet: nothing goes.
        let early = store.write_transaction(|c| purge::purge_expired(c, stale_at + ABANDONED_AFTER - 1)).unwrap();
        assert_eq!(early.metadata_document_clients, 0);
        assert!(exists(&store, &unused) && exists(&store, &in_use));

        let counts = store.write_transaction(|c| purge::purge_expired(c, stale_at + ABANDONED_AFTER)).unwrap();
        assert_eq!(counts.metadata_document_clients, 1);
        assert!(!exists(&store, &unused), "the abandoned client and its registration are gone");
        assert_eq!(store.read_transaction(|c| client_registrations::get(c, &unused)).unwrap(), None);
        assert!(exists(&store, &in_use), "a client holding a grant stays");
        // Applications an administrator created are never touched.
        assert!(exists(&store, &p.app) && exists(&store, &p.other_app));
    }
}
