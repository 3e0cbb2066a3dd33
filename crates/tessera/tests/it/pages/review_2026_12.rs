use super::*;
use tessera_domain::GrantType;
use tessera_store::audit::{self, AuditEvent, AuditFilter};
use tessera_store::page::Page;
use tessera_store::throttle;

pub fn events(store: &tessera_store::Store, action: &str) -> Vec<AuditEvent> {
    let filter = AuditFilter { action: Some(action.into()), ..Default::default() };
    store.read_transaction(|c| audit::list(c, &filter, &Page::first(200))).unwrap().items
}

/// Waits until the bucket `key` is locked (the budget is spent), at most 30 s.
fn wait_until_locked(store: &tessera_store::Store, key: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while store.read_transaction(|c| throttle::locked_until(c, key, tessera::now())).unwrap().is_none() {
        assert!(Instant::now() < deadline, "{key} was never locked");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Sends `send(wrong password)` 24 times in parallel and, once the account's bucket
/// is locked while those are still in flight, `send(right password)`: the statuses
/// of the wrong ones and the answer to the right one.
fn burst<T: Send>(store: &tessera_store::Store, key: &str, send: impl Fn(&str) -> T + Sync) -> (Vec<T>, T) {
    std::thread::scope(|s| {
        let wrong: Vec<_> = (0..24)
            .map(|i| {
                let send = &send;
                s.spawn(move || send(&format!("wrong password {i}")))
            })
            .collect();
        let right = s.spawn(|| {
            wait_until_locked(store, key);
            send(PASSWORD)
        });
        (wrong.into_iter().map(|t| t.join().unwrap()).collect(), right.join().unwrap())
    })
}

fn count(statuses: &[u16], status: u16) -> usize {
    statuses.iter().filter(|s| **s == status).count()
}

crate::both_backends! {
    fn parallel_sign_ins_never_evaluate_more_than_the_budget_nor_let_the_right_password_in(db: TestDatabase) {
        let w = world(&db);
        let (b, request, csrf) = on_sign_in_page(&w);
        let cookie = format!("tessera_session={}", b.session().unwrap());
        let url = w.app.url("/login");
        let send = |password: &str| {
            let form = [("request", request.as_str()), ("csrf", csrf.as_str()), ("login", "alice"), ("password", password)];
            Reply::read(http().post(&url).header("cookie", &cookie).form(&form).send().unwrap())
        };
        let (wrong, right) = burst(&w.store, &format!("account:{}", w.alice), send);
        let statuses: Vec<u16> = wrong.iter().map(|r| r.status).collect();
        assert_eq!((count(&statuses, 200), count(&statuses, 429)), (5, 19), "{statuses:?}");
        assert_eq!((right.status, error_text(&right.body)), (429, Some(LOCKED)), "{}", right.body);
        assert!(right.set_cookies().is_empty() && right.location().is_none());
        assert!(!signed_in(&b));
        assert_eq!(events(&w.store, "user.sign_in_failed").len(), 5, "only the budget was evaluated");
        assert!(events(&w.store, "user.sign_in").is_empty());
        // The lockout is audited once for the burst, naming the account.
        let locked = events(&w.store, "user.sign_in_locked");
        assert_eq!(locked.len(), 1, "{locked:?}");
        assert_eq!(locked[0].target, format!("user:{}", w.alice));
        assert_eq!(locked[0].summary["bucket"], "account");
        assert_eq!(locked[0].summary["client_id"], "webapp");
    }

    fn parallel_console_sign_ins_never_evaluate_more_than_the_budget(db: TestDatabase) {
        let w = world(&db);
        let admin_password = w.app.bootstrap_password.clone().unwrap();
        let admin = w.store.read_transaction(|c| users::find_by_login(c, "admin")).unwrap().unwrap();
        let page = Reply::read(http().get(w.app.url("/admin/sign-in")).send().unwrap());
        let form_cookie = page.set_cookies().iter().find(|c| c.starts_with("tessera_admin_signin="))
            .unwrap().split(';').next().unwrap().to_owned();
        let csrf = hidden(&page.body, "csrf");
        let url = w.app.url("/admin/sign-in");
        let send = |password: &str| {
            let password = if password == PASSWORD { admin_password.as_str() } else { password };
            let form = [("csrf", csrf.as_str()), ("login", "admin"), ("password", password), ("next", "/admin")];
            Reply::read(http().post(&url).header("cookie", &form_cookie).form(&form).send().unwrap())
        };
        let (wrong, right) = burst(&w.store, &format!("account:{}", admin.id), send);
        let statuses: Vec<u16> = wrong.iter().map(|r| r.status).collect();
        assert_eq!((count(&statuses, 200), count(&statuses, 429)), (5, 19), "{statuses:?}");
        assert_eq!(right.status, 429, "{}", right.body);
        assert!(right.set_cookies().iter().all(|c| !c.starts_with("tessera_admin=")), "{:?}", right.set_cookies());
        assert_eq!(events(&w.store, "admin.sign_in_failed").len(), 5);
        assert!(events(&w.store, "admin.sign_in").is_empty());
        assert_eq!(events(&w.store, "admin.sign_in_locked").len(), 1);
    }

    fn parallel_password_grants_never_evaluate_more_than_the_budget(db: TestDatabase) {
        let w = world(&db);
        let mut legacy = web_app(&[REDIRECT], &[]);
        legacy.grant_types.push(GrantType::Password);
        add_app(&w, "legacy", &legacy);
        let send = |password: &str| {
            token(&w, "legacy", &[("grant_type", "password"), ("username", "alice"), ("password", password), ("scope", "openid")])
        };
        let (wrong, right) = burst(&w.store, &format!("account:{}", w.alice), send);
        let descriptions: Vec<String> = wrong.iter().map(|r| r.json()["error_description"].as_str().unwrap_or("").to_owned()).collect();
        assert!(wrong.iter().all(|r| r.status == 400 && r.json()["error"] == "invalid_grant"), "{descriptions:?}");
        assert_eq!(descriptions.iter().filter(|d| d.contains("incorrect")).count(), 5, "{descriptions:?}");
        assert_eq!(right.status, 400, "{}", right.body);
        assert_eq!(right.json()["error"], "invalid_grant");
        assert!(right.json()["access_token"].is_null());
        assert_eq!(events(&w.store, "user.sign_in_failed").len(), 5);
        let locked = events(&w.store, "user.sign_in_locked");
        assert_eq!(locked.len(), 1);
        assert_eq!(locked[0].actor, "client:legacy");
    }

    fn username_and_email_share_one_bucket(db: TestDatabase) {
        // Finding 8: the bucket was the name typed, so each spelling had five tries.
        let w = world(&db);
        let (b, request, csrf) = on_sign_in_page(&w);
        for login in ["alice", "alice", "alice@example.com", "Alice@Example.com", " ALICE "] {
            let reply = sign_in_attempt(&b, &request, &csrf, login, "not the password");
            assert_eq!((reply.status, error_text(&reply.body)), (200, Some(WRONG)), "{login}");
        }
        let reply = sign_in_attempt(&b, &request, &csrf, "ALICE@EXAMPLE.COM", PASSWORD);
        assert_eq!((reply.status, error_text(&reply.body)), (429, Some(LOCKED)), "{}", reply.body);
        assert!(!signed_in(&b));
    }

    fn a_successful_sign_in_does_not_reset_the_failures_before_it(db: TestDatabase) {
        let w = world(&db);
        let (b, request, csrf) = on_sign_in_page(&w);
        for _ in 0..4 {
            assert_eq!(sign_in_attempt(&b, &request, &csrf, "alice", "not the password").status, 200);
        }
        sign_in_attempt(&b, &request, &csrf, "alice", PASSWORD).see_other();
        // One attempt is left in the window; the one after it is refused.
        let (b, request, csrf) = on_sign_in_page(&w);
        assert_eq!(sign_in_attempt(&b, &request, &csrf, "alice", "not the password").status, 200);
        assert_eq!(sign_in_attempt(&b, &request, &csrf, "alice", PASSWORD).status, 429);
    }
}
