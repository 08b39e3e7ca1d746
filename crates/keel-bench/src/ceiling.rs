//! `--find-ceiling`: open-loop stages at rising rates until a gate breaks, the error bound is
//! passed, or the server stops keeping up with the rate asked for.

use crate::{
    load::Schedule,
    report::{Ceiling, Report, Stage},
    run::{Phase, Prepared, assemble, drive},
    slo::Slo,
};

/// Stages run at most.
const MAX_STAGES: usize = 24;
/// Each stage asks for this much more than the last.
const GROWTH: f64 = 1.5;
/// A stage whose throughput falls this far under the rate asked for did not keep up.
const KEPT_UP: f64 = 0.9;

/// Runs the stages; the report is the last stage that held, with every stage listed.
pub(crate) async fn find(
    prepared: &Prepared,
    start_rate: f64,
    slo: &Slo,
    max_error_rate: f64,
    phase_of: impl Fn(f64) -> Phase,
) -> Report {
    let mut rate = start_rate;
    let mut stages = Vec::new();
    let mut held: Option<(f64, Report)> = None;
    let mut last = Report::default();
    for _ in 0..MAX_STAGES {
        let phase = phase_of(rate);
        let asked = phase.schedule.map_or(rate, |s: Schedule| s.rate);
        let recorded = drive(prepared, &phase).await;
        let report = assemble(prepared, &recorded, slo, max_error_rate);
        let passed = report.passed && report.throughput_rps >= asked * KEPT_UP;
        stages.push(Stage {
            rate: asked,
            throughput_rps: report.throughput_rps,
            latency_us: report.latency_us.clone(),
            error_rate: report.error_rate(),
            passed,
        });
        if !passed {
            last = report;
            break;
        }
        held = Some((asked, report.clone()));
        last = report;
        rate *= GROWTH;
    }
    let (ceiling, mut report) = match held {
        Some((rate, report)) => (rate, report),
        None => (0.0, last),
    };
    report.passed = ceiling > 0.0;
    report.mode = "ceiling".into();
    report.ceiling = Some(Ceiling {
        rate: ceiling,
        stages,
    });
    report
}
