//! Which statements count as reads.

use std::borrow::Cow;

use super::lexer::unicode::decode_identifier;
use super::lexer::{Tok, Token};
use super::rejection::{AllowedExtra, Rejection};
use crate::config::Engine;

/// Keywords that make a statement write or lock rows wherever they appear, for example in
/// a data-modifying `WITH x AS (DELETE …) SELECT …` or in `SELECT … FOR UPDATE`.
const WRITE_KEYWORDS: &[&str] = &["INSERT", "UPDATE", "DELETE", "MERGE"];

/// Functions refused in any position, with the reason shown to the caller.
const FORBIDDEN_FUNCTIONS: &[(&str, &str)] = &[
    (
        "set_config",
        "it changes session settings such as read-only mode and the statement timeout",
    ),
    (
        "pg_advisory_lock",
        "session-level locks outlive the call on a pooled connection",
    ),
    (
        "pg_advisory_lock_shared",
        "session-level locks outlive the call on a pooled connection",
    ),
    (
        "pg_try_advisory_lock",
        "session-level locks outlive the call on a pooled connection",
    ),
    (
        "pg_try_advisory_lock_shared",
        "session-level locks outlive the call on a pooled connection",
    ),
    (
        "dblink",
        "a read-only transaction does not extend to other servers",
    ),
    (
        "dblink_exec",
        "a read-only transaction does not extend to other servers",
    ),
    (
        "dblink_connect",
        "a read-only transaction does not extend to other servers",
    ),
    (
        "dblink_connect_u",
        "a read-only transaction does not extend to other servers",
    ),
    (
        "dblink_send_query",
        "a read-only transaction does not extend to other servers",
    ),
    (
        "query_to_xml",
        "it runs SQL text that the read-only check cannot see",
    ),
    (
        "query_to_xmlschema",
        "it runs SQL text that the read-only check cannot see",
    ),
    (
        "query_to_xml_and_xmlschema",
        "it runs SQL text that the read-only check cannot see",
    ),
    (
        "ts_stat",
        "it runs SQL text that the read-only check cannot see",
    ),
    ("pg_terminate_backend", "it acts on other sessions"),
    ("pg_cancel_backend", "it acts on other sessions"),
    ("pg_reload_conf", "it changes server configuration"),
    ("lo_export", "it writes files on the database server"),
    ("lo_import", "it reads server files into the database"),
    (
        "load_extension",
        "it loads native code into the database process",
    ),
];

/// SQLite pragmas that only report, and may take a table, index or schema argument.
const PRAGMAS_WITH_ARGUMENT: &[&str] = &[
    "foreign_key_check",
    "foreign_key_list",
    "index_info",
    "index_list",
    "index_xinfo",
    "integrity_check",
    "quick_check",
    "table_info",
    "table_list",
    "table_xinfo",
];

/// SQLite pragmas that report a setting when given no argument (and would change it with one).
const PRAGMAS_WITHOUT_ARGUMENT: &[&str] = &[
    "application_id",
    "busy_timeout",
    "cache_size",
    "collation_list",
    "compile_options",
    "data_version",
    "database_list",
    "encoding",
    "foreign_keys",
    "freelist_count",
    "function_list",
    "journal_mode",
    "module_list",
    "page_count",
    "page_size",
    "pragma_list",
    "query_only",
    "schema_version",
    "user_version",
];

/// Refuses anything but a single read statement (`body` holds no `;`).
pub(super) fn check_read_only(body: &[Token<'_>], engine: Engine) -> Result<(), Rejection> {
    let (keyword, rest) = leading_keyword(body, engine)?;
    match keyword.as_str() {
        "SELECT" | "VALUES" | "WITH" => {}
        "SHOW" | "TABLE" if engine == Engine::Postgres => {}
        "EXPLAIN" => check_explain(rest, engine)?,
        "PRAGMA" if engine == Engine::Sqlite => return check_pragma(rest),
        _ => return Err(not_read_only(keyword, engine)),
    }
    check_body(body, engine)
}

fn not_read_only(keyword: String, engine: Engine) -> Rejection {
    Rejection::NotReadOnly {
        keyword,
        extra: match engine {
            Engine::Sqlite => AllowedExtra::Sqlite,
            Engine::Postgres => AllowedExtra::Postgres,
        },
    }
}

/// The first keyword, upper-cased, after any opening parentheses, and the tokens after it.
fn leading_keyword<'t, 'a>(
    tokens: &'t [Token<'a>],
    engine: Engine,
) -> Result<(String, &'t [Token<'a>]), Rejection> {
    let start = tokens
        .iter()
        .position(|t| t.tok != Tok::Open)
        .unwrap_or(tokens.len());
    match tokens.get(start).map(|t| t.tok) {
        Some(Tok::Word(word)) => Ok((word.to_ascii_uppercase(), &tokens[start + 1..])),
        Some(Tok::Quoted(name)) => Err(not_read_only(format!("\"{name}\""), engine)),
        Some(Tok::UnicodeQuoted(raw, escape)) => {
            let name = decode_identifier(raw, escape).unwrap_or(Cow::Borrowed(raw));
            Err(not_read_only(format!("\"{name}\""), engine))
        }
        _ => Err(not_read_only("(no keyword)".to_owned(), engine)),
    }
}

/// `EXPLAIN [QUERY PLAN | VERBOSE | (options)] statement`, never with ANALYZE.
fn check_explain(tokens: &[Token<'_>], engine: Engine) -> Result<(), Rejection> {
    let mut rest = tokens;
    if engine == Engine::Postgres && rest.first().is_some_and(|t| t.tok == Tok::Open) {
        let close = rest
            .iter()
            .position(|t| t.tok == Tok::Close)
            .unwrap_or(rest.len());
        if rest[..close].iter().any(|t| is_analyze(t.tok)) {
            return Err(Rejection::ExplainAnalyze);
        }
        rest = rest.get(close + 1..).unwrap_or_default();
    }
    while let Some(token) = rest.first() {
        if is_analyze(token.tok) {
            return Err(Rejection::ExplainAnalyze);
        }
        match token.tok {
            Tok::Word(w)
                if ["VERBOSE", "QUERY", "PLAN"]
                    .iter()
                    .any(|k| w.eq_ignore_ascii_case(k)) =>
            {
                rest = &rest[1..];
            }
            _ => break,
        }
    }
    let (inner, _) = leading_keyword(rest, engine)?;
    match inner.as_str() {
        "SELECT" | "VALUES" | "WITH" => Ok(()),
        "TABLE" if engine == Engine::Postgres => Ok(()),
        _ => Err(not_read_only(format!("EXPLAIN {inner}"), engine)),
    }
}

fn is_analyze(tok: Tok<'_>) -> bool {
    matches!(tok, Tok::Word(w) if w.eq_ignore_ascii_case("ANALYZE") || w.eq_ignore_ascii_case("ANALYSE"))
}

/// `PRAGMA [schema.]name` or `PRAGMA [schema.]name(argument)` for introspection pragmas.
fn check_pragma(tokens: &[Token<'_>]) -> Result<(), Rejection> {
    let word = |i: usize| match tokens.get(i).map(|t| t.tok) {
        Some(Tok::Word(w) | Tok::Quoted(w)) => Some(w.to_ascii_lowercase()),
        _ => None,
    };
    let (name, rest) = if tokens.get(1).is_some_and(|t| t.tok == Tok::Dot) {
        (word(2), tokens.get(3..).unwrap_or_default())
    } else {
        (word(0), tokens.get(1..).unwrap_or_default())
    };
    let name = name.unwrap_or_default();
    let refuse = || Rejection::Pragma { name: name.clone() };
    if rest.iter().any(|t| t.tok == Tok::Equals) {
        return Err(refuse());
    }
    let has_argument = match rest.first() {
        None => false,
        Some(t) if t.tok == Tok::Open && rest.last().is_some_and(|t| t.tok == Tok::Close) => true,
        Some(_) => return Err(refuse()),
    };
    let allowed = PRAGMAS_WITH_ARGUMENT.contains(&name.as_str())
        || (!has_argument && PRAGMAS_WITHOUT_ARGUMENT.contains(&name.as_str()));
    if allowed { Ok(()) } else { Err(refuse()) }
}

/// Scans every token for write keywords, `SELECT … INTO` and refused functions.
fn check_body(tokens: &[Token<'_>], engine: Engine) -> Result<(), Rejection> {
    for (i, token) in tokens.iter().enumerate() {
        let (name, quoted) = match token.tok {
            Tok::Word(w) => (Cow::Borrowed(w), false),
            Tok::Quoted(q) => (Cow::Borrowed(q), true),
            // Undecodable escapes are refused by the server itself.
            Tok::UnicodeQuoted(raw, escape) => match decode_identifier(raw, escape) {
                Some(name) => (name, true),
                None => continue,
            },
            _ => continue,
        };
        let name = &*name;
        let called = tokens.get(i + 1).is_some_and(|t| t.tok == Tok::Open);
        if called
            && let Some((function, reason)) = FORBIDDEN_FUNCTIONS
                .iter()
                .find(|(f, _)| name.eq_ignore_ascii_case(f))
        {
            return Err(Rejection::Function {
                name: (*function).to_owned(),
                reason,
            });
        }
        // `t.update` is a column, not a keyword.
        let qualified = i > 0 && tokens[i - 1].tok == Tok::Dot;
        if quoted || qualified {
            continue;
        }
        if WRITE_KEYWORDS.iter().any(|k| name.eq_ignore_ascii_case(k))
            || (name.eq_ignore_ascii_case("REPLACE") && !called)
        {
            return Err(Rejection::WriteKeyword {
                keyword: name.to_ascii_uppercase(),
            });
        }
        if engine == Engine::Postgres && name.eq_ignore_ascii_case("INTO") {
            return Err(Rejection::SelectInto);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::check;
    use super::*;

    const LITE: Engine = Engine::Sqlite;
    const PG: Engine = Engine::Postgres;

    fn ok(sql: &str, engine: Engine) {
        if let Err(e) = check(sql, engine) {
            panic!("{sql:?} rejected: {e}");
        }
    }

    fn no(sql: &str, engine: Engine) -> Rejection {
        check(sql, engine).expect_err(sql)
    }

    #[test]
    fn reads_pass() {
        for sql in [
            "SELECT * FROM customers WHERE id = ?",
            "with t as (select 1 as x) select x from t",
            "VALUES (1, 'a'), (2, 'b')",
            "(SELECT 1) UNION (SELECT 2)",
            "EXPLAIN QUERY PLAN SELECT * FROM orders",
            "SELECT replace(name, 'a', 'b'), o.update FROM t AS o",
            "SELECT \"delete\" FROM t",
            "PRAGMA table_info(customers)",
            "PRAGMA main.index_list('orders')",
            "pragma page_count",
        ] {
            ok(sql, LITE);
        }
        for sql in [
            "SELECT * FROM customers WHERE id = $1",
            "SHOW statement_timeout",
            "TABLE customers",
            "EXPLAIN (COSTS false, FORMAT json) SELECT 1",
            "EXPLAIN VERBOSE WITH x AS (SELECT 1) SELECT * FROM x",
            "SELECT data->>'a' FROM t WHERE data ? 'a'",
        ] {
            ok(sql, PG);
        }
    }

    #[test]
    fn writes_are_refused_by_leading_keyword() {
        for (sql, keyword) in [
            ("INSERT INTO t VALUES (1)", "INSERT"),
            ("update t set x = 1", "UPDATE"),
            ("DELETE FROM t", "DELETE"),
            ("DROP TABLE t", "DROP"),
            ("ATTACH DATABASE 'x.db' AS x", "ATTACH"),
            ("VACUUM INTO 'copy.db'", "VACUUM"),
            ("BEGIN", "BEGIN"),
            ("SHOW tables", "SHOW"),
        ] {
            assert!(
                matches!(no(sql, LITE), Rejection::NotReadOnly { keyword: k, .. } if k == keyword),
                "{sql}"
            );
        }
        for sql in [
            "SET statement_timeout = 0",
            "COPY t TO '/tmp/x'",
            "CALL p()",
            "PRAGMA x",
        ] {
            assert!(
                matches!(no(sql, PG), Rejection::NotReadOnly { .. }),
                "{sql}"
            );
        }
    }

    #[test]
    fn nested_writes_are_refused() {
        for sql in [
            "WITH gone AS (DELETE FROM t RETURNING *) SELECT * FROM gone",
            "WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x",
            "WITH x AS (SELECT 1) REPLACE INTO t SELECT * FROM x",
            "SELECT * FROM t FOR UPDATE",
        ] {
            assert!(
                matches!(no(sql, PG), Rejection::WriteKeyword { .. }),
                "{sql}"
            );
        }
        assert_eq!(no("SELECT * INTO copy FROM t", PG), Rejection::SelectInto);
    }

    #[test]
    fn explain_analyze_is_refused() {
        assert_eq!(
            no("EXPLAIN ANALYZE SELECT 1", PG),
            Rejection::ExplainAnalyze
        );
        assert_eq!(
            no("explain (analyse, buffers) SELECT 1", PG),
            Rejection::ExplainAnalyze
        );
        assert!(matches!(
            no("EXPLAIN DELETE FROM t", PG),
            Rejection::NotReadOnly { keyword, .. } if keyword == "EXPLAIN DELETE"
        ));
    }

    #[test]
    fn pragma_writes_are_refused() {
        for sql in [
            "PRAGMA query_only = OFF",
            "PRAGMA journal_mode(WAL)",
            "PRAGMA main.user_version = 3",
            "PRAGMA writable_schema",
            "PRAGMA table_info(t) extra",
        ] {
            assert!(matches!(no(sql, LITE), Rejection::Pragma { .. }), "{sql}");
        }
    }

    #[test]
    fn session_functions_are_refused() {
        for sql in [
            "SELECT set_config('default_transaction_read_only', 'off', false)",
            "SELECT pg_catalog.SET_CONFIG('statement_timeout', '0', false)",
            "SELECT \"set_config\"('a', 'b', false)",
            "SELECT pg_advisory_lock(1)",
            "SELECT * FROM set_config('statement_timeout', '0', false)",
            "SELECT \"pg_catalog\".\"set_config\" /* gap */ ('a', 'b', false)",
            r#"SELECT U&"\0073et_config"('default_transaction_read_only', 'off', false)"#,
            r#"SELECT u&"\+000073et_\0063onfig"('a', 'b', false)"#,
            r#"SELECT pg_catalog.U&"!0073et_config" UESCAPE '!' ('a', 'b', false)"#,
            "SELECT query_to_xml('SELECT set_config(''a'', ''b'', false)', true, false, '')",
        ] {
            let rejection = no(sql, PG);
            assert!(matches!(rejection, Rejection::Function { .. }), "{sql}");
        }
        // The refusal names the function the server would have called.
        let escaped = r#"SELECT U&"\0073et_config"('statement_timeout', '0', false)"#;
        assert!(
            matches!(no(escaped, PG), Rejection::Function { name, .. } if name == "set_config")
        );
        assert!(no(escaped, PG).to_string().contains("set_config"));
        // Escapes in a string literal are data.
        ok(r"SELECT U&'\0073et_config(' AS s", PG);
        // A column that happens to share the name is fine.
        ok("SELECT set_config FROM settings", PG);
    }
}
