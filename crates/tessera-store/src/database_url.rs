//! The `database_url` setting: `sqlite://path/to/file.db` or `postgres://…`.

use std::path::PathBuf;

use crate::Backend;

/// A parsed database URL. The password of a Postgres URL never appears in `Display`.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// `postgres://` or `postgresql://`, passed to libpq as written.
    Postgres(String),
    /// `sqlite://<path>`: a file path, relative to the working directory unless absolute.
    Sqlite(PathBuf),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DatabaseUrlError {
    #[error("must start with sqlite:// or postgres:// (got {0:?})")]
    UnknownScheme(String),
    #[error("sqlite:// needs a file path, as in sqlite://tessera-data/tessera.db")]
    MissingPath,
    #[error("is not a valid URL: {0}")]
    Malformed(String),
}

impl DatabaseUrl {
    pub fn parse(raw: &str) -> Result<Self, DatabaseUrlError> {
        let raw = raw.trim();
        if let Some(path) = raw.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(DatabaseUrlError::MissingPath);
            }
            return Ok(DatabaseUrl::Sqlite(PathBuf::from(path)));
        }
        if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            let parsed = url::Url::parse(raw).map_err(|e| DatabaseUrlError::Malformed(e.to_string()))?;
            if parsed.host_str().is_none_or(str::is_empty) && !parsed.query().unwrap_or("").contains("host=") {
                return Err(DatabaseUrlError::Malformed("no host".into()));
            }
            return Ok(DatabaseUrl::Postgres(raw.to_owned()));
        }
        let scheme = raw.split("://").next().unwrap_or(raw);
        Err(DatabaseUrlError::UnknownScheme(scheme.chars().take(32).collect()))
    }

    pub fn backend(&self) -> Backend {
        match self {
            DatabaseUrl::Postgres(_) => Backend::Postgres,
            DatabaseUrl::Sqlite(_) => Backend::Sqlite,
        }
    }

    /// The string diesel opens: the libpq URL, or the SQLite file path.
    pub(crate) fn connection_string(&self) -> String {
        match self {
            DatabaseUrl::Postgres(url) => url.clone(),
            DatabaseUrl::Sqlite(path) => path.to_string_lossy().into_owned(),
        }
    }

    /// The libpq URL with `parameters` added, each only where the URL does not set it
    /// already (what an operator wrote wins). `None` for a SQLite URL.
    pub(crate) fn postgres_with_defaults(&self, parameters: &[(&str, String)]) -> Option<String> {
        let DatabaseUrl::Postgres(raw) = self else { return None };
        let given: Vec<String> = match url::Url::parse(raw) {
            Ok(url) => url.query_pairs().map(|(key, _)| key.into_owned()).collect(),
            Err(_) => Vec::new(),
        };
        // Appended as text rather than re-serialised, so the rest of the URL reaches libpq
        // exactly as written (the values are plain numbers: nothing to encode).
        let mut out = raw.clone();
        for (key, value) in parameters {
            if given.iter().any(|g| g == key) {
                continue;
            }
            out.push(if out.contains('?') { '&' } else { '?' });
            out.push_str(key);
            out.push('=');
            out.push_str(value);
        }
        Some(out)
    }

    /// The URL with any password replaced by `***`, for messages and logs.
    pub fn redacted(&self) -> String {
        match self {
            DatabaseUrl::Sqlite(path) => format!("sqlite://{}", path.display()),
            DatabaseUrl::Postgres(raw) => match url::Url::parse(raw) {
                Ok(mut url) => {
                    if url.password().is_some() {
                        let _ = url.set_password(Some("***"));
                    }
                    url.to_string()
                }
                Err(_) => "postgres://…".to_owned(),
            },
        }
    }
}

impl std::fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DatabaseUrl({})", self.redacted())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_url_becomes_a_path() {
        assert_eq!(
            DatabaseUrl::parse("sqlite://tessera-data/tessera.db"),
            Ok(DatabaseUrl::Sqlite(PathBuf::from("tessera-data/tessera.db")))
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:///var/lib/tessera.db"),
            Ok(DatabaseUrl::Sqlite(PathBuf::from("/var/lib/tessera.db")))
        );
    }

    #[test]
    fn unknown_scheme_is_refused() {
        assert_eq!(DatabaseUrl::parse("mysql://localhost/x"), Err(DatabaseUrlError::UnknownScheme("mysql".into())));
        assert!(DatabaseUrl::parse("sqlite://").is_err());
        assert!(DatabaseUrl::parse("").is_err());
    }

    #[test]
    fn libpq_defaults_are_added_unless_the_url_sets_them() {
        let defaults = [("connect_timeout", "5".to_owned()), ("tcp_user_timeout", "10000".to_owned())];
        let plain = DatabaseUrl::parse("postgres://tessera:pw@db:5432/tessera").unwrap();
        assert_eq!(
            plain.postgres_with_defaults(&defaults).unwrap(),
            "postgres://tessera:pw@db:5432/tessera?connect_timeout=5&tcp_user_timeout=10000"
        );
        let given = DatabaseUrl::parse("postgres://db/tessera?sslmode=require&connect_timeout=30").unwrap();
        assert_eq!(
            given.postgres_with_defaults(&defaults).unwrap(),
            "postgres://db/tessera?sslmode=require&connect_timeout=30&tcp_user_timeout=10000"
        );
        assert_eq!(DatabaseUrl::parse("sqlite://x.db").unwrap().postgres_with_defaults(&defaults), None);
    }

    #[test]
    fn postgres_password_is_redacted() {
        let url = DatabaseUrl::parse("postgres://tessera:hunter2@db:5432/tessera").unwrap();
        assert_eq!(url.backend(), Backend::Postgres);
        let shown = url.to_string();
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("***"));
        assert!(!format!("{url:?}").contains("hunter2"));
    }
}
