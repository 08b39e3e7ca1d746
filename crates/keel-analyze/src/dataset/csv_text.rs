//! Datasets from CSV text. Parsing (quotes, escaped quotes, CRLF) is the `csv` crate's; this
//! module adds header detection, numeric conversion and errors that name the cell.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::cell::parse_text;
use super::{Dataset, SINGLE_COLUMN};
use crate::error::{AnalysisError, CellRef, InputError};

/// What to do with an empty CSV cell.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EmptyCells {
    /// Reject the input, naming the first empty cell. The default: a silently shortened
    /// dataset gives wrong counts and means.
    #[default]
    Error,
    /// Drop every row that has an empty cell (listwise deletion), keeping columns aligned.
    SkipRow,
}

/// How to read CSV text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct CsvOptions {
    /// Whether the first row holds column names. Unset: detected, the first row is a header
    /// when any of its non-empty cells is not a number.
    pub header: Option<bool>,
    /// Field separator, a single ASCII character. Default `,`.
    pub delimiter: char,
    /// What to do with empty cells. Default: error.
    pub empty_cells: EmptyCells,
}

impl Default for CsvOptions {
    fn default() -> Self {
        Self {
            header: None,
            delimiter: ',',
            empty_cells: EmptyCells::Error,
        }
    }
}

impl Dataset {
    /// Builds a dataset from CSV text: one column per field, quoted fields allowed, cells
    /// trimmed. Without a header, a single column is named `value` and several are named
    /// `column_1`, `column_2`, ….
    ///
    /// # Errors
    /// [`AnalysisError::InvalidInput`] for malformed CSV, a row with a different number of
    /// fields than the first, a non-numeric or non-finite cell (naming its line and column),
    /// an empty cell under [`EmptyCells::Error`], a non-ASCII delimiter, or no data rows.
    pub fn from_csv(text: &str, options: &CsvOptions) -> Result<Self, AnalysisError> {
        let delimiter = u8::try_from(options.delimiter)
            .ok()
            .filter(u8::is_ascii)
            .ok_or_else(|| InputError::Csv {
                line: None,
                reason: format!(
                    "the delimiter must be a single ASCII character, got {:?}",
                    options.delimiter
                ),
            })?;
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .trim(csv::Trim::All)
            .delimiter(delimiter)
            .from_reader(text.as_bytes());
        let mut records = reader.records();

        let Some(first) = records.next().transpose().map_err(csv_error)? else {
            return Err(InputError::NoRows.into());
        };
        let header = options.header.unwrap_or_else(|| {
            first
                .iter()
                .any(|f| !f.is_empty() && f.parse::<f64>().is_err())
        });
        let width = first.len();
        let names: Vec<String> = if header {
            first.iter().map(str::to_owned).collect()
        } else if width == 1 {
            vec![SINGLE_COLUMN.to_owned()]
        } else {
            (1..=width).map(|i| format!("column_{i}")).collect()
        };

        let mut columns: Vec<Vec<f64>> = vec![Vec::new(); width];
        let mut parser = RowParser {
            names: &names,
            empty_cells: options.empty_cells,
            row: 0,
            scratch: Vec::with_capacity(width),
        };
        if !header {
            parser.push(&first, &mut columns)?;
        }
        for record in records {
            parser.push(&record.map_err(csv_error)?, &mut columns)?;
        }
        Self::from_columns(names.into_iter().zip(columns).collect())
    }
}

struct RowParser<'a> {
    names: &'a [String],
    empty_cells: EmptyCells,
    /// Data rows read so far, including skipped ones.
    row: usize,
    scratch: Vec<f64>,
}

impl RowParser<'_> {
    fn push(
        &mut self,
        record: &csv::StringRecord,
        columns: &mut [Vec<f64>],
    ) -> Result<(), InputError> {
        self.row += 1;
        let line = record.position().map(csv::Position::line);
        if record.len() != self.names.len() {
            return Err(InputError::RowWidth {
                location: line.map_or_else(|| format!("row {}", self.row), |l| format!("line {l}")),
                found: record.len(),
                expected: self.names.len(),
            });
        }
        let row = self.row;
        self.scratch.clear();
        for (field, name) in record.iter().zip(self.names) {
            let at = || CellRef {
                row,
                column: name.clone(),
                line,
            };
            if field.is_empty() {
                match self.empty_cells {
                    EmptyCells::Error => return Err(InputError::EmptyCell { at: at() }),
                    EmptyCells::SkipRow => return Ok(()),
                }
            }
            self.scratch.push(parse_text(field, at)?);
        }
        for (column, value) in columns.iter_mut().zip(&self.scratch) {
            column.push(*value);
        }
        Ok(())
    }
}

fn csv_error(error: csv::Error) -> InputError {
    let line = error.position().map(csv::Position::line);
    let reason = match error.kind() {
        csv::ErrorKind::Utf8 { .. } => "the text is not valid UTF-8".to_owned(),
        _ => error.to_string(),
    };
    InputError::Csv { line, reason }
}

#[cfg(test)]
mod tests {
    use super::{CsvOptions, EmptyCells};
    use crate::dataset::Dataset;

    fn read(text: &str) -> Dataset {
        Dataset::from_csv(text, &CsvOptions::default()).unwrap()
    }

    fn fail(text: &str, options: &CsvOptions) -> String {
        Dataset::from_csv(text, options)
            .expect_err("expected an error")
            .to_string()
    }

    #[test]
    fn header_is_detected() {
        let data = read("price,qty\n1.5,2\n2.5,4\n");
        assert_eq!(data.column_names().collect::<Vec<_>>(), ["price", "qty"]);
        assert_eq!(data.column("qty"), Some(&[2.0, 4.0][..]));

        let data = read("1,2\n3,4");
        assert_eq!(
            data.column_names().collect::<Vec<_>>(),
            ["column_1", "column_2"]
        );
        assert_eq!(data.rows(), 2);

        let data = read("7\n8\n9\n");
        assert_eq!(data.column("value"), Some(&[7.0, 8.0, 9.0][..]));
    }

    #[test]
    fn header_can_be_forced_either_way() {
        let forced = CsvOptions {
            header: Some(true),
            ..CsvOptions::default()
        };
        let data = Dataset::from_csv("1,2\n3,4\n", &forced).unwrap();
        assert_eq!(data.column_names().collect::<Vec<_>>(), ["1", "2"]);
        assert_eq!(data.rows(), 1);

        let none = CsvOptions {
            header: Some(false),
            ..CsvOptions::default()
        };
        assert_eq!(
            fail("a\n1\n", &none),
            "invalid input: line 1 (data row 1), column \"value\": \"a\" is not a number"
        );
    }

    #[test]
    fn quoted_fields_crlf_bom_and_custom_delimiter() {
        let data = read("\u{feff}\"unit price\",\"qty, total\"\r\n\"1.25\", 3 \r\n\"2\",\"4\"\r\n");
        assert_eq!(
            data.column_names().collect::<Vec<_>>(),
            ["unit price", "qty, total"]
        );
        assert_eq!(data.column("unit price"), Some(&[1.25, 2.0][..]));
        assert_eq!(data.column("qty, total"), Some(&[3.0, 4.0][..]));

        let semicolon = CsvOptions {
            delimiter: ';',
            ..CsvOptions::default()
        };
        let data = Dataset::from_csv("a;b\n1;2\n", &semicolon).unwrap();
        assert_eq!(data.column("b"), Some(&[2.0][..]));
    }

    #[test]
    fn non_numeric_cells_name_line_and_column() {
        assert_eq!(
            fail("x,y\n1,2\n3,\"n/a\"\n", &CsvOptions::default()),
            "invalid input: line 3 (data row 2), column \"y\": \"n/a\" is not a number"
        );
        assert_eq!(
            fail("x\n1\nNaN\n", &CsvOptions::default()),
            "invalid input: line 3 (data row 2), column \"x\": \"NaN\" is not a finite number; \
             NaN and infinity are not allowed"
        );
    }

    #[test]
    fn empty_cells_error_by_default_and_can_skip_rows() {
        let text = "x,y\n1,2\n,3\n4,5\n";
        assert_eq!(
            fail(text, &CsvOptions::default()),
            "invalid input: line 3 (data row 2), column \"x\": cell is empty; fill it, or ask \
             for rows with empty cells to be skipped"
        );
        let skip = CsvOptions {
            empty_cells: EmptyCells::SkipRow,
            ..CsvOptions::default()
        };
        let data = Dataset::from_csv(text, &skip).unwrap();
        assert_eq!(data.column("x"), Some(&[1.0, 4.0][..]));
        assert_eq!(data.column("y"), Some(&[2.0, 5.0][..]));
        assert_eq!(
            fail("x\n\n\"\"\n", &skip),
            "invalid input: the dataset has no rows; at least one value is needed"
        );
    }

    #[test]
    fn structural_errors() {
        let defaults = CsvOptions::default();
        assert_eq!(
            fail("a,b\n1,2\n3\n", &defaults),
            "invalid input: line 3: expected 2 values (one per column), found 1"
        );
        assert_eq!(
            fail("", &defaults),
            "invalid input: the dataset has no rows; at least one value is needed"
        );
        assert_eq!(
            fail("a,b\n", &defaults),
            "invalid input: the dataset has no rows; at least one value is needed"
        );
        assert_eq!(
            fail("a,a\n1,2\n", &defaults),
            "invalid input: column name \"a\" appears more than once"
        );
        let bad = CsvOptions {
            delimiter: '→',
            ..defaults
        };
        assert_eq!(
            fail("1\n", &bad),
            "invalid input: malformed CSV: the delimiter must be a single ASCII character, got '→'"
        );
    }
}
