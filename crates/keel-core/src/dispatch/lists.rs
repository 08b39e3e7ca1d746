//! Listing, reading and completing: tools, resources, templates and prompts.

use std::sync::Arc;

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use keel_protocol::{Era, ErrorCode, ProtocolVersion, RpcError};
use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;

use super::{Listed, ParsedRequest, RequestEnv, Router};
use crate::{
    Context, Principal, ResourceTarget, ToolError,
    context::{ContextInner, InputSource},
};

impl Router {
    /// The page `[start, end)` a cursor selects, and the next cursor.
    fn page(
        &self,
        req: &ParsedRequest,
        len: usize,
    ) -> Result<(usize, usize, Option<String>), RpcError> {
        let start = match req.params.get("cursor") {
            None | Some(Value::Null) => 0,
            Some(Value::String(c)) => B64
                .decode(c)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .and_then(|s| s.strip_prefix("o:").and_then(|n| n.parse::<usize>().ok()))
                .filter(|&n| n <= len)
                .ok_or_else(|| RpcError::invalid_params("invalid cursor"))?,
            Some(_) => return Err(RpcError::invalid_params("cursor must be a string")),
        };
        let end = (start + self.settings.page_size).min(len);
        let next = (end < len).then(|| B64.encode(format!("o:{end}")));
        Ok((start, end, next))
    }

    fn listing(key: &str, items: Vec<Value>, next: Option<String>) -> Map<String, Value> {
        let mut m = Map::with_capacity(4);
        m.insert(key.into(), Value::Array(items));
        if let Some(n) = next {
            m.insert("nextCursor".into(), Value::String(n));
        }
        m
    }

    /// The items `principal` may see, in registry order (all of them without a filter).
    fn visible<'a, T>(
        &self,
        principal: &Principal,
        kind: Listed,
        all: &'a [T],
        name: impl Fn(&T) -> &str,
    ) -> Vec<&'a T> {
        match &self.settings.list_filter {
            None => all.iter().collect(),
            Some(f) => all
                .iter()
                .filter(|t| f.visible(principal, kind, name(t)))
                .collect(),
        }
    }

    pub(super) fn list_tools(
        &self,
        req: &ParsedRequest,
        version: ProtocolVersion,
        principal: &Principal,
    ) -> Result<Map<String, Value>, RpcError> {
        let tools = self.visible(principal, Listed::Tool, self.registry.tools(), |t| {
            t.definition.name.as_str()
        });
        let (start, end, next) = self.page(req, tools.len())?;
        let structured = version.has_structured_output();
        let tasks = version.era() == Era::Modern;
        let items = tools[start..end]
            .iter()
            .map(|t| t.wire(structured, tasks).clone())
            .collect();
        Ok(Self::listing("tools", items, next))
    }

    pub(super) fn list_resources(
        &self,
        req: &ParsedRequest,
        principal: &Principal,
    ) -> Result<Map<String, Value>, RpcError> {
        let all = self.visible(principal, Listed::Resource, &self.registry.resources, |r| {
            r.uri.as_str()
        });
        let (start, end, next) = self.page(req, all.len())?;
        Ok(Self::listing(
            "resources",
            all[start..end].iter().map(|r| r.listing.clone()).collect(),
            next,
        ))
    }

    pub(super) fn list_templates(
        &self,
        req: &ParsedRequest,
    ) -> Result<Map<String, Value>, RpcError> {
        let all = &self.registry.templates;
        let (start, end, next) = self.page(req, all.len())?;
        Ok(Self::listing(
            "resourceTemplates",
            all[start..end].iter().map(|t| t.listing.clone()).collect(),
            next,
        ))
    }

    pub(super) fn list_prompts(
        &self,
        req: &ParsedRequest,
        principal: &Principal,
    ) -> Result<Map<String, Value>, RpcError> {
        let all = self.visible(principal, Listed::Prompt, &self.registry.prompts, |p| {
            p.name.as_str()
        });
        let (start, end, next) = self.page(req, all.len())?;
        Ok(Self::listing(
            "prompts",
            all[start..end].iter().map(|p| p.listing.clone()).collect(),
            next,
        ))
    }

    /// A context for handlers other than tools (resources, prompts).
    pub(crate) fn context(
        &self,
        req: &ParsedRequest,
        env: &RequestEnv,
        cancel: CancellationToken,
        input: InputSource,
    ) -> Context {
        self.context_with_caps(req, env, cancel, input, Self::client_caps(req, env))
    }

    /// [`Router::context`] with capabilities the caller already read.
    pub(crate) fn context_with_caps(
        &self,
        req: &ParsedRequest,
        env: &RequestEnv,
        cancel: CancellationToken,
        input: InputSource,
        caps: crate::ClientCaps,
    ) -> Context {
        Context {
            inner: Arc::new(ContextInner {
                request_id: req
                    .id
                    .clone()
                    .unwrap_or(keel_protocol::RequestId::Number(0)),
                version: env.version,
                progress_token: req.progress_token(),
                cancel,
                log_level: Self::log_level(req, env),
                outbound: env.outbound.clone(),
                input,
                caps,
                related_task: None,
                changes: Some(self.changes.clone()),
                principal: env.principal.clone(),
            }),
        }
    }

    pub(super) async fn read_resource(
        &self,
        req: &ParsedRequest,
        env: &RequestEnv,
    ) -> Result<Map<String, Value>, RpcError> {
        let uri = req.required_str("uri")?;
        let cx = self.context(req, env, env.cancel.clone(), InputSource::None);
        let target = self.registry.find_resource(uri);
        let contents = match target {
            Some(ResourceTarget::Fixed(r)) => (r.read)(uri.to_owned(), Map::new(), cx).await,
            Some(ResourceTarget::Template(t)) => {
                let vars = t.matches(uri).unwrap_or_default();
                (t.read)(uri.to_owned(), vars, cx).await
            }
            None => {
                let code = if env.version.era() == Era::Modern {
                    ErrorCode::INVALID_PARAMS
                } else {
                    ErrorCode::RESOURCE_NOT_FOUND_LEGACY
                };
                return Err(RpcError::new(code, format!("Resource not found: {uri}"))
                    .with_data(json!({ "uri": uri })));
            }
        };
        let contents = contents.map_err(|e| handler_error(e, "resource"))?;
        let mut m = Map::new();
        m.insert(
            "contents".into(),
            Value::Array(contents.iter().map(|c| c.to_json()).collect()),
        );
        if env.version.era() == Era::Modern
            && let Some(hint) = target.and_then(ResourceTarget::cache_hint)
        {
            hint.apply(&mut m);
        }
        Ok(m)
    }

    pub(super) async fn get_prompt(
        &self,
        req: &ParsedRequest,
        env: &RequestEnv,
    ) -> Result<Map<String, Value>, RpcError> {
        let name = req.required_str("name")?;
        let prompt = self
            .registry
            .prompt(name)
            .ok_or_else(|| RpcError::invalid_params(format!("Unknown prompt: {name}")))?;
        let args = match req.params.get("arguments") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(a)) => a.clone(),
            Some(_) => return Err(RpcError::invalid_params("arguments must be an object")),
        };
        for a in prompt.arguments.iter().filter(|a| a.required) {
            if !args.contains_key(&a.name) {
                return Err(RpcError::invalid_params(format!(
                    "missing required argument {}",
                    a.name
                )));
            }
        }
        let modern = env.version.era() == Era::Modern;
        let digest = modern.then(|| {
            crate::request_state::request_digest(
                keel_protocol::methods::PROMPTS_GET,
                name,
                Some(&Value::Object(args.clone())),
            )
        });
        let (input, answers) = match &digest {
            Some(d) => {
                let answers = self.gathered_answers(req, d)?;
                (InputSource::Retry(answers.clone()), answers)
            }
            None => (
                env.session
                    .clone()
                    .map_or(InputSource::None, InputSource::Session),
                Map::new(),
            ),
        };
        let cx = self.context(req, env, env.cancel.clone(), input);
        match (prompt.get)(args, cx).await {
            Ok(Value::Object(m)) => Ok(m),
            Ok(_) => Err(RpcError::internal("prompt handler returned a non-object")),
            Err(ToolError::InputRequired(requests)) if digest.is_some() => {
                Ok(self.input_required(digest.unwrap_or_default(), answers, requests))
            }
            Err(e) => Err(handler_error(e, "prompt")),
        }
    }

    pub(super) fn complete(&self, req: &ParsedRequest) -> Result<Map<String, Value>, RpcError> {
        let reference = req
            .params
            .get("ref")
            .and_then(Value::as_object)
            .ok_or_else(|| RpcError::invalid_params("missing ref"))?;
        let argument = req
            .params
            .get("argument")
            .and_then(Value::as_object)
            .ok_or_else(|| RpcError::invalid_params("missing argument"))?;
        let arg_name = argument
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let arg_value = argument
            .get("value")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let str_of = |k: &str| reference.get(k).and_then(Value::as_str).unwrap_or_default();
        let completer = match str_of("type") {
            "ref/prompt" => {
                let p = self.registry.prompt(str_of("name")).ok_or_else(|| {
                    RpcError::invalid_params(format!("Unknown prompt: {}", str_of("name")))
                })?;
                p.complete.clone()
            }
            "ref/resource" => {
                let uri = str_of("uri");
                let t = self
                    .registry
                    .templates
                    .iter()
                    .find(|t| t.uri_template == uri)
                    .ok_or_else(|| {
                        RpcError::invalid_params(format!("Unknown resource template: {uri}"))
                    })?;
                t.complete.clone()
            }
            other => {
                return Err(RpcError::invalid_params(format!(
                    "unknown ref type {other}"
                )));
            }
        };
        let mut values = completer
            .map(|c| c(arg_name, arg_value))
            .unwrap_or_default();
        let total = values.len();
        values.truncate(100);
        let mut m = Map::new();
        m.insert(
            "completion".into(),
            json!({ "values": values, "total": total, "hasMore": total > 100 }),
        );
        Ok(m)
    }
}

/// A resource or prompt handler's failure as a JSON-RPC error.
fn handler_error(e: ToolError, what: &str) -> RpcError {
    match e {
        ToolError::Protocol(e) => e,
        ToolError::Rejected(r) => r.to_rpc_error(),
        ToolError::Failed(f) => f.to_rpc_error(),
        other => RpcError::internal(format!("{what} failed: {other}")),
    }
}
