//! The server's mail delivery task: a message queued in the database (by this node or,
//! as here, by another) is delivered over SMTP to a real server on loopback, or, with no
//! SMTP configured, written to a file under the data folder.

use std::time::{Duration, Instant};

use tessera_mail::{Rendered, TestMessage, enqueue};
use tessera_testkit::smtp::SmtpServer;
use tessera_tokens::MasterKey;

use crate::common::{TestApp, TestDatabase, settings_for};

/// Queues a test message as another node would: through the database only.
fn queue_elsewhere(db: &TestDatabase, key: &MasterKey, to: &str) -> String {
    let rendered = Rendered::new(to, &TestMessage { issuer_name: "Quokka ID", to }).unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    db.store()
        .write_transaction(|c| {
            enqueue(c, key, &rendered, now).map_err(|e| tessera_store::StoreError::Corrupt(e.to_string()))
        })
        .unwrap()
}

crate::both_backends! {
    fn the_server_delivers_a_queued_message_over_smtp(db: TestDatabase) {
        let smtp = SmtpServer::start();
        let data = tempfile::tempdir().unwrap();
        let key = MasterKey::generate().unwrap();
        let app = TestApp::spawn_with(tessera::settings::RawSettings {
            master_key: Some(key.to_base64().to_owned()),
            smtp_url: Some(smtp.url()),
            mail_from: Some("id@quokka.test".into()),
            issuer_name: "Quokka ID".into(),
            ..settings_for(&db, data.path())
        });
        let id = queue_elsewhere(&db, &key, "alice@example.com");
        // Not woken by this node: found by the task's poll (every 5 s).
        let mail = smtp.wait_for(1, Duration::from_secs(20));
        assert_eq!(mail.len(), 1, "delivered");
        assert_eq!(mail[0].to, ["alice@example.com"]);
        assert_eq!(mail[0].header("From").as_deref(), Some("\"Quokka ID\" <id@quokka.test>"));
        assert_eq!(mail[0].header("Message-ID"), Some(format!("<{id}@quokka.test>")));
        assert!(mail[0].decoded().contains("This is a test message from Quokka ID."));
        // The job is marked done once the SMTP server has acknowledged it, a moment after
        // the server received the message.
        let store = db.store();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !store.read_transaction(|c| tessera_store::outbox::pending(c, "mail")).unwrap().is_empty() {
            assert!(Instant::now() < deadline, "the delivered message is still queued");
            std::thread::sleep(Duration::from_millis(50));
        }
        drop(app);
    }

    fn without_smtp_the_server_writes_each_message_under_the_data_folder(db: TestDatabase) {
        let data = tempfile::tempdir().unwrap();
        let key = MasterKey::generate().unwrap();
        let app = TestApp::spawn_with(tessera::settings::RawSettings {
            master_key: Some(key.to_base64().to_owned()),
            ..settings_for(&db, data.path())
        });
        let id = queue_elsewhere(&db, &key, "bob@example.com");
        let folder = data.path().join("mail");
        let deadline = Instant::now() + Duration::from_secs(20);
        let file = loop {
            let found = std::fs::read_dir(&folder)
                .into_iter()
                .flatten()
                .flatten()
                .map(|entry| entry.path())
                .find(|path| path.to_string_lossy().ends_with(&format!("-{id}.eml")));
            if let Some(file) = found {
                break file;
            }
            assert!(Instant::now() < deadline, "no file for {id} in {}", folder.display());
            std::thread::sleep(Duration::from_millis(100));
        };
        let text = std::fs::read_to_string(file).unwrap();
        assert!(text.contains("To: bob@example.com") && text.contains("From: Tessera <noreply@localhost>"), "{text}");
        drop(app);
    }
}
