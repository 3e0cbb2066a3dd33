//! One settings model for API connections (resource servers) and their API scopes: the
//! inputs an administrator gives (through the management API, the console or the CLI, each
//! a thin adapter that fills them), one parser each, and the valid settings the store
//! writes. A connection's name is the audience of its tokens and the name of its first
//! API scope; it never changes, so an update carries every setting but the name.

use serde::Deserialize;

use crate::application::{SettingsError, TokenFormat, check_description};
use crate::assurance::{Acr, Requirement};
use crate::names::{ConnectionName, DisplayName, ScopeName};
use crate::protected_resource::ResourceUri;

/// A new API connection as given.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewConnectionInput {
    /// The audience of access tokens and the name of its API scope:
    /// `[a-z0-9][a-z0-9._:-]*`, at most 100 characters. Cannot change later.
    #[cfg_attr(feature = "openapi", schema(example = "billing-api"))]
    pub name: String,
    /// Shown on consent pages. Default: the name.
    pub display_name: Option<String>,
    /// Free text for administrators (at most 1000 characters).
    pub description: Option<String>,
    /// `jwt` or `reference`: the format of tokens whose only audience is this connection;
    /// null leaves it to each application.
    pub access_token_format: Option<String>,
    /// RFC 8707 / RFC 9728: the API's resource identifier, an absolute https URL (http
    /// only to a loopback host) without fragment or query, unique among connections.
    /// Clients may send it as `resource` instead of the name. Default: none.
    #[cfg_attr(feature = "openapi", schema(example = "https://billing.example.com"))]
    pub resource_uri: Option<String>,
    /// The authentication level every token carrying this connection's scopes (a scope's own requirement replaces it) needs: `1fa`, `2fa` or
    /// `phr` (docs/authentication.md, "Assurance per API scope"). Default: none.
    #[cfg_attr(feature = "openapi", schema(example = "phr"))]
    pub required_acr: Option<String>,
    /// How recent (seconds since the user's `auth_time`, 1 to 86400) that authentication
    /// must be; with no `required_acr`, any level (`1fa`). Default: none.
    #[cfg_attr(feature = "openapi", schema(example = 300))]
    pub required_max_age: Option<i64>,
}

/// A connection's settings as given to replace them (the name never changes).
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ConnectionUpdate {
    /// Shown on consent pages.
    pub display_name: String,
    /// Free text for administrators (at most 1000 characters).
    pub description: Option<String>,
    /// `jwt`, `reference`, or null to leave it to each application.
    pub access_token_format: Option<String>,
    /// The API's resource identifier (see create), or null for none.
    pub resource_uri: Option<String>,
    /// The authentication level every token carrying this connection's scopes (a scope's own requirement replaces it) needs: `1fa`, `2fa` or
    /// `phr` (docs/authentication.md, "Assurance per API scope"). Default: none.
    #[cfg_attr(feature = "openapi", schema(example = "phr"))]
    pub required_acr: Option<String>,
    /// How recent (seconds since the user's `auth_time`, 1 to 86400) that authentication
    /// must be; with no `required_acr`, any level (`1fa`). Default: none.
    #[cfg_attr(feature = "openapi", schema(example = 300))]
    pub required_max_age: Option<i64>,
}

/// An API scope added to a connection, as given.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ApiScopeBody {
    /// The scope's name, unique among all scopes.
    #[cfg_attr(feature = "openapi", schema(example = "billing-api:read"))]
    pub name: String,
    /// Shown on consent pages. Default: the name.
    pub display_name: Option<String>,
    /// Free text for administrators (at most 1000 characters).
    pub description: Option<String>,
    /// The authentication level every token carrying this scope (else its connection's requirement applies) needs: `1fa`, `2fa` or
    /// `phr` (docs/authentication.md, "Assurance per API scope"). Default: none.
    #[cfg_attr(feature = "openapi", schema(example = "phr"))]
    pub required_acr: Option<String>,
    /// How recent (seconds since the user's `auth_time`, 1 to 86400) that authentication
    /// must be; with no `required_acr`, any level (`1fa`). Default: none.
    #[cfg_attr(feature = "openapi", schema(example = 300))]
    pub required_max_age: Option<i64>,
}

/// An API scope's settings as given to replace them (the name never changes).
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ApiScopeUpdate {
    /// Shown on consent pages. Default: the name.
    pub display_name: Option<String>,
    /// Free text for administrators (at most 1000 characters).
    pub description: Option<String>,
    /// The authentication level every token carrying this scope (else its connection's requirement applies) needs: `1fa`, `2fa` or
    /// `phr` (docs/authentication.md, "Assurance per API scope"). Default: none.
    #[cfg_attr(feature = "openapi", schema(example = "phr"))]
    pub required_acr: Option<String>,
    /// How recent (seconds since the user's `auth_time`, 1 to 86400) that authentication
    /// must be; with no `required_acr`, any level (`1fa`). Default: none.
    #[cfg_attr(feature = "openapi", schema(example = 300))]
    pub required_max_age: Option<i64>,
}

/// A connection's settings, valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionSettings {
    pub display_name: String,
    pub description: String,
    pub access_token_format: Option<TokenFormat>,
    /// RFC 8707 / RFC 9728: the resource identifier, if any.
    pub resource_uri: Option<String>,
    /// What tokens carrying the connection's scopes need, unless a scope has its own.
    pub requirement: Option<Requirement>,
}

/// A new connection, valid: its name and its settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewApiConnection {
    pub name: String,
    pub display_name: String,
    pub description: String,
    pub access_token_format: Option<TokenFormat>,
    /// RFC 8707 / RFC 9728: the resource identifier, if any.
    pub resource_uri: Option<String>,
    /// What tokens carrying the connection's scopes need, unless a scope has its own.
    pub requirement: Option<Requirement>,
}

/// A new API scope, valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewApiScope {
    pub name: String,
    pub display_name: String,
    pub description: String,
    /// What tokens carrying the scope need; `None`: its connection's requirement.
    pub requirement: Option<Requirement>,
}

/// An API scope's settings, valid (the name never changes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiScopeSettings {
    pub display_name: String,
    pub description: String,
    /// What tokens carrying the scope need; `None`: its connection's requirement.
    pub requirement: Option<Requirement>,
}

/// The requirement an administrator gave as `required_acr` and `required_max_age`
/// ([`Requirement::new`]): none when neither is given (an empty level is none), the
/// weakest level `1fa` when only a recency is. Errors name the field.
pub fn requirement_setting(acr: Option<&str>, max_age: Option<i64>) -> Result<Option<Requirement>, SettingsError> {
    let acr = acr
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(|a| a.parse::<Acr>().map_err(|e| SettingsError::new("required_acr", e)))
        .transpose()?;
    if acr.is_none() && max_age.is_none() {
        return Ok(None);
    }
    Requirement::new(acr.unwrap_or(Acr::OneFactor), max_age)
        .map(Some)
        .map_err(|e| SettingsError::new("required_max_age", e))
}

/// A display name, or `fallback` (the thing's name) when none or only spaces are given.
fn display_name_or(raw: Option<&str>, fallback: &str) -> Result<String, SettingsError> {
    let raw = raw.filter(|d| !d.trim().is_empty()).unwrap_or(fallback);
    Ok(DisplayName::parse(raw).map_err(|e| SettingsError::new("display_name", e))?.into_string())
}

/// An optional resource URI ([`ResourceUri`]); an empty one is none.
fn resource_uri(raw: Option<&str>) -> Result<Option<String>, SettingsError> {
    raw.filter(|r| !r.trim().is_empty())
        .map(|r| ResourceUri::parse(r).map(ResourceUri::into_string).map_err(|e| SettingsError::new("resource_uri", e)))
        .transpose()
}

fn token_format(raw: Option<&str>) -> Result<Option<TokenFormat>, SettingsError> {
    raw.map(|r| TokenFormat::parse(r).map_err(|e| SettingsError::new("access_token_format", e))).transpose()
}

impl NewConnectionInput {
    /// Checks the name ([`ConnectionName`]), display name, description, token format and
    /// resource URI.
    pub fn into_new(self) -> Result<NewApiConnection, SettingsError> {
        let name = ConnectionName::parse(&self.name).map_err(|e| SettingsError::new("name", e))?;
        Ok(NewApiConnection {
            display_name: display_name_or(self.display_name.as_deref(), name.as_str())?,
            description: check_description("description", self.description.as_deref())?,
            access_token_format: token_format(self.access_token_format.as_deref())?,
            resource_uri: resource_uri(self.resource_uri.as_deref())?,
            requirement: requirement_setting(self.required_acr.as_deref(), self.required_max_age)?,
            name: name.into_string(),
        })
    }
}

impl ConnectionUpdate {
    /// Checks the display name, description, token format and resource URI.
    pub fn into_settings(self) -> Result<ConnectionSettings, SettingsError> {
        Ok(ConnectionSettings {
            display_name: DisplayName::parse(&self.display_name)
                .map_err(|e| SettingsError::new("display_name", e))?
                .into_string(),
            description: check_description("description", self.description.as_deref())?,
            access_token_format: token_format(self.access_token_format.as_deref())?,
            resource_uri: resource_uri(self.resource_uri.as_deref())?,
            requirement: requirement_setting(self.required_acr.as_deref(), self.required_max_age)?,
        })
    }
}

impl ApiScopeBody {
    /// Checks the scope name ([`ScopeName`]), display name and description.
    pub fn into_new(self) -> Result<NewApiScope, SettingsError> {
        let name = ScopeName::parse(&self.name).map_err(|e| SettingsError::new("name", e))?;
        Ok(NewApiScope {
            display_name: display_name_or(self.display_name.as_deref(), name.as_str())?,
            description: check_description("description", self.description.as_deref())?,
            requirement: requirement_setting(self.required_acr.as_deref(), self.required_max_age)?,
            name: name.into_string(),
        })
    }
}

impl ApiScopeUpdate {
    /// Checks the display name (default: `name`), description and requirement.
    pub fn into_settings(self, name: &str) -> Result<ApiScopeSettings, SettingsError> {
        Ok(ApiScopeSettings {
            display_name: display_name_or(self.display_name.as_deref(), name)?,
            description: check_description("description", self.description.as_deref())?,
            requirement: requirement_setting(self.required_acr.as_deref(), self.required_max_age)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_name_defaults_to_the_name() {
        let new =
            NewConnectionInput { name: "orders-api".into(), display_name: Some("  ".into()), ..Default::default() }
                .into_new()
                .unwrap();
        assert_eq!(new.display_name, "orders-api");
        assert_eq!(new.access_token_format, None);
    }

    #[test]
    fn each_error_names_its_field() {
        let bad_name = NewConnectionInput { name: "Orders API".into(), ..Default::default() }.into_new().unwrap_err();
        assert_eq!(bad_name.field, "name");
        let bad_format = NewConnectionInput {
            name: "orders-api".into(),
            access_token_format: Some("paseto".into()),
            ..Default::default()
        }
        .into_new()
        .unwrap_err();
        assert_eq!(bad_format.field, "access_token_format");
        let long = ConnectionUpdate {
            display_name: "Orders".into(),
            description: Some("x".repeat(1001)),
            ..Default::default()
        }
        .into_settings()
        .unwrap_err();
        assert_eq!(long.field, "description");
        let uri = NewConnectionInput {
            name: "orders-api".into(),
            resource_uri: Some("http://orders.example.com".into()),
            ..Default::default()
        }
        .into_new()
        .unwrap_err();
        assert_eq!(uri.field, "resource_uri");
        let scope = ApiScopeBody { name: "orders read".into(), ..Default::default() }.into_new().unwrap_err();
        assert_eq!(scope.field, "name");
    }

    #[test]
    fn a_requirement_is_a_level_and_an_optional_recency() {
        assert_eq!(requirement_setting(None, None), Ok(None));
        assert_eq!(requirement_setting(Some(" "), None), Ok(None));
        assert_eq!(
            requirement_setting(Some("phr"), Some(300)),
            Ok(Some(Requirement { acr: Acr::PhishingResistant, max_age: Some(300) }))
        );
        assert_eq!(
            requirement_setting(None, Some(60)),
            Ok(Some(Requirement { acr: Acr::OneFactor, max_age: Some(60) }))
        );
        assert_eq!(requirement_setting(Some("gold"), None).unwrap_err().field, "required_acr");
        assert_eq!(requirement_setting(Some("2fa"), Some(0)).unwrap_err().field, "required_max_age");
        let scope = ApiScopeBody { name: "orders:pay".into(), required_acr: Some("aal3".into()), ..Default::default() }
            .into_new()
            .unwrap_err();
        assert_eq!(scope.field, "required_acr");
    }
}
