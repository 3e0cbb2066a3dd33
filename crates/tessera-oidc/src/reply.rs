//! Answers to the client at its validated redirect URI: the code or an error, with
//! `state` and `iss` (RFC 9207) every time, by redirect (`query`, 303) or by an
//! auto-submitted form (`form_post`).

use serde::{Deserialize, Serialize};

use crate::pages::{self, FormPostPage};
use crate::view::{Deferred, see_other};

/// OAuth 2.0 Multiple Response Type Encoding Practices / Form Post Response Mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseMode {
    Query,
    FormPost,
}

/// Where and how to answer the client: known once the client and redirect URI checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyTo {
    pub redirect_uri: String,
    pub response_mode: ResponseMode,
    pub state: Option<String>,
}

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
