//! `tools/call`: arguments, multi round-trip input, tasks, the tool service stack, and how
//! each outcome is reported.

use std::{future::Future, panic::AssertUnwindSafe, pin::Pin, sync::Arc, task::Poll};

use futures_util::FutureExt;

use keel_protocol::{Era, ProtocolVersion, RequestId, RpcError, methods};
use serde_json::{Map, Value, json};
use tower::{Service, ServiceExt, service_fn, util::BoxCloneSyncService};

use super::{
    Dispatcher, ParsedRequest, Reply, RequestEnv, Router, task_methods::tasks_capability_missing,
};
use crate::{
    CallToolResult, Failure, TaskSupport, ToolCall, ToolError, ToolService, WireFailure,
    context::InputSource, request_state::request_digest, tasks::TaskStatus,
};

/// The text a panic was raised with, when it is text.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

type CallFuture = Pin<Box<dyn Future<Output = Result<CallToolResult, ToolError>> + Send>>;

impl Dispatcher {
    /// The innermost tool service: checks arguments against the tool's schema, then runs it.
    /// Layers (admission, metrics, timeouts…) wrap this.
    pub fn base_tool_service() -> ToolService {
        BoxCloneSyncService::new(Self::base_tool())
    }

    /// [`Dispatcher::base_tool_service`] before erasure, for a stack that keeps its layers'
    /// types and erases once around them all.
    pub fn base_tool() -> impl Service<
        ToolCall,
        Response = CallToolResult,
        Error = ToolError,
        Future = impl Future<Output = Result<CallToolResult, ToolError>> + Send + 'static,
    > + Clone
    + Send
    + Sync
    + 'static {
        service_fn(|call: ToolCall| async move {
            call.tool
                .check_arguments(&call.arguments)
                .map_err(ToolError::invalid_arguments)?;
            let tool = Arc::clone(&call.tool);
            // A panicking handler fails its own call and nothing else: the connection, the
            // session and the server go on.
            AssertUnwindSafe(tool.handler().call(call.arguments, call.context))
                .catch_unwind()
                .await
                .unwrap_or_else(|payload| {
                    let message = panic_message(payload.as_ref());
                    tracing::error!(tool = %tool.definition.name, panic = %message, "tool panicked");
                    Err(ToolError::Failed(Failure::panicked(format!(
                        "the tool `{}` failed unexpectedly",
                        tool.definition.name
                    ))))
                })
        })
    }
}

impl Router {
    pub(super) async fn call_tool(
        &self,
        id: &RequestId,
        mut req: ParsedRequest,
        env: RequestEnv,
    ) -> Reply {
        // Taken out of the params, not cloned: arguments can be large.
        let arguments = req.params.remove("arguments");
        let name = match req.required_str("name") {
            Ok(n) => n,
            Err(e) => return Reply::error(Some(id), &e),
        };
        let Some(tool) = self.registry.tool(name).cloned() else {
            return Reply::error(
                Some(id),
                &RpcError::invalid_params(format!("Unknown tool: {name}")),
            );
        };
        let arguments = match arguments {
            None | Some(Value::Null) => Value::Object(Map::new()),
            Some(a @ Value::Object(_)) => a,
            Some(_) => {
                return Reply::error(
                    Some(id),
                    &RpcError::invalid_params("arguments must be an object"),
                );
            }
        };
        let modern = env.version.era() == Era::Modern;
        let caps = Self::client_caps(&req, &env);
        let as_task =
            modern && tool.definition.task_support != TaskSupport::Forbidden && caps.tasks;
        if modern && !as_task && tool.definition.task_support == TaskSupport::Required {
            return Reply::error(Some(id), &tasks_capability_missing());
        }
        // The digest binds multi round-trip state to this call. Without a capability to
        // answer input requests and without earlier rounds, there is nothing to bind.
        let rounds =
            req.params.contains_key("requestState") || req.params.contains_key("inputResponses");
        let digest = (modern && (rounds || caps.can_answer_input()))
            .then(|| request_digest(methods::TOOLS_CALL, name, Some(&arguments)));
        let answers = match &digest {
            Some(d) => match self.gathered_answers(&req, d) {
                Ok(a) => a,
                Err(e) => return Reply::error(Some(id), &e),
            },
            None => Map::new(),
        };
        if as_task {
            let cancel = tokio_util::sync::CancellationToken::new();
            let task = self.tasks.prepare(cancel.clone(), env.principal.clone());
            let input = InputSource::Task {
                task: Arc::clone(&task),
                inline: answers.clone(),
            };
            let context = self.context_with_caps(&req, &env, cancel, input, caps);
            let mut call: CallFuture = Box::pin(self.tools.clone().oneshot(ToolCall {
                tool,
                arguments,
                context,
            }));
            // One poll decides: input asked within the request, an immediate result, or a task.
            let first = std::future::poll_fn(|cx| Poll::Ready(call.as_mut().poll(cx))).await;
            if let Poll::Ready(outcome) = first {
                return self.report(id, outcome, &env, digest, answers);
            }
            self.tasks.publish(Arc::clone(&task));
            let token = task.cancel_token();
            let running = Arc::clone(&task);
            self.shutdown().spawn(async move {
                let status = tokio::select! {
                    outcome = call => task_status(outcome),
                    () = token.cancelled() => TaskStatus::Cancelled,
                };
                running.finish(status);
            });
            return self.reply_ok(id, task.created(self.tasks.ttl()), env.version, false);
        }
        let input = match (&digest, &env.session) {
            (Some(_), _) => InputSource::Retry(answers.clone()),
            (None, Some(s)) => InputSource::Session(Arc::clone(s)),
            (None, None) => InputSource::None,
        };
        let cancel = env.cancel.clone();
        let _tracked = env
            .cancellable_by_notification
            .then(|| self.track(env.session.as_ref(), id, &cancel));
        let context = self.context_with_caps(&req, &env, cancel.clone(), input, caps);
        let call = ToolCall {
            tool,
            arguments,
            context,
        };
        let outcome = tokio::select! {
            r = self.tools.clone().oneshot(call) => r,
            () = cancel.cancelled() => Err(ToolError::Cancelled),
        };
        self.report(id, outcome, &env, digest, answers)
    }

    /// Turns a tool outcome into the reply of the request.
    fn report(
        &self,
        id: &RequestId,
        outcome: Result<CallToolResult, ToolError>,
        env: &RequestEnv,
        digest: Option<String>,
        answers: Map<String, Value>,
    ) -> Reply {
        let mut result = match outcome {
            Ok(r) => r,
            Err(ToolError::Failed(f)) => match f.to_wire() {
                WireFailure::Result(r) => r,
                WireFailure::Error(e) => return Reply::error(Some(id), &e),
            },
            Err(ToolError::InputRequired(requests)) => match digest {
                Some(d) => {
                    return self.reply_ok(
                        id,
                        self.input_required(d, answers, requests),
                        env.version,
                        false,
                    );
                }
                None => CallToolResult::error(
                    "this tool needs input from the client, which this request cannot carry",
                ),
            },
            Err(ToolError::Cancelled) => return Reply::default(),
            Err(ToolError::Protocol(e)) => return Reply::error(Some(id), &e),
            Err(ToolError::Rejected(r)) => return Reply::error(Some(id), &r.to_rpc_error()),
        };
        if !env.version.has_structured_output() {
            result.structured_content = None;
        }
        self.reply_call(id, result, env.version)
    }

    /// Encodes a tool result straight from its fields; only a result with its own `_meta`
    /// under the modern revision goes through a map, to gain the server's info.
    fn reply_call(
        &self,
        id: &RequestId,
        result: CallToolResult,
        version: ProtocolVersion,
    ) -> Reply {
        if let Some(shared) = &result.shared {
            let structured = version.has_structured_output();
            let modern = version.era() == Era::Modern;
            if result.meta.is_none() && !(modern && shared.has_meta()) {
                let members = shared.members(structured);
                let parts: &[&[u8]] = if modern {
                    &[members, &self.modern_members]
                } else {
                    &[members]
                };
                return Reply {
                    body: Some(keel_protocol::encode_result_members(id, parts)),
                    error: None,
                    created_session: None,
                    challenge: None,
                    retry_after: None,
                };
            }
            // `_meta` to merge (a stale mark, the server's info): through a map, rarely.
            let mut object = result.into_object();
            if !structured {
                object.remove("structuredContent");
            }
            return self.reply_ok(id, object, version, false);
        }
        let body = match (version.era(), &result.meta) {
            (Era::Legacy, _) => keel_protocol::encode_result(id, &result),
            (Era::Modern, None) => {
                keel_protocol::encode_result_with(id, &result, &self.modern_members)
            }
            (Era::Modern, Some(_)) => {
                return self.reply_ok(id, result.into_object(), version, false);
            }
        };
        Reply {
            body: Some(body),
            error: None,
            created_session: None,
            challenge: None,
            retry_after: None,
        }
    }

    /// An `input_required` result whose `requestState` carries the answers gathered so far.
    pub(super) fn input_required(
        &self,
        digest: String,
        answers: Map<String, Value>,
        requests: Map<String, Value>,
    ) -> Map<String, Value> {
        let state = self.state.seal(digest, answers);
        let mut m = Map::new();
        m.insert("resultType".into(), json!("input_required"));
        m.insert("inputRequests".into(), Value::Object(requests));
        m.insert("requestState".into(), json!(state));
        m
    }

    /// Answers from earlier rounds (in the verified `requestState`) plus this round's
    /// `inputResponses`.
    pub(super) fn gathered_answers(
        &self,
        req: &ParsedRequest,
        digest: &str,
    ) -> Result<Map<String, Value>, RpcError> {
        let mut answers = match req.params.get("requestState") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::String(s)) => self
                .state
                .open(s, digest)
                .map_err(|e| RpcError::invalid_params(e.to_string()))?,
            Some(_) => return Err(RpcError::invalid_params("requestState must be a string")),
        };
        match req.params.get("inputResponses") {
            None => {}
            Some(Value::Object(r)) => {
                for (k, v) in r {
                    if !v.is_object() {
                        return Err(RpcError::invalid_params(format!(
                            "inputResponses.{k} must be an object"
                        )));
                    }
                    answers.insert(k.clone(), v.clone());
                }
            }
            Some(_) => return Err(RpcError::invalid_params("inputResponses must be an object")),
        }
        Ok(answers)
    }
}

fn task_status(outcome: Result<CallToolResult, ToolError>) -> TaskStatus {
    match outcome {
        Ok(r) => TaskStatus::Completed(r.into_object()),
        Err(ToolError::Failed(f)) => match f.to_wire() {
            WireFailure::Result(r) => TaskStatus::Completed(r.into_object()),
            WireFailure::Error(e) => TaskStatus::Failed(e),
        },
        Err(ToolError::Cancelled) => TaskStatus::Cancelled,
        Err(ToolError::InputRequired(_)) => TaskStatus::Failed(RpcError::invalid_params(
            "the task asked for input it cannot receive",
        )),
        Err(ToolError::Protocol(e)) => TaskStatus::Failed(e),
        Err(ToolError::Rejected(r)) => TaskStatus::Failed(r.to_rpc_error()),
    }
}
