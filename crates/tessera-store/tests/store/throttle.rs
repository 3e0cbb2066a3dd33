use tessera_store::throttle::{self, Limit};

use crate::common::NOW;

const LIMIT: Limit = Limit { failures: 3, window: 60, lockout: 300 };

crate::both_backends! {
    fn a_key_is_locked_after_the_limit_and_unlocks_after_the_lockout(store) {
        assert_eq!(store.write(|c| throttle::record_failure(c, "account:alice", LIMIT, NOW)).unwrap(), None);
        assert_eq!(store.write(|c| throttle::record_failure(c, "account:alice", LIMIT, NOW + 1)).unwrap(), None);
        assert_eq!(store.read(|c| throttle::locked_until(c, "account:alice", NOW + 1)).unwrap(), None);
        assert_eq!(store.write(|c| throttle::record_failure(c, "account:alice", LIMIT, NOW + 2)).unwrap(), Some(NOW + 302));
        assert_eq!(store.read(|c| throttle::locked_until(c, "account:alice", NOW + 3)).unwrap(), Some(NOW + 302));
        assert_eq!(store.read(|c| throttle::locked_until(c, "account:alice", NOW + 302)).unwrap(), None);
        assert_eq!(store.read(|c| throttle::locked_until(c, "ip:192.0.2.1", NOW)).unwrap(), None, "keys are separate");
    }

    fn failures_outside_the_window_start_a_new_count(store) {
        store.write(|c| throttle::record_failure(c, "ip:192.0.2.1", LIMIT, NOW)).unwrap();
        store.write(|c| throttle::record_failure(c, "ip:192.0.2.1", LIMIT, NOW + 1)).unwrap();
        assert_eq!(store.write(|c| throttle::record_failure(c, "ip:192.0.2.1", LIMIT, NOW + 100)).unwrap(), None);
    }

    fn clearing_forgets_the_failures(store) {
        store.write(|c| throttle::record_failure(c, "account:bob", LIMIT, NOW)).unwrap();
        store.write(|c| throttle::record_failure(c, "account:bob", LIMIT, NOW)).unwrap();
        store.write(|c| throttle::clear(c, "account:bob")).unwrap();
        assert_eq!(store.write(|c| throttle::record_failure(c, "account:bob", LIMIT, NOW)).unwrap(), None);
    }
}
