//! Token revocation (RFC 7009). An application revokes its own reference access tokens
//! and refresh tokens; revoking a refresh token revokes its whole grant (the refresh
//! family and every reference token issued from it). Unknown tokens, and tokens of
//! another application, answer 200 and are left alone (§2.2).

use std::net::IpAddr;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;
use tessera_domain::GrantId;
use tessera_store::audit::{self, NewAuditEvent};
use tessera_store::{grants, reference_tokens, refresh_tokens};
use tessera_tokens::SecretHash;

use crate::client_auth;
use crate::error::OAuthError;
use crate::form::Params;
use crate::state::{OidcState, now};

/// `POST /connect/revocation`.
pub(crate) async fn revocation(
    request: HttpRequest,
    body: web::Bytes,
    state: web::Data<OidcState>,
) -> Result<HttpResponse, OAuthError> {
    let (params, presented, client_ip) = client_auth::client_request(&request, &body, &state)?;
    let state = state.into_inner();
    web::block(move || revoke(&state, &presented, &params, client_ip)).await??;
    Ok(crate::error::no_store(StatusCode::OK).finish())
}

fn revoke(
    state: &OidcState,
    presented: &client_auth::Presented,
    params: &Params,
    client_ip: Option<IpAddr>,
) -> Result<(), OAuthError> {
    let now = now();
    let ip = client_ip.map(|ip| ip.to_string());
    let app = client_auth::authenticate_request(state, presented, ip.as_deref(), now)?;
    let token = params.require("token")?;
    if token.contains('.') {
        return revoke_jwt(state, &app, token, ip.as_deref(), now);
    }
    if token.len() > 512 {
        return Ok(());
    }
    let hash = SecretHash::of(token);
    let revoked = state.store.write_transaction(|c| {
        // The hint only orders the look-ups; both kinds are tried (RFC 7009 §2.1).
        let what = if reference_tokens::revoke_reference_token(c, hash.as_str(), &app.id, now)? {
            Some(("access_token", None))
        } else {
            match refresh_tokens::find_refresh_token(c, hash.as_str())? {
                Some((_, grant)) if grant.application_id == app.id => {
                    grants::revoke_grant(c, &grant.id, now)?;
                    Some(("refresh_token", Some(grant.id)))
                }
                _ => None,
            }
        };
        if let Some((kind, grant)) = &what {
            audit::record(
                c,
                &NewAuditEvent {
                    actor: &format!("client:{}", app.client_id),
                    action: "token.revoke",
                    target: &format!("application:{}", app.client_id),
                    summary: json!({ "token_type": kind, "grant": grant }),
                    client_ip: ip.as_deref(),
                },
                now,
            )?;
        }
        Ok(what.is_some())
    })?;
    tracing::debug!(revoked, "revocation request");
    Ok(())
}

/// A JWT access token cannot be revoked by itself (it is self-contained), so revoking one
/// revokes its grant (RFC 7009 §2.1 allows revoking related tokens): introspection and
/// userinfo refuse it and every token of the grant at once. A client-credentials JWT has
/// no grant and stays valid until it expires; another client's token is left alone.
fn revoke_jwt(
    state: &OidcState,
    app: &tessera_store::applications::Application,
    token: &str,
    client_ip: Option<&str>,
    now: i64,
) -> Result<(), OAuthError> {
    let Some(crate::bearer::ActiveToken { mut claims, .. }) = crate::bearer::active_token(state, token, now)? else {
        return Ok(());
    };
    if claims.get("client_id").and_then(serde_json::Value::as_str) != Some(app.client_id.as_str()) {
        return Ok(());
    }
    let Some(serde_json::Value::String(grant_id)) = claims.remove("grant_id") else { return Ok(()) };
    let grant_id = GrantId::from(grant_id);
    state.store.write_transaction(|c| {
        if grants::revoke_grant(c, &grant_id, now)? {
            audit::record(
                c,
                &NewAuditEvent {
                    actor: &format!("client:{}", app.client_id),
                    action: "token.revoke",
                    target: &format!("application:{}", app.client_id),
                    summary: json!({ "token_type": "access_token", "grant": grant_id }),
                    client_ip,
                },
                now,
            )?;
        }
        Ok(())
    })?;
    Ok(())
}
