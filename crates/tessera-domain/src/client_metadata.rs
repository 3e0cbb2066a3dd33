//! Client metadata (RFC 7591 §2, OIDC Dynamic Client Registration §2) mapped onto the
//! application settings, so that a client registering itself (RFC 7591), updating its
//! registration (RFC 7592) or publishing a Client ID Metadata Document
//! (draft-ietf-oauth-client-id-metadata-document) meets exactly the rules an
//! administrator's application meets ([`ApplicationInput::into_settings`]), plus the
//! limits of self-registered clients: the code flow only, the scopes the server opens
//! to them, consent always asked.
//!
//! What the metadata says beyond the settings (`client_uri`, `logo_uri`, `contacts`,
//! `software_id` …) is kept as [`Extras`] and given back as registered.

use serde_json::{Map, Value};

use crate::application::{ApplicationInput, ApplicationSettings, ApplicationType, ClientAuthMethod, GrantType};

/// RFC 7591 §3.2.2 error codes.
pub const INVALID_REDIRECT_URI: &str = "invalid_redirect_uri";
/// RFC 7591 §3.2.2.
pub const INVALID_CLIENT_METADATA: &str = "invalid_client_metadata";
/// RFC 7591 §3.2.2.
pub const INVALID_SOFTWARE_STATEMENT: &str = "invalid_software_statement";

/// Metadata that cannot be registered: the RFC 7591 §3.2.2 code and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {description}")]
pub struct MetadataError {
    pub code: &'static str,
    pub description: String,
}

impl MetadataError {
    fn metadata(description: impl Into<String>) -> MetadataError {
        MetadataError { code: INVALID_CLIENT_METADATA, description: description.into() }
    }

    /// `invalid_client_metadata` with `description`, for checks made outside this module.
    pub fn invalid(description: impl Into<String>) -> MetadataError {
        MetadataError::metadata(description)
    }
}

/// Where the metadata comes from, which decides what it may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// RFC 7591 registration or RFC 7592 update: any authentication method.
    Registration,
    /// A Client ID Metadata Document: no shared secret can exist, so only `none` (the
    /// default) or `private_key_jwt` with `jwks`.
    MetadataDocument,
}

/// The metadata kept beside the settings, as a JSON object.
pub type Extras = Map<String, Value>;

/// URL-valued metadata kept as given (absolute https URLs).
const URL_EXTRAS: &[&str] = &["client_uri", "logo_uri", "tos_uri", "policy_uri"];
/// Short text metadata kept as given.
const TEXT_EXTRAS: &[&str] = &["software_id", "software_version"];
/// Grant types a client may register for itself: those that act for a user who signs in
/// and consents (client credentials, password and token exchange need an administrator).
const SELF_SERVICE_GRANTS: &[GrantType] =
    &[GrantType::AuthorizationCode, GrantType::RefreshToken, GrantType::DeviceCode];
const MAX_URL_LEN: usize = 2000;
const MAX_TEXT_LEN: usize = 200;
const MAX_CONTACTS: usize = 10;
const MAX_CONTACT_LEN: usize = 254;
/// The name of a client that gives none.
pub const DEFAULT_CLIENT_NAME: &str = "Registered client";

/// Parses `document` (RFC 7591 §2 metadata) into application settings and extras.
/// `open_scopes` are the scopes the server opens to self-registered clients: a `scope`
/// asking for another is refused, and no `scope` means all of them. Unknown metadata is
/// ignored (§2: "The authorization server MUST ignore any client metadata sent by the
/// client that it does not understand"). `existing_jwks`: as for a replacement.
pub fn parse(
    document: &Value,
    source: Source,
    open_scopes: &[String],
    existing_jwks: Option<Value>,
) -> Result<(ApplicationSettings, Extras), MetadataError> {
    let doc =
        document.as_object().ok_or_else(|| MetadataError::metadata("the client metadata must be a JSON object"))?;
    if doc.contains_key("software_statement") {
        return Err(MetadataError {
            code: INVALID_SOFTWARE_STATEMENT,
            description: "software statements are not accepted by this server; send the metadata itself".into(),
        });
    }
    let application_type = match text(doc, "application_type")? {
        None | Some("web") => "web",
        Some("native") => "native",
        Some(_) => return Err(MetadataError::metadata("application_type must be web or native")),
    };
    let default_method = match source {
        Source::Registration => ClientAuthMethod::ClientSecretBasic,
        Source::MetadataDocument => ClientAuthMethod::None,
    };
    let auth_method = match text(doc, "token_endpoint_auth_method")? {
        None => default_method,
        Some(raw) => ClientAuthMethod::parse(raw).map_err(|e| MetadataError::metadata(e.to_string()))?,
    };
    if source == Source::MetadataDocument
        && !matches!(auth_method, ClientAuthMethod::None | ClientAuthMethod::PrivateKeyJwt)
    {
        return Err(MetadataError::metadata(
            "a client identified by a metadata document has no shared secret: token_endpoint_auth_method must be none \
             or private_key_jwt",
        ));
    }
    let app_type = match (application_type, auth_method) {
        ("native", ClientAuthMethod::None) => ApplicationType::Native,
        ("native", _) => {
            return Err(MetadataError::metadata(
                "native applications are public clients: token_endpoint_auth_method must be none",
            ));
        }
        (_, ClientAuthMethod::None) => ApplicationType::Spa,
        _ => ApplicationType::Web,
    };
    let grant_types = match list(doc, "grant_types")? {
        None => vec![GrantType::AuthorizationCode.as_str().to_owned()],
        Some(grants) => {
            for grant in &grants {
                let parsed = GrantType::parse(grant).map_err(|e| MetadataError::metadata(e.to_string()))?;
                if !SELF_SERVICE_GRANTS.contains(&parsed) {
                    return Err(MetadataError::metadata(format!(
                        "the {grant} grant is not available to clients that register themselves"
                    )));
                }
            }
            grants
        }
    };
    let code_grant = grant_types.iter().any(|g| g == GrantType::AuthorizationCode.as_str());
    match list(doc, "response_types")? {
        None => {}
        Some(types) if types.iter().all(|t| t == "code") && (code_grant || types.is_empty()) => {}
        Some(types) if types.iter().all(|t| t == "code") => {
            return Err(MetadataError::metadata("response_types code needs the authorization_code grant"));
        }
        Some(_) => return Err(MetadataError::metadata("only the code response type is supported")),
    }
    let scopes = match text(doc, "scope")? {
        None => open_scopes.to_vec(),
        Some(raw) => {
            let mut scopes: Vec<String> = Vec::new();
            for scope in raw.split(' ').filter(|s| !s.is_empty()) {
                if !open_scopes.iter().any(|open| open == scope) {
                    return Err(MetadataError::metadata(format!(
                        "the scope {scope:?} is not open to clients that register themselves"
                    )));
                }
                if !scopes.iter().any(|s| s == scope) {
                    scopes.push(scope.to_owned());
                }
            }
            scopes
        }
    };
    let extras = extras(doc, application_type)?;
    let input = ApplicationInput {
        name: text(doc, "client_name")?.unwrap_or(DEFAULT_CLIENT_NAME).to_owned(),
        app_type: app_type.as_str().to_owned(),
        description: Some(description(source, &extras)),
        redirect_uris: list(doc, "redirect_uris")?.unwrap_or_default(),
        post_logout_redirect_uris: list(doc, "post_logout_redirect_uris")?.unwrap_or_default(),
        grant_types: Some(grant_types),
        token_endpoint_auth_method: Some(auth_method.as_str().to_owned()),
        jwks: doc.get("jwks").cloned(),
        jwks_uri: text(doc, "jwks_uri")?.map(str::to_owned),
        request_uris: list(doc, "request_uris")?.unwrap_or_default(),
        allowed_scopes: Some(scopes),
        id_token_signed_response_alg: text(doc, "id_token_signed_response_alg")?.map(str::to_owned),
        dpop_bound_access_tokens: flag(doc, "dpop_bound_access_tokens")?,
        require_pushed_authorization_requests: flag(doc, "require_pushed_authorization_requests")?,
        backchannel_logout_uri: text(doc, "backchannel_logout_uri")?.map(str::to_owned),
        backchannel_logout_session_required: flag(doc, "backchannel_logout_session_required")?,
        // Self-registered clients are strangers to the users: consent is always asked.
        require_consent: Some(true),
        ..ApplicationInput::default()
    };
    let settings = input.into_settings(existing_jwks).map_err(|e| {
        let code = if e.setting() == "redirect_uris" { INVALID_REDIRECT_URI } else { INVALID_CLIENT_METADATA };
        let field = match e.setting() {
            "name" => "client_name",
            "app_type" => "application_type",
            "allowed_scopes" => "scope",
            other => other,
        };
        MetadataError { code, description: format!("{field}: {}", e.message) }
    })?;
    Ok((settings, extras))
}

/// The metadata as registered (RFC 7591 §3.2.1: every registered value, defaults
/// included), without `client_id` and the credentials, which the caller adds.
pub fn registered(settings: &ApplicationSettings, extras: &Extras) -> Map<String, Value> {
    let mut out = Map::new();
    let code_grant = settings.grant_types.contains(&GrantType::AuthorizationCode);
    out.insert("client_name".into(), settings.name.clone().into());
    out.insert("redirect_uris".into(), settings.redirect_uris.clone().into());
    out.insert(
        "grant_types".into(),
        settings.grant_types.iter().map(|g| Value::from(g.as_str())).collect::<Vec<_>>().into(),
    );
    out.insert("response_types".into(), if code_grant { vec!["code"] } else { Vec::new() }.into());
    out.insert("token_endpoint_auth_method".into(), settings.token_endpoint_auth_method.as_str().into());
    let application_type = if settings.app_type == ApplicationType::Native { "native" } else { "web" };
    out.insert("application_type".into(), application_type.into());
    out.insert("scope".into(), settings.allowed_scopes.join(" ").into());
    out.insert("post_logout_redirect_uris".into(), settings.post_logout_redirect_uris.clone().into());
    out.insert("id_token_signed_response_alg".into(), settings.id_token_signed_response_alg.as_str().into());
    out.insert("dpop_bound_access_tokens".into(), settings.dpop_bound_access_tokens.into());
    out.insert("require_pushed_authorization_requests".into(), settings.require_pushed_authorization_requests.into());
    if let Some(uri) = &settings.backchannel_logout_uri {
        out.insert("backchannel_logout_uri".into(), uri.clone().into());
        out.insert("backchannel_logout_session_required".into(), settings.backchannel_logout_session_required.into());
    }
    if let Some(jwks) = &settings.jwks {
        out.insert("jwks".into(), jwks.clone());
    }
    if let Some(uri) = &settings.jwks_uri {
        out.insert("jwks_uri".into(), uri.clone().into());
    }
    if !settings.request_uris.is_empty() {
        out.insert("request_uris".into(), settings.request_uris.clone().into());
    }
    for (name, value) in extras {
        if name != "application_type" {
            out.insert(name.clone(), value.clone());
        }
    }
    out
}

/// The administrators' description of a self-registered application.
fn description(source: Source, extras: &Extras) -> String {
    let how = match source {
        Source::Registration => "Registered itself (RFC 7591)",
        Source::MetadataDocument => "Client ID Metadata Document",
    };
    match extras.get("software_id").and_then(Value::as_str) {
        Some(software) => format!("{how}; software_id {software}"),
        None => how.to_owned(),
    }
}

/// The metadata kept beside the settings, each checked.
fn extras(doc: &Map<String, Value>, application_type: &str) -> Result<Extras, MetadataError> {
    let mut extras = Extras::new();
    extras.insert("application_type".into(), application_type.into());
    for &name in URL_EXTRAS {
        if let Some(raw) = text(doc, name)? {
            let valid = raw.len() <= MAX_URL_LEN
                && url::Url::parse(raw).is_ok_and(|u| u.scheme() == "https" && u.host_str().is_some());
            if !valid {
                return Err(MetadataError::metadata(format!("{name} must be an absolute https URL")));
            }
            extras.insert(name.into(), raw.into());
        }
    }
    for &name in TEXT_EXTRAS {
        if let Some(raw) = text(doc, name)? {
            if raw.is_empty() || raw.chars().count() > MAX_TEXT_LEN || raw.chars().any(char::is_control) {
                return Err(MetadataError::metadata(format!("{name} must be 1 to {MAX_TEXT_LEN} characters")));
            }
            extras.insert(name.into(), raw.into());
        }
    }
    if let Some(contacts) = list(doc, "contacts")? {
        let valid = contacts.len() <= MAX_CONTACTS
            && contacts
                .iter()
                .all(|c| !c.is_empty() && c.chars().count() <= MAX_CONTACT_LEN && !c.chars().any(char::is_control));
        if !valid {
            return Err(MetadataError::metadata(format!(
                "contacts must be at most {MAX_CONTACTS} addresses of at most {MAX_CONTACT_LEN} characters"
            )));
        }
        extras.insert("contacts".into(), contacts.into());
    }
    Ok(extras)
}

fn text<'a>(doc: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, MetadataError> {
    match doc.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(MetadataError::metadata(format!("{name} must be a string"))),
    }
}

fn flag(doc: &Map<String, Value>, name: &str) -> Result<Option<bool>, MetadataError> {
    match doc.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(MetadataError::metadata(format!("{name} must be true or false"))),
    }
}

fn list(doc: &Map<String, Value>, name: &str) -> Result<Option<Vec<String>>, MetadataError> {
    let wrong = || MetadataError::metadata(format!("{name} must be an array of strings"));
    match doc.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| item.as_str().map(str::to_owned).ok_or_else(wrong))
            .collect::<Result<_, _>>()
            .map(Some),
        Some(_) => Err(wrong()),
    }
}

#[cfg(test)]
mod tests;
