//! Lifecycle methods: legacy `initialize` / `logging/setLevel`, modern `server/discover` and
//! `subscriptions/listen`.

use std::sync::Arc;

use keel_protocol::{
    ErrorCode, ProtocolVersion, RequestId, RpcError, SUPPORTED_VERSIONS, encode_notification,
    encode_result, meta, methods, negotiate_legacy,
};
use serde_json::{Map, Value, json};

use super::{ParsedRequest, Reply, RequestEnv, Router};
use crate::{ClientCaps, ListChange, LogLevel, Outbound};

/// When a client refused for want of session room should try again.
const SESSIONS_FULL_RETRY: std::time::Duration = std::time::Duration::from_secs(1);

impl Router {
    fn capabilities(&self, version: ProtocolVersion) -> Value {
        let mut caps = json!({
            "tools": { "listChanged": true },
            "resources": { "subscribe": true, "listChanged": true },
            "prompts": { "listChanged": true },
            "completions": {},
            "logging": {},
        });
        if version == ProtocolVersion::V2026_07_28 {
            caps["resources"] = json!({ "listChanged": true });
            if self.registry.has_task_tools() {
                caps["extensions"] = json!({ meta::TASKS_EXTENSION: {} });
            }
        }
        caps
    }

    pub(super) async fn initialize(
        &self,
        id: &RequestId,
        req: &ParsedRequest,
        env: &RequestEnv,
    ) -> Reply {
        let requested = match req.required_str("protocolVersion") {
            Ok(v) => v,
            Err(e) => return Reply::error(Some(id), &e),
        };
        let version = negotiate_legacy(requested);
        let caps = ClientCaps::from_json(req.params.get("capabilities"));
        let mut result = json!({
            "protocolVersion": version.as_str(),
            "capabilities": self.capabilities(version),
            "serverInfo": { "name": self.info.name, "version": self.info.version },
        });
        if let Some(i) = &self.info.instructions {
            result["instructions"] = json!(i);
        }
        if env.sessions_enabled && self.sessions.len() >= self.settings.max_sessions {
            let e = RpcError::new(
                ErrorCode::SERVER_OVERLOADED,
                "too many live sessions; retry later",
            )
            .with_data(json!({
                "kind": "overloaded",
                "limit": "sessions",
                "retryAfterMs": SESSIONS_FULL_RETRY.as_millis() as u64,
                "retryable": true,
            }));
            let mut reply = Reply::error(Some(id), &e);
            reply.retry_after = Some(SESSIONS_FULL_RETRY);
            return reply;
        }
        let created = if env.sessions_enabled {
            let session = self.new_session(version, caps, env.principal.clone());
            self.sessions.insert(Arc::clone(&session)).await;
            Some(session)
        } else {
            None
        };
        Reply {
            body: Some(encode_result(id, &result)),
            error: None,
            created_session: created,
            challenge: None,
            retry_after: None,
        }
    }

    pub(super) fn set_level(
        &self,
        req: &ParsedRequest,
        env: &RequestEnv,
    ) -> Result<Map<String, Value>, RpcError> {
        let level = req.required_str("level")?;
        let level = LogLevel::parse(level)
            .ok_or_else(|| RpcError::invalid_params(format!("unknown log level {level}")))?;
        if let Some(s) = &env.session {
            s.set_log_level(level);
        }
        Ok(Map::new())
    }

    pub(super) fn discover(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("supportedVersions".into(), json!(SUPPORTED_VERSIONS));
        m.insert(
            "capabilities".into(),
            self.capabilities(ProtocolVersion::V2026_07_28),
        );
        if let Some(i) = &self.info.instructions {
            m.insert("instructions".into(), json!(i));
        }
        m
    }

    /// Legacy `resources/subscribe` / `resources/unsubscribe`: recorded on the session, whose
    /// transport delivers `notifications/resources/updated` for it.
    pub(super) fn subscription(
        req: &ParsedRequest,
        env: &RequestEnv,
    ) -> Result<Map<String, Value>, RpcError> {
        let uri = req.required_str("uri")?;
        let Some(session) = &env.session else {
            return Err(RpcError::invalid_request(
                "resource subscriptions need a session: send Mcp-Session-Id from initialize",
            ));
        };
        if req.method == methods::RESOURCES_UNSUBSCRIBE {
            session.unsubscribe(uri);
        } else if !session.subscribe(uri) {
            return Err(RpcError::invalid_params(format!(
                "a session holds at most {} subscriptions",
                crate::session::MAX_SUBSCRIPTIONS
            )));
        }
        Ok(Map::new())
    }

    /// Acknowledges the filter, then forwards the changes it selects until the client goes
    /// away; when the server drains, it ends with a response naming the subscription.
    pub(super) async fn listen(
        &self,
        req: &ParsedRequest,
        env: &RequestEnv,
    ) -> Result<Map<String, Value>, RpcError> {
        let filter = match req.params.get("notifications") {
            Some(Value::Object(f)) => f.clone(),
            Some(_) => return Err(RpcError::invalid_params("notifications must be an object")),
            None => return Err(RpcError::invalid_params("missing notifications")),
        };
        let Some(tx) = &env.outbound else {
            return Err(RpcError::internal(
                "this transport cannot hold a subscription stream",
            ));
        };
        let mut changes = self.changes.subscribe();
        let subscription = req.id.as_ref().map(|i| json!(i)).unwrap_or(Value::Null);
        let tag = json!({ meta::SUBSCRIPTION_ID: subscription });
        let params = json!({ "notifications": filter, "_meta": tag });
        let ack = encode_notification(methods::SUBSCRIPTIONS_ACKNOWLEDGED, Some(&params));
        if tx.send(Outbound::Notification(ack)).is_err() {
            return Err(RpcError::internal("subscription stream closed"));
        }
        let wants = |key: &str| filter.get(key).and_then(Value::as_bool).unwrap_or(false);
        let watched: Vec<String> = filter
            .get("resourceSubscriptions")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|u| u.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        loop {
            let change = tokio::select! {
                c = changes.recv() => c,
                () = env.cancel.cancelled() => return Ok(Map::new()),
                // The server ends the subscription gracefully: a response naming it.
                () = self.shutdown().drained() => {
                    let mut closing = Map::new();
                    closing.insert("_meta".into(), tag);
                    return Ok(closing);
                }
            };
            let (method, extra) = match change {
                Ok(ListChange::Tools) if wants("toolsListChanged") => {
                    (methods::TOOLS_LIST_CHANGED, None)
                }
                Ok(ListChange::Prompts) if wants("promptsListChanged") => {
                    (methods::PROMPTS_LIST_CHANGED, None)
                }
                Ok(ListChange::Resources) if wants("resourcesListChanged") => {
                    (methods::RESOURCES_LIST_CHANGED, None)
                }
                Ok(ListChange::ResourceUpdated(uri)) if watched.contains(&uri) => {
                    (methods::RESOURCES_UPDATED, Some(uri))
                }
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return Ok(Map::new()),
            };
            let mut p = json!({ "_meta": tag });
            if let Some(uri) = extra {
                p["uri"] = json!(uri);
            }
            if tx
                .send(Outbound::Notification(encode_notification(
                    method,
                    Some(&p),
                )))
                .is_err()
            {
                return Ok(Map::new());
            }
        }
    }
}
