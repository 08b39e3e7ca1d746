//! The arguments of `analyze`: one data source plus an analysis request.

use keel_analyze::{AnalysisRequest, CsvOptions, Operation};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

/// Arguments of `analyze`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AnalyzeArgs {
    /// Inline data: an array of numbers (one column named `value`), or an object mapping
    /// column names to equally long arrays of numbers. Numeric strings are accepted.
    #[serde(default)]
    #[schemars(schema_with = "inline_values_schema")]
    pub(crate) values: Option<Value>,
    /// CSV text, one column per field. A first row with a non-numeric cell is a header.
    #[serde(default)]
    pub(crate) csv: Option<String>,
    /// How to read `csv`.
    #[serde(default)]
    pub(crate) csv_options: Option<CsvOptions>,
    /// Rows of a read-only SQL query, read by the server (the data never passes through the
    /// conversation): every selected column must be numeric.
    #[serde(default)]
    pub(crate) query: Option<QuerySource>,
    /// Columns to analyse, in report order. Default: every column.
    #[serde(default)]
    pub(crate) columns: Option<Vec<String>>,
    /// Operations to run. Default: `summary`.
    #[serde(default)]
    pub(crate) operations: Vec<Operation>,
}

/// A SQL query whose result is the dataset.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct QuerySource {
    /// The database to read. Default: the first configured (`main` out of the box).
    #[serde(default)]
    pub(crate) database: Option<String>,
    /// One read-only statement selecting numeric columns; column names become dataset
    /// column names.
    pub(crate) sql: String,
    /// Values bound to the statement's placeholders, in order.
    #[serde(default)]
    pub(crate) params: Vec<Value>,
}

/// Where the numbers come from.
#[derive(Debug)]
pub(crate) enum Source {
    /// Inline JSON.
    Values(Value),
    /// CSV text and how to read it.
    Csv(String, CsvOptions),
    /// A query's rows.
    Query(QuerySource),
}

impl AnalyzeArgs {
    /// Splits the arguments into the data source and the analysis request.
    pub(crate) fn into_parts(self) -> Result<(Source, AnalysisRequest), String> {
        if self.csv_options.is_some() && self.csv.is_none() {
            return Err("csv_options applies only to csv input".to_owned());
        }
        let source = match (self.values, self.csv, self.query) {
            (Some(values), None, None) => Source::Values(values),
            (None, Some(csv), None) => Source::Csv(csv, self.csv_options.unwrap_or_default()),
            (None, None, Some(query)) => Source::Query(query),
            (None, None, None) => {
                return Err("no data: give one of `values`, `csv` or `query`".to_owned());
            }
            _ => return Err("give exactly one of `values`, `csv` or `query`".to_owned()),
        };
        let request = AnalysisRequest {
            columns: self.columns,
            operations: self.operations,
        };
        Ok((source, request))
    }
}

fn inline_values_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let cell = json!({ "type": ["number", "string"] });
    schemars::json_schema!({
        "description": "An array of numbers, or an object mapping column names to arrays of numbers.",
        "anyOf": [
            { "type": "array", "items": cell },
            { "type": "object", "additionalProperties": { "type": "array", "items": cell } }
        ]
    })
}
