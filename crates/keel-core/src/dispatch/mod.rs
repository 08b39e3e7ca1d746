//! The one dispatch path: every request of every era and transport goes through
//! [`Dispatcher::handle`], then the request stack ([`MethodStack`]), then the routing.

mod call;
mod lists;
mod method;
mod request;
mod request_meta;
mod session_methods;
mod task_methods;

use std::{convert::Infallible, sync::Arc, time::Duration};

use dashmap::DashMap;
use keel_protocol::{
    Era, ErrorCode, ProtocolVersion, RequestId, RpcError, SUPPORTED_VERSIONS, encode_error,
    encode_result, meta, methods,
};
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub use method::{Entry, MethodRequest, MethodService, MethodStack, Pass, RequestGate};
pub use request::{Incoming, Opening, ParsedRequest};
pub use request_meta::RequestMeta;

use crate::{
    CacheHint, CacheScope, ClientCaps, LogLevel, Outbound, Principal, Registry, RequestStateCodec,
    Session, SessionStore, ToolService, session::ClientRequests,
};

/// The server's identity and guidance for models.
#[derive(Debug, Clone)]
pub struct ServerInfo {
    /// Implementation name.
    pub name: String,
    /// Implementation version.
    pub version: String,
    /// Natural-language guidance sent in `initialize` and `server/discover`.
    pub instructions: Option<String>,
}

/// Per-request environment a transport supplies.
pub struct RequestEnv {
    /// The revision the request is served under.
    pub version: ProtocolVersion,
    /// The legacy session, if any.
    pub session: Option<Arc<Session>>,
    /// Where messages sent before the final response go; `None` drops them.
    pub outbound: Option<mpsc::UnboundedSender<Outbound>>,
    /// Cancelled when the client cancels or disconnects.
    pub cancel: CancellationToken,
    /// Whether `initialize` may create a session here.
    pub sessions_enabled: bool,
    /// Whether `notifications/cancelled` can name this request (stdio, legacy sessions).
    pub cancellable_by_notification: bool,
    /// Who the request acts for; tools see it as [`crate::Context::principal`], sessions
    /// and tasks it creates belong to it.
    pub principal: Principal,
}

/// What the dispatcher answers.
#[derive(Debug, Default)]
pub struct Reply {
    /// The encoded final response; `None` for notifications and cancelled requests.
    pub body: Option<Vec<u8>>,
    /// The error code, when the response is an error (transports pick HTTP statuses by it).
    pub error: Option<ErrorCode>,
    /// A session created by `initialize`.
    pub created_session: Option<Arc<Session>>,
    /// A `WWW-Authenticate` value for HTTP, when an authorization layer refused the request.
    pub challenge: Option<String>,
    /// When to retry, for HTTP's `Retry-After`, when a rate limit refused the request.
    pub retry_after: Option<Duration>,
}

impl Reply {
    fn none() -> Self {
        Self::default()
    }

    /// An error reply.
    pub fn error(id: Option<&RequestId>, e: &RpcError) -> Self {
        Self {
            body: Some(encode_error(id, e)),
            error: Some(e.code),
            created_session: None,
            challenge: None,
            retry_after: None,
        }
    }
}

/// Tunables of the dispatch path.
#[derive(Debug, Clone)]
pub struct DispatchSettings {
    /// Items per page of list results.
    pub page_size: usize,
    /// `ttlMs` / `cacheScope` of cacheable results (modern): lists, discovery, and reads of
    /// resources that declare none of their own. Private when what a principal sees
    /// differs (lists filtered per caller).
    pub list_cache: CacheHint,
    /// What each principal may see in `tools/list`, `resources/list` and `prompts/list`;
    /// `None`: everything, for everyone.
    pub list_filter: Option<Arc<dyn ListFilter>>,
    /// Live legacy sessions at most: `initialize` past it is refused as an overload until
    /// sessions end or expire, so a client opening sessions in a loop cannot exhaust memory.
    pub max_sessions: usize,
}

/// What a list names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listed {
    /// A tool, by name.
    Tool,
    /// A resource, by URI.
    Resource,
    /// A prompt, by name.
    Prompt,
}

/// Hides from a principal's lists what it may not use (an authorization layer's view).
pub trait ListFilter: std::fmt::Debug + Send + Sync + 'static {
    /// Whether `principal` sees the item named `name`.
    fn visible(&self, principal: &Principal, kind: Listed, name: &str) -> bool;
}

impl Default for DispatchSettings {
    fn default() -> Self {
        Self {
            page_size: 100,
            list_cache: CacheHint {
                ttl: Duration::from_secs(60),
                scope: CacheScope::Shared,
            },
            list_filter: None,
            max_sessions: 10_000,
        }
    }
}

/// Serves MCP requests of both eras over any transport.
///
/// Every request (notifications aside) passes the request stack installed with
/// [`Dispatcher::with_request_stack`] before it is routed by method; `tools/call` then also
/// passes the tool service stack.
pub struct Dispatcher {
    router: Arc<Router>,
    /// The request stack around [`Router::route`]; `None`: no layers, routed inline.
    requests: Option<MethodService>,
    /// The gate every request passes before the request stack.
    gate: Option<Arc<dyn RequestGate>>,
}

impl Dispatcher {
    /// A dispatcher over a registry, the tool service stack and a session store.
    pub fn new(
        registry: Arc<Registry>,
        tools: ToolService,
        sessions: Arc<dyn SessionStore>,
        state: RequestStateCodec,
        info: ServerInfo,
        settings: DispatchSettings,
    ) -> Self {
        Self {
            router: Arc::new(Router::new(
                registry, tools, sessions, state, info, settings,
            )),
            requests: None,
            gate: None,
        }
    }

    /// Installs the gate every request passes first, outside the request stack (replacing
    /// any installed before); call it before serving.
    pub fn with_request_gate(mut self, gate: Arc<dyn RequestGate>) -> Self {
        self.gate = Some(gate);
        self
    }

    /// Installs the request stack every request passes before it is routed (replacing any
    /// installed before); call it before serving.
    pub fn with_request_stack(mut self, stack: &impl MethodStack) -> Self {
        if let Some(gate) = stack.gate() {
            self.requests = None;
            return self.with_request_gate(gate);
        }
        self.gate = None;
        let router = Arc::clone(&self.router);
        // The routing future is large (it holds every method's state); boxed here, once,
        // the layers around it move a pointer instead of copying it at each level.
        let route = tower::service_fn(move |request: MethodRequest| {
            let router = Arc::clone(&router);
            let routed: crate::BoxFuture<Result<Reply, Infallible>> =
                Box::pin(async move { Ok(router.route(request).await) });
            routed
        });
        self.requests = Some(stack.wrap(route));
        self
    }

    /// The server's shutdown state: transports spawn their detached tasks on it and watch
    /// it to drain.
    pub fn shutdown(&self) -> &crate::Shutdown {
        self.router.shutdown()
    }

    /// The registry.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.router.registry
    }

    /// Changes announced with [`crate::Context::notify_changed`], for transports that push
    /// them to legacy sessions' standalone streams.
    pub fn subscribe_changes(&self) -> tokio::sync::broadcast::Receiver<crate::ListChange> {
        self.router.changes.subscribe()
    }

    /// The session store.
    pub fn sessions(&self) -> &Arc<dyn SessionStore> {
        &self.router.sessions
    }

    /// Creates a session outside `initialize` (stdio keeps one per process), owned by
    /// `principal`.
    pub fn new_session(
        &self,
        version: ProtocolVersion,
        caps: ClientCaps,
        principal: Principal,
    ) -> Arc<Session> {
        self.router.new_session(version, caps, principal)
    }

    /// Checks a modern request's declared version: `Ok` with the revision, or the
    /// `UnsupportedProtocolVersion` error.
    pub fn modern_version(declared: &str) -> Result<ProtocolVersion, RpcError> {
        match ProtocolVersion::parse(declared) {
            Some(v) if v.era() == Era::Modern => Ok(v),
            _ => Err(RpcError::unsupported_version(declared, &SUPPORTED_VERSIONS)),
        }
    }

    /// Handles one request or notification. Notifications are acted on here; requests go
    /// through the request stack to the routing.
    pub async fn handle(&self, req: ParsedRequest, env: RequestEnv) -> Reply {
        if req.id.is_none() {
            self.router.notification(&req, &env);
            return Reply::none();
        }
        let request = MethodRequest::new(req, env, &self.router.registry);
        // The routing runs in this future, not in one more nested around it.
        let leave = match &self.gate {
            None => None,
            Some(gate) => {
                let pass = match gate.enter(&request) {
                    method::Entry::Pass(pass) => pass,
                    method::Entry::Refuse(reply) => return reply,
                    method::Entry::Wait(wait) => match wait.await {
                        Ok(pass) => pass,
                        Err(reply) => return reply,
                    },
                };
                Some(method::Leave {
                    gate: gate.as_ref(),
                    pass: Some(pass),
                })
            }
        };
        let reply = match &self.requests {
            None => self.router.route(request).await,
            Some(stack) => match stack.serve(request).await {
                Ok(reply) => reply,
                Err(never) => match never {},
            },
        };
        if let Some(leave) = leave {
            leave.finish(&reply);
        }
        reply
    }

    /// Delivers a client's response to a server-to-client request; false if none was waiting.
    pub fn client_response(
        &self,
        session: &Session,
        id: &RequestId,
        result: Result<Value, RpcError>,
    ) -> bool {
        session.complete_client_request(id, result)
    }
}

/// The routing behind a [`Dispatcher`]: the innermost service of the request stack.
pub(crate) struct Router {
    pub(crate) registry: Arc<Registry>,
    pub(crate) tools: ToolService,
    pub(crate) sessions: Arc<dyn SessionStore>,
    pub(crate) client_requests: Arc<ClientRequests>,
    pub(crate) state: RequestStateCodec,
    pub(crate) info: ServerInfo,
    pub(crate) settings: DispatchSettings,
    pub(crate) tasks: crate::TaskStore,
    pub(crate) changes: tokio::sync::broadcast::Sender<crate::ListChange>,
    server_meta: Value,
    /// `"resultType":"complete","_meta":{serverInfo}`, encoded once for modern results.
    modern_members: Vec<u8>,
    in_flight: DashMap<(u128, RequestId), CancellationToken>,
    shutdown: crate::Shutdown,
}

impl Router {
    fn new(
        registry: Arc<Registry>,
        tools: ToolService,
        sessions: Arc<dyn SessionStore>,
        state: RequestStateCodec,
        info: ServerInfo,
        settings: DispatchSettings,
    ) -> Self {
        let server_meta = json!({ "name": info.name, "version": info.version });
        let modern_members = format!(
            r#""resultType":"complete","_meta":{{{}:{server_meta}}}"#,
            Value::from(meta::SERVER_INFO)
        )
        .into_bytes();
        Self {
            registry,
            tools,
            sessions,
            client_requests: Arc::default(),
            state,
            info,
            settings,
            tasks: crate::TaskStore::new(Duration::from_secs(300)),
            changes: tokio::sync::broadcast::channel(64).0,
            server_meta,
            modern_members,
            in_flight: DashMap::new(),
            shutdown: crate::Shutdown::new(),
        }
    }

    pub(crate) fn shutdown(&self) -> &crate::Shutdown {
        &self.shutdown
    }

    pub(crate) fn new_session(
        &self,
        version: ProtocolVersion,
        caps: ClientCaps,
        principal: Principal,
    ) -> Arc<Session> {
        Arc::new(Session::new(
            version,
            caps,
            principal,
            Arc::clone(&self.client_requests),
        ))
    }

    /// Answers one request by its method (the innermost service of the request stack).
    pub(crate) async fn route(&self, request: MethodRequest) -> Reply {
        let (req, env) = request.into_parts();
        let Some(id) = req.id.clone() else {
            return Reply::none();
        };
        let era = env.version.era();
        if era == Era::Modern
            && let Err(e) = check_modern_meta(&req)
        {
            return Reply::error(Some(&id), &e);
        }
        let outcome = match (req.method.as_str(), era) {
            (methods::TOOLS_CALL, _) => return self.call_tool(&id, req, env).await,
            (methods::TOOLS_LIST, _) => self.list_tools(&req, env.version, &env.principal),
            (methods::RESOURCES_LIST, _) => self.list_resources(&req, &env.principal),
            (methods::RESOURCES_TEMPLATES_LIST, _) => self.list_templates(&req),
            (methods::RESOURCES_READ, _) => self.read_resource(&req, &env).await,
            (methods::PROMPTS_LIST, _) => self.list_prompts(&req, &env.principal),
            (methods::PROMPTS_GET, _) => self.get_prompt(&req, &env).await,
            (methods::COMPLETION_COMPLETE, _) => self.complete(&req),
            (methods::INITIALIZE, Era::Legacy) => return self.initialize(&id, &req, &env).await,
            (methods::PING, Era::Legacy) => Ok(Map::new()),
            (methods::LOGGING_SET_LEVEL, Era::Legacy) => self.set_level(&req, &env),
            (methods::RESOURCES_SUBSCRIBE | methods::RESOURCES_UNSUBSCRIBE, Era::Legacy) => {
                Self::subscription(&req, &env)
            }
            (methods::DISCOVER, Era::Modern) => Ok(self.discover()),
            (methods::SUBSCRIPTIONS_LISTEN, Era::Modern) => self.listen(&req, &env).await,
            (methods::TASKS_GET | methods::TASKS_UPDATE | methods::TASKS_CANCEL, Era::Modern) => {
                self.task_method(&req, &env)
            }
            (m, _) => Err(RpcError::method_not_found(m)),
        };
        match outcome {
            Ok(result) => {
                let cacheable = is_cacheable(&req.method);
                self.reply_ok(&id, result, env.version, cacheable)
            }
            Err(e) => Reply::error(Some(&id), &e),
        }
    }

    fn reply_ok(
        &self,
        id: &RequestId,
        mut result: Map<String, Value>,
        version: ProtocolVersion,
        cacheable: bool,
    ) -> Reply {
        if version.era() == Era::Modern {
            if cacheable {
                self.settings.list_cache.apply(&mut result);
            }
            // The common case appends pre-encoded members instead of building values.
            if !result.contains_key("resultType") && !result.contains_key("_meta") {
                return Reply {
                    body: Some(keel_protocol::encode_result_with(
                        id,
                        &result,
                        &self.modern_members,
                    )),
                    error: None,
                    created_session: None,
                    challenge: None,
                    retry_after: None,
                };
            }
            result
                .entry("resultType")
                .or_insert_with(|| Value::from("complete"));
            let meta = result
                .entry("_meta")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Some(m) = meta.as_object_mut() {
                m.insert(meta::SERVER_INFO.into(), self.server_meta.clone());
            }
        }
        Reply {
            body: Some(encode_result(id, &result)),
            error: None,
            created_session: None,
            challenge: None,
            retry_after: None,
        }
    }

    fn notification(&self, req: &ParsedRequest, env: &RequestEnv) {
        match req.method.as_str() {
            methods::INITIALIZED => {
                if let Some(s) = &env.session {
                    s.mark_initialized();
                }
            }
            methods::CANCELLED => {
                let Some(target) = req.params.get("requestId") else {
                    return;
                };
                let Ok(target) = serde_json::from_value::<RequestId>(target.clone()) else {
                    return;
                };
                let key = (session_key(env.session.as_ref()), target);
                if let Some((_, token)) = self.in_flight.remove(&key) {
                    token.cancel();
                }
            }
            _ => {}
        }
    }

    /// Tracks a cancellable request; the guard forgets it when the request ends.
    pub(crate) fn track(
        &self,
        session: Option<&Arc<Session>>,
        id: &RequestId,
        token: &CancellationToken,
    ) -> InFlight<'_> {
        let key = (session_key(session), id.clone());
        self.in_flight.insert(key.clone(), token.clone());
        InFlight {
            map: &self.in_flight,
            key: Some(key),
        }
    }

    pub(crate) fn log_level(req: &ParsedRequest, env: &RequestEnv) -> Option<LogLevel> {
        match env.version.era() {
            Era::Modern => req
                .meta()
                .and_then(|m| m.get(meta::LOG_LEVEL))
                .and_then(Value::as_str)
                .and_then(LogLevel::parse),
            Era::Legacy => env.session.as_ref().and_then(|s| s.log_level()),
        }
    }

    pub(crate) fn client_caps(req: &ParsedRequest, env: &RequestEnv) -> ClientCaps {
        match env.version.era() {
            Era::Modern => {
                ClientCaps::from_json(req.meta().and_then(|m| m.get(meta::CLIENT_CAPABILITIES)))
            }
            Era::Legacy => env.session.as_ref().map(|s| s.caps()).unwrap_or_default(),
        }
    }
}

/// Removes a request from the in-flight map when dropped.
pub(crate) struct InFlight<'a> {
    map: &'a DashMap<(u128, RequestId), CancellationToken>,
    key: Option<(u128, RequestId)>,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if let Some(k) = self.key.take() {
            self.map.remove(&k);
        }
    }
}

fn session_key(session: Option<&Arc<Session>>) -> u128 {
    session.map_or(0, |s| s.id().0)
}

fn is_cacheable(method: &str) -> bool {
    matches!(
        method,
        methods::TOOLS_LIST
            | methods::RESOURCES_LIST
            | methods::RESOURCES_TEMPLATES_LIST
            | methods::RESOURCES_READ
            | methods::PROMPTS_LIST
            | methods::DISCOVER
    )
}

/// Modern requests must carry client capabilities in `_meta`.
pub fn check_modern_meta(req: &ParsedRequest) -> Result<(), RpcError> {
    let m = req
        .meta()
        .ok_or_else(|| RpcError::invalid_params("missing _meta"))?;
    match m.get(meta::CLIENT_CAPABILITIES) {
        Some(Value::Object(_)) => Ok(()),
        Some(_) => Err(RpcError::invalid_params(format!(
            "_meta.{} must be an object",
            meta::CLIENT_CAPABILITIES
        ))),
        None => Err(RpcError::invalid_params(format!(
            "missing _meta.{}",
            meta::CLIENT_CAPABILITIES
        ))),
    }
}
