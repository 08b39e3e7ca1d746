//! `keel audit`: the command-line face of [`crate::audit`].

use std::{path::PathBuf, process::ExitCode, time::Duration};

use clap::Args;

use crate::{
    audit::audit,
    options::{Era, Options, Target},
};

/// What `keel audit --help` says after the one-line summary.
const LONG_ABOUT: &str = "Probes a live MCP server for security flaws, without changing anything: \
only tools annotated readOnlyHint: true are called unless --allow-mutating. Bounded by \
--max-requests and --timeout-secs.

Probes: malformed JSON-RPC, unsupported versions, batches, oversized and deeply nested \
bodies; foreign Origin / Host (DNS rebinding), Mcp-Method / Mcp-Name mismatches, forged and \
deleted sessions; slow request heads and silent connections; bearer tokens (missing, \
alg: none, tampered, expired, wrong audience / issuer, in the query string), Protected \
Resource Metadata and WWW-Authenticate; injection payloads in every string argument; \
cross-principal caching (--token with --second-token). Every answer is checked for stack \
traces, file paths, secrets and /etc/passwd contents.

Exit code: 1 when a finding of medium or worse exists, 2 when the server cannot be reached \
or the arguments are wrong, 0 otherwise.";

/// `keel audit` arguments.
#[derive(Debug, Clone, Args)]
#[command(after_long_help = LONG_ABOUT)]
pub struct AuditArgs {
    /// The MCP endpoint, e.g. http://127.0.0.1:8080/mcp (not with --stdio).
    #[arg(required_unless_present = "stdio")]
    pub url: Option<String>,
    /// Audit a stdio server: the command and its arguments follow `--`.
    #[arg(long, requires = "command")]
    pub stdio: bool,
    /// The stdio server's command line (after `--`).
    #[arg(last = true)]
    pub command: Vec<String>,
    /// Write the report as SARIF 2.1.0 to FILE.
    #[arg(long, value_name = "FILE")]
    pub sarif: Option<PathBuf>,
    /// Write the report as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Bearer token of a principal the server accepts.
    #[arg(long, value_name = "T")]
    pub token: Option<String>,
    /// Bearer token of a second principal (cross-principal cache probe).
    #[arg(long, value_name = "T2", requires = "token")]
    pub second_token: Option<String>,
    /// HS256 key the server verifies tokens with, if it uses one: forged tokens then carry
    /// valid signatures, so expiry, audience and issuer checks are probed one by one.
    #[arg(
        long,
        value_name = "KEY",
        env = "KEEL_AUDIT_HS256_SECRET",
        hide_env_values = true
    )]
    pub hs256_secret: Option<String>,
    /// Also call tools not annotated readOnlyHint: true (they may change data).
    #[arg(long)]
    pub allow_mutating: bool,
    /// Protocol era to speak.
    #[arg(long, value_enum, default_value = "auto")]
    pub era: Era,
    /// Most requests (and sockets) the audit may use.
    #[arg(long, value_name = "N", default_value_t = 600)]
    pub max_requests: u32,
    /// Overall deadline in seconds.
    #[arg(long, value_name = "S", default_value_t = 240)]
    pub timeout_secs: u64,
    /// Bound on one request, in seconds.
    #[arg(long, value_name = "S", default_value_t = 10)]
    pub request_timeout_secs: u64,
    /// How long a slow or silent connection may stay open before it is a finding, seconds.
    #[arg(long, value_name = "S", default_value_t = 20)]
    pub slow_bound_secs: u64,
    /// Print each probe's request and the server's answer on stderr.
    #[arg(long, short)]
    pub verbose: bool,
}

impl AuditArgs {
    /// The target and options these arguments describe.
    pub fn into_parts(self) -> Option<(Target, Options)> {
        let target = if self.stdio {
            Target::Stdio(self.command)
        } else {
            Target::Http(self.url?)
        };
        let options = Options {
            era: self.era,
            token: self.token,
            second_token: self.second_token,
            hs256_secret: self.hs256_secret,
            allow_mutating: self.allow_mutating,
            max_requests: self.max_requests,
            deadline: Duration::from_secs(self.timeout_secs),
            request_timeout: Duration::from_secs(self.request_timeout_secs.max(1)),
            slow_bound: Duration::from_secs(self.slow_bound_secs.max(1)),
            verbose: self.verbose,
            ..Options::default()
        };
        Some((target, options))
    }
}

/// Runs `keel audit`: the report to stdout (and files), the exit code from the findings.
pub fn run(args: AuditArgs) -> ExitCode {
    let sarif = args.sarif.clone();
    let json = args.json.clone();
    let Some((target, options)) = args.into_parts() else {
        eprintln!("keel audit: give a URL or --stdio -- COMMAND");
        return ExitCode::from(2);
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("keel audit: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let report = match runtime.block_on(audit(&target, options)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("keel audit: {e}");
            return ExitCode::from(2);
        }
    };
    // The child of a stdio audit and any connection left are dropped with the runtime.
    runtime.shutdown_timeout(Duration::from_secs(1));
    for (path, text) in [(sarif, report.to_sarif()), (json, report.to_json())] {
        if let Some(path) = path
            && let Err(e) = std::fs::write(&path, text)
        {
            eprintln!("keel audit: cannot write {}: {e}", path.display());
            return ExitCode::from(2);
        }
    }
    use std::io::Write;
    let _ = std::io::stdout().write_all(report.to_text().as_bytes());
    if report.fails() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
