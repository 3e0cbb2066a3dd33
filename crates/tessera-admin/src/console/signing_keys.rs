//! Signing keys in the console: every key with its state, and rotation. A rotated key
//! is published at once and signs after the activation delay, so every node and every
//! verifier has it first; "activate now" is for a compromised key.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use tessera_domain::SigningAlgorithm;
use tessera_store::Store;
use tessera_store::keys;

use super::error::blocking;
use super::view::{Cell, Choice, Field, Form, Page, Panel, Table};
use super::{Admin, ConsoleError, KeyRotation, href, html, see_other, time};
use crate::api::changes::Actor;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/signing-keys", web::get().to(list)).route("/signing-keys/rotate", web::post().to(rotate));
}

#[derive(Debug, Deserialize)]
pub struct Query {
    notice: Option<String>,
}

async fn page(admin: &Admin, store: web::Data<Store>, form: Form) -> Result<Page, ConsoleError> {
    let all = blocking(move || Ok(store.read_transaction(keys::list)?)).await?;
    let mut table =
        Table::new(&["Key id (kid)", "Algorithm", "State", "Created", "Activated", "Published until"], "No keys.");
    for k in &all {
        table.rows.push(vec![
            Cell::mono(&k.kid),
            Cell::text(&k.alg),
            Cell::text(k.state.as_str()),
            Cell::text(time(k.created_at)),
            Cell::text(k.activated_at.map(time).unwrap_or_default()),
            Cell::text(k.publish_until.map(time).unwrap_or_else(|| "while in use".into())),
        ]);
    }
    let mut page = admin.page("Signing keys", "signing-keys");
    page.panels.push(
        Panel::new("Keys")
            .intro("Every key able to verify a live token is published in the JWKS; private keys are encrypted with the master key and never shown.")
            .table(table),
    );
    page.panels.push(Panel::new("Rotate").form(form));
    Ok(page)
}

fn rotate_form() -> Form {
    Form {
        confirm: Some("Rotate the signing key?".into()),
        ..Form::post(
            href("signing-keys/rotate"),
            "Rotate",
            vec![
                Field::select(
                    "alg",
                    "Algorithm",
                    SigningAlgorithm::ALL.iter().map(|a| Choice::new(a.as_str(), a.as_str(), *a == SigningAlgorithm::default())).collect(),
                ),
                Field::checkbox("now", "Activate now (a compromised key)", false).help(
                    "Otherwise the new key is published first and signs after the activation delay, so no verifier meets an unknown kid.",
                ),
            ],
        )
    }
}

async fn list(admin: Admin, store: web::Data<Store>, query: web::Query<Query>) -> Result<HttpResponse, ConsoleError> {
    let mut page = page(&admin, store, rotate_form()).await?;
    if query.notice.as_deref() == Some("rotated") {
        page.notice = Some("A new key was created; it is published now.".into());
    }
    Ok(html(StatusCode::OK, &page))
}

async fn rotate(
    admin: Admin,
    store: web::Data<Store>,
    rotation: web::Data<KeyRotation>,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    let form = admin.form(&body)?;
    let Ok(alg) = SigningAlgorithm::parse(&form.text("alg")) else {
        let f = rotate_form().with_error(Some("alg"), "Choose ES256, RS256 or EdDSA.");
        return Ok(html(StatusCode::BAD_REQUEST, &page(&admin, store, f).await?));
    };
    let now = form.checked("now");
    let actor = admin.actor();
    let rotation = rotation.into_inner();
    match blocking(move || Ok((rotation.0)(alg, now, &actor))).await? {
        Ok(_) => Ok(see_other(&format!("{}?notice=rotated", href("signing-keys")))),
        Err(message) => {
            tracing::error!(%message, "signing key rotation failed");
            Err(ConsoleError::Internal)
        }
    }
}
