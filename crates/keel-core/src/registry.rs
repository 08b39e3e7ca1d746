//! The immutable registry: tools, resources and prompts, built once and shared by `Arc`.

use std::sync::Arc;

// Looked up by name on every call: a fast hasher (the names are the server's own, so no
// caller can choose colliding keys).
use foldhash::HashMap;

use serde_json::Value;

use crate::{
    Prompt, Resource, ResourceTarget, ResourceTemplate, Tool, ToolDefinition, ToolHandler,
    schema::{CompiledSchema, SchemaError, header_params},
};

/// A registered tool: its definition, compiled input schema and precomputed wire forms.
pub struct ToolEntry {
    /// The definition.
    pub definition: ToolDefinition,
    pub(crate) handler: Arc<dyn ToolHandler>,
    pub(crate) fallback: Option<Arc<dyn crate::ToolFallback>>,
    pub(crate) schema: CompiledSchema,
    /// `x-mcp-header` parameters: header name and property path.
    pub header_params: Vec<(String, Vec<String>)>,
    /// Listing forms: without output schema, with it, and with it plus task support.
    wire: [Value; 3],
}

impl ToolEntry {
    /// Checks arguments against the input schema.
    pub fn check_arguments(&self, arguments: &Value) -> Result<(), String> {
        self.schema.check(arguments)
    }

    /// Runs the handler directly (the innermost service of the tool stack).
    pub fn handler(&self) -> &Arc<dyn ToolHandler> {
        &self.handler
    }

    /// The tool's fallback, if it declares one.
    pub fn fallback(&self) -> Option<&Arc<dyn crate::ToolFallback>> {
        self.fallback.as_ref()
    }

    pub(crate) fn wire(&self, structured: bool, tasks: bool) -> &Value {
        &self.wire[usize::from(structured) + usize::from(structured && tasks)]
    }
}

/// Everything the server offers, in deterministic order.
pub struct Registry {
    pub(crate) tools: Vec<Arc<ToolEntry>>,
    tool_index: HashMap<String, usize>,
    pub(crate) resources: Vec<Resource>,
    resource_index: HashMap<String, usize>,
    pub(crate) templates: Vec<ResourceTemplate>,
    pub(crate) prompts: Vec<Prompt>,
    prompt_index: HashMap<String, usize>,
}

impl Registry {
    /// Starts a registry.
    pub fn builder() -> RegistryBuilder {
        RegistryBuilder::default()
    }

    /// Adds a resource to a built registry (for resources that need what is built from
    /// the registry itself, such as a cache's statistics); refuses a URI already offered.
    pub fn with_resource(mut self, r: Resource) -> Result<Self, RegistryError> {
        if self.resource_index.contains_key(&r.uri) {
            return Err(RegistryError::Duplicate {
                kind: "resource",
                name: r.uri,
            });
        }
        self.resource_index
            .insert(r.uri.clone(), self.resources.len());
        self.resources.push(r);
        Ok(self)
    }

    /// Finds a tool by name.
    pub fn tool(&self, name: &str) -> Option<&Arc<ToolEntry>> {
        self.tool_index.get(name).map(|&i| &self.tools[i])
    }

    /// All tools, sorted by name.
    pub fn tools(&self) -> &[Arc<ToolEntry>] {
        &self.tools
    }

    /// All fixed resources, in registration order.
    pub fn resources(&self) -> &[Resource] {
        &self.resources
    }

    /// All resource templates, in registration order.
    pub fn templates(&self) -> &[ResourceTemplate] {
        &self.templates
    }

    /// All prompts, in registration order.
    pub fn prompts(&self) -> &[Prompt] {
        &self.prompts
    }

    /// Finds a fixed resource by URI.
    pub fn resource(&self, uri: &str) -> Option<&Resource> {
        self.resource_index.get(uri).map(|&i| &self.resources[i])
    }

    /// What a `resources/read` of `uri` reads: the fixed resource at that URI, else the
    /// first template that matches it.
    pub fn find_resource(&self, uri: &str) -> Option<ResourceTarget<'_>> {
        if let Some(r) = self.resource(uri) {
            return Some(ResourceTarget::Fixed(r));
        }
        self.templates
            .iter()
            .find(|t| t.is_match(uri))
            .map(ResourceTarget::Template)
    }

    /// Finds a prompt by name.
    pub fn prompt(&self, name: &str) -> Option<&Prompt> {
        self.prompt_index.get(name).map(|&i| &self.prompts[i])
    }

    /// Whether any tool may run as a task.
    pub fn has_task_tools(&self) -> bool {
        self.tools
            .iter()
            .any(|t| t.definition.task_support != crate::TaskSupport::Forbidden)
    }
}

/// Why a registry could not be built.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// A tool's schema is unusable.
    #[error(transparent)]
    Schema(#[from] SchemaError),
    /// Two items share a name or URI.
    #[error("duplicate {kind}: {name}")]
    Duplicate {
        /// tool, resource or prompt.
        kind: &'static str,
        /// The name or URI.
        name: String,
    },
}

/// Collects tools, resources and prompts, then freezes them.
#[derive(Default)]
pub struct RegistryBuilder {
    tools: Vec<Tool>,
    resources: Vec<Resource>,
    templates: Vec<ResourceTemplate>,
    prompts: Vec<Prompt>,
}

impl RegistryBuilder {
    /// Adds a tool.
    pub fn tool(mut self, tool: Tool) -> Self {
        self.tools.push(tool);
        self
    }

    /// Adds a resource.
    pub fn resource(mut self, r: Resource) -> Self {
        self.resources.push(r);
        self
    }

    /// Adds a resource template.
    pub fn template(mut self, t: ResourceTemplate) -> Self {
        self.templates.push(t);
        self
    }

    /// Adds a prompt.
    pub fn prompt(mut self, p: Prompt) -> Self {
        self.prompts.push(p);
        self
    }

    /// Compiles schemas, checks names and freezes the registry.
    pub fn build(mut self) -> Result<Registry, RegistryError> {
        self.tools
            .sort_by(|a, b| a.definition.name.cmp(&b.definition.name));
        let mut tools = Vec::with_capacity(self.tools.len());
        let mut tool_index = HashMap::default();
        for (i, t) in self.tools.into_iter().enumerate() {
            let name = t.definition.name.clone();
            if tool_index.insert(name.clone(), i).is_some() {
                return Err(RegistryError::Duplicate { kind: "tool", name });
            }
            let schema = CompiledSchema::compile(&name, &t.definition.input_schema)?;
            let header_params = header_params(&name, &t.definition.input_schema)?;
            let wire = [
                t.definition.to_wire(false, false),
                t.definition.to_wire(true, false),
                t.definition.to_wire(true, true),
            ];
            tools.push(Arc::new(ToolEntry {
                definition: t.definition,
                handler: t.handler,
                fallback: t.fallback,
                schema,
                header_params,
                wire,
            }));
        }
        let mut resource_index = HashMap::default();
        for (i, r) in self.resources.iter().enumerate() {
            if resource_index.insert(r.uri.clone(), i).is_some() {
                return Err(RegistryError::Duplicate {
                    kind: "resource",
                    name: r.uri.clone(),
                });
            }
        }
        let mut prompt_index = HashMap::default();
        for (i, p) in self.prompts.iter().enumerate() {
            if prompt_index.insert(p.name.clone(), i).is_some() {
                return Err(RegistryError::Duplicate {
                    kind: "prompt",
                    name: p.name.clone(),
                });
            }
        }
        Ok(Registry {
            tools,
            tool_index,
            resources: self.resources,
            resource_index,
            templates: self.templates,
            prompts: self.prompts,
            prompt_index,
        })
    }
}
