//! [`Metrics`] as a `prometheus-client` collector: tool calls, requests, admission and the
//! cache, families in a fixed order and tools sorted by name.

use std::fmt;

use prometheus_client::{collector::Collector, encoding::DescriptorEncoder};

use super::{
    Metrics,
    exposition::{Exposition, Format, HistogramSeries, counter, gauge, gauge_value, histogram},
    histogram::HistogramSnapshot,
    outcome::{FAILURE_KINDS, Outcome},
    request::RequestOutcome,
};
use crate::ClassGauges;

/// Reads one gauge of a class.
type Reading = fn(&ClassGauges) -> usize;

impl Metrics {
    /// Every series of these metrics alone, in the classic Prometheus text format.
    pub fn render(&self) -> String {
        let mut exposition = Exposition::new();
        exposition.register(self.clone());
        exposition.render(Format::Prometheus)
    }
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Collector for Metrics {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> fmt::Result {
        self.write_tools(&mut encoder)?;
        self.write_requests(&mut encoder)?;
        self.write_admission(&mut encoder)?;
        match &self.cache {
            Some(cache) => super::cache_families::write(cache, &mut encoder),
            None => Ok(()),
        }
    }
}

fn series<'a>(
    labels: super::exposition::Labels<'a>,
    h: &'a HistogramSnapshot,
) -> HistogramSeries<'a> {
    HistogramSeries {
        labels,
        sum: h.sum_seconds,
        count: h.count(),
        buckets: &h.buckets,
    }
}

impl Metrics {
    fn write_tools(&self, encoder: &mut DescriptorEncoder<'_>) -> fmt::Result {
        // The class the calls are admitted in, which configuration may have moved.
        let workloads: Vec<&str> = self
            .tools
            .iter()
            .map(|t| match (t.workload, &self.admission) {
                (Some(declared), Some(a)) => a.class_of_tool(&t.name, declared).as_str(),
                (Some(declared), None) => declared.as_str(),
                (None, _) => "unknown",
            })
            .collect();
        let labels: Vec<[(&str, &str); 3]> = self
            .tools
            .iter()
            .zip(&workloads)
            .flat_map(|(t, w)| {
                Outcome::ALL.map(|o| {
                    [
                        ("tool", t.name.as_str()),
                        ("workload", *w),
                        ("outcome", o.as_str()),
                    ]
                })
            })
            .collect();
        let values = self
            .tools
            .iter()
            .flat_map(|t| Outcome::ALL.map(|o| t.calls(o)));
        counter(
            encoder,
            "keel_tool_calls",
            "Tool calls by tool, workload class and outcome.",
            labels.iter().map(|l| &l[..]).zip(values),
        )?;
        let kinds: Vec<[(&str, &str); 2]> = self
            .tools
            .iter()
            .flat_map(|t| FAILURE_KINDS.map(|k| [("tool", t.name.as_str()), ("kind", k)]))
            .collect();
        let failures = self
            .tools
            .iter()
            .flat_map(|t| (0..FAILURE_KINDS.len()).map(move |slot| t.failures(slot)));
        counter(
            encoder,
            "keel_tool_failures",
            "Failed tool calls by tool and the failure's kind (untyped: an isError result \
             without one).",
            kinds.iter().map(|l| &l[..]).zip(failures),
        )?;
        let names: Vec<[(&str, &str); 1]> = self
            .tools
            .iter()
            .map(|t| [("tool", t.name.as_str())])
            .collect();
        let snapshots: Vec<_> = self.tools.iter().map(|t| t.duration.snapshot()).collect();
        histogram(
            encoder,
            "keel_tool_call_duration_seconds",
            "Tool call latency, admission queueing included.",
            names.iter().zip(&snapshots).map(|(l, h)| series(l, h)),
        )?;
        gauge(
            encoder,
            "keel_tool_calls_in_flight",
            "Tool calls started and not yet finished, admission queueing included.",
            names
                .iter()
                .zip(self.tools.iter())
                .map(|(l, t)| (&l[..], gauge_value(t.in_flight()))),
        )
    }

    fn write_requests(&self, encoder: &mut DescriptorEncoder<'_>) -> fmt::Result {
        let labels: Vec<[(&str, &str); 2]> = self
            .requests
            .iter()
            .flat_map(|m| {
                RequestOutcome::ALL.map(|o| [("method", m.method), ("outcome", o.as_str())])
            })
            .collect();
        let values = self
            .requests
            .iter()
            .flat_map(|m| RequestOutcome::ALL.map(|o| m.requests(o)));
        counter(
            encoder,
            "keel_requests",
            "Requests by method and outcome (ok, the JSON-RPC error class, or cancelled).",
            labels.iter().map(|l| &l[..]).zip(values),
        )?;
        let methods: Vec<[(&str, &str); 1]> = self
            .requests
            .iter()
            .map(|m| [("method", m.method)])
            .collect();
        let snapshots: Vec<_> = self
            .requests
            .iter()
            .map(|m| m.duration.snapshot())
            .collect();
        histogram(
            encoder,
            "keel_request_duration_seconds",
            "Request latency by method, admission queueing included.",
            methods.iter().zip(&snapshots).map(|(l, h)| series(l, h)),
        )?;
        gauge(
            encoder,
            "keel_requests_in_flight",
            "Requests started and not yet answered, by method.",
            methods
                .iter()
                .zip(self.requests.iter())
                .map(|(l, m)| (&l[..], gauge_value(m.in_flight()))),
        )
    }

    fn write_admission(&self, encoder: &mut DescriptorEncoder<'_>) -> fmt::Result {
        let Some(admission) = &self.admission else {
            return Ok(());
        };
        let classes = admission.snapshot();
        let labels: Vec<[(&str, &str); 1]> = classes
            .iter()
            .map(|g| [("workload", g.workload.as_str())])
            .collect();
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
        for (name, help, value) in gauges {
            gauge(
                encoder,
                name,
                help,
                labels
                    .iter()
                    .zip(&classes)
                    .map(|(l, g)| (&l[..], gauge_value(value(g)))),
            )?;
        }
        let rejected: Vec<[(&str, &str); 2]> = classes
            .iter()
            .flat_map(|g| {
                let w = g.workload.as_str();
                [
                    [("workload", w), ("reason", "queue_full")],
                    [("workload", w), ("reason", "queue_timeout")],
                ]
            })
            .collect();
        let values = classes
            .iter()
            .flat_map(|g| [g.shed_total, g.timed_out_total]);
        counter(
            encoder,
            "keel_admission_rejected",
            "Calls refused by admission, by workload class and reason.",
            rejected.iter().map(|l| &l[..]).zip(values),
        )?;
        let waits: Vec<_> = admission.queue_waits().map(|(_, wait)| wait).collect();
        histogram(
            encoder,
            "keel_admission_queue_wait_seconds",
            "Time calls admitted after queueing waited for their permit, by workload class.",
            labels.iter().zip(&waits).map(|(l, h)| series(l, h)),
        )
    }
}
