//! The admin console over HTTP (actix test service), on both backends: sign-in, CSRF,
//! timeouts, and a form of every kind rejecting bad input beside its field.

use std::sync::{Arc, Mutex};

use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::{Method, StatusCode, header};
use actix_web::test::{self, TestRequest};
use actix_web::{App, web};
use tessera_admin::console::{ConsoleSettings, KeyRotation};
use tessera_domain::UserId;
use tessera_store::users::{self, NewUser};
use tessera_store::{Store, admin_sessions};
use tessera_testkit::both_backends;
use tessera_tokens::{PasswordHasher, PasswordParams};

use crate::common::{self, PEER, audit_events};

const PASSWORD: &str = "correct horse battery";

/// A browser: keeps cookies, follows nothing on its own.
struct Browser<S> {
    app: S,
    cookies: Vec<(String, String)>,
}

struct Answer {
    status: StatusCode,
    location: Option<String>,
    headers: header::HeaderMap,
    body: String,
}

impl Answer {
    /// The CSRF token of the first form on the page.
    fn csrf(&self) -> String {
        let start = self.body.find("name=\"csrf\" value=\"").expect("a form with a CSRF token") + 19;
        self.body[start..].split('"').next().unwrap().to_owned()
    }
}

impl<S> Browser<S>
where
    S: Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>,
{
    async fn send(&mut self, req: TestRequest) -> Answer {
        let mut req = req.peer_addr(PEER.parse().unwrap());
        if !self.cookies.is_empty() {
            let jar = self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ");
            req = req.insert_header((header::COOKIE, jar));
        }
        let response = test::call_service(&self.app, req.to_request()).await;
        for cookie in response.response().cookies() {
            self.cookies.retain(|(k, _)| k != cookie.name());
            if !cookie.value().is_empty() {
                self.cookies.push((cookie.name().to_owned(), cookie.value().to_owned()));
            }
        }
        let status = response.status();
        let headers = response.headers().clone();
        let location = headers.get(header::LOCATION).map(|l| l.to_str().unwrap().to_owned());
        let body = String::from_utf8(test::read_body(response).await.to_vec()).unwrap();
        Answer { status, location, headers, body }
    }

    async fn get(&mut self, path: &str) -> Answer {
        self.send(TestRequest::get().uri(path)).await
    }

    async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Answer {
        let body: String = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish();
        self.send(
            TestRequest::default()
                .method(Method::POST)
                .uri(path)
                .insert_header((header::CONTENT_TYPE, "application/x-www-form-urlencoded"))
                .set_payload(body),
        )
        .await
    }

    /// Posts `fields` with the CSRF token of the page at `from`.
    async fn submit(&mut self, from: &str, to: &str, fields: &[(&str, &str)]) -> Answer {
        let csrf = self.get(from).await.csrf();
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        self.post(to, &all).await
    }

    async fn sign_in(&mut self, login: &str, password: &str) -> Answer {
        let page = self.get("/admin/sign-in").await;
        self.post(
            "/admin/sign-in",
            &[("csrf", &page.csrf()), ("login", login), ("password", password), ("next", "/admin")],
        )
        .await
    }
}

type Rotations = Arc<Mutex<Vec<(String, bool, String)>>>;

async fn browser(
    store: &Store,
    settings: ConsoleSettings,
) -> (Browser<impl Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>>, Rotations) {
    let rotations: Rotations = Arc::default();
    let seen = rotations.clone();
    let rotation = KeyRotation(Arc::new(move |alg, now, actor: &str| {
        seen.lock().unwrap().push((alg.as_str().to_owned(), now, actor.to_owned()));
        Ok("new-kid".to_owned())
    }));
    let app = test::init_service(
        App::new()
            .app_data(web::Data::new(store.clone()))
            .app_data(web::Data::new(tessera_outbound::PrivateHosts::none()))
            .app_data(web::Data::new(tessera_admin::api::TokenSigning {
                keys: tessera_tokens::SharedKeySet::default(),
                issuer: "http://tessera.test".into(),
            }))
            .app_data(web::Data::new(PasswordHasher::new(PasswordParams::TESTING).unwrap()))
            .app_data(web::Data::new(tessera_auth::PasswordPolicy::default()))
            .app_data(web::Data::new(settings))
            .app_data(web::Data::new(rotation))
            .app_data(web::Data::new(common::script_support()))
            .app_data(web::Data::new(tessera_admin::api::BrowserSessionPolicy { idle_timeout: 3600 }))
            .configure(tessera_admin::console::configure),
    )
    .await;
    (Browser { app, cookies: Vec::new() }, rotations)
}

/// An administrator with a password; returns (user id, username).
fn admin(store: &Store) -> (UserId, String) {
    let id = tessera_testkit::admin(store);
    let hash = PasswordHasher::new(PasswordParams::TESTING).unwrap().hash(PASSWORD).unwrap();
    store.write_transaction(|c| users::set_password_hash(c, &id, &hash, 1)).unwrap();
    let user = store.read_transaction(|c| users::get(c, &id)).unwrap();
    (id, user.username)
}

async fn signed_in(
    store: &Store,
) -> (Browser<impl Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>>, UserId, Rotations)
{
    let (id, username) = admin(store);
    let (mut b, rotations) = browser(store, ConsoleSettings::default()).await;
    let answer = b.sign_in(&username, PASSWORD).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    (b, id, rotations)
}

fn field_error<'a>(body: &'a str, field_id: &str) -> &'a str {
    let marker = format!("id=\"{field_id}-error\"");
    let start = body.find(&marker).unwrap_or_else(|| panic!("no error on {field_id}: {body}"));
    let text = &body[start..];
    let from = text.find('>').unwrap() + 1;
    let to = text.find("</p>").unwrap();
    &text[from..to]
}

/// The text of the textarea with element id `id`, unescaped.
fn textarea(body: &str, id: &str) -> String {
    let start = body.find(&format!("id=\"{id}\"")).unwrap_or_else(|| panic!("no {id}: {body}"));
    let text = &body[start..];
    let from = text.find('>').unwrap() + 1;
    let to = text.find("</textarea>").unwrap();
    text[from..to]
        .replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

both_backends! {
    async fn pages_need_a_console_session(store: Store) {
        let (mut b, _) = browser(&store, ConsoleSettings::default()).await;
        for path in ["/admin", "/admin/applications", "/admin/users/x", "/admin/audit?actor=a"] {
            let answer = b.get(path).await;
            assert_eq!(answer.status, StatusCode::SEE_OTHER, "{path}");
            let location = answer.location.unwrap();
            assert!(location.starts_with("/admin/sign-in?next="), "{location}");
        }
        let answer = b.post("/admin/applications", &[("name", "x")]).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER);
    }

    async fn an_administrator_signs_in_and_out(store: Store) {
        let (id, username) = admin(&store);
        let (mut b, _) = browser(&store, ConsoleSettings::default()).await;
        let page = b.get("/admin/sign-in").await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.headers.get(header::CONTENT_SECURITY_POLICY).unwrap().to_str().unwrap().contains("frame-ancestors 'none'"));
        let answer = b.sign_in(&username.to_uppercase(), PASSWORD).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER);
        assert_eq!(answer.location.as_deref(), Some("/admin"));
        let session = b.cookies.iter().find(|(k, _)| k == "tessera_admin").expect("a session cookie").1.clone();
        assert_eq!(session.len(), 43, "256 bits in base64url");
        let dashboard = b.get("/admin").await;
        assert_eq!(dashboard.status, StatusCode::OK);
        assert!(dashboard.body.contains(&username));
        assert_eq!(dashboard.headers.get(header::CACHE_CONTROL).unwrap(), "no-store");
        assert_eq!(audit_events(&store, "admin.sign_in")[0].actor, format!("user:{id}"));

        let csrf = dashboard.csrf();
        let out = b.post("/admin/sign-out", &[("csrf", &csrf)]).await;
        assert_eq!(out.location.as_deref(), Some("/admin/sign-in?signed_out=1"));
        assert!(b.cookies.iter().all(|(k, _)| k != "tessera_admin"));
        // The old cookie no longer works.
        b.cookies.push(("tessera_admin".into(), session));
        assert_eq!(b.get("/admin").await.status, StatusCode::SEE_OTHER);
        assert_eq!(audit_events(&store, "admin.sign_out").len(), 1);
    }

    async fn wrong_passwords_unknown_users_and_non_admins_get_one_answer(store: Store) {
        let (_, username) = admin(&store);
        let hash = PasswordHasher::new(PasswordParams::TESTING).unwrap().hash(PASSWORD).unwrap();
        store.write_transaction(|c| users::create(c, &NewUser { username: "plain".into(), password_hash: Some(hash), ..Default::default() }, 1)).unwrap();
        let (mut b, _) = browser(&store, ConsoleSettings::default()).await;
        let mut bodies = Vec::new();
        for (login, password) in [(username.as_str(), "wrong password"), ("nobody", PASSWORD), ("plain", PASSWORD)] {
            let answer = b.sign_in(login, password).await;
            assert_eq!(answer.status, StatusCode::OK, "{login}");
            assert!(b.cookies.iter().all(|(k, _)| k != "tessera_admin"), "{login}");
            let start = answer.body.find("role=\"alert\"").unwrap();
            bodies.push(answer.body[start..start + 120].to_owned());
        }
        assert!(bodies.windows(2).all(|w| w[0] == w[1]), "{bodies:?}");
        let failures = audit_events(&store, "admin.sign_in_failed");
        assert_eq!(failures.len(), 3);
        assert!(failures.iter().any(|e| e.summary["reason"] == "not_admin"));
    }

    async fn sign_in_is_throttled_per_account(store: Store) {
        let (_, username) = admin(&store);
        let (mut b, _) = browser(&store, ConsoleSettings::default()).await;
        for _ in 0..5 {
            b.sign_in(&username, "wrong password").await;
        }
        let answer = b.sign_in(&username, PASSWORD).await;
        assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS);
        assert!(answer.body.contains("Too many failed sign-ins"));
    }

    async fn a_sign_in_without_the_form_cookie_is_refused(store: Store) {
        let (_, username) = admin(&store);
        let (mut b, _) = browser(&store, ConsoleSettings::default()).await;
        let answer = b.post("/admin/sign-in", &[("csrf", "guess"), ("login", &username), ("password", PASSWORD)]).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN);
        assert!(b.cookies.iter().all(|(k, _)| k != "tessera_admin"));
    }

    async fn after_sign_in_only_console_paths_are_followed(store: Store) {
        let (_, username) = admin(&store);
        let (mut b, _) = browser(&store, ConsoleSettings::default()).await;
        let page = b.get("/admin/sign-in?next=/admin/users").await;
        assert!(page.body.contains("value=\"/admin/users\""));
        let csrf = page.csrf();
        let answer = b.post("/admin/sign-in", &[("csrf", &csrf), ("login", &username), ("password", PASSWORD), ("next", "https://evil.example/")]).await;
        assert_eq!(answer.location.as_deref(), Some("/admin"));
    }

    async fn a_next_with_cr_lf_or_non_ascii_characters_sends_the_admin_to_the_console_home(store: Store) {
        // Finding 16 of the 2026-12 review: CR/LF in next gave a 500 after the session was made.
        let (_, username) = admin(&store);
        for next in ["/admin/\r\nSet-Cookie:x=1", "/admin/é"] {
            let (mut b, _) = browser(&store, ConsoleSettings::default()).await;
            let csrf = b.get("/admin/sign-in").await.csrf();
            let answer = b.post("/admin/sign-in", &[("csrf", &csrf), ("login", &username), ("password", PASSWORD), ("next", next)]).await;
            assert_eq!(answer.status, StatusCode::SEE_OTHER, "{next:?}: {}", answer.body);
            assert_eq!(answer.location.as_deref(), Some("/admin"), "{next:?}");
            assert!(b.cookies.iter().any(|(k, _)| k == "tessera_admin"), "{next:?}: signed in");
        }
    }

    async fn forms_without_the_session_csrf_token_change_nothing(store: Store) {
        let (mut b, _, _) = signed_in(&store).await;
        let answer = b.post("/admin/roles", &[("name", "support")]).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN);
        let answer = b.post("/admin/roles", &[("csrf", "0000"), ("name", "support")]).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN);
        assert!(audit_events(&store, "role.create").is_empty());
    }

    async fn an_idle_session_ends(store: Store) {
        let (id, username) = admin(&store);
        let (mut b, _) = browser(&store, ConsoleSettings { idle_timeout: 60, ..ConsoleSettings::default() }).await;
        b.sign_in(&username, PASSWORD).await;
        assert_eq!(b.get("/admin").await.status, StatusCode::OK);
        // Pretend the last request was two minutes ago.
        let hash = tessera_tokens::SecretHash::of(&b.cookies.iter().find(|(k, _)| k == "tessera_admin").unwrap().1);
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
        store.write_transaction(|c| admin_sessions::touch(c, hash.as_str(), now - 120)).unwrap();
        let answer = b.get("/admin/users").await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER);
        assert_eq!(answer.location.as_deref(), Some("/admin/sign-in?next=%2Fadmin%2Fusers"));
        let _ = id;
    }

    async fn losing_the_admin_role_ends_console_access(store: Store) {
        let (mut b, id, _) = signed_in(&store).await;
        let role = store.read_transaction(|c| tessera_store::organizations::find_role_by_name(c, "tessera-admin")).unwrap().unwrap();
        store.write_transaction(|c| users::remove_role(c, &id, &role.id)).unwrap();
        assert_eq!(b.get("/admin").await.status, StatusCode::FORBIDDEN);
        // The session is over: even with the role back it does not come back.
        store.write_transaction(|c| users::add_role(c, &id, &role.id)).unwrap();
        assert_eq!(b.get("/admin").await.status, StatusCode::SEE_OTHER);
    }

    async fn every_section_renders(store: Store) {
        let (mut b, _, _) = signed_in(&store).await;
        for path in [
            "/admin", "/admin/applications", "/admin/applications/new", "/admin/connections", "/admin/connections/new",
            "/admin/identity-scopes", "/admin/identity-scopes/new", "/admin/identity-scopes/profile",
            "/admin/claim-types", "/admin/claim-types/new", "/admin/claim-types/email", "/admin/users", "/admin/users/new",
            "/admin/roles", "/admin/organizations", "/admin/organizations/new", "/admin/signing-keys",
            "/admin/scripts", "/admin/scripts/user", "/admin/scripts/machine",
            "/admin/claim-mappings", "/admin/claim-mappings/preview",
            "/admin/management-keys", "/admin/audit", "/admin/audit?action=admin.sign_in&from=2020-01-01",
        ] {
            let answer = b.get(path).await;
            assert_eq!(answer.status, StatusCode::OK, "{path}: {}", answer.body);
            assert!(answer.body.contains("<nav class=\"sidebar\""), "{path}");
        }
        assert_eq!(b.get("/admin/applications/nope").await.status, StatusCode::NOT_FOUND);
        assert_eq!(b.get("/admin/scripts/nope").await.status, StatusCode::NOT_FOUND);
        assert_eq!(b.get("/admin/no-such-page").await.status, StatusCode::NOT_FOUND);
        let css = b.get("/admin/assets/console.css").await;
        assert_eq!(css.status, StatusCode::OK);
        assert!(css.headers.get(header::CONTENT_TYPE).unwrap().to_str().unwrap().starts_with("text/css"));
    }

    async fn an_application_form_keeps_input_and_shows_errors_beside_fields(store: Store) {
        let (mut b, admin_id, _) = signed_in(&store).await;
        let fields = [
            ("name", "Shop"), ("app_type", "web"), ("redirect_uris", "https://shop.example/cb\nhttp://evil.example/cb"),
            ("grant_types", "authorization_code"), ("token_endpoint_auth_method", "client_secret_basic"),
            ("allowed_scopes", "openid"), ("access_token_format", "jwt"), ("id_token_signed_response_alg", "ES256"),
            ("access_token_lifetime", "3600"), ("id_token_lifetime", "3600"), ("refresh_token_lifetime", "86400"),
            ("authorization_code_lifetime", "60"), ("require_consent", "true"), ("enabled", "true"), ("app_metadata", "{}"),
        ];
        let answer = b.submit("/admin/applications/new", "/admin/applications", &fields).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST);
        assert!(field_error(&answer.body, "f-redirect_uris").contains("https"), "{}", answer.body);
        assert!(answer.body.contains("http://evil.example/cb"), "the typed value is kept");
        assert!(answer.body.contains("value=\"Shop\""));

        let mut fixed = fields.to_vec();
        fixed[2] = ("redirect_uris", "https://shop.example/cb");
        fixed[14] = ("app_metadata", "[1]");
        let answer = b.submit("/admin/applications/new", "/admin/applications", &fixed).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST);
        assert!(field_error(&answer.body, "f-app_metadata").contains("JSON object"));
        fixed[14] = ("app_metadata", "{\"tier\": \"gold\"}");
        fixed.push(("required_claims", "phone_number"));
        let answer = b.submit("/admin/applications/new", "/admin/applications", &fixed).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        assert!(answer.body.contains("Client secret"));
        assert_eq!(answer.headers.get(header::CACHE_CONTROL).unwrap(), "no-store");
        let created = audit_events(&store, "application.create");
        assert_eq!(created[0].actor, format!("user:{admin_id}"));
        assert_eq!(created[0].summary["required_claims"], serde_json::json!(["phone_number"]));
        let app_id = created[0].target.trim_start_matches("application:").to_owned();

        // Editing: a lifetime that is not a number is reported on its field.
        let edit = format!("/admin/applications/{app_id}");
        let mut update = fixed.clone();
        update[8] = ("access_token_lifetime", "an hour");
        let answer = b.submit(&edit, &edit, &update).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST);
        assert!(field_error(&answer.body, "f-access_token_lifetime").contains("whole number"));
        update[8] = ("access_token_lifetime", "600");
        update[6] = ("access_token_format", "reference");
        // The refresh token retry grace: 0 to 60 seconds, shown with its value.
        assert!(b.get(&edit).await.body.contains("name=\"refresh_token_retry_grace_seconds\""));
        update.push(("refresh_token_retry_grace_seconds", "61"));
        let answer = b.submit(&edit, &edit, &update).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST);
        assert!(field_error(&answer.body, "f-refresh_token_retry_grace_seconds").contains("between 0 and 60"), "{}", answer.body);
        update.pop();
        update.push(("refresh_token_retry_grace_seconds", "5"));
        let answer = b.submit(&edit, &edit, &update).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER);
        let app = store.read_transaction(|c| tessera_store::applications::get(c, &app_id.as_str().into())).unwrap();
        assert_eq!(app.settings.lifetimes.access_token, 600);
        assert_eq!(app.settings.lifetimes.refresh_token_retry_grace, 5);
        assert_eq!(app.settings.required_claims, ["phone_number"]);
        assert!(!app.settings.require_signed_request_object);

        // Signed request objects (RFC 9101): the checkbox needs the keys beside it.
        assert!(b.get(&edit).await.body.contains("name=\"require_signed_request_object\""));
        update.push(("require_signed_request_object", "true"));
        let answer = b.submit(&edit, &edit, &update).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST);
        assert!(field_error(&answer.body, "f-jwks").contains("require_signed_request_object"), "{}", answer.body);
        update.push(("jwks", r#"{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#));
        let answer = b.submit(&edit, &edit, &update).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
        let app = store.read_transaction(|c| tessera_store::applications::get(c, &app_id.as_str().into())).unwrap();
        assert!(app.settings.require_signed_request_object);
        assert_eq!(app.settings.jwks.unwrap()["keys"][0]["crv"], "Ed25519");

        // The secret is regenerated and shown once; a bad grace period is refused.
        let answer = b.submit(&edit, &format!("{edit}/secret"), &[("grace_period_seconds", "-5")]).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST);
        assert!(field_error(&answer.body, "f-grace_period_seconds").contains("grace_period_seconds"));
        let answer = b.submit(&edit, &format!("{edit}/secret"), &[("grace_period_seconds", "60")]).await;
        assert_eq!(answer.status, StatusCode::OK);
        assert!(answer.body.contains("A new client secret was issued."));
        assert_eq!(audit_events(&store, "application.rotate_secret").len(), 1);

        let answer = b.submit(&edit, &format!("{edit}/delete"), &[]).await;
        assert_eq!(answer.location.as_deref(), Some("/admin/applications?notice=deleted"));
        assert_eq!(b.get(&edit).await.status, StatusCode::NOT_FOUND);
    }

    async fn requirements_are_set_beside_each_scope_and_the_sign_in_policy_on_the_application(store: Store) {
        let (mut b, _, _) = signed_in(&store).await;
        // A connection's requirement, checked and shown beside its scopes.
        let bad = [("name", "payments-api"), ("required_acr", "aal3")];
        let answer = b.submit("/admin/connections/new", "/admin/connections", &bad).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST);
        field_error(&answer.body, "f-required_acr");
        let bad = [("name", "payments-api"), ("required_acr", "2fa"), ("required_max_age", "soon")];
        let answer = b.submit("/admin/connections/new", "/admin/connections", &bad).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST);
        assert!(field_error(&answer.body, "f-required_max_age").contains("whole number"));
        let good = [("name", "payments-api"), ("required_acr", "2fa"), ("required_max_age", "600")];
        let answer = b.submit("/admin/connections/new", "/admin/connections", &good).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        let connection =
            store.read_transaction(|c| tessera_store::connections::find_by_name(c, "payments-api")).unwrap().unwrap();
        let requirement = connection.requirement.unwrap();
        assert_eq!((requirement.acr.as_str(), requirement.max_age), ("2fa", Some(600)));
        let page = format!("/admin/connections/{}", connection.id);
        let scope = [("name", "payments.transfer"), ("required_acr", "phr"), ("required_max_age", "300")];
        let answer = b.submit(&page, &format!("{page}/scopes"), &scope).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
        let shown = b.get(&page).await.body;
        assert!(shown.contains("phr within 300 s"), "the scope's own: {shown}");
        assert!(shown.contains("2fa within 600 s (the connection&#39;s)"), "the inherited one: {shown}");
        // A scope's requirement set, and refused with its field named.
        let answer = b.submit(&page, &format!("{page}/scopes/requirement"), &[("scope", "payments.transfer"), ("required_max_age", "0")]).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST);
        field_error(&answer.body, "f-required_max_age");
        let answer = b.submit(&page, &format!("{page}/scopes/requirement"), &[("scope", "payments.transfer"), ("required_acr", "")]).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
        let scope = store.read_transaction(|c| tessera_store::scopes::get_scope(c, "payments.transfer")).unwrap();
        assert_eq!(scope.requirement, None, "cleared: the connection's applies");
        assert_eq!(audit_events(&store, "connection.update_scope").len(), 1);

        // An application's sign-in policy: the server's by default, one of three, or refused.
        let fields = [
            ("name", "Payments"), ("app_type", "web"), ("redirect_uris", "https://pay.example/cb"),
            ("grant_types", "authorization_code"), ("token_endpoint_auth_method", "client_secret_basic"),
            ("allowed_scopes", "openid"), ("access_token_format", "jwt"), ("id_token_signed_response_alg", "ES256"),
            ("access_token_lifetime", "3600"), ("id_token_lifetime", "3600"), ("refresh_token_lifetime", "86400"),
            ("authorization_code_lifetime", "60"), ("enabled", "true"), ("app_metadata", "{}"),
        ];
        assert!(b.get("/admin/applications/new").await.body.contains("name=\"sign_in_policy\""));
        let mut bad = fields.to_vec();
        bad.push(("sign_in_policy", "sms"));
        let answer = b.submit("/admin/applications/new", "/admin/applications", &bad).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST);
        field_error(&answer.body, "f-sign_in_policy");
        let mut strict = fields.to_vec();
        strict.push(("sign_in_policy", "passkey"));
        let answer = b.submit("/admin/applications/new", "/admin/applications", &strict).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        let created = audit_events(&store, "application.create");
        assert_eq!(created[0].summary["sign_in_policy"], "passkey");
    }

    async fn connections_claims_scopes_and_users_are_managed(store: Store) {
        let (mut b, _, rotations) = signed_in(&store).await;
        // An API connection: the scope of the same name appears, the secret is shown once.
        let answer = b.submit("/admin/connections/new", "/admin/connections", &[("name", "Bad Name")]).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST);
        assert!(answer.body.contains("value=\"Bad Name\""));
        field_error(&answer.body, "f-name");
        let answer = b.submit("/admin/connections/new", "/admin/connections", &[("name", "billing-api"), ("access_token_format", "")]).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        assert!(answer.body.contains("API scope billing-api"));
        let connection = store.read_transaction(|c| tessera_store::connections::find_by_name(c, "billing-api")).unwrap().unwrap();
        let page = format!("/admin/connections/{}", connection.id);
        let answer = b.submit(&page, &format!("{page}/scopes"), &[("name", "billing-api:read"), ("display_name", "Read invoices")]).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER);
        let shown = b.get(&page).await;
        assert!(shown.body.contains("billing-api:read") && shown.body.contains("own scope"));
        let answer = b.submit(&page, &format!("{page}/scopes"), &[("name", "billing-api:read")]).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "a taken name");
        field_error(&answer.body, "f-name");
        let answer = b.submit(&page, &format!("{page}/secret"), &[("grace_period_seconds", "0")]).await;
        assert!(answer.body.contains("A new secret was issued."));
        // RFC 8707 / RFC 9728: a resource URI, checked, and the metadata document shown to copy.
        assert!(b.get(&page).await.body.contains("Set a resource URI above"));
        let answer = b.submit(&page, &page, &[("display_name", "Billing"), ("resource_uri", "http://billing.example.com")]).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST);
        field_error(&answer.body, "f-resource_uri");
        let answer = b.submit(&page, &page, &[("display_name", "Billing"), ("resource_uri", "https://billing.example.com")]).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
        let shown = b.get(&page).await;
        assert!(shown.body.contains("https://billing.example.com/.well-known/oauth-protected-resource"), "{}", shown.body);
        assert!(shown.body.contains("<pre class=\"code\" data-copy>"), "a copyable document");
        assert!(shown.body.contains("authorization_servers") && shown.body.contains("bearer_methods_supported"));
        assert!(shown.body.contains("tessera.test"), "the issuer");

        // A custom claim, then a custom identity scope carrying it.
        let answer = b.submit("/admin/claim-types/new", "/admin/claim-types", &[("name", "sub"), ("value_type", "string")]).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "registered claim names are refused");
        field_error(&answer.body, "f-name");
        let answer = b.submit("/admin/claim-types/new", "/admin/claim-types", &[("name", "employee_id"), ("display_name", "Employee ID"), ("value_type", "string"), ("user_editable", "true")]).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER);
        assert!(store.read_transaction(|c| tessera_store::scopes::get_claim_type(c, "employee_id")).unwrap().user_editable);
        // A standard claim: read-only, but for whether users edit it on their account page.
        let answer = b.submit("/admin/claim-types/nickname", "/admin/claim-types/nickname/user-editable", &[("user_editable", "true")]).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER);
        assert!(store.read_transaction(|c| tessera_store::scopes::get_claim_type(c, "nickname")).unwrap().user_editable);
        let answer = b.submit("/admin/claim-types/nickname", "/admin/claim-types/nickname/user-editable", &[]).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER);
        assert!(!store.read_transaction(|c| tessera_store::scopes::get_claim_type(c, "nickname")).unwrap().user_editable);
        let answer = b.submit("/admin/identity-scopes/new", "/admin/identity-scopes", &[("name", "employee"), ("show_in_discovery", "true"), ("claims", "employee_id"), ("claims", "no_such_claim")]).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST);
        assert!(answer.body.contains("value=\"employee\""));
        let answer = b.submit("/admin/identity-scopes/new", "/admin/identity-scopes", &[("name", "employee"), ("claims", "employee_id")]).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER);
        let scope = store.read_transaction(|c| tessera_store::scopes::get_scope(c, "employee")).unwrap();
        assert_eq!(scope.claims, ["employee_id"]);
        // Standard scopes are read-only.
        let profile = b.get("/admin/identity-scopes/profile").await;
        assert!(profile.body.contains("read-only") && !profile.body.contains("Delete identity scope"));

        // A user: created, a claim value checked against its type, password, role.
        let answer = b.submit("/admin/users/new", "/admin/users", &[("username", "ada"), ("email", "not-an-email"), ("app_metadata", "{}"), ("user_metadata", "{}")]).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST);
        field_error(&answer.body, "f-email");
        let answer = b.submit("/admin/users/new", "/admin/users", &[("username", "ada"), ("email", "ada@example.com"), ("password", "short"), ("app_metadata", "{}"), ("user_metadata", "{}")]).await;
        field_error(&answer.body, "f-password");
        let answer = b.submit("/admin/users/new", "/admin/users", &[("username", "ada"), ("email", "ada@example.com"), ("password", "password"), ("app_metadata", "{}"), ("user_metadata", "{}")]).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST);
        assert!(field_error(&answer.body, "f-password").starts_with("This password is too common"), "{}", answer.body);
        assert!(store.read_transaction(|c| users::find_by_login(c, "ada")).unwrap().is_none());
        let answer = b.submit("/admin/users/new", "/admin/users", &[("username", "ada"), ("email", "ada@example.com"), ("password", "long enough password"), ("app_metadata", "{\"plan\":\"pro\"}"), ("user_metadata", "{}")]).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER);
        let user = store.read_transaction(|c| users::find_by_login(c, "ada")).unwrap().unwrap();
        assert_eq!(user.app_metadata["plan"], "pro");
        let page = format!("/admin/users/{}", user.id);
        let answer = b.submit(&page, &format!("{page}/claims"), &[("claim.phone_number", "not a phone"), ("claim.employee_id", "E-7")]).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST);
        field_error(&answer.body, "f-claim-phone_number");
        assert!(answer.body.contains("value=\"E-7\""), "typed values are kept");
        let answer = b.submit(&page, &format!("{page}/claims"), &[("claim.phone_number", "+1 202 555 0143"), ("claim.employee_id", "E-7")]).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER);
        let values = store.read_transaction(|c| users::claim_values(c, &user)).unwrap();
        assert_eq!(values["employee_id"], "E-7");
        let answer = b.submit(&page, &page, &[("username", "ada"), ("email", "ada@example.com"), ("disabled", "true"), ("app_metadata", "{not json"), ("user_metadata", "{}")]).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST);
        field_error(&answer.body, "f-app_metadata");
        assert!(!store.read_transaction(|c| users::get(c, &user.id)).unwrap().disabled, "nothing half-written");
        let role = b.submit("/admin/roles", "/admin/roles", &[("name", "support")]).await;
        assert_eq!(role.status, StatusCode::SEE_OTHER);
        let support = store.read_transaction(|c| tessera_store::organizations::find_role_by_name(c, "support")).unwrap().unwrap();
        let answer = b.submit(&page, &format!("{page}/roles"), &[("role_id", &support.id)]).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER);
        assert!(store.read_transaction(|c| users::has_role(c, &user.id, "support")).unwrap());
        let answer = b.submit(&page, &format!("{page}/password"), &[("password", "ada-2024")]).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST);
        assert!(field_error(&answer.body, "f-password").starts_with("This password is too easy to guess"), "{}", answer.body);
        let answer = b.submit(&page, &format!("{page}/password"), &[("password", "another long password")]).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER);
        assert_eq!(audit_events(&store, "user.set_password").len(), 1);
        assert!(!audit_events(&store, "user.set_password")[0].summary.to_string().contains("another long password"));

        // An organization with the user as a member.
        let answer = b.submit("/admin/organizations/new", "/admin/organizations", &[("name", "acme"), ("metadata", "{}")]).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER);
        let org_page = answer.location.unwrap().split('?').next().unwrap().to_owned();
        let answer = b.submit(&org_page, &format!("{org_page}/members"), &[("user", "nobody")]).await;
        field_error(&answer.body, "f-user");
        let answer = b.submit(&org_page, &format!("{org_page}/members"), &[("user", "ada"), ("role_ids", &support.id)]).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER);
        assert!(b.get(&page).await.body.contains("acme"));

        // Keys: a management key shown once, a signing key rotation handed to the binary.
        let answer = b.submit("/admin/management-keys", "/admin/management-keys", &[("name", "deploy"), ("expires_at", "1999-01-01")]).await;
        field_error(&answer.body, "f-expires_at");
        let answer = b.submit("/admin/management-keys", "/admin/management-keys", &[("name", "deploy")]).await;
        assert_eq!(answer.status, StatusCode::OK);
        assert!(answer.body.contains("API_KEY_ID"));
        let answer = b.submit("/admin/signing-keys", "/admin/signing-keys/rotate", &[("alg", "EdDSA")]).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER);
        assert_eq!(rotations.lock().unwrap()[0].0, "EdDSA");
        assert!(rotations.lock().unwrap()[0].2.starts_with("user:"));

        // The audit log filters by action.
        let audit = b.get("/admin/audit?action=user.create").await;
        assert!(audit.body.contains("user.create") && !audit.body.contains("role.create"));
        let audit = b.get("/admin/audit?from=yesterday").await;
        field_error(&audit.body, "f-from");
    }

    async fn the_script_editor_shows_a_syntax_error_beside_the_source_keeping_the_typed_text(store: Store) {
        let (mut b, admin_id, _) = signed_in(&store).await;
        let editor = b.get("/admin/scripts/user").await;
        assert_eq!(editor.status, StatusCode::OK);
        assert!(editor.body.contains("class=\"code-gutter\"") && editor.body.contains("data-code"), "{}", editor.body);
        assert!(editor.body.contains("id=\"script-editor\""));

        let typed = "function getCustomJwtClaims() {\r\n  return { a: 1 ;\r\n}";
        let answer = b.submit("/admin/scripts/user", "/admin/scripts/user", &[("source", typed), ("enabled", "true"), ("on_failure", "deny")]).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST);
        assert!(field_error(&answer.body, "f-source").contains("line 2, column 17"), "{}", answer.body);
        assert!(answer.body.contains("  return { a: 1 ;\n}</textarea>"), "the typed text is kept");
        assert!(answer.body.contains("<span class=\"bad\">2</span>"), "the line is marked");
        assert!(answer.body.contains("data-error-line=\"2\""));
        assert!(store.read_transaction(|c| tessera_store::scripts::get(c, tessera_store::scripts::ScriptKind::User)).unwrap().is_none());

        let answer = b.submit("/admin/scripts/user", "/admin/scripts/user", &[("source", ""), ("enabled", "true"), ("on_failure", "deny")]).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST);
        assert!(field_error(&answer.body, "f-enabled").contains("empty"));

        let good = "function getCustomJwtClaims() {\n  return { plan: 1 };\n}";
        let answer = b.submit("/admin/scripts/user", "/admin/scripts/user", &[("source", good), ("enabled", "true"), ("on_failure", "issue_without_claims")]).await;
        assert_eq!(answer.location.as_deref(), Some("/admin/scripts/user?notice=saved"));
        let saved = store.read_transaction(|c| tessera_store::scripts::get(c, tessera_store::scripts::ScriptKind::User)).unwrap().unwrap();
        assert_eq!((saved.source.as_str(), saved.enabled, saved.version), (good, true, 1));
        let list = b.get("/admin/scripts").await;
        assert!(list.body.contains("User token script") && list.body.contains("enabled"));
        assert_eq!(audit_events(&store, "script.save")[0].actor, format!("user:{admin_id}"));
    }

    async fn the_test_runner_fills_a_sample_from_the_store_and_shows_claims_errors_and_logs(store: Store) {
        let (mut b, _, _) = signed_in(&store).await;
        let app_fields = [
            ("name", "Shop"), ("app_type", "web"), ("redirect_uris", "https://shop.example/cb"),
            ("grant_types", "authorization_code"), ("token_endpoint_auth_method", "client_secret_basic"),
            ("allowed_scopes", "openid"), ("access_token_format", "jwt"), ("id_token_signed_response_alg", "ES256"),
            ("access_token_lifetime", "600"), ("id_token_lifetime", "3600"), ("refresh_token_lifetime", "86400"),
            ("authorization_code_lifetime", "60"), ("enabled", "true"), ("app_metadata", "{\"tier\":\"gold\"}"),
        ];
        assert_eq!(b.submit("/admin/applications/new", "/admin/applications", &app_fields).await.status, StatusCode::OK);
        let app = store.read_transaction(|c| tessera_store::applications::list(c, &tessera_store::Page::first(10))).unwrap().items.remove(0);
        let user = store.write_transaction(|c| users::create(c, &NewUser { username: "grace".into(), email: Some("grace@example.com".into()), app_metadata: Some(serde_json::json!({ "plan": "pro" })), ..Default::default() }, 1)).unwrap();
        let role = store.write_transaction(|c| tessera_store::organizations::create_role(c, "auditor", "", 1)).unwrap();
        store.write_transaction(|c| users::add_role(c, &user.id, &role.id)).unwrap();
        let org = store.write_transaction(|c| tessera_store::organizations::create_organization(c, "acme", "Acme", &serde_json::json!({}), 1)).unwrap();
        store.write_transaction(|c| tessera_store::organizations::set_membership(c, &org.id, &user.id, std::slice::from_ref(&role.id), 1)).unwrap();

        // The sample: the chosen user and application, built as the token endpoint builds it.
        let source = "function getCustomJwtClaims({ context }) {\n  console.log(context.user.username);\n  return { plan: context.user.app_metadata.plan, org: context.user.organizations[0].roles[0] };\n}";
        let form = [("source", source), ("enabled", "true"), ("on_failure", "deny"), ("user", user.id.as_str()), ("application", app.id.as_str()), ("token", ""), ("context", "")];
        let answer = b.submit("/admin/scripts/user", "/admin/scripts/user/sample", &form).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        assert!(answer.body.contains("console.log(context.user.username);"), "the typed source is kept");
        let token = textarea(&answer.body, "f-token");
        let context = textarea(&answer.body, "f-context");
        let token_json: serde_json::Value = serde_json::from_str(&token).unwrap();
        let context_json: serde_json::Value = serde_json::from_str(&context).unwrap();
        assert_eq!(token_json["payload"]["sub"], user.id.as_str());
        assert_eq!(token_json["payload"]["client_id"], app.client_id.as_str());
        assert_eq!(token_json["payload"]["aud"], "(issuer)");
        assert_eq!(token_json["payload"]["exp"].as_i64().unwrap() - token_json["payload"]["iat"].as_i64().unwrap(), 600);
        assert_eq!(token_json["accountId"], user.id.as_str());
        assert_eq!(context_json["user"]["roles"], serde_json::json!(["auditor"]));
        assert_eq!(context_json["user"]["organizations"][0]["roles"], serde_json::json!(["auditor"]));
        assert_eq!(context_json["user"]["claims"]["email"], "grace@example.com");
        assert_eq!(context_json["application"]["app_metadata"]["tier"], "gold");
        assert_eq!(context_json["grant"]["amr"], serde_json::json!(["pwd"]));

        // Run: the claims, the console output and the payload as it would be issued.
        let run = [("source", source), ("enabled", "true"), ("on_failure", "deny"), ("user", user.id.as_str()), ("application", app.id.as_str()), ("token", token.as_str()), ("context", context.as_str())];
        let answer = b.submit("/admin/scripts/user", "/admin/scripts/user/test", &run).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        assert!(answer.body.contains("Claims returned"), "{}", answer.body);
        assert!(answer.body.contains("&quot;plan&quot;: &quot;pro&quot;") || answer.body.contains("&#34;plan&#34;: &#34;pro&#34;"), "{}", answer.body);
        assert!(answer.body.contains("Token payload") && answer.body.contains("Console output"));
        assert!(answer.body.contains("<pre class=\"code\">grace</pre>"), "{}", answer.body);

        // A thrown error: its message, its line marked in the editor.
        let throwing = "function getCustomJwtClaims() {\n  throw new Error(\"boom\");\n}";
        let mut failing = run;
        failing[0] = ("source", throwing);
        let answer = b.submit("/admin/scripts/user", "/admin/scripts/user/test", &failing).await;
        assert_eq!(answer.status, StatusCode::OK);
        assert!(answer.body.contains("The script threw") && answer.body.contains("Error: boom"), "{}", answer.body);
        assert!(answer.body.contains("<span class=\"bad\">2</span>"));
        assert!(answer.body.contains("The token request would be refused"));

        // Input that is not JSON is refused beside its field, everything kept.
        let mut broken = run;
        broken[5] = ("token", "{not json");
        let answer = b.submit("/admin/scripts/user", "/admin/scripts/user/test", &broken).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST);
        assert!(field_error(&answer.body, "f-token").contains("JSON"));
        assert!(answer.body.contains("{not json</textarea>"));
        assert_eq!(audit_events(&store, "script.test").len(), 2);

        // The machine script offers only applications allowed client credentials, and no context.
        let machine = b.get("/admin/scripts/machine").await;
        assert_eq!(machine.status, StatusCode::OK);
        assert!(!machine.body.contains("id=\"f-context\"") && !machine.body.contains("id=\"f-user\""));
        assert!(!machine.body.contains(app.id.as_str()), "a web application gets no machine tokens");
    }

    async fn script_variables_are_set_masked_and_deleted_in_the_console(store: Store) {
        let (mut b, admin_id, _) = signed_in(&store).await;
        let answer = b.submit("/admin/scripts/user", "/admin/script-variables", &[("back", "user"), ("name", "API_KEY"), ("value", "k-123"), ("secret", "true")]).await;
        assert_eq!(answer.location.as_deref(), Some("/admin/scripts/user?notice=variable_saved#variables"));
        let answer = b.submit("/admin/scripts/user", "/admin/script-variables", &[("back", "machine"), ("name", "TIER"), ("value", "gold")]).await;
        assert_eq!(answer.location.as_deref(), Some("/admin/scripts/machine?notice=variable_saved#variables"));
        let page = b.get("/admin/scripts/machine").await;
        assert!(page.body.contains(">API_KEY<") && page.body.contains("(secret)") && !page.body.contains("k-123"), "{}", page.body);
        assert!(page.body.contains(">gold<"));
        let raw = store.read_transaction(|c| tessera_store::scripts::get_variable(c, "API_KEY")).unwrap().unwrap();
        assert!(raw.secret && !raw.value.contains("k-123"));

        let answer = b.submit("/admin/scripts/user", "/admin/script-variables", &[("back", "user"), ("name", "BAD-NAME"), ("value", "hunter2"), ("secret", "true")]).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST);
        field_error(&answer.body, "f-name");
        assert!(answer.body.contains("value=\"BAD-NAME\"") && !answer.body.contains("hunter2"), "a secret value is not sent back");

        let answer = b.submit("/admin/scripts/user", "/admin/script-variables/API_KEY/delete", &[("back", "user")]).await;
        assert_eq!(answer.location.as_deref(), Some("/admin/scripts/user?notice=variable_deleted#variables"));
        assert!(store.read_transaction(|c| tessera_store::scripts::get_variable(c, "API_KEY")).unwrap().is_none());
        assert!(!b.get("/admin/scripts/user").await.body.contains(">API_KEY<"));
        let set = audit_events(&store, "script_variable.set");
        assert_eq!(set.len(), 2);
        assert_eq!(set[0].actor, format!("user:{admin_id}"));
        assert_eq!(audit_events(&store, "script_variable.delete").len(), 1);
    }

    async fn a_claim_mapping_is_made_in_the_console_with_errors_beside_fields(store: Store) {
        let (mut b, admin_id, _) = signed_in(&store).await;
        let fields = [
            ("application_id", ""), ("subject", "user"), ("source", "app_metadata"), ("path", "plan"),
            ("namespace", "https://example.com/"), ("name", "plan"), ("outputs", "access_token"),
            ("outputs", "userinfo"), ("freshness", "grant"),
        ];
        let answer = b.submit("/admin/claim-mappings", "/admin/claim-mappings", &fields).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST);
        assert!(field_error(&answer.body, "f-path").contains("JSON pointer"), "{}", answer.body);
        assert!(answer.body.contains("value=\"https://example.com/\""), "the typed namespace is kept");

        let mut fixed = fields.to_vec();
        fixed[3] = ("path", "/plan");
        let answer = b.submit("/admin/claim-mappings", "/admin/claim-mappings", &fixed).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
        let list = b.get("/admin/claim-mappings?notice=created").await;
        assert!(list.body.contains("https://example.com/plan"), "{}", list.body);
        let saved = store.read_transaction(|c| tessera_store::mappings::list(c, None, &tessera_store::Page::first(10))).unwrap().items;
        assert_eq!(saved.len(), 1);
        assert_eq!(saved[0].rule.outputs.to_text(), "access_token userinfo");
        let events = audit_events(&store, "claim_mapping.create");
        assert_eq!(events[0].actor, format!("user:{admin_id}"));

        let edit = format!("/admin/claim-mappings/{}", saved[0].id);
        let mut renamed = fixed.clone();
        renamed[4] = ("namespace", "");
        renamed[5] = ("name", "sub");
        let answer = b.submit(&edit, &edit, &renamed[1..]).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST);
        assert!(field_error(&answer.body, "f-name").contains("registered"), "{}", answer.body);
        renamed[5] = ("name", "tier");
        assert_eq!(b.submit(&edit, &edit, &renamed[1..]).await.status, StatusCode::SEE_OTHER);
        let deleted = b.submit(&edit, &format!("{edit}/delete"), &[]).await;
        assert_eq!(deleted.status, StatusCode::SEE_OTHER);
        assert!(store.read_transaction(|c| tessera_store::mappings::list(c, None, &tessera_store::Page::first(10))).unwrap().items.is_empty());
    }

    async fn the_claims_preview_shows_the_outputs_of_a_chosen_application_and_user(store: Store) {
        let (mut b, admin_id, _) = signed_in(&store).await;
        let settings = tessera_store::applications::ApplicationSettings {
            grant_types: vec![tessera_domain::GrantType::AuthorizationCode],
            app_metadata: serde_json::json!({ "tenant": "shop-1" }),
            allowed_scopes: vec!["openid".into()],
            ..tessera_testkit::apps::web_app("Shop", &["https://shop.example/cb"])
        };
        let app = store.write_transaction(|c| tessera_store::applications::create(c, &"shop".into(), &settings, None, 1)).unwrap();
        let rule = tessera_domain::ClaimRule::parse(&tessera_domain::ClaimRuleInput {
            subject: "user", source: "application_metadata", path: "/tenant", name: "tenant", ..Default::default()
        }).unwrap();
        store.write_transaction(|c| tessera_store::mappings::create(c, None, &rule, 1)).unwrap();
        let answer = b.submit("/admin/claim-mappings/preview", "/admin/claim-mappings/preview",
            &[("application", app.id.as_str()), ("user", admin_id.as_str()), ("scope", "")]).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        for heading in ["ID token", "Access token", "Userinfo"] {
            assert!(answer.body.contains(heading), "{heading}");
        }
        assert!(answer.body.contains("shop-1") && answer.body.contains("mapping (global)"), "{}", answer.body);
        let refused = b.submit("/admin/claim-mappings/preview", "/admin/claim-mappings/preview",
            &[("application", app.id.as_str()), ("user", ""), ("scope", "")]).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST);
        assert!(field_error(&refused.body, "f-user").contains("choose a user"), "{}", refused.body);
        assert_eq!(audit_events(&store, "token.preview").len(), 1);
    }

    async fn a_token_exchange_rule_is_added_previewed_and_deleted_on_the_connection_page(store: Store) {
        use tessera_domain::GrantType;
        use tessera_store::connections::{self, NewApiConnection};
        let (mut b, _, _) = signed_in(&store).await;
        let now = tessera_testkit::NOW;
        let new = |name: &str| NewApiConnection { name: name.into(), display_name: name.into(), description: String::new(), access_token_format: None, resource_uri: None, requirement: None };
        store.write_transaction(|c| connections::create(c, &new("orders-api"), "h1", now)).unwrap();
        let billing = store.write_transaction(|c| connections::create(c, &new("billing-api"), "h2", now)).unwrap();
        let mut settings = tessera_testkit::apps::machine_app("Orders backend", &["orders-api"]);
        settings.grant_types = vec![GrantType::ClientCredentials, GrantType::TokenExchange];
        store.write_transaction(|c| tessera_store::applications::create(c, &"orders-backend".into(), &settings, Some("hash"), now)).unwrap();
        let ada = store.write_transaction(|c| users::create(c, &NewUser { username: "ada".into(), ..Default::default() }, now)).unwrap();

        let page = format!("/admin/connections/{}", billing.id);
        let shown = b.get(&page).await;
        assert!(shown.body.contains("No rules: no application may exchange"), "{}", shown.body);
        let rule = [("client_id", "orders-backend"), ("source_audience", "orders-api"), ("scopes", "orders-api")];
        let answer = b.submit(&page, &format!("{page}/token-exchange"), &rule).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST);
        assert!(field_error(&answer.body, "f-scopes").contains("not a scope of this API connection"));
        assert!(answer.body.contains("value=\"orders-backend\""), "typed values are kept");
        assert!(audit_events(&store, "connection.token_exchange_policy").is_empty());

        let rule = [("client_id", "orders-backend"), ("source_audience", "orders-api"), ("scopes", "billing-api")];
        let answer = b.submit(&page, &format!("{page}/token-exchange"), &rule).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
        let stored = store.read_transaction(|c| connections::get(c, &billing.id)).unwrap();
        assert_eq!(stored.token_exchange.rules().len(), 1);
        assert_eq!(audit_events(&store, "connection.token_exchange_policy").len(), 1);

        let preview = [("preview_client_id", "orders-backend"), ("preview_user_id", ada.id.as_str())];
        let answer = b.submit(&page, &format!("{page}/token-exchange/preview"), &preview).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        assert!(answer.body.contains("Introspection by billing-api"));
        let unescaped = answer.body.replace("&quot;", "\"").replace("&#34;", "\"");
        assert!(unescaped.contains("{\"sub\":\"orders-backend\"}"), "act in the preview: {}", answer.body);
        let nobody = [("preview_client_id", "orders-backend"), ("preview_user_id", "nobody")];
        let answer = b.submit(&page, &format!("{page}/token-exchange/preview"), &nobody).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST);
        field_error(&answer.body, "f-preview_user_id");

        let answer = b.submit(&page, &format!("{page}/token-exchange/0/delete"), &[]).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER);
        assert!(store.read_transaction(|c| connections::get(c, &billing.id)).unwrap().token_exchange.is_empty());
        assert_eq!(audit_events(&store, "connection.token_exchange_policy").len(), 2);
    }
}
