//! Readable names for the actors and targets that audit events record as `kind:id`
//! (`user:…`, `application:…`, `key:…`): what the console shows, with the id beside it.

use std::collections::{BTreeMap, HashMap};

use diesel::prelude::*;

use crate::schema::{api_connections, applications, management_keys, organizations, roles, users};
use crate::{AnyConnection, StoreResult};

/// The display name of each reference in `refs` whose kind names a stored thing that
/// still exists, keyed by the reference as given. Other references (`client:…`, `cli`,
/// `ip:…`, deleted things) are left out: the caller shows them as they are. One query
/// per kind present, whatever the number of references.
pub fn display_names<'a>(
    conn: &mut AnyConnection,
    refs: impl IntoIterator<Item = &'a str>,
) -> StoreResult<HashMap<String, String>> {
    let mut by_kind: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for reference in refs {
        if let Some((kind, id)) = reference.split_once(':')
            && !id.is_empty()
        {
            by_kind.entry(kind).or_default().push(id);
        }
    }
    let mut names = HashMap::new();
    for (kind, mut ids) in by_kind {
        ids.sort_unstable();
        ids.dedup();
        let found: Vec<(String, String)> = match kind {
            "user" => users::table.filter(users::id.eq_any(&ids)).select((users::id, users::username)).load(conn)?,
            "application" => applications::table
                .filter(applications::id.eq_any(&ids))
                .select((applications::id, applications::name))
                .load(conn)?,
            "connection" => api_connections::table
                .filter(api_connections::id.eq_any(&ids))
                .select((api_connections::id, api_connections::name))
                .load(conn)?,
            "key" | "management_key" => management_keys::table
                .filter(management_keys::id.eq_any(&ids))
                .select((management_keys::id, management_keys::name))
                .load(conn)?,
            "role" => roles::table.filter(roles::id.eq_any(&ids)).select((roles::id, roles::name)).load(conn)?,
            "organization" => organizations::table
                .filter(organizations::id.eq_any(&ids))
                .select((organizations::id, organizations::name))
                .load(conn)?,
            _ => continue,
        };
        for (id, name) in found {
            names.insert(format!("{kind}:{id}"), name);
        }
    }
    Ok(names)
}
