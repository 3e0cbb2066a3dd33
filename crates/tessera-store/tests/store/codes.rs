use tessera_store::codes::{self, AuthorizationCode, CodeConsumption};

use crate::fixtures::{code, parties};
use tessera_testkit::NOW;

fn consumed(outcome: CodeConsumption) -> AuthorizationCode {
    match outcome {
        CodeConsumption::Consumed(code) => code,
        other => panic!("expected Consumed, got {other:?}"),
    }
}

crate::both_backends! {
    fn authorization_code_is_consumed_once_and_the_second_redemption_is_already_consumed(store: Store) {
        let p = parties(&store);
        store.write_transaction(|c| codes::insert_code(c, &code(&p, "code-1", "grant-1"), NOW)).unwrap();
        let first = consumed(store.write_transaction(|c| codes::consume(c, "code-1", NOW + 1)).unwrap());
        assert_eq!(first.grant_id.as_str(), "grant-1");
        assert_eq!(first.application_id, p.app);
        assert_eq!(first.user_id, p.alice);
        assert_eq!(first.scope, "openid profile");
        assert_eq!(first.resources, vec!["https://api.example.com".to_owned()]);
        assert_eq!(first.code_challenge_method.as_deref(), Some("S256"));
        assert_eq!(first.nonce.as_deref(), Some("n-0S6_WzA2Mj"));
        assert_eq!(first.auth_time, NOW - 5);
        assert_eq!(first.consumed_at, Some(NOW + 1));

        match store.write_transaction(|c| codes::consume(c, "code-1", NOW + 2)).unwrap() {
            CodeConsumption::AlreadyConsumed(code) => {
                assert_eq!(code.grant_id.as_str(), "grant-1");
                assert_eq!(code.consumed_at, Some(NOW + 1));
            }
            other => panic!("expected AlreadyConsumed, got {other:?}"),
        }
        // Still recognised as a replay after the code's expiry.
        assert!(matches!(
            store.write_transaction(|c| codes::consume(c, "code-1", NOW + 61)).unwrap(),
            CodeConsumption::AlreadyConsumed(_)
        ));
    }

    fn expired_code_gives_expired_and_is_not_marked_consumed(store: Store) {
        let p = parties(&store);
        store.write_transaction(|c| codes::insert_code(c, &code(&p, "code-1", "grant-1"), NOW)).unwrap();
        assert_eq!(store.write_transaction(|c| codes::consume(c, "code-1", NOW + 60)).unwrap(), CodeConsumption::Expired);
        assert_eq!(store.write_transaction(|c| codes::consume(c, "code-1", NOW + 61)).unwrap(), CodeConsumption::Expired);
        assert_eq!(store.read_transaction(|c| codes::get_code(c, "code-1")).unwrap().unwrap().consumed_at, None);
    }

    fn unknown_code_gives_unknown(store: Store) {
        assert_eq!(store.write_transaction(|c| codes::consume(c, "nope", NOW)).unwrap(), CodeConsumption::Unknown);
        assert!(store.read_transaction(|c| codes::get_code(c, "nope")).unwrap().is_none());
    }

    fn eight_concurrent_redemptions_of_one_code_give_exactly_one_consumed(store: Store) {
        let p = parties(&store);
        store.write_transaction(|c| codes::insert_code(c, &code(&p, "code-1", "grant-1"), NOW)).unwrap();
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(8));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let store = store.clone();
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    barrier.wait();
                    store.write_transaction(|c| codes::consume(c, "code-1", NOW + 1)).unwrap()
                })
            })
            .collect();
        let outcomes: Vec<CodeConsumption> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        let won = outcomes.iter().filter(|o| matches!(o, CodeConsumption::Consumed(_))).count();
        let replayed = outcomes.iter().filter(|o| matches!(o, CodeConsumption::AlreadyConsumed(_))).count();
        assert_eq!((won, replayed), (1, 7), "{outcomes:?}");
        assert_eq!(store.read_transaction(|c| codes::get_code(c, "code-1")).unwrap().unwrap().consumed_at, Some(NOW + 1));
    }
}
