//! Why the guard refused a statement.

use std::fmt;

/// A statement Keel refuses to send to the database.
///
/// Messages are written for the caller of the query tool: each says what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Rejection {
    /// Nothing but whitespace and comments.
    #[error("the SQL text contains no statement")]
    Empty,
    /// More than one statement separated by `;`.
    #[error("only one statement per call is allowed; remove the `;` between statements")]
    MultipleStatements,
    /// A string, quoted identifier, comment or dollar-quoted body is not closed.
    #[error("unterminated {0}")]
    Unterminated(Unterminated),
    /// A NUL byte in the SQL text.
    #[error("the SQL text contains a NUL byte")]
    NulByte,
    /// The statement is not a read: it starts with a keyword other than SELECT, WITH,
    /// VALUES, EXPLAIN, SHOW/TABLE (PostgreSQL) or an introspection PRAGMA (SQLite).
    #[error(
        "`{keyword}` statements are not allowed: the query tool is read-only \
         (statements must start with SELECT, WITH, VALUES{extra})"
    )]
    NotReadOnly {
        /// The leading keyword, upper-cased.
        keyword: String,
        /// Engine-specific allowed keywords, for the message.
        extra: AllowedExtra,
    },
    /// A keyword that writes or locks appears inside the statement, such as a
    /// data-modifying `WITH … INSERT` or `SELECT … FOR UPDATE`.
    #[error("`{keyword}` is not allowed: the query tool is read-only")]
    WriteKeyword {
        /// The keyword, upper-cased.
        keyword: String,
    },
    /// `SELECT … INTO` creates a table.
    #[error("SELECT … INTO creates a table and is not allowed; drop the INTO clause")]
    SelectInto,
    /// `EXPLAIN ANALYZE` executes the statement it explains.
    #[error("EXPLAIN ANALYZE executes the statement and is not allowed; use plain EXPLAIN")]
    ExplainAnalyze,
    /// A PRAGMA that can change state, or one outside the introspection list.
    #[error(
        "PRAGMA {name} is not allowed: only introspection pragmas such as table_info, \
         index_list or foreign_key_list, without `=`, may be used"
    )]
    Pragma {
        /// The pragma name, lower-cased.
        name: String,
    },
    /// A function that changes session state or reaches outside the database.
    #[error("the function {name}() is not allowed: {reason}")]
    Function {
        /// The function name, lower-cased.
        name: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// A named placeholder (`:name`, `@name`, `$name`), which cannot be bound from a list.
    #[error("named parameter `{name}` is not supported; use ?, ?N or $N placeholders")]
    NamedParameter {
        /// The placeholder as written.
        name: String,
    },
    /// `?` mixed with `?N`/`$N` in one SQLite statement.
    #[error("mix of ? and numbered (?N, $N) placeholders; use one style")]
    MixedPlaceholders,
    /// A numbered placeholder outside `1..=limit`.
    #[error("placeholder index {index} is out of range (1..={limit})")]
    PlaceholderIndex {
        /// The index as written.
        index: String,
        /// The engine's highest index.
        limit: usize,
    },
}

/// What was left open at the end of the SQL text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Unterminated {
    /// A `'…'` literal.
    String,
    /// A `"…"`, `[…]` or `` `…` `` identifier.
    QuotedIdentifier,
    /// A `/* … */` comment.
    BlockComment,
    /// A PostgreSQL `$tag$ … $tag$` literal.
    DollarQuoted,
}

impl fmt::Display for Unterminated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::String => "string literal",
            Self::QuotedIdentifier => "quoted identifier",
            Self::BlockComment => "/* comment",
            Self::DollarQuoted => "dollar-quoted string",
        })
    }
}

/// The engine-specific tail of the allowed-keyword list in [`Rejection::NotReadOnly`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AllowedExtra {
    /// SQLite also allows EXPLAIN and introspection PRAGMAs.
    Sqlite,
    /// PostgreSQL also allows EXPLAIN, SHOW and TABLE.
    Postgres,
}

impl fmt::Display for AllowedExtra {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Sqlite => ", EXPLAIN or an introspection PRAGMA",
            Self::Postgres => ", EXPLAIN, SHOW or TABLE",
        })
    }
}
