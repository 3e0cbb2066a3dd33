//! The browser pages: sign-in, registration, required claims, consent, logout, errors and
//! the form post response. Askama templates under `templates/login/` display exactly the
//! fields given here and escape every one of them; what a page shows is decided by its
//! caller. Every page is answered uncacheable, unframeable and under a strict
//! `Content-Security-Policy` (docs/security.md, "Browser sessions, cookies, CSRF and
//! headers").

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, CacheControl, CacheDirective, HeaderValue};
use askama::Template;

/// The policy of every page: our own stylesheet and scripts, forms posted back to us only;
/// scripts may fetch from us only (`static/passkeys.js` asks for WebAuthn options).
const PAGE_CSP: &str = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; \
                        connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// One claim a user is asked for. The form field is `claim.<name>`; a checkbox sends
/// `true` when checked and nothing otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimField {
    pub name: String,
    pub label: String,
    pub description: String,
    /// `text`, `email`, `tel`, `url`, `date`, `number`, `checkbox` or `textarea`.
    pub input_type: &'static str,
    pub value: String,
    pub error: Option<String>,
}

impl ClaimField {
    /// The element id, shared by the input and its `<label for>`.
    pub fn id(&self) -> String {
        format!("claim-{}", self.name)
    }

    /// The ids of the hint and the error, for `aria-describedby` (empty when neither shows).
    pub fn described_by(&self) -> String {
        let id = self.id();
        let mut ids = Vec::new();
        if !self.description.is_empty() {
            ids.push(format!("{id}-hint"));
        }
        if self.error.is_some() {
            ids.push(format!("{id}-error"));
        }
        ids.join(" ")
    }

    /// WCAG 1.3.5 (identify input purpose): the `autocomplete` token of the standard
    /// OpenID Connect claims (Core §5.1), so browsers can fill them in.
    pub fn autocomplete(&self) -> Option<&'static str> {
        Some(match self.name.as_str() {
            "name" => "name",
            "given_name" => "given-name",
            "family_name" => "family-name",
            "middle_name" => "additional-name",
            "nickname" => "nickname",
            "preferred_username" => "username",
            "email" => "email",
            "phone_number" => "tel",
            "website" | "profile" => "url",
            "birthdate" => "bday",
            "gender" => "sex",
            "locale" => "language",
            _ => return None,
        })
    }
}

/// A scope on the consent page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeItem {
    pub name: String,
    pub display_name: String,
    pub description: String,
}

/// The sign-in form, posted to `/login`.
#[derive(Template)]
#[template(path = "login/sign_in.html")]
pub struct SignInPage {
    pub request: String,
    pub csrf: String,
    pub client_name: String,
    pub login: String,
    pub error: Option<String>,
    pub registration_enabled: bool,
    pub notice: Option<String>,
    /// Passkeys may sign in (the issuer is a valid relying party).
    pub passkeys: bool,
}

/// The registration form, posted to `/register`.
#[derive(Template)]
#[template(path = "login/register.html")]
pub struct RegisterPage {
    pub request: String,
    pub csrf: String,
    pub client_name: String,
    pub username: String,
    pub email: String,
    pub username_error: Option<String>,
    pub email_error: Option<String>,
    pub password_error: Option<String>,
    pub error: Option<String>,
    pub claims: Vec<ClaimField>,
}

impl RegisterPage {
    fn has_field_errors(&self) -> bool {
        self.username_error.is_some()
            || self.email_error.is_some()
            || self.password_error.is_some()
            || self.claims.iter().any(|field| field.error.is_some())
    }

    fn has_errors(&self) -> bool {
        self.error.is_some() || self.has_field_errors()
    }
}

/// The claims the application requires and the account lacks, posted to `/login/claims`.
#[derive(Template)]
#[template(path = "login/required_claims.html")]
pub struct RequiredClaimsPage {
    pub request: String,
    pub csrf: String,
    pub client_name: String,
    pub fields: Vec<ClaimField>,
    pub error: Option<String>,
}

impl RequiredClaimsPage {
    fn has_field_errors(&self) -> bool {
        self.fields.iter().any(|field| field.error.is_some())
    }

    fn has_errors(&self) -> bool {
        self.error.is_some() || self.has_field_errors()
    }
}

/// What the application asks for, allowed or denied with `decision` posted to `/consent`.
#[derive(Template)]
#[template(path = "login/consent.html")]
pub struct ConsentPage {
    pub request: String,
    pub csrf: String,
    pub client_name: String,
    /// Set when the application registered itself: its name is its own claim.
    pub self_registered: Option<SelfRegistered>,
    pub username: String,
    pub identity_scopes: Vec<ScopeItem>,
    pub api_scopes: Vec<ScopeItem>,
}

/// What the consent page says of an application that registered itself (dynamic
/// registration or a Client ID Metadata Document): that nobody vouched for its name, and
/// the one thing about it that cannot be chosen freely, a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelfRegistered {
    /// The host of the metadata document's URL (its `client_id`), or of the redirect URI
    /// a dynamically registered client will be answered at; `None` when there is none
    /// (a device request of a dynamic client).
    pub host: Option<String>,
    /// Whether `host` serves the client's metadata document (else: it is where the user
    /// is sent back).
    pub metadata_document: bool,
}

/// OpenID Connect RP-Initiated Logout §2: the user confirms before being signed out.
#[derive(Template)]
#[template(path = "login/logout.html")]
pub struct LogoutPage {
    pub csrf: String,
    pub client_name: Option<String>,
    pub request: String,
    /// The username of the account that signing out ends.
    pub account: Option<String>,
    /// The client asked to sign out another account (or an ended session) than this one.
    pub other_account: bool,
}

/// After logout, when there is nowhere to send the user back to.
#[derive(Template)]
#[template(path = "login/signed_out.html")]
pub struct SignedOutPage {}

/// An error the user cannot fix by going back to the application (e.g. an unknown
/// client or an unregistered redirect URI, which never redirect: docs/security.md,
/// "Redirect URIs").
#[derive(Template)]
#[template(path = "login/error.html")]
pub struct ErrorPage {
    pub title: String,
    pub message: String,
}

/// OAuth 2.0 Form Post Response Mode: the response parameters, posted to the client's
/// `redirect_uri` by the browser.
#[derive(Template)]
#[template(path = "login/form_post.html")]
pub struct FormPostPage {
    pub action: String,
    pub fields: Vec<(String, String)>,
}

/// A page, 200.
pub(crate) fn html(page: &impl Template) -> HttpResponse {
    html_status(StatusCode::OK, page)
}

/// A page with the given status.
pub(crate) fn html_status(status: StatusCode, page: &impl Template) -> HttpResponse {
    respond(status, page, PAGE_CSP)
}

/// A page of a sign-in in progress (sign-in, registration, required claims, consent):
/// as any page, except that its form may also end at the origin of the client's
/// `redirect_uri`. Browsers hold `form-action` to the redirects that follow a form's
/// submission (CSP Level 3 §6.3.2.1 as Chromium enforces it), and the last form of a
/// sign-in answers with a redirect to the client.
pub(crate) fn html_for_client(status: StatusCode, page: &impl Template, redirect_uri: &str) -> HttpResponse {
    let source = form_action_source(redirect_uri);
    if source == "'self'" {
        return respond(status, page, PAGE_CSP);
    }
    let csp = PAGE_CSP.replace("form-action 'self'", &format!("form-action 'self' {source}"));
    respond(status, page, &csp)
}

/// The form post page: as any page, except that its form may be posted to the origin of
/// the client's `redirect_uri` (and only there).
pub(crate) fn form_post(page: &FormPostPage) -> HttpResponse {
    let csp = PAGE_CSP.replace("form-action 'self'", &format!("form-action {}", form_action_source(&page.action)));
    respond(StatusCode::OK, page, &csp)
}

/// The CSP source naming the origin of `action` (`scheme://host[:port]`), or `'self'` when
/// it has no such origin or is not plainly an origin (nothing can inject a directive).
fn form_action_source(action: &str) -> String {
    let origin = match url::Url::parse(action) {
        Ok(url) => url.origin(),
        Err(_) => return "'self'".to_owned(),
    };
    if !origin.is_tuple() {
        return "'self'".to_owned();
    }
    let serialized = origin.ascii_serialization();
    let plain = serialized.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.:/[]".contains(&b));
    if plain { serialized } else { "'self'".to_owned() }
}

fn respond(status: StatusCode, page: &impl Template, csp: &str) -> HttpResponse {
    let body = match page.render() {
        Ok(body) => body,
        Err(error) => {
            tracing::error!(%error, "a page could not be rendered");
            return HttpResponse::InternalServerError()
                .insert_header(CacheControl(vec![CacheDirective::NoStore]))
                .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
                .content_type("text/plain; charset=utf-8")
                .body("the page could not be rendered");
        }
    };
    let mut response = HttpResponse::build(status);
    response
        .content_type("text/html; charset=utf-8")
        .insert_header(CacheControl(vec![CacheDirective::NoStore]))
        .insert_header((header::PRAGMA, "no-cache"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"));
    match HeaderValue::from_str(csp) {
        Ok(value) => response.insert_header((header::CONTENT_SECURITY_POLICY, value)),
        // Unreachable: the policy is ASCII by construction; the strict one is the fallback.
        Err(_) => response.insert_header((header::CONTENT_SECURITY_POLICY, PAGE_CSP)),
    };
    response.body(body)
}

#[cfg(test)]
mod tests;
