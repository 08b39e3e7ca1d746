//! Turning one textual or JSON cell into a finite `f64`, with errors that name the cell.

use serde_json::Value;

use crate::error::{CellRef, InputError};

/// Longest excerpt of a bad value quoted back in an error.
const QUOTE_LIMIT: usize = 40;

/// Parses trimmed text as a finite number. The caller handles empty text.
pub(super) fn parse_text(text: &str, at: impl FnOnce() -> CellRef) -> Result<f64, InputError> {
    let trimmed = text.trim();
    match trimmed.parse::<f64>() {
        Ok(value) if value.is_finite() => Ok(value),
        Ok(_) => Err(InputError::NonFinite {
            at: at(),
            value: quote(trimmed),
        }),
        Err(_) => Err(InputError::NotNumeric {
            at: at(),
            value: quote(trimmed),
        }),
    }
}

/// Reads a JSON number or numeric string as a finite number.
pub(super) fn parse_json(value: &Value, at: impl FnOnce() -> CellRef) -> Result<f64, InputError> {
    match value {
        Value::Number(number) => match number.as_f64() {
            Some(v) if v.is_finite() => Ok(v),
            _ => Err(InputError::NonFinite {
                at: at(),
                value: number.to_string(),
            }),
        },
        Value::String(text) => parse_text(text, at),
        Value::Null => Err(InputError::Null { at: at() }),
        other => Err(InputError::NotNumeric {
            at: at(),
            value: shorten(&other.to_string()),
        }),
    }
}

/// The JSON kind of a value, for shape errors.
pub(super) fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn quote(text: &str) -> String {
    format!("\"{}\"", shorten(text))
}

fn shorten(text: &str) -> String {
    match text.char_indices().nth(QUOTE_LIMIT) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::{parse_json, parse_text};
    use crate::error::{CellRef, InputError};
    use serde_json::json;

    fn here() -> CellRef {
        CellRef {
            row: 1,
            column: "x".into(),
            line: None,
        }
    }

    #[test]
    fn accepts_numbers_and_numeric_strings() {
        assert_eq!(parse_text(" 1.5e3 ", here).unwrap(), 1500.0);
        assert_eq!(parse_text("-.5", here).unwrap(), -0.5);
        assert_eq!(parse_json(&json!(7), here).unwrap(), 7.0);
        assert_eq!(parse_json(&json!("2.25"), here).unwrap(), 2.25);
    }

    #[test]
    fn rejects_text_null_and_non_finite() {
        let err = parse_text("12abc", here).unwrap_err();
        assert_eq!(
            err.to_string(),
            "row 1, column \"x\": \"12abc\" is not a number"
        );
        assert!(matches!(
            parse_text("inf", here),
            Err(InputError::NonFinite { .. })
        ));
        assert!(matches!(
            parse_json(&json!("NaN"), here),
            Err(InputError::NonFinite { .. })
        ));
        assert_eq!(
            parse_json(&json!(null), here),
            Err(InputError::Null { at: here() })
        );
        assert!(matches!(
            parse_json(&json!(true), here),
            Err(InputError::NotNumeric { value, .. }) if value == "true"
        ));
    }

    #[test]
    fn long_values_are_shortened_in_errors() {
        let long = "x".repeat(100);
        let Err(InputError::NotNumeric { value, .. }) = parse_text(&long, here) else {
            panic!("expected a non-numeric error");
        };
        assert_eq!(value.chars().count(), 40 + 3);
    }
}
