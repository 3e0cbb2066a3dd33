//! OpenID Provider metadata (OIDC Discovery §3, RFC 8414), at
//! `/.well-known/openid-configuration`. Scopes and claims come from the configuration in
//! memory; the document is serialised once per configuration version, not per request.

use std::sync::{Arc, Mutex};

use actix_web::http::header::{self, CacheControl, CacheDirective};
use actix_web::web::Bytes;
use actix_web::{HttpResponse, web};
use serde_json::json;
use tessera_domain::SigningAlgorithm;
use tessera_store::StoreResult;
use tessera_store::config::Config;
use tessera_store::scopes::ScopeKind;

use crate::error::OAuthError;
use crate::state::OidcState;

/// A built document and the configuration version it was built from.
type Built = (i64, Bytes);

/// The last built document.
#[derive(Debug, Default, Clone)]
pub struct DiscoveryCache(Arc<Mutex<Option<Built>>>);

impl DiscoveryCache {
    /// The document for the current configuration, built again only when it changed.
    fn document(&self, state: &OidcState) -> StoreResult<Bytes> {
        let config = state.store.config()?;
        if let Some((version, document)) = self.0.lock().ok().and_then(|guard| guard.clone())
            && version == config.version
        {
            return Ok(document);
        }
        let document = Bytes::from(build(state, &config));
        if let Ok(mut guard) = self.0.lock() {
            *guard = Some((config.version, document.clone()));
        }
        Ok(document)
    }
}

fn build(state: &OidcState, config: &Config) -> String {
    let all_scopes = config.scopes();
    let claims = config.claim_types();
    let scopes_supported: Vec<&str> = all_scopes
        .iter()
        .filter(|s| s.show_in_discovery && (s.kind == ScopeKind::Identity || s.kind == ScopeKind::Api))
        .map(|s| s.name.as_str())
        .collect();
    let claims_supported: Vec<&str> = claims.iter().map(|c| c.name.as_str()).collect();
    let algs: Vec<&str> = SigningAlgorithm::ALL.iter().map(|a| a.as_str()).collect();
    let acr_values: Vec<&str> = tessera_domain::Acr::ALL.iter().map(|a| a.as_str()).collect();
    // RFC 9728 §4: the resource identifiers of the APIs this server issues tokens for.
    let protected_resources: Vec<&str> =
        config.connections().iter().filter_map(|c| c.resource_uri.as_deref()).collect();
    let mut document = json!({
        "issuer": state.issuer,
        "authorization_endpoint": state.url("/connect/authorize"),
        "token_endpoint": state.url("/connect/token"),
        "userinfo_endpoint": state.url("/connect/userinfo"),
        "jwks_uri": state.url("/.well-known/openid-configuration/jwks"),
        "end_session_endpoint": state.url("/connect/endsession"),
        "introspection_endpoint": state.url("/connect/introspect"),
        "revocation_endpoint": state.url("/connect/revocation"),
        "pushed_authorization_request_endpoint": state.url("/connect/par"),
        "device_authorization_endpoint": state.url("/connect/deviceauthorization"),
        "scopes_supported": scopes_supported,
        "claims_supported": claims_supported,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "form_post"],
        "grant_types_supported": [
            "authorization_code",
            "refresh_token",
            "client_credentials",
            "password",
            "urn:ietf:params:oauth:grant-type:device_code",
            "urn:ietf:params:oauth:grant-type:token-exchange"
        ],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": algs,
        "code_challenge_methods_supported": ["S256"],
        "dpop_signing_alg_values_supported": tessera_tokens::dpop::ALGORITHMS,
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
        "token_endpoint_auth_signing_alg_values_supported": algs,
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
        // RFC 8414 §2: required when private_key_jwt is among the methods above.
        "revocation_endpoint_auth_signing_alg_values_supported": algs,
        "introspection_signing_alg_values_supported": ["ES256"],
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        // OIDC Discovery §3: the levels `acr` takes and `acr_values` may ask, weakest
        // first (docs/authentication.md).
        "acr_values_supported": acr_values,
        // Only an essential `acr` of the `claims` parameter is read (OIDC Core §5.5.1.1);
        // its other members are ignored, so the parameter is not advertised.
        "claims_parameter_supported": false,
        // RFC 9101 / OIDC Core §6: request objects by value, signed with the client's keys
        // (its jwks or jwks_uri), or by reference: a request_uri the pushed authorization
        // request endpoint issued, or an https one the application registered in its
        // request_uris (OIDC Discovery §3 require_request_uri_registration), fetched.
        "request_parameter_supported": true,
        "request_uri_parameter_supported": true,
        "require_request_uri_registration": true,
        "request_object_signing_alg_values_supported": algs,
        // RFC 9101 §10.5: the server-wide value; applications may require it one by one.
        "require_signed_request_object": false,
        // RFC 9126 §5: the server-wide value; applications may require it one by one.
        "require_pushed_authorization_requests": false,
        "authorization_response_iss_parameter_supported": true,
        "frontchannel_logout_supported": false,
        // OIDC Back-Channel Logout 1.0 §2.1: logout tokens to each application's
        // backchannel_logout_uri, always with `sid`.
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
    });
    let registration = &state.settings.client_registration;
    if registration.mode != crate::registration::RegistrationMode::Closed {
        // RFC 8414 §2 / OIDC Discovery §3: only when clients may register.
        document["registration_endpoint"] = json!(state.url(crate::registration::REGISTRATION_PATH));
    }
    if registration.metadata_documents && state.metadata_documents.is_some() {
        // draft-ietf-oauth-client-id-metadata-document: https client_ids are fetched.
        document["client_id_metadata_document_supported"] = json!(true);
    }
    if !protected_resources.is_empty() {
        document["protected_resources"] = json!(protected_resources);
    }
    document.to_string()
}

/// `GET /.well-known/openid-configuration`.
pub(crate) async fn discovery(
    state: web::Data<OidcState>,
    cache: web::Data<DiscoveryCache>,
) -> Result<HttpResponse, OAuthError> {
    let (state, cache) = (state.into_inner(), cache.into_inner());
    let document = web::block(move || cache.document(&state)).await??;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .insert_header(CacheControl(vec![CacheDirective::Public, CacheDirective::MaxAge(300)]))
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .body(document))
}
