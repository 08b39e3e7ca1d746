//! Keel's core: the API tools, resources and prompts are written with, the immutable
//! [`Registry`] they are built into, legacy sessions, and the [`Dispatcher`] that serves both
//! MCP eras from one path.
//!
//! It knows JSON-RPC messages and MCP semantics, never bytes on a socket or HTTP: transports
//! decode a message, hand it to the dispatcher with a [`RequestEnv`], and write what comes back.
#![forbid(unsafe_code)]

mod cache_policy;
mod call_notes;
mod content;
mod context;
mod dispatch;
mod error;
mod failure;
mod principal;
mod prompt;
mod registry;
mod request_state;
mod resource;
mod schema;
mod session;
mod shared;
mod shutdown;
mod tasks;
mod tool;
pub mod trace;

pub use cache_policy::{CacheHint, CachePolicy, CacheScope};
pub use call_notes::{CallNotes, collect_notes, note_cache, note_dependency, note_outcome};
pub use content::{CallToolResult, Content};
pub use context::{ClientCaps, Context, ListChange, LogLevel, Outbound};
pub use dispatch::{
    DispatchSettings, Dispatcher, Entry, Incoming, ListFilter, Listed, MethodRequest,
    MethodService, MethodStack, Opening, ParsedRequest, Pass, Reply, RequestEnv, RequestGate,
    RequestMeta, ServerInfo, check_modern_meta,
};
pub use error::{Rejection, ToolError};
pub use failure::{FAILURE_META_KEY, Failure, FailureKind, WireFailure};
pub use principal::Principal;
pub use prompt::{Prompt, PromptArgument, PromptBuilder, PromptHandler};
pub use registry::{Registry, RegistryBuilder, RegistryError, ToolEntry};
pub use request_state::{RequestStateCodec, StateError, StateKey};
pub use resource::{
    CompleteHandler, ReadHandler, Resource, ResourceBuilder, ResourceContents, ResourceTarget,
    ResourceTemplate,
};
pub use schema::SchemaError;
pub use session::{MemorySessionStore, Session, SessionId, SessionStore, StoreFuture};
pub use shared::{SharedResult, SharedResultError};
pub use shutdown::Shutdown;
pub use tasks::{Task, TaskStore};
pub use tool::{
    Annotations, BoxFuture, ClassName, FALLBACK_META_KEY, TaskSupport, Tool, ToolBuilder, ToolCall,
    ToolDefinition, ToolFallback, ToolHandler, ToolService, Workload,
};
