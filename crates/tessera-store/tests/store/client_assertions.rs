use tessera_store::client_assertions;

use crate::fixtures::parties;
use tessera_testkit::NOW;

crate::both_backends! {
    fn client_assertion_jti_replay_is_refused_until_its_record_expires(store: Store) {
        let p = parties(&store);
        assert!(store.write_transaction(|c| client_assertions::record_jti(c, &p.app, "jti-1", NOW + 60, NOW)).unwrap());
        assert!(!store.write_transaction(|c| client_assertions::record_jti(c, &p.app, "jti-1", NOW + 120, NOW + 59)).unwrap());
        // Another client may use the same jti value.
        assert!(store.write_transaction(|c| client_assertions::record_jti(c, &p.other_app, "jti-1", NOW + 60, NOW)).unwrap());
        // Once the first record expired, the value is recorded anew.
        assert!(store.write_transaction(|c| client_assertions::record_jti(c, &p.app, "jti-1", NOW + 200, NOW + 60)).unwrap());
        assert!(!store.write_transaction(|c| client_assertions::record_jti(c, &p.app, "jti-1", NOW + 200, NOW + 199)).unwrap());
    }
}
