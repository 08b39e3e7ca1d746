//! Which tool calls have a deadline, and how long.

use std::{collections::HashMap, time::Duration};

/// How long one call may run once admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallTimeout(pub Duration);

/// The timeout of every tool call: a default, and values of their own for some tools.
/// Empty (the default): no call has a deadline.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToolTimeouts {
    default: Option<CallTimeout>,
    per_tool: HashMap<String, CallTimeout>,
}

impl ToolTimeouts {
    /// Sets (or clears) the timeout of tools without one of their own.
    pub fn with_default(mut self, timeout: Option<CallTimeout>) -> Self {
        self.default = timeout;
        self
    }

    /// Sets the timeout of the tool called `tool`.
    pub fn with_tool(mut self, tool: impl Into<String>, timeout: CallTimeout) -> Self {
        self.per_tool.insert(tool.into(), timeout);
        self
    }

    /// Whether no call has a deadline (then the layer need not be installed at all).
    pub fn is_empty(&self) -> bool {
        self.default.is_none() && self.per_tool.is_empty()
    }

    /// The timeout of a call of the tool called `tool`, if any.
    #[inline]
    pub fn of(&self, tool: &str) -> Option<CallTimeout> {
        // Without per-tool values the map is never probed.
        if self.per_tool.is_empty() {
            return self.default;
        }
        self.per_tool.get(tool).copied().or(self.default)
    }
}
