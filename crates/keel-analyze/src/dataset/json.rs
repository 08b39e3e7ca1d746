//! Datasets from JSON: inline arrays and query-result rows.

use serde_json::Value;

use super::cell::{kind, parse_json};
use super::{Dataset, SINGLE_COLUMN};
use crate::error::{AnalysisError, CellRef, InputError};

const INLINE_SHAPE: &str =
    "an array of numbers, or an object mapping column names to arrays of numbers";

impl Dataset {
    /// Builds a dataset from inline JSON: an array of numbers becomes one column named
    /// `value`; an object maps column names to arrays of numbers.
    ///
    /// Numbers and numeric strings (`"2.5"`) are accepted. Columns keep the order of the
    /// object as `serde_json` stores it: sorted by name unless its `preserve_order` feature is
    /// enabled.
    ///
    /// # Errors
    /// [`AnalysisError::InvalidInput`] for another JSON shape, a null, non-numeric or
    /// non-finite element (naming its row and column), unequal lengths, or no values.
    pub fn from_inline(data: &Value) -> Result<Self, AnalysisError> {
        match data {
            Value::Array(items) => {
                let values = column_values(SINGLE_COLUMN, items)?;
                Self::from_columns(vec![(SINGLE_COLUMN.to_owned(), values)])
            }
            Value::Object(map) => {
                let columns = map
                    .iter()
                    .map(|(name, items)| match items {
                        Value::Array(items) => Ok((name.clone(), column_values(name, items)?)),
                        other => Err(InputError::Shape {
                            expected: "an array of numbers for every column",
                            found: format!("{} for column \"{name}\"", kind(other)),
                        }),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Self::from_columns(columns)
            }
            other => Err(InputError::Shape {
                expected: INLINE_SHAPE,
                found: kind(other).to_owned(),
            }
            .into()),
        }
    }

    /// Builds a dataset from tabular rows, such as the result of a SQL query: `columns` names
    /// the columns and every row holds one value per column, in the same order.
    ///
    /// Numbers and numeric strings are accepted (databases often return decimals as text).
    ///
    /// # Errors
    /// [`AnalysisError::InvalidInput`] for a row of the wrong width, a null (SQL `NULL`),
    /// non-numeric or non-finite value (naming its 1-based row and its column), a missing or
    /// repeated column name, or no rows.
    pub fn from_rows(columns: Vec<String>, rows: Vec<Vec<Value>>) -> Result<Self, AnalysisError> {
        if columns.is_empty() {
            return Err(InputError::NoColumns.into());
        }
        let mut values: Vec<Vec<f64>> = columns
            .iter()
            .map(|_| Vec::with_capacity(rows.len()))
            .collect();
        for (index, row) in rows.iter().enumerate() {
            if row.len() != columns.len() {
                return Err(InputError::RowWidth {
                    location: format!("row {}", index + 1),
                    found: row.len(),
                    expected: columns.len(),
                }
                .into());
            }
            for ((cell, name), column) in row.iter().zip(&columns).zip(&mut values) {
                column.push(parse_json(cell, || CellRef {
                    row: index + 1,
                    column: name.clone(),
                    line: None,
                })?);
            }
        }
        Self::from_columns(columns.into_iter().zip(values).collect())
    }
}

fn column_values(name: &str, items: &[Value]) -> Result<Vec<f64>, InputError> {
    items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            parse_json(item, || CellRef {
                row: index + 1,
                column: name.to_owned(),
                line: None,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::dataset::Dataset;
    use crate::error::AnalysisError;

    fn message(result: Result<Dataset, AnalysisError>) -> String {
        result.expect_err("expected an error").to_string()
    }

    #[test]
    fn inline_array_and_object() {
        let data = Dataset::from_inline(&json!([1, "2", 3.5])).unwrap();
        assert_eq!(data.column("value"), Some(&[1.0, 2.0, 3.5][..]));

        let data = Dataset::from_inline(&json!({"b": [1, 2], "a": [3, 4]})).unwrap();
        assert_eq!(data.rows(), 2);
        assert_eq!(data.column("a"), Some(&[3.0, 4.0][..]));
        assert_eq!(data.column("b"), Some(&[1.0, 2.0][..]));
    }

    #[test]
    fn inline_errors_are_specific() {
        assert_eq!(
            message(Dataset::from_inline(&json!("1,2,3"))),
            "invalid input: expected an array of numbers, or an object mapping column names \
             to arrays of numbers, found a string"
        );
        assert_eq!(
            message(Dataset::from_inline(&json!({"a": 3}))),
            "invalid input: expected an array of numbers for every column, found a number for \
             column \"a\""
        );
        assert_eq!(
            message(Dataset::from_inline(&json!([1, null]))),
            "invalid input: row 2, column \"value\": value is null; every cell must hold a number"
        );
        assert_eq!(
            message(Dataset::from_inline(&json!([]))),
            "invalid input: the dataset has no rows; at least one value is needed"
        );
        assert_eq!(
            message(Dataset::from_inline(&json!({}))),
            "invalid input: the dataset has no columns"
        );
    }

    #[test]
    fn rows_accept_numbers_and_numeric_strings() {
        let data = Dataset::from_rows(
            vec!["price".into(), "qty".into()],
            vec![vec![json!("9.99"), json!(3)], vec![json!(1.5), json!("4")]],
        )
        .unwrap();
        assert_eq!(data.column("price"), Some(&[9.99, 1.5][..]));
        assert_eq!(data.column("qty"), Some(&[3.0, 4.0][..]));
    }

    #[test]
    fn rows_errors_name_row_and_column() {
        let columns = || vec!["price".to_owned(), "qty".to_owned()];
        assert_eq!(
            message(Dataset::from_rows(
                columns(),
                vec![vec![json!(1), json!(2)], vec![json!(1), json!(null)]]
            )),
            "invalid input: row 2, column \"qty\": value is null; every cell must hold a number"
        );
        assert_eq!(
            message(Dataset::from_rows(
                columns(),
                vec![vec![json!("abc"), json!(2)]]
            )),
            "invalid input: row 1, column \"price\": \"abc\" is not a number"
        );
        assert_eq!(
            message(Dataset::from_rows(columns(), vec![vec![json!(1)]])),
            "invalid input: row 1: expected 2 values (one per column), found 1"
        );
        assert_eq!(
            message(Dataset::from_rows(columns(), vec![])),
            "invalid input: the dataset has no rows; at least one value is needed"
        );
        assert_eq!(
            message(Dataset::from_rows(vec![], vec![])),
            "invalid input: the dataset has no columns"
        );
    }
}
