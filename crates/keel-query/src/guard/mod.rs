//! The read-only guard: decides, before any database sees it, whether a SQL text is
//! exactly one read statement and how many parameters it takes.
//!
//! The guard is the first of two locks. The second is the engine itself: SQLite
//! connections are opened read-only with `query_only`, PostgreSQL sessions default to
//! read-only transactions. The guard exists to give clear errors early and to close
//! gaps the engine leaves open (several statements in one call, session settings).

mod cache;
mod lexer;
mod placeholders;
mod rejection;
mod session;
mod statement;

pub(crate) use cache::VerdictCache;
pub use rejection::{AllowedExtra, Rejection, Unterminated};

use crate::config::Engine;
use lexer::{Tok, tokenize};

/// The longest SQL text accepted, in bytes.
pub const MAX_SQL_BYTES: usize = 256 * 1024;

/// A statement that passed the guard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Checked<'a> {
    /// The statement text, without the trailing `;` and anything after it.
    pub(crate) sql: &'a str,
    /// Values the statement expects: the count of `?`, or the highest `?N`/`$N`.
    pub(crate) placeholders: usize,
    /// Whether it calls anything that might change its session (see [`session`]): the
    /// connection is then reset before it is reused.
    pub(crate) may_change_session: bool,
}

/// Checks that `sql` is one read-only statement for `engine`.
pub(crate) fn check(sql: &str, engine: Engine) -> Result<Checked<'_>, Rejection> {
    let tokens = tokenize(sql, engine)?;
    let end = tokens
        .iter()
        .position(|t| t.tok == Tok::Semicolon)
        .unwrap_or(tokens.len());
    if tokens[end..].iter().any(|t| t.tok != Tok::Semicolon) {
        return Err(Rejection::MultipleStatements);
    }
    let body = &tokens[..end];
    if body.is_empty() {
        return Err(Rejection::Empty);
    }
    statement::check_read_only(body, engine)?;
    let placeholders = placeholders::count(body, engine)?;
    let may_change_session = session::may_change_session(body, engine);
    let sql = match tokens.get(end) {
        Some(semicolon) => &sql[..semicolon.start],
        None => sql,
    };
    Ok(Checked {
        sql,
        placeholders,
        may_change_session,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LITE: Engine = Engine::Sqlite;
    const PG: Engine = Engine::Postgres;

    fn rejected(sql: &str, engine: Engine) -> Rejection {
        match check(sql, engine) {
            Ok(ok) => panic!("accepted {sql:?}: {ok:?}"),
            Err(rejection) => rejection,
        }
    }

    #[test]
    fn single_statements_pass_and_lose_the_trailing_semicolon() {
        let ok = check("SELECT 1;", LITE).unwrap();
        assert_eq!(ok.sql, "SELECT 1");
        let ok = check("select ';' as s ; ;  -- done", PG).unwrap();
        assert_eq!(ok.sql, "select ';' as s ");
        assert_eq!(
            check("  /* c */ VALUES (1)", LITE).unwrap().sql,
            "  /* c */ VALUES (1)"
        );
    }

    #[test]
    fn several_statements_are_rejected() {
        assert_eq!(
            rejected("SELECT 1; SELECT 2", LITE),
            Rejection::MultipleStatements
        );
        assert_eq!(
            rejected("SELECT 1; DELETE FROM t", PG),
            Rejection::MultipleStatements
        );
        assert_eq!(
            rejected("SELECT $$;$$; DROP TABLE t", PG),
            Rejection::MultipleStatements
        );
        assert_eq!(rejected(" ; ", LITE), Rejection::Empty);
        assert_eq!(rejected("-- nothing", PG), Rejection::Empty);
    }

    #[test]
    fn placeholders_are_counted() {
        assert_eq!(check("SELECT ? + ?", LITE).unwrap().placeholders, 2);
        assert_eq!(check("SELECT ?2 + ?1 + ?2", LITE).unwrap().placeholders, 2);
        assert_eq!(check("SELECT $1, $3", LITE).unwrap().placeholders, 3);
        assert_eq!(
            check("SELECT $2::int, '$9', $1", PG).unwrap().placeholders,
            2
        );
        assert_eq!(check("SELECT '?' , \"?\"", LITE).unwrap().placeholders, 0);
        assert_eq!(
            check("SELECT '{}'::jsonb ? 'a'", PG).unwrap().placeholders,
            0
        );
    }
}
