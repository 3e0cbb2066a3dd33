//! Fixture builders the suites share: small functions that write what a test needs
//! through the store and return what the test holds on to.

use tessera_domain::UserId;
use tessera_store::organizations::{self, ADMIN_ROLE};
use tessera_store::users::{self, NewUser};
use tessera_store::{Store, management_keys, new_id};
use tessera_tokens::generate_secret;

/// A fixed "now" for tests (unix seconds).
pub const NOW: i64 = 1_800_000_000;

/// An administrator (a user holding the `tessera-admin` role, created if missing);
/// returns the user id.
pub fn admin(store: &Store) -> UserId {
    store
        .write_transaction(|c| {
            let role = match organizations::find_role_by_name(c, ADMIN_ROLE)? {
                Some(role) => role,
                None => organizations::create_role(c, ADMIN_ROLE, "administrators", 1)?,
            };
            let user =
                users::create(c, &NewUser { username: format!("admin-{}", &new_id()[28..]), ..Default::default() }, 1)?;
            users::add_role(c, &user.id, &role.id)?;
            Ok(user.id)
        })
        .unwrap()
}

/// A management key created by `created_by` (a user id, or `"cli"` for the operator),
/// expiring at `expires_at`; returns the bearer credential `<id>.<secret>`.
pub fn management_key(store: &Store, created_by: &str, expires_at: Option<i64>) -> String {
    let secret = generate_secret();
    let id = new_id();
    store
        .write_transaction(|c| {
            management_keys::create(
                c,
                &management_keys::NewManagementKey {
                    id: id.clone(),
                    name: "test".into(),
                    secret_hash: secret.hash().as_str().to_owned(),
                    created_by: created_by.into(),
                    expires_at,
                    parent_id: None,
                },
                1,
            )
        })
        .unwrap();
    format!("{id}.{}", secret.expose())
}

/// A management key of a fresh [`admin`].
pub fn admin_key(store: &Store) -> String {
    let admin = admin(store);
    management_key(store, admin.as_str(), None)
}
