//! Application (OAuth client) settings: type, grant types, token format, client
//! authentication and signing algorithm, and the rules that keep them consistent.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::text::preview;

mod settings;
pub use settings::{ApplicationInput, ApplicationSettings, MAX_DESCRIPTION_LEN, SettingsError, check_description};

/// A string that is not one of an enum's values; names the setting and the value.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{value:?} is not a valid {field}; expected one of: {expected}")]
pub struct ParseEnumError {
    /// The setting (`application_type`, `grant_type`, …).
    pub field: &'static str,
    /// The offending text (shortened).
    pub value: String,
    /// The accepted values, comma-separated.
    pub expected: &'static str,
}

macro_rules! string_enum {
    (
        $(#[$doc:meta])*
        $name:ident, field = $field:literal, expected = $expected:literal {
            $( $(#[$vdoc:meta])* $variant:ident => $text:literal ),+ $(,)?
        }
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name {
            $( $(#[$vdoc])* #[serde(rename = $text)] $variant ),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$( $name::$variant ),+];

            /// The protocol / storage string.
            pub fn as_str(&self) -> &'static str {
                match self {
                    $( Self::$variant => $text ),+
                }
            }

            /// Parses the protocol / storage string (exact, case-sensitive).
            pub fn parse(raw: &str) -> Result<Self, ParseEnumError> {
                match raw {
                    $( $text => Ok(Self::$variant), )+
                    _ => Err(ParseEnumError {
                        field: $field,
                        value: preview(raw),
                        expected: $expected,
                    }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = ParseEnumError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }
    };
}

string_enum!(
    /// The kind of application, which decides whether it is a confidential or a public
    /// client (RFC 6749 §2.1).
    ApplicationType, field = "application_type", expected = "web, spa, native, machine" {
        /// A server-side web application: confidential.
        Web => "web",
        /// A single-page application in the browser: public.
        Spa => "spa",
        /// A native (mobile or desktop) application: public (RFC 8252).
        Native => "native",
        /// A backend service calling APIs with its own credentials: confidential.
        Machine => "machine",
    }
);

impl ApplicationType {
    /// RFC 6749 §2.1: SPA and native apps cannot keep a secret; they authenticate with
    /// `none` and must use PKCE (RFC 9700 §2.1.1, docs/security.md "PKCE").
    pub fn is_public(&self) -> bool {
        matches!(self, Self::Spa | Self::Native)
    }

    /// Whether PKCE is mandatory (public clients).
    pub fn requires_pkce(&self) -> bool {
        self.is_public()
    }
}

string_enum!(
    /// RFC 6749 grant types Tessera supports.
    GrantType, field = "grant_type",
    expected = "authorization_code, refresh_token, client_credentials, password, \
                urn:ietf:params:oauth:grant-type:device_code, \
                urn:ietf:params:oauth:grant-type:token-exchange" {
        /// RFC 6749 §4.1.
        AuthorizationCode => "authorization_code",
        /// RFC 6749 §6.
        RefreshToken => "refresh_token",
        /// RFC 6749 §4.4.
        ClientCredentials => "client_credentials",
        /// RFC 6749 §4.3, legacy: off unless the application enables it.
        Password => "password",
        /// RFC 8628 §3.4: the device authorization grant, for devices without a browser
        /// or with limited input (off unless the application enables it).
        DeviceCode => "urn:ietf:params:oauth:grant-type:device_code",
        /// RFC 8693: token exchange, for confidential clients (web and machine
        /// applications) through which an API calls another; what each may exchange is
        /// the target API connection's policy (off unless the application enables it).
        TokenExchange => "urn:ietf:params:oauth:grant-type:token-exchange",
    }
);

string_enum!(
    /// The access token format, chosen per application (default `jwt`).
    #[derive(Default)]
    TokenFormat, field = "token_format", expected = "jwt, reference" {
        /// RFC 9068 JWT access token.
        #[default]
        Jwt => "jwt",
        /// Opaque reference token, validated by introspection (RFC 7662).
        Reference => "reference",
    }
);

string_enum!(
    /// RFC 7591 §2 `token_endpoint_auth_method`.
    ClientAuthMethod, field = "token_endpoint_auth_method",
    expected = "client_secret_basic, client_secret_post, private_key_jwt, none" {
        /// RFC 6749 §2.3.1, HTTP Basic.
        ClientSecretBasic => "client_secret_basic",
        /// RFC 6749 §2.3.1, secret in the form body.
        ClientSecretPost => "client_secret_post",
        /// OIDC Core §9 / RFC 7523: a JWT signed with the client's key.
        PrivateKeyJwt => "private_key_jwt",
        /// Public client: no authentication.
        None => "none",
    }
);

string_enum!(
    /// JWS algorithm (RFC 7518 §3.1, RFC 8037) for tokens signed by Tessera (default ES256).
    #[derive(Default)]
    SigningAlgorithm, field = "signing_algorithm", expected = "ES256, RS256, EdDSA" {
        /// ECDSA P-256 SHA-256: the default.
        #[default]
        ES256 => "ES256",
        /// RSASSA-PKCS1-v1_5 SHA-256: for relying parties that need it; slow to sign.
        RS256 => "RS256",
        /// Ed25519.
        EdDSA => "EdDSA",
    }
);

/// An inconsistency between application settings; [`Self::field`] names the setting to
/// show it beside.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ApplicationSettingsError {
    /// RFC 6749 §2.1: a public client has no secret.
    #[error(
        "{app_type} applications are public clients and must use the \"none\" authentication method, not {auth_method}"
    )]
    PublicClientMustUseNone {
        /// The application type.
        app_type: ApplicationType,
        /// The method chosen.
        auth_method: ClientAuthMethod,
    },
    /// Web and machine applications are confidential and must authenticate.
    #[error(
        "{app_type} applications are confidential clients and must authenticate: choose client_secret_basic, client_secret_post or private_key_jwt"
    )]
    ConfidentialClientNeedsAuthentication {
        /// The application type.
        app_type: ApplicationType,
    },
    /// No grant type at all.
    #[error("choose at least one grant type")]
    NoGrantType,
    /// A grant type the application type cannot use.
    #[error("{app_type} applications cannot use the {grant_type} grant")]
    GrantNotAllowed {
        /// The application type.
        app_type: ApplicationType,
        /// The refused grant type.
        grant_type: GrantType,
    },
    /// A grant type the application type needs.
    #[error("{app_type} applications need the {grant_type} grant")]
    GrantRequired {
        /// The application type.
        app_type: ApplicationType,
        /// The missing grant type.
        grant_type: GrantType,
    },
    /// Refresh tokens are issued only by grants that involve a user.
    #[error(
        "the refresh_token grant needs authorization_code, password or the device grant: refresh tokens are only \
         issued to users' sessions"
    )]
    RefreshWithoutUserGrant,
    /// OIDC Core §3.1.2.1: the code flow redirects to a registered URI.
    #[error("the authorization_code grant needs at least one redirect URI")]
    MissingRedirectUri,
    /// Machine applications use client credentials and never redirect a browser.
    #[error("machine applications use client_credentials and never redirect a browser")]
    MachineRedirects {
        /// Whether the offending URIs are post-logout ones.
        post_logout: bool,
    },
    /// Machine applications act for no user.
    #[error("machine applications act for no user, so no claim can be required")]
    MachineRequiredClaims,
    /// Always issuing refresh tokens needs the grant that redeems them.
    #[error("always issuing refresh tokens needs the refresh_token grant")]
    AlwaysRefreshWithoutRefreshGrant,
    /// RFC 7523: `private_key_jwt` verifies the client's signature with its public keys.
    #[error("private_key_jwt needs the application's public keys (jwks or jwks_uri)")]
    JwksRequired,
    /// A JWKS is only used by `private_key_jwt` and to verify request objects (RFC 9101),
    /// which only the code flow sends.
    #[error(
        "a JWKS is only used with the private_key_jwt authentication method or to verify signed request objects \
         (which needs the authorization_code grant)"
    )]
    JwksWithoutPrivateKeyJwt,
    /// RFC 9101 §10.5: requiring signed request objects needs the keys that verify them.
    #[error("require_signed_request_object needs the application's public keys (jwks or jwks_uri) to verify them")]
    SignedRequestObjectWithoutJwks,
}

impl ApplicationSettingsError {
    /// The setting to show the message beside.
    pub fn field(&self) -> &'static str {
        match self {
            Self::PublicClientMustUseNone { .. } | Self::ConfidentialClientNeedsAuthentication { .. } => {
                "token_endpoint_auth_method"
            }
            Self::NoGrantType
            | Self::GrantNotAllowed { .. }
            | Self::GrantRequired { .. }
            | Self::RefreshWithoutUserGrant => "grant_types",
            Self::MissingRedirectUri | Self::MachineRedirects { post_logout: false } => "redirect_uris",
            Self::MachineRedirects { post_logout: true } => "post_logout_redirect_uris",
            Self::MachineRequiredClaims => "required_claims",
            Self::AlwaysRefreshWithoutRefreshGrant => "always_issue_refresh_token",
            Self::JwksRequired | Self::JwksWithoutPrivateKeyJwt | Self::SignedRequestObjectWithoutJwks => "jwks",
        }
    }
}

/// The settings whose combination must be consistent (checked by
/// [`ApplicationInput::into_settings`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Consistency<'a> {
    /// The application type.
    pub app_type: ApplicationType,
    /// How it authenticates at the token endpoint.
    pub auth_method: ClientAuthMethod,
    /// The grant types it may use (duplicates are harmless).
    pub grant_types: &'a [GrantType],
    /// How many redirect URIs are registered (each already a valid `RedirectUri`).
    pub redirect_uri_count: usize,
    /// How many post-logout redirect URIs are registered.
    pub post_logout_redirect_uri_count: usize,
    /// How many claims the application requires.
    pub required_claim_count: usize,
    /// Whether a refresh token is issued even without `offline_access`.
    pub always_issue_refresh_token: bool,
    /// Whether a JWKS (for `private_key_jwt` or request objects) is registered.
    pub has_jwks: bool,
    /// Whether every authorization request must carry a signed request object.
    pub require_signed_request_object: bool,
}

impl Consistency<'_> {
    /// Returns the first inconsistency, checked in this order:
    /// 1. public clients (SPA, native) use `none`; web and machine apps do not;
    /// 2. at least one grant type;
    /// 3. machine apps: `client_credentials` (and token exchange); SPA and native: `authorization_code`
    ///    required (a native app may have the device grant instead), `client_credentials`
    ///    and `password` refused (public clients cannot authenticate); `password` only
    ///    for web apps (RFC 9700 §2.4: legacy); the device grant (RFC 8628) only for
    ///    native apps (a TV or CLI app, public) and web apps (a confidential device), as
    ///    a SPA has a browser and a machine app no user; token exchange (RFC 8693)
    ///    only for confidential clients (web and machine apps, besides their own grant);
    /// 4. `refresh_token` needs a grant with a user (`authorization_code`, `password` or
    ///    the device grant);
    /// 5. `authorization_code` needs a redirect URI;
    /// 6. keys: `private_key_jwt` and `require_signed_request_object` need a JWKS, and a
    ///    JWKS is for one of them or for the code flow's request objects (RFC 9101).
    pub fn validate(&self) -> Result<(), ApplicationSettingsError> {
        use ApplicationSettingsError as E;
        let app_type = self.app_type;
        let has = |g: GrantType| self.grant_types.contains(&g);

        match (app_type.is_public(), self.auth_method) {
            (true, ClientAuthMethod::None) => {}
            (true, auth_method) => {
                return Err(E::PublicClientMustUseNone { app_type, auth_method });
            }
            (false, ClientAuthMethod::None) => {
                return Err(E::ConfidentialClientNeedsAuthentication { app_type });
            }
            (false, _) => {}
        }
        if self.grant_types.is_empty() {
            return Err(E::NoGrantType);
        }
        let refused: &[GrantType] = match app_type {
            ApplicationType::Machine => {
                &[GrantType::AuthorizationCode, GrantType::RefreshToken, GrantType::Password, GrantType::DeviceCode]
            }
            ApplicationType::Spa => {
                &[GrantType::ClientCredentials, GrantType::Password, GrantType::DeviceCode, GrantType::TokenExchange]
            }
            ApplicationType::Native => &[GrantType::ClientCredentials, GrantType::Password, GrantType::TokenExchange],
            ApplicationType::Web => &[],
        };
        if let Some(&grant_type) = self.grant_types.iter().find(|g| refused.contains(g)) {
            return Err(E::GrantNotAllowed { app_type, grant_type });
        }
        let required = match app_type {
            ApplicationType::Machine => Some(GrantType::ClientCredentials),
            ApplicationType::Spa | ApplicationType::Native => Some(GrantType::AuthorizationCode),
            ApplicationType::Web => None,
        };
        let device_only_native = app_type == ApplicationType::Native && has(GrantType::DeviceCode);
        if let Some(grant_type) = required.filter(|g| !has(*g) && !device_only_native) {
            return Err(E::GrantRequired { app_type, grant_type });
        }
        let user_grant = has(GrantType::AuthorizationCode) || has(GrantType::Password) || has(GrantType::DeviceCode);
        if has(GrantType::RefreshToken) && !user_grant {
            return Err(E::RefreshWithoutUserGrant);
        }
        if has(GrantType::AuthorizationCode) && self.redirect_uri_count == 0 {
            return Err(E::MissingRedirectUri);
        }
        if app_type == ApplicationType::Machine {
            if self.redirect_uri_count > 0 {
                return Err(E::MachineRedirects { post_logout: false });
            }
            if self.post_logout_redirect_uri_count > 0 {
                return Err(E::MachineRedirects { post_logout: true });
            }
            if self.required_claim_count > 0 {
                return Err(E::MachineRequiredClaims);
            }
        }
        if self.always_issue_refresh_token && !has(GrantType::RefreshToken) {
            return Err(E::AlwaysRefreshWithoutRefreshGrant);
        }
        if self.require_signed_request_object && !self.has_jwks {
            return Err(E::SignedRequestObjectWithoutJwks);
        }
        match (self.auth_method == ClientAuthMethod::PrivateKeyJwt, self.has_jwks) {
            (true, false) => Err(E::JwksRequired),
            (false, true) if !has(GrantType::AuthorizationCode) => Err(E::JwksWithoutPrivateKeyJwt),
            _ => Ok(()),
        }
    }
}

impl ApplicationType {
    /// The grant types an application of this type gets when none are chosen.
    pub fn default_grant_types(self) -> Vec<GrantType> {
        match self {
            ApplicationType::Machine => vec![GrantType::ClientCredentials],
            _ => vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        }
    }

    /// The client authentication method when none is chosen: `none` for public clients.
    pub fn default_auth_method(self) -> ClientAuthMethod {
        if self.is_public() { ClientAuthMethod::None } else { ClientAuthMethod::ClientSecretBasic }
    }

    /// The allowed scopes when none are chosen: `openid` for applications that sign users in.
    pub fn default_allowed_scopes(self) -> Vec<String> {
        match self {
            ApplicationType::Machine => Vec::new(),
            _ => vec![crate::scope::OPENID.to_owned()],
        }
    }
}

/// Longest client id accepted.
pub const MAX_CLIENT_ID_LEN: usize = 100;

/// RFC 6749 §2.2 lets a client id be any printable string; Tessera keeps to characters
/// that need no escaping in a URL, in HTTP Basic (no ':') or on a command line: 3 to 100
/// letters, digits, '.', '_', '-', '~', starting with a letter or a digit.
///
/// RFC 9068 §5: the `sub` of a token issued to a client for itself (client credentials)
/// is its client id, and the authorization server must keep it from colliding with a
/// user's `sub`. User ids are UUIDs, so the UUID shape is reserved for them: anything the
/// `uuid` crate parses (any version, any letter case, with or without hyphens, braced or
/// as a URN) is refused as a client id.
pub fn check_client_id(raw: &str) -> Result<(), String> {
    let len = raw.chars().count();
    if !(3..=MAX_CLIENT_ID_LEN).contains(&len) {
        return Err(format!("{:?} must have 3 to {MAX_CLIENT_ID_LEN} characters", preview(raw)));
    }
    if uuid::Uuid::try_parse(raw).is_ok() {
        return Err(format!(
            "{:?} has the shape of a UUID, which is reserved for user ids (a machine token's sub is its client_id and must never equal a user's)",
            preview(raw)
        ));
    }
    if !raw.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(format!("{:?} must start with a letter or a digit", preview(raw)));
    }
    if !raw.chars().all(|c| c.is_ascii_alphanumeric() || "._-~".contains(c)) {
        return Err(format!("{:?} may only contain letters, digits, '.', '_', '-' and '~'", preview(raw)));
    }
    Ok(())
}

/// JWK members that hold private or symmetric key material (RFC 7518 §6).
const PRIVATE_JWK_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// RFC 7517 §5: a JWK Set is an object with a non-empty `keys` array, each key an object
/// with a `kty`. Only public keys belong to a client's registration (RFC 7523 §3: the
/// server verifies the client's signature).
pub fn check_jwks(jwks: &serde_json::Value) -> Result<(), String> {
    let keys = jwks
        .as_object()
        .and_then(|o| o.get("keys"))
        .and_then(serde_json::Value::as_array)
        .ok_or("must be a JWK Set: a JSON object {\"keys\":[…]}")?;
    if keys.is_empty() {
        return Err("\"keys\" must hold at least one key".into());
    }
    for (i, key) in keys.iter().enumerate() {
        let key = key.as_object().ok_or(format!("key {i} is not a JSON object"))?;
        if !key.get("kty").is_some_and(serde_json::Value::is_string) {
            return Err(format!("key {i} has no \"kty\""));
        }
        if let Some(member) = PRIVATE_JWK_MEMBERS.iter().find(|m| key.contains_key(**m)) {
            return Err(format!("key {i} holds private key material ({member:?}); give only public keys"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
