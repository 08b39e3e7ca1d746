//! A log line written inside a traced request carries the trace id of the caller's trace:
//! the request span records `trace_id`, and the JSON log format writes the current span's
//! fields. The subscriber is the one `keel serve` installs (`init_logs_and_traces`'s
//! layers), here writing to a buffer.

mod support;

use std::{
    io::Write,
    sync::{Arc, Mutex},
};

use keel_core::{CallToolResult, Context, Incoming, Registry, ToolBuilder};
use keel_protocol::ProtocolVersion;
use keel_server::{Config, Server, TracesConfig};
use serde_json::{Value, json};
use tracing_subscriber::layer::SubscriberExt as _;

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

const TRACE: &str = "0af7651916cd43dd8448eb211c80319c";

#[test]
fn a_log_line_inside_a_request_names_the_callers_trace() {
    // Nothing listens there: exports fail on the exporter's thread, spans are still made.
    let section = TracesConfig::to("http://127.0.0.1:9/v1/traces");
    let traces = section.start().expect("exporter");
    let logs = Buffer::default();
    let sink = logs.clone();
    let subscriber = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .json()
                .with_writer(move || sink.clone()),
        )
        .with(traces.layer());
    let guard = tracing::subscriber::set_default(subscriber);
    traces.enable();

    let registry = Registry::builder()
        .tool(
            ToolBuilder::new("noisy", json!({ "type": "object" })).handler(
                |_: Value, _: Context| async {
                    tracing::warn!(target: "keel::test", "inside the tool");
                    Ok(CallToolResult::text("ok"))
                },
            ),
        )
        .build()
        .expect("registry");
    let config = Config {
        traces: Some(section),
        ..Config::default()
    };
    let server = Server::new(config, registry).expect("server");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let reply = runtime.block_on(async {
        let text = json!({
            "jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": { "name": "noisy", "arguments": {}, "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {},
                "traceparent": format!("00-{TRACE}-00f067aa0ba902b7-01"),
            } },
        });
        let Incoming::Request(req) = Incoming::decode(text.to_string().as_bytes()) else {
            panic!("a request");
        };
        let env = support::in_process_env(ProtocolVersion::parse("2026-07-28").expect("known"));
        server.dispatcher().handle(req, env).await
    });
    assert!(reply.error.is_none(), "{reply:?}");
    drop(runtime);
    drop(guard);
    traces.shutdown();

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let line: Value = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| l["fields"]["message"] == "inside the tool")
        .unwrap_or_else(|| panic!("no log line from the tool in {text}"));
    assert_eq!(line["span"]["trace_id"], TRACE, "{line}");
    assert_eq!(line["span"]["name"], "mcp.request", "{line}");
}
