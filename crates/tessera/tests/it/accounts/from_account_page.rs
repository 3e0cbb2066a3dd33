//! "Forgot password" from the account page's sign-in (`/account/forgot`): no application
//! involved, the same answer for every name, the form bound to the browser's anonymous
//! session, the same mail, and a link that lands on `/account/sign-in` once used.

use std::time::Duration;

use tessera_store::account_tokens::{self, Purpose};
use tessera_testkit::smtp::{ReceivedMail, SmtpServer};

use super::{NEW_PASSWORD, audited, mail, mail_world};
use crate::common::security::*;

/// The recovery link of a message, with its query (`?then=account`).
fn account_link(message: &ReceivedMail) -> String {
    let text = message.decoded();
    let path = "/account/recover/";
    let at = text.find(path).unwrap_or_else(|| panic!("no recovery link in {text}"));
    let link: String = text[at..].chars().take_while(|c| c.is_ascii_alphanumeric() || "-_/?=&".contains(*c)).collect();
    assert!(link.len() >= path.len() + 40, "{link}");
    link
}

/// `/account/forgot` on a new browser (through the account sign-in's link), posted
/// with `login`.
fn forgot_on_account_page(w: &World, login: &str) -> Reply {
    let b = Browser::new(&w.app);
    let sign_in = b.get("/account/sign-in");
    assert_eq!(sign_in.status, 200, "{}", sign_in.body);
    assert!(sign_in.body.contains("<a href=\"/account/forgot\">Forgot your password?</a>"), "{}", sign_in.body);
    let page = b.get("/account/forgot");
    assert_eq!(page.status, 200, "{}", page.body);
    assert_no_store(&page, "forgot");
    assert!(!page.body.contains("name=\"request\""), "no authorization request");
    assert!(page.body.contains("<a href=\"/account/sign-in\">Back to sign in</a>"), "{}", page.body);
    b.post("/account/forgot", &[("csrf", &hidden(&page.body, "csrf")), ("login", login)])
}

crate::both_backends! {
    fn forgot_password_on_the_account_sign_in_mails_a_link_that_lands_back_on_it(db: TestDatabase) {
        let smtp = SmtpServer::start();
        let w = mail_world(&db, &smtp, |_| {});
        let known = forgot_on_account_page(&w, "alice");
        let unknown = forgot_on_account_page(&w, "nobody-at-all");
        assert_eq!((known.status, unknown.status), (200, 200), "{}", known.body);
        assert!(known.body.contains("a link to set a new password is on its way"), "{}", known.body);
        let normal = |r: &Reply, login: &str| r.body.replace(&hidden(&r.body, "csrf"), "C").replace(login, "L");
        assert_eq!(normal(&known, "alice"), normal(&unknown, "nobody-at-all"), "the same page");
        // Within the resend interval, a second request mails nothing more (same answer).
        assert_eq!(normal(&forgot_on_account_page(&w, "ALICE@example.com"), "alice@example.com"), normal(&known, "alice"));

        let message = mail(&smtp, 1);
        assert_eq!(message.to, ["alice@example.com"]);
        assert_eq!(message.header("Subject").as_deref(), Some("Quokka ID: set a new password"));
        let recover = account_link(&message);
        assert!(recover.ends_with("?then=account"), "{recover}");
        assert_eq!(smtp.wait_for(2, Duration::from_secs(2)).len(), 1, "one mail, to alice");
        assert_eq!(audited(&w, "user.recovery_requested"), 1);
        let links = w.store.read_transaction(|c| account_tokens::count_of_user(c, &w.alice, Purpose::ResetPassword));
        assert_eq!(links.unwrap(), 1);

        // The link sets the password and sends the user to the account sign-in.
        let b = Browser::new(&w.app);
        let page = b.get(&recover);
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.body.contains(&format!("action=\"{recover}\"")), "{}", page.body);
        let csrf = hidden(&page.body, "csrf");
        let changed = b.post(&recover, &[("csrf", &csrf), ("password", NEW_PASSWORD), ("password_confirm", NEW_PASSWORD)]);
        assert_eq!(changed.status, 303, "{}", changed.body);
        assert_eq!(changed.location(), Some("/account/sign-in?notice=password-reset"));
        assert_eq!(audited(&w, "user.password_recovered"), 1);
        let landed = b.get("/account/sign-in?notice=password-reset");
        assert_eq!(landed.status, 200);
        assert!(landed.body.contains("Your password was changed"), "{}", landed.body);
        let csrf = hidden(&landed.body, "csrf");
        let old = b.post("/account/sign-in", &[("csrf", &csrf), ("login", "alice"), ("password", PASSWORD)]);
        assert!(old.body.contains("The username or password is incorrect."), "{}", old.body);
        let new = b.post("/account/sign-in", &[("csrf", &csrf), ("login", "alice"), ("password", NEW_PASSWORD)]);
        assert_eq!(new.location(), Some("/account?notice=signed-in"), "{}", new.body);
        assert_eq!(b.get(&recover).status, 400, "the link is spent");
    }

    fn the_account_forgot_form_needs_its_sessions_csrf_token_and_a_name(db: TestDatabase) {
        let smtp = SmtpServer::start();
        let w = mail_world(&db, &smtp, |_| {});
        let b = Browser::new(&w.app);
        let page = b.get("/account/forgot");
        let forged = b.post("/account/forgot", &[("csrf", "nope"), ("login", "alice")]);
        assert_eq!(forged.status, 403, "{}", forged.body);
        // Another browser's token (another anonymous session) is no better.
        let other = Browser::new(&w.app);
        let stolen = other.post("/account/forgot", &[("csrf", &hidden(&page.body, "csrf")), ("login", "alice")]);
        assert_eq!(stolen.status, 403, "{}", stolen.body);
        let empty = b.post("/account/forgot", &[("csrf", &hidden(&page.body, "csrf")), ("login", "  ")]);
        assert_eq!(empty.status, 400);
        assert!(empty.body.contains("id=\"login-error\""), "{}", empty.body);
        assert_eq!(audited(&w, "user.recovery_requested"), 0);
        assert!(smtp.wait_for(1, Duration::from_secs(1)).is_empty(), "nothing sent");
        let links = w.store.read_transaction(|c| account_tokens::count_of_user(c, &w.alice, Purpose::ResetPassword));
        assert_eq!(links.unwrap(), 0);
    }
}
