//! The request-level seam: every request (notifications aside) passes one tower stack of
//! [`MethodRequest`] → [`Reply`] before the dispatcher routes it by method, so a policy
//! (admission, metrics, audit…) sees `resources/read` and `prompts/get` as it sees
//! `tools/call`.

use std::{
    convert::Infallible,
    sync::{Arc, OnceLock},
    task::{Context, Poll},
};

use keel_protocol::{Era, ProtocolVersion, RequestId, RpcError, methods};
use tower::{Service, ServiceExt, layer::util::Identity};

use super::{ParsedRequest, Reply, RequestEnv};
use crate::{BoxFuture, Principal, Registry, Workload};

/// One request as it travels through the request stack: what a layer decides on (method,
/// revision, principal, target and its workload) and the owned request and environment it
/// carries to the routing.
pub struct MethodRequest {
    request: ParsedRequest,
    env: RequestEnv,
    registry: Arc<Registry>,
    /// Resolved on first use: most layers never ask, and a lookup costs a hash per request.
    workload: OnceLock<Option<Workload>>,
}

impl MethodRequest {
    /// A request for the stack; the target's workload is resolved from `registry` when a
    /// layer asks (the tool of `tools/call`, the prompt of `prompts/get`, the resource or
    /// template a `resources/read` URI names).
    pub fn new(request: ParsedRequest, env: RequestEnv, registry: &Arc<Registry>) -> Self {
        Self {
            request,
            env,
            registry: Arc::clone(registry),
            workload: OnceLock::new(),
        }
    }

    /// The method.
    pub fn method(&self) -> &str {
        &self.request.method
    }

    /// The request id (requests reach the stack, notifications do not).
    pub fn id(&self) -> Option<&RequestId> {
        self.request.id.as_ref()
    }

    /// The revision the request is served under.
    pub fn version(&self) -> ProtocolVersion {
        self.env.version
    }

    /// The request's era.
    pub fn era(&self) -> Era {
        self.env.version.era()
    }

    /// Who the request acts for.
    pub fn principal(&self) -> &Principal {
        &self.env.principal
    }

    /// The tool name of `tools/call`, the prompt name of `prompts/get`, the URI of
    /// `resources/read`; `None` for other methods or when the param is missing.
    pub fn target(&self) -> Option<&str> {
        self.request.target_name()
    }

    /// The workload class the target declares; `None` without a registered target.
    pub fn workload(&self) -> Option<Workload> {
        *self.workload.get_or_init(|| {
            let (request, registry) = (&self.request, &self.registry);
            request
                .target_name()
                .and_then(|target| match request.method.as_str() {
                    methods::TOOLS_CALL => registry.tool(target).map(|t| t.definition.workload),
                    methods::PROMPTS_GET => registry.prompt(target).map(|p| p.workload),
                    methods::RESOURCES_READ => registry.find_resource(target).map(|r| r.workload()),
                    _ => None,
                })
        })
    }

    /// The request.
    pub fn request(&self) -> &ParsedRequest {
        &self.request
    }

    /// The request's environment.
    pub fn env(&self) -> &RequestEnv {
        &self.env
    }

    /// The request and its environment, for the routing.
    pub fn into_parts(self) -> (ParsedRequest, RequestEnv) {
        (self.request, self.env)
    }

    /// A layer's answer refusing this request with `error`.
    pub fn refuse(&self, error: &RpcError) -> Reply {
        Reply::error(self.id(), error)
    }
}

/// The request stack, type-erased: a layer refuses a request by answering a [`Reply`]
/// itself, so the error type is [`Infallible`].
///
/// Not a `BoxCloneSyncService`: its `call` needs `&mut self`, so the dispatcher would clone
/// (and so allocate) it on every request. This handle is an `Arc`, served through `&self`
/// with one boxed future per request; the layers inside stay unboxed.
#[derive(Clone)]
pub struct MethodService {
    stack: Arc<dyn ErasedStack>,
}

type ReplyFuture = BoxFuture<Result<Reply, Infallible>>;

trait ErasedStack: Send + Sync {
    fn serve(&self, request: MethodRequest) -> ReplyFuture;
}

impl<S> ErasedStack for S
where
    S: Service<MethodRequest, Response = Reply, Error = Infallible> + Clone + Send + Sync + 'static,
    S::Future: Send + 'static,
{
    fn serve(&self, request: MethodRequest) -> ReplyFuture {
        let mut stack = self.clone();
        // Request layers are ready at once unless one holds back (a limiter without room):
        // then the request waits for readiness as `oneshot` does.
        let mut cx = Context::from_waker(std::task::Waker::noop());
        match stack.poll_ready(&mut cx) {
            Poll::Ready(Ok(())) => Box::pin(stack.call(request)),
            Poll::Ready(Err(never)) => match never {},
            Poll::Pending => Box::pin(stack.oneshot(request)),
        }
    }
}

impl MethodService {
    /// Erases a stack.
    pub fn new<S>(stack: S) -> Self
    where
        S: Service<MethodRequest, Response = Reply, Error = Infallible>
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
    {
        Self {
            stack: Arc::new(stack),
        }
    }

    /// Serves one request through the stack.
    pub fn serve(&self, request: MethodRequest) -> BoxFuture<Result<Reply, Infallible>> {
        self.stack.serve(request)
    }
}

impl Service<MethodRequest> for MethodService {
    type Response = Reply;
    type Error = Infallible;
    type Future = BoxFuture<Result<Reply, Infallible>>;

    /// Always ready: each request is served by its own clone of the stack, which waits for
    /// its own readiness.
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: MethodRequest) -> Self::Future {
        self.serve(request)
    }
}

/// Builds the request stack around the dispatcher's routing
/// ([`Dispatcher::with_request_stack`](crate::Dispatcher::with_request_stack)).
///
/// Not a `tower::Layer<S>` for one named `S`: the routing service's future is an `async fn`
/// future, which stable Rust cannot name, so the stack receives the routing as a type
/// parameter, wraps it with ordinary tower layers and erases the whole once.
pub trait MethodStack {
    /// A gate serving in place of the whole stack, when the stack's policy needs no future
    /// of its own (see [`RequestGate`]); `None` (the default) wraps the routing with
    /// [`MethodStack::wrap`].
    fn gate(&self) -> Option<Arc<dyn RequestGate>> {
        None
    }

    /// Wraps `route` with this stack's layers, outermost first.
    fn wrap<S>(&self, route: S) -> MethodService
    where
        S: Service<MethodRequest, Response = Reply, Error = Infallible>
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static;
}

/// No layers: requests go straight to the routing.
impl MethodStack for Identity {
    fn wrap<S>(&self, route: S) -> MethodService
    where
        S: Service<MethodRequest, Response = Reply, Error = Infallible>
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
    {
        MethodService::new(route)
    }
}

/// A request-level policy with no future of its own: it decides on a request before the
/// routing and hears how it ended after, while the dispatcher routes inline between the two,
/// so a request pays no boxed future and no clone of a stack for it. The place for a policy
/// whose work is synchronous in the common case (counting, bounds, taking a free permit);
/// a request that must wait for a permit waits in the future [`Entry::Wait`] carries.
/// Installed with [`Dispatcher::with_request_gate`](crate::Dispatcher::with_request_gate),
/// outside any request stack.
pub trait RequestGate: Send + Sync + 'static {
    /// Decides on `request` before it is routed. A refusal is the gate's whole answer: it
    /// accounts for it itself, and [`RequestGate::leave`] is not called for it.
    fn enter(&self, request: &MethodRequest) -> Entry;

    /// The request `pass` let through has ended with `reply`, or was dropped unanswered
    /// (`None`: the client went away).
    fn leave(&self, pass: Pass, reply: Option<&Reply>);
}

/// A [`RequestGate`]'s decision.
pub enum Entry {
    /// Route the request now.
    Pass(Pass),
    /// Answer this instead of routing.
    Refuse(Reply),
    /// Wait, then route with the pass, or answer the refusal.
    Wait(BoxFuture<Result<Pass, Reply>>),
}

/// What a gate keeps for a request it let through, handed back to [`RequestGate::leave`]:
/// when it started, a slot the gate chose (a metrics series), and a permit held until the
/// request ends.
#[derive(Debug)]
pub struct Pass {
    /// When the gate let it in (or started to consider it).
    pub started: std::time::Instant,
    /// The gate's own index for the request (its series, its class).
    pub slot: usize,
    /// Held while the request runs; dropped when it ends.
    pub permit: Option<tokio::sync::OwnedSemaphorePermit>,
}

/// Hands a pass back to its gate exactly once: with the reply, or from the drop when the
/// request's future is dropped first.
pub(crate) struct Leave<'a> {
    pub(crate) gate: &'a dyn RequestGate,
    pub(crate) pass: Option<Pass>,
}

impl Leave<'_> {
    pub(crate) fn finish(mut self, reply: &Reply) {
        if let Some(pass) = self.pass.take() {
            self.gate.leave(pass, Some(reply));
        }
    }
}

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        if let Some(pass) = self.pass.take() {
            self.gate.leave(pass, None);
        }
    }
}
