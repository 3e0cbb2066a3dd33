//! Request objects (RFC 9101, OIDC Core §6.1): the parameters of an authorization
//! request as the claims of a JWT the client signed, sent by value as `request` to the
//! authorization endpoint or in a pushed request (RFC 9126 §3).
//!
//! The object is verified with the client's registered keys (its `jwks`, or the set at
//! its `jwks_uri`: `crate::client_keys`): a JWS signed
//! with ES256, EdDSA or RS256 (`alg: none`, HMAC and encrypted objects are refused),
//! `typ` absent, `JWT` or `oauth-authz-req+jwt` (RFC 9101 §10.8, so that no other kind of
//! JWT of the client's can be replayed as one), `iss` the client, `aud` naming the
//! issuer identifier (§6.3, §10.2), `exp` required and at most [`MAX_LIFETIME`] ahead,
//! `nbf` and `iat` not in the future, and a `client_id` claim, when present, equal to
//! the outer one (§5). The parameters are then taken from the object only (§6.3); the
//! outer ones, `response_type` and `scope` included, are ignored.
//!
//! Replay: a request object is not a credential. It travels through the browser like
//! the plain parameters it replaces, and whatever it starts ends at a redirect URI the
//! client registered, with a code bound to that client, that redirect URI and its PKCE
//! challenge. So its `jti` is not remembered; the bounded lifetime limits how long a
//! captured object can start a sign-in.

use serde_json::{Map, Value, json};
use tessera_store::Store;
use tessera_store::applications::Application;
use tessera_store::audit::{self, NewAuditEvent};
use tessera_tokens::jwt::JwtError;

use crate::client_keys::{ClientKeys, KeyFailure};
use crate::error::Refusal;
use crate::form::Params;

/// RFC 9101 §10.8: the media type of a request object, as its `typ`.
pub const TYP: &str = "oauth-authz-req+jwt";
/// The longest a request object may be valid for, in seconds (FAPI 2.0 §5.3.2.1: 60 min).
pub const MAX_LIFETIME: i64 = 3600;
/// Clock skew tolerated on the object's times.
const LEEWAY: i64 = 60;
/// JWT claims that are about the object itself, not authorization parameters.
const REGISTERED_CLAIMS: &[&str] = &["iss", "aud", "exp", "nbf", "iat", "jti", "sub"];

/// RFC 9101 §6.2 / OIDC Core §3.1.2.6.
pub const INVALID_REQUEST_OBJECT: &str = "invalid_request_object";

fn invalid(description: impl Into<String>) -> Refusal {
    Refusal::new(INVALID_REQUEST_OBJECT, description)
}

/// The parameters a verified request object carries (with `client_id`), or why it was
/// refused (`invalid_request_object`).
pub fn verify(app: &Application, keys: &ClientKeys, object: &str, issuer: &str, now: i64) -> Result<Params, Refusal> {
    let verified = keys.verify(app, object).map_err(|failure| match failure {
        KeyFailure::NoKeys => invalid("the application has no registered keys to verify request objects with"),
        KeyFailure::Unavailable(why) => {
            invalid(format!("the application's keys could not be fetched to verify the request object ({why})"))
        }
        KeyFailure::Jwt(JwtError::AlgorithmNotAllowed(alg)) if alg.eq_ignore_ascii_case("none") => {
            invalid("unsigned request objects (alg none) are refused")
        }
        KeyFailure::Jwt(JwtError::AlgorithmNotAllowed(_)) => {
            invalid("the request object's alg is not supported (ES256, EdDSA, RS256)")
        }
        KeyFailure::Jwt(JwtError::Malformed) => {
            invalid("the request object is not a signed JWT (JWS compact serialization)")
        }
        KeyFailure::Jwt(JwtError::UnknownKey(_) | JwtError::BadSignature) => {
            invalid("the request object is not signed with a key registered for this application")
        }
    })?;
    if let Some(typ) = verified.typ.as_deref()
        && !typ.eq_ignore_ascii_case(TYP)
        && !typ.eq_ignore_ascii_case("JWT")
    {
        return Err(invalid(format!("the request object's typ must be {TYP}")));
    }
    let form = check_claims(&verified.claims, app.client_id.as_str(), issuer, now).map_err(invalid)?;
    let (params, repeated) = Params::parse_noting_repeats(form.as_bytes()).map_err(|e| invalid(e.description))?;
    if let Some(name) = repeated.first() {
        return Err(invalid(format!("parameter {name} has several values")));
    }
    Ok(params)
}

/// Records a refused request object (a security event: a forged, misdirected or stale
/// request) in its own transaction. Anyone can cause it, so at most one a minute per
/// address reaches the log, as for failed client authentications.
pub(crate) fn record_refusal(store: &Store, client_id: &str, refusal: &Refusal, client_ip: Option<&str>, now: i64) {
    let target = format!("client:{}", client_id.chars().take(100).collect::<String>());
    let event = NewAuditEvent {
        actor: "anonymous",
        action: "authorization.request_object_refused",
        target: &target,
        summary: json!({ "reason": refusal.description }),
        client_ip,
    };
    let key = format!("audit:authorization.request_object_refused:{}", client_ip.unwrap_or("unknown"));
    let interval = crate::client_auth::AUDIT_SAMPLE_INTERVAL;
    if let Err(error) = store.write_transaction(|c| audit::record_sampled(c, &event, &key, interval, now)) {
        tracing::warn!(%error, "could not record a refused request object");
    }
}

/// RFC 9101 §4–§6 on the claims of a request object whose signature verified: the
/// authorization parameters as a form (`client_id` first), or why they are refused.
/// Public for the fuzz targets (`crates/tessera-fuzz`).
pub fn check_claims(claims: &Map<String, Value>, client_id: &str, issuer: &str, now: i64) -> Result<String, String> {
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    let time = |name: &str| -> Result<Option<i64>, String> {
        match claims.get(name) {
            None => Ok(None),
            Some(value) => {
                value.as_i64().map(Some).ok_or_else(|| format!("the request object's {name} is not a number"))
            }
        }
    };
    if text("iss") != Some(client_id) {
        return Err("the request object's iss must be the client_id".into());
    }
    if claims.get("client_id").is_some_and(|id| id.as_str() != Some(client_id)) {
        return Err("the request object's client_id differs from the request's client_id".into());
    }
    let audience_ok = match claims.get("aud") {
        Some(Value::String(aud)) => aud == issuer,
        Some(Value::Array(values)) => values.iter().any(|v| v.as_str() == Some(issuer)),
        _ => false,
    };
    if !audience_ok {
        return Err("the request object's aud must name the issuer identifier".into());
    }
    let Some(exp) = time("exp")? else { return Err("the request object has no exp".into()) };
    if exp + LEEWAY <= now {
        return Err("the request object has expired".into());
    }
    if exp > now + MAX_LIFETIME + LEEWAY {
        return Err(format!("the request object may be valid for at most {MAX_LIFETIME} seconds"));
    }
    if time("nbf")?.is_some_and(|nbf| nbf - LEEWAY > now) || time("iat")?.is_some_and(|iat| iat - LEEWAY > now) {
        return Err("the request object is not valid yet".into());
    }
    // RFC 9101 §4: a request object never refers to another.
    if claims.contains_key("request") || claims.contains_key("request_uri") {
        return Err("a request object cannot contain request or request_uri".into());
    }
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.append_pair("client_id", client_id);
    for (name, value) in claims {
        if name == "client_id" || REGISTERED_CLAIMS.contains(&name.as_str()) {
            continue;
        }
        match value {
            Value::String(text) => {
                form.append_pair(name, text);
            }
            Value::Number(number) => {
                form.append_pair(name, &number.to_string());
            }
            Value::Bool(flag) => {
                form.append_pair(name, if *flag { "true" } else { "false" });
            }
            Value::Null => {}
            // RFC 8707 in a request object: several `resource` values as an array.
            Value::Array(items) if name == "resource" => {
                for item in items {
                    let resource = item.as_str().ok_or("the request object's resource values must be strings")?;
                    form.append_pair(name, resource);
                }
            }
            // Structured parameters (OIDC Core §5.5 `claims`, RFC 9396
            // `authorization_details`) are JSON text as parameters.
            other => {
                form.append_pair(name, &other.to_string());
            }
        }
    }
    Ok(form.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ISSUER: &str = "https://id.example.com";
    const NOW: i64 = 1_800_000_000;

    fn claims(overrides: Value) -> Map<String, Value> {
        let mut claims = json!({
            "iss": "webapp", "aud": ISSUER, "exp": NOW + 300, "iat": NOW, "jti": "j1",
            "client_id": "webapp", "response_type": "code", "scope": "openid profile", "max_age": 60,
            "resource": ["https://a.test", "https://b.test"], "claims": {"userinfo": {"email": null}},
        });
        for (k, v) in overrides.as_object().unwrap() {
            if v.is_null() {
                claims.as_object_mut().unwrap().remove(k);
            } else {
                claims[k] = v.clone();
            }
        }
        claims.as_object().unwrap().clone()
    }

    fn params(form: &str) -> Params {
        Params::parse(form.as_bytes()).unwrap()
    }

    #[test]
    fn the_parameters_come_from_the_claims_without_the_jwt_claims() {
        let form = check_claims(&claims(json!({})), "webapp", ISSUER, NOW).unwrap();
        let p = params(&form);
        assert_eq!(p.get("client_id"), Some("webapp"));
        assert_eq!(p.get("scope"), Some("openid profile"));
        assert_eq!(p.get("max_age"), Some("60"));
        assert_eq!(p.get_all("resource"), ["https://a.test", "https://b.test"]);
        assert_eq!(p.get("claims"), Some(r#"{"userinfo":{"email":null}}"#));
        for dropped in ["iss", "aud", "exp", "iat", "jti"] {
            assert_eq!(p.get(dropped), None, "{dropped}");
        }
        // The audience may be an array naming the issuer; client_id may be left out.
        let array = claims(json!({ "aud": ["https://other.test", ISSUER], "client_id": null }));
        assert!(check_claims(&array, "webapp", ISSUER, NOW).is_ok());
    }

    #[test]
    fn each_claim_rule_refuses() {
        for (what, overrides) in [
            ("iss another client", json!({ "iss": "other" })),
            ("no iss", json!({ "iss": null })),
            ("client_id mismatch", json!({ "client_id": "other" })),
            ("aud another server", json!({ "aud": "https://evil.test" })),
            ("no aud", json!({ "aud": null })),
            ("aud an endpoint", json!({ "aud": "https://id.example.com/connect/authorize" })),
            ("no exp", json!({ "exp": null })),
            ("expired", json!({ "exp": NOW - 61 })),
            ("too long", json!({ "exp": NOW + MAX_LIFETIME + 61 })),
            ("exp text", json!({ "exp": "soon" })),
            ("nbf in the future", json!({ "nbf": NOW + 120 })),
            ("iat in the future", json!({ "iat": NOW + 120 })),
            ("nested request", json!({ "request": "a.b.c" })),
            ("nested request_uri", json!({ "request_uri": "https://x.test/r" })),
            ("resource not text", json!({ "resource": [1] })),
        ] {
            assert!(check_claims(&claims(overrides), "webapp", ISSUER, NOW).is_err(), "{what}");
        }
    }
}
