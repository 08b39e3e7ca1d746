//! A short plain-text summary of a report, for a tool result's text content.

use std::fmt::Write;

use crate::report::{AnalysisReport, ColumnReport, Dispersion, OutlierReport};

/// Renders a few lines per column plus the correlation and regression sections. Numbers are
/// rounded to six significant digits; the JSON report carries full precision.
pub fn render_text(report: &AnalysisReport) -> String {
    let mut out = String::new();
    let columns = report.columns.len();
    let _ = writeln!(
        out,
        "{} rows, {} column{} analysed",
        report.rows,
        columns,
        if columns == 1 { "" } else { "s" }
    );
    for column in &report.columns {
        render_column(&mut out, column);
    }
    if let Some(correlation) = &report.correlation {
        let _ = writeln!(out, "correlation (Pearson):");
        for (i, row) in correlation.matrix.iter().enumerate() {
            for (j, r) in row.iter().enumerate().skip(i + 1) {
                let _ = writeln!(
                    out,
                    "  {} ~ {}: {}",
                    correlation.columns[i],
                    correlation.columns[j],
                    r.map_or_else(|| "undefined (constant column)".to_owned(), num)
                );
            }
        }
    }
    if let Some(fit) = &report.regression {
        let _ = write!(
            out,
            "regression {} on {}: {} = {} + {}·{}",
            fit.y,
            fit.x,
            fit.y,
            num(fit.intercept),
            num(fit.slope),
            fit.x
        );
        if let Some(r2) = fit.r_squared {
            let _ = write!(out, ", r² {}", num(r2));
        }
        if let Some(se) = fit.slope_std_error {
            let _ = write!(out, ", slope std error {}", num(se));
        }
        let _ = writeln!(out, ", n {}", fit.n);
    }
    out.truncate(out.trim_end().len());
    out
}

fn render_column(out: &mut String, c: &ColumnReport) {
    let mut parts: Vec<String> = Vec::new();
    if let Some(count) = c.count {
        parts.push(format!("count {count}"));
    }
    let named = [
        ("sum", c.sum),
        ("mean", c.mean),
        ("median", c.median),
        ("min", c.min),
        ("max", c.max),
    ];
    parts.extend(
        named
            .iter()
            .filter_map(|(label, v)| v.map(|v| format!("{label} {}", num(v)))),
    );
    if let Some(sd) = &c.std_dev {
        parts.push(format!("std dev {}", dispersion(sd)));
    }
    if let Some(var) = &c.variance {
        parts.push(format!("variance {}", dispersion(var)));
    }
    let _ = write!(out, "{}:", c.name);
    if !parts.is_empty() {
        let _ = write!(out, " {}", parts.join(", "));
    }
    out.push('\n');
    if let Some(ps) = &c.percentiles {
        let list: Vec<String> = ps
            .iter()
            .map(|p| format!("p{} {}", num(p.p), num(p.value)))
            .collect();
        let _ = writeln!(out, "  percentiles: {}", list.join(", "));
    }
    if let Some(h) = &c.histogram {
        let counts: Vec<String> = h.counts.iter().map(u64::to_string).collect();
        let _ = write!(
            out,
            "  histogram: {} bins over [{}, {}]: {}",
            h.counts.len(),
            num(h.edges[0]),
            num(h.edges[h.edges.len() - 1]),
            counts.join(" ")
        );
        if h.below_range + h.above_range > 0 {
            let _ = write!(
                out,
                " ({} below, {} above the range)",
                h.below_range, h.above_range
            );
        }
        out.push('\n');
    }
    if let Some(o) = &c.outliers {
        render_outliers(out, o);
    }
    if let Some(ma) = &c.moving_average {
        let shown: Vec<String> = ma.values.iter().take(5).map(|v| num(*v)).collect();
        let _ = writeln!(
            out,
            "  moving average (window {}): {} of {} points{}: {}{}",
            ma.window,
            ma.values.len(),
            ma.total_points,
            if ma.truncated { " (truncated)" } else { "" },
            shown.join(", "),
            if ma.values.len() > shown.len() {
                ", …"
            } else {
                ""
            }
        );
    }
}

fn render_outliers(out: &mut String, o: &OutlierReport) {
    if let Some(iqr) = &o.iqr {
        let _ = writeln!(
            out,
            "  outliers (IQR, k={}): {} outside [{}, {}]{}",
            num(iqr.k),
            iqr.count,
            num(iqr.lower_fence),
            num(iqr.upper_fence),
            examples(iqr.examples.iter().map(|p| (p.index, p.value)))
        );
    }
    if let Some(z) = &o.z_score {
        let _ = writeln!(
            out,
            "  outliers (|z| > {}): {}{}",
            num(z.threshold),
            z.count,
            examples(z.examples.iter().map(|p| (p.index, p.value)))
        );
    }
}

fn examples(points: impl Iterator<Item = (u64, f64)>) -> String {
    let shown: Vec<String> = points
        .take(5)
        .map(|(i, v)| format!("#{i}={}", num(v)))
        .collect();
    if shown.is_empty() {
        String::new()
    } else {
        format!(", first: {}", shown.join(" "))
    }
}

fn dispersion(d: &Dispersion) -> String {
    match d.sample {
        Some(sample) => format!(
            "{} (sample), {} (population)",
            num(sample),
            num(d.population)
        ),
        None => format!("{} (population)", num(d.population)),
    }
}

/// Six significant digits, trailing zeros trimmed; scientific notation for very large or
/// small magnitudes.
fn num(x: f64) -> String {
    if x == 0.0 {
        return "0".to_owned();
    }
    let magnitude = x.abs();
    if !(1e-4..1e15).contains(&magnitude) {
        let text = format!("{x:.5e}");
        let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
        return format!("{}e{exponent}", trim_zeros(mantissa));
    }
    let decimals = (5 - magnitude.log10().floor() as i32).max(0) as usize;
    trim_zeros(&format!("{x:.decimals$}")).to_owned()
}

fn trim_zeros(text: &str) -> &str {
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::num;

    #[test]
    fn numbers_are_short() {
        assert_eq!(num(0.0), "0");
        assert_eq!(num(5.0), "5");
        assert_eq!(num(-2.5), "-2.5");
        assert_eq!(num(0.1 + 0.2), "0.3");
        assert_eq!(num(1234567.0), "1234567");
        assert_eq!(num(7.654321987), "7.65432");
        assert_eq!(num(0.000123456789), "0.000123457");
        assert_eq!(num(1e20), "1e20");
        assert_eq!(num(-1.5e-7), "-1.5e-7");
    }
}
