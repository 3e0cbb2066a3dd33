//! JSON documents are stored as text on both backends.

use serde_json::{Map, Value};

use crate::{StoreError, StoreResult};

/// A JSON object as the text stored for it, serialised from the map in place.
pub(crate) fn object_text(map: &Map<String, Value>) -> StoreResult<String> {
    serde_json::to_string(map).map_err(|e| StoreError::invalid("claims", format!("not storable as JSON: {e}")))
}

pub(crate) fn parse(text: &str) -> StoreResult<Value> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("stored JSON: {e}")))
}

pub(crate) fn parse_as<T: serde::de::DeserializeOwned>(text: &str) -> StoreResult<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("stored JSON: {e}")))
}

/// A list of strings (`amr`, `resources`) as the JSON array text the columns hold.
pub(crate) fn json_list(items: &[String]) -> String {
    Value::from(items.to_vec()).to_string()
}
