//! SQLite row values to JSON, by each value's storage class.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::Value;
use sqlx::sqlite::{SqliteColumn, SqliteRow, SqliteValueRef};
use sqlx::{Column as _, Decode, Row as _, Sqlite, TypeInfo as _, ValueRef as _};

use crate::output::{Column, json_float};

/// Decodes the rows of one result; built from the first row's columns.
pub(super) struct RowDecoder {
    columns: Vec<Column>,
    /// Declared BOOLEAN: 0/1 integers become JSON booleans.
    boolean: Vec<bool>,
    /// No declared type (an expression): the type name is taken from the first value.
    untyped: Vec<bool>,
}

impl RowDecoder {
    pub(super) fn new(columns: &[SqliteColumn]) -> Self {
        let columns: Vec<Column> = columns
            .iter()
            .map(|c| Column {
                name: c.name().to_owned(),
                type_name: c.type_info().name().to_owned(),
            })
            .collect();
        Self {
            boolean: columns.iter().map(|c| c.type_name == "BOOLEAN").collect(),
            untyped: columns.iter().map(|c| c.type_name == "NULL").collect(),
            columns,
        }
    }

    pub(super) fn decode(&mut self, row: &SqliteRow) -> Result<Vec<Value>, sqlx::Error> {
        let mut values = Vec::with_capacity(self.columns.len());
        for i in 0..self.columns.len() {
            let raw = row.try_get_raw(i)?;
            if self.untyped[i] && !raw.is_null() {
                self.untyped[i] = false;
                raw.type_info()
                    .name()
                    .clone_into(&mut self.columns[i].type_name);
            }
            values.push(value(raw, self.boolean[i]));
        }
        Ok(values)
    }

    pub(super) fn into_columns(self) -> Vec<Column> {
        self.columns
    }
}

/// Column metadata from a prepared statement, for results without rows.
pub(super) fn columns(columns: &[SqliteColumn]) -> Vec<Column> {
    RowDecoder::new(columns).into_columns()
}

fn value(raw: SqliteValueRef<'_>, boolean: bool) -> Value {
    if raw.is_null() {
        return Value::Null;
    }
    // An owned `SqliteTypeInfo` is a plain enum; this does not allocate.
    let type_info = raw.type_info().into_owned();
    let storage = type_info.name();
    let decoded = match storage {
        "INTEGER" => <i64 as Decode<'_, Sqlite>>::decode(raw).map(|i| match i {
            0 | 1 if boolean => Value::Bool(i == 1),
            i => Value::from(i),
        }),
        "REAL" => <f64 as Decode<'_, Sqlite>>::decode(raw).map(json_float),
        "BLOB" => {
            <&[u8] as Decode<'_, Sqlite>>::decode(raw).map(|b| Value::String(BASE64.encode(b)))
        }
        _ => <&str as Decode<'_, Sqlite>>::decode(raw).map(|s| Value::String(s.to_owned())),
    };
    decoded.unwrap_or_else(|_| Value::String(format!("<unsupported {storage} value>")))
}
