use serde_json::json;
use tessera_store::Page;
use tessera_store::audit::{self, AuditFilter, NewAuditEvent};

use tessera_testkit::NOW;

fn event<'a>(actor: &'a str, action: &'a str, target: &'a str) -> NewAuditEvent<'a> {
    NewAuditEvent { actor, action, target, summary: json!({"changed": ["name"]}), client_ip: Some("192.0.2.1") }
}

crate::both_backends! {
    fn events_are_listed_newest_first_and_filtered(store: Store) {
        store.write_transaction(|c| audit::record(c, &event("admin", "application.create", "app:1"), NOW)).unwrap();
        store.write_transaction(|c| audit::record(c, &event("admin", "user.update", "user:1"), NOW + 1)).unwrap();
        store.write_transaction(|c| audit::record(c, &event("system", "login.failed", "user:1"), NOW + 2)).unwrap();
        let all = store.read_transaction(|c| audit::list(c, &AuditFilter::default(), &Page::first(10))).unwrap();
        assert_eq!(all.items.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(), ["login.failed", "user.update", "application.create"]);
        assert_eq!(all.items[0].summary, json!({"changed": ["name"]}));
        assert_eq!(all.items[0].client_ip.as_deref(), Some("192.0.2.1"));

        let by_actor = AuditFilter { actor: Some("admin".into()), ..Default::default() };
        assert_eq!(store.read_transaction(|c| audit::list(c, &by_actor, &Page::first(10))).unwrap().items.len(), 2);
        let by_target = AuditFilter { target: Some("user:1".into()), from: Some(NOW + 2), ..Default::default() };
        let found = store.read_transaction(|c| audit::list(c, &by_target, &Page::first(10))).unwrap();
        assert_eq!(found.items.len(), 1);
        assert_eq!(found.items[0].actor, "system");
        let window = AuditFilter { from: Some(NOW), until: Some(NOW + 1), ..Default::default() };
        assert_eq!(store.read_transaction(|c| audit::list(c, &window, &Page::first(10))).unwrap().items.len(), 2);

        let first = store.read_transaction(|c| audit::list(c, &AuditFilter::default(), &Page::first(2))).unwrap();
        let rest = store.read_transaction(|c| audit::list(c, &AuditFilter::default(), &Page { after: first.next.clone(), limit: 2 })).unwrap();
        assert_eq!(rest.items.len(), 1);
        assert_eq!(rest.items[0].action, "application.create");
        assert_eq!(store.read_transaction(audit::count).unwrap(), 3);
    }
}

mod sampled {
    use serde_json::json;
    use tessera_store::audit::{self, AuditFilter, NewAuditEvent};
    use tessera_store::{Page, throttle};

    use tessera_testkit::NOW;

    fn failed(store: &tessera_store::Store, at: i64) -> bool {
        let event = NewAuditEvent {
            actor: "anonymous",
            action: "client.authentication_failed",
            target: "client:nobody",
            summary: json!({ "reason": "unknown client" }),
            client_ip: Some("192.0.2.7"),
        };
        store
            .write_transaction(|c| {
                audit::record_sampled(c, &event, "audit:client.authentication_failed:192.0.2.7", 60, at)
            })
            .unwrap()
    }

    crate::both_backends! {
        fn events_anyone_can_cause_are_recorded_once_a_minute_with_the_count_passed_over(store: Store) {
            // Finding 15 of the 2026-12 review: every failed client authentication was a row.
            assert!(failed(&store, NOW));
            for at in 1..50 {
                assert!(!failed(&store, NOW + at % 60), "passed over at {at}");
            }
            assert!(failed(&store, NOW + 60));
            let filter = AuditFilter { action: Some("client.authentication_failed".into()), ..Default::default() };
            let events = store.read_transaction(|c| audit::list(c, &filter, &Page::first(10))).unwrap().items;
            let passed: Vec<i64> = events.iter().map(|e| e.summary["passed_over"].as_i64().unwrap()).collect();
            assert_eq!(passed, [49, 0], "newest first");
            assert_eq!(events[0].summary["reason"], "unknown client");
            // The bucket is purged like the throttle's.
            assert_eq!(store.write_transaction(|c| throttle::purge(c, NOW + 60 + throttle::PURGE_AFTER)).unwrap(), 1);
        }
    }
}
