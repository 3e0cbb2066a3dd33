//! Reading requests: JSON bodies (unknown fields refused, every error naming its field),
//! query strings, path segments and pagination; running store work off the async threads.

use actix_web::{HttpRequest, web};
use serde::de::{DeserializeOwned, Deserializer};
use serde::{Deserialize, Serialize};
use tessera_store::{Page, Paged};
use utoipa::{IntoParams, ToSchema};

use super::error::ApiError;

/// Largest JSON body accepted, in bytes (a JWK Set or metadata object fits easily).
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// Parses a JSON body. Errors name the field: `missing field` and `unknown field` name
/// the field itself, type errors the path to the value (`redirect_uris[2]`).
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("a JSON body is required"));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let path = e.path().to_string();
        let message = e.inner().to_string();
        if e.inner().is_syntax() || e.inner().is_eof() {
            return ApiError::bad_request(format!("the body is not valid JSON: {message}"));
        }
        // serde_path_to_error's path ends at an unknown field, and at the parent of a
        // missing one.
        let named = if message.starts_with("unknown field `") {
            Some(path.clone())
        } else {
            message
                .strip_prefix("missing field `")
                .and_then(|rest| rest.split('`').next())
                .map(|name| if path == "." { name.to_owned() } else { format!("{path}.{name}") })
        };
        match named {
            Some(field) => ApiError::invalid(field, message),
            None if path == "." => ApiError::bad_request(format!("the body is not valid JSON: {message}")),
            None => ApiError::invalid(path, message),
        }
    })?;
    deserializer.end().map_err(|e| ApiError::bad_request(format!("the body is not valid JSON: {e}")))?;
    Ok(value)
}

/// Parses an optional body: empty means the type's default.
pub fn parse_optional<T: DeserializeOwned + Default>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) { Ok(T::default()) } else { parse(bytes) }
}

/// For fields of a partial update where `null` means "remove" and absence "keep":
/// `#[serde(default, deserialize_with = "body::nullable")]` on an `Option<Option<T>>`.
pub fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// Query string errors (an unknown parameter, a repeated one) name the parameter.
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _req: &HttpRequest| {
        let message = err.to_string();
        let field = message.split('`').nth(1).map(str::to_owned);
        match field {
            Some(field) => ApiError::invalid(field, message).into(),
            None => ApiError::bad_request(message).into(),
        }
    })
}

pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|err, _req: &HttpRequest| ApiError::bad_request(err.to_string()).into())
}

pub fn payload_config() -> web::PayloadConfig {
    web::PayloadConfig::new(MAX_BODY_BYTES)
}

/// `?limit=&after=`: keyset pagination. `limit` is 1 to 500 (default 50); `after` is the
/// `next` cursor of the previous page.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// How many items to return: 1 to 500 (default 50).
    pub limit: Option<String>,
    /// The `next` cursor of the previous page.
    pub after: Option<String>,
}

impl PageQuery {
    pub fn page(&self) -> Result<Page, ApiError> {
        page(self.limit.as_deref(), self.after.clone())
    }
}

/// Builds a [`Page`] from the raw parameters, refusing a limit outside 1..=500.
pub fn page(limit: Option<&str>, after: Option<String>) -> Result<Page, ApiError> {
    let limit = match limit {
        None => Page::DEFAULT_LIMIT,
        Some(raw) => match raw.trim().parse::<u32>() {
            Ok(n) if (1..=Page::MAX_LIMIT).contains(&n) => n,
            _ => {
                return Err(ApiError::invalid(
                    "limit",
                    format!("limit must be a whole number from 1 to {}", Page::MAX_LIMIT),
                ));
            }
        },
    };
    Ok(Page { after: after.filter(|a| !a.is_empty()), limit })
}

/// Pages a list the store returns whole (claim types, scopes: a few hundred at most),
/// keyed by `key` in the list's order.
pub fn page_in_memory<T>(items: Vec<T>, page: &Page, key: impl Fn(&T) -> &str) -> Paged<T> {
    let limit = page.limit.clamp(1, Page::MAX_LIMIT) as usize;
    let start = match &page.after {
        Some(after) => items.iter().position(|i| key(i) == after).map_or(items.len(), |p| p + 1),
        None => 0,
    };
    let mut rest: Vec<T> = items.into_iter().skip(start).collect();
    let next = if rest.len() > limit {
        rest.truncate(limit);
        rest.last().map(|i| key(i).to_owned())
    } else {
        None
    };
    Paged { items: rest, next }
}

/// A page of results: `next` is the cursor to pass as `after`, `null` on the last page.
#[derive(Debug, Serialize)]
pub struct PageOf<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

impl<T> PageOf<T> {
    pub fn of<S>(paged: Paged<S>, f: impl FnMut(S) -> T) -> Self {
        PageOf { items: paged.items.into_iter().map(f).collect(), next: paged.next }
    }
}

/// Declares the OpenAPI schema of a page of `$item`.
macro_rules! page_schema {
    ($name:ident, $item:ty) => {
        #[derive(utoipa::ToSchema)]
        #[allow(dead_code)]
        pub struct $name {
            items: Vec<$item>,
            /// The cursor of the next page (pass it as `after`); null on the last page.
            next: Option<String>,
        }
    };
}
pub(crate) use page_schema;

/// Runs blocking store work on actix's thread pool.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    web::block(f).await?
}

/// Body of the secret-rotation endpoints.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateSecret {
    /// Seconds the current secrets stay valid (0, the default, ends them at once; at
    /// most 30 days).
    pub grace_period_seconds: Option<i64>,
}

/// Longest grace period of a secret rotation: 30 days.
pub const MAX_GRACE_SECONDS: i64 = 30 * 24 * 3600;

impl RotateSecret {
    pub fn grace(&self) -> Result<i64, ApiError> {
        match self.grace_period_seconds.unwrap_or(0) {
            g @ 0..=MAX_GRACE_SECONDS => Ok(g),
            _ => Err(ApiError::invalid(
                "grace_period_seconds",
                format!("grace_period_seconds must be from 0 to {MAX_GRACE_SECONDS}"),
            )),
        }
    }
}

/// A description for administrators: the domain's rule (trimmed, at most
/// [`tessera_domain::MAX_DESCRIPTION_LEN`] characters).
pub fn description(field: &str, raw: Option<String>) -> Result<String, ApiError> {
    Ok(tessera_domain::check_description(field, raw.as_deref())?)
}

/// A field that must hold a JSON object (`app_metadata`, `user_metadata`, `metadata`).
pub fn json_object(field: &str, value: serde_json::Value) -> Result<serde_json::Value, ApiError> {
    if value.is_object() { Ok(value) } else { Err(ApiError::invalid(field, format!("{field} must be a JSON object"))) }
}
