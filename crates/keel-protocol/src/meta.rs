//! Reserved `_meta` keys.

/// Protocol version of a modern request.
pub const PROTOCOL_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
/// Client capabilities of a modern request.
pub const CLIENT_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";
/// Client identity of a modern request.
pub const CLIENT_INFO: &str = "io.modelcontextprotocol/clientInfo";
/// Minimum log level for `notifications/message` of a modern request.
pub const LOG_LEVEL: &str = "io.modelcontextprotocol/logLevel";
/// Server identity in every modern result.
pub const SERVER_INFO: &str = "io.modelcontextprotocol/serverInfo";
/// Tags notifications on a `subscriptions/listen` stream.
pub const SUBSCRIPTION_ID: &str = "io.modelcontextprotocol/subscriptionId";
/// Identifier of the tasks extension.
pub const TASKS_EXTENSION: &str = "io.modelcontextprotocol/tasks";
/// Links a message to the task it belongs to (tasks extension).
pub const RELATED_TASK: &str = "io.modelcontextprotocol/related-task";
/// Progress token of a request, in both eras.
pub const PROGRESS_TOKEN: &str = "progressToken";
