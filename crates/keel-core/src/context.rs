//! What a tool sees of its request: progress, cancellation, logging and asking the client.

use std::sync::Arc;

use keel_protocol::{ProtocolVersion, RequestId, methods};
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::{Principal, Session, ToolError};

/// A message a request sends before its final response (on its SSE stream or stdout).
#[derive(Debug)]
pub enum Outbound {
    /// A notification related to the request (progress, log).
    Notification(Vec<u8>),
    /// A server-to-client request (legacy elicitation, sampling, roots).
    Request(Vec<u8>),
    /// Let go of the client's connection while the request goes on; the client resumes
    /// with `Last-Event-ID`. Transports without resumable streams ignore it.
    CloseStream,
}

impl Outbound {
    /// The encoded message, or `None` for a transport signal.
    pub fn into_bytes(self) -> Option<Vec<u8>> {
        match self {
            Self::Notification(b) | Self::Request(b) => Some(b),
            Self::CloseStream => None,
        }
    }
}

/// A change clients may subscribe to (`subscriptions/listen`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListChange {
    /// The tool list changed.
    Tools,
    /// The prompt list changed.
    Prompts,
    /// The resource list changed.
    Resources,
    /// A resource's contents changed.
    ResourceUpdated(String),
}

/// Syslog severities, as MCP's `LoggingLevel`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// debug
    Debug,
    /// info
    Info,
    /// notice
    Notice,
    /// warning
    Warning,
    /// error
    Error,
    /// critical
    Critical,
    /// alert
    Alert,
    /// emergency
    Emergency,
}

impl LogLevel {
    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "debug" => Self::Debug,
            "info" => Self::Info,
            "notice" => Self::Notice,
            "warning" => Self::Warning,
            "error" => Self::Error,
            "critical" => Self::Critical,
            "alert" => Self::Alert,
            "emergency" => Self::Emergency,
            _ => return None,
        })
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Debug => "debug",
            Self::Info => "info",
            Self::Notice => "notice",
            Self::Warning => "warning",
            Self::Error => "error",
            Self::Critical => "critical",
            Self::Alert => "alert",
            Self::Emergency => "emergency",
        }
    }
}

/// The client capabilities a server may act on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientCaps {
    /// `elicitation` (form mode).
    pub elicitation: bool,
    /// `sampling`.
    pub sampling: bool,
    /// `roots`.
    pub roots: bool,
    /// The tasks extension.
    pub tasks: bool,
}

impl ClientCaps {
    /// Reads the flags out of a `ClientCapabilities` object.
    pub fn from_json(caps: Option<&Value>) -> Self {
        let Some(c) = caps.and_then(Value::as_object) else {
            return Self::default();
        };
        Self {
            elicitation: c.contains_key("elicitation"),
            sampling: c.contains_key("sampling"),
            roots: c.contains_key("roots"),
            tasks: c
                .get("extensions")
                .and_then(Value::as_object)
                .is_some_and(|e| e.contains_key(keel_protocol::meta::TASKS_EXTENSION))
                || c.contains_key("tasks"),
        }
    }

    /// Whether the client can answer any input request (elicitation, sampling, roots).
    pub(crate) fn can_answer_input(self) -> bool {
        self.elicitation || self.sampling || self.roots
    }

    fn allows(self, method: &str) -> bool {
        match method {
            methods::ELICITATION_CREATE => self.elicitation,
            methods::SAMPLING_CREATE_MESSAGE => self.sampling,
            methods::ROOTS_LIST => self.roots,
            _ => false,
        }
    }
}

/// How a request obtains input from the client.
#[derive(Clone)]
pub(crate) enum InputSource {
    /// Modern: answers arrive on a retry of the request (MRTR).
    Retry(Map<String, Value>),
    /// Legacy: a server-to-client request on the session.
    Session(Arc<Session>),
    /// A task: answers arrive through `tasks/update`; `inline` holds answers the creating
    /// request carried (multi round-trip before the task existed).
    Task {
        /// The task.
        task: Arc<crate::tasks::Task>,
        /// Answers from the creating request.
        inline: Map<String, Value>,
    },
    /// No way to ask (stateless legacy request).
    None,
}

pub(crate) struct ContextInner {
    pub(crate) request_id: RequestId,
    pub(crate) version: ProtocolVersion,
    pub(crate) progress_token: Option<Value>,
    pub(crate) cancel: CancellationToken,
    pub(crate) log_level: Option<LogLevel>,
    pub(crate) outbound: Option<mpsc::UnboundedSender<Outbound>>,
    pub(crate) input: InputSource,
    pub(crate) caps: ClientCaps,
    pub(crate) related_task: Option<String>,
    pub(crate) changes: Option<tokio::sync::broadcast::Sender<ListChange>>,
    pub(crate) principal: Principal,
}

/// A request's context, handed to every tool, resource and prompt handler. Cheap to clone.
#[derive(Clone)]
pub struct Context {
    pub(crate) inner: Arc<ContextInner>,
}

impl Context {
    /// A context for calling handlers outside a client request (tests, warm-up); the
    /// principal is anonymous.
    pub fn detached() -> Self {
        Self::detached_as(Principal::anonymous())
    }

    /// A detached context acting for `principal` (tests of layers that key on it).
    pub fn detached_as(principal: Principal) -> Self {
        Self {
            inner: Arc::new(ContextInner {
                request_id: RequestId::Number(0),
                version: ProtocolVersion::LATEST,
                progress_token: None,
                cancel: CancellationToken::new(),
                log_level: None,
                outbound: None,
                input: InputSource::None,
                caps: ClientCaps::default(),
                related_task: None,
                changes: None,
                principal,
            }),
        }
    }

    /// A copy of this context for work several requests share (one computation answering
    /// identical calls): cancelled by `cancel` instead of this request, and unable to ask
    /// this request's client for input. Progress still goes to this request's client.
    pub fn for_shared_work(&self, cancel: CancellationToken) -> Self {
        self.derived(cancel, InputSource::None, ClientCaps::default())
    }

    /// A copy of this context whose work is cancelled by `cancel` instead (a layer bounding
    /// a call's run time hands the call a child of [`Context::cancellation_token`] and
    /// cancels it at the deadline, leaving the rest of the request alone). Everything else
    /// (input, progress, logging, the principal) is this context's.
    pub fn with_cancellation(&self, cancel: CancellationToken) -> Self {
        let i = &self.inner;
        self.derived(cancel, i.input.clone(), i.caps)
    }

    /// This context with its cancellation, input source and client capabilities replaced.
    fn derived(&self, cancel: CancellationToken, input: InputSource, caps: ClientCaps) -> Self {
        let i = &self.inner;
        Self {
            inner: Arc::new(ContextInner {
                request_id: i.request_id.clone(),
                version: i.version,
                progress_token: i.progress_token.clone(),
                cancel,
                log_level: i.log_level,
                outbound: i.outbound.clone(),
                input,
                caps,
                related_task: i.related_task.clone(),
                changes: i.changes.clone(),
                principal: i.principal.clone(),
            }),
        }
    }

    /// Whether the request carries input from the client: answers of earlier rounds, or a
    /// task's input channel.
    pub(crate) fn carries_input(&self) -> bool {
        match &self.inner.input {
            InputSource::Retry(answers) => !answers.is_empty(),
            InputSource::Task { .. } => true,
            InputSource::Session(_) | InputSource::None => false,
        }
    }

    /// Tells subscribed clients that a list or resource changed.
    pub fn notify_changed(&self, change: ListChange) {
        if let Some(tx) = &self.inner.changes {
            // No receiver means no subscriber: nothing to tell.
            let _ = tx.send(change);
        }
    }

    /// The JSON-RPC id of the request.
    pub fn request_id(&self) -> &RequestId {
        &self.inner.request_id
    }

    /// Who the request acts for: anonymous over HTTP without authentication, the local OS
    /// user over stdio.
    pub fn principal(&self) -> &Principal {
        &self.inner.principal
    }

    /// The protocol revision of the request.
    pub fn protocol_version(&self) -> ProtocolVersion {
        self.inner.version
    }

    /// The client's capabilities for this request.
    pub fn client_caps(&self) -> ClientCaps {
        self.inner.caps
    }

    /// Whether the client cancelled the request (or went away).
    pub fn is_cancelled(&self) -> bool {
        self.inner.cancel.is_cancelled()
    }

    /// Resolves when the request is cancelled.
    pub async fn cancelled(&self) {
        self.inner.cancel.cancelled().await;
    }

    /// The cancellation token, to hand to work running off the async reactor.
    pub fn cancellation_token(&self) -> CancellationToken {
        self.inner.cancel.clone()
    }

    /// Lets go of the client's HTTP connection while the work goes on (SSE polling, since
    /// 2025-11-25): the client reconnects with `Last-Event-ID` after the announced retry
    /// interval and receives what followed. Worth calling before a long wait, so that no
    /// connection idles through it. Does nothing where streams are not resumable (stdio,
    /// 2026-07-28, legacy requests without a session).
    pub fn close_stream(&self) {
        if let Some(tx) = &self.inner.outbound {
            let _ = tx.send(Outbound::CloseStream);
        }
    }

    /// Whether the client asked for progress notifications.
    pub fn wants_progress(&self) -> bool {
        self.inner.progress_token.is_some()
    }

    /// Sends `notifications/progress` if the client supplied a progress token.
    pub fn progress(&self, progress: f64, total: Option<f64>, message: Option<&str>) {
        let (Some(token), Some(tx)) = (&self.inner.progress_token, &self.inner.outbound) else {
            return;
        };
        let mut params = json!({ "progressToken": token, "progress": progress });
        if let Some(t) = total {
            params["total"] = json!(t);
        }
        if let Some(m) = message {
            params["message"] = json!(m);
        }
        self.attach_task(&mut params);
        let bytes = keel_protocol::encode_notification(methods::PROGRESS, Some(&params));
        let _ = tx.send(Outbound::Notification(bytes));
    }

    /// Sends `notifications/message` if the client asked for this level or lower.
    pub fn log(&self, level: LogLevel, logger: Option<&str>, data: Value) {
        let (Some(min), Some(tx)) = (self.inner.log_level, &self.inner.outbound) else {
            return;
        };
        if level < min {
            return;
        }
        let mut params = json!({ "level": level.as_str(), "data": data });
        if let Some(l) = logger {
            params["logger"] = json!(l);
        }
        self.attach_task(&mut params);
        let bytes = keel_protocol::encode_notification(methods::MESSAGE, Some(&params));
        let _ = tx.send(Outbound::Notification(bytes));
    }

    fn attach_task(&self, params: &mut Value) {
        if let Some(task) = &self.inner.related_task {
            params["_meta"] = json!({ keel_protocol::meta::RELATED_TASK: { "taskId": task } });
        }
    }

    /// Asks the client for input: `method` is `elicitation/create`, `sampling/createMessage`
    /// or `roots/list`. `key` names the request within this call (stable across retries).
    ///
    /// Modern clients get an `input_required` result and retry with the answer; legacy
    /// clients get a server-to-client request on the session. The tool sees the same thing:
    /// the client's result object, or an error it propagates with `?`.
    pub async fn ask(&self, key: &str, method: &str, params: Value) -> Result<Value, ToolError> {
        if !self.inner.caps.allows(method) {
            return Err(ToolError::Protocol(
                keel_protocol::RpcError::missing_capability(json!({ capability_name(method): {} })),
            ));
        }
        match &self.inner.input {
            InputSource::Retry(answers) => match answers.get(key) {
                Some(answer) => Ok(answer.clone()),
                None => {
                    let mut requests = Map::new();
                    requests.insert(key.into(), json!({ "method": method, "params": params }));
                    Err(ToolError::InputRequired(requests))
                }
            },
            InputSource::Session(session) => {
                let Some(tx) = &self.inner.outbound else {
                    return Err(ToolError::failed(
                        "this transport cannot carry requests to the client",
                    ));
                };
                let (id, rx) = session.register_client_request();
                let bytes = keel_protocol::encode_request(&id, method, &params);
                if tx.send(Outbound::Request(bytes)).is_err() {
                    session.forget_client_request(&id);
                    return Err(ToolError::Cancelled);
                }
                tokio::select! {
                    answer = rx => match answer {
                        Ok(Ok(v)) => Ok(v),
                        Ok(Err(e)) => Err(ToolError::failed(format!("client refused {method}: {}", e.message))),
                        Err(_) => Err(ToolError::Cancelled),
                    },
                    () = self.inner.cancel.cancelled() => {
                        session.forget_client_request(&id);
                        Err(ToolError::Cancelled)
                    }
                }
            }
            InputSource::Task { task, inline } => {
                if let Some(answer) = inline.get(key) {
                    return Ok(answer.clone());
                }
                let rx = task.await_input(key, json!({ "method": method, "params": params }));
                tokio::select! {
                    answer = rx => answer.map_err(|_| ToolError::Cancelled),
                    () = self.inner.cancel.cancelled() => {
                        task.forget_input(key);
                        Err(ToolError::Cancelled)
                    }
                }
            }
            InputSource::None => Err(ToolError::failed(format!(
                "{method} needs a session: initialize one, or use protocol 2026-07-28"
            ))),
        }
    }

    /// Like [`Context::ask`], but a task-capable tool asks within the request that would
    /// create the task: the client answers by retrying, and the task starts afterwards.
    pub async fn ask_inline(
        &self,
        key: &str,
        method: &str,
        params: Value,
    ) -> Result<Value, ToolError> {
        if let InputSource::Task { inline, .. } = &self.inner.input {
            if !self.inner.caps.allows(method) {
                return Err(ToolError::Protocol(
                    keel_protocol::RpcError::missing_capability(
                        json!({ capability_name(method): {} }),
                    ),
                ));
            }
            return match inline.get(key) {
                Some(answer) => Ok(answer.clone()),
                None => {
                    let mut requests = Map::new();
                    requests.insert(key.into(), json!({ "method": method, "params": params }));
                    Err(ToolError::InputRequired(requests))
                }
            };
        }
        self.ask(key, method, params).await
    }

    /// Form-mode elicitation: returns the client's `ElicitResult`.
    pub async fn elicit(
        &self,
        key: &str,
        message: &str,
        schema: Value,
    ) -> Result<Value, ToolError> {
        let params = json!({ "mode": "form", "message": message, "requestedSchema": schema });
        self.ask(key, methods::ELICITATION_CREATE, params).await
    }

    /// Sampling: returns the client's `CreateMessageResult`.
    pub async fn sample(&self, key: &str, params: Value) -> Result<Value, ToolError> {
        self.ask(key, methods::SAMPLING_CREATE_MESSAGE, params)
            .await
    }

    /// Roots: returns the client's `ListRootsResult`.
    pub async fn list_roots(&self, key: &str) -> Result<Value, ToolError> {
        self.ask(key, methods::ROOTS_LIST, json!({})).await
    }
}

fn capability_name(method: &str) -> &'static str {
    match method {
        methods::ELICITATION_CREATE => "elicitation",
        methods::SAMPLING_CREATE_MESSAGE => "sampling",
        _ => "roots",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_context_with_its_own_cancellation_keeps_the_rest() {
        let parent = CancellationToken::new();
        let principal = Principal::anonymous();
        let cx = Context::detached_as(principal.clone()).with_cancellation(parent.clone());
        let child = cx.cancellation_token().child_token();
        let bounded = cx.with_cancellation(child.clone());
        assert_eq!(bounded.principal(), &principal);
        assert_eq!(bounded.request_id(), cx.request_id());

        // Cancelling the bounded copy leaves the request alone...
        child.cancel();
        assert!(bounded.is_cancelled());
        assert!(!cx.is_cancelled());

        // ...and cancelling the request reaches every copy.
        let again = cx.with_cancellation(cx.cancellation_token().child_token());
        parent.cancel();
        assert!(cx.is_cancelled() && again.is_cancelled());
    }
}
