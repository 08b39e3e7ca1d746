//! JSON parameter values, checked and mapped to the types both engines bind.

use serde_json::Value;

use crate::error::{ParameterProblem, QueryError};

/// The most parameter values one call may carry.
pub const MAX_PARAMS: usize = 1_000;

/// The largest single parameter value, in bytes (strings as UTF-8, arrays and objects as
/// serialized JSON).
pub const MAX_PARAM_BYTES: usize = 1024 * 1024;

/// One parameter value, typed from its JSON form.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Param {
    /// JSON `null`: bound without a type so the engine infers it from context.
    Null,
    /// JSON `true`/`false`.
    Bool(bool),
    /// A JSON number without fraction or exponent that fits `i64`.
    Int(i64),
    /// Any other JSON number.
    Float(f64),
    /// A JSON string.
    Text(String),
    /// A JSON array or object, serialized: `jsonb` for PostgreSQL, text for SQLite.
    Json(String),
}

/// Checks and converts the caller's values.
pub(crate) fn convert(values: &[Value]) -> Result<Vec<Param>, QueryError> {
    if values.len() > MAX_PARAMS {
        return Err(QueryError::TooManyParameters {
            given: values.len(),
            limit: MAX_PARAMS,
        });
    }
    values
        .iter()
        .enumerate()
        .map(|(i, value)| {
            convert_one(value).map_err(|problem| QueryError::InvalidParameter {
                position: i + 1,
                problem,
            })
        })
        .collect()
}

fn convert_one(value: &Value) -> Result<Param, ParameterProblem> {
    let too_large = |bytes: usize| ParameterProblem::TooLarge {
        bytes,
        limit: MAX_PARAM_BYTES,
    };
    Ok(match value {
        Value::Null => Param::Null,
        Value::Bool(b) => Param::Bool(*b),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Param::Int(i)
            } else if let Some(u) = n.as_u64() {
                return Err(ParameterProblem::IntegerOutOfRange(u));
            } else {
                // serde_json numbers are always representable as f64 without arbitrary_precision.
                Param::Float(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        Value::String(s) if s.len() > MAX_PARAM_BYTES => return Err(too_large(s.len())),
        Value::String(s) => Param::Text(s.clone()),
        Value::Array(_) | Value::Object(_) => {
            let text = value.to_string();
            if text.len() > MAX_PARAM_BYTES {
                return Err(too_large(text.len()));
            }
            Param::Json(text)
        }
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn json_values_map_to_types() {
        let params = convert(&[
            json!(null),
            json!(true),
            json!(-7),
            json!(2.5),
            json!("text"),
            json!({"a": [1, 2]}),
        ])
        .unwrap();
        assert_eq!(
            params,
            [
                Param::Null,
                Param::Bool(true),
                Param::Int(-7),
                Param::Float(2.5),
                Param::Text("text".into()),
                Param::Json(r#"{"a":[1,2]}"#.into()),
            ]
        );
    }

    #[test]
    fn out_of_range_and_huge_values_are_refused() {
        let err = convert(&[json!(1), json!(u64::MAX)]).unwrap_err();
        assert!(matches!(
            err,
            QueryError::InvalidParameter {
                position: 2,
                problem: ParameterProblem::IntegerOutOfRange(u64::MAX)
            }
        ));
        let huge = Value::String("x".repeat(MAX_PARAM_BYTES + 1));
        assert!(matches!(
            convert(&[huge]),
            Err(QueryError::InvalidParameter {
                position: 1,
                problem: ParameterProblem::TooLarge { .. }
            })
        ));
        let many = vec![json!(1); MAX_PARAMS + 1];
        assert!(matches!(
            convert(&many),
            Err(QueryError::TooManyParameters { given, limit: MAX_PARAMS }) if given == MAX_PARAMS + 1
        ));
    }
}
