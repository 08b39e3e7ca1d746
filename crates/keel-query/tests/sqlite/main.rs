//! The query engine against SQLite files in temporary directories.

mod databases;
mod limits;
mod seeding;
mod values;

pub(crate) use std::time::Duration;

pub(crate) use keel_query::{
    ConfigProblem, Database, DatabaseConfig, Databases, Engine, MAX_PARAMS, MAX_SQL_BYTES,
    ParameterProblem, QueryError, Rejection, TableKind, render_table, seed_demo_database,
};
pub(crate) use serde_json::{Value, json};
pub(crate) use tempfile::TempDir;

pub(crate) fn config(dir: &TempDir, file: &str) -> DatabaseConfig {
    let url = format!("sqlite://{}", dir.path().join(file).display());
    DatabaseConfig::new(file.trim_end_matches(".db"), url)
}

pub(crate) async fn demo() -> (TempDir, Database) {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(&config(&dir, "demo.db")).await.unwrap();
    (dir, db)
}
