//! `keel status URL`: reads a server's `/status.json` and prints it for a terminal.

use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use http_body_util::{BodyExt, Empty, Limited};
use serde_json::Value;

/// The most a status document may weigh.
const MAX_BODY: usize = 4 * 1024 * 1024;
/// The longest the whole exchange may take.
const TIMEOUT: Duration = Duration::from_secs(5);

/// `keel status` arguments.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// The server: its MCP endpoint (`http://127.0.0.1:8080/mcp`), its base URL, or the
    /// status document itself (`…/status.json`). Needs `[status] page = true` there.
    pub url: String,
    /// Print the JSON document as served.
    #[arg(long)]
    pub json: bool,
}

/// Runs `keel status`: 0 when the server is ready, 1 when degraded or not ready, 2 when it
/// cannot be read.
pub(crate) fn run(args: &StatusArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("keel status: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let url = status_url(&args.url);
    let fetched = runtime.block_on(async { tokio::time::timeout(TIMEOUT, fetch(&url)).await });
    let document = match fetched {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => {
            eprintln!("keel status: {url}: {e}");
            return ExitCode::from(2);
        }
        Err(_) => {
            eprintln!(
                "keel status: {url}: no answer within {} s",
                TIMEOUT.as_secs()
            );
            return ExitCode::from(2);
        }
    };
    let text = if args.json {
        serde_json::to_string_pretty(&document).unwrap_or_default()
    } else {
        render(&document)
    };
    #[expect(clippy::print_stdout, reason = "the command's output")]
    {
        println!("{text}");
    }
    if document["readiness"] == "ready" {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// The status document's URL for what the user gave.
fn status_url(given: &str) -> String {
    let trimmed = given.trim_end_matches('/');
    if trimmed.ends_with("/status.json") {
        return trimmed.to_owned();
    }
    let base = trimmed.strip_suffix("/mcp").unwrap_or(trimmed);
    let base = base.strip_suffix("/status").unwrap_or(base);
    format!("{base}/status.json")
}

async fn fetch(url: &str) -> Result<Value, String> {
    let uri: http::Uri = url.parse().map_err(|e| format!("not a URL: {e}"))?;
    if uri.scheme_str() != Some("http") {
        return Err("only http:// URLs are supported".into());
    }
    let host = uri.host().ok_or("the URL names no host")?;
    let port = uri.port_u16().unwrap_or(80);
    let stream = tokio::net::TcpStream::connect((host.trim_matches(['[', ']']), port))
        .await
        .map_err(|e| format!("cannot connect: {e}"))?;
    let io = hyper_util::rt::TokioIo::new(stream);
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| format!("HTTP handshake: {e}"))?;
    let driver = tokio::spawn(connection);
    let authority = uri.authority().map_or(host, |a| a.as_str()).to_owned();
    let request = http::Request::get(uri.path_and_query().map_or("/", |p| p.as_str()))
        .header(http::header::HOST, authority)
        .header(http::header::ACCEPT, "application/json")
        .body(Empty::<bytes::Bytes>::new())
        .map_err(|e| e.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("request failed: {e}"))?;
    let status = response.status();
    let body = Limited::new(response.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|e| format!("reading the answer: {e}"))?
        .to_bytes();
    driver.abort();
    if status == http::StatusCode::NOT_FOUND {
        return Err("404: is `[status] page = true` set on the server?".into());
    }
    if !status.is_success() {
        return Err(format!("answered {status}"));
    }
    serde_json::from_slice(&body).map_err(|e| format!("not a status document: {e}"))
}

/// The document as aligned sections.
fn render(s: &Value) -> String {
    let mut out = String::new();
    let server = &s["server"];
    let _ = writeln!(
        out,
        "keel {}  up {} s  readiness: {}{}  legacy sessions: {}",
        server["version"].as_str().unwrap_or("?"),
        server["uptime_secs"],
        s["readiness"].as_str().unwrap_or("?"),
        if server["draining"] == true {
            " (draining)"
        } else {
            ""
        },
        s["sessions"],
    );
    let rows = |v: &Value| v.as_array().cloned().unwrap_or_default();
    let checks: Vec<Vec<String>> = s["checks"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, c)| {
            vec![
                name.clone(),
                if c["ok"] == true { "ok" } else { "FAILING" }.to_owned(),
                if c["required"] == true {
                    "required"
                } else {
                    "optional"
                }
                .to_owned(),
                format!("{:.1} ms", c["latency_ms"].as_f64().unwrap_or(0.0)),
                c["error"].as_str().unwrap_or("").to_owned(),
            ]
        })
        .collect();
    table(
        &mut out,
        "Health checks",
        &["check", "state", "", "latency", "error"],
        &checks,
    );
    let deps: Vec<Vec<String>> = rows(&s["dependencies"])
        .iter()
        .map(|d| {
            vec![
                text(&d["name"]),
                text(&d["breaker"]),
                format!("{}/{}", d["failures_in_window"], d["calls_in_window"]),
                d["retry_in_ms"]
                    .as_u64()
                    .map_or(String::new(), |ms| format!("{ms} ms")),
                text(&d["opened_total"]),
                text(&d["rejected_total"]),
                text(&d["retries_total"]),
                text(&d["timeouts_total"]),
            ]
        })
        .collect();
    table(
        &mut out,
        "Dependencies",
        &[
            "dependency",
            "breaker",
            "failed/calls",
            "retry in",
            "opened",
            "rejected",
            "retries",
            "timeouts",
        ],
        &deps,
    );
    let classes: Vec<Vec<String>> = rows(&s["admission"])
        .iter()
        .map(|c| {
            vec![
                text(&c["class"]),
                format!("{}/{}", c["in_flight"], c["capacity"]),
                format!("{}/{}", c["queued"], c["queue_depth"]),
                text(&c["shed_total"]),
            ]
        })
        .collect();
    table(
        &mut out,
        "Admission",
        &["class", "in flight", "queued", "shed"],
        &classes,
    );
    let cache = &s["cache"];
    if cache.is_object() {
        let _ = writeln!(
            out,
            "\nCache: hit rate {:.1} %, L1 {} entries, {} computed, {} coalesced, {} stale served",
            cache["hit_rate"].as_f64().unwrap_or(0.0) * 100.0,
            cache["levels"]["l1"]["entries"],
            cache["computed"],
            cache["coalesced"],
            cache["stale_served"],
        );
    }
    out
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn table(out: &mut String, title: &str, header: &[&str], rows: &[Vec<String>]) {
    let _ = writeln!(out, "\n{title}");
    if rows.is_empty() {
        let _ = writeln!(out, "  (none)");
        return;
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([header[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in std::iter::once(header.iter().map(|h| (*h).to_owned()).collect())
        .chain(rows.iter().cloned())
    {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        let _ = writeln!(out, "  {}", line.join("  ").trim_end());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_url_follows_from_what_is_given() {
        assert_eq!(status_url("http://h:1/mcp"), "http://h:1/status.json");
        assert_eq!(status_url("http://h:1/"), "http://h:1/status.json");
        assert_eq!(status_url("http://h:1/status"), "http://h:1/status.json");
        assert_eq!(
            status_url("http://h:1/status.json"),
            "http://h:1/status.json"
        );
    }

    #[test]
    fn a_document_renders_every_section() {
        let doc = serde_json::json!({
            "server": {"version": "0.1.0", "uptime_secs": 5, "draining": false},
            "readiness": "degraded",
            "checks": {"db:main": {"ok": false, "required": false, "latency_ms": 2000.0, "error": "no answer within 2000 ms"}},
            "dependencies": [{"name": "db:main", "breaker": "open", "failures_in_window": 0, "calls_in_window": 0, "retry_in_ms": 4200, "opened_total": 1, "rejected_total": 17, "retries_total": 0, "timeouts_total": 10}],
            "admission": [{"class": "io", "in_flight": 1, "capacity": 16, "queued": 0, "queue_depth": 64, "shed_total": 0}],
            "sessions": 0,
            "cache": {"hit_rate": 0.5},
        });
        let text = render(&doc);
        for needle in [
            "readiness: degraded",
            "FAILING",
            "db:main",
            "open",
            "4200 ms",
            "io",
            "1/16",
        ] {
            assert!(text.contains(needle), "{needle} missing from\n{text}");
        }
    }
}
