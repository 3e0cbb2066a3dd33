//! The token-exchange section of an API connection's page (RFC 8693): the rules saying
//! which application may exchange tokens of which API for tokens to this one, with
//! which scopes, and whether as impersonation. Adding or deleting a rule replaces the
//! whole policy through the management API's one function (`replace_policy`), so the
//! checks and the audit event are the API's.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde_json::Value;
use tessera_domain::{ConnectionId, TokenExchangePolicyInput, TokenExchangeRuleInput};
use tessera_store::Store;
use tessera_store::connections::{self, ApiConnection};

use super::connections::{Failed, respond};
use super::error::{attempt, blocking};
use super::form::FormData;
use super::view::{Cell, Field, Form, Page, Panel, Table};
use super::{Admin, ConsoleError, href, html};
use crate::api::ApiError;
use crate::api::preview::PreviewClaim;
use crate::api::token_exchange::{ExchangePreview, ExchangePreviewBody, preview_exchange, replace_policy};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/connections/{id}/token-exchange", web::post().to(add_rule))
        .route("/connections/{id}/token-exchange/preview", web::post().to(preview))
        .route("/connections/{id}/token-exchange/{index}/delete", web::post().to(delete_rule));
}

/// The section's panels on the connection page at `base`; `failed`: the rule form sent
/// back with its error.
pub fn panels(page: &mut Page, base: &str, connection: &ApiConnection, failed: Option<(&ApiError, &FormData)>) {
    let mut table = Table::new(
        &["Application (client_id)", "Tokens of (source audience)", "Scopes", "Mode", ""],
        "No rules: no application may exchange a token for one to this API.",
    );
    for (i, rule) in connection.token_exchange.rules().iter().enumerate() {
        let mode = if rule.impersonation {
            "impersonation allowed (no act unless an actor_token is sent)"
        } else {
            "delegation (act records the caller)"
        };
        table.rows.push(vec![
            Cell::mono(rule.client_id.as_str()),
            Cell::mono(&rule.source_audience),
            Cell::mono(rule.scopes.to_string()),
            Cell::text(mode),
            Cell::form(
                Form::danger(
                    format!("{base}/token-exchange/{i}/delete"),
                    "Delete",
                    format!("Delete the rule for {} and tokens of {}?", rule.client_id, rule.source_audience),
                )
                .inline(),
            ),
        ]);
    }
    page.panels.push(
        Panel::new("Token exchange (RFC 8693)")
            .intro(format!(
                "An API that received a user's token may exchange it, through an application with the \
                 token-exchange grant, for a token to {} (urn:ietf:params:oauth:grant-type:token-exchange at \
                 /connect/token). Each rule allows one application and tokens issued for one API.",
                connection.name
            ))
            .table(table),
    );
    let typed = |name: &str| failed.map(|(_, f)| f.text(name)).unwrap_or_default();
    let mut add = Form::post(
        format!("{base}/token-exchange"),
        "Add rule",
        vec![
            Field::text("client_id", "Application (client_id)", typed("client_id"))
                .required()
                .help("The application the calling API uses; it needs the token-exchange grant."),
            Field::text("source_audience", "Tokens of (source audience)", typed("source_audience"))
                .required()
                .help("The API connection the presented token must have been issued for."),
            Field::text("scopes", "Scopes", typed("scopes"))
                .required()
                .help(format!("Space-separated scopes of {} the exchanged token may carry.", connection.name)),
            Field::checkbox(
                "impersonation",
                "Allow impersonation",
                failed.is_some_and(|(_, f)| f.checked("impersonation")),
            )
            .help("Without an actor_token the token then carries no act claim: the caller acts as the user."),
        ],
    );
    if let Some((error, _)) = failed {
        add = add.with_error(error.body.field.as_deref().map(form_field), error.body.message.clone());
    }
    page.panels.push(Panel::new("Add a token-exchange rule").form(add));
    if !connection.token_exchange.is_empty() {
        page.panels.push(Panel::new("Preview an exchanged token").form(preview_form(base, &FormData::default())));
    }
}

fn preview_form(base: &str, typed: &FormData) -> Form {
    // Named apart from the rule form's fields: both are on the connection's page.
    Form::post(
        format!("{base}/token-exchange/preview"),
        "Preview",
        vec![
            Field::text("preview_client_id", "Application (client_id)", typed.text("preview_client_id")).required(),
            Field::text("preview_user_id", "User id", typed.text("preview_user_id"))
                .required()
                .help("The user whose token the calling API received."),
            Field::text(
                "preview_source_audience",
                "Tokens of (source audience)",
                typed.text("preview_source_audience"),
            )
            .help("Default: the source of the application's first rule."),
            Field::text("preview_scope", "Scope", typed.text("preview_scope"))
                .help("Space-separated; empty: the rule's scopes."),
        ],
    )
}

fn claims_table(claims: &[PreviewClaim]) -> Table {
    let mut table = Table::new(&["Claim", "Value", "Source"], "No claims.");
    for claim in claims {
        let value = match &claim.value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        table.rows.push(vec![Cell::mono(&claim.name), Cell::mono(value), Cell::text(claim.source)]);
    }
    table
}

/// The preview page: the form again, and the token and introspection answer (or the
/// refusal beside its field).
async fn preview(
    admin: Admin,
    store: web::Data<Store>,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    let id = ConnectionId::from(id.into_inner());
    let form = admin.form(&body)?;
    let optional = |name: &str| Some(form.text(name)).filter(|v| !v.trim().is_empty());
    let input = ExchangePreviewBody {
        client_id: form.text("preview_client_id"),
        user_id: form.text("preview_user_id"),
        source_audience: optional("preview_source_audience"),
        scope: optional("preview_scope"),
    };
    let (who, db, cid) = (admin.clone(), store.clone(), id.clone());
    let result: Result<ExchangePreview, ApiError> = attempt(move || preview_exchange(&db, &who, &cid, &input)).await?;
    let base = href(&format!("connections/{id}"));
    let mut page = admin.page("Token exchange preview", "connections");
    let mut again = preview_form(&base, &form);
    let status = match &result {
        Ok(_) => StatusCode::OK,
        Err(error) => {
            let field = error.body.field.as_deref().map(|f| format!("preview_{f}"));
            again = again.with_error(field.as_deref(), error.body.message.clone());
            StatusCode::BAD_REQUEST
        }
    };
    page.panels.push(
        Panel::new("")
            .intro(
                "The access token this application would get by exchanging a fresh token of the user issued for \
                 the source API, as the token endpoint builds it; recorded in the audit log.",
            )
            .form(again),
    );
    if let Ok(preview) = result {
        let mode =
            if preview.impersonation { "impersonation allowed: no act without an actor_token" } else { "delegation" };
        page.panels.push(
            Panel::new("Outcome")
                .fact("Target", &preview.connection)
                .fact("Source audience", &preview.source_audience)
                .fact("Scope", &preview.scope)
                .fact("Mode", mode),
        );
        page.panels.push(Panel::new("Access token").table(claims_table(&preview.access_token)));
        page.panels.push(
            Panel::new(format!("Introspection by {}", preview.connection)).table(claims_table(&preview.introspection)),
        );
    }
    Ok(html(status, &page))
}

/// The form's field for an API error's `rules[i].field`.
fn form_field(field: &str) -> &str {
    field.rsplit('.').next().unwrap_or(field)
}

/// The policy as given again, to change and replace.
fn current_input(connection: &ApiConnection) -> TokenExchangePolicyInput {
    let rules = connection
        .token_exchange
        .rules()
        .iter()
        .map(|r| TokenExchangeRuleInput {
            client_id: r.client_id.to_string(),
            source_audience: r.source_audience.clone(),
            scopes: r.scopes.iter().map(|s| s.as_str().to_owned()).collect(),
            impersonation: r.impersonation,
        })
        .collect();
    TokenExchangePolicyInput { rules }
}

async fn add_rule(
    admin: Admin,
    store: web::Data<Store>,
    signing: web::Data<crate::api::TokenSigning>,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    let id = ConnectionId::from(id.into_inner());
    let form = admin.form(&body)?;
    let rule = TokenExchangeRuleInput {
        client_id: form.text("client_id"),
        source_audience: form.text("source_audience"),
        scopes: form.text("scopes").split_whitespace().map(str::to_owned).collect(),
        impersonation: form.checked("impersonation"),
    };
    let (who, db, cid) = (admin.clone(), store.clone(), id.clone());
    let outcome = attempt(move || {
        let connection = db.read_transaction(|c| connections::get(c, &cid))?;
        let mut input = current_input(&connection);
        input.rules.push(rule);
        replace_policy(&db, &who, &cid, input)
    })
    .await?;
    respond(&admin, store, signing, id, outcome.map(drop).map_err(|e| Failed::Exchange(e, form)), "rule_added").await
}

async fn delete_rule(
    admin: Admin,
    store: web::Data<Store>,
    signing: web::Data<crate::api::TokenSigning>,
    path: web::Path<(String, usize)>,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    admin.form(&body)?;
    let (id, index) = path.into_inner();
    let id = ConnectionId::from(id);
    let (who, db, cid) = (admin.clone(), store.clone(), id.clone());
    let outcome = blocking(move || {
        let connection = db.read_transaction(|c| connections::get(c, &cid))?;
        let mut input = current_input(&connection);
        if index < input.rules.len() {
            input.rules.remove(index);
            replace_policy(&db, &who, &cid, input)?;
        }
        Ok(())
    })
    .await;
    outcome?;
    respond(&admin, store, signing, id, Ok(()), "rule_deleted").await
}

/// Shown after a change.
pub fn notice(code: &str) -> Option<&'static str> {
    match code {
        "rule_added" => Some("The token-exchange rule was added."),
        "rule_deleted" => Some("The token-exchange rule was deleted."),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_api_error_field_maps_to_the_form_field() {
        assert_eq!(form_field("rules[3].source_audience"), "source_audience");
        assert_eq!(form_field("rules"), "rules");
    }
}
