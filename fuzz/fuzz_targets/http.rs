//! Raw bytes as one HTTP/1.1 connection into Keel's real application (the MCP endpoint with
//! every built-in but the model's, health, readiness, metrics, status): request heads and
//! bodies through hyper and the real router and dispatcher. A panic, or a connection that
//! neither answers nor ends once the client has finished sending, is a finding.

#![no_main]

use std::sync::LazyLock;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use libfuzzer_sys::fuzz_target;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Target {
    runtime: tokio::runtime::Runtime,
    app: keel_server::axum::Router,
}

static TARGET: LazyLock<Target> = LazyLock::new(|| {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let app = runtime.block_on(async {
        let mut config = keel_server::Config::default();
        config.builtins.embed.enabled = false;
        config.status.page = true;
        // Lists and sessions stay small however many initializes the fuzzer sends.
        config.sessions.max = 64;
        let builtins = keel_builtins::builtins(&config.builtins)
            .await
            .expect("built-ins");
        let registry = builtins
            .register(keel_core::Registry::builder().tool(keel_server::echo_tool()))
            .build()
            .expect("registry");
        // The built-ins live as long as the process.
        std::mem::forget(builtins);
        keel_server::Server::new(config, registry)
            .expect("server")
            .into_http_app()
            .expect("app")
    });
    Target { runtime, app }
});

/// Longest a connection may take once the client has sent everything and closed its side.
const ANSWER_WITHIN: Duration = Duration::from_secs(5);

fuzz_target!(|data: &[u8]| {
    let target = &*TARGET;
    target.runtime.block_on(async {
        let (mut client, server) = tokio::io::duplex(64 * 1024);
        let service = TowerToHyperService::new(target.app.clone());
        let connection = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(server), service);
        let exchange = async {
            client.write_all(data).await.ok();
            client.shutdown().await.ok();
            let mut answer = Vec::new();
            client.read_to_end(&mut answer).await.ok();
            answer
        };
        let outcome =
            tokio::time::timeout(ANSWER_WITHIN, async { tokio::join!(connection, exchange) })
                .await;
        if outcome.is_err() {
            panic!("the connection neither answered nor ended within {ANSWER_WITHIN:?}");
        }
    });
});
