use serde_json::json;
use tessera_store::authorization_requests;

use crate::fixtures::{parties, request};
use tessera_testkit::NOW;

crate::both_backends! {
    fn authorization_request_is_found_until_it_expires_or_is_deleted(store: Store) {
        let p = parties(&store);
        let created = store.write_transaction(|c| authorization_requests::create_request(c, &request(&p, "req", None), NOW)).unwrap();
        let found = store.read_transaction(|c| authorization_requests::get_request(c, "req", NOW + 599)).unwrap().unwrap();
        assert_eq!(found, created);
        assert_eq!(found.parameters["state"], json!("xyz"));
        assert!(store.read_transaction(|c| authorization_requests::get_request(c, "req", NOW + 600)).unwrap().is_none());
        assert!(store.write_transaction(|c| authorization_requests::delete_request(c, "req")).unwrap());
        assert!(!store.write_transaction(|c| authorization_requests::delete_request(c, "req")).unwrap());
        assert!(store.read_transaction(|c| authorization_requests::get_request(c, "req", NOW)).unwrap().is_none());
    }
}
