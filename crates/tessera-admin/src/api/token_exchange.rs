//! `/api/v1/connections/{id}/token-exchange`: the RFC 8693 token-exchange policy of an
//! API connection, the target of exchanges (see `docs/resource-servers.md`). Empty by
//! default: no application may exchange a token for one to this API. Replaced as a
//! whole; every change is audited with the rules before and after.

use std::collections::HashSet;

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tessera_domain::token_exchange::{act_for, exchanged_token_claims};
use tessera_domain::{
    AccessTokenFacts, ConnectionId, ExchangeRefusal, GrantId, GrantType, PolicyContext, ScopeSet, ScopeToken,
    TokenExchangePolicy, TokenExchangePolicyInput, UserId, introspection_answer,
};
use tessera_store::connections::{self, ApiConnection};
use tessera_store::{Store, StoreError, applications, scopes, token_exchange_policies, users};
use utoipa::ToSchema;

use super::auth::Caller;
use super::body::{self, blocking};
use super::changes::{self, Actor};
use super::error::ApiError;
use super::preview::PreviewClaim;
use super::scripts::sample;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/connections/{id}/token-exchange", web::get().to(get))
        .route("/connections/{id}/token-exchange", web::put().to(replace))
        .route("/connections/{id}/token-exchange/preview", web::post().to(preview));
}

/// One rule of a connection's token-exchange policy.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenExchangeRuleView {
    /// The application that may exchange.
    pub client_id: String,
    /// The API connection the presented token must have been issued for.
    pub source_audience: String,
    /// The scopes of this connection the exchanged token may carry.
    pub scopes: Vec<String>,
    /// Whether tokens issued under this rule leave out `act` when no actor is named.
    pub impersonation: bool,
}

/// A connection's token-exchange policy.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenExchangePolicyView {
    /// The connection (the audience of the exchanged tokens).
    pub connection: String,
    pub rules: Vec<TokenExchangeRuleView>,
}

pub fn view(connection: &ApiConnection) -> TokenExchangePolicyView {
    TokenExchangePolicyView {
        connection: connection.name.clone(),
        rules: connection
            .token_exchange
            .rules()
            .iter()
            .map(|r| TokenExchangeRuleView {
                client_id: r.client_id.to_string(),
                source_audience: r.source_audience.clone(),
                scopes: r.scopes.iter().map(|s| s.as_str().to_owned()).collect(),
                impersonation: r.impersonation,
            })
            .collect(),
    }
}

fn summary(policy: &TokenExchangePolicy) -> Value {
    serde_json::to_value(policy).unwrap_or(Value::Null)
}

#[utoipa::path(get, path = "/api/v1/connections/{id}/token-exchange", tag = "connections",
    params(("id" = String, Path)),
    responses((status = 200, body = TokenExchangePolicyView), (status = 404, body = super::ErrorBody)))]
pub async fn get(store: web::Data<Store>, _caller: Caller, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = ConnectionId::from(id.into_inner());
    let found = blocking(move || Ok(store.read_transaction(|c| connections::get(c, &id))?)).await?;
    Ok(HttpResponse::Ok().json(view(&found)))
}

/// Replaces the policy: each rule names an existing application, an existing source
/// connection and scopes of this connection (400 naming `rules[i].field` otherwise).
#[utoipa::path(put, path = "/api/v1/connections/{id}/token-exchange", tag = "connections",
    params(("id" = String, Path)), request_body = TokenExchangePolicyInput,
    responses((status = 200, body = TokenExchangePolicyView), (status = 404, body = super::ErrorBody)))]
pub async fn replace(
    store: web::Data<Store>,
    caller: Caller,
    id: web::Path<String>,
    bytes: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let id = ConnectionId::from(id.into_inner());
    let input: TokenExchangePolicyInput = body::parse(&bytes)?;
    let updated = blocking(move || replace_policy(&store, &caller, &id, input)).await?;
    Ok(HttpResponse::Ok().json(view(&updated)))
}

/// Checks and stores connection `id`'s new policy, audited as
/// `connection.token_exchange_policy` with the rules before and after. Shared by the
/// API and the console.
pub fn replace_policy(
    store: &Store,
    who: &dyn Actor,
    id: &ConnectionId,
    input: TokenExchangePolicyInput,
) -> Result<ApiConnection, ApiError> {
    let now = super::now();
    Ok(store.write_transaction(|c| {
        let before = connections::get(c, id)?;
        let target_scopes: ScopeSet =
            scopes::scopes_of_connection(c, id)?.into_iter().filter_map(|s| ScopeToken::parse(&s.name).ok()).collect();
        let clients: HashSet<String> = applications::all(c)?.into_iter().map(|a| a.client_id.to_string()).collect();
        let names: HashSet<String> = connections::all(c)?.into_iter().map(|c| c.name).collect();
        let context = PolicyContext {
            target_scopes: &target_scopes,
            is_client: &|client| clients.contains(client),
            is_connection: &|name| names.contains(name),
        };
        let policy = input.into_policy(&context).map_err(|e| StoreError::invalid(e.field, e.message))?;
        let after = token_exchange_policies::replace(c, id, &policy, now)?;
        let summary = json!({ "before": summary(&before.token_exchange), "after": summary(&policy) });
        let target = format!("connection:{}", after.name);
        changes::record(c, who, "connection.token_exchange_policy", &target, summary, now)?;
        Ok(after)
    })?)
}

/// What to preview: the token `client_id` would get by exchanging a token of `user_id`
/// issued for `source_audience`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExchangePreviewBody {
    /// The application that would exchange.
    pub client_id: String,
    /// The user the subject token is of.
    pub user_id: String,
    /// The API the subject token was issued for; default: that of the application's
    /// first rule.
    pub source_audience: Option<String>,
    /// The scopes asked for, space-separated; default: the rule's.
    pub scope: Option<String>,
}

/// The token an exchange would issue, every claim labelled `registered` (no custom
/// claims are added to exchanged tokens), and this connection's introspection answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExchangePreview {
    pub connection: String,
    pub client_id: String,
    pub user_id: String,
    pub source_audience: String,
    pub scope: String,
    /// Whether the rule lets the token go without `act` (no actor token sent).
    pub impersonation: bool,
    pub access_token: Vec<PreviewClaim>,
    pub introspection: Vec<PreviewClaim>,
}

/// Previews the token an exchange under this connection's policy would issue (the
/// subject token taken as a fresh, first-hop token of the user), or the refusal as a
/// 400 naming the field; audited as `token.preview`.
#[utoipa::path(post, path = "/api/v1/connections/{id}/token-exchange/preview", tag = "connections",
    params(("id" = String, Path)), request_body = ExchangePreviewBody,
    responses((status = 200, body = ExchangePreview), (status = 400, body = super::ErrorBody),
        (status = 404, body = super::ErrorBody)))]
pub async fn preview(
    store: web::Data<Store>,
    caller: Caller,
    id: web::Path<String>,
    bytes: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let id = ConnectionId::from(id.into_inner());
    let input: ExchangePreviewBody = body::parse(&bytes)?;
    let result = blocking(move || preview_exchange(&store, &caller, &id, &input)).await?;
    Ok(HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(result))
}

/// Computes the preview with the token endpoint's own functions
/// (`tessera_domain::token_exchange`). Shared by the API and the console.
pub fn preview_exchange(
    store: &Store,
    who: &dyn Actor,
    id: &ConnectionId,
    input: &ExchangePreviewBody,
) -> Result<ExchangePreview, ApiError> {
    let config = store.config()?;
    let connection = config
        .connections()
        .iter()
        .find(|c| &c.id == id)
        .ok_or_else(|| ApiError::not_found("API connection not found"))?;
    let client_id = input.client_id.trim();
    let app = config
        .application_by_client_id(client_id)
        .ok_or_else(|| ApiError::invalid("client_id", "no application has this client_id"))?;
    if !app.settings.grant_types.contains(&GrantType::TokenExchange) {
        return Err(ApiError::invalid(
            "client_id",
            "the application does not have the token-exchange grant: it would get unauthorized_client",
        ));
    }
    let user_id = UserId::from(input.user_id.trim().to_owned());
    let user = store.read_transaction(|c| users::find(c, &user_id))?;
    match user {
        None => return Err(ApiError::invalid("user_id", "no such user")),
        Some(user) if user.disabled => {
            return Err(ApiError::invalid("user_id", "the user is disabled: their tokens are not active"));
        }
        Some(_) => {}
    }
    let policy = &connection.token_exchange;
    let source = match input.source_audience.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(source) => source.to_owned(),
        None => policy
            .rules()
            .iter()
            .find(|r| r.client_id.as_str() == client_id)
            .map(|r| r.source_audience.clone())
            .unwrap_or_default(),
    };
    let requested = match input.scope.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(scope) => ScopeSet::parse(scope).map_err(|e| ApiError::invalid("scope", e.to_string()))?,
        None => ScopeSet::new(),
    };
    let grant = policy.decide(client_id, &[source.as_str()], &requested).map_err(|refusal| {
        let field = match refusal {
            ExchangeRefusal::NoRuleForClient => "client_id",
            ExchangeRefusal::SourceNotAllowed => "source_audience",
            ExchangeRefusal::ScopeNotAllowed { .. } => "scope",
        };
        ApiError::invalid(field, format!("{} ({})", refusal, refusal.oauth_error_code()))
    })?;
    let act = act_for(grant.rule, None, client_id, None).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let now = super::now();
    let audience = [connection.name.clone()];
    let amr = vec!["pwd".to_owned()];
    let claims = exchanged_token_claims(
        &AccessTokenFacts {
            issuer: sample::ISSUER,
            subject: user_id.as_str(),
            audience: &audience,
            client_id: &app.client_id,
            scope: &grant.scope,
            issued_at: now,
            expires_at: now + app.settings.lifetimes.access_token,
            jti: "(token id)",
            auth_time: Some(now),
            amr: &amr,
            sid: None,
            grant_id: Some(&GrantId::from("(the subject token's grant id)")),
            machine: false,
        },
        act.as_ref(),
    );
    let answer = introspection_answer(claims.clone(), &grant.scope.to_string());
    let labelled = |claims: &serde_json::Map<String, Value>| -> Vec<PreviewClaim> {
        claims
            .iter()
            .map(|(name, value)| PreviewClaim {
                name: name.clone(),
                value: value.clone(),
                source: "registered",
                mapping_id: None,
                global: None,
            })
            .collect()
    };
    let preview = ExchangePreview {
        connection: connection.name.clone(),
        client_id: client_id.to_owned(),
        user_id: user_id.as_str().to_owned(),
        source_audience: source,
        scope: grant.scope.to_string(),
        impersonation: grant.rule.impersonation,
        access_token: labelled(&claims),
        introspection: labelled(&answer),
    };
    let summary = json!({ "exchange": true, "connection": preview.connection, "client_id": preview.client_id,
                          "user_id": preview.user_id, "scope": preview.scope });
    store.write_transaction(|c| {
        changes::record(c, who, "token.preview", &format!("connection:{}", preview.connection), summary, now)
    })?;
    Ok(preview)
}
