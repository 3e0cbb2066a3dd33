//! What can go wrong in the store, in its own terms.

use diesel::result::{DatabaseErrorKind, Error as DieselError};

pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The entity asked for does not exist.
    #[error("{entity} not found")]
    NotFound { entity: &'static str },
    /// A unique name or key is already taken; `field` names it.
    #[error("{field} is already taken")]
    Conflict { field: String },
    /// The request names something that cannot be stored as asked (a missing reference,
    /// a rule of the schema); `field` names what is wrong when it is known. `message` is
    /// fit to show a client: never the database's own text.
    #[error("{message}")]
    Invalid { field: Option<String>, message: String },
    /// The database could not be reached, a pooled connection could not be had, the
    /// connection broke, or a statement ran past the statement timeout (SQLite: waited
    /// past the busy timeout for a lock). Worth retrying later; the endpoints answer 503.
    /// The reason is for the log, not for a client.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Anything else the database reported (its text is for the log, not for a client).
    #[error("database error: {0}")]
    Database(String),
    /// A stored value could not be read back (corrupt JSON, an unknown enum string).
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

impl StoreError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        StoreError::Invalid { field: Some(field.into()), message: message.into() }
    }

    pub fn not_found(entity: &'static str) -> Self {
        StoreError::NotFound { entity }
    }
}

/// A statement that changed `rows` rows found what it was about: none is
/// [`StoreError::NotFound`] for `entity`.
pub(crate) fn found(rows: usize, entity: &'static str) -> StoreResult<()> {
    if rows == 0 { Err(StoreError::not_found(entity)) } else { Ok(()) }
}

impl From<DieselError> for StoreError {
    fn from(err: DieselError) -> Self {
        match err {
            DieselError::NotFound => StoreError::NotFound { entity: "record" },
            DieselError::DatabaseError(kind, info) => match kind {
                DatabaseErrorKind::UniqueViolation => {
                    StoreError::Conflict { field: conflicting_field(info.constraint_name(), info.message()) }
                }
                DatabaseErrorKind::ForeignKeyViolation => {
                    StoreError::Invalid { field: None, message: "a referenced record does not exist".into() }
                }
                // The database's own text names tables, columns, constraints and values:
                // it goes to the log, never into a message a client may be shown.
                DatabaseErrorKind::CheckViolation | DatabaseErrorKind::NotNullViolation => {
                    tracing::warn!(?kind, database_message = info.message(), "the database refused a value");
                    let field = info.column_name().map(str::to_owned);
                    let message = match (&kind, &field) {
                        (DatabaseErrorKind::NotNullViolation, Some(field)) => format!("{field} is required"),
                        (DatabaseErrorKind::NotNullViolation, None) => "a required value is missing".to_owned(),
                        _ => "a value breaks a rule of the schema".to_owned(),
                    };
                    StoreError::Invalid { field, message }
                }
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand => {
                    StoreError::Unavailable(info.message().to_owned())
                }
                _ if is_unavailable(info.message()) => StoreError::Unavailable(info.message().to_owned()),
                // Postgres text cannot hold NUL characters; such input is invalid, not a
                // server failure.
                _ if info.message().contains("0x00") => {
                    StoreError::Invalid { field: None, message: "text may not contain NUL characters".into() }
                }
                _ => StoreError::Database(info.message().to_owned()),
            },
            // A transaction whose connection broke under it: its state is unknown, and
            // the pool drops the connection (`Manager::has_broken`).
            DieselError::BrokenTransactionManager => StoreError::Unavailable(err.to_string()),
            other => StoreError::Database(other.to_string()),
        }
    }
}

/// The beginnings of the messages by which the database says it cannot serve now, not
/// that the statement is wrong: Postgres `57014 query_canceled` (statement or lock
/// timeout), `57P01`–`57P03` (shutting down, crashed, starting up or in recovery), and
/// SQLite's busy timeout and a full disk. diesel passes no SQLSTATE, only the text, which Postgres words
/// in the server's `lc_messages`: these are its English messages.
const UNAVAILABLE_MESSAGES: &[&str] = &[
    "canceling statement due to statement timeout",
    "canceling statement due to lock timeout",
    "canceling statement due to user request",
    "canceling statement due to conflict with recovery",
    "terminating connection due to administrator command",
    "terminating connection due to conflict with recovery",
    "terminating connection because of crash of another server process",
    "the database system is shutting down",
    "the database system is starting up",
    "the database system is in recovery mode",
    "the database system is not yet accepting connections",
    "database is locked",
    "database table is locked",
    // SQLite on a full disk (or past the file size limit): the write is undone whole, and
    // reads still work; writes resume once there is room again.
    "database or disk is full",
    "disk I/O error",
];

fn is_unavailable(message: &str) -> bool {
    UNAVAILABLE_MESSAGES.iter().any(|m| message.starts_with(m))
        // `25006 read_only_sql_transaction`: a write reached a standby (a URL naming a
        // server that was demoted, without `target_session_attrs=read-write`).
        || (message.starts_with("cannot execute") && message.ends_with("in a read-only transaction"))
}

impl From<diesel::r2d2::PoolError> for StoreError {
    fn from(err: diesel::r2d2::PoolError) -> Self {
        StoreError::Unavailable(err.to_string())
    }
}

/// The column a unique violation is about. Postgres names the constraint
/// (`users_username_key`, `{table}_{column}_key` for an inline UNIQUE; `{table}_pkey` for
/// the primary key); SQLite says `UNIQUE constraint failed: users.username`.
fn conflicting_field(constraint: Option<&str>, message: &str) -> String {
    if let Some(rest) = message.strip_prefix("UNIQUE constraint failed: ") {
        let columns: Vec<&str> =
            rest.split(", ").map(|qualified| qualified.rsplit('.').next().unwrap_or(qualified)).collect();
        return columns.join(",");
    }
    match constraint {
        Some(name) if name.ends_with("_pkey") => primary_key_field(name.trim_end_matches("_pkey")),
        Some(name) => {
            let without_suffix = name.trim_end_matches("_key");
            KNOWN_TABLES
                .iter()
                .filter_map(|table| without_suffix.strip_prefix(table).and_then(|r| r.strip_prefix('_')))
                .next()
                .unwrap_or(without_suffix)
                .to_owned()
        }
        None => "name".to_owned(),
    }
}

/// The primary-key column of tables whose key is a natural name.
fn primary_key_field(table: &str) -> String {
    match table {
        "claim_types" | "scopes" | "script_environment_variables" => "name",
        "signing_keys" => "kid",
        "custom_claim_scripts" => "kind",
        _ => "id",
    }
    .to_owned()
}

const KNOWN_TABLES: &[&str] =
    &["api_connections", "applications", "organizations", "roles", "users", "browser_sessions"];

#[cfg(test)]
mod tests {
    use super::{conflicting_field, is_unavailable};

    #[test]
    fn timeouts_and_shutdowns_are_unavailable_and_other_failures_are_not() {
        assert!(is_unavailable("canceling statement due to statement timeout"));
        assert!(is_unavailable("terminating connection due to administrator command"));
        assert!(is_unavailable("database is locked"));
        assert!(is_unavailable("database or disk is full"));
        assert!(is_unavailable("cannot execute INSERT in a read-only transaction"));
        assert!(!is_unavailable("cannot execute INSERT within a security-restricted operation"));
        assert!(!is_unavailable("relation \"users\" does not exist"));
        assert!(!is_unavailable("syntax error at or near \"SELEC\""));
    }

    #[test]
    fn sqlite_unique_message_names_the_column() {
        assert_eq!(conflicting_field(None, "UNIQUE constraint failed: users.username"), "username");
        assert_eq!(conflicting_field(None, "UNIQUE constraint failed: scopes.name"), "name");
    }

    #[test]
    fn postgres_constraint_names_the_column() {
        assert_eq!(conflicting_field(Some("users_username_key"), ""), "username");
        assert_eq!(conflicting_field(Some("api_connections_name_key"), ""), "name");
        assert_eq!(conflicting_field(Some("applications_client_id_key"), ""), "client_id");
        assert_eq!(conflicting_field(Some("scopes_pkey"), ""), "name");
        assert_eq!(conflicting_field(Some("users_pkey"), ""), "id");
    }
}
