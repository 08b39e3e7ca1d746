//! The `keel` command line.

use std::{future::Future, net::SocketAddr, path::PathBuf, process::ExitCode, sync::Arc};

use clap::{Parser, Subcommand};
use keel_core::Registry;
use tokio_util::sync::CancellationToken;

use crate::{Config, Server, echo_tool};

/// Keel: a production MCP server runtime.
#[derive(Debug, Parser)]
#[command(name = "keel", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve MCP over Streamable HTTP (default) or stdio.
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
}

/// Structured JSON logs on stderr, filtered by `KEEL_LOG` (default `info`).
pub fn init_logs() {
    // Logs go to stderr: on stdio, stdout carries nothing but MCP.
    let filter = tracing_subscriber::EnvFilter::try_from_env("KEEL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .json()
        .init();
}

/// Runs the command; the exit code says whether it succeeded.
pub fn main(cli: Cli) -> ExitCode {
    init_logs();
    let Command::Serve {
        stdio,
        listen,
        config,
    } = cli.command;
    let mut config = match Config::load(config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "configuration refused");
            return ExitCode::from(2);
        }
    };
    if let Some(l) = listen {
        config.http.listen = l;
    }
    run_until_signal(move |shutdown| async move {
        let builtins = keel_builtins::builtins(&config.builtins)
            .await
            .map_err(std::io::Error::other)?;
        for line in builtins.readiness().degraded {
            tracing::warn!(degraded = %line, "built-in tool not ready");
        }
        let registry = builtins
            .register(Registry::builder().tool(echo_tool()))
            .build()
            .map_err(std::io::Error::other)?;
        let builtins = Arc::new(builtins);
        let ready = Arc::clone(&builtins);
        let server = Server::new(config, registry).with_readiness(Arc::new(move || {
            let r = ready.readiness();
            (r.ready, r.degraded)
        }));
        let result = if stdio {
            server.serve_stdio(shutdown).await
        } else {
            server.serve_http(shutdown).await
        };
        builtins.close().await;
        result
    })
}

/// Runs `serve` on a multi-threaded runtime until it returns; SIGINT or SIGTERM cancel the
/// token it receives so it can finish in-flight work. Errors are logged; the exit code says
/// whether it succeeded.
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
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "server stopped with an error");
            ExitCode::FAILURE
        }
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
    tracing::info!("shutting down: finishing in-flight requests");
    shutdown.cancel();
}
