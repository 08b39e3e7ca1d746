//! The tool API: definitions, typed builders and the service every call goes through.

use std::{future::Future, pin::Pin, sync::Arc};

use schemars::JsonSchema;
use serde::{Serialize, de::DeserializeOwned};
use serde_json::{Map, Value, json};
use tower::util::BoxCloneSyncService;

use crate::{CallToolResult, Context, Failure, ToolError};

/// A boxed future returned by tool handlers.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// The class of work a tool, resource read or prompt does, so admission and bulkheads can
/// keep classes apart: one of four built-in classes, or a class of the server's own
/// ([`Workload::named`]) that its configuration defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Workload {
    /// Cheap work that finishes in microseconds (echo, lookups).
    #[default]
    Light,
    /// CPU-bound work on a worker pool.
    Cpu,
    /// Waiting on a database or another service.
    Io,
    /// Model inference.
    Ml,
    /// A class of the server's own, made by [`Workload::named`].
    Named(ClassName),
}

/// The name of a user-defined workload class. Made only by [`Workload::named`], so it never
/// spells a built-in class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClassName(&'static str);

impl ClassName {
    /// The name.
    pub const fn as_str(self) -> &'static str {
        self.0
    }
}

impl Workload {
    /// The built-in classes, in the order gauges and metrics list them.
    pub const BUILT_IN: [Self; 4] = [Self::Light, Self::Cpu, Self::Io, Self::Ml];

    /// The class called `name`: a built-in class when `name` spells one (`"cpu"` is
    /// [`Workload::Cpu`]), else a class of the server's own, which the server's
    /// configuration must define (`[admission.classes.NAME]`) or the server refuses to
    /// start. Names are `[a-z0-9_-]`.
    pub const fn named(name: &'static str) -> Self {
        match Self::built_in(name) {
            Some(w) => w,
            None => Self::Named(ClassName(name)),
        }
    }

    /// The built-in class spelled `name`, if any.
    pub const fn built_in(name: &str) -> Option<Self> {
        let mut i = 0;
        while i < Self::BUILT_IN.len() {
            if const_eq(Self::BUILT_IN[i].as_str(), name) {
                return Some(Self::BUILT_IN[i]);
            }
            i += 1;
        }
        None
    }

    /// Whether this is one of the four built-in classes.
    pub const fn is_built_in(self) -> bool {
        !matches!(self, Self::Named(_))
    }

    /// The label used in metrics and configuration.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Light => "light",
            Self::Cpu => "cpu",
            Self::Io => "io",
            Self::Ml => "ml",
            Self::Named(name) => name.0,
        }
    }
}

/// String equality usable in a `const fn`.
const fn const_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// Whether a tool may run as a task (tasks extension).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TaskSupport {
    /// Always answered inline.
    #[default]
    Forbidden,
    /// May run as a task when the client supports tasks.
    Optional,
    /// Must run as a task.
    Required,
}

/// Behaviour hints for clients (`ToolAnnotations`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Annotations {
    /// A display title.
    pub title: Option<String>,
    /// The tool does not modify its environment.
    pub read_only: Option<bool>,
    /// The tool may perform destructive updates.
    pub destructive: Option<bool>,
    /// Repeating a call with the same arguments has no additional effect.
    pub idempotent: Option<bool>,
    /// The tool interacts with an open world of external entities.
    pub open_world: Option<bool>,
}

impl Annotations {
    /// Read-only and idempotent: safe to cache and retry.
    pub fn read_only() -> Self {
        Self {
            read_only: Some(true),
            destructive: Some(false),
            idempotent: Some(true),
            ..Self::default()
        }
    }

    fn to_json(&self) -> Option<Value> {
        let mut m = Map::new();
        let mut put = |k: &str, v: Option<bool>| {
            if let Some(v) = v {
                m.insert(k.into(), Value::Bool(v));
            }
        };
        put("readOnlyHint", self.read_only);
        put("destructiveHint", self.destructive);
        put("idempotentHint", self.idempotent);
        put("openWorldHint", self.open_world);
        if let Some(t) = &self.title {
            m.insert("title".into(), Value::from(t.as_str()));
        }
        (!m.is_empty()).then_some(Value::Object(m))
    }
}

/// Everything a client learns about a tool from `tools/list`, plus what Keel's layers need.
#[derive(Debug, Clone)]
pub struct ToolDefinition {
    /// Unique name.
    pub name: String,
    /// Display title.
    pub title: Option<String>,
    /// What the tool does, for the model.
    pub description: Option<String>,
    /// JSON Schema (2020-12) of the arguments; its root is an object.
    pub input_schema: Value,
    /// JSON Schema of `structuredContent`, if the tool returns structured output.
    pub output_schema: Option<Value>,
    /// Behaviour hints.
    pub annotations: Annotations,
    /// Workload class for admission and bulkheads.
    pub workload: Workload,
    /// Task support (tasks extension).
    pub task_support: TaskSupport,
    /// Extra `_meta` on the definition.
    pub meta: Option<Value>,
    /// How results may be cached; `None`: never.
    pub cache: Option<crate::CachePolicy>,
    /// Tools (or cache tags) whose cached results a successful call of this tool makes
    /// obsolete.
    pub invalidates: Vec<String>,
}

impl ToolDefinition {
    /// The wire form for a given revision (`outputSchema` exists from 2025-06-18 on).
    pub fn to_wire(&self, structured_output: bool, tasks: bool) -> Value {
        let mut m = Map::new();
        m.insert("name".into(), Value::from(self.name.as_str()));
        if let Some(t) = &self.title {
            m.insert("title".into(), Value::from(t.as_str()));
        }
        if let Some(d) = &self.description {
            m.insert("description".into(), Value::from(d.as_str()));
        }
        m.insert("inputSchema".into(), self.input_schema.clone());
        if structured_output && let Some(o) = &self.output_schema {
            m.insert("outputSchema".into(), o.clone());
        }
        if let Some(a) = self.annotations.to_json() {
            m.insert("annotations".into(), a);
        }
        if tasks && self.task_support != TaskSupport::Forbidden {
            let s = if self.task_support == TaskSupport::Required {
                "required"
            } else {
                "optional"
            };
            m.insert("execution".into(), json!({ "taskSupport": s }));
        }
        if let Some(meta) = &self.meta {
            m.insert("_meta".into(), meta.clone());
        }
        Value::Object(m)
    }
}

/// The code behind a tool: receives validated arguments and a [`Context`].
pub trait ToolHandler: Send + Sync + 'static {
    /// Runs one call.
    fn call(
        &self,
        arguments: Value,
        context: Context,
    ) -> BoxFuture<Result<CallToolResult, ToolError>>;
}

impl<F, Fut> ToolHandler for F
where
    F: Fn(Value, Context) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<CallToolResult, ToolError>> + Send + 'static,
{
    fn call(
        &self,
        arguments: Value,
        context: Context,
    ) -> BoxFuture<Result<CallToolResult, ToolError>> {
        Box::pin(self(arguments, context))
    }
}

/// A tool ready to register: its definition and its handler.
#[derive(Clone)]
pub struct Tool {
    /// The definition.
    pub definition: ToolDefinition,
    /// The handler.
    pub handler: Arc<dyn ToolHandler>,
    /// What answers when a dependency fails the call and no stale cached result can.
    pub fallback: Option<Arc<dyn ToolFallback>>,
}

/// The key under which a fallback's answer says why it answered, in the result's `_meta`.
pub const FALLBACK_META_KEY: &str = "io.keel/fallback";

/// A tool's fallback: given the arguments, the context and the failure, an answer of its
/// own (an alternate dependency, a degraded result), or the failure to return.
pub trait ToolFallback: Send + Sync + 'static {
    /// Answers instead of the failed call.
    fn answer(
        &self,
        arguments: Value,
        context: Context,
        failure: Failure,
    ) -> BoxFuture<Result<CallToolResult, ToolError>>;
}

impl<F, Fut> ToolFallback for F
where
    F: Fn(Value, Context, Failure) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<CallToolResult, ToolError>> + Send + 'static,
{
    fn answer(
        &self,
        arguments: Value,
        context: Context,
        failure: Failure,
    ) -> BoxFuture<Result<CallToolResult, ToolError>> {
        Box::pin(self(arguments, context, failure))
    }
}

impl Tool {
    /// Declares a fallback: when a call fails because a dependency is unwell (a dependency,
    /// transient or timeout failure, an open circuit) and the cache has no stale result to
    /// give, `fallback` answers instead. Its answer is marked in `_meta["io.keel/fallback"]`
    /// with the failure it stands in for, and is never cached.
    pub fn with_fallback(mut self, fallback: impl ToolFallback) -> Self {
        self.fallback = Some(Arc::new(fallback));
        self
    }
}

/// One tool call as it travels through the layers around tools.
pub struct ToolCall {
    /// The tool's registry entry.
    pub tool: Arc<crate::ToolEntry>,
    /// The arguments (an object).
    pub arguments: Value,
    /// The call's context.
    pub context: Context,
}

impl ToolCall {
    /// Who the call acts for, for layers that key on it (caches, rate limits, audit).
    pub fn principal(&self) -> &crate::Principal {
        self.context.principal()
    }

    /// Whether the call carries input from the client (answers of earlier rounds, or a
    /// task's input channel): its result belongs to this exchange and is never shared.
    pub fn carries_input(&self) -> bool {
        self.context.carries_input()
    }
}

/// The service stack every tool call goes through: layers wrap the innermost service that
/// validates arguments and runs the handler.
pub type ToolService = BoxCloneSyncService<ToolCall, CallToolResult, ToolError>;

/// Builds a [`Tool`].
pub struct ToolBuilder {
    definition: ToolDefinition,
}

fn schema_of<T: JsonSchema>() -> Value {
    let mut v = serde_json::to_value(schemars::schema_for!(T)).unwrap_or_else(|_| json!({}));
    if let Some(m) = v.as_object_mut() {
        // Titles are Rust type names; clients show the tool's own title instead.
        m.remove("title");
        m.entry("type").or_insert_with(|| Value::from("object"));
    }
    v
}

impl ToolBuilder {
    /// A tool whose arguments are described by a raw JSON Schema.
    pub fn new(name: impl Into<String>, input_schema: Value) -> Self {
        Self {
            definition: ToolDefinition {
                name: name.into(),
                title: None,
                description: None,
                input_schema,
                output_schema: None,
                annotations: Annotations::default(),
                workload: Workload::Light,
                task_support: TaskSupport::Forbidden,
                meta: None,
                cache: None,
                invalidates: Vec::new(),
            },
        }
    }

    /// A tool whose arguments are the type `A`; its schema comes from `schemars`.
    pub fn typed<A: JsonSchema>(name: impl Into<String>) -> Self {
        Self::new(name, schema_of::<A>())
    }

    /// Sets the description.
    pub fn description(mut self, d: impl Into<String>) -> Self {
        self.definition.description = Some(d.into());
        self
    }

    /// Sets the display title.
    pub fn title(mut self, t: impl Into<String>) -> Self {
        self.definition.title = Some(t.into());
        self
    }

    /// Sets behaviour hints.
    pub fn annotations(mut self, a: Annotations) -> Self {
        self.definition.annotations = a;
        self
    }

    /// Sets the workload class.
    pub fn workload(mut self, w: Workload) -> Self {
        self.definition.workload = w;
        self
    }

    /// Sets task support.
    pub fn task_support(mut self, t: TaskSupport) -> Self {
        self.definition.task_support = t;
        self
    }

    /// Declares structured output of type `O`.
    pub fn output<O: JsonSchema>(mut self) -> Self {
        self.definition.output_schema = Some(schema_of::<O>());
        self
    }

    /// Declares structured output with a raw schema.
    pub fn output_schema(mut self, schema: Value) -> Self {
        self.definition.output_schema = Some(schema);
        self
    }

    /// Lets the tool's results be cached under `policy` (a server's configuration may
    /// override it). Only for tools whose result is a function of their arguments (and,
    /// with [`CacheScope::PerPrincipal`](crate::CacheScope), of the caller).
    pub fn cache(mut self, policy: crate::CachePolicy) -> Self {
        self.definition.cache = Some(policy);
        self
    }

    /// Declares that a successful call makes the cached results of `target` obsolete (a
    /// tool name or a cache tag). Such a tool is a writer: its own results are never
    /// cached, whatever policy it declares.
    pub fn invalidates(mut self, target: impl Into<String>) -> Self {
        self.definition.invalidates.push(target.into());
        self
    }

    /// Sets `_meta` on the definition.
    pub fn meta(mut self, meta: Value) -> Self {
        self.definition.meta = Some(meta);
        self
    }

    /// Finishes with a handler taking raw JSON arguments.
    pub fn handler(self, handler: impl ToolHandler) -> Tool {
        Tool {
            definition: self.definition,
            handler: Arc::new(handler),
            fallback: None,
        }
    }

    /// Finishes with a handler taking typed arguments `A`.
    pub fn typed_handler<A, F, Fut>(self, f: F) -> Tool
    where
        A: DeserializeOwned + Send + 'static,
        F: Fn(A, Context) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<CallToolResult, ToolError>> + Send + 'static,
    {
        let f = Arc::new(f);
        self.handler(move |args: Value, cx: Context| {
            let f = Arc::clone(&f);
            async move {
                let args: A = serde_json::from_value(args).map_err(ToolError::invalid_arguments)?;
                f(args, cx).await
            }
        })
    }

    /// Finishes with a typed handler returning structured output `O`, rendered as text by
    /// `render`; the output schema is derived from `O`.
    pub fn structured_handler<A, O, F, Fut>(mut self, render: fn(&O) -> String, f: F) -> Tool
    where
        A: DeserializeOwned + Send + 'static,
        O: Serialize + JsonSchema + Send + 'static,
        F: Fn(A, Context) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<O, ToolError>> + Send + 'static,
    {
        if self.definition.output_schema.is_none() {
            self.definition.output_schema = Some(schema_of::<O>());
        }
        let f = Arc::new(f);
        self.typed_handler(move |args: A, cx: Context| {
            let f = Arc::clone(&f);
            async move {
                let out = f(args, cx).await?;
                let text = render(&out);
                let value = serde_json::to_value(&out).map_err(ToolError::failed)?;
                Ok(CallToolResult::structured(value, text))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_classes_keep_their_name_and_built_in_names_are_the_built_ins() {
        const REPORTS: Workload = Workload::named("reports");
        assert_eq!(REPORTS.as_str(), "reports");
        assert!(!REPORTS.is_built_in());
        assert_eq!(REPORTS, Workload::named("reports"));
        assert_ne!(REPORTS, Workload::named("report"));
        for w in Workload::BUILT_IN {
            assert_eq!(Workload::named(w.as_str()), w);
            assert_eq!(Workload::built_in(w.as_str()), Some(w));
            assert!(w.is_built_in());
        }
        assert_eq!(Workload::built_in("reports"), None);
        assert_eq!(Workload::built_in("CPU"), None);
        // Still a small `Copy` value.
        let copy = REPORTS;
        assert_eq!(copy, REPORTS);
        assert!(std::mem::size_of::<Workload>() <= 24);
    }
}
