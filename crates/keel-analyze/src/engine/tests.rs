//! The engine end to end: request in, report out, against hand-computed and numpy values.

use serde_json::json;

use super::analyze;
use crate::cancel::CancelToken;
use crate::dataset::Dataset;
use crate::error::{AnalysisError, RequestError};
use crate::render::render_text;
use crate::report::{AnalysisReport, Dispersion, PercentileValue};
use crate::request::AnalysisRequest;

fn request(value: serde_json::Value) -> AnalysisRequest {
    serde_json::from_value(value).expect("valid request JSON")
}

fn run(data: &Dataset, req: serde_json::Value) -> Result<AnalysisReport, AnalysisError> {
    analyze(data, &request(req), &|_, _| {}, &CancelToken::new())
}

fn request_error(data: &Dataset, req: serde_json::Value) -> String {
    match run(data, req) {
        Err(AnalysisError::InvalidRequest { reason }) => reason.to_string(),
        other => panic!("expected a request error, got {other:?}"),
    }
}

fn textbook() -> Dataset {
    Dataset::from_values(vec![2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]).unwrap()
}

#[test]
fn summary_of_a_known_dataset() {
    let report = run(&textbook(), json!({"operations": [{"op": "summary"}]})).unwrap();
    assert_eq!(report.rows, 8);
    let c = &report.columns[0];
    assert_eq!(c.name, "value");
    assert_eq!(c.count, Some(8));
    assert_eq!(c.sum, Some(40.0));
    assert_eq!(c.mean, Some(5.0));
    assert_eq!(c.median, Some(4.5));
    assert_eq!((c.min, c.max), (Some(2.0), Some(9.0)));
    assert_eq!(
        c.variance,
        Some(Dispersion {
            sample: Some(32.0 / 7.0),
            population: 4.0
        })
    );
    assert_eq!(
        c.std_dev,
        Some(Dispersion {
            sample: Some((32.0f64 / 7.0).sqrt()),
            population: 2.0
        })
    );
    assert_eq!(c.percentiles, None);
}

#[test]
fn no_operations_means_summary_and_only_requested_fields_appear() {
    let all = run(&textbook(), json!({})).unwrap();
    let explicit = run(&textbook(), json!({"operations": [{"op": "summary"}]})).unwrap();
    assert_eq!(all, explicit);

    let report = run(
        &textbook(),
        json!({"operations": [{"op": "mean"}, {"op": "max"}]}),
    )
    .unwrap();
    let value = serde_json::to_value(&report).unwrap();
    assert_eq!(
        value,
        json!({"rows": 8, "columns": [{"name": "value", "mean": 5.0, "max": 9.0}]})
    );
}

#[test]
fn percentiles_on_a_large_permutation_take_the_bucketed_path() {
    // A permutation of 0..n-1: the linear percentile p is exactly (n - 1) * p / 100.
    let n = 1_000_003usize;
    let values: Vec<f64> = (0..n).map(|i| ((i * 7919) % n) as f64).collect();
    let data = Dataset::from_values(values).unwrap();
    let ps = [0.0, 0.1, 25.0, 50.0, 90.0, 99.0, 99.99, 100.0];
    let report = run(
        &data,
        json!({"operations": [{"op": "percentiles", "p": ps}, {"op": "median"}]}),
    )
    .unwrap();
    let got = report.columns[0].percentiles.clone().unwrap();
    for (PercentileValue { p, value }, &expected_p) in got.iter().zip(&ps) {
        assert_eq!(*p, expected_p);
        let expected = (n - 1) as f64 * (expected_p / 100.0);
        assert!(
            (value - expected).abs() < 1e-6,
            "p{p}: {value} vs {expected}"
        );
    }
    assert_eq!(report.columns[0].median, Some(500_001.0));
}

#[test]
fn outliers_match_numpy() {
    let mut values: Vec<f64> = (1..=20).map(f64::from).collect();
    values.extend([100.0, -40.0]);
    let data = Dataset::from_values(values).unwrap();
    let report = run(
        &data,
        json!({"operations": [{"op": "outliers", "max_examples": 1}]}),
    )
    .unwrap();
    let outliers = report.columns[0].outliers.clone().unwrap();
    let iqr = outliers.iqr.unwrap();
    assert_eq!((iqr.q1, iqr.q3, iqr.iqr), (5.25, 15.75, 10.5));
    assert_eq!((iqr.lower_fence, iqr.upper_fence), (-10.5, 31.5));
    assert_eq!(iqr.count, 2);
    assert_eq!(iqr.examples.len(), 1);
    assert_eq!((iqr.examples[0].index, iqr.examples[0].value), (20, 100.0));
    assert!(iqr.truncated);

    let z = outliers.z_score.unwrap();
    assert_eq!(z.count, 1);
    assert!((z.mean - 12.272727272727273).abs() < 1e-12);
    assert!((z.std_dev - 22.519046116932415).abs() < 1e-12);
    assert!(!z.truncated);

    let z_only = run(
        &data,
        json!({"operations": [{"op": "outliers", "method": "z_score", "z_threshold": 2}]}),
    )
    .unwrap();
    let outliers = z_only.columns[0].outliers.clone().unwrap();
    assert!(outliers.iqr.is_none());
    assert_eq!(outliers.z_score.unwrap().count, 2);
}

#[test]
fn correlation_regression_histogram_and_moving_average_together() {
    let data = Dataset::from_inline(&json!({
        "x": [1, 2, 3, 4, 5],
        "y": [2, 1, 4, 3, 5],
        "z": [10, 8, 6, 4, 2]
    }))
    .unwrap();
    let report = run(
        &data,
        json!({"operations": [
            {"op": "correlation"},
            {"op": "regression", "x": "z", "y": "x"},
            {"op": "histogram", "bins": 2},
            {"op": "moving_average", "window": 2, "max_points": 3}
        ]}),
    )
    .unwrap();
    let corr = report.correlation.unwrap();
    assert_eq!(corr.columns, ["x", "y", "z"]);
    assert!((corr.matrix[0][1].unwrap() - 0.8).abs() < 1e-15);
    assert_eq!(corr.matrix[0][2], Some(-1.0));
    let fit = report.regression.unwrap();
    assert_eq!((fit.x.as_str(), fit.y.as_str()), ("z", "x"));
    assert_eq!((fit.slope, fit.intercept), (-0.5, 6.0));
    let x = &report.columns[0];
    assert_eq!(x.histogram.as_ref().unwrap().counts, [2, 3]);
    let ma = x.moving_average.as_ref().unwrap();
    assert_eq!(ma.values, [1.5, 2.5, 3.5]);
    assert!(ma.truncated);
    assert_eq!(x.mean, None);
}

#[test]
fn column_selection_orders_the_report() {
    let data = Dataset::from_inline(&json!({"a": [1, 2], "b": [3, 5]})).unwrap();
    let report = run(
        &data,
        json!({"columns": ["b", "a"], "operations": [{"op": "sum"}]}),
    )
    .unwrap();
    let names: Vec<&str> = report.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["b", "a"]);
    assert_eq!(report.columns[0].sum, Some(8.0));
}

#[test]
fn invalid_requests_explain_themselves() {
    let data = Dataset::from_inline(&json!({"a": [1, 2, 3], "b": [3, 5, 8]})).unwrap();
    assert_eq!(
        request_error(&data, json!({"columns": ["c"]})),
        "no column named \"c\"; available columns: \"a\", \"b\""
    );
    assert_eq!(
        request_error(
            &data,
            json!({"operations": [{"op": "percentiles", "p": [50, 150]}]})
        ),
        "percentiles: p = 150 is invalid; expected a number from 0 to 100"
    );
    assert_eq!(
        request_error(
            &data,
            json!({"operations": [{"op": "histogram", "bins": 0}]})
        ),
        "histogram: bins = 0 is invalid; expected an integer from 1 to 10000"
    );
    assert_eq!(
        request_error(
            &data,
            json!({"operations": [{"op": "histogram", "range": [5, 1]}]})
        ),
        "histogram: range = [5, 1] is invalid; expected [low, high] with finite low <= high"
    );
    assert_eq!(
        request_error(
            &data,
            json!({"operations": [{"op": "moving_average", "window": 4}]})
        ),
        "moving_average: window = 4 is invalid; expected an integer from 1 to the number of rows"
    );
    assert_eq!(
        request_error(
            &data,
            json!({"operations": [{"op": "histogram"}, {"op": "histogram", "bins": 3}]})
        ),
        "operation \"histogram\" is listed more than once; list it once with all its options"
    );
    assert_eq!(
        request_error(
            &data,
            json!({"columns": ["a"], "operations": [{"op": "correlation"}]})
        ),
        "correlation needs at least 2 columns, 1 selected"
    );
    assert_eq!(
        request_error(
            &data,
            json!({"operations": [{"op": "regression", "x": "a", "y": "q"}]})
        ),
        "no column named \"q\"; available columns: \"a\", \"b\""
    );
    let one_row = Dataset::from_values(vec![1.0]).unwrap();
    assert_eq!(
        request_error(
            &one_row,
            json!({"operations": [{"op": "regression", "x": "value", "y": "value"}]})
        ),
        "regression needs at least 2 rows, the dataset has 1"
    );
    assert!(matches!(
        run(&data, json!({"operations": [{"op": "outliers", "k": -1}]})),
        Err(AnalysisError::InvalidRequest {
            reason: RequestError::InvalidParameter { name: "k", .. }
        })
    ));
}

#[test]
fn single_value_has_no_sample_variance() {
    let data = Dataset::from_values(vec![3.0]).unwrap();
    let report = run(&data, json!({})).unwrap();
    let c = &report.columns[0];
    assert_eq!(c.median, Some(3.0));
    assert_eq!(
        c.variance,
        Some(Dispersion {
            sample: None,
            population: 0.0
        })
    );
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(
        json["columns"][0]["variance"]["sample"],
        serde_json::Value::Null
    );
}

#[test]
fn overflowing_statistics_are_errors_not_infinities() {
    let data = Dataset::from_values(vec![1e308, 1e308]).unwrap();
    assert_eq!(
        run(&data, json!({"operations": [{"op": "sum"}]})),
        Err(AnalysisError::Overflow {
            column: "value".into(),
            statistic: "sum"
        })
    );
    let mean = run(
        &data,
        json!({"operations": [{"op": "mean"}, {"op": "median"}]}),
    )
    .unwrap();
    assert_eq!(mean.columns[0].mean, Some(1e308));
    assert_eq!(mean.columns[0].median, Some(1e308));
}

#[test]
fn progress_runs_from_zero_to_total() {
    let values: Vec<f64> = (0..300_000).map(|i| f64::from(i % 977)).collect();
    let data = Dataset::from_values(values).unwrap();
    let calls = std::sync::Mutex::new(Vec::new());
    let record = |done: f64, total: f64| calls.lock().unwrap().push((done, total));
    let req = request(json!({"operations": [
        {"op": "summary"}, {"op": "histogram"}, {"op": "outliers"},
        {"op": "moving_average", "window": 10}
    ]}));
    analyze(&data, &req, &record, &CancelToken::new()).unwrap();
    let calls = calls.into_inner().unwrap();
    let total = calls[0].1;
    // Moments, two quantile passes, histogram and outliers over 300,000 rows, plus 1000
    // moving-average points.
    assert_eq!(total, 5.0 * 300_000.0 + 1000.0);
    assert_eq!(calls[0].0, 0.0);
    assert_eq!(*calls.last().unwrap(), (total, total));
    assert!(
        calls
            .windows(2)
            .all(|w| w[0].0 < w[1].0 && w[0].1 == w[1].1)
    );
    assert!(
        calls.len() >= 5 && calls.len() <= 102,
        "{} reports",
        calls.len()
    );
}

#[test]
fn text_rendering_names_every_section() {
    let data =
        Dataset::from_inline(&json!({"x": [1, 2, 3, 4, 50], "y": [2, 4, 6, 8, 10]})).unwrap();
    let report = run(
        &data,
        json!({"operations": [
            {"op": "summary"}, {"op": "percentiles", "p": [90]}, {"op": "histogram", "bins": 2},
            {"op": "outliers"}, {"op": "correlation"}, {"op": "regression", "x": "x", "y": "y"},
            {"op": "moving_average", "window": 2}
        ]}),
    )
    .unwrap();
    let text = render_text(&report);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "5 rows, 2 columns analysed");
    assert_eq!(
        lines[1],
        "x: count 5, sum 60, mean 12, median 3, min 1, max 50, \
         std dev 21.272 (sample), 19.0263 (population), \
         variance 452.5 (sample), 362 (population)"
    );
    assert!(lines.contains(&"  percentiles: p90 31.6"), "{text}");
    assert!(
        lines.contains(&"  histogram: 2 bins over [1, 50]: 4 1"),
        "{text}"
    );
    assert!(
        lines.contains(&"  outliers (IQR, k=1.5): 1 outside [-1, 7], first: #4=50"),
        "{text}"
    );
    assert!(lines.contains(&"  moving average (window 2): 4 of 4 points: 1.5, 2.5, 3.5, 27"));
    assert!(
        lines.iter().any(|l| l.starts_with("  x ~ y: 0.7")),
        "{text}"
    );
    assert!(
        lines.last().unwrap().starts_with("regression y on x: y = "),
        "{text}"
    );
}
