//! The principal a transport hands the dispatcher reaches the layers around tools
//! (`ToolCall::principal`), the tool (`Context::principal`), and the session and task a
//! request creates. A real `Dispatcher` driven in-process, no sockets.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use keel_core::{
    CallToolResult, Context, DispatchSettings, Dispatcher, Incoming, MemorySessionStore,
    ParsedRequest, Principal, Registry, RequestEnv, RequestStateCodec, ServerInfo, StateKey,
    TaskSupport, ToolBuilder, ToolCall, ToolError, ToolService,
};
use keel_protocol::ProtocolVersion;
use serde_json::{Value, json};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tower::{Service, ServiceExt, service_fn, util::BoxCloneSyncService};

/// Keys of the principals the layer around the tools saw, in call order.
type Seen = Arc<Mutex<Vec<String>>>;

/// A dispatcher whose tools report their principal; `slow_whoami` answers once `release`
/// is notified.
fn dispatcher(seen: &Seen, release: &Arc<Notify>) -> Dispatcher {
    let whoami = |_: Value, cx: Context| async move {
        let p = cx.principal();
        Ok::<_, ToolError>(CallToolResult::structured(
            json!({ "key": p.key(), "anonymous": p.is_anonymous(), "scopes": p.scopes() }),
            p.to_string(),
        ))
    };
    let release = Arc::clone(release);
    let registry = Registry::builder()
        .tool(ToolBuilder::new("whoami", json!({ "type": "object" })).handler(whoami))
        .tool(
            ToolBuilder::new("slow_whoami", json!({ "type": "object" }))
                .task_support(TaskSupport::Optional)
                .handler(move |_: Value, cx: Context| {
                    let release = Arc::clone(&release);
                    async move {
                        release.notified().await;
                        Ok::<_, ToolError>(CallToolResult::text(cx.principal().key()))
                    }
                }),
        )
        .build()
        .expect("registry");
    // A layer as a cache or a rate limiter would be: it reads the principal off the call.
    let seen = Arc::clone(seen);
    let tools: ToolService = BoxCloneSyncService::new(service_fn(move |call: ToolCall| {
        seen.lock()
            .expect("unpoisoned")
            .push(call.principal().key().to_owned());
        let mut inner = Dispatcher::base_tool_service();
        async move { inner.ready().await?.call(call).await }
    }));
    Dispatcher::new(
        Arc::new(registry),
        tools,
        Arc::new(MemorySessionStore::new(Duration::from_secs(60))),
        RequestStateCodec::new(StateKey::random(), Duration::from_secs(60)),
        ServerInfo {
            name: "principal-tests".into(),
            version: "0".into(),
            instructions: None,
        },
        DispatchSettings::default(),
    )
}

fn request(id: u64, method: &str, params: Value) -> ParsedRequest {
    let bytes = serde_json::to_vec(
        &json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }),
    )
    .expect("JSON");
    match Incoming::decode(&bytes) {
        Incoming::Request(r) => r,
        other => panic!("not a request: {other:?}"),
    }
}

fn modern(id: u64, method: &str, mut params: Value, tasks: bool) -> ParsedRequest {
    let caps = if tasks {
        json!({ "extensions": { "io.modelcontextprotocol/tasks": {} } })
    } else {
        json!({})
    };
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": caps,
    });
    request(id, method, params)
}

fn env(version: ProtocolVersion, principal: &Principal) -> RequestEnv {
    RequestEnv {
        version,
        session: None,
        outbound: None,
        cancel: CancellationToken::new(),
        sessions_enabled: true,
        cancellable_by_notification: false,
        principal: principal.clone(),
    }
}

async fn rpc(d: &Dispatcher, req: ParsedRequest, env: RequestEnv) -> Value {
    let reply = d.handle(req, env).await;
    serde_json::from_slice(&reply.body.expect("a response")).expect("JSON")
}

#[tokio::test]
async fn layers_and_tools_see_the_principal_of_the_request() {
    let seen = Seen::default();
    let d = dispatcher(&seen, &Arc::default());
    let bob = Principal::authenticated("bob", "https://issuer.example", ["tools:call"]);
    let alice = Principal::local("alice");
    for (i, principal) in [bob, alice, Principal::anonymous()].iter().enumerate() {
        let call = json!({ "name": "whoami", "arguments": {} });
        let answer = rpc(
            &d,
            modern(i as u64, "tools/call", call, false),
            env(ProtocolVersion::V2026_07_28, principal),
        )
        .await;
        let seen_by_tool = &answer["result"]["structuredContent"];
        assert_eq!(seen_by_tool["key"], principal.key(), "{answer}");
        assert_eq!(seen_by_tool["anonymous"], principal.is_anonymous());
        assert_eq!(seen_by_tool["scopes"], json!(principal.scopes()));
    }
    assert_eq!(
        *seen.lock().expect("unpoisoned"),
        ["https://issuer.example|bob", "local:alice", "anonymous"]
    );
}

#[tokio::test]
async fn sessions_and_tasks_belong_to_their_creator() {
    let release = Arc::new(Notify::new());
    let d = dispatcher(&Seen::default(), &release);
    let alice = Principal::authenticated("alice", "iss", Vec::<String>::new());
    let bob = Principal::authenticated("bob", "iss", Vec::<String>::new());

    let init = json!({ "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": { "name": "t", "version": "0" } });
    let reply = d
        .handle(
            request(1, "initialize", init),
            env(ProtocolVersion::V2025_11_25, &alice),
        )
        .await;
    let session = reply.created_session.expect("a session");
    assert_eq!(session.principal(), &alice);
    assert!(session.belongs_to(&alice) && !session.belongs_to(&bob));

    let call = json!({ "name": "slow_whoami", "arguments": {} });
    let created = rpc(
        &d,
        modern(2, "tools/call", call, true),
        env(ProtocolVersion::V2026_07_28, &alice),
    )
    .await;
    let task = created["result"]["taskId"]
        .as_str()
        .expect("a task")
        .to_owned();
    let get = |id: u64| modern(id, "tasks/get", json!({ "taskId": task }), true);
    let by_bob = rpc(&d, get(3), env(ProtocolVersion::V2026_07_28, &bob)).await;
    let unknown = modern(5, "tasks/get", json!({ "taskId": "task-nope" }), true);
    let unknown = rpc(&d, unknown, env(ProtocolVersion::V2026_07_28, &alice)).await;
    // To bob, alice's task is exactly as unknown as a task that never existed.
    let unknown_message = unknown["error"]["message"].as_str().expect("an error");
    assert_eq!(
        by_bob["error"]["code"], unknown["error"]["code"],
        "{by_bob}"
    );
    assert_eq!(
        by_bob["error"]["message"],
        unknown_message.replace("task-nope", &task),
        "{by_bob}"
    );
    let cancel = modern(4, "tasks/cancel", json!({ "taskId": task }), true);
    let cancelled_by_bob = rpc(&d, cancel, env(ProtocolVersion::V2026_07_28, &bob)).await;
    assert!(cancelled_by_bob["error"].is_object(), "{cancelled_by_bob}");
    // Alice's task runs on untouched, as alice.
    release.notify_one();
    let mut status = Value::Null;
    for id in 10..1000 {
        status = rpc(&d, get(id), env(ProtocolVersion::V2026_07_28, &alice)).await;
        if status["result"]["status"] != "working" {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(status["result"]["status"], "completed", "{status}");
    assert_eq!(
        status["result"]["result"]["content"][0]["text"],
        alice.key()
    );
}
