//! The conformance server: every tool, resource, template, prompt and completion that the
//! official MCP conformance suites (`@modelcontextprotocol/conformance` 0.1.x and 0.2.x) call,
//! served on one Streamable HTTP endpoint for both protocol eras.
//!
//! It is a test fixture written only against Keel's public API, the way a user would write
//! a server; it is not part of the `keel` binary. `scripts/conformance.sh` builds it, starts
//! it and runs both suites against it.
//!
//! ```text
//! cargo run --release -p keel-server --example conformance -- --listen 127.0.0.1:3001
//! ```
//! serves `http://127.0.0.1:3001/mcp` and logs to stderr (`KEEL_LOG` filters, as in `keel`).

// The fixtures live in `conformance/`, one module per concern; an example's root resolves
// modules beside itself, hence the `path` attributes.

#[path = "conformance/ask.rs"]
mod ask;
#[path = "conformance/content.rs"]
mod content;
#[path = "conformance/interactive.rs"]
mod interactive;
#[path = "conformance/media.rs"]
mod media;
#[path = "conformance/mrtr.rs"]
mod mrtr;
#[path = "conformance/prompts.rs"]
mod prompts;
#[path = "conformance/resources.rs"]
mod resources;
#[path = "conformance/stateless.rs"]
mod stateless;
#[path = "conformance/tasks.rs"]
mod tasks;

use std::{net::SocketAddr, process::ExitCode};

use clap::Parser;
use keel_core::{Registry, RegistryError, ToolBuilder};
use keel_server::{Config, Server};

/// Command line of the conformance server.
#[derive(Debug, Parser)]
#[command(name = "conformance", about = "Keel's MCP conformance fixture server")]
struct Args {
    /// Listen address; the endpoint is `/mcp` (or `KEEL_PATH`).
    #[arg(long, default_value = "127.0.0.1:3001")]
    listen: SocketAddr,
}

/// Everything the suites exercise, in one immutable registry.
///
/// Tools are listed sorted by name and the modern `http-header-validation` scenario calls the
/// first one with `{}`, so the no-argument `about` tool is named to sort before every fixture
/// whose name the suites fix (`confirm_delete`, `echo`, `failing_job`, `greet`, …).
fn registry() -> Result<Registry, RegistryError> {
    let mut builder = Registry::builder().tool(keel_server::echo_tool());
    for tool in content::tools()
        .into_iter()
        .chain(interactive::tools())
        .chain(stateless::tools())
        .chain(mrtr::tools())
        .chain(tasks::tools())
    {
        builder = builder.tool(tool);
    }
    for resource in resources::resources() {
        builder = builder.resource(resource);
    }
    for prompt in prompts::prompts() {
        builder = builder.prompt(prompt);
    }
    builder.template(resources::template()).build()
}

/// A tool that takes no arguments (`{"type":"object"}` with no properties).
fn no_args(name: &str, description: &str) -> ToolBuilder {
    ToolBuilder::new(
        name,
        serde_json::json!({ "type": "object", "properties": {} }),
    )
    .description(description)
}

fn main() -> ExitCode {
    keel_server::cli::init_logs();
    let args = Args::parse();
    let mut config = match Config::load(None) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "configuration refused");
            return ExitCode::from(2);
        }
    };
    config.http.listen = args.listen;
    let registry = match registry() {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "registry refused");
            return ExitCode::from(2);
        }
    };
    keel_server::cli::run_until_signal(move |shutdown| async move {
        let server = Server::new(config, registry).map_err(std::io::Error::other)?;
        server.serve_http(shutdown).await
    })
}
