//! SARIF 2.1.0 output.
//!
//! Hand-written serde structs: the dozen fields used here are less than serde-sarif's
//! generated types (hundreds of structs and builder code) cost to compile.

use serde::Serialize;

use super::{Report, Severity};
use crate::catalog::RULES;

const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

#[derive(Serialize)]
struct Log<'a> {
    #[serde(rename = "$schema")]
    schema: &'static str,
    version: &'static str,
    runs: [Run<'a>; 1],
}

#[derive(Serialize)]
struct Run<'a> {
    tool: Tool,
    results: Vec<ResultItem<'a>>,
}

#[derive(Serialize)]
struct Tool {
    driver: Driver,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Driver {
    name: &'static str,
    version: &'static str,
    information_uri: &'static str,
    rules: Vec<RuleItem>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RuleItem {
    id: &'static str,
    name: &'static str,
    short_description: Text,
    help: Text,
    default_configuration: Config,
}

#[derive(Serialize)]
struct Config {
    level: &'static str,
}

#[derive(Serialize)]
struct Text {
    text: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ResultItem<'a> {
    rule_id: &'static str,
    rule_index: usize,
    level: &'static str,
    message: Text,
    locations: [Location<'a>; 1],
    properties: Properties<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Location<'a> {
    physical_location: Physical<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Physical<'a> {
    artifact_location: Artifact<'a>,
}

#[derive(Serialize)]
struct Artifact<'a> {
    uri: &'a str,
}

#[derive(Serialize)]
struct Properties<'a> {
    severity: &'static str,
    evidence: &'a str,
}

/// SARIF's three levels: medium and worse are errors (they fail the run).
fn level(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High | Severity::Medium => "error",
        Severity::Low => "warning",
        Severity::Info => "note",
    }
}

pub(crate) fn to_sarif(report: &Report) -> String {
    let rules = RULES
        .iter()
        .map(|r| RuleItem {
            id: r.id,
            name: r.name,
            short_description: Text {
                text: r.name.into(),
            },
            help: Text {
                text: r.help.into(),
            },
            default_configuration: Config {
                level: level(r.severity),
            },
        })
        .collect();
    let results = report
        .findings
        .iter()
        .map(|f| ResultItem {
            rule_id: f.rule,
            rule_index: RULES.iter().position(|r| r.id == f.rule).unwrap_or(0),
            level: level(f.severity),
            message: Text {
                text: format!("[{}] {}", f.severity.as_str(), f.message),
            },
            locations: [Location {
                physical_location: Physical {
                    artifact_location: Artifact {
                        uri: &report.target,
                    },
                },
            }],
            properties: Properties {
                severity: f.severity.as_str(),
                evidence: &f.evidence,
            },
        })
        .collect();
    let log = Log {
        schema: SCHEMA,
        version: "2.1.0",
        runs: [Run {
            tool: Tool {
                driver: Driver {
                    name: "keel-audit",
                    version: env!("CARGO_PKG_VERSION"),
                    information_uri: "https://modelcontextprotocol.io/specification",
                    rules,
                },
            },
            results,
        }],
    };
    serde_json::to_string_pretty(&log).unwrap_or_else(|_| "{}".into())
}
