//! The assembled stack `metrics(admission(base))` around the real innermost tool service,
//! boxed as a `ToolService` the way the server builds it, driven in-process with `oneshot`.

use std::sync::Arc;

use keel_core::{
    CallToolResult, Context, Dispatcher, FailureKind, Registry, ToolBuilder, ToolCall, ToolError,
    ToolService, Workload,
};
use keel_middleware::{AdmissionLayer, AdmissionLimits, Capacity, Metrics, Outcome, QueueDepth};
use serde_json::{Value, json};
use tokio::sync::Notify;
use tower::{ServiceBuilder, ServiceExt, util::BoxCloneSyncService};

struct Server {
    registry: Registry,
    tools: ToolService,
    metrics: Metrics,
    release: Arc<Notify>,
}

fn server() -> Server {
    let release = Arc::new(Notify::new());
    let wait = Arc::clone(&release);
    let registry = Registry::builder()
        .tool(
            ToolBuilder::new(
                "echo",
                json!({"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}),
            )
            .handler(|args: Value, _: Context| async move {
                Ok(CallToolResult::text(args["text"].as_str().unwrap_or_default()))
            }),
        )
        .tool(
            ToolBuilder::new("infer", json!({"type": "object"}))
                .workload(Workload::Ml)
                .handler(move |_: Value, _: Context| {
                    let wait = Arc::clone(&wait);
                    async move {
                        wait.notified().await;
                        Ok::<_, ToolError>(CallToolResult::text("inferred"))
                    }
                }),
        )
        .build()
        .expect("registry");
    let admission = AdmissionLayer::new(&AdmissionLimits::default().with_class(
        Workload::Ml,
        Capacity::new(1).expect("valid"),
        QueueDepth(0),
    ));
    let metrics = Metrics::for_registry(&registry).with_admission(admission.state().clone());
    let tools = BoxCloneSyncService::new(
        ServiceBuilder::new()
            .layer(metrics.layer())
            .layer(admission)
            .service(Dispatcher::base_tool_service()),
    );
    Server {
        registry,
        tools,
        metrics,
        release,
    }
}

impl Server {
    fn call(&self, tool: &str, arguments: Value) -> ToolCall {
        ToolCall {
            tool: self.registry.tool(tool).cloned().expect("registered"),
            arguments,
            context: Context::detached(),
        }
    }

    fn line(&self, tool: &str, workload: &str, outcome: Outcome) -> String {
        format!(
            "keel_tool_calls_total{{tool=\"{tool}\",workload=\"{workload}\",outcome=\"{}\"}} ",
            outcome.as_str()
        )
    }

    fn count(&self, tool: &str, workload: &str, outcome: Outcome) -> u64 {
        let prefix = self.line(tool, workload, outcome);
        let text = self.metrics.render();
        let line = text
            .lines()
            .find_map(|l| l.strip_prefix(prefix.as_str()))
            .unwrap_or_else(|| panic!("no series {prefix}"));
        line.parse().expect("integer counter")
    }
}

#[tokio::test]
async fn echo_and_invalid_arguments_are_counted() {
    let s = server();
    let r = s
        .tools
        .clone()
        .oneshot(s.call("echo", json!({"text": "hi"})))
        .await
        .expect("ok");
    assert_eq!(r.content[0]["text"], "hi");
    let e = s.tools.clone().oneshot(s.call("echo", json!({}))).await;
    assert!(
        matches!(&e, Err(ToolError::Failed(f)) if *f.kind() == FailureKind::InvalidInput),
        "{e:?}"
    );

    assert_eq!(s.count("echo", "light", Outcome::Ok), 1);
    assert_eq!(s.count("echo", "light", Outcome::ToolError), 1);
    assert!(
        s.metrics
            .render()
            .contains("keel_tool_call_duration_seconds_count{tool=\"echo\"} 2\n")
    );
}

#[tokio::test]
async fn overload_is_a_typed_rejection_mapped_to_server_overloaded() {
    let s = server();
    let running = tokio::spawn(s.tools.clone().oneshot(s.call("infer", json!({}))));
    // Let the spawned call take the only ml permit.
    for _ in 0..100 {
        if s.metrics
            .render()
            .contains("keel_admission_in_flight{workload=\"ml\"} 1\n")
        {
            break;
        }
        tokio::task::yield_now().await;
    }
    let shed = s.tools.clone().oneshot(s.call("infer", json!({}))).await;
    let Err(ToolError::Failed(failure)) = shed else {
        panic!("expected an overload, got {shed:?}");
    };
    let rpc = failure.to_rpc_error();
    assert_eq!(rpc.code.0, -32000);
    assert_eq!(rpc.message, "Server overloaded");
    let data = rpc.data.expect("data");
    assert_eq!(
        (data["workload"].as_str(), data["retryable"].as_bool()),
        (Some("ml"), Some(true))
    );

    // Light work is not affected by the saturated ml class.
    s.tools
        .clone()
        .oneshot(s.call("echo", json!({"text": "still here"})))
        .await
        .expect("light call admitted");

    s.release.notify_one();
    running.await.expect("joined").expect("ok");
    assert_eq!(s.count("infer", "ml", Outcome::Rejected), 1);
    assert_eq!(s.count("infer", "ml", Outcome::Ok), 1);
    assert!(
        s.metrics
            .render()
            .contains("keel_admission_rejected_total{workload=\"ml\",reason=\"queue_full\"} 1\n")
    );
}
