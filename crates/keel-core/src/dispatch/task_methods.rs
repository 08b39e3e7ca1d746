//! `tasks/get`, `tasks/update` and `tasks/cancel` (tasks extension, modern only).

use keel_protocol::{RpcError, meta, methods};
use serde_json::{Map, Value, json};

use super::{ParsedRequest, RequestEnv, Router};

/// The error for clients that did not declare the tasks extension.
pub(crate) fn tasks_capability_missing() -> RpcError {
    RpcError::missing_capability(json!({ "extensions": { meta::TASKS_EXTENSION: {} } }))
}

impl Router {
    pub(super) fn task_method(
        &self,
        req: &ParsedRequest,
        env: &RequestEnv,
    ) -> Result<Map<String, Value>, RpcError> {
        if !Self::client_caps(req, env).tasks {
            return Err(tasks_capability_missing());
        }
        let id = req.required_str("taskId")?;
        let principal = &env.principal;
        match req.method.as_str() {
            methods::TASKS_GET => self.tasks.get(id, principal),
            methods::TASKS_UPDATE => {
                let responses = match req.params.get("inputResponses") {
                    None | Some(Value::Null) => Map::new(),
                    Some(Value::Object(r)) => r.clone(),
                    Some(_) => {
                        return Err(RpcError::invalid_params("inputResponses must be an object"));
                    }
                };
                self.tasks
                    .update(id, principal, &responses)
                    .map(|()| Map::new())
            }
            _ => self.tasks.cancel(id, principal).map(|()| Map::new()),
        }
    }
}
