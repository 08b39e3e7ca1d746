//! Answers a call with its tool's declared fallback when a dependency failed it.
//!
//! It sits outside the result cache: a stale cached result (the cache's own fallback) is
//! preferred, the tool's fallback answers only when the cache has none, and its answer is
//! never stored. Calls to tools without a fallback pass straight through.

use std::task::{Context as TaskContext, Poll};

use keel_core::{BoxFuture, CallToolResult, FALLBACK_META_KEY, ToolCall, ToolError};
use serde_json::Value;
use tower::{Layer, Service};

/// Wraps services with [`FallbackService`].
#[derive(Debug, Clone, Copy, Default)]
pub struct FallbackLayer;

impl<S> Layer<S> for FallbackLayer {
    type Service = FallbackService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        FallbackService { inner }
    }
}

/// See the [module](self) documentation.
#[derive(Debug, Clone)]
pub struct FallbackService<S> {
    inner: S,
}

impl<S> Service<ToolCall> for FallbackService<S>
where
    S: Service<ToolCall, Response = CallToolResult, Error = ToolError> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = CallToolResult;
    type Error = ToolError;
    type Future = BoxFuture<Result<CallToolResult, ToolError>>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), ToolError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, call: ToolCall) -> Self::Future {
        let Some(fallback) = call.tool.fallback().cloned() else {
            return Box::pin(self.inner.call(call));
        };
        // The arguments are kept only for tools that may need them again.
        let (arguments, context) = (call.arguments.clone(), call.context.clone());
        let inner = self.inner.call(call);
        Box::pin(async move {
            let failure = match inner.await {
                Err(ToolError::Failed(f)) if f.kind().is_dependency_failure() => f,
                other => return other,
            };
            let reason = Value::Object(failure.describe());
            let mut answer = fallback.answer(arguments, context, failure).await?;
            answer.meta.get_or_insert_with(Default::default).insert(
                FALLBACK_META_KEY.into(),
                serde_json::json!({ "reason": reason }),
            );
            Ok(answer)
        })
    }
}

/// Whether the registry declares any fallback (the layer is left out otherwise).
pub fn any_fallback(registry: &keel_core::Registry) -> bool {
    registry.tools().iter().any(|t| t.fallback().is_some())
}

#[cfg(test)]
mod tests {
    use keel_core::{Context, Failure, Registry, ToolBuilder};
    use serde_json::json;
    use tower::{ServiceExt, util::BoxCloneSyncService};

    use super::*;
    use crate::test_support::call;

    fn registry() -> Registry {
        let quote = ToolBuilder::new("quote", json!({"type": "object"}))
            .handler(|args: Value, _: Context| async move {
                match args["fail"].as_str() {
                    Some("dependency") => Err(Failure::dependency("api:quotes", "refused").into()),
                    Some("input") => Err(Failure::invalid_input("no such symbol").into()),
                    _ => Ok(CallToolResult::text("live quote")),
                }
            })
            .with_fallback(|args: Value, _: Context, failure: Failure| async move {
                assert!(failure.kind().is_dependency_failure());
                Ok(CallToolResult::text(format!(
                    "yesterday's close for {}",
                    args["symbol"]
                )))
            });
        Registry::builder().tool(quote).build().unwrap()
    }

    #[tokio::test]
    async fn a_dependency_failure_is_answered_by_the_fallback_and_marked() {
        let reg = registry();
        let svc = FallbackLayer.layer(BoxCloneSyncService::new(
            keel_core::Dispatcher::base_tool_service(),
        ));
        let live = svc
            .clone()
            .oneshot(call(&reg, "quote", json!({})))
            .await
            .unwrap();
        assert!(live.meta.is_none());
        let degraded = svc
            .clone()
            .oneshot(call(
                &reg,
                "quote",
                json!({"fail": "dependency", "symbol": "KEEL"}),
            ))
            .await
            .unwrap();
        assert!(!degraded.is_error);
        assert_eq!(
            degraded.content[0]["text"],
            "yesterday's close for \"KEEL\""
        );
        let reason = &degraded.meta.unwrap()[FALLBACK_META_KEY]["reason"];
        assert_eq!(reason["dependency"], "api:quotes");
        // The caller's own mistakes are not papered over.
        let err = svc
            .oneshot(call(&reg, "quote", json!({"fail": "input"})))
            .await
            .unwrap_err();
        assert!(matches!(err, ToolError::Failed(_)));
        assert!(any_fallback(&reg));
    }
}
