//! Bounds on what a request's params may hold, checked before anything runs: no string
//! longer than `max_string_bytes`, no nesting deeper than `max_depth`. The message decoder
//! already bounds the whole body and its nesting (128 levels); these are the tighter,
//! configurable bounds a tool's arguments meet, refused with `-32602` naming where.
//!
//! The check is synchronous, so the layer adds no boxed future: its future is the inner
//! one or a ready refusal.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use keel_core::{MethodRequest, Reply};
use keel_protocol::{ErrorCode, RpcError};
use pin_project_lite::pin_project;
use serde_json::{Map, Value, json};
use tower::{Layer, Service};

/// The bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputLimits {
    /// Longest string (a value or an object key), in bytes.
    pub max_string_bytes: usize,
    /// Deepest nesting of objects and arrays, params being level 1 (`arguments` 2, an
    /// object inside it 3, …).
    pub max_depth: usize,
}

impl Default for InputLimits {
    fn default() -> Self {
        Self {
            max_string_bytes: 1024 * 1024,
            max_depth: 32,
        }
    }
}

/// Where a bound was passed: the JSON Pointer and what was passed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Violation {
    /// Segments from the innermost out.
    path: Vec<String>,
    what: String,
}

impl InputLimits {
    /// The `-32602` reply refusing `request`, naming its first violation; `None` when its
    /// params are within the bounds.
    pub(crate) fn refusal(&self, request: &MethodRequest) -> Option<Reply> {
        let violation = self.check(&request.request().params).err()?;
        let pointer: String = violation
            .path
            .iter()
            .rev()
            .flat_map(|s| ["/", s.as_str()])
            .collect();
        let error = RpcError::new(
            ErrorCode::INVALID_PARAMS,
            format!("params{pointer}: {}", violation.what),
        )
        .with_data(json!({ "kind": "invalid_input", "pointer": pointer }));
        Some(request.refuse(&error))
    }

    /// Checks params; the first violation found.
    fn check(&self, params: &Map<String, Value>) -> Result<(), Violation> {
        self.object(params, 1)
    }

    fn object(&self, members: &Map<String, Value>, depth: usize) -> Result<(), Violation> {
        for (key, value) in members {
            if key.len() > self.max_string_bytes {
                return Err(Violation {
                    path: Vec::new(),
                    what: format!("a key longer than {} bytes", self.max_string_bytes),
                });
            }
            self.value(value, depth).map_err(|mut v| {
                v.path.push(escape(key));
                v
            })?;
        }
        Ok(())
    }

    fn value(&self, value: &Value, depth: usize) -> Result<(), Violation> {
        match value {
            Value::String(s) if s.len() > self.max_string_bytes => Err(Violation {
                path: Vec::new(),
                what: format!(
                    "a string of {} bytes (at most {})",
                    s.len(),
                    self.max_string_bytes
                ),
            }),
            Value::Object(_) | Value::Array(_) if depth >= self.max_depth => Err(Violation {
                path: Vec::new(),
                what: format!("nesting deeper than {} levels", self.max_depth),
            }),
            Value::Object(members) => self.object(members, depth + 1),
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.value(item, depth + 1).map_err(|mut v| {
                        v.path.push(i.to_string());
                        v
                    })?;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

/// A JSON Pointer segment (RFC 6901).
fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// Wraps the request service with [`InputLimitsService`].
#[derive(Debug, Clone, Copy, Default)]
pub struct InputLimitsLayer {
    limits: InputLimits,
}

impl InputLimitsLayer {
    /// Refuses requests past `limits`.
    pub fn new(limits: InputLimits) -> Self {
        Self { limits }
    }

    /// The bounds.
    pub fn limits(&self) -> InputLimits {
        self.limits
    }
}

impl<S> Layer<S> for InputLimitsLayer {
    type Service = InputLimitsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        InputLimitsService {
            inner,
            limits: self.limits,
        }
    }
}

/// See the [module](self) documentation.
#[derive(Debug, Clone)]
pub struct InputLimitsService<S> {
    inner: S,
    limits: InputLimits,
}

impl<S> Service<MethodRequest> for InputLimitsService<S>
where
    S: Service<MethodRequest, Response = Reply, Error = Infallible>,
{
    type Response = Reply;
    type Error = Infallible;
    type Future = LimitsFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: MethodRequest) -> Self::Future {
        match self.limits.refusal(&request) {
            None => LimitsFuture {
                inner: Some(self.inner.call(request)),
                refused: None,
            },
            Some(refused) => LimitsFuture {
                inner: None,
                refused: Some(refused),
            },
        }
    }
}

pin_project! {
    /// The inner call's future, or a refusal ready at once.
    pub struct LimitsFuture<F> {
        #[pin]
        inner: Option<F>,
        refused: Option<Reply>,
    }
}

impl<F> Future for LimitsFuture<F>
where
    F: Future<Output = Result<Reply, Infallible>>,
{
    type Output = Result<Reply, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Some(reply) = this.refused.take() {
            return Poll::Ready(Ok(reply));
        }
        match this.inner.as_pin_mut() {
            Some(inner) => inner.poll(cx),
            None => panic!("LimitsFuture polled after completion"),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn check(limits: InputLimits, params: Value) -> Result<(), (String, String)> {
        limits.check(params.as_object().unwrap()).map_err(|v| {
            (
                v.path.into_iter().rev().collect::<Vec<_>>().join("/"),
                v.what,
            )
        })
    }

    #[test]
    fn strings_and_nesting_past_the_bounds_are_found_where_they_are() {
        let limits = InputLimits {
            max_string_bytes: 12,
            max_depth: 3,
        };
        assert!(
            check(
                limits,
                json!({ "arguments": { "a": "short", "b": [1, 2] } })
            )
            .is_ok()
        );
        let (at, what) = check(
            limits,
            json!({ "arguments": { "list": ["ok", "far too long!!"] } }),
        )
        .unwrap_err();
        assert_eq!(at, "arguments/list/1");
        assert!(what.contains("14 bytes"), "{what}");
        let (at, what) = check(limits, json!({ "arguments": { "a/b": { "c": [] } } })).unwrap_err();
        assert_eq!(at, "arguments/a~1b/c");
        assert!(what.contains("3 levels"), "{what}");
        let (_, what) = check(limits, json!({ "a-very-long-key": 1 })).unwrap_err();
        assert!(what.contains("key"), "{what}");
        // Hostile content within the bounds is data, not a violation.
        assert!(check(limits, json!({ "x": "\u{0}\u{202e}", "__proto__": {} })).is_ok());
    }
}
