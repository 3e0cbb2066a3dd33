//! Reading submitted forms (`application/x-www-form-urlencoded`): repeated names (a group
//! of checkboxes) kept in order, lists typed one per line, numbers parsed with the field
//! named when they are not numbers.

use crate::api::ApiError;

use super::ConsoleError;

/// Largest form accepted, in bytes (a JWK Set or a metadata document fits easily).
pub const MAX_FORM_BYTES: usize = 256 * 1024;

/// The fields of a submitted form.
#[derive(Debug, Default)]
pub struct FormData(Vec<(String, String)>);

impl FormData {
    pub fn parse(bytes: &[u8]) -> Result<FormData, ConsoleError> {
        if bytes.len() > MAX_FORM_BYTES {
            return Err(ConsoleError::BadForm);
        }
        Ok(FormData(url::form_urlencoded::parse(bytes).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()))
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The value of `name`, trimmed ("" when absent).
    pub fn text(&self, name: &str) -> String {
        self.get(name).unwrap_or("").trim().to_owned()
    }

    /// The value of `name` trimmed, `None` when empty.
    pub fn optional(&self, name: &str) -> Option<String> {
        Some(self.text(name)).filter(|t| !t.is_empty())
    }

    /// Every value of `name` (a group of checkboxes).
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0.iter().filter(|(k, _)| k == name).map(|(_, v)| v.clone()).collect()
    }

    pub fn checked(&self, name: &str) -> bool {
        self.get(name).is_some_and(|v| v == "true" || v == "on")
    }

    /// A list typed one entry per line (blank lines ignored).
    pub fn lines(&self, name: &str) -> Vec<String> {
        self.get(name).unwrap_or("").lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect()
    }

    /// A whole number, `None` when left empty.
    pub fn integer(&self, name: &str) -> Result<Option<i64>, ApiError> {
        match self.optional(name) {
            None => Ok(None),
            Some(raw) => raw
                .parse::<i64>()
                .map(Some)
                .map_err(|_| ApiError::invalid(name, format!("{name} must be a whole number"))),
        }
    }

    /// A JSON document, `None` when left empty.
    pub fn json(&self, name: &str) -> Result<Option<serde_json::Value>, ApiError> {
        match self.optional(name) {
            None => Ok(None),
            Some(raw) => serde_json::from_str(&raw)
                .map(Some)
                .map_err(|e| ApiError::invalid(name, format!("{name} is not valid JSON: {e}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_names_lines_and_numbers_are_read() {
        let form = FormData::parse(
            b"grant_types=authorization_code&grant_types=refresh_token&uris=https%3A%2F%2Fa%2Fcb%0D%0A%0D%0A+https%3A%2F%2Fb%2Fcb+&n=12&bad=x&c=true",
        )
        .unwrap();
        assert_eq!(form.all("grant_types"), ["authorization_code", "refresh_token"]);
        assert_eq!(form.lines("uris"), ["https://a/cb", "https://b/cb"]);
        assert_eq!(form.integer("n").unwrap(), Some(12));
        assert_eq!(form.integer("missing").unwrap(), None);
        assert_eq!(form.integer("bad").unwrap_err().body.field.as_deref(), Some("bad"));
        assert!(form.checked("c") && !form.checked("missing"));
    }

    #[test]
    fn json_fields_report_syntax_errors_on_their_field() {
        let form = FormData::parse(b"meta=%7B%22a%22%3A1%7D&broken=%7B").unwrap();
        assert_eq!(form.json("meta").unwrap(), Some(serde_json::json!({ "a": 1 })));
        assert_eq!(form.json("broken").unwrap_err().body.field.as_deref(), Some("broken"));
        assert_eq!(form.json("absent").unwrap(), None);
    }
}
