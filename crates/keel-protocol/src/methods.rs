//! Method names, so no string literal is spelled twice.

/// Legacy handshake.
pub const INITIALIZE: &str = "initialize";
/// Legacy handshake completion notification.
pub const INITIALIZED: &str = "notifications/initialized";
/// Legacy liveness check.
pub const PING: &str = "ping";
/// Modern discovery.
pub const DISCOVER: &str = "server/discover";
/// Modern change-notification stream.
pub const SUBSCRIPTIONS_LISTEN: &str = "subscriptions/listen";
/// Tools.
pub const TOOLS_LIST: &str = "tools/list";
/// Tools.
pub const TOOLS_CALL: &str = "tools/call";
/// Resources.
pub const RESOURCES_LIST: &str = "resources/list";
/// Resources.
pub const RESOURCES_TEMPLATES_LIST: &str = "resources/templates/list";
/// Resources.
pub const RESOURCES_READ: &str = "resources/read";
/// Legacy resource subscription.
pub const RESOURCES_SUBSCRIBE: &str = "resources/subscribe";
/// Legacy resource subscription.
pub const RESOURCES_UNSUBSCRIBE: &str = "resources/unsubscribe";
/// Prompts.
pub const PROMPTS_LIST: &str = "prompts/list";
/// Prompts.
pub const PROMPTS_GET: &str = "prompts/get";
/// Argument completion.
pub const COMPLETION_COMPLETE: &str = "completion/complete";
/// Legacy session log level.
pub const LOGGING_SET_LEVEL: &str = "logging/setLevel";
/// Tasks extension.
pub const TASKS_GET: &str = "tasks/get";
/// Tasks extension.
pub const TASKS_UPDATE: &str = "tasks/update";
/// Tasks extension.
pub const TASKS_CANCEL: &str = "tasks/cancel";
/// Tasks (2025-11-25 core).
pub const TASKS_LIST: &str = "tasks/list";
/// Tasks (2025-11-25 core).
pub const TASKS_RESULT: &str = "tasks/result";
/// Cancellation notification.
pub const CANCELLED: &str = "notifications/cancelled";
/// Progress notification.
pub const PROGRESS: &str = "notifications/progress";
/// Log message notification.
pub const MESSAGE: &str = "notifications/message";
/// List-changed notifications.
pub const TOOLS_LIST_CHANGED: &str = "notifications/tools/list_changed";
/// List-changed notifications.
pub const RESOURCES_LIST_CHANGED: &str = "notifications/resources/list_changed";
/// List-changed notifications.
pub const PROMPTS_LIST_CHANGED: &str = "notifications/prompts/list_changed";
/// A subscribed resource changed.
pub const RESOURCES_UPDATED: &str = "notifications/resources/updated";
/// Acknowledges `subscriptions/listen`.
pub const SUBSCRIPTIONS_ACKNOWLEDGED: &str = "notifications/subscriptions/acknowledged";
/// Server-to-client requests.
pub const ELICITATION_CREATE: &str = "elicitation/create";
/// Server-to-client requests.
pub const SAMPLING_CREATE_MESSAGE: &str = "sampling/createMessage";
/// Server-to-client requests.
pub const ROOTS_LIST: &str = "roots/list";
