//! Every page escapes what it shows, and answers with the headers of docs/security.md.

use super::*;

const HOSTILE: &str = "<script>alert(1)</script>\" onmouseover=\"alert(2)' x='";
const ESCAPED: &str = "&#60;script&#62;alert(1)&#60;/script&#62;&#34; onmouseover=&#34;alert(2)&#39; x=&#39;";

fn hostile() -> String {
    HOSTILE.to_owned()
}

fn claim(name: &str, input_type: &'static str, error: Option<&str>) -> ClaimField {
    ClaimField {
        name: name.to_owned(),
        label: format!("Label {name}"),
        description: format!("About {name}"),
        input_type,
        value: String::new(),
        error: error.map(str::to_owned),
    }
}

fn hostile_claim(name: &str, input_type: &'static str) -> ClaimField {
    ClaimField {
        name: name.to_owned(),
        label: hostile(),
        description: hostile(),
        input_type,
        value: hostile(),
        error: Some(hostile()),
    }
}

fn scope(name: &str) -> ScopeItem {
    ScopeItem { name: name.to_owned(), display_name: format!("Scope {name}"), description: format!("About {name}") }
}

fn hostile_scope() -> ScopeItem {
    ScopeItem { name: hostile(), display_name: hostile(), description: hostile() }
}

fn sign_in() -> SignInPage {
    SignInPage {
        request: "req-123".into(),
        csrf: "csrf-token".into(),
        client_name: "Photo Gallery".into(),
        login: "alice".into(),
        error: Some("Wrong username or password.".into()),
        registration_enabled: true,
        notice: Some("Your account was created.".into()),
        passkeys: true,
    }
}

fn register() -> RegisterPage {
    RegisterPage {
        request: "req-123".into(),
        csrf: "csrf-token".into(),
        client_name: "Photo Gallery".into(),
        username: "alice".into(),
        email: "alice@example.com".into(),
        username_error: Some("This username is taken.".into()),
        email_error: Some("This is not an email address.".into()),
        password_error: Some("The password is too short.".into()),
        error: None,
        claims: vec![
            claim("given_name", "text", None),
            claim("birthdate", "date", Some("Use the format YYYY-MM-DD.")),
            claim("newsletter", "checkbox", None),
            claim("address", "textarea", None),
        ],
    }
}

fn required_claims() -> RequiredClaimsPage {
    RequiredClaimsPage {
        request: "req-123".into(),
        csrf: "csrf-token".into(),
        client_name: "Photo Gallery".into(),
        fields: vec![
            claim("phone_number", "tel", Some("Enter a phone number.")),
            claim("website", "url", None),
            claim("age", "number", None),
            claim("email_verified", "checkbox", Some("Please confirm.")),
        ],
        error: Some("Some information is missing.".into()),
    }
}

fn consent() -> ConsentPage {
    ConsentPage {
        request: "req-123".into(),
        csrf: "csrf-token".into(),
        client_name: "Photo Gallery".into(),
        self_registered: None,
        username: "alice".into(),
        identity_scopes: vec![scope("openid"), scope("profile")],
        api_scopes: vec![scope("photos.read")],
    }
}

fn logout() -> LogoutPage {
    LogoutPage {
        csrf: "csrf-token".into(),
        client_name: Some("Photo Gallery".into()),
        request: "req-123".into(),
        account: Some("alice".into()),
        other_account: false,
    }
}

fn error_page() -> ErrorPage {
    ErrorPage { title: "Unknown application".into(), message: "This sign-in link is not valid.".into() }
}

fn form_post_page() -> FormPostPage {
    FormPostPage {
        action: "https://app.example.com:8443/callback?x=1".into(),
        fields: vec![("code".into(), "abc".into()), ("state".into(), "xyz".into())],
    }
}

fn render(page: &impl Template) -> String {
    page.render().expect("the page renders")
}

/// Every page the forms of which post back to us, rendered with sample data.
fn pages_with_forms() -> Vec<(&'static str, String)> {
    vec![
        ("sign_in", render(&sign_in())),
        ("register", render(&register())),
        ("required_claims", render(&required_claims())),
        ("consent", render(&consent())),
        ("logout", render(&logout())),
    ]
}

fn all_pages() -> Vec<(&'static str, String)> {
    let mut pages = pages_with_forms();
    pages.push(("signed_out", render(&SignedOutPage {})));
    pages.push(("error", render(&error_page())));
    pages.push(("form_post", render(&form_post_page())));
    pages
}

/// The opening tags named `name` (`<input ...>`), as written.
fn tags<'a>(html: &'a str, name: &str) -> Vec<&'a str> {
    let open = format!("<{name}");
    let mut found = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        if after.starts_with(|c: char| c.is_ascii_whitespace() || c == '>') {
            let end = after.find('>').map_or(after.len(), |end| end + 1);
            found.push(&rest[start..start + open.len() + end]);
        }
        rest = after;
    }
    found
}

fn attribute<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let key = format!(" {name}=\"");
    let start = tag.find(&key)? + key.len();
    let end = tag[start..].find('"')?;
    Some(&tag[start..start + end])
}

#[test]
fn every_form_that_posts_back_carries_the_csrf_token() {
    for (name, html) in pages_with_forms() {
        let forms = html.matches("<form").count();
        assert!(forms >= 1, "{name} has a form");
        assert_eq!(
            html.matches(r#"<input type="hidden" name="csrf" value="csrf-token">"#).count(),
            forms,
            "{name}: one csrf field per form"
        );
        for form in tags(&html, "form") {
            assert_eq!(attribute(form, "method"), Some("post"), "{name}: {form}");
        }
    }
}

#[test]
fn forms_post_to_their_endpoints() {
    let expected = [
        ("sign_in", "/login"),
        ("register", "/register"),
        ("required_claims", "/login/claims"),
        ("consent", "/consent"),
        ("logout", "/connect/endsession/confirm"),
    ];
    for ((name, html), (expected_name, action)) in pages_with_forms().into_iter().zip(expected) {
        assert_eq!(name, expected_name);
        assert!(html.contains(&format!(r#"action="{action}""#)), "{name} posts to {action}");
        assert!(html.contains(r#"name="request" value="req-123""#), "{name} carries the request");
    }
}

#[test]
fn every_visible_input_has_a_label_and_every_label_an_input() {
    for (name, html) in all_pages() {
        let mut ids = Vec::new();
        for tag in tags(&html, "input").into_iter().chain(tags(&html, "textarea")) {
            if attribute(tag, "type") == Some("hidden") {
                continue;
            }
            let id = attribute(tag, "id").unwrap_or_else(|| panic!("{name}: input without id: {tag}"));
            assert!(html.contains(&format!(r#"<label for="{id}">"#)), "{name}: no label for {id}");
            ids.push(id);
        }
        for label in tags(&html, "label") {
            let target = attribute(label, "for").unwrap_or_else(|| panic!("{name}: label without for"));
            assert!(ids.contains(&target), "{name}: label for {target} names no input");
        }
        let mut unique = ids.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), ids.len(), "{name}: ids are unique");
    }
}

#[test]
fn pages_have_one_h1_a_language_and_the_stylesheet() {
    for (name, html) in all_pages() {
        assert_eq!(html.matches("<h1").count(), 1, "{name}");
        assert!(html.contains(r#"<html lang="en">"#), "{name}");
        assert!(html.contains(r#"<link rel="stylesheet" href="/static/tessera.css">"#), "{name}");
        assert!(!html.contains("http://") && !html.contains("//cdn"), "{name} loads nothing from elsewhere");
    }
}

#[test]
fn sign_in_page_has_its_fields_and_links_to_registration() {
    let html = render(&sign_in());
    assert!(html.contains(r#"<label for="login">Username or email</label>"#));
    // Conditional UI (docs/authentication.md, "Signing in"): the browser offers passkeys
    // in the login field's autofill, and a button asks for one.
    assert!(html.contains(r#"name="login" value="alice" autocomplete="username webauthn""#));
    assert!(html.contains(
        r#"data-passkey="authenticate" data-options="/login/passkey/options" data-passkey-conditional="true""#
    ));
    assert!(html.contains(r#"<script src="/static/passkeys.js" defer></script>"#));
    let no_passkeys = render(&SignInPage { passkeys: false, ..sign_in() });
    assert!(no_passkeys.contains(r#"name="login" value="alice" autocomplete="username""#));
    assert!(!no_passkeys.contains("data-passkey") && !no_passkeys.contains("<script"));
    assert!(html.contains(r#"type="password" id="password" name="password" autocomplete="current-password""#));
    assert!(html.contains(r#"<button type="submit" class="primary">Sign in</button>"#));
    assert!(html.contains(r#"<a href="/register?request=req-123">"#));
    assert!(html.contains(r#"<div class="notice" role="status">Your account was created.</div>"#));

    let closed = render(&SignInPage { registration_enabled: false, notice: None, error: None, ..sign_in() });
    assert!(!closed.contains("/register"));
    assert!(!closed.contains("role=\"status\""));
    assert!(!closed.contains("role=\"alert\""));
    assert!(!closed.contains("aria-invalid"));
}

#[test]
fn the_registration_link_encodes_the_request() {
    let html = render(&SignInPage { request: "a&b=c d/e".into(), ..sign_in() });
    assert!(html.contains(r#"href="/register?request=a%26b%3Dc%20d%2Fe""#), "{html}");
}

#[test]
fn errors_are_alerts_tied_to_their_inputs() {
    let html = render(&sign_in());
    assert!(html.contains(r#"<div class="alert" role="alert" id="sign-in-error">Wrong username or password.</div>"#));
    assert_eq!(html.matches(r#"aria-describedby="sign-in-error""#).count(), 2);

    let html = render(&register());
    assert_eq!(html.matches(r#"role="alert""#).count(), 1, "one summary");
    for (id, message) in [
        ("username", "This username is taken."),
        ("email", "This is not an email address."),
        ("password", "The password is too short."),
        ("claim-birthdate", "Use the format YYYY-MM-DD."),
    ] {
        assert!(html.contains(&format!(r##"<li><a href="#{id}">{message}</a></li>"##)), "summary links {id}");
        assert!(html.contains(&format!(r#"id="{id}-error"><span class="visually-hidden">Error: </span>{message}"#)));
        let input = tags(&html, "input").into_iter().find(|tag| attribute(tag, "id") == Some(id)).unwrap();
        assert!(attribute(input, "aria-describedby").unwrap().split(' ').any(|d| d == format!("{id}-error")));
        assert_eq!(attribute(input, "aria-invalid"), Some("true"));
    }

    let html = render(&required_claims());
    assert!(html.contains(r#"role="alert""#));
    assert!(html.contains("<p>Some information is missing.</p>"));
    assert!(html.contains(r##"<a href="#claim-email_verified">Please confirm.</a>"##));

    let html = render(&error_page());
    assert!(html.contains(r#"<div class="alert" role="alert">This sign-in link is not valid.</div>"#));
}

#[test]
fn a_page_without_errors_shows_no_alert() {
    let quiet = RegisterPage {
        username_error: None,
        email_error: None,
        password_error: None,
        claims: vec![claim("given_name", "text", None)],
        ..register()
    };
    let html = render(&quiet);
    assert!(!html.contains("role=\"alert\"") && !html.contains("aria-invalid"));
    assert!(html.contains(r#"aria-describedby="password-hint""#));
    assert!(html.contains(r#"<p class="hint" id="password-hint">At least 8 characters and hard to guess: a few uncommon words work well</p>"#));
}

#[test]
fn register_page_has_its_fields_then_the_claims() {
    let html = render(&register());
    assert!(html.contains(r#"autocomplete="new-password""#));
    assert!(html.contains(r#"type="email" id="email" name="email" value="alice@example.com""#));
    assert!(html.contains(r#"<a href="/login?request=req-123">Sign in</a>"#));
    let password = html.find(r#"id="password""#).unwrap();
    let claims = html.find(r#"name="claim.given_name""#).unwrap();
    assert!(password < claims);
    assert!(
        html.contains(
            r#"type="date" id="claim-birthdate" name="claim.birthdate" value="" required autocomplete="bday""#
        )
    );
    assert!(html.contains(r#"<textarea id="claim-address" name="claim.address""#));
    assert!(html.contains(r#"<input type="checkbox" id="claim-newsletter" name="claim.newsletter" value="true""#));
}

#[test]
fn claim_fields_show_their_kind_and_value() {
    let checked = ClaimField { value: "true".into(), ..claim("newsletter", "checkbox", None) };
    let unchecked = ClaimField { value: "false".into(), ..claim("terms", "checkbox", None) };
    let filled = ClaimField { value: "Alice".into(), ..claim("given_name", "text", None) };
    let page = RequiredClaimsPage { fields: vec![checked, unchecked, filled], error: None, ..required_claims() };
    let html = render(&page);
    let inputs = tags(&html, "input");
    let by_id = |id: &str| inputs.iter().copied().find(|tag| attribute(tag, "id") == Some(id)).unwrap();
    assert!(by_id("claim-newsletter").contains(" checked"));
    assert!(!by_id("claim-terms").contains(" checked"));
    assert_eq!(attribute(by_id("claim-given_name"), "value"), Some("Alice"));
    assert_eq!(attribute(by_id("claim-given_name"), "autocomplete"), Some("given-name"));
    assert_eq!(attribute(by_id("claim-given_name"), "aria-describedby"), Some("claim-given_name-hint"));
    assert!(html.contains("<strong>Photo Gallery</strong> needs a little more information about you."));
    assert!(!html.contains("role=\"alert\""));
}

#[test]
fn consent_page_lists_both_kinds_of_scope_and_offers_both_decisions() {
    let html = render(&consent());
    assert!(html.contains("Information about you"));
    assert!(html.contains("Access to APIs"));
    for scope in ["openid", "profile", "photos.read"] {
        assert!(html.contains(&format!(r#"<span class="scope-name">Scope {scope}</span>"#)));
        assert!(html.contains(&format!(r#"<span class="scope-description">About {scope}</span>"#)));
    }
    assert!(html.contains(r#"name="decision" value="allow""#));
    assert!(html.contains(r#"name="decision" value="deny""#));
    assert!(html.contains("<strong>alice</strong>"));

    let only_identity = render(&ConsentPage { api_scopes: vec![], ..consent() });
    assert!(!only_identity.contains("Access to APIs"));
}

#[test]
fn consent_page_says_when_an_application_registered_itself_and_names_its_host() {
    let vouched = render(&consent());
    assert!(!vouched.contains("registered itself"), "an administrator's application: no notice");
    let notice = |page: &str| {
        let start = page.find(r#"id="self-registered""#).unwrap();
        page[start..start + page[start..].find("</div>").unwrap()].split_whitespace().collect::<Vec<_>>().join(" ")
    };
    let document = SelfRegistered { host: Some("agent.example.com".into()), metadata_document: true };
    let html = render(&ConsentPage { self_registered: Some(document), ..consent() });
    assert_eq!(
        notice(&html),
        "id=\"self-registered\"> <strong>This application registered itself.</strong> Its name is the one it \
         chose, and the administrators of this server have not checked it. It is published by <strong \
         class=\"host\">agent.example.com</strong>. Allow it only if you trust that site."
    );
    let dynamic = SelfRegistered { host: Some("app.example.net".into()), metadata_document: false };
    let html = render(&ConsentPage { self_registered: Some(dynamic), ..consent() });
    assert!(
        notice(&html).contains("If you allow it, you will be sent to <strong class=\"host\">app.example.net</strong>.")
    );
    let no_host = SelfRegistered { host: None, metadata_document: false };
    let html = render(&ConsentPage { self_registered: Some(no_host), ..consent() });
    assert!(notice(&html).contains("have not checked it. Allow it only"), "{html}");
    assert!(tags(&html, "img").is_empty(), "no logo of the client's");
}

#[test]
fn logout_page_asks_before_signing_out() {
    let html = render(&logout());
    assert!(html.contains("Sign out of Tessera?"));
    assert!(html.contains(r#"name="decision" value="logout" class="primary">Sign out</button>"#));
    assert!(html.contains(r#"name="decision" value="stay" class="secondary">Stay signed in</button>"#));
    assert!(html.contains("<strong>Photo Gallery</strong> asked to sign you out."));
    assert!(html.contains("You are signed in as <strong>alice</strong>"));
    let anonymous = render(&LogoutPage { client_name: None, ..logout() });
    assert!(!anonymous.contains("asked to sign you out"));
    let other = render(&LogoutPage { other_account: true, ..logout() });
    assert!(other.contains("<strong>Photo Gallery</strong> asked to sign out an account that is not the one"));
    assert!(!other.contains("asked to sign you out"));
    assert!(render(&SignedOutPage {}).contains("You have signed out."));
}

#[test]
fn form_post_page_posts_the_fields_without_inline_script() {
    let html = render(&form_post_page());
    assert!(html.contains(r#"<form method="post" action="https://app.example.com:8443/callback?x=1">"#));
    assert!(html.contains(r#"<input type="hidden" name="code" value="abc">"#));
    assert!(html.contains(r#"<input type="hidden" name="state" value="xyz">"#));
    assert_eq!(html.matches(r#"<button type="submit" class="primary">Continue</button>"#).count(), 2);
    let noscript = &html[html.find("<noscript>").unwrap()..html.find("</noscript>").unwrap()];
    assert!(noscript.contains(">Continue</button>"));
    assert_eq!(tags(&html, "script"), vec![r#"<script src="/static/form_post.js">"#]);
}

#[test]
fn hostile_values_are_escaped_everywhere() {
    let pages = [
        render(&SignInPage {
            request: hostile(),
            csrf: hostile(),
            client_name: hostile(),
            login: hostile(),
            error: Some(hostile()),
            registration_enabled: true,
            notice: Some(hostile()),
            passkeys: true,
        }),
        render(&RegisterPage {
            request: hostile(),
            csrf: hostile(),
            client_name: hostile(),
            username: hostile(),
            email: hostile(),
            username_error: Some(hostile()),
            email_error: Some(hostile()),
            password_error: Some(hostile()),
            error: Some(hostile()),
            claims: vec![hostile_claim("a", "text"), hostile_claim("b", "checkbox"), hostile_claim("c", "textarea")],
        }),
        render(&RequiredClaimsPage {
            request: hostile(),
            csrf: hostile(),
            client_name: hostile(),
            fields: vec![hostile_claim(HOSTILE, "email"), hostile_claim("d", "textarea")],
            error: Some(hostile()),
        }),
        render(&ConsentPage {
            request: hostile(),
            csrf: hostile(),
            client_name: hostile(),
            self_registered: Some(SelfRegistered { host: Some(hostile()), metadata_document: true }),
            username: hostile(),
            identity_scopes: vec![hostile_scope()],
            api_scopes: vec![hostile_scope()],
        }),
        render(&LogoutPage {
            csrf: hostile(),
            client_name: Some(hostile()),
            request: hostile(),
            account: Some(hostile()),
            other_account: true,
        }),
        render(&ErrorPage { title: hostile(), message: hostile() }),
        render(&FormPostPage { action: hostile(), fields: vec![(hostile(), hostile())] }),
    ];
    for html in pages {
        assert!(!html.contains("<script>"), "{html}");
        assert!(!html.contains("\" onmouseover"), "{html}");
        assert!(!html.contains("' x='"), "{html}");
        assert!(html.contains(ESCAPED), "{html}");
    }
}

#[actix_web::test]
async fn page_responses_carry_the_security_headers() {
    for response in [html(&sign_in()), html_status(StatusCode::BAD_REQUEST, &error_page())] {
        let headers = response.headers();
        let get = |name: header::HeaderName| headers.get(name).unwrap().to_str().unwrap().to_owned();
        assert_eq!(get(header::CONTENT_TYPE), "text/html; charset=utf-8");
        assert_eq!(get(header::CACHE_CONTROL), "no-store");
        assert_eq!(get(header::PRAGMA), "no-cache");
        assert_eq!(get(header::CONTENT_SECURITY_POLICY), PAGE_CSP);
        assert_eq!(get(header::X_FRAME_OPTIONS), "DENY");
        assert_eq!(get(header::REFERRER_POLICY), "no-referrer");
        assert_eq!(get(header::X_CONTENT_TYPE_OPTIONS), "nosniff");
    }
    assert_eq!(html(&sign_in()).status(), StatusCode::OK);
    let response = html_status(StatusCode::BAD_REQUEST, &error_page());
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body = actix_web::body::to_bytes(response.into_body()).await.unwrap();
    assert!(std::str::from_utf8(&body).unwrap().contains("Unknown application"));
}

#[test]
fn the_page_policy_is_strict() {
    for directive in [
        "default-src 'none'",
        "style-src 'self'",
        "script-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ] {
        assert!(PAGE_CSP.split("; ").any(|d| d == directive), "{directive}");
    }
}

#[test]
fn sign_in_pages_may_end_at_the_client_origin_too() {
    let page = ErrorPage { title: "t".into(), message: "m".into() };
    let response = html_for_client(StatusCode::OK, &page, "https://app.example.com:8443/cb?x=1");
    let csp = response.headers().get(header::CONTENT_SECURITY_POLICY).unwrap().to_str().unwrap();
    assert!(csp.contains("form-action 'self' https://app.example.com:8443;"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"));
    // A redirect URI that is not a plain origin leaves the strict policy.
    let response = html_for_client(StatusCode::OK, &page, "com.example.app:/cb");
    let csp = response.headers().get(header::CONTENT_SECURITY_POLICY).unwrap().to_str().unwrap();
    assert!(csp.contains("form-action 'self';"), "{csp}");
}

#[test]
fn form_post_may_post_to_the_client_origin_only() {
    let response = form_post(&form_post_page());
    let csp = response.headers().get(header::CONTENT_SECURITY_POLICY).unwrap().to_str().unwrap();
    assert!(csp.contains("form-action https://app.example.com:8443;"), "{csp}");
    assert!(!csp.contains("form-action 'self'"));
    assert!(csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"));
    assert_eq!(response.headers().get(header::CACHE_CONTROL).unwrap(), "no-store");
    assert_eq!(response.headers().get(header::X_FRAME_OPTIONS).unwrap(), "DENY");
}

#[test]
fn form_action_is_the_origin_or_self() {
    assert_eq!(form_action_source("https://app.example.com/cb?a=b#c"), "https://app.example.com");
    assert_eq!(form_action_source("https://app.example.com:443/cb"), "https://app.example.com");
    assert_eq!(form_action_source("http://127.0.0.1:8080/cb"), "http://127.0.0.1:8080");
    assert_eq!(form_action_source("http://[::1]:9000/cb"), "http://[::1]:9000");
    assert_eq!(form_action_source("https://user:pw@app.example.com/cb"), "https://app.example.com");
    assert_eq!(form_action_source("https://BÜCHER.example/cb"), "https://xn--bcher-kva.example");
    assert_eq!(form_action_source("not a url"), "'self'");
    assert_eq!(form_action_source("/relative"), "'self'");
    assert_eq!(form_action_source("com.example.app:/callback"), "'self'");
    assert_eq!(form_action_source("data:text/html,hi"), "'self'");
    assert_eq!(form_action_source("javascript:alert(1)"), "'self'");
    assert_eq!(form_action_source("https://a;script-src*/cb"), "'self'");
    assert_eq!(form_action_source("https://a'b.example/cb"), "'self'");
}

#[derive(Template)]
#[template(source = "{{ self.broken()? }}", ext = "html")]
struct BrokenPage;

impl BrokenPage {
    fn broken(&self) -> Result<&'static str, askama::Error> {
        Err(askama::Error::Fmt)
    }
}

#[actix_web::test]
async fn a_page_that_cannot_render_is_a_plain_500() {
    let response = html(&BrokenPage);
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(response.headers().get(header::CONTENT_TYPE).unwrap(), "text/plain; charset=utf-8");
    let body = actix_web::body::to_bytes(response.into_body()).await.unwrap();
    assert_eq!(&body[..], b"the page could not be rendered");
}
