//! One settings model for applications: [`ApplicationInput`] is what an administrator
//! gives (through the management API, the console or the CLI, each a thin adapter that
//! fills it), [`ApplicationInput::into_settings`] is the one parser, and
//! [`ApplicationSettings`] is what it yields: every setting valid, consistent, and with
//! its default where none was given. The store writes only `ApplicationSettings`.
//!
//! Adding a setting: a field here (input and settings), its line in the parser, the
//! migration and the store row, and one line in each adapter.

use serde::Deserialize;
use serde_json::{Map, Value};
use thiserror::Error;

use super::{ApplicationType, ClientAuthMethod, Consistency, GrantType, SigningAlgorithm, TokenFormat, check_jwks};
use crate::assurance::SignInPolicy;
use crate::claims::ClaimName;
use crate::lifetime::TokenLifetimes;
use crate::names::{DisplayName, ScopeName};
use crate::redirect::{BackchannelLogoutUri, ClientUrl, PostLogoutRedirectUri, RedirectUri};

/// A setting that cannot be accepted. `field` is the setting's name as the management API
/// spells it, with the index for a list item (`redirect_uris[1]`); each adapter shows the
/// message beside its own spelling of that field (a form input, a CLI flag).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{field}: {message}")]
pub struct SettingsError {
    /// The setting, as the management API names it.
    pub field: String,
    /// What is wrong with it, for a human.
    pub message: String,
}

impl SettingsError {
    /// An error about `field`.
    pub fn new(field: impl Into<String>, message: impl ToString) -> Self {
        SettingsError { field: field.into(), message: message.to_string() }
    }

    /// The setting without a list index: `redirect_uris` for `redirect_uris[1]`.
    pub fn setting(&self) -> &str {
        self.field.split('[').next().unwrap_or(&self.field)
    }
}

/// Every setting of an application as given. A setting left out takes its default
/// (documented on each field); replacing an application gives every setting again.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ApplicationInput {
    /// Shown to users on the sign-in and consent pages (1 to 200 characters).
    pub name: String,
    /// `web`, `spa`, `native` or `machine`.
    #[cfg_attr(feature = "openapi", schema(example = "web"))]
    pub app_type: String,
    /// Free text for administrators (at most 1000 characters).
    pub description: Option<String>,
    /// Matched exactly at authorize: https, or http to a loopback address.
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// Where the application may ask to be sent after logout (same rules).
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// `authorization_code`, `refresh_token`, `client_credentials`, `password`. Default:
    /// authorization_code and refresh_token; client_credentials for machine applications.
    pub grant_types: Option<Vec<String>>,
    /// `client_secret_basic`, `client_secret_post`, `private_key_jwt` or `none`. Default:
    /// client_secret_basic for web and machine, none for spa and native.
    pub token_endpoint_auth_method: Option<String>,
    /// The application's public keys (a JWK Set) for `private_key_jwt` and to verify its
    /// signed request objects (RFC 9101); only public keys are accepted. On replace,
    /// leaving it out keeps the registered keys of an application that uses
    /// `private_key_jwt` or requires signed request objects.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub jwks: Option<Value>,
    /// RFC 7591 §2: where the application publishes its public keys instead (never with
    /// `jwks`): an https URL Tessera fetches through its outbound guard, caches within
    /// bounds, and fetches again when a signature names a key it does not hold.
    pub jwks_uri: Option<String>,
    /// OIDC Dynamic Client Registration 1.0 §2 `request_uris`: the https URLs of request
    /// objects (RFC 9101 §5.2) Tessera may fetch for this application, matched exactly;
    /// any other `request_uri` but the pushed ones is refused. At most 20.
    #[serde(default)]
    pub request_uris: Vec<String>,
    /// Identity and API scopes the application may request. Default: `openid` (none for
    /// machine applications).
    pub allowed_scopes: Option<Vec<String>>,
    /// Claims users must fill before a code is issued.
    #[serde(default)]
    pub required_claims: Vec<String>,
    /// `jwt` (default) or `reference`.
    pub access_token_format: Option<String>,
    /// `ES256` (default), `RS256` or `EdDSA`.
    pub id_token_signed_response_alg: Option<String>,
    /// Seconds (60 to 86400). Default: 3600.
    pub access_token_lifetime: Option<i64>,
    /// Seconds (60 to 86400). Default: 3600.
    pub id_token_lifetime: Option<i64>,
    /// Seconds (300 to 31536000, at least the access token's). Default: 2592000.
    pub refresh_token_lifetime: Option<i64>,
    /// Seconds (10 to 600). Default: 60.
    pub authorization_code_lifetime: Option<i64>,
    /// Seconds (0 to 60; 0 turns it off) after a refresh token was rotated during which
    /// the client may present it once more, as a retry of a rotation whose answer was
    /// lost, while its successor is unused: the successor is spent and a new one issued
    /// instead of revoking the grant. Default: 10.
    pub refresh_token_retry_grace_seconds: Option<i64>,
    /// Ask users to consent (default true).
    pub require_consent: Option<bool>,
    /// Issue a refresh token even without `offline_access` (default false; needs the
    /// refresh_token grant).
    pub always_issue_refresh_token: Option<bool>,
    /// Accept authorization requests only when pushed first (RFC 9126 §6: a plain
    /// request to authorize is refused). Default false.
    pub require_pushed_authorization_requests: Option<bool>,
    /// RFC 9449 §5.2: every token request of this application must carry a DPoP proof
    /// (its tokens are always sender-constrained). Default false.
    pub dpop_bound_access_tokens: Option<bool>,
    /// Accept authorization requests (and pushed ones) only with a request object signed
    /// with one of the application's keys (RFC 9101 §10.5; needs `jwks`). Default false.
    pub require_signed_request_object: Option<bool>,
    /// OIDC Back-Channel Logout 1.0 §2.2: where Tessera POSTs a logout token when a
    /// session the application signed in to ends (absolute, https except loopback, no
    /// fragment). Default: none (no logout tokens).
    pub backchannel_logout_uri: Option<String>,
    /// OIDC Back-Channel Logout 1.0 §2.2: whether the application needs `sid` in its logout
    /// tokens (Tessera always sends it). Default false.
    pub backchannel_logout_session_required: Option<bool>,
    /// A signed-in user must have a verified email address before this application gets
    /// a code (docs/accounts.md). Default false.
    pub require_verified_email: Option<bool>,
    /// Whether this application's sign-in page offers registration (when the server's
    /// `registration_enabled` allows it). Default true.
    pub self_registration: Option<bool>,
    /// How strongly users must sign in to this application: `password`, `second_factor`
    /// or `passkey`; the stricter of this and the server's `sign_in_policy` applies
    /// (docs/authentication.md, "Sign-in policy"). Default: null, the server's.
    #[cfg_attr(feature = "openapi", schema(example = "second_factor"))]
    pub sign_in_policy: Option<String>,
    /// A JSON object of your own data.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub app_metadata: Option<Value>,
    /// Default true.
    pub enabled: Option<bool>,
}

/// Every setting of an application, valid and consistent: only
/// [`ApplicationInput::into_settings`] and the store (reading rows it wrote) build one.
#[derive(Debug, Clone, PartialEq)]
pub struct ApplicationSettings {
    pub name: String,
    pub description: String,
    pub app_type: ApplicationType,
    pub token_endpoint_auth_method: ClientAuthMethod,
    pub grant_types: Vec<GrantType>,
    pub access_token_format: TokenFormat,
    pub id_token_signed_response_alg: SigningAlgorithm,
    pub lifetimes: TokenLifetimes,
    pub require_consent: bool,
    pub always_issue_refresh_token: bool,
    /// RFC 9126 §6: authorize accepts this client's requests only through `request_uri`.
    pub require_pushed_authorization_requests: bool,
    /// RFC 9449 §5.2: the token endpoint refuses this client's requests without a DPoP proof.
    pub dpop_bound_access_tokens: bool,
    /// RFC 9101 §10.5: authorize and PAR accept this client's requests only as signed
    /// request objects.
    pub require_signed_request_object: bool,
    /// OIDC Back-Channel Logout 1.0 §2.2: where logout tokens go, if anywhere.
    pub backchannel_logout_uri: Option<String>,
    /// OIDC Back-Channel Logout 1.0 §2.2: the application needs `sid` in logout tokens.
    pub backchannel_logout_session_required: bool,
    /// docs/accounts.md: no code until the user's email address is verified.
    pub require_verified_email: bool,
    /// docs/accounts.md: the sign-in page offers registration (if the server allows it).
    pub self_registration: bool,
    /// docs/authentication.md: this application's sign-in policy; `None` leaves it to the
    /// server's (the stricter of the two applies, [`SignInPolicy::stricter`]).
    pub sign_in_policy: Option<SignInPolicy>,
    pub jwks: Option<Value>,
    /// RFC 7591 §2: where the keys are published instead of `jwks`.
    pub jwks_uri: Option<String>,
    /// RFC 9101 §5.2: the request object URLs Tessera may fetch for this application.
    pub request_uris: Vec<String>,
    pub app_metadata: Value,
    pub enabled: bool,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    /// Allowed identity and API scopes, by name; the store checks that each exists.
    pub allowed_scopes: Vec<String>,
    /// Claims a user must have a value for before a code is issued; the store checks
    /// that each claim type exists.
    pub required_claims: Vec<String>,
}

impl ApplicationSettings {
    /// Whether the application authenticates with a client secret (and so gets one).
    pub fn uses_client_secret(&self) -> bool {
        matches!(
            self.token_endpoint_auth_method,
            ClientAuthMethod::ClientSecretBasic | ClientAuthMethod::ClientSecretPost
        )
    }
}

/// The most `request_uris` an application may register.
pub const MAX_REQUEST_URIS: usize = 20;

/// Longest description of anything an administrator manages, in characters.
pub const MAX_DESCRIPTION_LEN: usize = 1000;

/// A description for administrators (of an application, a connection, a scope …): trimmed,
/// at most [`MAX_DESCRIPTION_LEN`] characters, empty when not given.
pub fn check_description(field: &str, raw: Option<&str>) -> Result<String, SettingsError> {
    let text = raw.unwrap_or_default().trim().to_owned();
    if text.chars().count() > MAX_DESCRIPTION_LEN {
        return Err(SettingsError::new(field, format!("{field} must have at most {MAX_DESCRIPTION_LEN} characters")));
    }
    Ok(text)
}

/// Each item of a list setting parsed by `parse`; an error names the item's index.
fn each<T, E: ToString>(
    field: &str,
    raw: &[String],
    parse: impl Fn(&str) -> Result<T, E>,
) -> Result<Vec<T>, SettingsError> {
    raw.iter()
        .enumerate()
        .map(|(i, item)| parse(item).map_err(|e| SettingsError::new(format!("{field}[{i}]"), e)))
        .collect()
}

/// An optional enum setting: its parsed value, or `default` when not given.
fn or_default<T>(
    field: &str,
    raw: Option<&str>,
    parse: impl Fn(&str) -> Result<T, super::ParseEnumError>,
    default: T,
) -> Result<T, SettingsError> {
    raw.map_or(Ok(default), |raw| parse(raw).map_err(|e| SettingsError::new(field, e)))
}

impl ApplicationInput {
    /// Checks every setting with the domain rules and fills the defaults; the first
    /// problem names its field. The order: name, description, type, redirect URIs (per
    /// type: RFC 8252, RFC 9700 §2.1), grant types, authentication method, scopes and
    /// required claims (names only; the store checks they exist), JWKS, the consistency of
    /// all of these ([`ApplicationSettingsError`]), token format, signing algorithm,
    /// lifetimes, metadata.
    ///
    /// `existing_jwks` is the JWKS registered before a replacement: a `private_key_jwt`
    /// application that leaves `jwks` out keeps its keys.
    pub fn into_settings(self, existing_jwks: Option<Value>) -> Result<ApplicationSettings, SettingsError> {
        let name = DisplayName::parse(&self.name).map_err(|e| SettingsError::new("name", e))?;
        let description = check_description("description", self.description.as_deref())?;
        let app_type = ApplicationType::parse(&self.app_type).map_err(|e| SettingsError::new("app_type", e))?;
        let redirect_uris = each("redirect_uris", &self.redirect_uris, |raw| {
            RedirectUri::parse(raw, app_type).map(|u| u.as_str().to_owned())
        })?;
        let post_logout_redirect_uris = each("post_logout_redirect_uris", &self.post_logout_redirect_uris, |raw| {
            PostLogoutRedirectUri::parse(raw, app_type).map(|u| u.as_str().to_owned())
        })?;
        let grant_types = match &self.grant_types {
            Some(raw) => {
                let mut grant_types: Vec<GrantType> = Vec::new();
                for grant in each("grant_types", raw, GrantType::parse)? {
                    if !grant_types.contains(&grant) {
                        grant_types.push(grant);
                    }
                }
                grant_types
            }
            None => app_type.default_grant_types(),
        };
        let auth_method = or_default(
            "token_endpoint_auth_method",
            self.token_endpoint_auth_method.as_deref(),
            ClientAuthMethod::parse,
            app_type.default_auth_method(),
        )?;
        let allowed_scopes = match &self.allowed_scopes {
            Some(raw) => each("allowed_scopes", raw, |s| ScopeName::parse(s).map(ScopeName::into_string))?,
            None => app_type.default_allowed_scopes(),
        };
        let required_claims =
            each("required_claims", &self.required_claims, |c| ClaimName::parse(c).map(|c| c.as_str().to_owned()))?;
        let require_signed_request_object = self.require_signed_request_object.unwrap_or(false);
        let jwks_uri = self
            .jwks_uri
            .as_deref()
            .filter(|raw| !raw.trim().is_empty())
            .map(|raw| ClientUrl::parse(raw, "jwks_uri").map(|u| u.as_str().to_owned()))
            .transpose()
            .map_err(|e| SettingsError::new("jwks_uri", e))?;
        let jwks = match self.jwks {
            Some(_) if jwks_uri.is_some() => {
                return Err(SettingsError::new("jwks_uri", "give jwks or jwks_uri, not both (RFC 7591 §2)"));
            }
            Some(jwks) => {
                check_jwks(&jwks).map_err(|e| SettingsError::new("jwks", e))?;
                Some(jwks)
            }
            // A replacement that does not mention the keys keeps the registered ones.
            None if jwks_uri.is_some() => None,
            None => existing_jwks
                .filter(|_| auth_method == ClientAuthMethod::PrivateKeyJwt || require_signed_request_object),
        };
        if self.request_uris.len() > MAX_REQUEST_URIS {
            return Err(SettingsError::new("request_uris", format!("at most {MAX_REQUEST_URIS} request_uris")));
        }
        let mut request_uris: Vec<String> = Vec::new();
        for uri in each("request_uris", &self.request_uris, |raw| ClientUrl::parse(raw, "request_uri"))? {
            if !request_uris.iter().any(|u| u == uri.as_str()) {
                request_uris.push(uri.as_str().to_owned());
            }
        }
        let backchannel_logout_uri = self
            .backchannel_logout_uri
            .as_deref()
            .map(|raw| BackchannelLogoutUri::parse(raw).map(|u| u.as_str().to_owned()))
            .transpose()
            .map_err(|e| SettingsError::new("backchannel_logout_uri", e))?;
        let always_issue_refresh_token = self.always_issue_refresh_token.unwrap_or(false);
        Consistency {
            app_type,
            auth_method,
            grant_types: &grant_types,
            redirect_uri_count: redirect_uris.len(),
            post_logout_redirect_uri_count: post_logout_redirect_uris.len(),
            required_claim_count: required_claims.len(),
            always_issue_refresh_token,
            has_jwks: jwks.is_some() || jwks_uri.is_some(),
            require_signed_request_object,
        }
        .validate()
        .map_err(|e| SettingsError::new(e.field(), e))?;
        let access_token_format = or_default(
            "access_token_format",
            self.access_token_format.as_deref(),
            TokenFormat::parse,
            TokenFormat::Jwt,
        )?;
        let id_token_signed_response_alg = or_default(
            "id_token_signed_response_alg",
            self.id_token_signed_response_alg.as_deref(),
            SigningAlgorithm::parse,
            SigningAlgorithm::default(),
        )?;
        let defaults = TokenLifetimes::default();
        let lifetimes = TokenLifetimes {
            access_token: self.access_token_lifetime.unwrap_or(defaults.access_token),
            id_token: self.id_token_lifetime.unwrap_or(defaults.id_token),
            refresh_token: self.refresh_token_lifetime.unwrap_or(defaults.refresh_token),
            authorization_code: self.authorization_code_lifetime.unwrap_or(defaults.authorization_code),
            refresh_token_retry_grace: self
                .refresh_token_retry_grace_seconds
                .unwrap_or(defaults.refresh_token_retry_grace),
        };
        lifetimes.validate().map_err(|e| SettingsError::new(e.setting(), e))?;
        let sign_in_policy = self
            .sign_in_policy
            .as_deref()
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| p.parse::<SignInPolicy>().map_err(|e| SettingsError::new("sign_in_policy", e)))
            .transpose()?;
        let app_metadata = match self.app_metadata {
            Some(value @ Value::Object(_)) => value,
            Some(_) => return Err(SettingsError::new("app_metadata", "app_metadata must be a JSON object")),
            None => Value::Object(Map::new()),
        };
        Ok(ApplicationSettings {
            name: name.into_string(),
            description,
            app_type,
            token_endpoint_auth_method: auth_method,
            grant_types,
            access_token_format,
            id_token_signed_response_alg,
            lifetimes,
            require_consent: self.require_consent.unwrap_or(true),
            always_issue_refresh_token,
            require_pushed_authorization_requests: self.require_pushed_authorization_requests.unwrap_or(false),
            dpop_bound_access_tokens: self.dpop_bound_access_tokens.unwrap_or(false),
            require_signed_request_object,
            backchannel_logout_uri,
            backchannel_logout_session_required: self.backchannel_logout_session_required.unwrap_or(false),
            require_verified_email: self.require_verified_email.unwrap_or(false),
            self_registration: self.self_registration.unwrap_or(true),
            sign_in_policy,
            jwks,
            jwks_uri,
            request_uris,
            app_metadata,
            enabled: self.enabled.unwrap_or(true),
            redirect_uris,
            post_logout_redirect_uris,
            allowed_scopes,
            required_claims,
        })
    }
}
