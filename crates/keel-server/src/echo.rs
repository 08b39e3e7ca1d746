//! The built-in `echo` tool: registered like any other tool, with no fast path.

use keel_core::{Annotations, CallToolResult, Tool, ToolBuilder};
use schemars::JsonSchema;
use serde::Deserialize;

/// Arguments of `echo`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct EchoArgs {
    /// The text to return.
    pub text: String,
}

/// `echo`: returns its `text` argument.
pub fn echo_tool() -> Tool {
    ToolBuilder::typed::<EchoArgs>("echo")
        .title("Echo")
        .description("Returns the given text unchanged.")
        .annotations(Annotations::read_only())
        .typed_handler(|args: EchoArgs, _cx| async move { Ok(CallToolResult::text(args.text)) })
}
