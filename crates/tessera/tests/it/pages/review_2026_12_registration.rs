use super::*;

const TAKEN: &str = "This username or email address cannot be used.";

fn register_with(w: &World, username: &str, email: &str) -> Reply {
    let b = Browser::new(&w.app);
    let to_login = b.get(&authorize_path("webapp", REDIRECT, &[])).see_other();
    let page = b.get(&to_login.replacen("/login", "/register", 1));
    let (request, csrf) = (hidden(&page.body, "request"), hidden(&page.body, "csrf"));
    b.post(
        "/register",
        &[
            ("request", &request),
            ("csrf", &csrf),
            ("username", username),
            ("email", email),
            ("password", "a long and unusual passphrase for registering"),
        ],
    )
}

crate::both_backends! {
    fn a_taken_username_and_a_taken_email_get_the_same_answer_and_registration_is_throttled(db: TestDatabase) {
        let w = world(&db);
        let by_name = register_with(&w, "alice", "someone-new@example.com");
        let by_email = register_with(&w, "someone-new", "alice@example.com");
        for (what, reply) in [("username", &by_name), ("email", &by_email)] {
            assert_eq!(reply.status, 400, "{what}: {}", reply.body);
            assert!(reply.body.contains(TAKEN), "{what}: {}", reply.body);
            assert!(!reply.body.contains("is taken") && !reply.body.contains("already registered"), "{what}");
        }
        // Ten registrations an hour from one address, whatever their outcome.
        for i in 0..8 {
            register_with(&w, &format!("newcomer{i}"), &format!("newcomer{i}@example.com")).see_other();
        }
        let refused = register_with(&w, "one-too-many", "one-too-many@example.com");
        assert_eq!(refused.status, 429, "{}", refused.body);
        assert!(refused.body.contains("Too many registrations from your network"), "{}", refused.body);
        assert!(w.store.read_transaction(|c| users::find_by_login(c, "one-too-many")).unwrap().is_none(), "nothing created");
        let filter = tessera_store::audit::AuditFilter { action: Some("user.register_throttled".into()), ..Default::default() };
        let throttled = w.store.read_transaction(|c| tessera_store::audit::list(c, &filter, &tessera_store::Page::first(5))).unwrap().items;
        assert_eq!(throttled.len(), 1);
    }
}
