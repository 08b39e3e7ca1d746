//! The terminal report.

use std::fmt::Write;

use super::{Report, Severity};

pub(crate) fn to_text(r: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "keel audit of {}", r.target);
    let _ = writeln!(
        out,
        "era: {}   server: {}   auth demanded: {}   requests: {}",
        r.era,
        r.server.as_deref().unwrap_or("?"),
        if r.auth_demanded { "yes" } else { "no" },
        r.requests
    );
    if !r.tools_called.is_empty() {
        let _ = writeln!(out, "tools called: {}", r.tools_called.join(", "));
    }
    let _ = writeln!(out);
    let mut findings = r.findings.clone();
    findings.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.rule.cmp(b.rule)));
    if findings.is_empty() {
        let _ = writeln!(out, "no findings");
    }
    for f in &findings {
        let _ = writeln!(
            out,
            "{:<8} {:<28} {}",
            f.severity.as_str().to_uppercase(),
            f.rule,
            f.message
        );
        if !f.evidence.is_empty() {
            let _ = writeln!(out, "{:<37} {}", "", f.evidence);
        }
    }
    for s in &r.skipped {
        let _ = writeln!(out, "{:<8} {:<28} {}", "SKIPPED", s.probe, s.reason);
    }
    let count = |s: Severity| r.findings.iter().filter(|f| f.severity == s).count();
    let _ = writeln!(
        out,
        "\n{} critical, {} high, {} medium, {} low, {} info; {} probes run, {} skipped",
        count(Severity::Critical),
        count(Severity::High),
        count(Severity::Medium),
        count(Severity::Low),
        count(Severity::Info),
        r.probes_run.len(),
        r.skipped.len()
    );
    out
}
