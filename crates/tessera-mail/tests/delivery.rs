//! Delivery against a real SMTP server on loopback (the test kit's): a queued message
//! arrives whole, survives a restart of the worker, is retried after a transient
//! refusal and given up (audited) after a permanent one or too many attempts; two
//! workers running in parallel deliver each message once; with no SMTP server, messages
//! become files.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use tessera_mail::{Delivery, MailSettings, Outcome, Rendered, RetryPolicy, TestMessage, Wake, enqueue};
use tessera_store::{Store, audit, outbox};
use tessera_testkit::smtp::SmtpServer;
use tessera_testkit::{NOW, both_backends};
use tessera_tokens::MasterKey;

fn key() -> Arc<MasterKey> {
    Arc::new(MasterKey::generate().unwrap())
}

fn smtp_settings(server: &SmtpServer) -> MailSettings {
    MailSettings::new(Some(&server.url()), Some("id@acme.test"), "Acme <ID>", "unused".into()).unwrap()
}

fn queue(store: &Store, key: &MasterKey, to: &str) -> String {
    let rendered = Rendered::new(to, &TestMessage { issuer_name: "Acme <ID>", to }).unwrap();
    store
        .write_transaction(|c| {
            enqueue(c, key, &rendered, NOW).map_err(|e| tessera_store::StoreError::Corrupt(e.to_string()))
        })
        .unwrap()
}

fn delivery(store: &Store, key: &Arc<MasterKey>, settings: MailSettings) -> Delivery {
    Delivery::new(store.clone(), key.clone(), settings).unwrap()
}

both_backends! {
    fn a_queued_message_arrives_over_smtp_with_both_bodies_and_is_gone_from_the_queue(store: Store) {
        let server = SmtpServer::start();
        let key = key();
        let id = queue(&store, &key, "alice@example.com");
        // The payload at rest is encrypted: the address is not in it.
        let job = store.read_transaction(|c| outbox::pending(c, "mail")).unwrap();
        assert_eq!(job.len(), 1);
        let outcome = delivery(&store, &key, smtp_settings(&server)).run_due(NOW).unwrap();
        assert_eq!(outcome, Outcome { delivered: 1, retried: 0, given_up: 0 });
        let mail = server.wait_for(1, Duration::from_secs(5));
        assert_eq!(mail.len(), 1);
        assert_eq!((mail[0].from.as_str(), mail[0].to.clone()), ("id@acme.test", vec!["alice@example.com".to_owned()]));
        assert_eq!(mail[0].header("To").as_deref(), Some("alice@example.com"));
        assert_eq!(mail[0].header("Message-ID"), Some(format!("<{id}@acme.test>")));
        assert!(mail[0].header("From").unwrap().contains("<id@acme.test>"));
        assert!(mail[0].header("Subject").unwrap().contains("test message"));
        let body = mail[0].decoded();
        assert!(body.contains("Content-Type: multipart/alternative"), "{body}");
        assert!(body.contains("This is a test message from Acme <ID>."), "the text body unescaped: {body}");
        assert!(body.contains("test message from Acme &#60;ID&#62;.") || body.contains("test message from Acme &lt;ID&gt;."), "the HTML body escaped: {body}");
        assert!(store.read_transaction(|c| outbox::pending(c, "mail")).unwrap().is_empty());
        assert_eq!(delivery(&store, &key, smtp_settings(&server)).run_due(NOW).unwrap(), Outcome::default());
        assert_eq!(server.received().len(), 1, "sent once");
    }

    fn a_transient_refusal_is_retried_after_the_backoff(store: Store) {
        let server = SmtpServer::start();
        let key = key();
        queue(&store, &key, "bob@example.com");
        server.refuse_next("451 4.3.0 try again later");
        let worker = delivery(&store, &key, smtp_settings(&server));
        assert_eq!(worker.run_due(NOW).unwrap().retried, 1);
        let waiting = store.read_transaction(|c| outbox::pending(c, "mail")).unwrap();
        assert_eq!((waiting[0].attempts, waiting[0].next_attempt_at, waiting[0].claimed_by.clone()), (1, NOW + 30, None));
        assert!(waiting[0].last_error.as_deref().unwrap().contains("try again later"));
        assert_eq!(worker.run_due(NOW + 29).unwrap(), Outcome::default(), "not before the backoff");
        // Another worker (another node, or this one restarted) delivers it.
        let other = delivery(&store, &key, smtp_settings(&server));
        assert_eq!(other.run_due(NOW + 30).unwrap().delivered, 1);
        assert_eq!(server.wait_for(1, Duration::from_secs(5)).len(), 1);
    }

    fn a_permanent_refusal_gives_the_message_up_at_once_and_audits_it(store: Store) {
        let server = SmtpServer::start();
        let key = key();
        let id = queue(&store, &key, "nobody@example.com");
        server.refuse_next("550 5.1.1 no such user");
        assert_eq!(delivery(&store, &key, smtp_settings(&server)).run_due(NOW).unwrap().given_up, 1);
        assert!(store.read_transaction(|c| outbox::pending(c, "mail")).unwrap().is_empty());
        let events = store.read_transaction(|c| audit::list(c, &audit::AuditFilter::default(), &tessera_store::Page::first(10))).unwrap();
        let event = events.items.iter().find(|e| e.action == "mail.gave_up").expect("audited");
        assert_eq!((event.actor.as_str(), event.target.clone()), ("system", format!("outbox:{id}")));
        assert_eq!(event.summary["attempts"], 1);
        assert!(event.summary["error"].as_str().unwrap().contains("no such user"));
        assert!(server.received().is_empty());
    }

    fn a_message_is_given_up_after_the_last_attempt(store: Store) {
        let server = SmtpServer::start();
        let key = key();
        queue(&store, &key, "carol@example.com");
        let policy = RetryPolicy { first_delay: 1, max_delay: 1, max_attempts: 3 };
        let worker = delivery(&store, &key, smtp_settings(&server)).with_policy(policy);
        for _ in 0..3 {
            server.refuse_next("421 4.3.2 shutting down");
        }
        assert_eq!(worker.run_due(NOW).unwrap().retried, 1);
        assert_eq!(worker.run_due(NOW + 1).unwrap().retried, 1);
        assert_eq!(worker.run_due(NOW + 2).unwrap().given_up, 1);
        assert!(store.read_transaction(|c| outbox::pending(c, "mail")).unwrap().is_empty());
        let events = store.read_transaction(|c| audit::list(c, &audit::AuditFilter::default(), &tessera_store::Page::first(10))).unwrap();
        assert!(events.items.iter().any(|e| e.action == "mail.gave_up" && e.summary["attempts"] == 3));
    }

    fn two_workers_in_parallel_deliver_each_message_once(store: Store) {
        let server = SmtpServer::start();
        let key = key();
        let addresses: HashSet<String> = (0..12).map(|i| format!("user{i}@example.com")).collect();
        for to in &addresses {
            queue(&store, &key, to);
        }
        let barrier = Arc::new(Barrier::new(2));
        let runs: Vec<_> = (0..2)
            .map(|_| {
                let (worker, barrier) = (delivery(&store, &key, smtp_settings(&server)), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    worker.run_due(NOW).unwrap().delivered
                })
            })
            .collect();
        let delivered: usize = runs.into_iter().map(|r| r.join().unwrap()).sum();
        assert_eq!(delivered, 12);
        let mail = server.wait_for(12, Duration::from_secs(10));
        assert_eq!(mail.len(), 12, "each message once");
        assert_eq!(mail.iter().map(|m| m.to[0].clone()).collect::<HashSet<_>>(), addresses);
    }

    fn the_task_wakes_when_a_message_is_queued_and_stops_when_told(store: Store) {
        let server = SmtpServer::start();
        let key = key();
        let (wake, stop) = (Wake::default(), Arc::new(std::sync::atomic::AtomicBool::new(false)));
        // A poll far away: only the wake can make it deliver in time.
        let task = delivery(&store, &key, smtp_settings(&server)).spawn(wake.clone(), stop.clone(), Duration::from_secs(3600));
        std::thread::sleep(Duration::from_millis(300));
        let rendered = Rendered::new("dave@example.com", &TestMessage { issuer_name: "Acme", to: "dave@example.com" }).unwrap();
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
        store.write_transaction(|c| enqueue(c, &key, &rendered, now).map_err(|e| tessera_store::StoreError::Corrupt(e.to_string()))).unwrap();
        wake.notify();
        assert_eq!(server.wait_for(1, Duration::from_secs(10)).len(), 1);
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        task.join().unwrap();
    }

    fn without_smtp_a_message_becomes_a_file_in_the_mail_folder(store: Store) {
        let folder = tempfile::tempdir().unwrap();
        let mail_folder = folder.path().join("mail");
        let key = key();
        let id = queue(&store, &key, "erin@example.com");
        let settings = MailSettings::new(None, None, "Acme", mail_folder.clone()).unwrap();
        assert_eq!(delivery(&store, &key, settings).run_due(NOW).unwrap().delivered, 1);
        let file = mail_folder.join(format!("{NOW}-{id}.eml"));
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(text.contains("To: erin@example.com"), "{text}");
        assert!(text.contains("From: Acme <noreply@localhost>"), "{text}");
        assert!(text.contains("This is a test message from Acme <ID>."), "{text}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
        }
        assert!(store.read_transaction(|c| outbox::pending(c, "mail")).unwrap().is_empty());
    }

    fn a_payload_that_does_not_decrypt_is_given_up(store: Store) {
        let server = SmtpServer::start();
        queue(&store, &key(), "frank@example.com");
        // Another master key cannot read it: given up, never sent.
        assert_eq!(delivery(&store, &key(), smtp_settings(&server)).run_due(NOW).unwrap().given_up, 1);
        assert!(server.received().is_empty());
    }
}
