//! `[admission]` classes of the server's own and per-tool settings, on the server as
//! `Server::new` assembles it, driven in process through `Dispatcher::handle` (no sockets).

mod support;

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
};

use keel_core::{
    CallToolResult, Context, Dispatcher, Incoming, PromptBuilder, Registry, Reply, ToolBuilder,
    ToolError, Workload,
};
use keel_protocol::ProtocolVersion;
use keel_server::{ClassConfig, Config, ConfigError, Server, ToolAdmissionConfig};
use serde_json::{Value, json};
use tokio::sync::{Notify, Semaphore, oneshot};

const REPORTS: Workload = Workload::named("reports");

async fn call(d: &Dispatcher, tool: &str) -> Value {
    let text = json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/call",
                       "params": { "name": tool, "arguments": {} } });
    let Incoming::Request(req) = Incoming::decode(text.to_string().as_bytes()) else {
        panic!("{text} is a request");
    };
    let env = support::in_process_env(ProtocolVersion::V2025_06_18);
    let reply: Reply = d.handle(req, env).await;
    serde_json::from_slice(reply.body.as_deref().expect("a response")).expect("JSON")
}

fn tool(name: &str, class: &str, timeout_ms: Option<u64>) -> (String, ToolAdmissionConfig) {
    (
        name.to_owned(),
        ToolAdmissionConfig {
            class: (!class.is_empty()).then(|| class.to_owned()),
            timeout_ms,
        },
    )
}

/// `stuck` hands its cancellation token to a watcher of its own, then never answers;
/// `quick` answers at once.
fn stuck_registry(observed: oneshot::Sender<()>) -> Registry {
    let observed = Mutex::new(Some(observed));
    Registry::builder()
        .tool(
            ToolBuilder::new("stuck", json!({ "type": "object" })).handler(
                move |_: Value, cx: Context| {
                    let token = cx.cancellation_token();
                    let observed = observed.lock().expect("not poisoned").take();
                    tokio::spawn(async move {
                        token.cancelled().await;
                        if let Some(tx) = observed {
                            let _ = tx.send(());
                        }
                    });
                    std::future::pending::<Result<CallToolResult, ToolError>>()
                },
            ),
        )
        .tool(
            ToolBuilder::new("quick", json!({ "type": "object" }))
                .handler(|_: Value, _| async { Ok(CallToolResult::text("quick")) }),
        )
        .build()
        .expect("registry")
}

#[tokio::test(start_paused = true)]
async fn a_call_past_its_configured_timeout_is_answered_timed_out_and_its_work_cancelled() {
    let (tx, observed) = oneshot::channel();
    let mut config = Config::default();
    config.admission.tools = BTreeMap::from([tool("stuck", "cpu", Some(250))]);
    let server = Server::new(config, stuck_registry(tx)).expect("server");
    let d = server.dispatcher();

    let started = tokio::time::Instant::now();
    let answer = call(d, "stuck").await;
    assert_eq!(
        started.elapsed().as_millis(),
        250,
        "answered at the deadline"
    );
    let result = &answer["result"];
    assert_eq!(result["isError"], true, "{answer}");
    assert_eq!(
        result["content"][0]["text"],
        "stuck ran past its 250ms timeout and was stopped"
    );
    let failure = &result["_meta"]["io.keel/failure"];
    assert_eq!(failure["kind"], "timed_out", "{answer}");
    assert_eq!(failure["timeoutMs"], 250);
    observed
        .await
        .expect("the tool's own work saw the cancellation");

    // No default: other tools have no deadline; the cpu permit `stuck` held is free.
    assert_eq!(
        call(d, "quick").await["result"]["content"][0]["text"],
        "quick"
    );
    let text = server.metrics().render();
    for line in [
        "keel_tool_calls_total{tool=\"stuck\",workload=\"cpu\",outcome=\"timed_out\"} 1",
        "keel_tool_calls_total{tool=\"quick\",workload=\"light\",outcome=\"ok\"} 1",
        "keel_admission_in_flight{workload=\"cpu\"} 0",
    ] {
        assert!(text.contains(line), "{line} missing from\n{text}");
    }
}

#[tokio::test(start_paused = true)]
async fn the_default_timeout_bounds_every_tool_without_one_of_its_own() {
    let (tx, _observed) = oneshot::channel();
    let mut config = Config::default();
    config.admission.default_timeout_ms = Some(40);
    let server = Server::new(config, stuck_registry(tx)).expect("server");
    let answer = call(server.dispatcher(), "stuck").await;
    assert_eq!(
        answer["result"]["_meta"]["io.keel/failure"]["timeoutMs"],
        40
    );
}

#[tokio::test]
async fn a_class_of_the_servers_own_admits_the_tools_declaring_it() {
    let (started, gate) = (Arc::new(Notify::new()), Arc::new(Semaphore::new(0)));
    let (running, wait) = (Arc::clone(&started), Arc::clone(&gate));
    let registry = Registry::builder()
        .tool(
            ToolBuilder::new("report", json!({ "type": "object" }))
                .workload(REPORTS)
                .handler(move |_: Value, _| {
                    let (running, wait) = (Arc::clone(&running), Arc::clone(&wait));
                    async move {
                        running.notify_one();
                        if let Ok(permit) = wait.acquire().await {
                            permit.forget();
                        }
                        Ok(CallToolResult::text("report"))
                    }
                }),
        )
        .tool(
            ToolBuilder::new("quick", json!({ "type": "object" }))
                .handler(|_: Value, _| async { Ok(CallToolResult::text("quick")) }),
        )
        .build()
        .expect("registry");
    let mut config = Config::default();
    config.admission.classes = BTreeMap::from([(
        "reports".to_owned(),
        ClassConfig {
            capacity: 1,
            queue: Some(0),
        },
    )]);
    // `quick` is moved into the same class.
    config.admission.tools = BTreeMap::from([tool("quick", "reports", None)]);
    let server = Server::new(config, registry).expect("server");
    let d = Arc::clone(server.dispatcher());

    let holder = Arc::clone(&d);
    let first = tokio::spawn(async move { call(&holder, "report").await });
    started.notified().await;
    for tool in ["report", "quick"] {
        let shed = call(&d, tool).await;
        assert_eq!(shed["error"]["code"], -32000, "{shed}");
        assert_eq!(shed["error"]["data"]["workload"], "reports");
    }
    gate.add_permits(1);
    assert_eq!(
        first.await.expect("first call")["result"]["content"][0]["text"],
        "report"
    );
    let text = server.metrics().render();
    for line in [
        "keel_admission_capacity{workload=\"reports\"} 1",
        "keel_admission_rejected_total{workload=\"reports\",reason=\"queue_full\"} 2",
        "keel_tool_calls_total{tool=\"quick\",workload=\"reports\",outcome=\"rejected\"} 1",
        "keel_admission_queue_wait_seconds_count{workload=\"reports\"} 0",
    ] {
        assert!(text.contains(line), "{line} missing from\n{text}");
    }
}

fn build(config: Config, registry: Registry) -> ConfigError {
    match Server::new(config, registry) {
        Ok(_) => panic!("the server must refuse this configuration"),
        Err(e) => e,
    }
}

#[tokio::test]
async fn the_server_refuses_to_start_with_an_undefined_class_or_an_unknown_tool() {
    let report = || {
        ToolBuilder::new("report", json!({ "type": "object" }))
            .workload(REPORTS)
            .handler(|_: Value, _| async { Ok(CallToolResult::text("report")) })
    };
    let e = build(
        Config::default(),
        Registry::builder()
            .tool(report())
            .build()
            .expect("registry"),
    );
    assert_eq!(
        e.to_string(),
        "invalid configuration: tool \"report\" uses workload class \"reports\", which no \
         [admission.classes.reports] section defines"
    );

    let prompt = PromptBuilder::new("summary")
        .workload(Workload::named("digest"))
        .get(|_, _| async { Ok(json!({ "messages": [] })) });
    let e = build(
        Config::default(),
        Registry::builder()
            .prompt(prompt)
            .build()
            .expect("registry"),
    );
    assert!(
        matches!(&e, ConfigError::UndefinedClass { what, class }
            if what == "prompt \"summary\"" && class == "digest"),
        "{e:?}"
    );

    let mut config = Config::default();
    config.admission.tools = BTreeMap::from([tool("nope", "cpu", None)]);
    let e = build(config, Registry::builder().build().expect("registry"));
    assert!(
        matches!(&e, ConfigError::UnknownTool { tool, .. } if tool == "nope"),
        "{e:?}"
    );

    // A configuration built in code is validated as a file is.
    let mut config = Config::default();
    config.admission.tools = BTreeMap::from([tool("report", "Reports!", None)]);
    let e = build(
        config,
        Registry::builder()
            .tool(report())
            .build()
            .expect("registry"),
    );
    assert!(
        e.to_string().contains("admission.tools.report.class"),
        "{e}"
    );
}
