//! Answers to the client at its validated redirect URI: the code or an error, with
//! `state` and `iss` (RFC 9207) every time, by redirect (`query`, 303) or by an
//! auto-submitted form (`form_post`).

use actix_web::HttpResponse;
use actix_web::http::header;

use super::request::{Refusal, ReplyTo, ResponseMode};
use crate::pages::{self, FormPostPage};
use crate::view::Deferred;

/// Sends `fields` plus `state` and `iss` to the client.
pub fn reply(reply_to: &ReplyTo, issuer: &str, mut fields: Vec<(String, String)>) -> Deferred {
    if let Some(state) = &reply_to.state {
        fields.push(("state".into(), state.clone()));
    }
    fields.push(("iss".into(), issuer.to_owned()));
    match reply_to.response_mode {
        ResponseMode::FormPost => {
            let page = FormPostPage { action: reply_to.redirect_uri.clone(), fields };
            Deferred::new(move || pages::form_post(&page))
        }
        ResponseMode::Query => {
            let location = match url::Url::parse(&reply_to.redirect_uri) {
                Ok(mut url) => {
                    url.query_pairs_mut().extend_pairs(fields.iter().map(|(k, v)| (k.as_str(), v.as_str())));
                    url.to_string()
                }
                Err(_) => reply_to.redirect_uri.clone(),
            };
            see_other(&location)
        }
    }
}

/// RFC 6749 §4.1.2.1: the error, its description and `state`.
pub fn refuse(reply_to: &ReplyTo, issuer: &str, refusal: &Refusal) -> Deferred {
    reply(
        reply_to,
        issuer,
        vec![("error".into(), refusal.error.to_owned()), ("error_description".into(), refusal.description.clone())],
    )
}

/// 303 See Other: a POST that carried credentials is never answered with 307.
pub fn see_other(location: &str) -> Deferred {
    let location = location.to_owned();
    Deferred::new(move || {
        HttpResponse::SeeOther()
            .insert_header((header::LOCATION, location))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .finish()
    })
}
