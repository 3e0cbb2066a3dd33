//! Required claims: the claims an application needs that the user must fill in at sign-in
//! before a code is issued (Cotia ID "Required Claims").

use std::collections::BTreeMap;

use serde_json::Value;

use crate::claims::has_value;
use crate::standard::is_server_controlled;

/// The required claims the user has no value for and can give, in the order required,
/// each once. Absent, JSON `null` and blank strings count as missing ([`has_value`]).
/// Server-controlled claims ([`is_server_controlled`]) are never asked of the user: only
/// the provider sets them, so the user cannot supply them.
pub fn missing_required_claims<S: AsRef<str>>(required: &[S], user_values: &BTreeMap<String, Value>) -> Vec<String> {
    let mut missing: Vec<String> = Vec::new();
    for name in required.iter().map(AsRef::as_ref) {
        if !has_value(user_values.get(name)) && !is_server_controlled(name) && !missing.iter().any(|m| m == name) {
            missing.push(name.to_owned());
        }
    }
    missing
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::claims::ClaimName;

    fn values() -> BTreeMap<String, Value> {
        BTreeMap::from([
            ("name".to_owned(), json!("John Doe")),
            ("email_verified".to_owned(), json!(false)),
            ("nickname".to_owned(), json!("")),
            ("phone_number".to_owned(), Value::Null),
            ("zoneinfo".to_owned(), json!("  ")),
            ("employee_id".to_owned(), json!(0)),
        ])
    }

    #[test]
    fn claims_with_a_value_are_not_missing() {
        assert!(missing_required_claims(&["name", "email_verified", "employee_id"], &values()).is_empty());
    }

    #[test]
    fn absent_null_and_empty_claims_are_missing_in_the_order_required() {
        assert_eq!(
            missing_required_claims(&["zoneinfo", "name", "phone_number", "nickname", "birthdate"], &values()),
            vec!["zoneinfo", "phone_number", "nickname", "birthdate"]
        );
    }

    #[test]
    fn a_claim_required_twice_is_reported_once() {
        assert_eq!(missing_required_claims(&["birthdate", "birthdate"], &values()), vec!["birthdate"]);
    }

    #[test]
    fn nothing_required_means_nothing_missing() {
        let none: [&str; 0] = [];
        assert!(missing_required_claims(&none, &BTreeMap::new()).is_empty());
    }

    #[test]
    fn claim_names_can_be_passed_directly() {
        let required = [ClaimName::parse("birthdate").unwrap(), ClaimName::parse("name").unwrap()];
        assert_eq!(missing_required_claims(&required, &values()), vec!["birthdate"]);
    }

    #[test]
    fn server_controlled_claims_are_never_missing() {
        // Finding 3 of the 2026-12 review: the page asked the user for phone_number_verified.
        let required = ["phone_number", "phone_number_verified", "email_verified"];
        assert_eq!(missing_required_claims(&required, &BTreeMap::new()), vec!["phone_number"]);
    }
}
