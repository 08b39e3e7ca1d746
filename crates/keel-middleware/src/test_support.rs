//! Shared helpers for the unit tests: tools of every workload class, a gated mock inner
//! service, and a strict parser of the Prometheus text format.

use std::{
    collections::{HashMap, HashSet},
    convert::Infallible,
    future::Future,
    sync::{Arc, Mutex},
};

use keel_core::{
    CallToolResult, Context, Incoming, MethodRequest, Principal, PromptBuilder, Registry, Reply,
    RequestEnv, ResourceBuilder, ToolBuilder, ToolCall, ToolError, ToolService, Workload,
};
use keel_protocol::ProtocolVersion;
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use tower::{service_fn, util::BoxCloneSyncService};

/// Tools named after their workload class: `light`, `cpu`, `io`, `ml`.
pub(crate) fn registry() -> Registry {
    let mut b = Registry::builder();
    for w in [Workload::Light, Workload::Cpu, Workload::Io, Workload::Ml] {
        b = b.tool(
            ToolBuilder::new(w.as_str(), json!({"type": "object"}))
                .workload(w)
                .handler(|_: Value, _: Context| async { Ok(CallToolResult::text("handler")) }),
        );
    }
    b.build().expect("test registry builds")
}

/// A call to `tool` of `registry`.
pub(crate) fn call(registry: &Registry, tool: &str, arguments: Value) -> ToolCall {
    ToolCall {
        tool: registry.tool(tool).cloned().expect("tool is registered"),
        arguments,
        context: Context::detached(),
    }
}

/// A mock inner service whose calls block until the test releases them, one per permit,
/// and which records the `n` argument of each call as it starts.
#[derive(Clone)]
pub(crate) struct Gate {
    permits: Arc<Semaphore>,
    started: Arc<Mutex<Vec<i64>>>,
}

impl Gate {
    pub(crate) fn new() -> Self {
        Self {
            permits: Arc::new(Semaphore::new(0)),
            started: Arc::default(),
        }
    }

    pub(crate) fn service(&self) -> ToolService {
        let gate = self.clone();
        BoxCloneSyncService::new(service_fn(move |call: ToolCall| {
            let gate = gate.clone();
            async move {
                let n = call.arguments["n"].as_i64().unwrap_or(-1);
                gate.started.lock().expect("not poisoned").push(n);
                let permit = gate.permits.acquire().await.map_err(ToolError::failed)?;
                permit.forget();
                Ok::<_, ToolError>(CallToolResult::text(n.to_string()))
            }
        }))
    }

    /// Lets `n` blocked calls finish.
    pub(crate) fn release(&self, n: usize) {
        self.permits.add_permits(n);
    }

    /// The `n` arguments of the calls that reached the inner service, in order.
    pub(crate) fn started(&self) -> Vec<i64> {
        self.started.lock().expect("not poisoned").clone()
    }
}

/// One parsed sample line.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sample {
    pub(crate) name: String,
    pub(crate) labels: Vec<(String, String)>,
    pub(crate) value: f64,
}

/// Parses the text exposition format strictly, panicking on anything malformed: bad names
/// or label syntax, unparsable values, samples before their `# TYPE`, duplicate series.
pub(crate) fn parse_exposition(text: &str) -> Vec<Sample> {
    assert!(text.ends_with('\n'), "exposition must end with a newline");
    let mut types: HashMap<String, String> = HashMap::new();
    let mut seen = HashSet::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').expect("HELP has a name and text");
            assert!(valid_metric_name(name), "bad HELP name in {line:?}");
            assert!(!help.is_empty(), "empty HELP in {line:?}");
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE has a name and kind");
            assert!(valid_metric_name(name), "bad TYPE name in {line:?}");
            assert!(
                ["counter", "gauge", "histogram"].contains(&kind),
                "bad TYPE kind in {line:?}"
            );
            assert!(
                types.insert(name.to_owned(), kind.to_owned()).is_none(),
                "family {name} declared twice"
            );
            continue;
        }
        assert!(!line.starts_with('#'), "unexpected comment {line:?}");
        let sample = parse_sample(line);
        let family = types.get(&sample.name).cloned().or_else(|| {
            ["_bucket", "_sum", "_count"].iter().find_map(|suffix| {
                let base = sample.name.strip_suffix(suffix)?;
                (types.get(base)? == "histogram").then(|| "histogram".to_owned())
            })
        });
        assert!(family.is_some(), "sample before its TYPE: {line:?}");
        let key = format!("{}{:?}", sample.name, sample.labels);
        assert!(seen.insert(key), "duplicate series {line:?}");
        samples.push(sample);
    }
    samples
}

fn parse_sample(line: &str) -> Sample {
    let name_end = line
        .find(['{', ' '])
        .unwrap_or_else(|| panic!("no value in {line:?}"));
    let name = &line[..name_end];
    assert!(valid_metric_name(name), "bad metric name in {line:?}");
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(body) = rest.strip_prefix('{') {
        let mut chars = body.char_indices();
        let mut label = String::new();
        let end = loop {
            let (i, c) = chars
                .next()
                .unwrap_or_else(|| panic!("unclosed labels: {line:?}"));
            match c {
                '}' if label.is_empty() => break i,
                '=' => {
                    assert!(valid_label_name(&label), "bad label name in {line:?}");
                    assert_eq!(chars.next().map(|(_, c)| c), Some('"'), "{line:?}");
                    let mut value = String::new();
                    loop {
                        match chars.next().map(|(_, c)| c) {
                            Some('"') => break,
                            Some('\\') => match chars.next().map(|(_, c)| c) {
                                Some('\\') => value.push('\\'),
                                Some('"') => value.push('"'),
                                Some('n') => value.push('\n'),
                                other => panic!("bad escape {other:?} in {line:?}"),
                            },
                            Some('\n') | None => panic!("unterminated label value: {line:?}"),
                            Some(c) => value.push(c),
                        }
                    }
                    labels.push((std::mem::take(&mut label), value));
                    match chars.next().map(|(_, c)| c) {
                        Some(',') => {}
                        Some('}') => break body.len() - chars.as_str().len() - 1,
                        other => panic!("expected , or }} after label, got {other:?}: {line:?}"),
                    }
                }
                c => label.push(c),
            }
        };
        rest = &body[end + 1..];
    }
    let value = rest
        .strip_prefix(' ')
        .unwrap_or_else(|| panic!("no space before value: {line:?}"));
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v
            .parse::<f64>()
            .unwrap_or_else(|_| panic!("bad value in {line:?}")),
    };
    Sample {
        name: name.to_owned(),
        labels,
        value,
    }
}

fn valid_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The value of the one sample named `name` whose labels include all of `labels`.
pub(crate) fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    let matching: Vec<_> = samples
        .iter()
        .filter(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.iter().any(|(sk, sv)| sk == k && sv == v))
        })
        .collect();
    assert_eq!(matching.len(), 1, "{name}{labels:?} matched {matching:?}");
    matching[0].value
}

/// `keel_requests_total{method, outcome}` among `samples`.
pub(crate) fn requests_total(samples: &[Sample], method: &str, outcome: &str) -> f64 {
    value(
        samples,
        "keel_requests_total",
        &[("method", method), ("outcome", outcome)],
    )
}

/// A registry for request-level tests: the workload tools of [`registry`], plus a fixed
/// resource, a template and a prompt per class (`test://io`, `test://io/{id}`, prompt `io`).
pub(crate) fn request_registry() -> std::sync::Arc<Registry> {
    let mut b = Registry::builder();
    for w in [Workload::Light, Workload::Cpu, Workload::Io, Workload::Ml] {
        let name = w.as_str();
        b = b
            .tool(
                ToolBuilder::new(name, json!({"type": "object"}))
                    .workload(w)
                    .handler(|_: Value, _: Context| async { Ok(CallToolResult::text("ok")) }),
            )
            .resource(
                ResourceBuilder::new(format!("test://{name}"), name)
                    .workload(w)
                    .read(|_, _| async { Ok(Vec::new()) }),
            )
            .template(
                ResourceBuilder::new(format!("test://{name}/{{id}}"), name)
                    .workload(w)
                    .read_template(|_, _, _| async { Ok(Vec::new()) }),
            )
            .prompt(
                PromptBuilder::new(name)
                    .workload(w)
                    .get(|_, _| async { Ok(json!({ "messages": [] })) }),
            );
    }
    std::sync::Arc::new(b.build().expect("test registry builds"))
}

/// A legacy-era request `method` with `params`, as the dispatcher hands it to the stack.
pub(crate) fn method_request(
    registry: &std::sync::Arc<Registry>,
    method: &str,
    params: Value,
) -> MethodRequest {
    let text = json!({ "jsonrpc": "2.0", "id": 7, "method": method, "params": params });
    let Incoming::Request(parsed) = Incoming::decode(text.to_string().as_bytes()) else {
        panic!("{text} is a request");
    };
    let env = RequestEnv {
        version: ProtocolVersion::V2025_06_18,
        session: None,
        outbound: None,
        cancel: tokio_util::sync::CancellationToken::new(),
        sessions_enabled: false,
        cancellable_by_notification: false,
        principal: Principal::anonymous(),
    };
    MethodRequest::new(parsed, env, registry)
}

/// A mock routing service: records each method as it starts, then answers `ok` at once or,
/// for methods listed as gated, once the test releases a permit.
#[derive(Clone)]
pub(crate) struct RouteGate {
    gated: &'static [&'static str],
    permits: Arc<Semaphore>,
    started: Arc<Mutex<Vec<String>>>,
}

impl RouteGate {
    pub(crate) fn new(gated: &'static [&'static str]) -> Self {
        Self {
            gated,
            permits: Arc::new(Semaphore::new(0)),
            started: Arc::default(),
        }
    }

    pub(crate) fn service(
        &self,
    ) -> impl tower::Service<
        MethodRequest,
        Response = Reply,
        Error = Infallible,
        Future = impl Future<Output = Result<Reply, Infallible>> + Send,
    > + Clone
    + Send
    + Sync
    + 'static {
        let gate = self.clone();
        service_fn(move |request: MethodRequest| {
            let gate = gate.clone();
            async move {
                let method = request.method().to_owned();
                gate.started
                    .lock()
                    .expect("not poisoned")
                    .push(method.clone());
                if gate.gated.contains(&method.as_str())
                    && let Ok(permit) = gate.permits.acquire().await
                {
                    permit.forget();
                }
                let id = request
                    .id()
                    .cloned()
                    .unwrap_or(keel_protocol::RequestId::Number(0));
                Ok(Reply {
                    body: Some(keel_protocol::encode_result(&id, &json!({}))),
                    error: None,
                    created_session: None,
                    challenge: None,
                    retry_after: None,
                })
            }
        })
    }

    pub(crate) fn release(&self, n: usize) {
        self.permits.add_permits(n);
    }

    /// The methods that reached the inner service, in order.
    pub(crate) fn started(&self) -> Vec<String> {
        self.started.lock().expect("not poisoned").clone()
    }
}
