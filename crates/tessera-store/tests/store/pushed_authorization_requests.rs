use serde_json::json;
use tessera_store::pushed_authorization_requests::{self, NewPushedRequest};

use crate::fixtures::{parties, web_app};
use tessera_store::applications;
use tessera_testkit::NOW;

fn pushed(app: &tessera_domain::ApplicationId, hash: &str) -> NewPushedRequest {
    NewPushedRequest {
        request_uri_hash: hash.into(),
        application_id: app.clone(),
        parameters: json!([["client_id", "web-app"], ["scope", "openid"]]),
        expires_at: NOW + 60,
    }
}

crate::both_backends! {
    fn a_pushed_request_is_spent_once_by_its_client_and_gives_its_parameters(store: Store) {
        let p = parties(&store);
        store.write_transaction(|c| pushed_authorization_requests::create(c, &pushed(&p.app, "par-1"), NOW)).unwrap();
        // Another client's attempt finds nothing and spends nothing.
        let foreign = store.write_statement(|c| pushed_authorization_requests::spend(c, "par-1", &p.other_app, NOW + 1));
        assert_eq!(foreign.unwrap(), None);
        let first = store.write_statement(|c| pushed_authorization_requests::spend(c, "par-1", &p.app, NOW + 1));
        assert_eq!(first.unwrap(), Some(json!([["client_id", "web-app"], ["scope", "openid"]])));
        let second = store.write_statement(|c| pushed_authorization_requests::spend(c, "par-1", &p.app, NOW + 2));
        assert_eq!(second.unwrap(), None);
        assert_eq!(store.read_statement(pushed_authorization_requests::count).unwrap(), 0);
    }

    fn an_expired_pushed_request_is_not_spent(store: Store) {
        let p = parties(&store);
        store.write_transaction(|c| pushed_authorization_requests::create(c, &pushed(&p.app, "par-1"), NOW)).unwrap();
        let late = store.write_statement(|c| pushed_authorization_requests::spend(c, "par-1", &p.app, NOW + 60));
        assert_eq!(late.unwrap(), None);
        assert_eq!(store.read_statement(pushed_authorization_requests::count).unwrap(), 1, "left for the purge");
    }

    fn deleting_the_application_deletes_its_pushed_requests(store: Store) {
        let p = parties(&store);
        store.write_transaction(|c| pushed_authorization_requests::create(c, &pushed(&p.other_app, "par-1"), NOW)).unwrap();
        store.write_transaction(|c| applications::delete(c, &p.other_app)).unwrap();
        assert_eq!(store.read_statement(pushed_authorization_requests::count).unwrap(), 0);
    }

    fn eight_concurrent_spends_of_one_pushed_request_give_exactly_one_winner(store: Store) {
        let p = parties(&store);
        store.write_transaction(|c| pushed_authorization_requests::create(c, &pushed(&p.app, "par-1"), NOW)).unwrap();
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(8));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (store, barrier, app) = (store.clone(), barrier.clone(), p.app.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    store.write_statement(|c| pushed_authorization_requests::spend(c, "par-1", &app, NOW + 1)).unwrap()
                })
            })
            .collect();
        let won = threads.into_iter().map(|t| t.join().unwrap()).filter(Option::is_some).count();
        assert_eq!(won, 1);
    }

    fn the_require_pushed_authorization_requests_setting_is_stored(store: Store) {
        let settings = tessera_store::applications::ApplicationSettings {
            require_pushed_authorization_requests: true,
            ..web_app("Strict")
        };
        let app = store.write_transaction(|c| applications::create(c, &"strict".into(), &settings, None, NOW)).unwrap();
        assert!(app.settings.require_pushed_authorization_requests);
        let relaxed = tessera_store::applications::ApplicationSettings { require_pushed_authorization_requests: false, ..settings };
        let app = store.write_transaction(|c| applications::update(c, &app.id, &relaxed, NOW + 1)).unwrap();
        assert!(!app.settings.require_pushed_authorization_requests);
    }
}
