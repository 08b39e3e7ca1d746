//! Prompts.

use std::{future::Future, sync::Arc};

use serde_json::{Map, Value, json};

use crate::{Context, ToolError, Workload, resource::CompleteHandler, tool::BoxFuture};

/// A declared prompt argument.
#[derive(Debug, Clone)]
pub struct PromptArgument {
    /// Name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Whether it must be supplied.
    pub required: bool,
}

/// Produces a `GetPromptResult` object (`messages`, optional `description`) from arguments.
pub type PromptHandler =
    Arc<dyn Fn(Map<String, Value>, Context) -> BoxFuture<Result<Value, ToolError>> + Send + Sync>;

/// A prompt template.
#[derive(Clone)]
pub struct Prompt {
    /// Name.
    pub name: String,
    /// Declared arguments.
    pub arguments: Vec<PromptArgument>,
    /// Workload class of a `prompts/get`, for admission.
    pub workload: Workload,
    pub(crate) listing: Value,
    pub(crate) get: PromptHandler,
    pub(crate) complete: Option<CompleteHandler>,
}

/// Builds a [`Prompt`].
pub struct PromptBuilder {
    name: String,
    title: Option<String>,
    description: Option<String>,
    arguments: Vec<PromptArgument>,
    workload: Workload,
    complete: Option<CompleteHandler>,
}

impl PromptBuilder {
    /// A prompt named `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            title: None,
            description: None,
            arguments: Vec::new(),
            workload: Workload::Light,
            complete: None,
        }
    }

    /// Sets the workload class of a `prompts/get` (default [`Workload::Light`]).
    pub fn workload(mut self, w: Workload) -> Self {
        self.workload = w;
        self
    }

    /// Sets the title.
    pub fn title(mut self, t: &str) -> Self {
        self.title = Some(t.into());
        self
    }

    /// Sets the description.
    pub fn description(mut self, d: &str) -> Self {
        self.description = Some(d.into());
        self
    }

    /// Declares an argument.
    pub fn argument(mut self, name: &str, description: &str, required: bool) -> Self {
        self.arguments.push(PromptArgument {
            name: name.into(),
            description: Some(description.into()),
            required,
        });
        self
    }

    /// Sets completion of argument values.
    pub fn complete(
        mut self,
        f: impl Fn(&str, &str) -> Vec<String> + Send + Sync + 'static,
    ) -> Self {
        self.complete = Some(Arc::new(f));
        self
    }

    /// Finishes with the handler producing the prompt's messages.
    pub fn get<F, Fut>(self, f: F) -> Prompt
    where
        F: Fn(Map<String, Value>, Context) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Value, ToolError>> + Send + 'static,
    {
        let mut listing = Map::new();
        listing.insert("name".into(), json!(self.name));
        if let Some(t) = &self.title {
            listing.insert("title".into(), json!(t));
        }
        if let Some(d) = &self.description {
            listing.insert("description".into(), json!(d));
        }
        if !self.arguments.is_empty() {
            let args: Vec<Value> = self
                .arguments
                .iter()
                .map(|a| {
                    let mut m = json!({ "name": a.name, "required": a.required });
                    if let Some(d) = &a.description {
                        m["description"] = json!(d);
                    }
                    m
                })
                .collect();
            listing.insert("arguments".into(), Value::Array(args));
        }
        Prompt {
            name: self.name,
            arguments: self.arguments,
            workload: self.workload,
            listing: Value::Object(listing),
            get: Arc::new(move |args, cx| Box::pin(f(args, cx))),
            complete: self.complete,
        }
    }
}
