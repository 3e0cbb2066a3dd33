//! Authentication factors: the rules that decide whether a person proved who they are,
//! shared by every place that signs people in (the login pages, the admin console, the
//! password grant). It holds policy and sequencing, not storage or HTTP: records are kept
//! by `tessera-store`, hashes computed by `tessera-tokens`, and the web crates render the
//! outcome in their own protocol's format.
#![forbid(unsafe_code)]

pub mod account_links;
pub mod password_policy;
pub mod second_factor;
pub mod sign_in;

pub use account_links::{AccountMail, AccountSettings, Sent};
pub use password_policy::{MinScoreOutOfRange, PasswordPolicy, PasswordRefused, Weakness};
pub use second_factor::{CodeAttempt, CodeVerdict, Confirmation, check_code, check_confirmation};
pub use sign_in::{
    Admission, Channel, PasswordAttempt, Reservations, Verdict, check_password, locked_message, reserve,
};
