//! Client ID Metadata Documents: with `client_id_metadata_documents` on, an https (here,
//! an operator-listed loopback) `client_id` is fetched by the guarded client, must be JSON
//! whose `client_id` is its URL, is checked as a registration, is kept as an application
//! and used for codes and tokens, and is fetched again once its `Cache-Control` lifetime
//! is over. Every failure is authorize's error page, never a redirect.

use serde_json::{Value, json};
use tessera::settings::RawSettings;
use tessera_store::applications::{self, RegistrationKind};
use tessera_store::client_registrations;
use tessera_testkit::http::HttpReceiver;

use super::registration_world;
use crate::common::TestDatabase;
use crate::common::security::*;

/// A server that reads metadata documents and may reach 127.0.0.1, and a loopback
/// server publishing `document` (with `client_id` its URL unless it names one) at
/// `/client.json` with `Cache-Control: max-age=600`.
fn cimd_world(db: &TestDatabase, on: bool) -> (World, tempfile::TempDir, HttpReceiver, String) {
    let (w, data) = registration_world(db, "closed", |raw| RawSettings {
        client_id_metadata_documents: on,
        client_registration_scopes: ["openid", "profile", "email", "offline_access"].map(str::to_owned).to_vec(),
        outbound_private_hosts: vec!["127.0.0.1".into()],
        ..raw
    });
    let receiver = HttpReceiver::start();
    let url = receiver.url("/client.json");
    publish(&receiver, &document(&url, "Agent"));
    (w, data, receiver, url)
}

fn document(url: &str, name: &str) -> Value {
    json!({
        "client_id": url,
        "client_name": name,
        "redirect_uris": [REDIRECT],
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"],
        "client_uri": "https://agent.example.test",
    })
}

fn publish(receiver: &HttpReceiver, document: &Value) {
    receiver.serve_document(
        &[("Content-Type", "application/json"), ("Cache-Control", "public, max-age=600")],
        document.to_string().as_bytes(),
    );
}

fn stored(w: &World, url: &str) -> Option<applications::Application> {
    w.store.read_transaction(|c| applications::find_by_client_id(c, &url.into())).unwrap()
}

crate::both_backends! {
    fn a_metadata_document_client_signs_a_user_in_and_gets_tokens(db: TestDatabase) {
        let (w, _data, receiver, url) = cimd_world(&db, true);
        assert_eq!(w.app.discovery()["client_id_metadata_document_supported"], true);
        let b = Browser::new(&w.app);
        let callback = code_for(&b, &authorize_path(&url, REDIRECT, &[("scope", "openid profile offline_access")]));
        assert_eq!(callback["state"], "st-1");
        let reply = redeem_public(&w, &url, &callback["code"], REDIRECT, VERIFIER);
        assert_eq!(reply.status, 200, "{}", reply.body);
        let tokens = reply.json();
        let id_token = verified(&w, tokens["id_token"].as_str().unwrap());
        assert_eq!(id_token["aud"], url.as_str());

        let received = receiver.received();
        assert_eq!(received.len(), 1, "fetched once, then from the cache");
        assert_eq!(received[0].method, "GET");
        assert_eq!(received[0].target, "/client.json");
        let app = stored(&w, &url).unwrap();
        assert_eq!(app.registration, Some(RegistrationKind::MetadataDocument));
        assert_eq!(app.settings.name, "Agent");
        assert!(app.settings.require_consent);
        let registration = w.store.read_transaction(|c| client_registrations::get(c, &app.id)).unwrap().unwrap();
        let lifetime = registration.expires_at.unwrap() - registration.updated_at;
        assert_eq!(lifetime, 600, "Cache-Control max-age");
        assert_eq!(registration.metadata["client_uri"], "https://agent.example.test");

        // The refresh token works too, without fetching again.
        let refreshed = Reply::read(w.app.token(None, &[
            ("grant_type", "refresh_token"), ("refresh_token", tokens["refresh_token"].as_str().unwrap()), ("client_id", &url),
        ]));
        assert_eq!(refreshed.status, 200, "{}", refreshed.body);
        assert_eq!(receiver.received().len(), 1);
    }

    fn the_consent_page_says_a_metadata_document_client_named_itself_and_shows_the_documents_host(db: TestDatabase) {
        let (w, _data, receiver, url) = cimd_world(&db, true);
        let mut doc = document(&url, "Tessera Admin");
        doc["logo_uri"] = json!("https://logo.example.test/trust-me.png");
        publish(&receiver, &doc);
        let page = consent_page(&Browser::new(&w.app), &authorize_path(&url, REDIRECT, &[]));
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.body.contains("<span class=\"client\">Tessera Admin</span>"), "{}", page.body);
        assert!(page.body.contains("<strong>This application registered itself.</strong>"), "{}", page.body);
        assert!(page.body.contains("It is published by <strong class=\"host\">127.0.0.1</strong>."), "{}", page.body);
        assert!(!page.body.contains("app.example.test"), "the document's host, not the redirect's");
        assert!(!page.body.contains("logo.example.test") && !page.body.contains("<img"), "no client logo");
    }

    fn a_stale_copy_is_fetched_again_and_updated(db: TestDatabase) {
        let (w, _data, receiver, url) = cimd_world(&db, true);
        let b = Browser::new(&w.app);
        code_for(&b, &authorize_path(&url, REDIRECT, &[]));
        assert_eq!(receiver.received().len(), 1);
        code_for(&b, &authorize_path(&url, REDIRECT, &[]));
        assert_eq!(receiver.received().len(), 1, "fresh: from the cache");

        publish(&receiver, &document(&url, "Agent v2"));
        let app = stored(&w, &url).unwrap();
        let now = tessera::now();
        w.store.write_transaction(|c| {
            let metadata = client_registrations::get(c, &app.id)?.unwrap().metadata;
            client_registrations::update(c, &app.id, &metadata, Some(now - 1), now)
        }).unwrap();
        let callback = code_for(&b, &authorize_path(&url, REDIRECT, &[]));
        assert!(callback.contains_key("code"));
        assert_eq!(receiver.received().len(), 2, "stale: fetched again");
        assert_eq!(stored(&w, &url).unwrap().settings.name, "Agent v2");
    }

    fn a_document_whose_client_id_is_not_its_url_is_refused(db: TestDatabase) {
        let (w, _data, receiver, url) = cimd_world(&db, true);
        publish(&receiver, &document("https://attacker.example.test/client.json", "Agent"));
        let b = Browser::new(&w.app);
        b.get(&authorize_path(&url, REDIRECT, &[])).assert_error_page("mismatching client_id");
        assert!(stored(&w, &url).is_none());
        assert_eq!(receiver.received().len(), 1);
    }

    fn a_document_over_five_kilobytes_is_refused(db: TestDatabase) {
        let (w, _data, receiver, url) = cimd_world(&db, true);
        let mut big = document(&url, "Agent");
        big["padding"] = json!("x".repeat(6000));
        publish(&receiver, &big);
        let b = Browser::new(&w.app);
        b.get(&authorize_path(&url, REDIRECT, &[])).assert_error_page("too big");
        assert!(stored(&w, &url).is_none());
    }

    fn invalid_metadata_and_unfetchable_urls_show_the_error_page(db: TestDatabase) {
        let (w, _data, receiver, url) = cimd_world(&db, true);
        let b = Browser::new(&w.app);
        // A shared secret cannot exist for such a client.
        let mut secret = document(&url, "Agent");
        secret["token_endpoint_auth_method"] = json!("client_secret_basic");
        publish(&receiver, &secret);
        b.get(&authorize_path(&url, REDIRECT, &[])).assert_error_page("client_secret_basic");
        // A redirect URI the document does not list is never used.
        publish(&receiver, &document(&url, "Agent"));
        b.get(&authorize_path(&url, OTHER_REDIRECT, &[])).assert_error_page("unregistered redirect URI");
        // Plain http to a host the operator did not list is refused before any request.
        let before = receiver.received().len();
        b.get(&authorize_path("http://example.test/client.json", REDIRECT, &[])).assert_error_page("plain http");
        // Not the document's normal form.
        let dotted = receiver.url("/a/../client.json");
        b.get(&authorize_path(&dotted, REDIRECT, &[])).assert_error_page("dot segments");
        assert_eq!(receiver.received().len(), before);
        // The document's server answers an error.
        receiver.fail_next(&[404]);
        let missing = receiver.url("/missing.json");
        b.get(&authorize_path(&missing, REDIRECT, &[])).assert_error_page("404");
        assert!(stored(&w, &missing).is_none());
    }

    fn with_the_setting_off_a_url_client_id_is_an_unknown_client_and_nothing_is_fetched(db: TestDatabase) {
        let (w, _data, receiver, url) = cimd_world(&db, false);
        assert!(w.app.discovery().get("client_id_metadata_document_supported").is_none());
        let b = Browser::new(&w.app);
        b.get(&authorize_path(&url, REDIRECT, &[])).assert_error_page("off");
        assert!(receiver.received().is_empty());
        assert!(stored(&w, &url).is_none());
    }
}
