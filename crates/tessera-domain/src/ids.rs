//! Identifier newtypes, so a user id can never be passed where a client id is expected.
//!
//! These wrap whatever string the store generated (a UUID, a client id chosen by an admin);
//! they do not validate the format, they only keep kinds apart.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! id_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps an identifier.
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
            }

            /// The identifier as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// Gives back the inner string.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<String> for $name {
            fn from(id: String) -> Self {
                Self(id)
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> Self {
                Self(id.to_owned())
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        /// Lets a map keyed by the id be searched with a plain `&str` (what a request
        /// carries) without building an id first; hashing and equality are the string's.
        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }

        /// For display: pages and messages take strings.
        impl From<&$name> for String {
            fn from(id: &$name) -> String {
                id.0.clone()
            }
        }
    };
}

id_newtype!(
    /// RFC 6749 §2.2: the client identifier issued to an application.
    ClientId
);
id_newtype!(
    /// The identifier of a user; its string is the `sub` claim (OIDC Core §2).
    UserId
);
id_newtype!(
    /// The store's identifier of an application (distinct from its public `client_id`).
    ApplicationId
);
id_newtype!(
    /// The store's identifier of an API connection (its name is the token audience).
    ConnectionId
);
id_newtype!(
    /// The identifier of a grant: the family of refresh and reference tokens issued from
    /// one authorization (an access token's `grant_id` claim).
    GrantId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_display_and_expose_their_string() {
        let id = ClientId::from("my-app");
        assert_eq!(id.as_str(), "my-app");
        assert_eq!(id.to_string(), "my-app");
        assert_eq!(id.clone().into_string(), "my-app");
        assert_eq!(UserId::new(String::from("u1")).as_ref(), "u1");
    }

    #[test]
    fn ids_serialize_as_plain_strings() {
        let id = UserId::from("26cf5325");
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"26cf5325\"");
        let back: UserId = serde_json::from_str("\"26cf5325\"").unwrap();
        assert_eq!(back, id);
        let app: ApplicationId = serde_json::from_str("\"a\"").unwrap();
        assert_eq!(app.as_str(), "a");
        let conn = ConnectionId::from(String::from("c"));
        assert_eq!(serde_json::to_value(&conn).unwrap(), serde_json::json!("c"));
    }

    #[test]
    fn ids_of_the_same_kind_compare_by_value() {
        assert_eq!(ClientId::from("a"), ClientId::from(String::from("a")));
        let (a, b) = (ClientId::from("a"), ClientId::from("b"));
        assert!(a < b);
        // A map keyed by ids is searched with the plain string a request carries.
        let map: std::collections::HashMap<ClientId, u8> = [(b.clone(), 1)].into();
        assert_eq!(map.get("b"), Some(&1));
        let owned = String::from("b");
        assert!(b == *"b" && b == owned);
    }
}
