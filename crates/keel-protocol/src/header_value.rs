//! The Base64 sentinel encoding of `Mcp-Name` and `Mcp-Param-{Name}` header values.

use base64::Engine as _;

/// Why a header value could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderValueError {
    /// The value has bytes outside visible ASCII, space and tab.
    #[error("header value contains invalid characters")]
    InvalidCharacters,
    /// The sentinel wraps something that is not Base64 of UTF-8.
    #[error("header value is not valid base64-encoded UTF-8")]
    InvalidBase64,
}

const PREFIX: &str = "=?base64?";
const SUFFIX: &str = "?=";

/// Decodes a header value: `=?base64?…?=` is Base64 of UTF-8, anything else is taken as is.
pub fn decode_header_value(raw: &[u8]) -> Result<String, HeaderValueError> {
    if !raw
        .iter()
        .all(|&b| b == b'\t' || (0x20..=0x7e).contains(&b))
    {
        return Err(HeaderValueError::InvalidCharacters);
    }
    // Checked above: all bytes are ASCII.
    let text = std::str::from_utf8(raw).map_err(|_| HeaderValueError::InvalidCharacters)?;
    match text
        .strip_prefix(PREFIX)
        .and_then(|t| t.strip_suffix(SUFFIX))
    {
        Some(encoded) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .map_err(|_| HeaderValueError::InvalidBase64)?;
            String::from_utf8(bytes).map_err(|_| HeaderValueError::InvalidBase64)
        }
        None => Ok(text.to_owned()),
    }
}

/// Whether a header value stands for `expected`, decoding only when it must: a plain value
/// equal to `expected` matches without allocating.
pub fn header_value_is(raw: &[u8], expected: &str) -> Result<bool, HeaderValueError> {
    if raw == expected.as_bytes()
        && !raw.starts_with(PREFIX.as_bytes())
        && raw
            .iter()
            .all(|&b| b == b'\t' || (0x20..=0x7e).contains(&b))
    {
        return Ok(true);
    }
    decode_header_value(raw).map(|v| v == expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching_decodes_only_the_sentinel() {
        assert_eq!(header_value_is(b"echo", "echo"), Ok(true));
        assert_eq!(header_value_is(b"echo", "other"), Ok(false));
        assert_eq!(header_value_is(b"=?base64?ZWNobw==?=", "echo"), Ok(true));
        assert_eq!(
            header_value_is(b"=?base64?ZWNobw==?=", "=?base64?ZWNobw==?="),
            Ok(false)
        );
        assert_eq!(
            header_value_is(b"=?base64?!!?=", "x"),
            Err(HeaderValueError::InvalidBase64)
        );
        assert_eq!(
            header_value_is(b"caf\xc3\xa9", "caf\u{e9}"),
            Err(HeaderValueError::InvalidCharacters)
        );
    }

    #[test]
    fn plain_values_pass_through() {
        assert_eq!(decode_header_value(b"us-west1").unwrap(), "us-west1");
    }

    #[test]
    fn spec_examples_decode() {
        assert_eq!(
            decode_header_value(b"=?base64?SGVsbG8sIOS4lueVjA==?=").unwrap(),
            "Hello, 世界"
        );
        assert_eq!(
            decode_header_value(b"=?base64?IHBhZGRlZCA=?=").unwrap(),
            " padded "
        );
        assert_eq!(
            decode_header_value(b"=?base64?bGluZTEKbGluZTI=?=").unwrap(),
            "line1\nline2"
        );
        assert_eq!(
            decode_header_value(b"=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?=").unwrap(),
            "=?base64?literal?="
        );
    }

    #[test]
    fn rejects_control_characters_and_bad_base64() {
        assert_eq!(
            decode_header_value(b"a\nb"),
            Err(HeaderValueError::InvalidCharacters)
        );
        assert_eq!(
            decode_header_value(b"=?base64?!!!?="),
            Err(HeaderValueError::InvalidBase64)
        );
    }
}
