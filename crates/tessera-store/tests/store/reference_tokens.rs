use tessera_store::reference_tokens;

use crate::fixtures::{active, insert_reference, parties, reference};
use tessera_testkit::NOW;

crate::both_backends! {
    fn reference_token_is_inactive_when_expired_unknown_or_revoked_by_its_client(store: Store) {
        let p = parties(&store);
        insert_reference(&store, &reference(&p, "at-1", None, NOW + 600));
        assert!(active(&store, "at-1", NOW + 599));
        assert!(!active(&store, "at-1", NOW + 600));
        assert!(!active(&store, "unknown", NOW));

        assert!(!store.write_transaction(|c| reference_tokens::revoke_reference_token(c, "at-1", &p.other_app, NOW + 1)).unwrap());
        assert!(active(&store, "at-1", NOW + 2));
        assert!(store.write_transaction(|c| reference_tokens::revoke_reference_token(c, "at-1", &p.app, NOW + 2)).unwrap());
        assert!(!active(&store, "at-1", NOW + 3));
        assert!(!store.write_transaction(|c| reference_tokens::revoke_reference_token(c, "at-1", &p.app, NOW + 3)).unwrap());
        assert!(!store.write_transaction(|c| reference_tokens::revoke_reference_token(c, "unknown", &p.app, NOW + 3)).unwrap());
    }
}
