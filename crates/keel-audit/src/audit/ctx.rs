//! The state of one audit: the wire, the MCP session, the budget, the findings.

use std::collections::HashSet;

use bytes::Bytes;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::{
    checks,
    options::Options,
    report::{Finding, Severity, Skipped},
    wire::{Answer, HttpRequest, HttpTarget, StdioChild, WireError},
};

/// The modern revision.
pub(crate) const MODERN: &str = "2026-07-28";
/// The newest legacy revision.
pub(crate) const LEGACY: &str = "2025-11-25";
/// `_meta` key of a modern request's protocol version.
pub(crate) const META_VERSION: &str = "io.modelcontextprotocol/protocolVersion";

/// How the server is reached.
pub(crate) enum Wire {
    Http(HttpTarget),
    Stdio(StdioChild),
}

/// The era a connection settled on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Spoken {
    Modern,
    Legacy,
}

/// Which bearer token a request carries.
#[derive(Debug, Clone)]
pub(crate) enum Auth {
    /// `--token`, if given.
    Default,
    /// None at all.
    Without,
    /// This one.
    Bearer(String),
}

/// One request as a probe describes it; `Ctx::call` adds what the era and the session need.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    pub(crate) method: String,
    pub(crate) params: Value,
    pub(crate) auth: Auth,
    /// Headers added after the usual ones (a same-named usual one is replaced).
    pub(crate) headers: Vec<(String, String)>,
    /// Usual headers to leave out (lower-case names).
    pub(crate) omit: Vec<&'static str>,
    /// Appended to the path (`?access_token=...`).
    pub(crate) query: Option<String>,
    /// Sent instead of the JSON envelope (the headers still describe `method`).
    pub(crate) raw_body: Option<Bytes>,
    /// Payload strings the body carries (not leaks when reflected).
    pub(crate) sent: Vec<String>,
    /// Session id to send instead of the current one.
    pub(crate) session: Option<Option<String>>,
}

impl Call {
    /// A request for `method` with `params`.
    pub(crate) fn new(method: &str, params: Value) -> Self {
        Self {
            method: method.into(),
            params,
            auth: Auth::Default,
            headers: Vec::new(),
            omit: Vec::new(),
            query: None,
            raw_body: None,
            sent: Vec::new(),
            session: None,
        }
    }

    pub(crate) fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_ascii_lowercase(), value.into()));
        self
    }

    pub(crate) fn auth(mut self, auth: Auth) -> Self {
        self.auth = auth;
        self
    }

    pub(crate) fn raw(mut self, body: impl Into<Bytes>) -> Self {
        self.raw_body = Some(body.into());
        self
    }
}

/// What a probe got back: an answer, a failure, or nothing because the budget ran out.
pub(crate) enum Sent {
    Answer(Answer),
    Failed(WireError),
    OutOfBudget,
}

/// The audit in progress.
pub(crate) struct Ctx {
    pub(crate) wire: Wire,
    pub(crate) opts: Options,
    pub(crate) location: String,
    pub(crate) era: Option<Spoken>,
    /// Negotiated (legacy) or spoken (modern) version.
    pub(crate) version: String,
    pub(crate) session: Option<String>,
    pub(crate) server: Option<String>,
    pub(crate) auth_demanded: bool,
    /// The first 401 seen, for its WWW-Authenticate.
    pub(crate) first_401: Option<Answer>,
    pub(crate) tools: Vec<Value>,
    pub(crate) down: bool,
    pub(crate) requests: u32,
    pub(crate) deadline: Instant,
    next_id: i64,
    pub(crate) findings: Vec<Finding>,
    seen: HashSet<(&'static str, String)>,
    pub(crate) skipped: Vec<Skipped>,
    pub(crate) probes_run: Vec<String>,
    pub(crate) tools_called: Vec<String>,
}

impl Ctx {
    pub(crate) fn new(wire: Wire, opts: Options, location: String) -> Self {
        let deadline = Instant::now() + opts.deadline;
        Self {
            wire,
            opts,
            location,
            era: None,
            version: MODERN.into(),
            session: None,
            server: None,
            auth_demanded: false,
            first_401: None,
            tools: Vec::new(),
            down: false,
            requests: 0,
            deadline,
            next_id: 1,
            findings: Vec::new(),
            seen: HashSet::new(),
            skipped: Vec::new(),
            probes_run: Vec::new(),
            tools_called: Vec::new(),
        }
    }

    /// Whether this is an HTTP target.
    pub(crate) fn http(&self) -> Option<&HttpTarget> {
        match &self.wire {
            Wire::Http(t) => Some(t),
            Wire::Stdio(_) => None,
        }
    }

    /// Takes `n` requests from the budget; false (and nothing taken) if they are not
    /// there or the deadline has passed.
    pub(crate) fn spend(&mut self, n: u32) -> bool {
        if self.requests + n > self.opts.max_requests || Instant::now() >= self.deadline {
            return false;
        }
        self.requests += n;
        true
    }

    /// Records that `probe` ran.
    pub(crate) fn ran(&mut self, probe: &str) {
        if !self.probes_run.iter().any(|p| p == probe) {
            self.probes_run.push(probe.into());
        }
    }

    /// Records that `probe` did not run.
    pub(crate) fn skip(&mut self, probe: &str, reason: impl Into<String>) {
        let reason = reason.into();
        if !self
            .skipped
            .iter()
            .any(|s| s.probe == probe && s.reason == reason)
        {
            self.skipped.push(Skipped {
                probe: probe.into(),
                reason,
            });
        }
    }

    /// Records a finding (once per rule and message).
    pub(crate) fn find(
        &mut self,
        rule: &'static str,
        severity: Severity,
        message: impl Into<String>,
        evidence: impl Into<String>,
    ) {
        let message = message.into();
        if self.seen.insert((rule, message.clone())) {
            self.findings.push(Finding {
                rule,
                severity,
                message,
                evidence: evidence.into(),
            });
        }
    }

    /// A fresh request id.
    pub(crate) fn id(&mut self) -> i64 {
        self.next_id += 1;
        self.next_id
    }

    /// `params` with the modern `_meta` when modern is spoken.
    pub(crate) fn params_for(&self, params: Value) -> Value {
        let mut params = if params.is_object() {
            params
        } else {
            json!({})
        };
        if self.era != Some(Spoken::Legacy) {
            params["_meta"] = json!({
                META_VERSION: self.version_for_meta(),
                "io.modelcontextprotocol/clientCapabilities": {},
                "io.modelcontextprotocol/clientInfo": {"name": "keel-audit", "version": env!("CARGO_PKG_VERSION")},
            });
        }
        params
    }

    fn version_for_meta(&self) -> &str {
        if self.era == Some(Spoken::Legacy) {
            LEGACY
        } else {
            MODERN
        }
    }

    /// The JSON-RPC envelope of `call` with `id`.
    pub(crate) fn envelope(&self, call: &Call, id: i64) -> Value {
        json!({"jsonrpc": "2.0", "id": id, "method": call.method, "params": self.params_for(call.params.clone())})
    }

    /// The usual headers of `call` on this connection.
    pub(crate) fn headers_for(&self, call: &Call) -> Vec<(String, String)> {
        let mut h: Vec<(String, String)> = vec![
            ("content-type".into(), "application/json".into()),
            (
                "accept".into(),
                "application/json, text/event-stream".into(),
            ),
        ];
        let version = match self.era {
            Some(Spoken::Legacy) => self.version.clone(),
            _ => MODERN.into(),
        };
        h.push(("mcp-protocol-version".into(), version));
        if self.era != Some(Spoken::Legacy) {
            h.push(("mcp-method".into(), call.method.clone()));
            let name = call
                .params
                .get("name")
                .or_else(|| call.params.get("uri"))
                .and_then(Value::as_str);
            if let Some(name) = name {
                h.push(("mcp-name".into(), header_value(name)));
            }
        }
        let session = call.session.clone().unwrap_or_else(|| self.session.clone());
        if let Some(s) = session {
            h.push(("mcp-session-id".into(), s));
        }
        let token = match &call.auth {
            Auth::Default => self.opts.token.clone(),
            Auth::Without => None,
            Auth::Bearer(t) => Some(t.clone()),
        };
        if let Some(t) = token {
            h.push(("authorization".into(), format!("Bearer {t}")));
        }
        h.retain(|(n, _)| {
            !call.omit.contains(&n.as_str()) && !call.headers.iter().any(|(o, _)| o == n)
        });
        h.extend(call.headers.iter().cloned());
        h
    }

    /// Sends `call` for `probe`: takes one request from the budget, scans the answer for
    /// leaks, and notes a 401 (the server demands authentication).
    pub(crate) async fn call(&mut self, probe: &str, call: Call) -> Sent {
        if !self.spend(1) {
            self.skip(probe, "request budget or deadline exhausted");
            return Sent::OutOfBudget;
        }
        let id = self.id();
        let body: Bytes = match &call.raw_body {
            Some(b) => b.clone(),
            None => Bytes::from(self.envelope(&call, id).to_string()),
        };
        let timeout = self.opts.request_timeout;
        let headers = self.headers_for(&call);
        let result = match &mut self.wire {
            Wire::Http(t) => {
                let mut path = t.path.clone();
                if let Some(q) = &call.query {
                    path.push(if path.contains('?') { '&' } else { '?' });
                    path.push_str(q);
                }
                let req = HttpRequest {
                    method: "POST".into(),
                    path,
                    headers,
                    body: body.clone(),
                };
                t.send(req, timeout).await
            }
            Wire::Stdio(child) => {
                let want = call.raw_body.is_none().then(|| json!(id));
                child.exchange(&body, want.as_ref(), timeout).await
            }
        };
        if self.opts.verbose {
            let sent = crate::wire::shorten(&String::from_utf8_lossy(&body), 200);
            let got = match &result {
                Ok(a) => a.summary(),
                Err(e) => e.to_string(),
            };
            eprintln!("[{probe}] {} {sent}\n    -> {got}", call.method);
        }
        match result {
            Ok(answer) => {
                self.inspect(probe, &call.sent, &answer);
                Sent::Answer(answer)
            }
            Err(e) => Sent::Failed(e),
        }
    }

    /// Sends a plain HTTP request (GET of metadata, DELETE of a session) for `probe`.
    pub(crate) async fn http_request(&mut self, probe: &str, req: HttpRequest) -> Sent {
        let Some(t) = self.http().cloned() else {
            return Sent::OutOfBudget;
        };
        if !self.spend(1) {
            self.skip(probe, "request budget or deadline exhausted");
            return Sent::OutOfBudget;
        }
        match t.send(req, self.opts.request_timeout).await {
            Ok(a) => {
                self.inspect(probe, &[], &a);
                Sent::Answer(a)
            }
            Err(e) => Sent::Failed(e),
        }
    }

    /// Leak checks on every answer, and the 401 note.
    fn inspect(&mut self, probe: &str, sent: &[String], answer: &Answer) {
        if answer.status == Some(401) {
            self.auth_demanded = true;
            if self.first_401.is_none() {
                self.first_401 = Some(answer.clone());
            }
        }
        let tokens: Vec<String> = [&self.opts.token, &self.opts.second_token]
            .into_iter()
            .flatten()
            .cloned()
            .collect();
        for leak in checks::scan(&answer.body, &answer.messages, sent, &tokens) {
            let what = crate::catalog::rule(leak.rule)
                .map(|r| r.name)
                .unwrap_or(leak.rule);
            self.find(
                leak.rule,
                leak.severity,
                format!("{what} in the answer to {probe}"),
                leak.excerpt,
            );
        }
    }
}

/// `value` as a header value: itself when plain ASCII, else the Base64 sentinel form.
pub(crate) fn header_value(value: &str) -> String {
    use base64::Engine;
    let plain = value.bytes().all(|b| (0x20..0x7f).contains(&b)) && value.trim() == value;
    if plain {
        value.into()
    } else {
        format!(
            "=?base64?{}?=",
            base64::engine::general_purpose::STANDARD.encode(value)
        )
    }
}
