//! Recovery codes on the account page: `POST /account/security/recovery-codes` (the
//! current password unless the sign-in is recent) makes ten new codes, replaces the old
//! set (which stops working at once), and shows the new codes on the answer itself,
//! once (`no-store`: only their hashes are kept). Audited `user.recovery_codes_generated`
//! and mailed.

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde_json::json;
use tessera_factors::recovery_codes;
use tessera_store::StoreResult;
use tessera_store::factors::recovery_codes as stored;

use super::super::{Account, Submitted, signed_in, to_sign_in};
use super::{Answer, Change, prove, record, refuse};
use crate::state::OidcState;
use crate::view::Deferred;

/// `templates/account/security_recovery_codes.html`: the new codes, shown once.
#[derive(Template)]
#[template(path = "account/security_recovery_codes.html")]
pub struct RecoveryCodesPage {
    pub username: String,
    pub issuer_name: String,
    pub codes: Vec<String>,
}

/// `POST /account/security/recovery-codes`.
pub(crate) async fn generate(request: HttpRequest, body: web::Bytes, state: web::Data<OidcState>) -> HttpResponse {
    super::change(request, body, state, make).await
}

fn make(state: &OidcState, submitted: &Submitted, account: Account, now: i64) -> StoreResult<Answer> {
    let form = &submitted.form;
    let client_ip = submitted.client_ip.as_deref();
    let proof = match prove(state, &account, form.get("current_password"), client_ip, "recovery_codes_generated", now)?
    {
        Ok(proof) => proof,
        Err(r) => {
            let page = refuse(state, &account, r.status, r.retry_after, |p| p.recovery_codes = Some(r.message), now)?;
            return Ok((page, false));
        }
    };
    let codes = recovery_codes::generate();
    let hashes: Vec<String> = codes.iter().map(|c| c.hash().as_str().to_owned()).collect();
    let written = state.store.write_transaction(|c| {
        proof.settle(c)?;
        let Some(account) = signed_in(c, state, submitted.cookie.as_deref(), now)? else { return Ok(None) };
        let replaced = stored::count_left(c, &account.user.id)?;
        let refs: Vec<&str> = hashes.iter().map(String::as_str).collect();
        stored::replace(c, &account.user.id, &refs, now)?;
        let change = Change {
            action: "user.recovery_codes_generated",
            summary: json!({ "count": refs.len(), "unused_replaced": replaced, "page": "account" }),
            factor: "A new set of recovery codes (the old ones no longer work)",
            added: true,
        };
        record(c, state, &account.user, &change, client_ip, now).map(Some)
    })?;
    let Some(queued) = written else { return Ok((to_sign_in(), false)) };
    let page = RecoveryCodesPage {
        username: account.user.username.clone(),
        issuer_name: state.factors.issuer_name.clone(),
        codes: codes.iter().map(|c| c.expose().to_owned()).collect(),
    };
    Ok((Deferred::page(page), queued))
}
