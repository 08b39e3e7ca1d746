//! Counting bind-parameter placeholders so a count mismatch fails before the database.

use super::lexer::{Placeholder, Tok, Token};
use super::rejection::Rejection;
use crate::config::Engine;

/// PostgreSQL's wire protocol carries at most this many parameters.
const PG_MAX_INDEX: usize = 65_535;
/// SQLite's default `SQLITE_MAX_VARIABLE_NUMBER`.
const SQLITE_MAX_INDEX: usize = 32_766;

/// The number of values the statement expects.
///
/// `?` placeholders are counted; numbered ones (`$N`, and `?N` for SQLite) expect as
/// many values as the highest index, the way both engines number them. SQLite's named
/// placeholders and a mix of `?` with numbered ones are refused, because values arrive
/// as a list and the driver would bind such a mix in a surprising order.
pub(super) fn count(tokens: &[Token<'_>], engine: Engine) -> Result<usize, Rejection> {
    let limit = match engine {
        Engine::Postgres => PG_MAX_INDEX,
        Engine::Sqlite => SQLITE_MAX_INDEX,
    };
    let mut anonymous = 0usize;
    let mut highest = 0usize;
    for token in tokens {
        let Tok::Param(placeholder) = token.tok else {
            continue;
        };
        match placeholder {
            Placeholder::Anonymous => anonymous += 1,
            Placeholder::Numbered(digits) => {
                let index = digits
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=limit).contains(n))
                    .ok_or_else(|| Rejection::PlaceholderIndex {
                        index: digits.to_owned(),
                        limit,
                    })?;
                highest = highest.max(index);
            }
            Placeholder::Named(name) => {
                return Err(Rejection::NamedParameter {
                    name: name.to_owned(),
                });
            }
        }
    }
    if anonymous > 0 && highest > 0 {
        return Err(Rejection::MixedPlaceholders);
    }
    Ok(anonymous.max(highest))
}

#[cfg(test)]
mod tests {
    use super::super::lexer::tokenize;
    use super::*;

    fn run(sql: &str, engine: Engine) -> Result<usize, Rejection> {
        count(&tokenize(sql, engine).unwrap(), engine)
    }

    #[test]
    fn counts_and_refusals() {
        assert_eq!(run("SELECT 1", Engine::Sqlite), Ok(0));
        assert_eq!(run("SELECT ?, ?, ?", Engine::Sqlite), Ok(3));
        assert_eq!(run("SELECT ?3, ?1", Engine::Sqlite), Ok(3));
        assert_eq!(run("SELECT $1, $1", Engine::Postgres), Ok(1));
        assert_eq!(
            run("SELECT ?, ?2", Engine::Sqlite),
            Err(Rejection::MixedPlaceholders)
        );
        assert_eq!(
            run("SELECT :id", Engine::Sqlite),
            Err(Rejection::NamedParameter { name: ":id".into() })
        );
        assert_eq!(
            run("SELECT $0", Engine::Sqlite),
            Err(Rejection::PlaceholderIndex {
                index: "0".into(),
                limit: SQLITE_MAX_INDEX
            })
        );
        assert_eq!(
            run("SELECT $99999999999999999999999", Engine::Postgres),
            Err(Rejection::PlaceholderIndex {
                index: "99999999999999999999999".into(),
                limit: PG_MAX_INDEX
            })
        );
    }
}
