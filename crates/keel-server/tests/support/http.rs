//! HTTP helpers of the end-to-end tests: a running server with a client, and raw requests.

// Each test binary compiles this module and uses only part of it.
#![allow(dead_code)]

use reqwest::{Method, StatusCode, header::HeaderMap};
use serde_json::{Value, json};

use super::{
    KeelHttp, LATEST_LEGACY, MODERN, echo_params, echoed_text, expect_error, expect_result,
    initialize, notification, request, with_modern_meta, within,
};

pub(crate) const ACCEPT: &str = "application/json, text/event-stream";
pub(crate) const SESSION: &str = "mcp-session-id";

/// The server and a client for it.
pub(crate) struct Http {
    pub(crate) server: KeelHttp,
    pub(crate) client: reqwest::Client,
}

/// What came back.
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) text: String,
}

impl Reply {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| {
            panic!(
                "status {}: body is not JSON ({e}): {:?}",
                self.status, self.text
            )
        })
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts the status and that the body is a JSON-RPC error with `code` and `id`;
    /// returns the whole body.
    pub(crate) fn error(&self, status: StatusCode, code: i64, id: &Value) -> Value {
        assert_eq!(self.status, status, "wrong status; body: {}", self.text);
        let body = self.json();
        expect_error(&body, code, id);
        body
    }

    /// Asserts 200 with a JSON-RPC result for `id`; returns the result.
    pub(crate) fn result(&self, id: &Value) -> Value {
        assert_eq!(self.status, StatusCode::OK, "body: {}", self.text);
        let body = self.json();
        expect_result(&body, id).clone()
    }
}

impl Http {
    pub(crate) async fn start() -> Self {
        Self::over(KeelHttp::start().await)
    }

    /// A client for a server already started.
    pub(crate) fn over(server: KeelHttp) -> Self {
        Self {
            server,
            client: reqwest::Client::new(),
        }
    }

    /// `GET /readyz`: `(status, degraded reasons)`.
    pub(crate) async fn readiness(&self) -> (String, Vec<String>) {
        let url = format!("http://127.0.0.1:{}/readyz", self.server.port);
        let body: Value = within("GET /readyz", async {
            self.client.get(&url).send().await?.json().await
        })
        .await
        .expect("GET /readyz");
        let degraded = body["degraded"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|d| d.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        (
            body["status"].as_str().unwrap_or_default().to_owned(),
            degraded,
        )
    }

    /// Sends a request; `Content-Type` and `Accept` get MCP's values unless `headers` sets
    /// them.
    pub(crate) async fn send(
        &self,
        method: Method,
        headers: &[(&str, &str)],
        body: impl Into<reqwest::Body>,
    ) -> Reply {
        let has = |name: &str| headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(name));
        let mut rb = self.client.request(method, &self.server.url);
        if !has("content-type") {
            rb = rb.header("content-type", "application/json");
        }
        if !has("accept") {
            rb = rb.header("accept", ACCEPT);
        }
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        let response = within("HTTP response", rb.body(body).send())
            .await
            .expect("request failed");
        let status = response.status();
        let headers = response.headers().clone();
        let text = within("HTTP body", response.text())
            .await
            .expect("read body");
        Reply {
            status,
            headers,
            text,
        }
    }

    pub(crate) async fn post(&self, headers: &[(&str, &str)], body: &Value) -> Reply {
        self.send(Method::POST, headers, body.to_string()).await
    }

    /// A legacy request within `session` (negotiated at the newest legacy revision).
    pub(crate) async fn in_session(&self, session: &str, body: &Value) -> Reply {
        self.post(
            &[(SESSION, session), ("mcp-protocol-version", LATEST_LEGACY)],
            body,
        )
        .await
    }

    /// A modern request with the headers the body implies: `MCP-Protocol-Version`,
    /// `Mcp-Method`, and `Mcp-Name` for `tools/call`.
    pub(crate) async fn modern(&self, body: &Value) -> Reply {
        self.modern_with(&[], body).await
    }

    /// [`Self::modern`] with `extra` headers added.
    pub(crate) async fn modern_with(&self, extra: &[(&str, &str)], body: &Value) -> Reply {
        let method = body["method"].as_str().expect("method");
        let mut headers = vec![("mcp-protocol-version", MODERN), ("mcp-method", method)];
        if let Some(name) = body["params"]["name"]
            .as_str()
            .or_else(|| body["params"]["uri"].as_str())
        {
            headers.push(("mcp-name", name));
        }
        headers.extend_from_slice(extra);
        self.post(&headers, body).await
    }

    /// Initializes a legacy session at the newest legacy revision; returns its id.
    pub(crate) async fn open_session(&self) -> String {
        let r = self.post(&[], &initialize(1, LATEST_LEGACY)).await;
        let result = r.result(&json!(1));
        assert_eq!(result["protocolVersion"], LATEST_LEGACY);
        let session = r
            .header(SESSION)
            .unwrap_or_else(|| panic!("initialize gave no Mcp-Session-Id: {:?}", r.headers))
            .to_owned();
        let ack = self
            .in_session(&session, &notification("notifications/initialized"))
            .await;
        assert_eq!(ack.status, StatusCode::ACCEPTED, "body: {}", ack.text);
        session
    }

    /// The server still answers a modern echo call.
    pub(crate) async fn assert_alive(&mut self) {
        assert!(self.server.is_running(), "keel exited");
        let body = request(
            "alive",
            "tools/call",
            with_modern_meta(echo_params("still here")),
        );
        let r = self.modern(&body).await;
        assert_eq!(echoed_text(&r.result(&json!("alive"))), "still here");
    }
}

pub(crate) fn modern_call(id: i64, text: &str) -> Value {
    request(id, "tools/call", with_modern_meta(echo_params(text)))
}
