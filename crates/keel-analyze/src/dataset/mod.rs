//! The input model: named numeric columns of equal length, validated once at construction.

mod cell;
mod csv_text;
mod json;

pub use csv_text::{CsvOptions, EmptyCells};

use std::collections::HashSet;

use crate::error::{AnalysisError, CellRef, InputError};

/// Named numeric columns of equal, non-zero length holding only finite values.
///
/// Every constructor validates, so a `Dataset` that exists is always analysable: at least one
/// column, at least one row, unique non-empty names, no NaN or infinity.
#[derive(Clone, PartialEq)]
pub struct Dataset {
    columns: Vec<(String, Vec<f64>)>,
    rows: usize,
}

/// Shows the shape, not the (possibly millions of) values.
impl std::fmt::Debug for Dataset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dataset")
            .field("rows", &self.rows)
            .field("columns", &self.column_names().collect::<Vec<_>>())
            .finish()
    }
}

impl Dataset {
    /// Builds a dataset from named columns, in the given order.
    ///
    /// # Errors
    /// [`AnalysisError::InvalidInput`] when there are no columns or rows, a name is empty or
    /// repeated, the lengths differ, or a value is NaN or infinite.
    pub fn from_columns(columns: Vec<(String, Vec<f64>)>) -> Result<Self, AnalysisError> {
        let Some((first, first_values)) = columns.first() else {
            return Err(InputError::NoColumns.into());
        };
        let rows = first_values.len();
        let mut seen = HashSet::with_capacity(columns.len());
        for (position, (name, values)) in columns.iter().enumerate() {
            if name.is_empty() {
                return Err(InputError::EmptyColumnName {
                    position: position + 1,
                }
                .into());
            }
            if !seen.insert(name.as_str()) {
                return Err(InputError::DuplicateColumn { name: name.clone() }.into());
            }
            if values.len() != rows {
                return Err(InputError::LengthMismatch {
                    column: name.clone(),
                    found: values.len(),
                    first: first.clone(),
                    expected: rows,
                }
                .into());
            }
        }
        if rows == 0 {
            return Err(InputError::NoRows.into());
        }
        for (name, values) in &columns {
            if let Some(index) = values.iter().position(|v| !v.is_finite()) {
                return Err(InputError::NonFinite {
                    at: CellRef {
                        row: index + 1,
                        column: name.clone(),
                        line: None,
                    },
                    value: values[index].to_string(),
                }
                .into());
            }
        }
        Ok(Self { columns, rows })
    }

    /// Builds a one-column dataset whose column is named `value`.
    ///
    /// # Errors
    /// As [`from_columns`](Self::from_columns): empty input or a non-finite value.
    pub fn from_values(values: Vec<f64>) -> Result<Self, AnalysisError> {
        Self::from_columns(vec![(String::from(SINGLE_COLUMN), values)])
    }

    /// Number of rows (values per column); at least 1.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns; at least 1.
    pub fn column_count(&self) -> usize {
        self.columns.len()
    }

    /// Column names in order.
    pub fn column_names(&self) -> impl ExactSizeIterator<Item = &str> {
        self.columns.iter().map(|(name, _)| name.as_str())
    }

    /// The values of the column called `name`.
    pub fn column(&self, name: &str) -> Option<&[f64]> {
        self.columns
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, values)| values.as_slice())
    }

    /// Every column as `(name, values)`, in order.
    pub fn columns(&self) -> impl ExactSizeIterator<Item = (&str, &[f64])> {
        self.columns
            .iter()
            .map(|(name, values)| (name.as_str(), values.as_slice()))
    }

    /// Gives the columns back.
    pub fn into_columns(self) -> Vec<(String, Vec<f64>)> {
        self.columns
    }

    pub(crate) fn index_of(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|(n, _)| n == name)
    }

    pub(crate) fn name_at(&self, index: usize) -> &str {
        &self.columns[index].0
    }

    pub(crate) fn values_at(&self, index: usize) -> &[f64] {
        &self.columns[index].1
    }
}

/// Name of the column made from a bare array of values.
const SINGLE_COLUMN: &str = "value";

#[cfg(test)]
mod tests {
    use super::Dataset;
    use crate::error::{AnalysisError, InputError};

    fn input_error(result: Result<Dataset, AnalysisError>) -> InputError {
        match result {
            Err(AnalysisError::InvalidInput { reason }) => reason,
            other => panic!("expected an input error, got {other:?}"),
        }
    }

    #[test]
    fn single_array_becomes_value_column() {
        let data = Dataset::from_values(vec![1.0, 2.0]).unwrap();
        assert_eq!(data.rows(), 2);
        assert_eq!(data.column_names().collect::<Vec<_>>(), ["value"]);
        assert_eq!(data.column("value"), Some(&[1.0, 2.0][..]));
        assert_eq!(data.column("other"), None);
    }

    #[test]
    fn debug_shows_the_shape() {
        let data =
            Dataset::from_columns(vec![("a".into(), vec![1.0; 3]), ("b".into(), vec![2.0; 3])])
                .unwrap();
        assert_eq!(
            format!("{data:?}"),
            r#"Dataset { rows: 3, columns: ["a", "b"] }"#
        );
    }

    #[test]
    fn empty_inputs_are_rejected() {
        assert_eq!(
            input_error(Dataset::from_columns(vec![])),
            InputError::NoColumns
        );
        assert_eq!(
            input_error(Dataset::from_values(vec![])),
            InputError::NoRows
        );
    }

    #[test]
    fn names_and_lengths_are_checked() {
        let dup = Dataset::from_columns(vec![("a".into(), vec![1.0]), ("a".into(), vec![2.0])]);
        assert!(matches!(input_error(dup), InputError::DuplicateColumn { name } if name == "a"));
        let ragged =
            Dataset::from_columns(vec![("a".into(), vec![1.0]), ("b".into(), vec![1.0, 2.0])]);
        let err = input_error(ragged);
        assert_eq!(
            err.to_string(),
            "column \"b\" has 2 values but column \"a\" has 1; all columns must have the same length"
        );
        let unnamed = Dataset::from_columns(vec![(String::new(), vec![1.0])]);
        assert_eq!(
            input_error(unnamed),
            InputError::EmptyColumnName { position: 1 }
        );
    }

    #[test]
    fn non_finite_values_name_their_cell() {
        let err = input_error(Dataset::from_values(vec![1.0, f64::NAN]));
        assert_eq!(
            err.to_string(),
            "row 2, column \"value\": NaN is not a finite number; NaN and infinity are not allowed"
        );
        let err = input_error(Dataset::from_values(vec![f64::NEG_INFINITY]));
        assert!(matches!(err, InputError::NonFinite { .. }));
    }
}
