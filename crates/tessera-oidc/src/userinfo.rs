//! The UserInfo endpoint (OIDC Core §5.3): `sub` and the claims of the identity scopes
//! the access token was granted, with the user's current values, and the grant's custom
//! claims declared for userinfo; for JWT and reference tokens alike. Errors per RFC 6750
//! §3: 401 `invalid_token` with `WWW-Authenticate`, 403 `insufficient_scope` without
//! `openid`, 400 `invalid_request` for a malformed request.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, CacheControl, CacheDirective};
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};
use tessera_claims::IssuedClaims;
use tessera_domain::{AllowedScopes, IdentityClaims, Output, ScopeSet, claims_for_userinfo, resolve_requested_lenient};
use tessera_store::{StoreError, users};

use crate::bearer::{ActiveToken, active_token, bearer_token};
use crate::form::Params;
use crate::state::{OidcState, now};

fn challenge(status: StatusCode, error: &'static str, description: &'static str) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((
            header::WWW_AUTHENTICATE,
            format!("Bearer realm=\"tessera\", error=\"{error}\", error_description=\"{description}\""),
        ))
        .insert_header(CacheControl(vec![CacheDirective::NoStore]))
        .insert_header(crate::cors::ALLOW_ANY_ORIGIN)
        .insert_header((header::ACCESS_CONTROL_EXPOSE_HEADERS, "WWW-Authenticate"))
        .json(json!({ "error": error, "error_description": description }))
}

/// `GET /connect/userinfo`.
pub(crate) async fn userinfo_get(request: HttpRequest, state: web::Data<OidcState>) -> HttpResponse {
    answer(request, state, None).await
}

/// `POST /connect/userinfo`: the token in the header or in the form body.
pub(crate) async fn userinfo_post(request: HttpRequest, body: web::Bytes, state: web::Data<OidcState>) -> HttpResponse {
    let is_form = request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|ct| {
        ct.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case("application/x-www-form-urlencoded")
    });
    let form = if is_form {
        match Params::parse(&body) {
            Ok(form) => Some(form),
            Err(_) => return challenge(StatusCode::BAD_REQUEST, "invalid_request", "the form body is malformed"),
        }
    } else {
        None
    };
    answer(request, state, form).await
}

async fn answer(request: HttpRequest, state: web::Data<OidcState>, form: Option<Params>) -> HttpResponse {
    let token = match bearer_token(&request, form.as_ref()) {
        Ok(Some(token)) => token,
        Ok(None) => {
            return HttpResponse::Unauthorized()
                .insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"tessera\""))
                .insert_header(CacheControl(vec![CacheDirective::NoStore]))
                .insert_header(crate::cors::ALLOW_ANY_ORIGIN)
                .insert_header((header::ACCESS_CONTROL_EXPOSE_HEADERS, "WWW-Authenticate"))
                .finish();
        }
        Err(problem) => return challenge(StatusCode::BAD_REQUEST, "invalid_request", problem),
    };
    let state = state.into_inner();
    let result = web::block(move || lookup(&state, &token)).await;
    match result {
        Ok(Ok(Answer::Claims(body))) => HttpResponse::Ok()
            .insert_header(CacheControl(vec![CacheDirective::NoStore]))
            .insert_header(crate::cors::ALLOW_ANY_ORIGIN)
            .json(body),
        Ok(Ok(Answer::Refused(status, error, description))) => challenge(status, error, description),
        Ok(Err(StoreError::Unavailable(_))) | Err(_) => HttpResponse::ServiceUnavailable().finish(),
        Ok(Err(error)) => {
            tracing::error!(%error, "userinfo failed");
            HttpResponse::InternalServerError().finish()
        }
    }
}

/// What userinfo answers, decided on a blocking thread.
enum Answer {
    Claims(serde_json::Map<String, Value>),
    Refused(StatusCode, &'static str, &'static str),
}

fn lookup(state: &OidcState, token: &str) -> Result<Answer, StoreError> {
    let now = now();
    let ActiveToken { claims, issued } = match active_token(state, token, now) {
        Ok(Some(active)) => active,
        Ok(None) => {
            return Ok(Answer::Refused(StatusCode::UNAUTHORIZED, "invalid_token", "the access token is not valid"));
        }
        Err(_) => return Err(StoreError::Unavailable("token lookup".into())),
    };
    let scope = ScopeSet::parse(claims.get("scope").and_then(Value::as_str).unwrap_or("")).unwrap_or_default();
    if !scope.has_openid() {
        return Ok(Answer::Refused(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            "the access token was not granted openid",
        ));
    }
    let Some(sub) = claims.get("sub").and_then(Value::as_str) else {
        return Ok(Answer::Refused(StatusCode::UNAUTHORIZED, "invalid_token", "the access token has no subject"));
    };
    let config = state.store.config()?;
    // The user and their values: two statements with no need of one snapshot between
    // them (a value changed in between is as current as either), so no transaction.
    let body = state.store.query(|c| {
        let user = match users::get(c, sub) {
            Ok(user) if !user.disabled => user,
            _ => return Ok(None),
        };
        let values = users::claim_values(c, &user)?;
        // The token's own identity scopes, as the catalogue defines their claims now.
        let allowed = AllowedScopes { identity: scope.clone(), api: ScopeSet::new(), offline_access: false };
        let resolved = resolve_requested_lenient(&scope, config.catalog(), &allowed);
        let identity = IdentityClaims { sub: &user.id, user_values: &values, scopes: &resolved.identity };
        let mut body = claims_for_userinfo(&identity);
        // The grant's custom claims declared for userinfo, as its latest issuance set
        // them (so they agree with the ID token and access token issued with them).
        IssuedClaims::merge_into(&mut body, issued.output(Output::Userinfo));
        Ok(Some(body))
    })?;
    Ok(match body {
        Some(body) => Answer::Claims(body),
        None => Answer::Refused(StatusCode::UNAUTHORIZED, "invalid_token", "the access token's user no longer exists"),
    })
}
