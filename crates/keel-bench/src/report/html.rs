//! One self-contained HTML page: the summary, the gates, and SVG plots of throughput and
//! latency over time and of the latency distribution. No script, no network: it opens
//! anywhere, offline.

use std::fmt::Write;

use plotters::prelude::*;

use super::{Report, text::us};

const WIDTH: u32 = 960;
const HEIGHT: u32 = 320;

/// The page.
pub(crate) fn html(r: &Report) -> String {
    let mut o = String::new();
    let title = format!("keel bench: {}", escape(&r.target));
    let _ = write!(
        o,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\
         <style>body{{font-family:system-ui,sans-serif;margin:24px;color:#222}}\
         table{{border-collapse:collapse;margin:8px 0 16px}}td,th{{border:1px solid #ccc;\
         padding:4px 10px;text-align:right}}th{{background:#f3f3f3}}td:first-child,\
         th:first-child{{text-align:left}}.pass{{color:#176d17;font-weight:bold}}\
         .fail{{color:#b00020;font-weight:bold}}figure{{margin:0 0 16px}}</style></head><body>\
         <h1>{title}</h1>"
    );
    let verdict = if r.passed {
        "<span class=\"pass\">PASS</span>"
    } else {
        "<span class=\"fail\">FAIL</span>"
    };
    let _ = write!(
        o,
        "<p id=\"verdict\">Verdict: {verdict}. {} era ({}), {} loop{}, {} connections, \
         {:.2} s.</p>",
        escape(&r.era),
        escape(&r.protocol_version),
        escape(&r.mode),
        match (&r.shape, r.rate) {
            (Some(s), Some(rate)) => format!(" at {rate} req/s ({})", escape(s)),
            _ => String::new(),
        },
        r.connections,
        r.duration_secs
    );
    let l = &r.latency_us;
    let _ = write!(
        o,
        "<table id=\"summary\"><tr><th>requests</th><th>ok</th><th>failed</th><th>req/s</th>\
         <th>avg</th><th>p50</th><th>p90</th><th>p95</th><th>p99</th><th>p99.9</th><th>max</th>\
         </tr><tr><td>{}</td><td>{}</td><td>{}</td><td>{:.1}</td><td>{}</td><td>{}</td>\
         <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr></table>",
        r.requests,
        r.ok,
        r.errors.total,
        r.throughput_rps,
        us(l.mean),
        us(l.p50 as f64),
        us(l.p90 as f64),
        us(l.p95 as f64),
        us(l.p99 as f64),
        us(l.p999 as f64),
        us(l.max as f64)
    );
    if !r.slo.is_empty() {
        o.push_str(
            "<table id=\"slo\"><tr><th>gate</th><th>limit</th><th>actual</th><th>verdict</th></tr>",
        );
        for g in &r.slo {
            let _ = write!(
                o,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"{}\">{}</td></tr>",
                g.stat,
                us(g.limit_us as f64),
                us(g.actual_us),
                if g.passed { "pass" } else { "fail" },
                if g.passed { "pass" } else { "FAIL" }
            );
        }
        o.push_str("</table>");
    }
    if r.errors.total > 0 {
        o.push_str("<table id=\"errors\"><tr><th>failure</th><th>count</th></tr>");
        let e = &r.errors;
        let rows = e
            .transport
            .iter()
            .map(|(k, v)| (format!("transport {k}"), *v))
            .chain(e.http_status.iter().map(|(k, v)| (format!("HTTP {k}"), *v)))
            .chain(e.jsonrpc.iter().map(|(k, v)| (format!("JSON-RPC {k}"), *v)))
            .chain((e.is_error > 0).then(|| ("isError".to_owned(), e.is_error)));
        for (k, v) in rows {
            let _ = write!(o, "<tr><td>{}</td><td>{v}</td></tr>", escape(&k));
        }
        o.push_str("</table>");
    }
    for (id, svg) in [
        ("throughput", throughput_plot(r)),
        ("latency", latency_plot(r)),
        ("histogram", histogram_plot(r)),
    ] {
        let _ = write!(o, "<figure id=\"{id}\">{svg}</figure>");
    }
    o.push_str("</body></html>\n");
    o
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

type Plot = Result<(), Box<dyn std::error::Error>>;

/// Which statistic of an interval a line plots.
type Pick = fn(&super::Latency) -> u64;

/// Runs a drawing into an SVG string; a drawing error becomes a visible note, not a panic.
fn svg(draw: impl FnOnce(DrawingArea<SVGBackend<'_>, plotters::coord::Shift>) -> Plot) -> String {
    let mut out = String::new();
    let result = {
        let root = SVGBackend::with_string(&mut out, (WIDTH, HEIGHT)).into_drawing_area();
        draw(root)
    };
    match result {
        Ok(()) => out,
        Err(e) => format!("<p>plot unavailable: {}</p>", escape(&e.to_string())),
    }
}

fn throughput_plot(r: &Report) -> String {
    svg(|root| {
        root.fill(&WHITE)?;
        let t_max = r.intervals.last().map_or(1.0, |i| i.t).max(0.001);
        let y_max = r
            .intervals
            .iter()
            .map(|i| i.throughput_rps.max(i.target_rps.unwrap_or(0.0)))
            .fold(1.0, f64::max)
            * 1.1;
        let mut chart = ChartBuilder::on(&root)
            .caption("Throughput (requests per second)", ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..t_max, 0f64..y_max)?;
        chart.configure_mesh().x_desc("seconds").draw()?;
        chart
            .draw_series(LineSeries::new(
                r.intervals.iter().map(|i| (i.t, i.throughput_rps)),
                BLUE.stroke_width(2),
            ))?
            .label("achieved")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE));
        if r.intervals.iter().any(|i| i.target_rps.is_some()) {
            chart
                .draw_series(LineSeries::new(
                    r.intervals
                        .iter()
                        .filter_map(|i| i.target_rps.map(|t| (i.t, t))),
                    BLACK.stroke_width(1),
                ))?
                .label("asked")
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;
        root.present()?;
        Ok(())
    })
}

fn latency_plot(r: &Report) -> String {
    svg(|root| {
        root.fill(&WHITE)?;
        let t_max = r.intervals.last().map_or(1.0, |i| i.t).max(0.001);
        let y_max = r
            .intervals
            .iter()
            .map(|i| i.latency_us.max as f64 / 1000.0)
            .fold(0.001, f64::max)
            * 1.1;
        let mut chart = ChartBuilder::on(&root)
            .caption("Latency per interval (ms)", ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..t_max, (0.001f64..y_max).log_scale())?;
        chart
            .configure_mesh()
            .x_desc("seconds")
            .y_desc("ms")
            .draw()?;
        let series: [(&str, RGBColor, Pick); 3] = [
            ("p50", BLUE, |l| l.p50),
            ("p99", RGBColor(230, 120, 0), |l| l.p99),
            ("max", RED, |l| l.max),
        ];
        for (name, color, pick) in series {
            chart
                .draw_series(LineSeries::new(
                    r.intervals
                        .iter()
                        .filter(|i| i.requests > 0)
                        .map(|i| (i.t, (pick(&i.latency_us) as f64 / 1000.0).max(0.001))),
                    color.stroke_width(2),
                ))?
                .label(name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;
        root.present()?;
        Ok(())
    })
}

fn histogram_plot(r: &Report) -> String {
    svg(|root| {
        root.fill(&WHITE)?;
        let lo = r.histogram.first().map_or(1, |b| b.0).max(1) as f64 / 1.2;
        let hi = r.histogram.last().map_or(10, |b| b.0).max(2) as f64 * 1.2;
        let y_max = r.histogram.iter().map(|b| b.1).max().unwrap_or(1).max(1) as f64 * 1.1;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "Latency distribution (requests per bucket, µs)",
                ("sans-serif", 18),
            )
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(70)
            .build_cartesian_2d((lo..hi).log_scale(), 0f64..y_max)?;
        chart.configure_mesh().x_desc("µs").draw()?;
        let mut lower = lo;
        chart.draw_series(r.histogram.iter().map(|&(upper, count)| {
            let left = lower;
            lower = upper as f64;
            Rectangle::new(
                [(left, 0.0), (upper as f64, count as f64)],
                BLUE.mix(0.6).filled(),
            )
        }))?;
        root.present()?;
        Ok(())
    })
}
