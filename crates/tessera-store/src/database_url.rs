//! The `database_url` setting: `sqlite://path/to/file.db` or `postgres://…`, including
//! libpq's multi-host form `postgres://user@h1:5432,h2:5432/db?target_session_attrs=read-write`
//! (libpq tries the hosts in turn and keeps the first that accepts writes: after a
//! failover, new connections go to the promoted standby by themselves).

use std::path::PathBuf;

use crate::Backend;

/// A parsed database URL. The password of a Postgres URL never appears in `Display`.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// `postgres://` or `postgresql://`, passed to libpq as written (one host, or several
    /// separated by commas).
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
            let parsed = PostgresUrl::parse(raw)?;
            if parsed.hosts.iter().all(|h| h.is_empty()) && !parsed.query.contains("host=") {
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
        let given: Vec<String> = match PostgresUrl::parse(raw) {
            Ok(url) => url::form_urlencoded::parse(url.query.as_bytes()).map(|(key, _)| key.into_owned()).collect(),
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
            DatabaseUrl::Postgres(raw) => match PostgresUrl::parse(raw) {
                Ok(url) => url.redacted(),
                Err(_) => "postgres://…".to_owned(),
            },
        }
    }
}

/// A libpq connection URI taken apart (libpq's own grammar, "Connection URIs"): the
/// `url` crate reads one `host:port` only, and libpq allows a comma-separated list.
struct PostgresUrl<'a> {
    scheme: &'a str,
    user: Option<&'a str>,
    password: Option<&'a str>,
    hosts: Vec<&'a str>,
    /// The path and everything after it, as written.
    rest: &'a str,
    query: &'a str,
}

impl<'a> PostgresUrl<'a> {
    fn parse(raw: &'a str) -> Result<PostgresUrl<'a>, DatabaseUrlError> {
        let (scheme, after) = raw.split_once("://").ok_or_else(|| DatabaseUrlError::Malformed("no ://".into()))?;
        let end = after.find(['/', '?']).unwrap_or(after.len());
        let (authority, rest) = after.split_at(end);
        let query = rest.split_once('?').map_or("", |(_, q)| q);
        let (userinfo, hostlist) = match authority.rsplit_once('@') {
            Some((userinfo, hostlist)) => (Some(userinfo), hostlist),
            None => (None, authority),
        };
        let (user, password) = match userinfo {
            Some(info) => match info.split_once(':') {
                Some((user, password)) => (Some(user), Some(password)),
                None => (Some(info), None),
            },
            None => (None, None),
        };
        let hosts: Vec<&str> = hostlist.split(',').collect();
        for host in &hosts {
            if host.is_empty() && hosts.len() == 1 {
                continue;
            }
            // Each `host[:port]` must be what a one-host URL allows.
            let one = url::Url::parse(&format!("{scheme}://{host}/"))
                .map_err(|e| DatabaseUrlError::Malformed(format!("host {host:?}: {e}")))?;
            if one.host_str().is_none_or(str::is_empty) {
                return Err(DatabaseUrlError::Malformed(format!("host {host:?} is empty")));
            }
        }
        if !rest.is_empty() {
            url::Url::parse(&format!("{scheme}://h{rest}")).map_err(|e| DatabaseUrlError::Malformed(e.to_string()))?;
        }
        Ok(PostgresUrl { scheme, user, password, hosts, rest, query })
    }

    fn redacted(&self) -> String {
        let mut out = format!("{}://", self.scheme);
        if let Some(user) = self.user {
            out.push_str(user);
            if self.password.is_some() {
                out.push_str(":***");
            }
            out.push('@');
        }
        out.push_str(&self.hosts.join(","));
        out.push_str(self.rest);
        out
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
    fn a_multi_host_url_is_accepted_and_redacted() {
        let raw = "postgres://tessera:hunter2@10.0.0.1:5432,db-b:5433/tessera?target_session_attrs=read-write";
        let url = DatabaseUrl::parse(raw).unwrap();
        assert_eq!(url, DatabaseUrl::Postgres(raw.to_owned()));
        assert_eq!(
            url.to_string(),
            "postgres://tessera:***@10.0.0.1:5432,db-b:5433/tessera?target_session_attrs=read-write"
        );
        let defaults = [("connect_timeout", "5".to_owned()), ("target_session_attrs", "any".to_owned())];
        assert_eq!(
            url.postgres_with_defaults(&defaults).unwrap(),
            format!("{raw}&connect_timeout=5"),
            "what the URL sets wins"
        );
        assert!(DatabaseUrl::parse("postgres://a:5432,b:nope/tessera").is_err());
        assert!(DatabaseUrl::parse("postgres://a,,b/tessera").is_err());
        assert!(DatabaseUrl::parse("postgres:///tessera").is_err());
        assert!(DatabaseUrl::parse("postgres:///tessera?host=/run/postgresql").is_ok());
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
