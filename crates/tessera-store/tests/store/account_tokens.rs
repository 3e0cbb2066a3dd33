use tessera_store::account_tokens::{self, NewAccountToken, Purpose, SpentToken};
use tessera_store::{purge, users};
use tessera_testkit::NOW;

use crate::fixtures::parties;

fn issue(store: &tessera_store::Store, hash: &str, user: &tessera_domain::UserId, purpose: Purpose, at: i64) {
    let new =
        NewAccountToken { token_hash: hash, purpose, user_id: user, email: "a@example.com", expires_at: at + 600 };
    store.write_transaction(|c| account_tokens::issue(c, &new, at)).unwrap();
}

fn redeem(store: &tessera_store::Store, hash: &str, purpose: Purpose, at: i64) -> Option<SpentToken> {
    store.write_transaction(|c| account_tokens::redeem(c, hash, purpose, at)).unwrap()
}

crate::both_backends! {
    fn an_account_link_is_spent_once_for_its_own_purpose_only(store: Store) {
        let p = parties(&store);
        issue(&store, "h-1", &p.alice, Purpose::VerifyEmail, NOW);
        assert_eq!(redeem(&store, "h-1", Purpose::ResetPassword, NOW + 1), None, "another purpose");
        assert_eq!(redeem(&store, "h-unknown", Purpose::VerifyEmail, NOW + 1), None);
        let spent = redeem(&store, "h-1", Purpose::VerifyEmail, NOW + 1).unwrap();
        assert_eq!(spent, SpentToken { user_id: p.alice.clone(), email: "a@example.com".into() });
        assert_eq!(redeem(&store, "h-1", Purpose::VerifyEmail, NOW + 2), None, "single use");
        let live = store.read_transaction(|c| account_tokens::find_live(c, "h-1", Purpose::VerifyEmail, NOW + 2));
        assert_eq!(live.unwrap(), None);
    }

    fn an_expired_account_link_is_refused_and_purged(store: Store) {
        let p = parties(&store);
        issue(&store, "h-1", &p.alice, Purpose::ResetPassword, NOW);
        assert_eq!(redeem(&store, "h-1", Purpose::ResetPassword, NOW + 600), None);
        let counts = store.write_transaction(|c| purge::purge_expired(c, NOW + 600)).unwrap();
        assert_eq!(counts.account_tokens, 1);
        let left = store.read_transaction(|c| account_tokens::count_of_user(c, &p.alice, Purpose::ResetPassword));
        assert_eq!(left.unwrap(), 0);
    }

    fn a_new_account_link_supersedes_the_older_ones_of_its_purpose(store: Store) {
        let p = parties(&store);
        issue(&store, "old", &p.alice, Purpose::ResetPassword, NOW);
        issue(&store, "verify", &p.alice, Purpose::VerifyEmail, NOW);
        issue(&store, "bobs", &p.bob, Purpose::ResetPassword, NOW);
        issue(&store, "new", &p.alice, Purpose::ResetPassword, NOW + 1);
        assert_eq!(redeem(&store, "old", Purpose::ResetPassword, NOW + 2), None);
        assert!(redeem(&store, "new", Purpose::ResetPassword, NOW + 2).is_some());
        assert!(redeem(&store, "verify", Purpose::VerifyEmail, NOW + 2).is_some(), "other purpose untouched");
        assert!(redeem(&store, "bobs", Purpose::ResetPassword, NOW + 2).is_some(), "other user untouched");
    }

    fn deleting_the_user_deletes_their_account_links(store: Store) {
        let p = parties(&store);
        issue(&store, "h-1", &p.bob, Purpose::VerifyEmail, NOW);
        store.write_transaction(|c| users::delete(c, &p.bob)).unwrap();
        assert_eq!(redeem(&store, "h-1", Purpose::VerifyEmail, NOW + 1), None);
    }

    fn eight_concurrent_uses_of_one_account_link_give_exactly_one_winner(store: Store) {
        let p = parties(&store);
        issue(&store, "h-1", &p.alice, Purpose::ResetPassword, NOW);
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(8));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (store, barrier) = (store.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    store.write_transaction(|c| account_tokens::redeem(c, "h-1", Purpose::ResetPassword, NOW + 1)).unwrap()
                })
            })
            .collect();
        let won = threads.into_iter().map(|t| t.join().unwrap()).filter(Option::is_some).count();
        assert_eq!(won, 1);
    }
}
