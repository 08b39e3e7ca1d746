//! Compares the engine, driven through `AnalysisPool::run`, with a single-threaded,
//! single-purpose loop computing the same statistics over the same 10,000,000 values:
//! count, sum, mean, variance, min, max, median, p50/p90/p99, a 10-bin histogram and IQR
//! outliers.
//!
//! Run with `cargo run --release -p keel-analyze --example bench_vs_loop`.

#![allow(clippy::print_stdout, reason = "a benchmark reports on stdout")]

use std::sync::Arc;
use std::time::{Duration, Instant};

use keel_analyze::{
    AnalysisPool, AnalysisReport, AnalysisRequest, CancelToken, Dataset, PoolConfig,
};

const VALUES: usize = 10_000_000;
const REPETITIONS: usize = 7;
const BINS: usize = 10;
const EXAMPLES: usize = 20;

fn main() {
    let values = generate(VALUES);
    let dataset =
        Arc::new(Dataset::from_values(values.clone()).expect("generated values are finite"));
    let request: AnalysisRequest = serde_json::from_value(serde_json::json!({
        "operations": [
            {"op": "summary"},
            {"op": "percentiles", "p": [50, 90, 99]},
            {"op": "histogram", "bins": BINS},
            {"op": "outliers", "method": "iqr", "k": 1.5, "max_examples": EXAMPLES}
        ]
    }))
    .expect("valid request");
    let pool = AnalysisPool::new(PoolConfig::default()).expect("pool starts");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime starts");

    println!(
        "{VALUES} values, {} pool threads, {REPETITIONS} repetitions",
        pool.threads()
    );
    let mut loop_times = Vec::with_capacity(REPETITIONS);
    let mut engine_times = Vec::with_capacity(REPETITIONS);
    let mut last = None;
    for rep in 1..=REPETITIONS {
        let start = Instant::now();
        let expected = std::hint::black_box(hand_loop(std::hint::black_box(&values)));
        let loop_time = start.elapsed();

        let start = Instant::now();
        let report = runtime
            .block_on(pool.run(
                Arc::clone(&dataset),
                request.clone(),
                Arc::new(|_, _| {}),
                CancelToken::new(),
            ))
            .expect("analysis succeeds");
        let engine_time = start.elapsed();

        println!(
            "rep {rep}: loop {:>8.1} ms   engine {:>8.1} ms   engine/loop {:.2}",
            ms(loop_time),
            ms(engine_time),
            engine_time.as_secs_f64() / loop_time.as_secs_f64()
        );
        loop_times.push(loop_time);
        engine_times.push(engine_time);
        last = Some((expected, report));
    }
    let (expected, report) = last.expect("at least one repetition");
    compare(&expected, &report);

    let loop_median = median(&mut loop_times);
    let engine_median = median(&mut engine_times);
    println!(
        "median: loop {:.1} ms, engine {:.1} ms, engine/loop {:.2}",
        ms(loop_median),
        ms(engine_median),
        engine_median.as_secs_f64() / loop_median.as_secs_f64()
    );
}

/// Normal-ish values (Box-Muller on xorshift64*) around 100 with spread 15, and one value in
/// a thousand pushed far out.
fn generate(n: usize) -> Vec<f64> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut uniform = move || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        let bits = state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11;
        (bits as f64 + 0.5) / (1u64 << 53) as f64
    };
    (0..n)
        .map(|i| {
            let (u1, u2) = (uniform(), uniform());
            let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
            let x = 100.0 + 15.0 * z;
            if i % 1000 == 999 { x * 20.0 } else { x }
        })
        .collect()
}

/// What the plain loop computes.
#[derive(Debug)]
struct LoopStats {
    count: usize,
    sum: f64,
    mean: f64,
    sample_variance: f64,
    population_variance: f64,
    min: f64,
    max: f64,
    median: f64,
    p50: f64,
    p90: f64,
    p99: f64,
    histogram: [u64; BINS],
    outliers: usize,
    outlier_examples: Vec<(usize, f64)>,
}

/// The straightforward single-threaded way: two passes for the moments, one copy partitioned
/// with `select_nth_unstable` for the order statistics, one pass each for the histogram and
/// the outliers.
fn hand_loop(values: &[f64]) -> LoopStats {
    let n = values.len();
    let (mut sum, mut min, mut max) = (0.0, f64::INFINITY, f64::NEG_INFINITY);
    for &x in values {
        sum += x;
        min = min.min(x);
        max = max.max(x);
    }
    let mean = sum / n as f64;
    let mut m2 = 0.0;
    for &x in values {
        m2 += (x - mean) * (x - mean);
    }

    let percentile_ranks = |p: f64| {
        let h = (n - 1) as f64 * (p / 100.0);
        let lo = h.floor() as usize;
        (lo, (lo + 1).min(n - 1), h - h.floor())
    };
    let mut ranks = vec![(n - 1) / 2, n / 2];
    for p in [25.0, 50.0, 75.0, 90.0, 99.0] {
        let (lo, hi, _) = percentile_ranks(p);
        ranks.extend([lo, hi]);
    }
    ranks.sort_unstable();
    ranks.dedup();
    let mut copy = values.to_vec();
    let mut at = Vec::with_capacity(ranks.len());
    let mut start = 0;
    for &rank in &ranks {
        let (_, v, _) = copy[start..].select_nth_unstable_by(rank - start, f64::total_cmp);
        at.push((rank, *v));
        start = rank + 1;
    }
    let value_at = |rank: usize| {
        at.iter()
            .find(|(r, _)| *r == rank)
            .expect("rank selected")
            .1
    };
    let percentile = |p: f64| {
        let (lo, hi, t) = percentile_ranks(p);
        value_at(lo) + (value_at(hi) - value_at(lo)) * t
    };
    let median = (value_at((n - 1) / 2) + value_at(n / 2)) / 2.0;

    let mut histogram = [0u64; BINS];
    let width = max - min;
    for &x in values {
        let bin = (((x - min) / width) * BINS as f64) as usize;
        histogram[bin.min(BINS - 1)] += 1;
    }

    let (q1, q3) = (percentile(25.0), percentile(75.0));
    let (lower, upper) = (q1 - 1.5 * (q3 - q1), q3 + 1.5 * (q3 - q1));
    let mut outliers = 0;
    let mut outlier_examples = Vec::with_capacity(EXAMPLES);
    for (i, &x) in values.iter().enumerate() {
        if x < lower || x > upper {
            outliers += 1;
            if outlier_examples.len() < EXAMPLES {
                outlier_examples.push((i, x));
            }
        }
    }

    LoopStats {
        count: n,
        sum,
        mean,
        sample_variance: m2 / (n - 1) as f64,
        population_variance: m2 / n as f64,
        min,
        max,
        median,
        p50: percentile(50.0),
        p90: percentile(90.0),
        p99: percentile(99.0),
        histogram,
        outliers,
        outlier_examples,
    }
}

/// Checks that both computed the same answers (up to rounding in the sums).
fn compare(expected: &LoopStats, report: &AnalysisReport) {
    let c = &report.columns[0];
    let close = |a: f64, b: Option<f64>| {
        let b = b.expect("statistic present");
        (a - b).abs() <= 1e-9 * a.abs().max(1.0)
    };
    let variance = c.variance.expect("variance present");
    let percentiles: Vec<f64> = c
        .percentiles
        .as_ref()
        .expect("percentiles present")
        .iter()
        .map(|p| p.value)
        .collect();
    let outliers = c
        .outliers
        .as_ref()
        .and_then(|o| o.iqr.as_ref())
        .expect("outliers present");
    let histogram = &c.histogram.as_ref().expect("histogram present").counts;
    let examples: Vec<(usize, f64)> = outliers
        .examples
        .iter()
        .map(|p| (p.index as usize, p.value))
        .collect();
    let checks = [
        ("count", c.count == Some(expected.count as u64)),
        ("sum", close(expected.sum, c.sum)),
        ("mean", close(expected.mean, c.mean)),
        (
            "sample variance",
            close(expected.sample_variance, variance.sample),
        ),
        (
            "population variance",
            close(expected.population_variance, Some(variance.population)),
        ),
        ("min", c.min == Some(expected.min)),
        ("max", c.max == Some(expected.max)),
        ("median", c.median == Some(expected.median)),
        ("p50", close(expected.p50, percentiles.first().copied())),
        ("p90", close(expected.p90, percentiles.get(1).copied())),
        ("p99", close(expected.p99, percentiles.get(2).copied())),
        (
            "histogram",
            histogram.iter().sum::<u64>() == expected.count as u64
                && histogram
                    .iter()
                    .zip(&expected.histogram)
                    .all(|(a, b)| a.abs_diff(*b) <= 1),
        ),
        ("outlier count", outliers.count == expected.outliers as u64),
        ("outlier examples", examples == expected.outlier_examples),
    ];
    let failed: Vec<&str> = checks
        .iter()
        .filter(|(_, ok)| !ok)
        .map(|(name, _)| *name)
        .collect();
    if failed.is_empty() {
        println!(
            "results agree: mean {:.6}, median {:.6}, p99 {:.6}, {} IQR outliers",
            expected.mean, expected.median, expected.p99, expected.outliers
        );
    } else {
        println!("RESULTS DIFFER in: {}", failed.join(", "));
        println!("loop:   {expected:?}");
        println!("engine: {c:?}");
    }
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort_unstable();
    times[times.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
