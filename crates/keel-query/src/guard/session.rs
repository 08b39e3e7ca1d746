//! Whether a statement that passed the guard may have changed its session, so the
//! backend knows when a connection must be reset before it is reused.
//!
//! Only a function call can change a PostgreSQL session from a read statement
//! (`set_config`, advisory locks, or any user function that calls them). The answer is
//! "maybe" for every call except the built-ins and SQL keywords listed here, so a name the
//! list does not know, however it is spelled, costs a reset and never a leak. SQLite has
//! no session state a read can reach (pragmas and `ATTACH` are refused outright).

use std::borrow::Cow;

use super::lexer::unicode::decode_identifier;
use super::lexer::{Tok, Token};
use crate::config::Engine;

/// Unqualified names that may precede `(` without calling anything that touches the
/// session: SQL keywords, type names with modifiers, and built-in functions that only
/// compute. Lower case; quoted names must match exactly.
const PURE_CALLS: &[&str] = &[
    // Keywords followed by a parenthesis.
    "all",
    "and",
    "any",
    "array",
    "as",
    "between",
    "by",
    "case",
    "cast",
    "distinct",
    "else",
    "except",
    "exists",
    "filter",
    "from",
    "group",
    "ilike",
    "in",
    "intersect",
    "is",
    "join",
    "lateral",
    "like",
    "not",
    "on",
    "or",
    "over",
    "row",
    "select",
    "some",
    "then",
    "union",
    "using",
    "values",
    "when",
    "where",
    "with",
    "within",
    // Type names with modifiers (`numeric(10, 2)`).
    "bit",
    "char",
    "character",
    "decimal",
    "float",
    "interval",
    "numeric",
    "time",
    "timestamp",
    "timestamptz",
    "varchar",
    // Aggregates and window functions.
    "array_agg",
    "avg",
    "bool_and",
    "bool_or",
    "count",
    "dense_rank",
    "every",
    "first_value",
    "json_agg",
    "json_object_agg",
    "jsonb_agg",
    "jsonb_object_agg",
    "lag",
    "last_value",
    "lead",
    "max",
    "min",
    "mode",
    "nth_value",
    "ntile",
    "percent_rank",
    "percentile_cont",
    "percentile_disc",
    "rank",
    "row_number",
    "stddev",
    "string_agg",
    "sum",
    "variance",
    // Scalar functions.
    "abs",
    "age",
    "array_length",
    "btrim",
    "ceil",
    "ceiling",
    "char_length",
    "coalesce",
    "concat",
    "concat_ws",
    "date_part",
    "date_trunc",
    "extract",
    "floor",
    "format",
    "generate_series",
    "greatest",
    "initcap",
    "json_build_array",
    "json_build_object",
    "jsonb_build_array",
    "jsonb_build_object",
    "jsonb_array_elements",
    "jsonb_array_length",
    "jsonb_each",
    "jsonb_extract_path_text",
    "left",
    "least",
    "length",
    "lower",
    "lpad",
    "ltrim",
    "make_date",
    "md5",
    "mod",
    "now",
    "nullif",
    "overlay",
    "position",
    "power",
    "regexp_replace",
    "repeat",
    "replace",
    "reverse",
    "right",
    "round",
    "rpad",
    "rtrim",
    "split_part",
    "sqrt",
    "strpos",
    "substr",
    "substring",
    "to_char",
    "to_date",
    "to_json",
    "to_jsonb",
    "to_number",
    "to_timestamp",
    "trim",
    "trunc",
    "unnest",
    "upper",
];

/// True unless every call in `body` is to a name in [`PURE_CALLS`].
pub(super) fn may_change_session(body: &[Token<'_>], engine: Engine) -> bool {
    if engine != Engine::Postgres {
        return false;
    }
    body.windows(2).enumerate().any(|(i, pair)| {
        if pair[1].tok != Tok::Open {
            return false;
        }
        let name = match pair[0].tok {
            Tok::Word(w) => Cow::Owned(w.to_ascii_lowercase()),
            Tok::Quoted(q) => Cow::Borrowed(q),
            Tok::UnicodeQuoted(raw, escape) => match decode_identifier(raw, escape) {
                Some(name) => name,
                None => return true,
            },
            _ => return false,
        };
        // `pg_catalog.count(…)` is the built-in; `other_schema.count(…)` may be anything.
        let qualified_elsewhere = i > 0
            && body[i - 1].tok == Tok::Dot
            && !(i > 1
                && matches!(body[i - 2].tok, Tok::Word(s) if s.eq_ignore_ascii_case("pg_catalog")));
        qualified_elsewhere || !PURE_CALLS.contains(&&*name)
    })
}

#[cfg(test)]
mod tests {
    use super::super::check;
    use crate::config::Engine;

    fn resets(sql: &str) -> bool {
        check(sql, Engine::Postgres).unwrap().may_change_session
    }

    #[test]
    fn plain_reads_and_known_built_ins_need_no_reset() {
        for sql in [
            "SELECT id, email FROM customers WHERE id = $1",
            "SELECT count(*), sum(total_cents) FROM orders WHERE status IN ('paid', 'sent')",
            "SELECT date_trunc('month', placed_at), COUNT(DISTINCT customer_id) FROM orders GROUP BY 1",
            "SELECT x::numeric(10, 2), pg_catalog.lower(name) FROM t WHERE EXISTS (SELECT 1)",
            "WITH t AS (SELECT 1) SELECT row_number() OVER (ORDER BY 1) FROM t",
        ] {
            assert!(!resets(sql), "{sql}");
        }
    }

    #[test]
    fn any_other_call_needs_a_reset() {
        for sql in [
            "SELECT my_function(1)",
            "SELECT * FROM reporting.count(1)",
            r#"SELECT "COUNT"(1)"#,
            r#"SELECT U&"\0063ount_me"(1)"#,
            "SELECT * FROM t AS x(a, b)",
            "SELECT current_setting('statement_timeout')",
        ] {
            assert!(resets(sql), "{sql}");
        }
        // SQLite sessions hold nothing a read can change.
        assert!(
            !check("SELECT my_function(1)", Engine::Sqlite)
                .unwrap()
                .may_change_session
        );
    }
}
