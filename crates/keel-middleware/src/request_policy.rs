//! The default request-level policy in one piece: request metrics, input bounds and
//! admission of reads, in that order. It behaves as `RequestMetricsLayer`, `InputLimitsLayer`
//! and `RequestAdmissionLayer` stacked, and is built from them; a server that adds request
//! layers between them stacks those instead. Two forms: a tower layer (one future per
//! request instead of one per layer), and a [`RequestGate`] the dispatcher calls before and
//! after routing inline (no future of its own at all).

use std::{
    convert::Infallible,
    sync::Arc,
    task::{Context, Poll},
};

use keel_core::{Entry, MethodRequest, Pass, Reply, RequestGate};
use tower::{Layer, Service};

use crate::{RequestOutcome, admission::request::service::admitted_class, admission::state::Admit};

use crate::{
    InputLimits, InputLimitsLayer, RequestAdmissionFuture, RequestAdmissionLayer,
    RequestAdmissionService, RequestMetricsFuture, RequestMetricsLayer,
    metrics::request::{MethodTable, Record},
};

/// Wraps the routing with [`RequestPolicyService`].
#[derive(Clone)]
pub struct RequestPolicyLayer {
    methods: Arc<MethodTable>,
    limits: InputLimits,
    admission: RequestAdmissionLayer,
}

impl RequestPolicyLayer {
    /// The three default request layers, fused.
    pub fn new(
        metrics: &RequestMetricsLayer,
        limits: InputLimitsLayer,
        admission: RequestAdmissionLayer,
    ) -> Self {
        Self {
            methods: Arc::clone(&metrics.methods),
            limits: limits.limits(),
            admission,
        }
    }
}

impl<S> Layer<S> for RequestPolicyLayer {
    type Service = RequestPolicyService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestPolicyService {
            admitted: self.admission.layer(inner),
            methods: Arc::clone(&self.methods),
            limits: self.limits,
        }
    }
}

/// See the [module](self) documentation.
#[derive(Clone)]
pub struct RequestPolicyService<S> {
    admitted: RequestAdmissionService<S>,
    methods: Arc<MethodTable>,
    limits: InputLimits,
}

impl<S> Service<MethodRequest> for RequestPolicyService<S>
where
    S: Service<MethodRequest, Response = Reply, Error = Infallible> + Clone,
{
    type Response = Reply;
    type Error = Infallible;
    type Future = RequestMetricsFuture<RequestAdmissionFuture<S>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.admitted.poll_ready(cx)
    }

    fn call(&mut self, request: MethodRequest) -> Self::Future {
        // Started first, so a refusal is counted and timed as the stacked layers count it.
        let record = Record::start(
            Arc::clone(&self.methods),
            MethodTable::slot(request.method()),
        );
        let admitted = match self.limits.refusal(&request) {
            None => self.admitted.call(request),
            Some(refused) => RequestAdmissionFuture::refused(refused),
        };
        RequestMetricsFuture::new(admitted, record)
    }
}

impl RequestPolicyLayer {
    fn finished(&self, slot: usize, outcome: RequestOutcome, started: std::time::Instant) {
        self.methods.finished(slot, outcome, started.elapsed());
    }
}

/// A request queued for a permit: counted as it ends, refused, or dropped while waiting
/// (the client went away: `cancelled`), unless it got its pass.
struct Waiting {
    methods: Option<Arc<MethodTable>>,
    slot: usize,
    started: std::time::Instant,
}

impl Waiting {
    /// From here the pass is the dispatcher's to hand back.
    fn passed(&mut self) {
        self.methods = None;
    }

    fn end(&mut self, outcome: RequestOutcome) {
        if let Some(methods) = self.methods.take() {
            methods.finished(self.slot, outcome, self.started.elapsed());
        }
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.end(RequestOutcome::Cancelled);
    }
}

impl RequestGate for RequestPolicyLayer {
    fn enter(&self, request: &MethodRequest) -> Entry {
        let slot = MethodTable::slot(request.method());
        self.methods.started(slot);
        let started = std::time::Instant::now();
        let refuse = |reply: Reply| {
            self.finished(slot, RequestOutcome::of(&reply), started);
            Entry::Refuse(reply)
        };
        if let Some(refused) = self.limits.refusal(request) {
            return refuse(refused);
        }
        let pass = move |permit| Pass {
            started,
            slot,
            permit,
        };
        let Some(class) = admitted_class(request) else {
            return Entry::Pass(pass(None));
        };
        match self.admission.state().admit(class) {
            Admit::Now(permit) => Entry::Pass(pass(Some(permit))),
            Admit::Queued(wait) => {
                let mut waiting = Waiting {
                    methods: Some(Arc::clone(&self.methods)),
                    slot,
                    started,
                };
                let id = request.id().cloned();
                Entry::Wait(Box::pin(async move {
                    match wait.await {
                        Ok(permit) => {
                            waiting.passed();
                            Ok(pass(Some(permit)))
                        }
                        Err(refusal) => {
                            let reply =
                                Reply::error(id.as_ref(), &refusal.to_failure().to_rpc_error());
                            waiting.end(RequestOutcome::of(&reply));
                            Err(reply)
                        }
                    }
                }))
            }
            Admit::Shed(overloaded) => {
                refuse(request.refuse(&overloaded.to_failure().to_rpc_error()))
            }
            Admit::Undefined(undefined) => {
                refuse(request.refuse(&undefined.to_failure().to_rpc_error()))
            }
        }
    }

    fn leave(&self, pass: Pass, reply: Option<&Reply>) {
        let outcome = reply.map_or(RequestOutcome::Cancelled, RequestOutcome::of);
        self.finished(pass.slot, outcome, pass.started);
        drop(pass.permit);
    }
}

#[cfg(test)]
mod tests {
    use keel_core::{MethodRequest, Reply, Workload};
    use serde_json::{Value, json};
    use tokio_test::{assert_pending, assert_ready, task};
    use tower::{Layer, Service, ServiceBuilder};

    use super::RequestPolicyLayer;
    use crate::{
        AdmissionLayer, AdmissionLimits, Capacity, InputLimits, InputLimitsLayer, Metrics,
        QueueDepth,
        test_support::{
            RouteGate, method_request, parse_exposition, request_registry, requests_total, value,
        },
    };

    const GATED: &[&str] = &["resources/read"];

    /// Strings of at most 12 bytes: `test://io/1` passes, the long argument below does not.
    const LIMITS: InputLimits = InputLimits {
        max_string_bytes: 12,
        max_depth: 32,
    };

    /// One io permit and a queue of `depth`.
    fn io_class(depth: usize) -> AdmissionLimits {
        AdmissionLimits::default().with_class(
            Workload::Io,
            Capacity::new(1).expect("valid"),
            QueueDepth(depth),
        )
    }

    /// What both equivalence tests serve, in order: an io read holding the only permit, a
    /// read shed behind it (no queue), a call past the string bound (refused before
    /// admission, named by its pointer), a ping.
    fn requests() -> Vec<(&'static str, Value)> {
        vec![
            ("resources/read", json!({ "uri": "test://io" })),
            ("resources/read", json!({ "uri": "test://io/1" })),
            (
                "tools/call",
                json!({ "name": "io", "arguments": { "text": "longer than twelve bytes" } }),
            ),
            ("ping", json!({})),
        ]
    }

    /// What a client and an operator see of a reply: its error code and body.
    fn seen(reply: &Reply) -> (Option<i64>, Value) {
        let body = serde_json::from_slice(reply.body.as_deref().expect("a body")).expect("JSON");
        (reply.error.map(|c| i64::from(c.0)), body)
    }

    /// The same requests through the fused policy and through the three layers stacked:
    /// the same replies, the same request metrics, the same admission counts.
    #[tokio::test]
    async fn the_fused_policy_answers_and_counts_as_the_stacked_layers() {
        let requests = requests();
        let mut outcomes = Vec::new();
        for fused in [true, false] {
            let metrics = Metrics::new([]);
            let admission = AdmissionLayer::new(&io_class(0));
            let gate = RouteGate::new(GATED);
            let replies = if fused {
                let policy = RequestPolicyLayer::new(
                    &metrics.request_layer(),
                    InputLimitsLayer::new(LIMITS),
                    admission.request_layer(),
                );
                serve(policy.layer(gate.service()), &requests, &gate).await
            } else {
                let stacked = ServiceBuilder::new()
                    .layer(metrics.request_layer())
                    .layer(InputLimitsLayer::new(LIMITS))
                    .layer(admission.request_layer())
                    .service(gate.service());
                serve(stacked, &requests, &gate).await
            };
            let samples = parse_exposition(&metrics.render());
            let count = |method, outcome| requests_total(&samples, method, outcome);
            let counts = [
                count("resources/read", "ok"),
                count("resources/read", "overloaded"),
                count("tools/call", "invalid_params"),
                count("ping", "ok"),
            ];
            assert_eq!(counts, [1.0; 4], "fused: {fused}");
            let shed = admission.state().gauges(Workload::Io).shed_total;
            outcomes.push((replies, counts, shed, gate.started()));
        }
        assert_eq!(outcomes[0], outcomes[1]);
        let (replies, _, shed, started) = &outcomes[0];
        assert_eq!(*shed, 1);
        assert_eq!(started, &["resources/read", "ping"], "refusals never ran");
        assert_eq!(replies[2].0, Some(-32602));
        assert_eq!(
            replies[2].1["error"]["data"]["pointer"], "/arguments/text",
            "{:?}",
            replies[2]
        );
    }

    /// The same requests through the policy as a gate (entered, routed by hand, left) and
    /// through the three layers stacked: the same replies and counts; a pass left without a
    /// reply counts as cancelled and gives its permit back.
    #[tokio::test]
    async fn the_gate_answers_and_counts_as_the_stacked_layers() {
        use keel_core::{Entry, RequestGate};
        let registry = request_registry();
        let requests = requests();
        let request =
            |(method, params): &(&str, Value)| method_request(&registry, method, params.clone());

        let stacked_metrics = Metrics::new([]);
        let stacked_admission = AdmissionLayer::new(&io_class(0));
        let gate_route = RouteGate::new(GATED);
        let stacked = ServiceBuilder::new()
            .layer(stacked_metrics.request_layer())
            .layer(InputLimitsLayer::new(LIMITS))
            .layer(stacked_admission.request_layer())
            .service(gate_route.service());
        let expected = serve(stacked, &requests, &gate_route).await;

        let metrics = Metrics::new([]);
        let admission = AdmissionLayer::new(&io_class(0));
        let gate = RequestPolicyLayer::new(
            &metrics.request_layer(),
            InputLimitsLayer::new(LIMITS),
            admission.request_layer(),
        );
        let ok = |r: &MethodRequest| Reply {
            body: Some(keel_protocol::encode_result(
                r.id().expect("an id"),
                &json!({}),
            )),
            ..Reply::default()
        };
        let first = request(&requests[0]);
        let Entry::Pass(held) = gate.enter(&first) else {
            panic!("the first read takes the free permit");
        };
        let mut replies = vec![(None, Value::Null)];
        for r in &requests[1..] {
            let r = request(r);
            let reply = match gate.enter(&r) {
                Entry::Pass(pass) => {
                    let reply = ok(&r);
                    gate.leave(pass, Some(&reply));
                    reply
                }
                Entry::Refuse(reply) => reply,
                Entry::Wait(_) => panic!("nothing queues with a queue of 0"),
            };
            replies.push(seen(&reply));
        }
        let reply = ok(&first);
        gate.leave(held, Some(&reply));
        replies[0] = seen(&reply);
        assert_eq!(replies, expected);
        // Counts and in-flight gauges alike (durations differ from run to run).
        let counted = |m: &Metrics| {
            parse_exposition(&m.render())
                .into_iter()
                .filter(|s| s.name == "keel_requests_total" || s.name == "keel_requests_in_flight")
                .collect::<Vec<_>>()
        };
        let counts = counted(&metrics);
        assert!(counts.iter().any(|s| s.value == 1.0));
        assert_eq!(
            counts,
            counted(&stacked_metrics),
            "the same series and counts"
        );
        assert_eq!(admission.state().gauges(Workload::Io).shed_total, 1);

        // Dropped unanswered: counted cancelled, the permit back.
        let Entry::Pass(pass) = gate.enter(&first) else {
            panic!("the permit was given back");
        };
        assert_eq!(admission.state().gauges(Workload::Io).in_flight, 1);
        gate.leave(pass, None);
        assert_eq!(admission.state().gauges(Workload::Io).in_flight, 0);
        let samples = parse_exposition(&metrics.render());
        let cancelled = requests_total(&samples, "resources/read", "cancelled");
        assert_eq!(cancelled, 1.0);
    }

    /// A read queued behind the only permit and dropped while it waits (its client went
    /// away) is counted once, as cancelled, and leaves nothing in flight; one that gets the
    /// permit is the dispatcher's to hand back.
    #[tokio::test]
    async fn a_queued_read_dropped_while_waiting_counts_as_cancelled() {
        use keel_core::{Entry, RequestGate};
        let registry = request_registry();
        let metrics = Metrics::new([]);
        let admission = AdmissionLayer::new(&io_class(2));
        let gate = RequestPolicyLayer::new(
            &metrics.request_layer(),
            InputLimitsLayer::new(InputLimits::default()),
            admission.request_layer(),
        );
        let read = || method_request(&registry, "resources/read", json!({ "uri": "test://io" }));
        let Entry::Pass(held) = gate.enter(&read()) else {
            panic!("the first read takes the free permit");
        };
        let Entry::Wait(dropped) = gate.enter(&read()) else {
            panic!("the second read queues");
        };
        let Entry::Wait(kept) = gate.enter(&read()) else {
            panic!("the third read queues");
        };
        let mut dropped = task::spawn(dropped);
        assert_pending!(dropped.poll());
        drop(dropped);
        let mut kept = task::spawn(kept);
        assert_pending!(kept.poll());
        gate.leave(held, None);
        let Ok(pass) = assert_ready!(kept.poll()) else {
            panic!("the permit passes to the kept read");
        };
        let samples = parse_exposition(&metrics.render());
        assert_eq!(
            requests_total(&samples, "resources/read", "cancelled"),
            2.0,
            "held and dropped"
        );
        let in_flight = value(
            &samples,
            "keel_requests_in_flight",
            &[("method", "resources/read")],
        );
        assert_eq!(in_flight, 1.0, "the kept read only");
        gate.leave(pass, None);
        assert_eq!(admission.state().gauges(Workload::Io).in_flight, 0);
    }

    /// Serves `requests` in order, the first (gated) one held until the others answered.
    async fn serve<S>(
        mut svc: S,
        requests: &[(&str, Value)],
        gate: &RouteGate,
    ) -> Vec<(Option<i64>, Value)>
    where
        S: Service<MethodRequest, Response = Reply, Error = std::convert::Infallible>,
    {
        let registry = request_registry();
        let request =
            |(method, params): &(&str, Value)| method_request(&registry, method, params.clone());
        let mut first = task::spawn(svc.call(request(&requests[0])));
        assert_pending!(first.poll());
        let mut replies = vec![(None, Value::Null)];
        for r in &requests[1..] {
            let reply = svc.call(request(r)).await.expect("infallible");
            replies.push(seen(&reply));
        }
        gate.release(1);
        replies[0] = seen(&assert_ready!(first.poll()).expect("infallible"));
        replies
    }
}
