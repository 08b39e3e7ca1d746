//! Decoding PostgreSQL's Unicode-escaped identifiers, so the guard sees the name the
//! server will resolve: `U&"\0073et_config"` is `set_config`.

use std::borrow::Cow;

/// The identifier a `U&"…"` token names: `\XXXX` and `\+XXXXXX` (hex code points, with
/// surrogate pairs combined) and a doubled escape character (one escape character), where
/// `\` stands for `escape`; a doubled `"` is one `"`. `None` for an escape the server
/// refuses too (bad hex, a lone surrogate, no code point).
pub(in crate::guard) fn decode_identifier(raw: &str, escape: char) -> Option<Cow<'_, str>> {
    if !raw.contains(escape) && !raw.contains('"') {
        return Some(Cow::Borrowed(raw));
    }
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '"' {
            // The lexer only ends the identifier at a lone `"`, so this one is doubled.
            chars.next();
            out.push('"');
            continue;
        }
        if c != escape {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&escape) {
            chars.next();
            out.push(escape);
            continue;
        }
        let code = code_point(&mut chars)?;
        let code = if (0xD800..0xDC00).contains(&code) {
            // A high surrogate must be followed by an escaped low one.
            if chars.next() != Some(escape) {
                return None;
            }
            let low = code_point(&mut chars)?;
            if !(0xDC00..0xE000).contains(&low) {
                return None;
            }
            0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
        } else {
            code
        };
        out.push(char::from_u32(code).filter(|&c| c != '\0')?);
    }
    Some(Cow::Owned(out))
}

/// Reads `XXXX` or `+XXXXXX` after an escape character.
fn code_point(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Option<u32> {
    let digits = if chars.peek() == Some(&'+') {
        chars.next();
        6
    } else {
        4
    };
    let mut code = 0u32;
    for _ in 0..digits {
        code = code * 16 + chars.next()?.to_digit(16)?;
    }
    Some(code)
}

#[cfg(test)]
mod tests {
    use super::decode_identifier;

    #[test]
    fn escapes_decode_to_the_name_the_server_resolves() {
        let decode = |raw, escape| decode_identifier(raw, escape).map(|s| s.into_owned());
        assert_eq!(
            decode(r"\0073et_config", '\\').as_deref(),
            Some("set_config")
        );
        assert_eq!(
            decode(r"\+000073et_\0063onfig", '\\').as_deref(),
            Some("set_config")
        );
        assert_eq!(decode("!0073et!!x", '!').as_deref(), Some("set!x"));
        assert_eq!(decode(r"a\\b", '\\').as_deref(), Some(r"a\b"));
        assert_eq!(decode(r#"say""hi"#, '\\').as_deref(), Some(r#"say"hi"#));
        assert_eq!(decode(r"\D83D\DE00", '\\').as_deref(), Some("😀"));
        assert_eq!(decode("plain", '\\').as_deref(), Some("plain"));
        for bad in [r"\00", r"\zzzz", r"\D83D", r"\D83Dx", r"\0000", r"\+110000"] {
            assert_eq!(decode(bad, '\\'), None, "{bad}");
        }
    }
}
