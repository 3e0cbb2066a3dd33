//! Initial access tokens in the console: list (uses left, expiry, note), issue (the token
//! is shown once), revoke. They let clients register themselves at `/connect/register`
//! (RFC 7591) when the server's `client_registration` setting is `initial_access_token`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use tessera_store::initial_access_tokens;
use tessera_store::{Page as StorePage, Store};

use super::error::{attempt, blocking};
use super::form::FormData;
use super::view::{Cell, Field, Form, Page, Panel, Table};
use super::{Admin, ConsoleError, encode, href, html, see_other, time};
use crate::api::ApiError;
use crate::api::initial_access_tokens::{NewInitialAccessToken, issue, revoke_token};

const SECTION: &str = "initial-access-tokens";

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/initial-access-tokens", web::get().to(list))
        .route("/initial-access-tokens", web::post().to(create))
        .route("/initial-access-tokens/{id}/revoke", web::post().to(revoke));
}

#[derive(Debug, Deserialize)]
pub struct Query {
    after: Option<String>,
    notice: Option<String>,
}

fn token_form(form: Option<&FormData>) -> Form {
    let get = |n: &str, default: &str| form.map(|f| f.text(n)).unwrap_or_else(|| default.to_owned());
    Form::post(
        href(SECTION),
        "Issue token",
        vec![
            Field::number("quota", "Quota", get("quota", "1"))
                .required()
                .help("How many clients may register with it."),
            Field::number("expires_in", "Lifetime (seconds)", get("expires_in", "86400"))
                .required()
                .help("60 to 31536000; 86400 is one day."),
            Field::text("note", "Note", get("note", "")).help("Who it is for, what for."),
        ],
    )
}

async fn list_page(
    admin: &Admin,
    store: web::Data<Store>,
    after: Option<String>,
    form: Form,
) -> Result<Page, ConsoleError> {
    let page_query = StorePage { after, limit: 50 };
    let paged = blocking(move || Ok(store.read_transaction(|c| initial_access_tokens::list(c, &page_query))?)).await?;
    let mut table = Table::new(&["Note", "Id", "Uses left", "Created", "Expires", ""], "No initial access tokens.");
    for t in &paged.items {
        table.rows.push(vec![
            Cell::text(&t.note),
            Cell::mono(&t.id),
            Cell::text(format!("{} of {}", t.uses_left, t.quota)),
            Cell::text(time(t.created_at)),
            Cell::text(time(t.expires_at)),
            Cell::form(
                Form::danger(
                    href(&format!("{SECTION}/{}/revoke", t.id)),
                    "Revoke",
                    format!("Revoke the initial access token {}?", t.id),
                )
                .inline(),
            ),
        ]);
    }
    table.next = paged.next.map(|n| format!("{}?after={}", href(SECTION), encode(&n)));
    let mut page = admin.page("Initial access tokens", SECTION);
    page.panels.push(
        Panel::new("Tokens")
            .intro(
                "Clients register themselves at /connect/register (RFC 7591) with one of these as Authorization: \
                 Bearer <token>, when the server's client_registration setting is initial_access_token. Each \
                 registration spends one use.",
            )
            .table(table),
    );
    page.panels.push(Panel::new("New token").form(form));
    Ok(page)
}

async fn list(admin: Admin, store: web::Data<Store>, query: web::Query<Query>) -> Result<HttpResponse, ConsoleError> {
    let mut page = list_page(&admin, store, query.after.clone(), token_form(None)).await?;
    if query.notice.as_deref() == Some("revoked") {
        page.notice = Some("The token was revoked.".into());
    }
    Ok(html(StatusCode::OK, &page))
}

fn whole(form: &FormData, name: &str) -> Result<Option<i64>, ApiError> {
    form.optional(name)
        .map(|raw| raw.trim().parse::<i64>().map_err(|_| ApiError::invalid(name, "Enter a whole number.")))
        .transpose()
}

async fn create(admin: Admin, store: web::Data<Store>, body: web::Bytes) -> Result<HttpResponse, ConsoleError> {
    let form = admin.form(&body)?;
    let parsed = (|| {
        Ok::<_, ApiError>(NewInitialAccessToken {
            quota: whole(&form, "quota")?,
            expires_in: whole(&form, "expires_in")?,
            note: form.optional("note"),
        })
    })();
    let (who, db) = (admin.clone(), store.clone());
    let outcome = attempt(move || issue(&db, &who, parsed?)).await?;
    match outcome {
        Ok((created, token)) => {
            let mut page = admin.page("Initial access token", SECTION);
            page.has_secret = true;
            page.notice = Some("The token was issued.".into());
            page.panels.push(
                Panel::new("Token")
                    .intro("Give it to the client; it is shown only now (Tessera keeps its SHA-256 hash).")
                    .fact("Id", &created.id)
                    .fact("Quota", created.quota.to_string())
                    .fact("Expires", time(created.expires_at))
                    .secret("Token", token.expose()),
            );
            page.actions.push(super::view::Action { label: "Back to the tokens".into(), href: href(SECTION) });
            Ok(html(StatusCode::OK, &page))
        }
        Err(error) => {
            let f = token_form(Some(&form)).with_error(error.body.field.as_deref(), error.body.message);
            Ok(html(StatusCode::BAD_REQUEST, &list_page(&admin, store, None, f).await?))
        }
    }
}

async fn revoke(
    admin: Admin,
    store: web::Data<Store>,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    admin.form(&body)?;
    let id = id.into_inner();
    let who = admin.clone();
    blocking(move || Ok(revoke_token(&store, &who, &id)?)).await?;
    Ok(see_other(&format!("{}?notice=revoked", href(SECTION))))
}
