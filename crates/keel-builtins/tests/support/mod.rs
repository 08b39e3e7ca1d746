//! A real `Dispatcher` over a registry holding the built-ins, driven in-process with
//! JSON-RPC bytes as a transport would hand them over (protocol 2026-07-28, stateless).

#![allow(dead_code, reason = "each test binary uses part of the harness")]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use keel_builtins::{Builtins, BuiltinsConfig, DatabaseEntry, builtins};
use keel_core::{
    DispatchSettings, Dispatcher, MemorySessionStore, Outbound, ParsedRequest, Principal, Registry,
    RequestEnv, RequestStateCodec, ServerInfo, StateKey,
};
use keel_protocol::{Message, ProtocolVersion, meta};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// A database entry for a SQLite file in `dir` (created with the demo data on start).
pub(crate) fn sqlite_in(dir: &tempfile::TempDir, name: &str) -> DatabaseEntry {
    DatabaseEntry {
        name: name.to_owned(),
        url: format!(
            "sqlite://{}",
            dir.path().join(format!("{name}.db")).display()
        ),
        ..DatabaseEntry::default()
    }
}

/// The dispatcher and the built-ins behind it.
pub(crate) struct Harness {
    pub(crate) dispatcher: Dispatcher,
    pub(crate) builtins: Builtins,
    next_id: AtomicU64,
}

impl Harness {
    /// Starts the built-ins from `config` and a dispatcher over them.
    pub(crate) async fn start(config: &BuiltinsConfig) -> Self {
        let builtins = builtins(config).await.expect("the built-ins start");
        let registry = builtins
            .register(Registry::builder())
            .build()
            .expect("the registry builds");
        let dispatcher = Dispatcher::new(
            Arc::new(registry),
            Dispatcher::base_tool_service(),
            Arc::new(MemorySessionStore::new(Duration::from_secs(60))),
            RequestStateCodec::new(StateKey::random(), Duration::from_secs(60)),
            ServerInfo {
                name: "keel-builtins-tests".into(),
                version: "0".into(),
                instructions: None,
            },
            DispatchSettings::default(),
        );
        Self {
            dispatcher,
            builtins,
            next_id: AtomicU64::new(1),
        }
    }

    /// A request as a transport parses it: `params` plus the modern `_meta`, and a progress
    /// token when `progress` is set.
    pub(crate) fn parse(
        &self,
        method: &str,
        mut params: Value,
        progress: Option<&str>,
    ) -> ParsedRequest {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut meta = json!({
            meta::PROTOCOL_VERSION: "2026-07-28",
            meta::CLIENT_CAPABILITIES: {},
        });
        if let Some(token) = progress {
            meta[meta::PROGRESS_TOKEN] = json!(token);
        }
        params["_meta"] = meta;
        let bytes = serde_json::to_vec(&json!({
            "jsonrpc": "2.0", "id": id, "method": method, "params": params,
        }))
        .unwrap();
        let message = Message::decode(&bytes).expect("a well-formed message");
        ParsedRequest::from_message(&message).expect("a request")
    }

    /// The environment of a stateless modern request.
    pub(crate) fn env(
        cancel: CancellationToken,
        outbound: Option<mpsc::UnboundedSender<Outbound>>,
    ) -> RequestEnv {
        RequestEnv {
            version: ProtocolVersion::V2026_07_28,
            session: None,
            outbound,
            cancel,
            sessions_enabled: false,
            cancellable_by_notification: false,
            principal: Principal::anonymous(),
        }
    }

    /// Sends one request and returns the decoded response.
    pub(crate) async fn rpc(&self, method: &str, params: Value) -> Value {
        let request = self.parse(method, params, None);
        let env = Self::env(CancellationToken::new(), None);
        let reply = self.dispatcher.handle(request, env).await;
        let body = reply.body.expect("a response body");
        serde_json::from_slice(&body).expect("a JSON response")
    }

    /// Calls a tool and returns the `result` object (panics on a JSON-RPC error).
    pub(crate) async fn call(&self, tool: &str, arguments: Value) -> Value {
        let response = self
            .rpc(
                "tools/call",
                json!({ "name": tool, "arguments": arguments }),
            )
            .await;
        match response.get("result") {
            Some(result) => result.clone(),
            None => panic!("tools/call {tool} failed at the protocol level: {response}"),
        }
    }

    /// Calls a tool that must succeed; returns `structuredContent`, checked against the
    /// tool's `outputSchema`.
    pub(crate) async fn call_ok(&self, tool: &str, arguments: Value) -> Value {
        let result = self.call(tool, arguments).await;
        assert_eq!(result["isError"], false, "{tool} failed: {result}");
        let structured = result["structuredContent"].clone();
        self.assert_fits_output_schema(tool, &structured);
        structured
    }

    /// Calls a tool that must fail as a tool error (`isError`); returns its text.
    pub(crate) async fn call_err(&self, tool: &str, arguments: Value) -> String {
        let result = self.call(tool, arguments).await;
        assert_eq!(result["isError"], true, "{tool} should fail: {result}");
        result["content"][0]["text"]
            .as_str()
            .expect("an error text")
            .to_owned()
    }

    /// Checks `value` against the `outputSchema` the tool declares in `tools/list`.
    pub(crate) fn assert_fits_output_schema(&self, tool: &str, value: &Value) {
        let entry = self.dispatcher.registry().tool(tool).expect("the tool");
        let schema = entry
            .definition
            .output_schema
            .as_ref()
            .expect("an output schema");
        let validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .build(schema)
            .expect("the output schema compiles");
        let problems: Vec<String> = validator
            .iter_errors(value)
            .map(|e| e.to_string())
            .collect();
        assert!(
            problems.is_empty(),
            "{tool} output breaks its schema: {problems:?}"
        );
    }
}
