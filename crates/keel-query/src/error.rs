//! The crate's one error type and the small typed reasons it carries.

use std::time::Duration;

use crate::config::Engine;
use crate::guard::Rejection;

/// Everything that can go wrong while configuring, seeding or querying a database.
///
/// Every variant is safe to show to the caller of the query tool: none carries a
/// connection URL or password.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    /// The requested database name is not configured.
    #[error("unknown database `{name}`; configured databases: {}", .available.join(", "))]
    UnknownDatabase {
        /// The name that was asked for.
        name: String,
        /// The configured names, in configuration order.
        available: Vec<String>,
    },

    /// A [`DatabaseConfig`](crate::DatabaseConfig) is not usable.
    #[error("invalid configuration for database `{database}`: {problem}")]
    InvalidConfig {
        /// The configured database name.
        database: String,
        /// What is wrong with it.
        #[source]
        problem: ConfigProblem,
    },

    /// Keel refused the statement before sending it to the database.
    #[error("statement rejected: {0}")]
    Rejected(#[from] Rejection),

    /// The SQL text is longer than [`MAX_SQL_BYTES`](crate::MAX_SQL_BYTES).
    #[error("the SQL text is {bytes} bytes long; the limit is {limit} bytes")]
    SqlTooLong {
        /// Length of the submitted text.
        bytes: usize,
        /// The limit.
        limit: usize,
    },

    /// The number of supplied parameters differs from the placeholders in the SQL.
    #[error(
        "the statement has {expected} parameter placeholder(s) but {given} value(s) were supplied"
    )]
    ParameterCount {
        /// Placeholders found in the SQL (the highest index for numbered placeholders).
        expected: usize,
        /// Values supplied.
        given: usize,
    },

    /// More parameter values than [`MAX_PARAMS`](crate::MAX_PARAMS).
    #[error("{given} parameter values were supplied; the limit is {limit}")]
    TooManyParameters {
        /// Values supplied.
        given: usize,
        /// The limit.
        limit: usize,
    },

    /// One parameter value cannot be bound.
    #[error("parameter {position}: {problem}")]
    InvalidParameter {
        /// 1-based position of the value in the parameter list.
        position: usize,
        /// Why it cannot be bound.
        problem: ParameterProblem,
    },

    /// `max_rows` is above the database's configured `max_rows_limit`.
    #[error("max_rows {requested} is above this database's limit of {limit}")]
    MaxRowsAboveLimit {
        /// The requested row limit.
        requested: usize,
        /// The configured `max_rows_limit`.
        limit: usize,
    },

    /// The statement ran longer than the database's `statement_timeout`.
    #[error("the statement was cancelled after the {timeout:?} statement timeout")]
    Timeout {
        /// The configured statement timeout.
        timeout: Duration,
    },

    /// No pooled connection became free in time.
    #[error("no connection to database `{database}` became free within {waited:?}")]
    Busy {
        /// The database name.
        database: String,
        /// How long the call waited.
        waited: Duration,
    },

    /// The database was closed with [`Database::close`](crate::Database::close).
    #[error("database `{database}` is closed")]
    Closed {
        /// The database name.
        database: String,
    },

    /// The database engine itself refused a write: the connection or transaction is read-only.
    #[error("the database refused to write (read-only connection): {message}")]
    ReadOnly {
        /// The engine's message.
        message: String,
    },

    /// The database rejected or failed the statement (syntax error, unknown table, type error, …).
    #[error("{}", sql_error_text(.code.as_deref(), .message))]
    Sql {
        /// SQLSTATE for PostgreSQL, the extended result code for SQLite.
        code: Option<String>,
        /// The engine's message.
        message: String,
    },

    /// A connection to the database could not be opened.
    #[error("could not connect to database `{database}`: {source}")]
    Connect {
        /// The database name.
        database: String,
        /// The driver error.
        #[source]
        source: sqlx::Error,
    },

    /// Creating the demo dataset failed.
    #[error("could not seed the demo data into {target}: {source}")]
    Seed {
        /// The SQLite file path, or the PostgreSQL URL without its password.
        target: String,
        /// What failed.
        #[source]
        source: SeedFailure,
    },

    /// The driver failed below the SQL level (I/O, protocol, a crashed worker thread).
    #[error("database driver error: {0}")]
    Driver(#[source] sqlx::Error),
}

fn sql_error_text(code: Option<&str>, message: &str) -> String {
    match code {
        Some(code) => format!("database error {code}: {message}"),
        None => format!("database error: {message}"),
    }
}

/// Why a [`DatabaseConfig`](crate::DatabaseConfig) was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigProblem {
    /// The name is empty.
    #[error("the name is empty")]
    EmptyName,
    /// Two databases share one name.
    #[error("the name is used by more than one database")]
    DuplicateName,
    /// The URL scheme is neither `sqlite:` nor `postgres:`/`postgresql:`.
    #[error("unsupported URL scheme `{scheme}` (expected sqlite: or postgres:)")]
    UnsupportedScheme {
        /// The scheme found.
        scheme: String,
    },
    /// The URL could not be parsed by the driver.
    #[error("the URL is malformed: {0}")]
    MalformedUrl(#[source] sqlx::Error),
    /// An in-memory SQLite database would be empty and private to one connection.
    #[error("in-memory SQLite databases are not supported; use a file path")]
    InMemorySqlite,
    /// `max_connections` is zero.
    #[error("max_connections must be at least 1")]
    NoConnections,
    /// `statement_timeout` is zero.
    #[error("statement_timeout must be greater than zero")]
    ZeroTimeout,
    /// `max_rows_default` is zero or above `max_rows_limit`.
    #[error("max_rows_default ({default}) must be between 1 and max_rows_limit ({limit})")]
    RowLimits {
        /// The configured default.
        default: usize,
        /// The configured limit.
        limit: usize,
    },
}

/// Why one JSON parameter value cannot be bound.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParameterProblem {
    /// An integer above `i64::MAX`.
    #[error("integer {0} does not fit in a signed 64-bit integer")]
    IntegerOutOfRange(u64),
    /// A string, array or object larger than [`MAX_PARAM_BYTES`](crate::MAX_PARAM_BYTES).
    #[error("value is {bytes} bytes long; the limit is {limit} bytes")]
    TooLarge {
        /// Encoded size of the value.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
}

/// What failed while creating the SQLite demo database.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SeedFailure {
    /// A file-system step (creating the directory, renaming the finished SQLite file).
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// A SQL step.
    #[error(transparent)]
    Sql(#[from] sqlx::Error),
}

impl QueryError {
    /// Maps a driver error raised while running a statement.
    ///
    /// Engine-specific codes for "read-only" and "interrupted / cancelled" become
    /// [`QueryError::ReadOnly`] and [`QueryError::Timeout`]; other database errors
    /// become [`QueryError::Sql`].
    pub(crate) fn from_statement(error: sqlx::Error, engine: Engine, timeout: Duration) -> Self {
        let sqlx::Error::Database(db) = error else {
            return Self::Driver(error);
        };
        let code = db.code().map(|c| c.into_owned());
        let message = db.message().to_owned();
        match classify(engine, code.as_deref()) {
            Class::ReadOnly => Self::ReadOnly { message },
            Class::Cancelled => Self::Timeout { timeout },
            Class::Other => Self::Sql { code, message },
        }
    }
}

enum Class {
    ReadOnly,
    Cancelled,
    Other,
}

fn classify(engine: Engine, code: Option<&str>) -> Class {
    const SQLITE_READONLY: i64 = 8;
    const SQLITE_INTERRUPT: i64 = 9;
    // SQLITE_CONSTRAINT_COMMITHOOK: the read-only commit hook turned a commit into a rollback.
    const SQLITE_CONSTRAINT_COMMITHOOK: i64 = 531;
    let Some(code) = code else {
        return Class::Other;
    };
    match engine {
        // SQLSTATEs read_only_sql_transaction and query_canceled (statement_timeout).
        Engine::Postgres => match code {
            "25006" => Class::ReadOnly,
            "57014" => Class::Cancelled,
            _ => Class::Other,
        },
        // SQLite reports extended result codes; the primary code is the low byte.
        Engine::Sqlite => match code.parse::<i64>() {
            Ok(SQLITE_CONSTRAINT_COMMITHOOK) => Class::ReadOnly,
            Ok(code) => match code & 0xff {
                SQLITE_READONLY => Class::ReadOnly,
                SQLITE_INTERRUPT => Class::Cancelled,
                _ => Class::Other,
            },
            Err(_) => Class::Other,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_engine_codes() {
        let pg = Engine::Postgres;
        let lite = Engine::Sqlite;
        assert!(matches!(classify(pg, Some("25006")), Class::ReadOnly));
        assert!(matches!(classify(pg, Some("57014")), Class::Cancelled));
        assert!(matches!(classify(pg, Some("42601")), Class::Other));
        // SQLITE_READONLY_DBMOVED = 8 | (4 << 8)
        assert!(matches!(classify(lite, Some("1032")), Class::ReadOnly));
        assert!(matches!(classify(lite, Some("9")), Class::Cancelled));
        assert!(matches!(classify(lite, Some("1")), Class::Other));
        assert!(matches!(classify(lite, None), Class::Other));
    }

    #[test]
    fn messages_name_no_secrets() {
        let err = QueryError::UnknownDatabase {
            name: "sales".into(),
            available: vec!["demo".into(), "warehouse".into()],
        };
        assert_eq!(
            err.to_string(),
            "unknown database `sales`; configured databases: demo, warehouse"
        );
    }
}
