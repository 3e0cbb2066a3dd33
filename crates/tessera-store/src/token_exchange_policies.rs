//! RFC 8693: the token-exchange policy of an API connection (the target of the
//! exchange), kept as JSON beside the connection so the in-memory configuration carries
//! it (`ApiConnection::token_exchange`), and replaced as a whole.

use diesel::prelude::*;
use tessera_domain::{ConnectionId, TokenExchangePolicy};

use crate::connections::{self, ApiConnection};
use crate::error::found;
use crate::schema::api_connections;
use crate::{AnyConnection, StoreError, StoreResult};

/// Replaces the policy of connection `id` (already checked by
/// [`tessera_domain::TokenExchangePolicyInput::into_policy`]).
pub fn replace(
    conn: &mut AnyConnection,
    id: &ConnectionId,
    policy: &TokenExchangePolicy,
    now: i64,
) -> StoreResult<ApiConnection> {
    crate::config_changes::mark();
    let text = serde_json::to_string(policy)
        .map_err(|e| StoreError::invalid("rules", format!("not storable as JSON: {e}")))?;
    let changed = diesel::update(api_connections::table.find(id.as_str()))
        .set((api_connections::token_exchange_policy.eq(text), api_connections::updated_at.eq(now)))
        .execute(conn)?;
    found(changed, "API connection")?;
    connections::get(conn, id)
}

/// The connections whose policies name `client_id` (to tell an administrator, and to
/// preview an exchange).
pub fn naming_client<'c>(all: &'c [ApiConnection], client_id: &str) -> Vec<&'c ApiConnection> {
    all.iter().filter(|c| c.token_exchange.rules().iter().any(|r| r.client_id.as_str() == client_id)).collect()
}
