//! Prometheus text exposition (format 0.0.4) of [`Metrics`].

use std::fmt::{self, Write};

use super::{
    Metrics,
    histogram::{BUCKETS, HistogramSnapshot},
    outcome::Outcome,
    request::RequestOutcome,
    table::escape_label_value,
};
use crate::ClassGauges;

/// Reads one gauge of a class.
type Reading = fn(&ClassGauges) -> usize;

/// The `Content-Type` of [`Metrics::render`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

impl Metrics {
    /// Every series in the Prometheus text exposition format, families in a fixed order and
    /// tools sorted by name.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        // Writing into a String cannot fail.
        let _ = self
            .write_tools(&mut out)
            .and_then(|()| self.write_requests(&mut out))
            .and_then(|()| self.write_admission(&mut out))
            .and_then(|()| match &self.cache {
                Some(cache) => super::cache_families::write(cache, &mut out),
                None => Ok(()),
            });
        out
    }

    fn write_tools(&self, out: &mut String) -> fmt::Result {
        family(
            out,
            "keel_tool_calls_total",
            "counter",
            "Tool calls by tool, workload class and outcome.",
        )?;
        for t in self.tools.iter() {
            // The class the calls are admitted in, which configuration may have moved.
            let workload = match (t.workload, &self.admission) {
                (Some(declared), Some(a)) => a.class_of_tool(&t.name, declared).as_str(),
                (Some(declared), None) => declared.as_str(),
                (None, _) => "unknown",
            };
            let workload = escape_label_value(workload);
            for outcome in Outcome::ALL {
                writeln!(
                    out,
                    "keel_tool_calls_total{{tool=\"{}\",workload=\"{workload}\",outcome=\"{}\"}} {}",
                    t.tool_label,
                    outcome.as_str(),
                    t.calls(outcome)
                )?;
            }
        }
        family(
            out,
            "keel_tool_call_duration_seconds",
            "histogram",
            "Tool call latency, admission queueing included.",
        )?;
        for t in self.tools.iter() {
            let label = format!("tool=\"{}\"", t.tool_label);
            histogram(
                out,
                "keel_tool_call_duration_seconds",
                &label,
                &t.duration.snapshot(),
            )?;
        }
        family(
            out,
            "keel_tool_calls_in_flight",
            "gauge",
            "Tool calls started and not yet finished, admission queueing included.",
        )?;
        for t in self.tools.iter() {
            writeln!(
                out,
                "keel_tool_calls_in_flight{{tool=\"{}\"}} {}",
                t.tool_label,
                t.in_flight()
            )?;
        }
        Ok(())
    }

    fn write_requests(&self, out: &mut String) -> fmt::Result {
        family(
            out,
            "keel_requests_total",
            "counter",
            "Requests by method and outcome (ok, the JSON-RPC error class, or cancelled).",
        )?;
        for m in self.requests.iter() {
            for outcome in RequestOutcome::ALL {
                writeln!(
                    out,
                    "keel_requests_total{{method=\"{}\",outcome=\"{}\"}} {}",
                    m.method,
                    outcome.as_str(),
                    m.requests(outcome)
                )?;
            }
        }
        family(
            out,
            "keel_request_duration_seconds",
            "histogram",
            "Request latency by method, admission queueing included.",
        )?;
        for m in self.requests.iter() {
            let label = format!("method=\"{}\"", m.method);
            histogram(
                out,
                "keel_request_duration_seconds",
                &label,
                &m.duration.snapshot(),
            )?;
        }
        family(
            out,
            "keel_requests_in_flight",
            "gauge",
            "Requests started and not yet answered, by method.",
        )?;
        for m in self.requests.iter() {
            writeln!(
                out,
                "keel_requests_in_flight{{method=\"{}\"}} {}",
                m.method,
                m.in_flight()
            )?;
        }
        Ok(())
    }

    fn write_admission(&self, out: &mut String) -> fmt::Result {
        let Some(admission) = &self.admission else {
            return Ok(());
        };
        let classes = admission.snapshot();
        let gauges: [(&str, &str, Reading); 4] = [
            (
                "keel_admission_in_flight",
                "Calls holding an admission permit, by workload class.",
                |g| g.in_flight,
            ),
            (
                "keel_admission_queued",
                "Calls waiting for an admission permit, by workload class.",
                |g| g.queued,
            ),
            (
                "keel_admission_capacity",
                "Configured admission permits, by workload class.",
                |g| g.capacity,
            ),
            (
                "keel_admission_queue_depth",
                "Configured admission queue depth, by workload class.",
                |g| g.queue_depth,
            ),
        ];
        // Names of the server's own classes are checked when configured; a class named in
        // code alone is escaped all the same.
        let labels: Vec<String> = classes
            .iter()
            .map(|g| escape_label_value(g.workload.as_str()))
            .collect();
        for (name, help, value) in gauges {
            family(out, name, "gauge", help)?;
            for (g, w) in classes.iter().zip(&labels) {
                writeln!(out, "{name}{{workload=\"{w}\"}} {}", value(g))?;
            }
        }
        family(
            out,
            "keel_admission_rejected_total",
            "counter",
            "Calls refused by admission, by workload class and reason.",
        )?;
        for (g, w) in classes.iter().zip(&labels) {
            writeln!(
                out,
                "keel_admission_rejected_total{{workload=\"{w}\",reason=\"queue_full\"}} {}",
                g.shed_total
            )?;
            writeln!(
                out,
                "keel_admission_rejected_total{{workload=\"{w}\",reason=\"queue_timeout\"}} {}",
                g.timed_out_total
            )?;
        }
        family(
            out,
            "keel_admission_queue_wait_seconds",
            "histogram",
            "Time calls admitted after queueing waited for their permit, by workload class.",
        )?;
        for ((_, wait), w) in admission.queue_waits().zip(&labels) {
            let label = format!("workload=\"{w}\"");
            histogram(out, "keel_admission_queue_wait_seconds", &label, &wait)?;
        }
        Ok(())
    }
}

/// The `_bucket`, `_sum` and `_count` series of one histogram; `label` is `key="value"`.
fn histogram(out: &mut String, name: &str, label: &str, h: &HistogramSnapshot) -> fmt::Result {
    for (&(_, le), count) in BUCKETS.iter().zip(h.cumulative) {
        writeln!(out, "{name}_bucket{{{label},le=\"{le}\"}} {count}")?;
    }
    let count = h.count();
    writeln!(out, "{name}_bucket{{{label},le=\"+Inf\"}} {count}")?;
    writeln!(out, "{name}_sum{{{label}}} {}", h.sum_seconds)?;
    writeln!(out, "{name}_count{{{label}}} {count}")
}

pub(super) fn family(out: &mut String, name: &str, kind: &str, help: &str) -> fmt::Result {
    writeln!(out, "# HELP {name} {help}")?;
    writeln!(out, "# TYPE {name} {kind}")
}
