//! Passkeys: WebAuthn Level 2/3 ceremonies through `webauthn-rs`, which checks the
//! signatures, the challenge, the origin, the RP id hash, the flags and the counter.
//! This module decides the relying party and Tessera's choices, and turns each
//! ceremony's outcome into the facts Tessera stores and `Factor::Passkey` needs.
//!
//! - The relying party id is the host of the issuer, and the origin the issuer's
//!   `scheme://host[:port]` (WebAuthn §5.1.4: an IP address is no valid RP id), unless
//!   the settings `webauthn_rp_id` and `webauthn_origins` say otherwise.
//! - Registration asks for a discoverable credential (resident key required, so a user
//!   can sign in by passkey alone) with user verification required.
//! - Authentication comes in two ceremonies: as a second factor, after a password, the
//!   browser is offered the user's own credentials (`allowCredentials`); for a sign-in by
//!   passkey alone (discoverable, conditional UI), no user is known yet and the
//!   credential's user handle names the user. Both require user verification.
//!
//! A ceremony's state stays on the server (the store keeps it, single use, with an
//! expiry); the browser gets the options. The state crosses the process only as JSON
//! (`danger-allow-state-serialisation`), so any node can finish what another started.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use tessera_domain::assurance::Factor;
use url::Url;
use webauthn_rs::prelude::{
    AuthenticationResult, CreationChallengeResponse, CredentialID, DiscoverableAuthentication, DiscoverableKey,
    Passkey, PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential,
    RequestChallengeResponse, Uuid, WebauthnError,
};
use webauthn_rs::{Webauthn, WebauthnBuilder};

/// The relying party cannot be built from the settings.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RelyingPartyError {
    #[error("the issuer {0:?} has no host to be the WebAuthn relying party id")]
    NoHost(String),
    #[error(
        "{0:?} is an IP address, which WebAuthn does not accept as a relying party id: use a host name (e.g. http://localhost:PORT) or set webauthn_rp_id"
    )]
    IpAddress(String),
    #[error("{0:?} is not an origin (scheme://host[:port])")]
    Origin(String),
    #[error("the relying party id {rp_id:?} does not fit the origin {origin:?}: {reason}")]
    Mismatch { rp_id: String, origin: String, reason: String },
}

/// A ceremony could not be started or did not verify.
#[derive(Debug, thiserror::Error)]
pub enum PasskeyError {
    /// What the browser posted is not a WebAuthn response.
    #[error("the browser's answer is not a WebAuthn credential: {0}")]
    Malformed(String),
    /// The response does not verify (signature, challenge, origin, flags, an unknown
    /// credential): the user is refused.
    #[error("the passkey was refused: {0}")]
    Refused(String),
    /// A stored state or credential does not read back: a bug or a corrupt row.
    #[error("a stored passkey record does not read back: {0}")]
    Stored(String),
}

impl From<WebauthnError> for PasskeyError {
    fn from(error: WebauthnError) -> PasskeyError {
        PasskeyError::Refused(error.to_string())
    }
}

/// What the browser is sent and what the server keeps for one ceremony.
#[derive(Debug, Clone)]
pub struct Ceremony {
    /// The options for `navigator.credentials.create` or `.get`, as JSON with binary
    /// values in base64url (`{"publicKey": {…}}`, and `mediation` for conditional UI).
    pub options: serde_json::Value,
    /// The server-side state, as JSON, to keep until the browser answers (single use).
    pub state: String,
}

/// A passkey just registered: what the store keeps.
#[derive(Debug, Clone)]
pub struct RegisteredPasskey {
    /// The credential as `webauthn-rs` serialises it (public key, counter, flags).
    pub credential: String,
    /// The credential id, base64url: the key to find the passkey by at sign-in.
    pub credential_id: String,
    /// Not backup-eligible (WebAuthn §6.1 flag `BE` clear): it cannot be synced.
    pub device_bound: bool,
}

/// A passkey that was just used.
#[derive(Debug, Clone)]
pub struct PasskeyUse {
    /// The credential id, base64url.
    pub credential_id: String,
    /// What the assertion proved.
    pub factor: Factor,
    /// The credential with its counter and backup state brought up to date, when they
    /// changed: store it back.
    pub updated_credential: Option<String>,
}

/// The passkey a discoverable assertion names: look it up by `credential_id`, check its
/// user's handle is `user_handle`, then finish with its credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveredPasskey {
    pub user_handle: Uuid,
    pub credential_id: String,
}

/// The user a passkey is registered for.
#[derive(Debug, Clone, Copy)]
pub struct PasskeyUser<'a> {
    pub user_id: &'a str,
    /// The name the authenticator shows in its account list.
    pub name: &'a str,
    pub display_name: &'a str,
}

/// The WebAuthn user handle of a user (WebAuthn §14.6.1: opaque, no personal data): their
/// id when it is a UUID, as Tessera's ids are, else a UUID derived from it.
pub fn user_handle(user_id: &str) -> Uuid {
    Uuid::parse_str(user_id).unwrap_or_else(|_| {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, user_id.as_bytes());
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest.as_ref()[..16]);
        uuid::Builder::from_custom_bytes(bytes).into_uuid()
    })
}

/// A credential id as Tessera stores it: base64url without padding.
pub fn encode_credential_id(id: &CredentialID) -> String {
    URL_SAFE_NO_PAD.encode(id.as_ref())
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, PasskeyError> {
    serde_json::to_string(value).map_err(|e| PasskeyError::Stored(e.to_string()))
}

fn from_stored<T: serde::de::DeserializeOwned>(json: &str) -> Result<T, PasskeyError> {
    serde_json::from_str(json).map_err(|e| PasskeyError::Stored(e.to_string()))
}

fn from_browser<T: serde::de::DeserializeOwned>(json: &str) -> Result<T, PasskeyError> {
    serde_json::from_str(json).map_err(|e| PasskeyError::Malformed(e.to_string()))
}

fn options<T: serde::Serialize>(value: &T) -> Result<serde_json::Value, PasskeyError> {
    serde_json::to_value(value).map_err(|e| PasskeyError::Stored(e.to_string()))
}

/// Tessera as a WebAuthn relying party.
#[derive(Debug)]
pub struct RelyingParty {
    webauthn: Webauthn,
    rp_id: String,
    origins: Vec<Url>,
}

impl RelyingParty {
    /// The relying party of `issuer` (its host, its origin), named `name` in the
    /// authenticator's prompts, or of `rp_id` and `origins` when set.
    pub fn new(issuer: &str, name: &str, rp_id: Option<&str>, origins: &[String]) -> Result<Self, RelyingPartyError> {
        let issuer_url = Url::parse(issuer).map_err(|_| RelyingPartyError::Origin(issuer.to_owned()))?;
        let origins: Vec<Url> = if origins.is_empty() {
            vec![origin_of(&issuer_url).ok_or_else(|| RelyingPartyError::Origin(issuer.to_owned()))?]
        } else {
            origins.iter().map(|o| parse_origin(o)).collect::<Result<_, _>>()?
        };
        let rp_id = match rp_id {
            Some(id) => id.trim().to_ascii_lowercase(),
            None => match issuer_url.host() {
                Some(url::Host::Domain(domain)) => domain.to_ascii_lowercase(),
                Some(_) => return Err(RelyingPartyError::IpAddress(issuer.to_owned())),
                None => return Err(RelyingPartyError::NoHost(issuer.to_owned())),
            },
        };
        if rp_id.parse::<std::net::IpAddr>().is_ok()
            || rp_id.trim_matches(['[', ']']).parse::<std::net::IpAddr>().is_ok()
        {
            return Err(RelyingPartyError::IpAddress(rp_id));
        }
        let mismatch = |origin: &Url, reason: String| RelyingPartyError::Mismatch {
            rp_id: rp_id.clone(),
            origin: origin.to_string(),
            reason,
        };
        let first = &origins[0];
        let mut builder =
            WebauthnBuilder::new(&rp_id, first).map_err(|e| mismatch(first, e.to_string()))?.rp_name(name);
        for origin in &origins[1..] {
            builder = builder.append_allowed_origin(origin);
        }
        let webauthn = builder.build().map_err(|e| mismatch(first, e.to_string()))?;
        Ok(RelyingParty { webauthn, rp_id, origins })
    }

    /// The relying party id.
    pub fn rp_id(&self) -> &str {
        &self.rp_id
    }

    /// The origins a ceremony may come from.
    pub fn origins(&self) -> &[Url] {
        &self.origins
    }

    /// Starts registering a passkey for `user`, excluding the credentials they have
    /// (`existing`, as stored), so one authenticator is not registered twice.
    pub fn start_registration(&self, user: PasskeyUser<'_>, existing: &[&str]) -> Result<Ceremony, PasskeyError> {
        let exclude: Vec<CredentialID> = existing
            .iter()
            .map(|stored| from_stored::<Passkey>(stored).map(|p| p.cred_id().clone()))
            .collect::<Result<_, _>>()?;
        let (challenge, state): (CreationChallengeResponse, PasskeyRegistration) =
            self.webauthn.start_passkey_registration(
                user_handle(user.user_id),
                user.name,
                user.display_name,
                (!exclude.is_empty()).then_some(exclude),
            )?;
        let mut options = options(&challenge)?;
        // A discoverable credential, so the passkey alone signs in (WebAuthn §5.4.6
        // `residentKey`, and Level 1's `requireResidentKey` for older browsers).
        // `webauthn-rs` asks for none; the answer's verification does not depend on it.
        if let Some(selection) =
            options.pointer_mut("/publicKey/authenticatorSelection").and_then(serde_json::Value::as_object_mut)
        {
            selection.insert("residentKey".into(), "required".into());
            selection.insert("requireResidentKey".into(), true.into());
        }
        Ok(Ceremony { options, state: to_json(&state)? })
    }

    /// Verifies the browser's answer (`response`, the JSON `passkeys.js` posts) to a
    /// registration started with `state`.
    pub fn finish_registration(&self, response: &str, state: &str) -> Result<RegisteredPasskey, PasskeyError> {
        let response: RegisterPublicKeyCredential = from_browser(response)?;
        let state: PasskeyRegistration = from_stored(state)?;
        let passkey = self.webauthn.finish_passkey_registration(&response, &state)?;
        let credential = to_json(&passkey)?;
        Ok(RegisteredPasskey {
            device_bound: !backup_eligible(&credential)?,
            credential_id: encode_credential_id(passkey.cred_id()),
            credential,
        })
    }

    /// Starts an authentication by one of the user's passkeys (`passkeys`, as stored): a
    /// second factor after the password, or a step-up.
    pub fn start_authentication(&self, passkeys: &[&str]) -> Result<Ceremony, PasskeyError> {
        let passkeys: Vec<Passkey> = passkeys.iter().map(|p| from_stored(p)).collect::<Result<_, _>>()?;
        let (challenge, state): (RequestChallengeResponse, PasskeyAuthentication) =
            self.webauthn.start_passkey_authentication(&passkeys)?;
        Ok(Ceremony { options: options(&challenge)?, state: to_json(&state)? })
    }

    /// Verifies the browser's answer to an authentication started with `state`, against
    /// the stored credential the answer names (see [`RelyingParty::credential_id_of`]).
    pub fn finish_authentication(&self, response: &str, state: &str, stored: &str) -> Result<PasskeyUse, PasskeyError> {
        let response: PublicKeyCredential = from_browser(response)?;
        let state: PasskeyAuthentication = from_stored(state)?;
        let result = self.webauthn.finish_passkey_authentication(&response, &state)?;
        used(result, stored)
    }

    /// Starts a sign-in by passkey alone: no user yet, the browser offers every passkey
    /// it holds for this relying party (with `mediation: "conditional"`, in the username
    /// field's autofill).
    pub fn start_discoverable(&self) -> Result<Ceremony, PasskeyError> {
        let (challenge, state): (RequestChallengeResponse, DiscoverableAuthentication) =
            self.webauthn.start_discoverable_authentication()?;
        Ok(Ceremony { options: options(&challenge)?, state: to_json(&state)? })
    }

    /// Which passkey a discoverable assertion comes from, before it is verified.
    pub fn identify(&self, response: &str) -> Result<DiscoveredPasskey, PasskeyError> {
        let response: PublicKeyCredential = from_browser(response)?;
        let (user_handle, credential_id) = self.webauthn.identify_discoverable_authentication(&response)?;
        Ok(DiscoveredPasskey { user_handle, credential_id: URL_SAFE_NO_PAD.encode(credential_id) })
    }

    /// Verifies a discoverable assertion started with `state` against the stored
    /// credential [`RelyingParty::identify`] led to.
    pub fn finish_discoverable(&self, response: &str, state: &str, stored: &str) -> Result<PasskeyUse, PasskeyError> {
        let response: PublicKeyCredential = from_browser(response)?;
        let state: DiscoverableAuthentication = from_stored(state)?;
        let passkey: Passkey = from_stored(stored)?;
        let keys = [DiscoverableKey::from(&passkey)];
        let result = self.webauthn.finish_discoverable_authentication(&response, state, &keys)?;
        used(result, stored)
    }

    /// The credential id (base64url) an assertion names, to look up the stored passkey.
    pub fn credential_id_of(&self, response: &str) -> Result<String, PasskeyError> {
        let response: PublicKeyCredential = from_browser(response)?;
        Ok(URL_SAFE_NO_PAD.encode(response.raw_id.as_ref()))
    }
}

/// The backup-eligible flag (WebAuthn §6.1 `BE`) of a stored credential, as `webauthn-rs`
/// serialises it (`{"cred": {"backup_eligible": …}}`): its public API keeps it inside.
fn backup_eligible(stored: &str) -> Result<bool, PasskeyError> {
    let value: serde_json::Value = from_stored(stored)?;
    value
        .pointer("/cred/backup_eligible")
        .and_then(serde_json::Value::as_bool)
        .ok_or_else(|| PasskeyError::Stored("the credential has no backup_eligible flag".into()))
}

/// The facts of a verified assertion, and the stored credential brought up to date.
fn used(result: AuthenticationResult, stored: &str) -> Result<PasskeyUse, PasskeyError> {
    let mut passkey: Passkey = from_stored(stored)?;
    if passkey.cred_id() != result.cred_id() {
        return Err(PasskeyError::Refused("the assertion is of another credential".into()));
    }
    let updated = match passkey.update_credential(&result) {
        Some(true) => Some(to_json(&passkey)?),
        _ => None,
    };
    Ok(PasskeyUse {
        credential_id: encode_credential_id(result.cred_id()),
        factor: Factor::Passkey { device_bound: !result.backup_eligible(), user_verified: result.user_verified() },
        updated_credential: updated,
    })
}

/// `scheme://host[:port]` of a URL.
fn origin_of(url: &Url) -> Option<Url> {
    let origin = url.origin();
    if !origin.is_tuple() {
        return None;
    }
    Url::parse(&origin.ascii_serialization()).ok()
}

/// An origin from the settings: an http(s) URL with nothing past its port.
fn parse_origin(value: &str) -> Result<Url, RelyingPartyError> {
    let bad = || RelyingPartyError::Origin(value.to_owned());
    let url = Url::parse(value.trim()).map_err(|_| bad())?;
    let bare = url.path() == "/" && url.query().is_none() && url.fragment().is_none() && url.username().is_empty();
    if !matches!(url.scheme(), "https" | "http") || !bare {
        return Err(bad());
    }
    origin_of(&url).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rp(issuer: &str) -> Result<RelyingParty, RelyingPartyError> {
        RelyingParty::new(issuer, "Tessera", None, &[])
    }

    #[test]
    fn the_relying_party_comes_from_the_issuer() {
        let party = rp("https://id.example.com/tenant").unwrap();
        assert_eq!(party.rp_id(), "id.example.com");
        assert_eq!(party.origins()[0].as_str(), "https://id.example.com/");
        let local = rp("http://localhost:8080").unwrap();
        assert_eq!(local.rp_id(), "localhost");
        assert_eq!(local.origins()[0].as_str(), "http://localhost:8080/");
    }

    #[test]
    fn an_ip_address_is_no_relying_party_id() {
        assert!(matches!(rp("http://127.0.0.1:8080"), Err(RelyingPartyError::IpAddress(_))));
        assert!(matches!(rp("http://[::1]:8080"), Err(RelyingPartyError::IpAddress(_))));
        let overridden = RelyingParty::new("http://127.0.0.1:8080", "T", Some("127.0.0.1"), &[]);
        assert!(matches!(overridden, Err(RelyingPartyError::IpAddress(_))));
    }

    #[test]
    fn settings_override_the_relying_party_id_and_origins() {
        let origins = vec!["https://login.example.com".to_owned(), "https://id.example.com".to_owned()];
        let party = RelyingParty::new("https://id.example.com", "T", Some("example.com"), &origins).unwrap();
        assert_eq!(party.rp_id(), "example.com");
        assert_eq!(party.origins().len(), 2);
        assert!(matches!(
            RelyingParty::new("https://id.example.com", "T", None, &["https://id.example.com/path".to_owned()]),
            Err(RelyingPartyError::Origin(_))
        ));
        assert!(matches!(
            RelyingParty::new("https://id.example.com", "T", Some("other.org"), &[]),
            Err(RelyingPartyError::Mismatch { .. })
        ));
    }

    #[test]
    fn registration_asks_for_a_discoverable_credential_with_user_verification() {
        let party = rp("http://localhost:8080").unwrap();
        let user =
            PasskeyUser { user_id: "0190f5a4-7b1c-7000-8000-000000000001", name: "ada", display_name: "Ada Lovelace" };
        let ceremony = party.start_registration(user, &[]).unwrap();
        let public_key = &ceremony.options["publicKey"];
        assert_eq!(public_key["rp"]["id"], "localhost");
        assert_eq!(public_key["user"]["name"], "ada");
        assert_eq!(public_key["authenticatorSelection"]["residentKey"], "required");
        assert_eq!(public_key["authenticatorSelection"]["requireResidentKey"], true);
        assert_eq!(public_key["authenticatorSelection"]["userVerification"], "required");
        assert!(public_key["challenge"].as_str().is_some_and(|c| c.len() >= 22));
        assert!(serde_json::from_str::<serde_json::Value>(&ceremony.state).is_ok());
    }

    #[test]
    fn a_discoverable_ceremony_names_no_credential() {
        let party = rp("http://localhost:8080").unwrap();
        let ceremony = party.start_discoverable().unwrap();
        let public_key = &ceremony.options["publicKey"];
        assert_eq!(public_key["rpId"], "localhost");
        assert!(public_key["allowCredentials"].as_array().is_none_or(Vec::is_empty));
    }

    #[test]
    fn a_response_that_is_no_credential_is_malformed() {
        let party = rp("http://localhost:8080").unwrap();
        let ceremony = party.start_discoverable().unwrap();
        assert!(matches!(party.identify("{}"), Err(PasskeyError::Malformed(_))));
        assert!(matches!(party.finish_registration("nope", &ceremony.state), Err(PasskeyError::Malformed(_))));
    }

    #[test]
    fn user_handles_are_the_uuid_ids_or_derived_from_others() {
        let id = "0190f5a4-7b1c-7000-8000-000000000001";
        assert_eq!(user_handle(id).to_string(), id);
        assert_eq!(user_handle("legacy-7"), user_handle("legacy-7"));
        assert_ne!(user_handle("legacy-7"), user_handle("legacy-8"));
    }
}
