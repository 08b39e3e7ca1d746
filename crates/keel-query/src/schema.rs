//! Tables and columns as schema browsing reports them.

use serde::{Deserialize, Serialize};

/// Whether a relation stores rows or is defined by a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TableKind {
    /// A base table (PostgreSQL: also partitioned and foreign tables).
    Table,
    /// A view (PostgreSQL: also materialized views).
    View,
}

/// One table or view, as returned by [`Database::schema`](crate::Database::schema).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TableInfo {
    /// PostgreSQL schema (`public`, …); `None` for SQLite.
    pub schema: Option<String>,
    /// The table name, unqualified.
    pub name: String,
    /// Table or view.
    pub kind: TableKind,
    /// Columns in declaration order.
    pub columns: Vec<ColumnInfo>,
    /// Number of rows: exact for SQLite tables and small PostgreSQL tables, the planner's
    /// estimate for PostgreSQL tables of 100 000 rows or more; `None` for views and when
    /// counting hit the statement timeout.
    pub row_count: Option<u64>,
    /// True when `row_count` is an estimate rather than a count.
    pub row_count_estimated: bool,
}

impl TableInfo {
    /// `"schema"."name"` for PostgreSQL, `"name"` for SQLite, quoted and escaped so it can
    /// be pasted into SQL whatever the name (reserved words, capitals, spaces).
    pub fn qualified_name(&self) -> String {
        match &self.schema {
            Some(schema) => format!("{}.{}", quote_ident(schema), quote_ident(&self.name)),
            None => quote_ident(&self.name),
        }
    }
}

/// One column of a [`TableInfo`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ColumnInfo {
    /// Column name.
    pub name: String,
    /// Declared type (`INTEGER`, `TEXT` for SQLite; `integer`, `numeric(10,2)`,
    /// `timestamp with time zone` for PostgreSQL). Empty when SQLite has none declared.
    #[serde(rename = "type")]
    pub type_name: String,
    /// Whether the column accepts NULL.
    pub nullable: bool,
    /// Whether the column is part of the primary key.
    pub primary_key: bool,
}

fn quote_ident(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qualified_names_quote_when_needed() {
        let mut table = TableInfo {
            schema: Some("public".into()),
            name: "order_items".into(),
            kind: TableKind::Table,
            columns: vec![],
            row_count: Some(3),
            row_count_estimated: false,
        };
        assert_eq!(table.qualified_name(), "\"public\".\"order_items\"");
        table.name = "Odd \"Name\"".into();
        table.schema = None;
        assert_eq!(table.qualified_name(), "\"Odd \"\"Name\"\"\"");
    }
}
