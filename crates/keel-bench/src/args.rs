//! The command line of `keel bench`, in wrk's spirit.

use std::{path::PathBuf, time::Duration};

use clap::{Args, Subcommand, ValueEnum};

/// What `keel bench --help` says after the options.
const LONG_ABOUT: &str = "Load-test any MCP server over Streamable HTTP or stdio.

Closed loop by default: -c connections, each sending its next request when the last answer \
arrived. With --rate, an open loop: requests are sent on a schedule and latency is measured \
from the intended send time, so a server that stalls shows its stalls instead of slowing the \
generator down (coordinated omission). The era is detected with server/discover unless --era \
is given; legacy runs open --sessions sessions (each with its handshake) and spread the \
connections over them. Without --args, arguments are synthesized from the tool's inputSchema; \
input-required (multi round-trip) answers are answered and the request retried.

The exit code is 0 when every SLO gate holds, 1 when one breaks (or errors exceed \
--max-error-rate), 2 on a usage or connection error. Gates default to the seed's: \
avg=100ms,p95=200ms,max=500ms.

The JSON report (--json) has throughput_rps, requests, ok, errors {transport, http_status, \
jsonrpc, is_error, total}, latency_us {mean, p50, p90, p95, p99, p999, max} and the SLO \
verdicts; --ndjson writes one line per interval; --html one self-contained page with plots.

Examples:
  keel bench http://127.0.0.1:8080/mcp -c 32 -d 10s --tool echo --args '{\"text\":\"hi\"}'
  keel bench http://127.0.0.1:8080/mcp --rate 2000 --shape ramp -d 30s --html run.html
  keel bench http://127.0.0.1:8080/mcp --workload mix.toml --slo p99=50ms --json run.json
  keel bench --stdio -c 8 -d 5s -- keel serve --stdio
  keel bench compare base.json new.json --assert 'p99_delta<10%'";

/// `keel bench`: load-test an MCP server.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, after_long_help = LONG_ABOUT)]
pub struct BenchArgs {
    /// `compare`: judge a run against a baseline.
    #[command(subcommand)]
    pub command: Option<BenchCommand>,

    /// The server's MCP endpoint, e.g. http://127.0.0.1:8080/mcp.
    pub url: Option<String>,

    /// Drive a server over its stdin/stdout: the command follows `--`.
    #[arg(long)]
    pub stdio: bool,

    /// The stdio server's command line (after `--`).
    #[arg(last = true)]
    pub command_line: Vec<String>,

    /// Connections kept open (stdio: requests in flight).
    #[arg(short = 'c', long, default_value_t = 32)]
    pub connections: usize,

    /// How long to send (e.g. 10s, 500ms, 2m).
    #[arg(short = 'd', long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,

    /// Generator threads; connections are split between them (like wrk's -t).
    #[arg(short = 't', long, default_value_t = 1)]
    pub threads: usize,

    /// Open loop at this many requests per second (the peak for ramp, step and spike).
    #[arg(long)]
    pub rate: Option<f64>,

    /// How the open-loop rate moves over the run.
    #[arg(long, value_enum, default_value_t = LoadShape::Constant, requires = "rate")]
    pub shape: LoadShape,

    /// Rate at the start of a ramp or step (default: a tenth of --rate).
    #[arg(long)]
    pub start_rate: Option<f64>,

    /// Number of steps of a step shape.
    #[arg(long, default_value_t = 5)]
    pub steps: u32,

    /// Peak rate of a spike (default: four times --rate), held for the middle tenth of the run.
    #[arg(long)]
    pub spike_rate: Option<f64>,

    /// Raise an open-loop rate stage by stage (from --rate, default 100/s) until an SLO breaks;
    /// report the highest rate that held.
    #[arg(long)]
    pub find_ceiling: bool,

    /// Length of each --find-ceiling stage.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub stage: Duration,

    /// Protocol era: detected with server/discover when not given.
    #[arg(long, value_enum, default_value_t = EraChoice::Auto)]
    pub era: EraChoice,

    /// Legacy sessions to open (default: one per connection).
    #[arg(long)]
    pub sessions: Option<usize>,

    /// Method to send when no --workload is given (tools/call needs --tool).
    #[arg(long, default_value = "tools/call")]
    pub method: String,

    /// Tool to call (default: echo when the server has it, else its first tool).
    #[arg(long)]
    pub tool: Option<String>,

    /// Tool arguments as JSON; `{key}` inside strings is replaced by a key (see --keys).
    #[arg(long)]
    pub args: Option<String>,

    /// Number of distinct `{key}` values (cache cardinality).
    #[arg(long, default_value_t = 1000)]
    pub keys: u64,

    /// Zipf exponent of the key choice (0 = uniform; ~1 = a few hot keys).
    #[arg(long, default_value_t = 0.0)]
    pub zipf: f64,

    /// A TOML workload: a weighted mix of methods and tools with argument templates.
    #[arg(long)]
    pub workload: Option<PathBuf>,

    /// SLO gates, e.g. avg=100ms,p95=200ms,max=500ms; `none` for no gate.
    #[arg(long, default_value = "avg=100ms,p95=200ms,max=500ms")]
    pub slo: String,

    /// Largest share of requests that may fail (transport, HTTP, JSON-RPC or isError) before
    /// the run fails.
    #[arg(long, default_value_t = 0.0)]
    pub max_error_rate: f64,

    /// Per-request timeout.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub timeout: Duration,

    /// Extra HTTP header on every request (`Name: value`), e.g. an Authorization header.
    #[arg(short = 'H', long = "header")]
    pub headers: Vec<String>,

    /// Bearer token (shorthand for -H 'Authorization: Bearer T').
    #[arg(long)]
    pub token: Option<String>,

    /// Legacy sessions to create and abandon per second while the load runs.
    #[arg(long)]
    pub churn: Option<f64>,

    /// The server's process id: its resident memory is sampled (RSS per abandoned session).
    #[arg(long)]
    pub server_pid: Option<u32>,

    /// Seconds per interval of the NDJSON series and the HTML plots.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub interval: Duration,

    /// Write the JSON report here.
    #[arg(long)]
    pub json: Option<PathBuf>,

    /// Write one JSON line per interval here.
    #[arg(long)]
    pub ndjson: Option<PathBuf>,

    /// Write a self-contained HTML report here.
    #[arg(long)]
    pub html: Option<PathBuf>,

    /// No progress line, even on a terminal.
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

/// `keel bench` subcommands.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Compare two JSON reports; exit 1 when an --assert fails (for CI).
    Compare(CompareArgs),
}

/// `keel bench compare BASE NEW --assert ...`.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The baseline JSON report.
    pub base: PathBuf,
    /// The new JSON report.
    pub new: PathBuf,
    /// Conditions on relative changes, e.g. `p99_delta<10%`, `throughput_delta>-5%`,
    /// `error_rate<1%` (metrics: throughput, mean, p50, p90, p95, p99, p999, max with
    /// `_delta`; error_rate of the new run).
    #[arg(long = "assert")]
    pub asserts: Vec<String>,
}

/// How the open-loop rate moves over a run.
#[derive(Debug, Clone, Copy, PartialEq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LoadShape {
    /// The same rate throughout.
    Constant,
    /// From --start-rate up to --rate linearly.
    Ramp,
    /// From --start-rate up to --rate in --steps equal steps.
    Step,
    /// --rate, with --spike-rate for the middle tenth of the run.
    Spike,
}

/// Which protocol era to speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EraChoice {
    /// Ask with server/discover; fall back to legacy.
    Auto,
    /// 2026-07-28: no session, `_meta` on every request.
    Modern,
    /// 2025-11-25 (or what the server negotiates): sessions with a handshake.
    Legacy,
}

/// Parses `10s`, `500ms`, `2m`, `1h`, `1.5s` or bare seconds.
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{s}` is not a duration (e.g. 10s, 500ms, 2m)"))?;
    let seconds = match unit.trim() {
        "" | "s" => value,
        "ms" => value / 1e3,
        "us" | "µs" => value / 1e6,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        other => return Err(format!("unknown duration unit `{other}` in `{s}`")),
    };
    if !seconds.is_finite() || seconds < 0.0 {
        return Err(format!("`{s}` is not a duration"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("5parsecs").is_err());
    }
}
