//! Database configuration as plain data, and its validation.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{ConfigProblem, QueryError};

/// One named database as configured by the operator.
///
/// This is data only; [`Databases::connect`](crate::Databases::connect) validates it and
/// opens the pools. `Debug` hides any password in `url`.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseConfig {
    /// Name callers use to pick this database (the query tool's `database` argument).
    pub name: String,
    /// `sqlite://path/to/file.db` (created and seeded with demo data when missing) or
    /// `postgres://user:password@host:port/dbname`.
    pub url: String,
    /// Upper bound on pooled connections.
    pub max_connections: u32,
    /// Longest a single statement may run, and longest a call waits for a free connection.
    pub statement_timeout: Duration,
    /// Rows returned when the caller does not ask for a number.
    pub max_rows_default: usize,
    /// The most rows a caller may ask for.
    pub max_rows_limit: usize,
}

impl DatabaseConfig {
    /// A configuration with the defaults of [`DatabaseConfig::default`] and the given name and URL.
    pub fn new(name: impl Into<String>, url: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            url: url.into(),
            ..Self::default()
        }
    }

    /// The engine the URL selects, or the reason it selects none.
    pub fn engine(&self) -> Result<Engine, QueryError> {
        self.validate()
            .map_err(|problem| QueryError::InvalidConfig {
                database: self.name.clone(),
                problem,
            })
    }

    /// `url` with any password replaced by `***`, for logs.
    pub fn redacted_url(&self) -> String {
        redact_url(&self.url)
    }

    /// Checks every field and returns the engine the URL selects.
    pub(crate) fn validate(&self) -> Result<Engine, ConfigProblem> {
        if self.name.trim().is_empty() {
            return Err(ConfigProblem::EmptyName);
        }
        if self.max_connections == 0 {
            return Err(ConfigProblem::NoConnections);
        }
        if self.statement_timeout.is_zero() {
            return Err(ConfigProblem::ZeroTimeout);
        }
        if self.max_rows_default == 0 || self.max_rows_default > self.max_rows_limit {
            return Err(ConfigProblem::RowLimits {
                default: self.max_rows_default,
                limit: self.max_rows_limit,
            });
        }
        Engine::from_url(&self.url)
    }

    pub(crate) fn limits(&self) -> Limits {
        Limits {
            statement_timeout: self.statement_timeout,
            max_rows_default: self.max_rows_default,
            max_rows_limit: self.max_rows_limit,
        }
    }
}

impl Default for DatabaseConfig {
    /// The built-in demo: `demo` at `sqlite://keel-demo.db`, 4 connections, 5 s statement
    /// timeout, 100 rows by default and at most 10 000.
    fn default() -> Self {
        Self {
            name: "demo".to_owned(),
            url: "sqlite://keel-demo.db".to_owned(),
            max_connections: 4,
            statement_timeout: Duration::from_secs(5),
            max_rows_default: 100,
            max_rows_limit: 10_000,
        }
    }
}

impl fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseConfig")
            .field("name", &self.name)
            .field("url", &self.redacted_url())
            .field("max_connections", &self.max_connections)
            .field("statement_timeout", &self.statement_timeout)
            .field("max_rows_default", &self.max_rows_default)
            .field("max_rows_limit", &self.max_rows_limit)
            .finish()
    }
}

/// The SQL engine behind a database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    /// SQLite through a bundled library, file opened read-only.
    Sqlite,
    /// PostgreSQL over the network protocol, sessions in read-only mode.
    Postgres,
}

impl Engine {
    fn from_url(url: &str) -> Result<Self, ConfigProblem> {
        let scheme = url.split_once(':').map_or(url, |(scheme, _)| scheme);
        match scheme.to_ascii_lowercase().as_str() {
            "sqlite" => Ok(Self::Sqlite),
            "postgres" | "postgresql" => Ok(Self::Postgres),
            _ => Err(ConfigProblem::UnsupportedScheme {
                scheme: scheme.to_owned(),
            }),
        }
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        })
    }
}

/// Prepared statements kept per connection (both engines cache by SQL text).
pub(crate) const STATEMENT_CACHE_CAPACITY: usize = 256;

/// How long past the statement timeout a call waits for the engine's own cancellation
/// before giving up on the connection.
pub(crate) const TIMEOUT_GRACE: Duration = Duration::from_millis(500);

/// The per-database numbers a query call needs, copied out of the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    pub(crate) statement_timeout: Duration,
    pub(crate) max_rows_default: usize,
    pub(crate) max_rows_limit: usize,
}

impl Limits {
    /// The row limit for one call: the default when none is asked for, an error above the limit.
    pub(crate) fn max_rows(&self, requested: Option<usize>) -> Result<usize, QueryError> {
        match requested {
            None => Ok(self.max_rows_default),
            Some(n) if n > self.max_rows_limit => Err(QueryError::MaxRowsAboveLimit {
                requested: n,
                limit: self.max_rows_limit,
            }),
            Some(n) => Ok(n),
        }
    }
}

/// Replaces the password of `scheme://user:password@host/...` with `***`.
fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some(at) = authority.rfind('@') else {
        return url.to_owned();
    };
    let userinfo = &authority[..at];
    match userinfo.split_once(':') {
        Some((user, _password)) => {
            format!("{scheme}://{user}:***{}", &rest[at..])
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_follows_the_scheme() {
        assert_eq!(
            Engine::from_url("sqlite://demo.db").ok(),
            Some(Engine::Sqlite)
        );
        assert_eq!(
            Engine::from_url("SQLite:demo.db").ok(),
            Some(Engine::Sqlite)
        );
        assert_eq!(
            Engine::from_url("postgres://h/db").ok(),
            Some(Engine::Postgres)
        );
        assert_eq!(
            Engine::from_url("postgresql://h/db").ok(),
            Some(Engine::Postgres)
        );
        assert!(matches!(
            Engine::from_url("mysql://h/db"),
            Err(ConfigProblem::UnsupportedScheme { scheme }) if scheme == "mysql"
        ));
    }

    #[test]
    fn validation_catches_each_field() {
        let ok = DatabaseConfig::default();
        assert_eq!(ok.validate().ok(), Some(Engine::Sqlite));
        let bad = |f: fn(&mut DatabaseConfig)| {
            let mut c = DatabaseConfig::default();
            f(&mut c);
            c.validate().unwrap_err()
        };
        assert!(matches!(
            bad(|c| c.name = " ".into()),
            ConfigProblem::EmptyName
        ));
        assert!(matches!(
            bad(|c| c.max_connections = 0),
            ConfigProblem::NoConnections
        ));
        assert!(matches!(
            bad(|c| c.statement_timeout = Duration::ZERO),
            ConfigProblem::ZeroTimeout
        ));
        assert!(matches!(
            bad(|c| c.max_rows_default = 0),
            ConfigProblem::RowLimits { .. }
        ));
        assert!(matches!(
            bad(|c| c.max_rows_limit = 10),
            ConfigProblem::RowLimits { .. }
        ));
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://keel:s3cr:et@db.local:5432/app?sslmode=require"),
            "postgres://keel:***@db.local:5432/app?sslmode=require"
        );
        assert_eq!(
            redact_url("postgres://keel@db/app"),
            "postgres://keel@db/app"
        );
        assert_eq!(redact_url("sqlite://keel-demo.db"), "sqlite://keel-demo.db");
        let config = DatabaseConfig::new("pg", "postgres://u:hunter2@h/db");
        assert!(!format!("{config:?}").contains("hunter2"));
    }

    #[test]
    fn row_limits_resolve() {
        let limits = DatabaseConfig::default().limits();
        assert_eq!(limits.max_rows(None).ok(), Some(100));
        assert_eq!(limits.max_rows(Some(0)).ok(), Some(0));
        assert_eq!(limits.max_rows(Some(10_000)).ok(), Some(10_000));
        assert!(matches!(
            limits.max_rows(Some(10_001)),
            Err(QueryError::MaxRowsAboveLimit {
                requested: 10_001,
                limit: 10_000
            })
        ));
    }
}
