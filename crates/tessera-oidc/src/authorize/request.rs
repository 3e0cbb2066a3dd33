//! The authorization request (RFC 6749 §4.1.1, OIDC Core §3.1.2.1) checked in the order
//! the specs reason, each check a function: the client and its redirect URI first
//! (failures there show our error page and never redirect), then everything else
//! (failures redirect to the client with `error`, `error_description`, `state`, `iss`).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tessera_domain::{
    Acr, AllowedScopes, ApplicationType, ClientId, GrantType, RedirectUri, ResolvedScopes, ScopeCatalog, ScopeSet,
    access_token_audience_and_scope, resolve_requested,
};
use tessera_store::applications::Application;

use crate::error::{Refusal, Untrusted};
use crate::form::Params;
use crate::reply::{ReplyTo, ResponseMode};

/// A checked authorization request, stored while the user signs in and consents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizationRequest {
    pub client_id: ClientId,
    pub reply: ReplyTo,
    /// The scopes granted if the user agrees (canonical, space-separated).
    pub scope: String,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub prompt: Vec<String>,
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
    /// The `sub` of a valid `id_token_hint`.
    pub hinted_sub: Option<String>,
    /// Set once the user signed in for this request (so `prompt=login` asks once).
    #[serde(default)]
    pub signed_in_at: Option<i64>,
    /// Set once the user answered the consent page for this request.
    #[serde(default)]
    pub consented: bool,
    /// RFC 8707 resource indicators: the API connections the tokens are for.
    #[serde(default)]
    pub resources: Vec<String>,
    /// RFC 8628: the hash of the device code this request approves, when it came from
    /// the device verification page: it ends by approving that device code, not with a
    /// code sent to a redirect URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// RFC 9449 §10: the thumbprint of the DPoP key the code must be redeemed with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpop_jkt: Option<String>,
    /// OIDC Core §3.1.2.1 `acr_values`: the weakest level asked that Tessera knows (any
    /// of the values is acceptable; unknown ones are ignored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr_values: Option<Acr>,
    /// OIDC Core §5.5.1.1: the level an essential `acr` of the `claims` parameter's
    /// `id_token` member asks (the weakest of its `value`/`values` Tessera knows). Not
    /// meeting it is `unmet_authentication_requirements`, never a weaker token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub essential_acr: Option<Acr>,
    /// A sign-in begun for this request and not finished (docs/authentication.md,
    /// "Signing in"): the first factor was right, a second is due on the factor page.
    /// Kept server-side with the request, which belongs to one browser session; the
    /// session itself is not signed in until the second factor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_factor: Option<FirstFactor>,
}

/// The first factor of a sign-in that needs a second: whose, what it proved (`amr`), when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FirstFactor {
    pub user_id: tessera_domain::UserId,
    pub amr: Vec<String>,
    pub at: i64,
}

impl AuthorizationRequest {
    pub fn prompts(&self, value: &str) -> bool {
        self.prompt.iter().any(|p| p == value)
    }
}

/// RFC 6749 §3.1: the request names its client. Whether that client is known and enabled
/// is looked up next, in the configuration (the caller's step).
pub fn check_client(params: &Params) -> Result<&str, Untrusted> {
    params.get("client_id").ok_or_else(|| Untrusted("The request names no application (client_id is missing).".into()))
}

/// OIDC Core §3.1.2.1: `redirect_uri` is required and must match a registered one
/// exactly (RFC 9700 §4.1.3; only a loopback IP's port may vary, RFC 8252 §7.3).
pub fn check_redirect_uri(params: &Params, app: &Application) -> Result<String, Untrusted> {
    let presented = params
        .get("redirect_uri")
        .ok_or_else(|| Untrusted("The request names no redirect URI (redirect_uri is missing).".into()))?;
    let registered = app
        .settings
        .redirect_uris
        .iter()
        .any(|uri| RedirectUri::parse(uri, app.settings.app_type).is_ok_and(|r| r.matches(presented)));
    if !registered {
        return Err(Untrusted(
            "The redirect URI in the request is not registered for this application, so Tessera will not send you there."
                .into(),
        ));
    }
    Ok(presented.to_owned())
}

/// The response mode, with `query` as the default for the code flow.
pub fn check_response_mode(params: &Params) -> Result<ResponseMode, Refusal> {
    match params.get("response_mode") {
        None | Some("query") => Ok(ResponseMode::Query),
        Some("form_post") => Ok(ResponseMode::FormPost),
        Some(_) => Err(Refusal::new("invalid_request", "response_mode must be query or form_post")),
    }
}

/// OIDC Core §6 and RFC 9101: a request object by value (`request`) or by reference (a
/// registered `request_uri`, `crate::request_uri`) is verified and replaces the
/// parameters before these checks (`crate::request_object`, by authorize and the pushed
/// authorization request endpoint), and so is a `request_uri` that Tessera's pushed
/// authorization request endpoint issued (RFC 9126 §4). Parameters that still carry
/// either came from where no reference may be (RFC 9101 §4): refused with their own
/// errors rather than proceeding (a client relying on the object's integrity must not be
/// silently downgraded).
pub fn check_request_object(params: &Params) -> Result<(), Refusal> {
    if params.get("request").is_some() {
        return Err(Refusal::new("invalid_request_object", "a request object cannot carry another request object"));
    }
    if params.get("request_uri").is_some() {
        return Err(Refusal::new(
            crate::request_uri::INVALID_REQUEST_URI,
            "a request_uri cannot be used here (only at authorize, with the application's client_id)",
        ));
    }
    Ok(())
}

/// Only the authorization code flow: `token` and hybrid types are refused.
pub fn check_response_type(params: &Params) -> Result<(), Refusal> {
    match params.get("response_type") {
        Some("code") => Ok(()),
        None => Err(Refusal::new("invalid_request", "response_type is missing")),
        Some(_) => Err(Refusal::new("unsupported_response_type", "only response_type=code is supported")),
    }
}

pub fn check_grant_type(app: &Application) -> Result<(), Refusal> {
    if app.settings.grant_types.contains(&GrantType::AuthorizationCode) {
        Ok(())
    } else {
        Err(Refusal::new("unauthorized_client", "this application may not use the authorization code flow"))
    }
}

/// RFC 6749 §3.3 with the domain's resolution: every requested scope must be known and
/// allowed to the application.
pub fn check_scope(
    params: &Params,
    catalog: &ScopeCatalog,
    allowed: &AllowedScopes,
) -> Result<ResolvedScopes, Refusal> {
    let requested =
        ScopeSet::parse(params.get("scope").unwrap_or("")).map_err(|e| Refusal::new("invalid_scope", e.to_string()))?;
    if requested.is_empty() {
        return Err(Refusal::new("invalid_scope", "scope is missing"));
    }
    resolve_requested(&requested, catalog, allowed).map_err(|e| Refusal::new("invalid_scope", e.to_string()))
}

/// RFC 8707 §2: each `resource` must name an API connection whose scopes are requested,
/// by its name or by its resource URI; the connections' names are kept.
pub fn check_resources(
    params: &Params,
    resolved: &ResolvedScopes,
    config: &tessera_store::config::Config,
) -> Result<Vec<String>, Refusal> {
    let resources: Vec<String> =
        params.get_all("resource").iter().map(|r| config.resource_name(r).to_owned()).collect();
    access_token_audience_and_scope(resolved, Some(&resources))
        .map_err(|e| Refusal::new("invalid_target", e.to_string()))?;
    Ok(resources)
}

/// RFC 7636 and RFC 9700 §2.1.1: S256 only; required for public clients.
pub fn check_pkce(params: &Params, app_type: ApplicationType) -> Result<Option<String>, Refusal> {
    let challenge = params.get("code_challenge");
    match (challenge, params.get("code_challenge_method")) {
        (None, None) if app_type.is_public() => {
            Err(Refusal::new("invalid_request", "code_challenge is required (PKCE with S256) for this application"))
        }
        (None, None) => Ok(None),
        (None, Some(_)) => Err(Refusal::new("invalid_request", "code_challenge_method without code_challenge")),
        (Some(_), None | Some("plain")) => {
            Err(Refusal::new("invalid_request", "code_challenge_method must be S256 (plain is not accepted)"))
        }
        (Some(challenge), Some("S256")) => {
            // RFC 7636 §4.2: BASE64URL(SHA256(verifier)), 43 characters.
            let valid =
                challenge.len() == 43 && challenge.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if valid {
                Ok(Some(challenge.to_owned()))
            } else {
                Err(Refusal::new("invalid_request", "code_challenge is malformed"))
            }
        }
        (Some(_), Some(_)) => Err(Refusal::new("invalid_request", "code_challenge_method must be S256")),
    }
}

/// OIDC Core §3.1.2.1: `prompt` is a space-separated list of none, login, consent,
/// select_account; `none` stands alone.
pub fn check_prompt(params: &Params) -> Result<Vec<String>, Refusal> {
    let Some(raw) = params.get("prompt") else { return Ok(Vec::new()) };
    let mut prompts: Vec<String> = raw.split(' ').filter(|p| !p.is_empty()).map(str::to_owned).collect();
    prompts.sort();
    prompts.dedup();
    if let Some(unknown) =
        prompts.iter().find(|p| !matches!(p.as_str(), "none" | "login" | "consent" | "select_account"))
    {
        let shown: String = unknown.chars().filter(char::is_ascii_graphic).take(30).collect();
        return Err(Refusal::new("invalid_request", format!("prompt value {shown} is not supported")));
    }
    if prompts.len() > 1 && prompts.iter().any(|p| p == "none") {
        return Err(Refusal::new("invalid_request", "prompt=none cannot be combined with other values"));
    }
    Ok(prompts)
}

/// OIDC Core §3.1.2.1: `max_age` is a non-negative number of seconds.
pub fn check_max_age(params: &Params) -> Result<Option<i64>, Refusal> {
    match params.get("max_age") {
        None => Ok(None),
        Some(raw) => raw
            .parse::<i64>()
            .ok()
            .filter(|v| *v >= 0)
            .map(Some)
            .ok_or_else(|| Refusal::new("invalid_request", "max_age must be a non-negative integer")),
    }
}

/// RFC 9449 §10: `dpop_jkt`, the base64url SHA-256 thumbprint of the key the client will
/// redeem the code with (43 characters).
pub fn check_dpop_jkt(params: &Params) -> Result<Option<String>, Refusal> {
    match params.get("dpop_jkt") {
        None => Ok(None),
        Some(jkt) if jkt.len() == 43 && jkt.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') => {
            Ok(Some(jkt.to_owned()))
        }
        Some(_) => Err(Refusal::new("invalid_request", "dpop_jkt must be a base64url SHA-256 JWK thumbprint")),
    }
}

/// OIDC Core §3.1.2.1 `acr_values`: space-separated, in order of preference, any of them
/// acceptable: the weakest level Tessera knows ([`Acr::weakest_of`]); unknown values are
/// ignored, and a request naming none Tessera knows asks for no level.
pub fn check_acr_values(params: &Params) -> Result<Option<Acr>, Refusal> {
    Ok(check_text(params, "acr_values")?.as_deref().and_then(Acr::weakest_of))
}

/// The error of OpenID Connect Unmet Authentication Requirements 1.0 §2: the
/// authentication the request insists on cannot be had.
pub const UNMET_AUTHENTICATION_REQUIREMENTS: &str = "unmet_authentication_requirements";

/// OIDC Core §5.5: the `claims` parameter, a JSON object; malformed JSON or members of
/// the wrong type are `invalid_request`. Tessera reads one thing from it, `id_token.acr`
/// requested as essential with `value` or `values` (§5.5.1.1): the weakest of those
/// levels Tessera knows, which the authentication must then reach; essential values none
/// of which Tessera knows can never be met (`unmet_authentication_requirements`). Every
/// other member is ignored: the claims a token carries follow its scopes
/// (docs/authentication.md).
pub fn check_claims(params: &Params) -> Result<Option<Acr>, Refusal> {
    let Some(raw) = params.get("claims") else { return Ok(None) };
    let malformed = |what: &str| Refusal::new("invalid_request", format!("claims is not valid: {what}"));
    let claims: Value = serde_json::from_str(raw).map_err(|_| malformed("not JSON"))?;
    let Value::Object(claims) = claims else { return Err(malformed("not a JSON object")) };
    let acr = match claims.get("id_token") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(id_token)) => id_token.get("acr"),
        Some(_) => return Err(malformed("id_token must be an object")),
    };
    let request = match acr {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(request)) => request,
        Some(_) => return Err(malformed("id_token.acr must be null or an object")),
    };
    let essential = match request.get("essential") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(flag)) => *flag,
        Some(_) => return Err(malformed("essential must be true or false")),
    };
    let mut values: Vec<&str> = Vec::new();
    match request.get("value") {
        None | Some(Value::Null) => {}
        Some(Value::String(value)) => values.push(value),
        Some(_) => return Err(malformed("id_token.acr.value must be a string")),
    }
    match request.get("values") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for item in items {
                values.push(item.as_str().ok_or_else(|| malformed("id_token.acr.values must be strings"))?);
            }
        }
        Some(_) => return Err(malformed("id_token.acr.values must be an array")),
    }
    if !essential || values.is_empty() {
        return Ok(None);
    }
    match values.iter().filter_map(|v| v.parse::<Acr>().ok()).min() {
        Some(acr) => Ok(Some(acr)),
        None => Err(Refusal::new(
            UNMET_AUTHENTICATION_REQUIREMENTS,
            "the essential acr values requested are none of 1fa, 2fa, phr (acr_values_supported)",
        )),
    }
}

/// Free-text parameters carried through, bounded in size.
pub fn check_text(params: &Params, name: &str) -> Result<Option<String>, Refusal> {
    match params.get(name) {
        Some(value) if value.len() > 2048 => Err(Refusal::new("invalid_request", format!("{name} is too long"))),
        other => Ok(other.map(str::to_owned)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(raw: &str) -> Params {
        Params::parse(raw.as_bytes()).unwrap()
    }

    #[test]
    fn only_code_is_a_supported_response_type() {
        assert!(check_response_type(&params("response_type=code")).is_ok());
        for other in ["token", "id_token", "code+id_token", "code+token"] {
            let refusal = check_response_type(&params(&format!("response_type={other}"))).unwrap_err();
            assert_eq!(refusal.error, "unsupported_response_type", "{other}");
        }
        assert_eq!(check_response_type(&params("")).unwrap_err().error, "invalid_request");
    }

    #[test]
    fn unresolved_request_objects_are_refused_with_their_own_errors() {
        assert!(check_request_object(&params("scope=openid")).is_ok());
        assert_eq!(check_request_object(&params("request=a.b.c")).unwrap_err().error, "invalid_request_object");
        assert_eq!(
            check_request_object(&params("request_uri=https%3A%2F%2Fx.test%2Fr")).unwrap_err().error,
            "invalid_request_uri"
        );
        assert_eq!(
            check_request_object(&params("request_uri=u&request=r")).unwrap_err().error,
            "invalid_request_object"
        );
        // RFC 6749 §3.1: an empty value is an absent parameter.
        assert!(check_request_object(&params("request=&request_uri=")).is_ok());
    }

    #[test]
    fn pkce_is_s256_only_and_required_for_public_clients() {
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        let ok = params(&format!("code_challenge={challenge}&code_challenge_method=S256"));
        assert_eq!(check_pkce(&ok, ApplicationType::Spa).unwrap().as_deref(), Some(challenge));
        let plain = params(&format!("code_challenge={challenge}&code_challenge_method=plain"));
        assert!(check_pkce(&plain, ApplicationType::Web).is_err());
        let no_method = params(&format!("code_challenge={challenge}"));
        assert!(check_pkce(&no_method, ApplicationType::Web).is_err());
        assert!(check_pkce(&params(""), ApplicationType::Native).is_err());
        assert_eq!(check_pkce(&params(""), ApplicationType::Web).unwrap(), None);
        assert!(check_pkce(&params("code_challenge=short&code_challenge_method=S256"), ApplicationType::Web).is_err());
    }

    #[test]
    fn prompt_none_stands_alone_and_unknown_values_are_refused() {
        assert_eq!(check_prompt(&params("prompt=login+consent")).unwrap(), ["consent", "login"]);
        assert!(check_prompt(&params("prompt=none+login")).is_err());
        assert!(check_prompt(&params("prompt=create")).is_err());
        assert!(check_prompt(&params("")).unwrap().is_empty());
    }

    #[test]
    fn max_age_must_be_a_non_negative_integer() {
        assert_eq!(check_max_age(&params("max_age=0")).unwrap(), Some(0));
        assert!(check_max_age(&params("max_age=-1")).is_err());
        assert!(check_max_age(&params("max_age=abc")).is_err());
    }

    #[test]
    fn acr_values_ask_for_the_weakest_known_level() {
        assert_eq!(check_acr_values(&params("acr_values=phr+2fa")).unwrap(), Some(Acr::TwoFactor));
        assert_eq!(check_acr_values(&params("acr_values=urn%3Agold")).unwrap(), None);
        assert_eq!(check_acr_values(&params("")).unwrap(), None);
    }

    fn claims(json: &str) -> Result<Option<Acr>, Refusal> {
        let encoded: String = url::form_urlencoded::byte_serialize(json.as_bytes()).collect();
        check_claims(&params(&format!("claims={encoded}")))
    }

    #[test]
    fn only_an_essential_acr_of_the_claims_parameter_asks_for_a_level() {
        assert_eq!(
            claims(r#"{"id_token":{"acr":{"essential":true,"values":["phr","2fa"]}}}"#).unwrap(),
            Some(Acr::TwoFactor)
        );
        assert_eq!(
            claims(r#"{"id_token":{"acr":{"essential":true,"value":"phr"}}}"#).unwrap(),
            Some(Acr::PhishingResistant)
        );
        assert_eq!(claims(r#"{"id_token":{"acr":{"values":["phr"]}}}"#).unwrap(), None, "voluntary");
        assert_eq!(claims(r#"{"id_token":{"acr":{"essential":true}}}"#).unwrap(), None, "no value asked");
        assert_eq!(claims(r#"{"userinfo":{"email":null},"id_token":{"acr":null}}"#).unwrap(), None);
        let unknown = claims(r#"{"id_token":{"acr":{"essential":true,"values":["urn:gold"]}}}"#).unwrap_err();
        assert_eq!(unknown.error, UNMET_AUTHENTICATION_REQUIREMENTS);
        for malformed in [
            "{",
            "[]",
            r#"{"id_token":1}"#,
            r#"{"id_token":{"acr":{"essential":"yes"}}}"#,
            r#"{"id_token":{"acr":{"values":[1]}}}"#,
        ] {
            assert_eq!(claims(malformed).unwrap_err().error, "invalid_request", "{malformed}");
        }
    }

    #[test]
    fn response_mode_is_query_or_form_post() {
        assert_eq!(check_response_mode(&params("")).unwrap(), ResponseMode::Query);
        assert_eq!(check_response_mode(&params("response_mode=form_post")).unwrap(), ResponseMode::FormPost);
        assert!(check_response_mode(&params("response_mode=fragment")).is_err());
    }
}
