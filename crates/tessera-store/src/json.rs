//! JSON documents are stored as text on both backends.

use serde_json::Value;

use crate::{StoreError, StoreResult};

pub(crate) fn parse(text: &str) -> StoreResult<Value> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("stored JSON: {e}")))
}

pub(crate) fn parse_as<T: serde::de::DeserializeOwned>(text: &str) -> StoreResult<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("stored JSON: {e}")))
}
