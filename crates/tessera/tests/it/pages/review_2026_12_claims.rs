use super::*;
use std::collections::HashMap;

/// `phoney`: requires phone_number and phone_number_verified (scope `phone`), and
/// `mailer`: requires email (scope `email`).
fn with_claim_apps(w: &World) {
    let mut phoney = web_app(&[REDIRECT], &[LOGOUT]);
    phoney.allowed_scopes.push("phone".into());
    phoney.required_claims = vec!["phone_number".into(), "phone_number_verified".into()];
    add_app(w, "phoney", &phoney);
    let mut mailer = web_app(&[REDIRECT], &[LOGOUT]);
    mailer.required_claims = vec!["email".into()];
    add_app(w, "mailer", &mailer);
}

/// Signs `login` in at `client` and stops on the required-claims page: its form.
fn claims_page(b: &Browser, client: &str, scope: &str, login: &str) -> (String, String, String) {
    let first = b.get(&authorize_path(client, REDIRECT, &[("scope", scope)]));
    let (request, csrf) = form_of(b, first.location().unwrap());
    let reply = b.post("/login", &[("request", &request), ("csrf", &csrf), ("login", login), ("password", PASSWORD)]);
    let to_claims = b.get(&reply.see_other()).see_other();
    assert!(to_claims.starts_with("/login/claims?"), "{to_claims}");
    let page = b.get(&to_claims);
    assert_eq!(page.status, 200, "{}", page.body);
    (page.body.clone(), hidden(&page.body, "request"), hidden(&page.body, "csrf"))
}

fn id_token_claims(w: &World, b: &Browser, reply: Reply, client: &str) -> serde_json::Map<String, Value> {
    let callback: HashMap<String, String> = complete(b, reply, "alice", PASSWORD).callback();
    let tokens = redeem(w, client, &callback["code"], REDIRECT, Some(VERIFIER));
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    verified(w, tokens.json()["id_token"].as_str().unwrap())
}

crate::both_backends! {
    fn a_user_cannot_assert_phone_number_verified(db: TestDatabase) {
        let w = world(&db);
        with_claim_apps(&w);
        let b = Browser::new(&w.app);
        let (page, request, csrf) = claims_page(&b, "phoney", "openid phone", "alice");
        assert!(page.contains("claim.phone_number\""), "{page}");
        assert!(!page.contains("claim.phone_number_verified"), "the flag is never asked: {page}");
        let reply = b.post("/login/claims", &[("request", &request), ("csrf", &csrf),
            ("claim.phone_number", "+1 555 0100"), ("claim.phone_number_verified", "true")]);
        let claims = id_token_claims(&w, &b, reply, "phoney");
        assert_eq!(claims["phone_number"], "+15550100");
        assert!(claims.get("phone_number_verified").is_none_or(|v| v == false), "{claims:?}");
        let values = w.store.read_transaction(|c| {
            let user = users::get(c, &w.alice)?;
            users::claim_values(c, &user)
        }).unwrap();
        assert!(!values.contains_key("phone_number_verified"), "{values:?}");
    }

    fn changing_or_removing_an_email_resets_email_verified(db: TestDatabase) {
        let w = world(&db);
        let now = tessera::now();
        let verify = |id: &UserId| w.store.write_transaction(|c| users::update(c, id, &users::UserChanges {
            email_verified: Some(true), ..Default::default() }, now)).unwrap();
        verify(&w.alice);
        let changed = w.store.write_transaction(|c| users::update(c, &w.alice, &users::UserChanges {
            email: Some(Some("someone-else@victim.example".into())), ..Default::default() }, now)).unwrap();
        assert!(!changed.email_verified, "a new email is unverified");
        verify(&w.alice);
        let removed = w.store.write_transaction(|c| users::update(c, &w.alice, &users::UserChanges {
            email: Some(None), ..Default::default() }, now)).unwrap();
        assert!(!removed.email_verified, "no email, nothing verified");
        // An administrator may set both at once; an unchanged email keeps the flag.
        let both = w.store.write_transaction(|c| users::update(c, &w.alice, &users::UserChanges {
            email: Some(Some("alice@example.com".into())), email_verified: Some(true), ..Default::default() }, now)).unwrap();
        assert!(both.email_verified);
        let renamed = w.store.write_transaction(|c| users::update(c, &w.alice, &users::UserChanges {
            username: Some("alicia".into()), email: Some(Some("alice@example.com".into())), ..Default::default() }, now)).unwrap();
        assert!(renamed.email_verified);
    }

    fn an_email_given_on_the_required_claims_page_is_unverified(db: TestDatabase) {
        let w = world(&db);
        with_claim_apps(&w);
        let now = tessera::now();
        // Verified once, then the email removed: the flag goes with it.
        w.store.write_transaction(|c| users::update(c, &w.alice, &users::UserChanges {
            email_verified: Some(true), ..Default::default() }, now)).unwrap();
        w.store.write_transaction(|c| users::update(c, &w.alice, &users::UserChanges {
            email: Some(None), ..Default::default() }, now)).unwrap();
        let b = Browser::new(&w.app);
        let (_, request, csrf) = claims_page(&b, "mailer", "openid email", "alice");
        let reply = b.post("/login/claims", &[("request", &request), ("csrf", &csrf),
            ("claim.email", "boss@victim.example"), ("claim.email_verified", "true")]);
        let claims = id_token_claims(&w, &b, reply, "mailer");
        assert_eq!(claims["email"], "boss@victim.example");
        assert_eq!(claims["email_verified"], false, "{claims:?}");
    }

    fn changing_a_phone_number_resets_phone_number_verified(db: TestDatabase) {
        let w = world(&db);
        let now = tessera::now();
        let set = |values: Value| {
            let values: std::collections::BTreeMap<String, Value> = serde_json::from_value(values).unwrap();
            w.store.write_transaction(|c| users::set_claim_values(c, &w.alice, &values, now)).unwrap();
            let user = w.store.read_transaction(|c| users::get(c, &w.alice)).unwrap();
            w.store.read_transaction(|c| users::claim_values(c, &user)).unwrap()
        };
        let values = set(serde_json::json!({"phone_number": "+15550100", "phone_number_verified": true}));
        assert_eq!(values["phone_number_verified"], true, "set together by an administrator");
        assert_eq!(set(serde_json::json!({"phone_number": "+15550100"}))["phone_number_verified"], true, "unchanged");
        assert!(!set(serde_json::json!({"phone_number": "+15550199"})).contains_key("phone_number_verified"));
        set(serde_json::json!({"phone_number_verified": true}));
        assert!(!set(serde_json::json!({"phone_number": null})).contains_key("phone_number_verified"));
    }

    fn a_taken_email_on_the_required_claims_page_is_a_field_error(db: TestDatabase) {
        let w = world(&db);
        with_claim_apps(&w);
        let hasher = PasswordHasher::new(PasswordParams::TESTING).unwrap();
        let new = users::NewUser { username: "noemail".into(), password_hash: Some(hasher.hash(PASSWORD).unwrap()), ..Default::default() };
        let id = w.store.write_transaction(|c| users::create(c, &new, tessera::now())).unwrap().id;
        let b = Browser::new(&w.app);
        let (_, request, csrf) = claims_page(&b, "mailer", "openid email", "noemail");
        let reply = b.post("/login/claims", &[("request", &request), ("csrf", &csrf), ("claim.email", "alice@example.com")]);
        assert_eq!(reply.status, 400, "{}", reply.body);
        assert!(reply.body.contains("This value cannot be used for your account."), "{}", reply.body);
        assert_eq!(w.store.read_transaction(|c| users::get(c, &id)).unwrap().email, None, "nothing written");
        // A free address goes through.
        let reply = b.post("/login/claims", &[("request", &request), ("csrf", &csrf), ("claim.email", "noemail@example.com")]);
        reply.see_other();
    }
}
