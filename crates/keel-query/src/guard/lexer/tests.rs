//! Tokenizer cases for both engines.
use super::*;

fn kinds(sql: &str, engine: Engine) -> Vec<Tok<'_>> {
    tokenize(sql, engine)
        .unwrap()
        .into_iter()
        .map(|t| t.tok)
        .collect()
}

#[test]
fn strings_and_comments_hide_semicolons() {
    let sql = "SELECT 'a;b''c', \"x;y\" -- ; trailing\n/* ; */ FROM t";
    let toks = kinds(sql, Engine::Sqlite);
    assert!(!toks.contains(&Tok::Semicolon));
    assert_eq!(toks[0], Tok::Word("SELECT"));
    assert_eq!(toks[3], Tok::Quoted("x;y"));
}

#[test]
fn postgres_literals() {
    let sql = r"SELECT E'it\'s; ok', $$ ; $$, $fn$ a $$ ; $fn$, U&'d\0061t'";
    let toks = kinds(sql, Engine::Postgres);
    assert!(!toks.contains(&Tok::Semicolon), "{toks:?}");
    let nested = "SELECT /* outer /* inner ; */ still comment ; */ 1";
    assert!(!kinds(nested, Engine::Postgres).contains(&Tok::Semicolon));
}

#[test]
fn sqlite_block_comments_do_not_nest() {
    let sql = "SELECT /* a /* b */ 1; */";
    assert!(kinds(sql, Engine::Sqlite).contains(&Tok::Semicolon));
    // Unterminated block comments run to the end of input in SQLite.
    assert_eq!(kinds("SELECT 1 /* x", Engine::Sqlite).len(), 2);
}

#[test]
fn placeholders() {
    let toks = kinds("SELECT ?, ?12, $3, :name, @n, $x", Engine::Sqlite);
    let params: Vec<_> = toks
        .iter()
        .filter_map(|t| match t {
            Tok::Param(p) => Some(*p),
            _ => None,
        })
        .collect();
    assert_eq!(
        params,
        [
            Placeholder::Anonymous,
            Placeholder::Numbered("12"),
            Placeholder::Numbered("3"),
            Placeholder::Named(":name"),
            Placeholder::Named("@n"),
            Placeholder::Named("$x"),
        ]
    );
    let pg = kinds("SELECT data ? 'k', $1, a$b FROM t", Engine::Postgres);
    assert!(pg.contains(&Tok::Param(Placeholder::Numbered("1"))));
    assert!(pg.contains(&Tok::Word("a$b")));
    assert!(
        !pg.iter()
            .any(|t| matches!(t, Tok::Param(Placeholder::Anonymous)))
    );
}

#[test]
fn sqlite_identifier_quotes() {
    let toks = kinds("SELECT [a;b], `c``;d` FROM t", Engine::Sqlite);
    assert_eq!(toks[1], Tok::Quoted("a;b"));
    assert_eq!(toks[3], Tok::Quoted("c``;d"));
}

#[test]
fn unterminated_input_is_rejected() {
    for (sql, engine, what) in [
        ("SELECT 'abc", Engine::Sqlite, Unterminated::String),
        (
            "SELECT \"abc",
            Engine::Postgres,
            Unterminated::QuotedIdentifier,
        ),
        (
            "SELECT [abc",
            Engine::Sqlite,
            Unterminated::QuotedIdentifier,
        ),
        (
            "SELECT $q$ abc",
            Engine::Postgres,
            Unterminated::DollarQuoted,
        ),
        (
            "SELECT /* abc",
            Engine::Postgres,
            Unterminated::BlockComment,
        ),
        (r"SELECT E'abc\'", Engine::Postgres, Unterminated::String),
    ] {
        assert_eq!(
            tokenize(sql, engine),
            Err(Rejection::Unterminated(what)),
            "{sql}"
        );
    }
    assert_eq!(
        tokenize("SELECT 1\0", Engine::Sqlite),
        Err(Rejection::NulByte)
    );
}

#[test]
fn numbers_and_non_ascii() {
    let toks = kinds("SELECT 1.5e-3, .5, 0x1F, café FROM t", Engine::Sqlite);
    assert_eq!(toks.iter().filter(|t| **t == Tok::Number).count(), 3);
    assert!(toks.contains(&Tok::Word("café")));
}

#[test]
fn unicode_escaped_identifiers_and_strings() {
    let toks = kinds(
        r#"SELECT U&"\0073et_config"(1), u&'\0027;' FROM t"#,
        Engine::Postgres,
    );
    assert_eq!(toks[1], Tok::UnicodeQuoted(r"\0073et_config", '\\'));
    assert_eq!(toks[2], Tok::Open);
    assert_eq!(toks[6], Tok::Literal);
    assert!(!toks.contains(&Tok::Semicolon), "{toks:?}");
    // A UESCAPE clause is part of the token; comments may sit in between.
    let toks = kinds(
        r#"SELECT U&"!0061" /* c */ UESCAPE '!' , U&'x' uescape '#' FROM t"#,
        Engine::Postgres,
    );
    assert_eq!(
        toks,
        [
            Tok::Word("SELECT"),
            Tok::UnicodeQuoted("!0061", '!'),
            Tok::Other,
            Tok::Literal,
            Tok::Word("FROM"),
            Tok::Word("t")
        ]
    );
    // Without UESCAPE the escape stays `\`, and what follows is left alone.
    let toks = kinds(r#"SELECT U&"a" AS uescape"#, Engine::Postgres);
    assert_eq!(toks[1], Tok::UnicodeQuoted("a", '\\'));
    assert_eq!(toks[3], Tok::Word("uescape"));
    // SQLite has no U& syntax.
    assert_eq!(
        kinds(r#"SELECT U&"x""#, Engine::Sqlite)[1..],
        [Tok::Word("U"), Tok::Other, Tok::Quoted("x")]
    );
    assert!(matches!(
        tokenize(r#"SELECT U&"abc"#, Engine::Postgres),
        Err(Rejection::Unterminated(Unterminated::QuotedIdentifier))
    ));
}
