//! Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document), behind
//! the `client_id_metadata_documents` setting: a `client_id` that is an https URL names
//! a JSON document of client metadata that Tessera fetches with the guarded outbound
//! client (https to public addresses unless the operator lists a host, no redirects,
//! at most [`super::METADATA_DOCUMENT_MAX_BYTES`], bounded time). The document must be a
//! JSON object whose `client_id` equals the URL (§4.1); its metadata is checked as a
//! registration's, and its client is public (`none`, or `private_key_jwt` with `jwks`:
//! no shared secret can exist).
//!
//! The client is kept as an application row (marked `metadata_document`), so codes,
//! grants and consents work as for any application; the copy is fresh for the
//! document's `Cache-Control: max-age`, held between [`MIN_CACHE`] and [`MAX_CACHE`],
//! and fetched again at the first use after that. A document that cannot be fetched or
//! is invalid refuses the request: authorize shows its error page (never a redirect to
//! a URI nobody validated), PAR and the token endpoint answer `invalid_client`.

use std::net::IpAddr;
use std::sync::Arc;

use actix_web::web;
use serde_json::{Map, Value, json};
use tessera_domain::ClientId;
use tessera_domain::client_metadata::{self, Source};
use tessera_store::applications::{self, RegistrationKind};
use tessera_store::audit::{self, NewAuditEvent};
use tessera_store::client_registrations::{self, ClientRegistration};
use tessera_store::{StoreError, StoreResult};

use super::{audit_summary, keep_admin_settings, open_scopes};
use crate::rate_limit::Endpoint;
use crate::state::{OidcState, now};

/// The shortest time a fetched document is used without fetching it again (seconds).
pub const MIN_CACHE: i64 = 300;
/// The longest (seconds).
pub const MAX_CACHE: i64 = 86_400;
/// The longest `client_id` URL taken for a metadata document.
const MAX_URL_LEN: usize = 2000;

/// Whether `client_id` has the form of a metadata document's URL.
pub(crate) fn is_url(client_id: &str) -> bool {
    client_id.starts_with("https://") || client_id.starts_with("http://")
}

/// Makes sure the application of metadata-document client `client_id` exists and is
/// fresh, fetching its document when needed. Nothing to do (Ok) when the setting is off
/// or `client_id` is not a URL: the caller's lookup then decides as for any client.
/// `Err`: why the client cannot be used, for the error page or `invalid_client`.
///
/// A fetch creates or rewrites a durable row for whoever names a URL, so fetches count
/// against the per-address budget of open registration
/// (`rate_limit_client_registration_per_ip`); uses of a fresh copy do not.
pub(crate) async fn ensure(state: &Arc<OidcState>, client_id: &str, client_ip: Option<IpAddr>) -> Result<(), String> {
    if !state.settings.client_registration.metadata_documents || !is_url(client_id) {
        return Ok(());
    }
    let Some(client) = state.metadata_documents.clone() else { return Ok(()) };
    let url = check_url(client_id)?;
    let fresh = {
        let (state, client_id) = (state.clone(), client_id.to_owned());
        web::block(move || is_fresh(&state, &client_id, now())).await.map_err(|_| unavailable())?.map_err(|e| {
            tracing::warn!(error = %e, "metadata document client lookup failed");
            unavailable()
        })?
    };
    if fresh {
        return Ok(());
    }
    if state.limiters.check(Endpoint::Registration, None, client_ip).is_err() {
        return Err("too many new clients were named from this address; retry later".to_owned());
    }
    let answer = client.get(&url).await.map_err(|e| format!("its metadata document could not be fetched ({e})"))?;
    if answer.status != 200 {
        return Err(format!("its metadata document answered HTTP {} instead of 200", answer.status));
    }
    let document: Value =
        serde_json::from_slice(&answer.body).map_err(|_| "its metadata document is not a JSON document".to_owned())?;
    if document.get("client_id").and_then(Value::as_str) != Some(client_id) {
        return Err("the client_id in its metadata document is not the document's URL".to_owned());
    }
    if document.get("client_secret").is_some() || document.get("client_secret_expires_at").is_some() {
        return Err("its metadata document carries a client secret, which such clients cannot have".to_owned());
    }
    let lifetime = cache_lifetime(answer.cache_control.as_deref());
    let (state, client_id) = (state.clone(), client_id.to_owned());
    web::block(move || store(&state, &client_id, &document, lifetime)).await.map_err(|_| unavailable())?
}

fn unavailable() -> String {
    "the service is unavailable; retry later".to_owned()
}

/// §3: an https URL with a path, without fragment, credentials or dot segments (the
/// URL as given must be its own normal form).
fn check_url(client_id: &str) -> Result<url::Url, String> {
    let wrong = || "the client_id is not a valid metadata document URL".to_owned();
    if client_id.len() > MAX_URL_LEN {
        return Err(wrong());
    }
    let url = url::Url::parse(client_id).map_err(|_| wrong())?;
    let valid = url.as_str() == client_id
        && url.fragment().is_none()
        && url.username().is_empty()
        && url.password().is_none()
        && url.path() != "/"
        && !url.path().is_empty();
    if !valid {
        return Err(wrong());
    }
    Ok(url)
}

/// Whether the stored copy of `client_id`'s document may still be used.
fn is_fresh(state: &OidcState, client_id: &str, now: i64) -> StoreResult<bool> {
    let config = state.store.config()?;
    let Some(app) = config.application_by_client_id(client_id) else { return Ok(false) };
    if app.registration != Some(RegistrationKind::MetadataDocument) {
        return Ok(true);
    }
    let registration = state.store.read_transaction(|c| client_registrations::get(c, &app.id))?;
    Ok(registration.and_then(|r| r.expires_at).is_some_and(|expires_at| expires_at > now))
}

/// RFC 9111 §5.2.2: `max-age` (or `no-cache`/`no-store`: the shortest), within bounds.
pub(crate) fn cache_lifetime(cache_control: Option<&str>) -> i64 {
    let mut lifetime = MIN_CACHE;
    for directive in cache_control.unwrap_or_default().split(',') {
        let directive = directive.trim().to_ascii_lowercase();
        if directive == "no-store" || directive == "no-cache" {
            return MIN_CACHE;
        }
        if let Some(seconds) = directive.strip_prefix("max-age=").and_then(|s| s.trim_matches('"').parse::<i64>().ok())
        {
            lifetime = seconds;
        }
    }
    lifetime.clamp(MIN_CACHE, MAX_CACHE)
}

/// Checks the document's metadata and creates or refreshes the application.
fn store(state: &OidcState, client_id: &str, document: &Value, lifetime: i64) -> Result<(), String> {
    let now = now();
    let config = state.store.config().map_err(store_failure)?;
    let (parsed, extras) =
        client_metadata::parse(document, Source::MetadataDocument, &open_scopes(state, &config), None)
            .map_err(|e| format!("its metadata document is not acceptable ({}: {})", e.code, e.description))?;
    super::admit_fetched_urls(state, &parsed)
        .map_err(|e| format!("its metadata document is not acceptable ({}: {})", e.code, e.description))?;
    let existing = config.application_by_client_id(client_id).cloned();
    let result = state.store.write_transaction(|c| match &existing {
        Some(app) => {
            let settings = keep_admin_settings(&app.settings, parsed.clone());
            let changed = settings != app.settings;
            let updated = if changed { applications::update(c, &app.id, &settings, now)? } else { (**app).clone() };
            client_registrations::update(c, &app.id, &Value::Object(extras.clone()), Some(now + lifetime), now)?;
            if changed {
                record(c, &updated, "application.registration_updated", &extras, now)?;
            }
            Ok(())
        }
        None => {
            let app = applications::create(c, &ClientId::from(client_id), &parsed, None, now)?;
            applications::set_registration(c, &app.id, RegistrationKind::MetadataDocument)?;
            client_registrations::create(
                c,
                &ClientRegistration {
                    application_id: app.id.clone(),
                    access_token_hash: None,
                    initial_access_token_id: None,
                    metadata: Value::Object(extras.clone()),
                    expires_at: Some(now + lifetime),
                    created_at: now,
                    updated_at: now,
                },
            )?;
            record(c, &app, "application.registered", &extras, now)
        }
    });
    match result {
        Ok(()) => Ok(()),
        // Another request stored the same client at the same time: its copy is as good.
        Err(StoreError::Conflict { .. }) => Ok(()),
        Err(error) => Err(store_failure(error)),
    }
}

fn record(
    c: &mut tessera_store::AnyConnection,
    app: &applications::Application,
    action: &str,
    extras: &Map<String, Value>,
    now: i64,
) -> StoreResult<()> {
    let mut summary = audit_summary(app, extras);
    summary["source"] = json!("client_id_metadata_document");
    audit::record(
        c,
        &NewAuditEvent {
            actor: "metadata_document",
            action,
            target: &format!("application:{}", app.id),
            summary,
            client_ip: None,
        },
        now,
    )
    .map(|_| ())
}

fn store_failure(error: StoreError) -> String {
    tracing::warn!(%error, "storing a metadata document client failed");
    unavailable()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_lifetime_follows_max_age_within_bounds() {
        assert_eq!(cache_lifetime(None), MIN_CACHE);
        assert_eq!(cache_lifetime(Some("public, max-age=3600")), 3600);
        assert_eq!(cache_lifetime(Some("max-age=5")), MIN_CACHE);
        assert_eq!(cache_lifetime(Some("max-age=999999")), MAX_CACHE);
        assert_eq!(cache_lifetime(Some("max-age=3600, no-store")), MIN_CACHE);
    }

    #[test]
    fn only_normal_urls_with_a_path_name_a_document() {
        assert!(check_url("https://app.example/client.json").is_ok());
        for wrong in [
            "https://app.example",
            "https://app.example/",
            "https://app.example/a/../client.json",
            "https://user@app.example/client.json",
            "https://app.example/client.json#f",
            "https://APP.example/client.json",
        ] {
            assert!(check_url(wrong).is_err(), "{wrong}");
        }
    }
}
