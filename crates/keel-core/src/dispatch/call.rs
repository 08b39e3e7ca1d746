//! `tools/call`: arguments, multi round-trip input, the tool service stack, and how each
//! outcome is reported.

use std::sync::Arc;

use keel_protocol::{Era, RequestId, RpcError, methods};
use serde_json::{Map, Value, json};
use tower::{ServiceExt, service_fn, util::BoxCloneSyncService};

use super::{Dispatcher, ParsedRequest, Reply, RequestEnv};
use crate::{
    CallToolResult, ToolCall, ToolError, ToolService, context::InputSource,
    request_state::request_digest,
};

impl Dispatcher {
    /// The innermost tool service: checks arguments against the tool's schema, then runs it.
    /// Layers (admission, metrics, timeouts…) wrap this.
    pub fn base_tool_service() -> ToolService {
        BoxCloneSyncService::new(service_fn(|call: ToolCall| async move {
            call.tool
                .check_arguments(&call.arguments)
                .map_err(ToolError::InvalidArguments)?;
            call.tool.handler().call(call.arguments, call.context).await
        }))
    }

    pub(super) async fn call_tool(
        &self,
        id: &RequestId,
        req: ParsedRequest,
        env: RequestEnv,
    ) -> Reply {
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
        let arguments = match req.params.get("arguments") {
            None | Some(Value::Null) => Value::Object(Map::new()),
            Some(a @ Value::Object(_)) => a.clone(),
            Some(_) => {
                return Reply::error(
                    Some(id),
                    &RpcError::invalid_params("arguments must be an object"),
                );
            }
        };
        let modern = env.version.era() == Era::Modern;
        let digest = modern.then(|| request_digest(methods::TOOLS_CALL, name, Some(&arguments)));
        let input = match (&digest, &env.session) {
            (Some(d), _) => match self.gathered_answers(&req, d) {
                Ok(answers) => InputSource::Retry(answers),
                Err(e) => return Reply::error(Some(id), &e),
            },
            (None, Some(s)) => InputSource::Session(Arc::clone(s)),
            (None, None) => InputSource::None,
        };
        let answers_so_far = match &input {
            InputSource::Retry(a) => a.clone(),
            _ => Map::new(),
        };
        let cancel = env.cancel.clone();
        let _tracked = env
            .cancellable_by_notification
            .then(|| self.track(env.session.as_ref(), id, &cancel));
        let context = self.context(&req, &env, cancel.clone(), input);
        let call = ToolCall {
            tool,
            arguments,
            context,
        };
        let outcome = tokio::select! {
            r = self.tools.clone().oneshot(call) => r,
            () = cancel.cancelled() => Err(ToolError::Cancelled),
        };
        let result = match outcome {
            Ok(r) => r,
            Err(ToolError::InvalidArguments(m)) => {
                CallToolResult::error(format!("Invalid arguments: {m}"))
            }
            Err(ToolError::Failed(m)) => CallToolResult::error(m),
            Err(ToolError::InputRequired(requests)) if modern => {
                let state = self.state.seal(digest.unwrap_or_default(), answers_so_far);
                let mut m = Map::new();
                m.insert("resultType".into(), json!("input_required"));
                m.insert("inputRequests".into(), Value::Object(requests));
                m.insert("requestState".into(), json!(state));
                return self.reply_ok(id, m, env.version, false);
            }
            Err(ToolError::InputRequired(_)) => CallToolResult::error(
                "this tool needs input from the client, which this request cannot carry",
            ),
            Err(ToolError::Cancelled) => return Reply::default(),
            Err(ToolError::Protocol(e)) => return Reply::error(Some(id), &e),
            Err(ToolError::Rejected(r)) => return Reply::error(Some(id), &r.to_rpc_error()),
        };
        let mut obj = result.into_object();
        if !env.version.has_structured_output() {
            obj.remove("structuredContent");
        }
        self.reply_ok(id, obj, env.version, false)
    }

    /// Answers from earlier rounds (in the verified `requestState`) plus this round's
    /// `inputResponses`.
    fn gathered_answers(
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
            None | Some(Value::Null) => {}
            Some(Value::Object(r)) => answers.extend(r.iter().map(|(k, v)| (k.clone(), v.clone()))),
            Some(_) => return Err(RpcError::invalid_params("inputResponses must be an object")),
        }
        Ok(answers)
    }
}
