//! `fetch` for claims scripts (rule 7): only to allow-listed hosts, only to public addresses
//! unless the admin listed the IP literal, no redirects followed, bounded in time and size.
//!
//! The request is made synchronously when the script calls `fetch` (the returned promise is
//! already settled). QuickJS cannot interrupt a native call, so the request's timeout is cut to
//! the time left before the run's deadline: the wall-time limit still holds.

mod client;
pub(crate) mod policy;

use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rquickjs::{Ctx, Exception, Function, Object};
use url::Url;

pub(crate) use client::LazyClient;
use client::{FetchRequest, FetchResponse};
use policy::FetchPolicy;

use super::globals;
use super::outcome::truncate;
use super::sandbox::RunState;

/// What `fetch` may do during one run.
#[derive(Clone)]
pub(crate) struct FetchScope {
    pub policy: FetchPolicy,
    pub client: Arc<LazyClient>,
    pub timeout: Duration,
    pub max_body: usize,
}

/// The native half of `fetch`, handed to the prelude: `(url, method, [name, value, ...], body?)`
/// returns `{status, statusText, url, headers: [[name, value]...], body}` or throws a
/// `TypeError`, which the prelude's async `fetch` turns into a rejected promise.
pub(crate) fn native_function<'js>(ctx: &Ctx<'js>, state: Rc<RunState>) -> rquickjs::Result<Function<'js>> {
    globals::native(
        ctx,
        move |ctx: Ctx<'js>, url: String, method: String, headers: Vec<String>, body: Option<String>| {
            let response = perform(&state, &url, method, headers, body)
                .map_err(|message| Exception::throw_type(&ctx, &message))?;
            response_object(&ctx, response)
        },
    )
}

fn perform(
    state: &RunState,
    url: &str,
    method: String,
    headers: Vec<String>,
    body: Option<String>,
) -> Result<FetchResponse, String> {
    let scope = state.fetch_scope().ok_or("fetch is only available while a claims script runs")?;
    if !scope.policy.is_enabled() {
        return Err("fetch is disabled: no hosts are allowed for custom claims scripts".to_owned());
    }
    let shown = truncate(url, 200);
    // Not echoed: a string that is not a URL may still hold a key in what looks like a query,
    // and the message can reach the audit log (finding 18).
    let url = Url::parse(url).map_err(|error| format!("fetch: invalid URL: {error}"))?;
    scope.policy.admit(&url).map_err(|reason| format!("fetch to {shown} refused: {reason}"))?;
    let remaining =
        state.deadline().map_or(Duration::ZERO, |deadline| deadline.saturating_duration_since(Instant::now()));
    if remaining.is_zero() {
        return Err(format!("fetch to {shown} refused: the script has no time left"));
    }
    let headers = headers
        .chunks(2)
        .map(|pair| match pair {
            [name, value] => Ok((name.clone(), value.clone())),
            _ => Err("fetch: headers must be name/value pairs".to_owned()),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let request = FetchRequest { url, method, headers, body };
    scope
        .client
        .get()?
        .send(request, scope.timeout.min(remaining), scope.max_body)
        .map_err(|error| format!("fetch to {shown} failed: {error}"))
}

fn response_object<'js>(ctx: &Ctx<'js>, response: FetchResponse) -> rquickjs::Result<Object<'js>> {
    let object = Object::new(ctx.clone())?;
    object.set("status", response.status)?;
    object.set("statusText", response.status_text)?;
    object.set("url", response.url)?;
    let headers: Vec<Vec<String>> = response.headers.into_iter().map(|(name, value)| vec![name, value]).collect();
    object.set("headers", headers)?;
    object.set("body", response.body)?;
    Ok(object)
}
