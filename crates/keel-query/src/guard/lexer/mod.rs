//! A small SQL tokenizer that knows exactly where strings, quoted identifiers, comments
//! and placeholders begin and end for SQLite and PostgreSQL.
//!
//! It does not parse SQL: it only has to agree with the engines on which bytes are code.
//! sqlparser-rs was considered; its dialects accept and reject different statements than
//! the engines do, while the guard needs only token boundaries, and a full parse on every
//! call would cost more than the point query it guards.

pub(super) mod unicode;

use super::rejection::{Rejection, Unterminated};
use crate::config::Engine;

/// The kinds of token the guard looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Tok<'a> {
    /// An unquoted identifier or keyword, as written.
    Word(&'a str),
    /// A quoted identifier's contents (`"x"`, and for SQLite also `[x]` and `` `x` ``).
    Quoted(&'a str),
    /// A PostgreSQL Unicode-escaped identifier (`U&"d\0061ta"`): its contents as written and
    /// its escape character (`\` unless a `UESCAPE` clause names another). See
    /// [`unicode::decode_identifier`].
    UnicodeQuoted(&'a str, char),
    /// A string, blob or dollar-quoted literal.
    Literal,
    /// A numeric literal.
    Number,
    /// A bind-parameter placeholder.
    Param(Placeholder<'a>),
    /// `;`
    Semicolon,
    /// `(`
    Open,
    /// `)`
    Close,
    /// `.`
    Dot,
    /// `=`
    Equals,
    /// Any other operator or punctuation.
    Other,
}

/// A placeholder as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Placeholder<'a> {
    /// SQLite `?`.
    Anonymous,
    /// `$N` (both engines) or `?N` (SQLite): the digits.
    Numbered(&'a str),
    /// SQLite `:name`, `@name`, `$name`.
    Named(&'a str),
}

/// A token and the byte offset where it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Token<'a> {
    pub(super) tok: Tok<'a>,
    pub(super) start: usize,
}

/// Splits `sql` into tokens, skipping whitespace and comments.
pub(super) fn tokenize(sql: &str, engine: Engine) -> Result<Vec<Token<'_>>, Rejection> {
    if sql.contains('\0') {
        return Err(Rejection::NulByte);
    }
    let mut lexer = Lexer {
        sql,
        bytes: sql.as_bytes(),
        pos: 0,
        pg: engine == Engine::Postgres,
    };
    let mut tokens = Vec::with_capacity(sql.len() / 4 + 1);
    while let Some(token) = lexer.next_token()? {
        tokens.push(token);
    }
    Ok(tokens)
}

#[derive(Clone, Copy)]
struct Lexer<'a> {
    sql: &'a str,
    bytes: &'a [u8],
    pos: usize,
    pg: bool,
}

fn is_word_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b >= 0x80
}

fn is_word_char(b: u8) -> bool {
    is_word_start(b) || b.is_ascii_digit() || b == b'$'
}

impl<'a> Lexer<'a> {
    fn peek(&self, ahead: usize) -> Option<u8> {
        self.bytes.get(self.pos + ahead).copied()
    }

    fn next_token(&mut self) -> Result<Option<Token<'a>>, Rejection> {
        loop {
            let Some(b) = self.peek(0) else {
                return Ok(None);
            };
            let start = self.pos;
            let tok = match b {
                _ if b.is_ascii_whitespace() => {
                    self.pos += 1;
                    continue;
                }
                b'-' if self.peek(1) == Some(b'-') => {
                    self.skip_line_comment();
                    continue;
                }
                b'/' if self.peek(1) == Some(b'*') => {
                    self.skip_block_comment()?;
                    continue;
                }
                b'\'' => {
                    self.pos += 1;
                    self.skip_quoted(b'\'', false, Unterminated::String)?;
                    Tok::Literal
                }
                b'"' => self.quoted_identifier(b'"', b'"')?,
                b'[' if !self.pg => self.quoted_identifier(b'[', b']')?,
                b'`' if !self.pg => self.quoted_identifier(b'`', b'`')?,
                b'$' => self.dollar()?,
                b'?' if !self.pg => {
                    self.pos += 1;
                    let digits = self.take_while(|b| b.is_ascii_digit());
                    Tok::Param(if digits.is_empty() {
                        Placeholder::Anonymous
                    } else {
                        Placeholder::Numbered(digits)
                    })
                }
                b':' | b'@' if !self.pg && self.peek(1).is_some_and(is_word_char) => {
                    self.pos += 1;
                    let name = self.take_while(is_word_char);
                    Tok::Param(Placeholder::Named(&self.sql[start..start + 1 + name.len()]))
                }
                b'0'..=b'9' => self.number(),
                b'.' if self.peek(1).is_some_and(|b| b.is_ascii_digit()) => self.number(),
                _ if is_word_start(b) => self.word()?,
                _ => {
                    self.pos += 1;
                    match b {
                        b';' => Tok::Semicolon,
                        b'(' => Tok::Open,
                        b')' => Tok::Close,
                        b'.' => Tok::Dot,
                        b'=' => Tok::Equals,
                        _ => Tok::Other,
                    }
                }
            };
            return Ok(Some(Token { tok, start }));
        }
    }

    fn take_while(&mut self, keep: impl Fn(u8) -> bool) -> &'a str {
        let start = self.pos;
        while self.peek(0).is_some_and(&keep) {
            self.pos += 1;
        }
        &self.sql[start..self.pos]
    }

    fn skip_line_comment(&mut self) {
        while let Some(b) = self.peek(0) {
            self.pos += 1;
            if b == b'\n' {
                break;
            }
        }
    }

    /// PostgreSQL nests block comments and rejects an unterminated one; SQLite does not nest
    /// them and lets one run to the end of the input.
    fn skip_block_comment(&mut self) -> Result<(), Rejection> {
        self.pos += 2;
        let mut depth = 1usize;
        while let Some(b) = self.peek(0) {
            if b == b'*' && self.peek(1) == Some(b'/') {
                self.pos += 2;
                depth -= 1;
                if depth == 0 {
                    return Ok(());
                }
            } else if self.pg && b == b'/' && self.peek(1) == Some(b'*') {
                self.pos += 2;
                depth += 1;
            } else {
                self.pos += 1;
            }
        }
        if self.pg {
            Err(Rejection::Unterminated(Unterminated::BlockComment))
        } else {
            Ok(())
        }
    }

    /// Skips to just past the closing `quote`; a doubled quote is an escaped one, and with
    /// `backslash` a backslash escapes the next byte (PostgreSQL `E'…'` strings).
    fn skip_quoted(
        &mut self,
        quote: u8,
        backslash: bool,
        what: Unterminated,
    ) -> Result<(), Rejection> {
        while let Some(b) = self.peek(0) {
            self.pos += 1;
            if backslash && b == b'\\' {
                self.pos += 1;
            } else if b == quote {
                if self.peek(0) == Some(quote) {
                    self.pos += 1;
                } else {
                    return Ok(());
                }
            }
        }
        Err(Rejection::Unterminated(what))
    }

    fn quoted_identifier(&mut self, open: u8, close: u8) -> Result<Tok<'a>, Rejection> {
        self.pos += 1;
        let start = self.pos;
        if open == b'[' {
            // SQLite's [name] has no escape for `]`.
            let len = self.bytes[start..]
                .iter()
                .position(|&b| b == close)
                .ok_or(Rejection::Unterminated(Unterminated::QuotedIdentifier))?;
            self.pos = start + len + 1;
        } else {
            self.skip_quoted(close, false, Unterminated::QuotedIdentifier)?;
        }
        Ok(Tok::Quoted(&self.sql[start..self.pos - 1]))
    }

    /// `$1` is a placeholder in both engines. PostgreSQL also has `$tag$…$tag$` strings;
    /// SQLite has `$name` placeholders.
    fn dollar(&mut self) -> Result<Tok<'a>, Rejection> {
        let start = self.pos;
        self.pos += 1;
        if self.peek(0).is_some_and(|b| b.is_ascii_digit()) {
            let digits = self.take_while(|b| b.is_ascii_digit());
            if !self.pg && self.peek(0).is_some_and(is_word_char) {
                // `$1abc` is one SQLite parameter name.
                self.take_while(is_word_char);
                return Ok(Tok::Param(Placeholder::Named(&self.sql[start..self.pos])));
            }
            return Ok(Tok::Param(Placeholder::Numbered(digits)));
        }
        if !self.pg {
            if self.peek(0).is_some_and(is_word_char) {
                self.take_while(is_word_char);
                return Ok(Tok::Param(Placeholder::Named(&self.sql[start..self.pos])));
            }
            return Ok(Tok::Other);
        }
        // A dollar-quote tag: `$$` or `$ident$` (no `$` inside the tag, not starting with a digit).
        let tag_start = self.pos;
        while self
            .peek(0)
            .is_some_and(|b| is_word_start(b) || b.is_ascii_digit())
        {
            self.pos += 1;
        }
        if self.peek(0) != Some(b'$') {
            self.pos = tag_start;
            return Ok(Tok::Other);
        }
        self.pos += 1;
        let delimiter = &self.sql[start..self.pos];
        match self.sql[self.pos..].find(delimiter) {
            Some(offset) => {
                self.pos += offset + delimiter.len();
                Ok(Tok::Literal)
            }
            None => Err(Rejection::Unterminated(Unterminated::DollarQuoted)),
        }
    }

    /// Consumes a `UESCAPE 'c'` clause after a `U&` token and returns its escape character,
    /// or `\\` when there is none. A malformed clause is left for the server to refuse.
    fn uescape(&mut self) -> char {
        let mut ahead = *self;
        let is_uescape = matches!(
            ahead.next_token(),
            Ok(Some(Token { tok: Tok::Word(w), .. })) if w.eq_ignore_ascii_case("UESCAPE")
        );
        if is_uescape
            && let Ok(Some(Token {
                tok: Tok::Literal,
                start,
            })) = ahead.next_token()
            && let Some(escape) = self.sql[start..ahead.pos]
                .strip_prefix('\'')
                .and_then(|s| s.strip_suffix('\''))
                .and_then(single_char)
        {
            self.pos = ahead.pos;
            return escape;
        }
        '\\'
    }

    fn number(&mut self) -> Tok<'a> {
        while let Some(b) = self.peek(0) {
            if (b == b'e' || b == b'E') && matches!(self.peek(1), Some(b'+' | b'-')) {
                self.pos += 2;
            } else if b.is_ascii_alphanumeric() || b == b'.' || b == b'_' {
                self.pos += 1;
            } else {
                break;
            }
        }
        Tok::Number
    }

    fn word(&mut self) -> Result<Tok<'a>, Rejection> {
        let start = self.pos;
        self.take_while(is_word_char);
        let word = &self.sql[start..self.pos];
        if self.pg && word.eq_ignore_ascii_case("u") && self.peek(0) == Some(b'&') {
            match self.peek(1) {
                Some(b'"') => {
                    self.pos += 2;
                    let contents = self.pos;
                    self.skip_quoted(b'"', false, Unterminated::QuotedIdentifier)?;
                    let raw = &self.sql[contents..self.pos - 1];
                    let escape = self.uescape();
                    return Ok(Tok::UnicodeQuoted(raw, escape));
                }
                Some(b'\'') => {
                    self.pos += 2;
                    self.skip_quoted(b'\'', false, Unterminated::String)?;
                    self.uescape();
                    return Ok(Tok::Literal);
                }
                _ => {}
            }
        }
        if self.peek(0) == Some(b'\'') {
            // Prefixed literals: E'…' (backslash escapes), X'…', B'…', N'…'.
            let escapes = self.pg && word.eq_ignore_ascii_case("e");
            if escapes || ["x", "b", "n"].iter().any(|p| word.eq_ignore_ascii_case(p)) {
                self.pos += 1;
                self.skip_quoted(b'\'', escapes, Unterminated::String)?;
                return Ok(Tok::Literal);
            }
        }
        Ok(Tok::Word(word))
    }
}

fn single_char(s: &str) -> Option<char> {
    let mut chars = s.chars();
    let c = chars.next()?;
    chars.next().is_none().then_some(c)
}

#[cfg(test)]
mod tests;
