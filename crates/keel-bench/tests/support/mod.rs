//! A small MCP server in process whose answers are decided by a counter, so a test knows
//! exactly how many of each outcome the generator must report.

#![allow(dead_code, unreachable_pub)]

use std::{
    convert::Infallible,
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response, body::Incoming, server::conn::http1, service::service_fn};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// How the fixture answers `tools/call`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Every call of the n-th kind (n = count % 10): 1 isError, 2 JSON-RPC error, 3 HTTP 503,
    /// 4 an SSE answer, 5 input-required first; otherwise a plain result.
    Mixed,
    /// Every call succeeds; the one numbered `stall_at` takes `stall` first.
    Stall { at: u64, millis: u64 },
}

/// What the fixture saw.
#[derive(Default)]
pub struct Seen {
    /// tools/call requests that were not retries.
    pub calls: AtomicU64,
    /// Retries carrying requestState.
    pub retries: AtomicU64,
    pub ok: AtomicU64,
    pub is_error: AtomicU64,
    pub rpc_error: AtomicU64,
    pub http_503: AtomicU64,
    pub sessions: AtomicU64,
    pub discover: AtomicU64,
    /// Requests whose MCP headers did not match the body (modern era).
    pub bad_headers: AtomicU64,
}

pub struct Fixture {
    pub addr: SocketAddr,
    pub seen: Arc<Seen>,
}

impl Fixture {
    pub fn url(&self) -> String {
        format!("http://{}/mcp", self.addr)
    }
}

/// Starts the fixture; `modern` decides whether server/discover lists 2026-07-28.
pub async fn start(mode: Mode, modern: bool) -> Fixture {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Seen::default());
    let shared = Arc::clone(&seen);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let seen = Arc::clone(&shared);
            tokio::spawn(async move {
                let service = service_fn(move |req| answer(req, Arc::clone(&seen), mode, modern));
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Fixture { addr, seen }
}

fn json_response(status: u16, body: Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}

async fn answer(
    req: Request<Incoming>,
    seen: Arc<Seen>,
    mode: Mode,
    modern: bool,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (method_header, name_header) = (header("mcp-method"), header("mcp-name"));
    let region_header = header("mcp-param-region");
    let body = req.into_body().collect().await.unwrap().to_bytes();
    let msg: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let id = msg["id"].clone();
    let method = msg["method"].as_str().unwrap_or_default().to_owned();
    let ok = |result: Value| json_response(200, json!({"jsonrpc":"2.0","id":id,"result":result}));
    Ok(match method.as_str() {
        "server/discover" => {
            seen.discover.fetch_add(1, Ordering::Relaxed);
            if modern {
                ok(json!({"supportedVersions": ["2026-07-28"], "capabilities": {}}))
            } else {
                json_response(
                    400,
                    json!({"jsonrpc":"2.0","id":id,"error":{"code":-32600,"message":"no"}}),
                )
            }
        }
        "initialize" => {
            let n = seen.sessions.fetch_add(1, Ordering::Relaxed);
            let mut r = ok(
                json!({"protocolVersion": "2025-11-25", "capabilities": {"tools": {}},
                "serverInfo": {"name": "fixture", "version": "1"}}),
            );
            r.headers_mut()
                .insert("mcp-session-id", format!("session-{n}").parse().unwrap());
            r
        }
        "notifications/initialized" => Response::builder()
            .status(202)
            .body(Full::new(Bytes::new()))
            .unwrap(),
        "tools/list" => ok(json!({"tools": [
            {"name": "echo", "inputSchema": {"type": "object",
                "properties": {"text": {"type": "string"}}, "required": ["text"]}},
            {"name": "geo", "inputSchema": {"type": "object", "properties": {"region":
                {"type": "string", "x-mcp-header": "Region"}}, "required": ["region"]}}]})),
        "tools/call" => {
            if modern
                && (method_header.as_deref() != Some("tools/call")
                    || name_header.as_deref() != msg["params"]["name"].as_str())
            {
                seen.bad_headers.fetch_add(1, Ordering::Relaxed);
            }
            if msg["params"]["name"] == "geo"
                && region_header.as_deref() != msg["params"]["arguments"]["region"].as_str()
            {
                seen.bad_headers.fetch_add(1, Ordering::Relaxed);
            }
            let retry = msg["params"].get("requestState").is_some();
            if retry {
                seen.retries.fetch_add(1, Ordering::Relaxed);
                let answered =
                    msg["params"]["inputResponses"]["who"]["content"]["name"].is_string();
                seen.ok.fetch_add(1, Ordering::Relaxed);
                return Ok(ok(
                    json!({"content": [{"type":"text","text": format!("answered={answered}")}]}),
                ));
            }
            let n = seen.calls.fetch_add(1, Ordering::Relaxed) + 1;
            match mode {
                Mode::Stall { at, millis } => {
                    if n == at {
                        tokio::time::sleep(Duration::from_millis(millis)).await;
                    }
                    seen.ok.fetch_add(1, Ordering::Relaxed);
                    ok(json!({"content": []}))
                }
                Mode::Mixed => match n % 10 {
                    1 => {
                        seen.is_error.fetch_add(1, Ordering::Relaxed);
                        ok(json!({"content": [], "isError": true}))
                    }
                    2 => {
                        seen.rpc_error.fetch_add(1, Ordering::Relaxed);
                        json_response(
                            200,
                            json!({"jsonrpc":"2.0","id":id,"error":{"code":-32603,"message":"boom"}}),
                        )
                    }
                    3 => {
                        seen.http_503.fetch_add(1, Ordering::Relaxed);
                        json_response(
                            503,
                            json!({"jsonrpc":"2.0","id":id,"error":{"code":-32000,"message":"busy"}}),
                        )
                    }
                    4 => {
                        seen.ok.fetch_add(1, Ordering::Relaxed);
                        let event = json!({"jsonrpc":"2.0","id":id,"result":{"content":[]}});
                        let note = json!({"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":1}});
                        Response::builder()
                            .header("content-type", "text/event-stream")
                            .body(Full::new(Bytes::from(format!(
                                "event: message\ndata: {note}\n\nevent: message\ndata: {event}\n\n"
                            ))))
                            .unwrap()
                    }
                    5 => ok(
                        json!({"resultType": "input_required", "requestState": "state-1",
                        "inputRequests": {"who": {"method": "elicitation/create", "params": {
                            "mode": "form", "message": "name?", "requestedSchema": {"type": "object",
                            "properties": {"name": {"type": "string"}}, "required": ["name"]}}}}}),
                    ),
                    _ => {
                        seen.ok.fetch_add(1, Ordering::Relaxed);
                        ok(json!({"content": []}))
                    }
                },
            }
        }
        _ => json_response(
            200,
            json!({"jsonrpc":"2.0","id":id,"error":{"code":-32601,"message":"unknown"}}),
        ),
    })
}
