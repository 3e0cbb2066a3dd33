//! The application editor of the console: the values it shows (typed, or an application's
//! settings), its fields with their help, and the API input a submitted form becomes.

use serde_json::Value;
use tessera_domain::{ApplicationType, ClientAuthMethod, GrantType, SigningAlgorithm, TokenFormat, TokenLifetimes};
use tessera_store::Store;
use tessera_store::applications::Application;
use tessera_store::scopes::{self, ScopeKind};

use crate::api::ApiError;
use crate::api::applications::ApplicationInput;
use crate::console::ConsoleError;
use crate::console::form::FormData;
use crate::console::view::{Choice, Field};

/// What the form shows: the typed values, or an application's settings.
#[derive(Debug, Clone)]
pub(super) struct Values {
    name: String,
    description: String,
    app_type: String,
    enabled: bool,
    redirect_uris: String,
    post_logout_redirect_uris: String,
    grant_types: Vec<String>,
    token_endpoint_auth_method: String,
    jwks: String,
    allowed_scopes: Vec<String>,
    required_claims: Vec<String>,
    access_token_format: String,
    id_token_signed_response_alg: String,
    access_token_lifetime: String,
    id_token_lifetime: String,
    refresh_token_lifetime: String,
    authorization_code_lifetime: String,
    refresh_token_retry_grace_seconds: String,
    require_consent: bool,
    always_issue_refresh_token: bool,
    require_pushed_authorization_requests: bool,
    dpop_bound_access_tokens: bool,
    require_signed_request_object: bool,
    backchannel_logout_uri: String,
    backchannel_logout_session_required: bool,
    require_verified_email: bool,
    self_registration: bool,
    sign_in_policy: String,
    app_metadata: String,
    jwks_uri: String,
    request_uris: String,
}

impl Values {
    pub(super) fn new_application() -> Values {
        let lifetimes = TokenLifetimes::default();
        Values {
            name: String::new(),
            description: String::new(),
            app_type: ApplicationType::Web.as_str().into(),
            enabled: true,
            redirect_uris: String::new(),
            post_logout_redirect_uris: String::new(),
            grant_types: ApplicationType::Web.default_grant_types().iter().map(|g| g.as_str().to_owned()).collect(),
            token_endpoint_auth_method: ApplicationType::Web.default_auth_method().as_str().into(),
            jwks: String::new(),
            allowed_scopes: ApplicationType::Web.default_allowed_scopes(),
            required_claims: Vec::new(),
            access_token_format: TokenFormat::default().as_str().into(),
            id_token_signed_response_alg: SigningAlgorithm::default().as_str().into(),
            access_token_lifetime: lifetimes.access_token.to_string(),
            id_token_lifetime: lifetimes.id_token.to_string(),
            refresh_token_lifetime: lifetimes.refresh_token.to_string(),
            authorization_code_lifetime: lifetimes.authorization_code.to_string(),
            refresh_token_retry_grace_seconds: lifetimes.refresh_token_retry_grace.to_string(),
            require_consent: true,
            always_issue_refresh_token: false,
            require_pushed_authorization_requests: false,
            dpop_bound_access_tokens: false,
            require_signed_request_object: false,
            backchannel_logout_uri: String::new(),
            backchannel_logout_session_required: false,
            require_verified_email: false,
            self_registration: true,
            sign_in_policy: String::new(),
            app_metadata: "{}".into(),
            jwks_uri: String::new(),
            request_uris: String::new(),
        }
    }

    pub(super) fn of(app: &Application) -> Values {
        let s = &app.settings;
        Values {
            name: s.name.clone(),
            description: s.description.clone(),
            app_type: s.app_type.as_str().into(),
            enabled: s.enabled,
            redirect_uris: s.redirect_uris.join("\n"),
            post_logout_redirect_uris: s.post_logout_redirect_uris.join("\n"),
            grant_types: s.grant_types.iter().map(|g| g.as_str().to_owned()).collect(),
            token_endpoint_auth_method: s.token_endpoint_auth_method.as_str().into(),
            jwks: s.jwks.as_ref().map(pretty).unwrap_or_default(),
            allowed_scopes: s.allowed_scopes.clone(),
            required_claims: s.required_claims.clone(),
            access_token_format: s.access_token_format.as_str().into(),
            id_token_signed_response_alg: s.id_token_signed_response_alg.as_str().into(),
            access_token_lifetime: s.lifetimes.access_token.to_string(),
            id_token_lifetime: s.lifetimes.id_token.to_string(),
            refresh_token_lifetime: s.lifetimes.refresh_token.to_string(),
            authorization_code_lifetime: s.lifetimes.authorization_code.to_string(),
            refresh_token_retry_grace_seconds: s.lifetimes.refresh_token_retry_grace.to_string(),
            require_consent: s.require_consent,
            always_issue_refresh_token: s.always_issue_refresh_token,
            require_pushed_authorization_requests: s.require_pushed_authorization_requests,
            dpop_bound_access_tokens: s.dpop_bound_access_tokens,
            require_signed_request_object: s.require_signed_request_object,
            backchannel_logout_uri: s.backchannel_logout_uri.clone().unwrap_or_default(),
            backchannel_logout_session_required: s.backchannel_logout_session_required,
            require_verified_email: s.require_verified_email,
            self_registration: s.self_registration,
            sign_in_policy: s.sign_in_policy.map(|p| p.as_str().to_owned()).unwrap_or_default(),
            app_metadata: pretty(&s.app_metadata),
            jwks_uri: s.jwks_uri.clone().unwrap_or_default(),
            request_uris: s.request_uris.join("\n"),
        }
    }

    pub(super) fn typed(form: &FormData) -> Values {
        Values {
            name: form.text("name"),
            description: form.text("description"),
            app_type: form.text("app_type"),
            enabled: form.checked("enabled"),
            redirect_uris: form.get("redirect_uris").unwrap_or("").to_owned(),
            post_logout_redirect_uris: form.get("post_logout_redirect_uris").unwrap_or("").to_owned(),
            grant_types: form.all("grant_types"),
            token_endpoint_auth_method: form.text("token_endpoint_auth_method"),
            jwks: form.get("jwks").unwrap_or("").to_owned(),
            allowed_scopes: form.all("allowed_scopes"),
            required_claims: form.all("required_claims"),
            access_token_format: form.text("access_token_format"),
            id_token_signed_response_alg: form.text("id_token_signed_response_alg"),
            access_token_lifetime: form.text("access_token_lifetime"),
            id_token_lifetime: form.text("id_token_lifetime"),
            refresh_token_lifetime: form.text("refresh_token_lifetime"),
            authorization_code_lifetime: form.text("authorization_code_lifetime"),
            refresh_token_retry_grace_seconds: form.text("refresh_token_retry_grace_seconds"),
            require_consent: form.checked("require_consent"),
            always_issue_refresh_token: form.checked("always_issue_refresh_token"),
            require_pushed_authorization_requests: form.checked("require_pushed_authorization_requests"),
            dpop_bound_access_tokens: form.checked("dpop_bound_access_tokens"),
            require_signed_request_object: form.checked("require_signed_request_object"),
            backchannel_logout_uri: form.text("backchannel_logout_uri"),
            backchannel_logout_session_required: form.checked("backchannel_logout_session_required"),
            require_verified_email: form.checked("require_verified_email"),
            self_registration: form.checked("self_registration"),
            sign_in_policy: form.text("sign_in_policy"),
            app_metadata: form.get("app_metadata").unwrap_or("").to_owned(),
            jwks_uri: form.text("jwks_uri"),
            request_uris: form.get("request_uris").unwrap_or("").to_owned(),
        }
    }
}

pub(crate) fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

/// The API input of a submitted form; a malformed number or JSON names its field.
pub(super) fn input(form: &FormData) -> Result<ApplicationInput, ApiError> {
    Ok(ApplicationInput {
        name: form.text("name"),
        app_type: form.text("app_type"),
        description: form.optional("description"),
        redirect_uris: form.lines("redirect_uris"),
        post_logout_redirect_uris: form.lines("post_logout_redirect_uris"),
        grant_types: Some(form.all("grant_types")),
        token_endpoint_auth_method: form.optional("token_endpoint_auth_method"),
        jwks: form.json("jwks")?,
        jwks_uri: form.optional("jwks_uri"),
        request_uris: form.lines("request_uris"),
        allowed_scopes: Some(form.all("allowed_scopes")),
        required_claims: form.all("required_claims"),
        access_token_format: form.optional("access_token_format"),
        id_token_signed_response_alg: form.optional("id_token_signed_response_alg"),
        access_token_lifetime: form.integer("access_token_lifetime")?,
        id_token_lifetime: form.integer("id_token_lifetime")?,
        refresh_token_lifetime: form.integer("refresh_token_lifetime")?,
        authorization_code_lifetime: form.integer("authorization_code_lifetime")?,
        refresh_token_retry_grace_seconds: form.integer("refresh_token_retry_grace_seconds")?,
        require_consent: Some(form.checked("require_consent")),
        always_issue_refresh_token: Some(form.checked("always_issue_refresh_token")),
        require_pushed_authorization_requests: Some(form.checked("require_pushed_authorization_requests")),
        dpop_bound_access_tokens: Some(form.checked("dpop_bound_access_tokens")),
        require_signed_request_object: Some(form.checked("require_signed_request_object")),
        backchannel_logout_uri: form.optional("backchannel_logout_uri"),
        backchannel_logout_session_required: Some(form.checked("backchannel_logout_session_required")),
        require_verified_email: Some(form.checked("require_verified_email")),
        self_registration: Some(form.checked("self_registration")),
        sign_in_policy: form.optional("sign_in_policy"),
        app_metadata: form.json("app_metadata")?,
        enabled: Some(form.checked("enabled")),
    })
}

/// The scopes and claims an application may be given, for the checkboxes.
pub(super) struct Options {
    scopes: Vec<(String, String)>,
    claims: Vec<(String, String)>,
}

pub(super) fn options(store: &Store) -> Result<Options, ConsoleError> {
    Ok(store.read_transaction(|c| {
        let scopes = scopes::list_scopes(c, None)?
            .into_iter()
            .map(|s| {
                let kind = match s.kind {
                    ScopeKind::Identity => "identity",
                    ScopeKind::Api => "API",
                };
                let label = format!("{} ({kind})", s.name);
                (s.name, label)
            })
            .collect();
        // `sub` and `updated_at` are Tessera's own: nobody can be asked for them.
        let claims = scopes::list_claim_types(c)?
            .into_iter()
            .filter(|t| !matches!(t.name.as_str(), "sub" | "updated_at"))
            .map(|t| {
                let label = format!("{} ({})", t.name, t.display_name);
                (t.name, label)
            })
            .collect();
        Ok(Options { scopes, claims })
    })?)
}

fn choices<'a>(all: impl IntoIterator<Item = (&'a str, &'a str)>, selected: &[String]) -> Vec<Choice> {
    all.into_iter().map(|(value, label)| Choice::new(value, label, selected.iter().any(|s| s == value))).collect()
}

fn select(name: &str, label: &str, values: &[&str], current: &str) -> Field {
    Field::select(name, label, values.iter().map(|v| Choice::new(*v, *v, *v == current)).collect())
}

pub(super) fn fields(v: &Values, options: &Options) -> Vec<Field> {
    let grants: Vec<&str> = GrantType::ALL.iter().map(|g| g.as_str()).collect();
    vec![
        Field::text("name", "Name", &v.name).required().help("Shown to users on the sign-in and consent pages."),
        Field::textarea("description", "Description", &v.description),
        select("app_type", "Type", &ApplicationType::ALL.iter().map(|t| t.as_str()).collect::<Vec<_>>(), &v.app_type)
            .help("web: a server-side app with a secret; spa and native: public clients using PKCE; machine: client_credentials only."),
        Field::checkbox("enabled", "Enabled", v.enabled),
        Field::textarea("redirect_uris", "Redirect URIs", &v.redirect_uris)
            .help("One per line, matched exactly: https, or http to a loopback address."),
        Field::textarea("post_logout_redirect_uris", "Post-logout redirect URIs", &v.post_logout_redirect_uris)
            .help("One per line."),
        Field::text("backchannel_logout_uri", "Back-channel logout URI", &v.backchannel_logout_uri)
            .help("Where Tessera POSTs a logout token when a session that signed in to this application ends (OpenID Connect Back-Channel Logout): https, or http to a loopback address; empty for none."),
        Field::checkbox(
            "backchannel_logout_session_required",
            "Back-channel logout needs the session id (sid)",
            v.backchannel_logout_session_required,
        )
        .help("Tessera always sends sid; this records that the application relies on it."),
        Field::checkboxes("grant_types", "Grant types", choices(grants.iter().map(|g| (*g, *g)), &v.grant_types)),
        select(
            "token_endpoint_auth_method",
            "Client authentication",
            &ClientAuthMethod::ALL.iter().map(|m| m.as_str()).collect::<Vec<_>>(),
            &v.token_endpoint_auth_method,
        )
        .help("none for spa and native applications."),
        Field::json("jwks", "Public keys (JWK Set)", &v.jwks).help("For private_key_jwt and signed request objects: public keys, no private parts."),
        Field::text("jwks_uri", "Public keys URL (jwks_uri)", &v.jwks_uri)
            .help("Instead of Public keys: where the application publishes its JWK Set (https). Tessera fetches it, keeps it for its Cache-Control max-age (1 minute to 1 hour), and fetches it again when a signature names an unknown key."),
        Field::textarea("request_uris", "Request object URLs (request_uris)", &v.request_uris)
            .help("One per line, https: the only request_uri values Tessera fetches a signed request object from for this application (RFC 9101), matched exactly."),
        Field::checkboxes(
            "allowed_scopes",
            "Allowed scopes",
            choices(options.scopes.iter().map(|(n, l)| (n.as_str(), l.as_str())), &v.allowed_scopes),
        )
        .help("Identity scopes carry claims; API scopes come from API connections."),
        Field::checkboxes(
            "required_claims",
            "Required claims",
            choices(options.claims.iter().map(|(n, l)| (n.as_str(), l.as_str())), &v.required_claims),
        )
        .help("Users without a value are asked for it at sign-in and registration, before any code is issued."),
        select(
            "access_token_format",
            "Access token format",
            &TokenFormat::ALL.iter().map(|f| f.as_str()).collect::<Vec<_>>(),
            &v.access_token_format,
        )
        .help("jwt: self-contained (RFC 9068); reference: opaque, checked by introspection, revocable at once."),
        select(
            "id_token_signed_response_alg",
            "ID token signing algorithm",
            &SigningAlgorithm::ALL.iter().map(|a| a.as_str()).collect::<Vec<_>>(),
            &v.id_token_signed_response_alg,
        ),
        Field::number("access_token_lifetime", "Access token lifetime (seconds)", &v.access_token_lifetime),
        Field::number("id_token_lifetime", "ID token lifetime (seconds)", &v.id_token_lifetime),
        Field::number("refresh_token_lifetime", "Refresh token lifetime (seconds)", &v.refresh_token_lifetime),
        Field::number(
            "authorization_code_lifetime",
            "Authorization code lifetime (seconds)",
            &v.authorization_code_lifetime,
        ),
        Field::number(
            "refresh_token_retry_grace_seconds",
            "Refresh token retry grace (seconds)",
            &v.refresh_token_retry_grace_seconds,
        )
        .help("0 to 60; 0 turns it off. A client whose refresh answer was lost may retry with the same refresh token this long after it was used, instead of having its grant revoked."),
        Field::checkbox("require_consent", "Ask users for consent", v.require_consent),
        Field::checkbox(
            "always_issue_refresh_token",
            "Issue a refresh token without offline_access",
            v.always_issue_refresh_token,
        ),
        Field::checkbox(
            "require_pushed_authorization_requests",
            "Require pushed authorization requests (PAR)",
            v.require_pushed_authorization_requests,
        )
        .help("Sign-in requests must first be pushed to /connect/par (RFC 9126); plain ones are refused."),
        Field::checkbox("dpop_bound_access_tokens", "Require DPoP-bound tokens", v.dpop_bound_access_tokens)
            .help("Token requests without a DPoP proof (RFC 9449) are refused: every token is bound to the client's key."),
        Field::checkbox(
            "require_signed_request_object",
            "Require signed request objects (JAR)",
            v.require_signed_request_object,
        )
        .help("Sign-in requests (and pushed ones) must carry a request object signed with one of the keys in Public keys (RFC 9101); others are refused."),
        Field::checkbox("require_verified_email", "Require a verified email address", v.require_verified_email)
            .help("Users must open the link mailed to them before this application gets a code."),
        Field::checkbox("self_registration", "Offer self-registration", v.self_registration)
            .help("The sign-in page offers \"Create an account\" (when the server's registration_enabled allows it)."),
        Field::select(
            "sign_in_policy",
            "Sign-in policy",
            std::iter::once(Choice::new("", "The server's", v.sign_in_policy.is_empty()))
                .chain(tessera_domain::SignInPolicy::ALL.iter().map(|p| {
                    let label = match p {
                        tessera_domain::SignInPolicy::Password => "Password",
                        tessera_domain::SignInPolicy::SecondFactor => "Second factor required",
                        tessera_domain::SignInPolicy::Passkey => "Passkey required",
                    };
                    Choice::new(p.as_str(), label, v.sign_in_policy == p.as_str())
                }))
                .collect(),
        )
        .help("How strongly users must sign in to this application; the stricter of this and the server's sign_in_policy applies."),
        Field::json("app_metadata", "Application metadata (JSON object)", &v.app_metadata),
    ]
}
