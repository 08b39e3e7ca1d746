//! Before the load: the era (asked with `server/discover` unless given), legacy sessions
//! with their handshakes, and the tool list when arguments must be synthesized.

use std::sync::Arc;

use http::HeaderValue;
use serde_json::{Value, json};

use crate::client::{Channel, Endpoint, RequestHeaders, StdioPeer};
use crate::mcp::{self, Era, LEGACY_VERSION, MODERN_VERSION};
use crate::run::BenchError;
use crate::workload::ToolInfo;

/// Pages of `tools/list` followed at most.
const MAX_PAGES: usize = 50;

/// Where the load goes.
#[derive(Clone)]
pub(crate) enum Target {
    /// An HTTP endpoint (each worker opens its own connection).
    Http(Arc<Endpoint>),
    /// A child process (workers share its pipe).
    Stdio(Arc<StdioPeer>),
}

impl Target {
    /// A fresh channel to the target.
    pub(crate) fn channel(&self) -> Channel {
        match self {
            Target::Http(endpoint) => Channel::Http {
                endpoint: Arc::clone(endpoint),
                connection: None,
            },
            Target::Stdio(peer) => Channel::Stdio(Arc::clone(peer)),
        }
    }
}

/// A negotiated way of talking to the server.
pub(crate) struct Session {
    pub(crate) era: Era,
    pub(crate) version: String,
    /// The session id (legacy HTTP servers that keep sessions).
    pub(crate) id: Option<HeaderValue>,
}

impl Session {
    pub(crate) fn headers(&self, method: &str, name: Option<&str>) -> RequestHeaders {
        RequestHeaders {
            protocol_version: HeaderValue::try_from(self.version.as_str()).ok(),
            method: (self.era == Era::Modern)
                .then(|| HeaderValue::try_from(method).ok())
                .flatten(),
            name: (self.era == Era::Modern)
                .then(|| name.and_then(mcp::name_header))
                .flatten(),
            session: self.id.clone(),
            params: Vec::new(),
        }
    }

    /// One request with literal params; its result or why there is none.
    pub(crate) async fn request(
        &self,
        channel: &mut Channel,
        id: u64,
        method: &str,
        params: Value,
    ) -> Result<Value, String> {
        let body = mcp::plain_request(self.era, id, method, params);
        let headers = self.headers(method, None);
        let answer = channel
            .exchange(&headers, id, &body)
            .await
            .map_err(|e| format!("{e:?}"))?;
        mcp::result_of(&answer)
    }
}

/// Whether the server speaks 2026-07-28 (its `server/discover` lists it).
pub(crate) async fn discover(channel: &mut Channel) -> Era {
    let probe = Session {
        era: Era::Modern,
        version: MODERN_VERSION.into(),
        id: None,
    };
    match probe
        .request(channel, 1, "server/discover", json!({}))
        .await
    {
        Ok(result) => {
            let listed = result
                .get("supportedVersions")
                .and_then(Value::as_array)
                .is_some_and(|v| v.iter().any(|v| v == MODERN_VERSION));
            if listed { Era::Modern } else { Era::Legacy }
        }
        Err(_) => Era::Legacy,
    }
}

/// A modern "session": nothing to open.
pub(crate) fn modern() -> Session {
    Session {
        era: Era::Modern,
        version: MODERN_VERSION.into(),
        id: None,
    }
}

/// Opens a legacy session: `initialize`, then `notifications/initialized`.
pub(crate) async fn open_legacy(channel: &mut Channel, id: u64) -> Result<Session, BenchError> {
    let body = mcp::plain_request(
        Era::Legacy,
        id,
        "initialize",
        json!({
            "protocolVersion": LEGACY_VERSION,
            "capabilities": {"elicitation": {}, "sampling": {}, "roots": {}},
            "clientInfo": {"name": "keel-bench", "version": env!("CARGO_PKG_VERSION")},
        }),
    );
    let headers = RequestHeaders {
        protocol_version: None,
        ..RequestHeaders::default()
    };
    let answer = channel
        .exchange(&headers, id, &body)
        .await
        .map_err(|e| BenchError::Handshake(format!("initialize: {e:?}")))?;
    let session_id = answer
        .session_id
        .as_deref()
        .and_then(|s| HeaderValue::try_from(s).ok());
    let result =
        mcp::result_of(&answer).map_err(|e| BenchError::Handshake(format!("initialize: {e}")))?;
    let version = result
        .get("protocolVersion")
        .and_then(Value::as_str)
        .unwrap_or(LEGACY_VERSION)
        .to_owned();
    let session = Session {
        era: Era::Legacy,
        version,
        id: session_id,
    };
    let initialized =
        serde_json::to_vec(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .unwrap_or_default();
    channel
        .notify(
            &session.headers("notifications/initialized", None),
            &initialized,
        )
        .await
        .map_err(|e| BenchError::Handshake(format!("notifications/initialized: {e:?}")))?;
    Ok(session)
}

/// Every tool the server lists (following pagination).
pub(crate) async fn list_tools(
    session: &Session,
    channel: &mut Channel,
) -> Result<Vec<ToolInfo>, BenchError> {
    let mut tools = Vec::new();
    let mut cursor: Option<String> = None;
    for page in 0..MAX_PAGES {
        let params = match &cursor {
            Some(c) => json!({ "cursor": c }),
            None => json!({}),
        };
        let result = session
            .request(channel, 1000 + page as u64, "tools/list", params)
            .await
            .map_err(|e| BenchError::Handshake(format!("tools/list: {e}")))?;
        for t in result
            .get("tools")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(name) = t.get("name").and_then(Value::as_str) {
                tools.push(ToolInfo {
                    name: name.to_owned(),
                    input_schema: t.get("inputSchema").cloned().unwrap_or(Value::Null),
                });
            }
        }
        cursor = result
            .get("nextCursor")
            .and_then(Value::as_str)
            .map(str::to_owned);
        if cursor.is_none() {
            break;
        }
    }
    Ok(tools)
}
