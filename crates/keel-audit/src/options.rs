//! What to audit and how far to go.

use std::time::Duration;

/// The server under audit.
#[derive(Debug, Clone)]
pub enum Target {
    /// A Streamable HTTP endpoint (`http://host:port/path`).
    Http(String),
    /// A command whose stdin/stdout carry newline-delimited JSON-RPC.
    Stdio(Vec<String>),
}

impl Target {
    /// How reports name the target (the URL, or the command line).
    pub fn location(&self) -> String {
        match self {
            Target::Http(url) => url.clone(),
            Target::Stdio(cmd) => format!("stdio:{}", cmd.join(" ")),
        }
    }
}

/// Which protocol era to speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Era {
    /// `server/discover` with 2026-07-28; if refused, legacy `initialize`.
    Auto,
    /// Stateless 2026-07-28 (`_meta` on every request).
    Modern,
    /// `initialize` with 2025-11-25 and `Mcp-Session-Id` sessions.
    Legacy,
}

/// How the audit runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// Era to speak.
    pub era: Era,
    /// Bearer token of the first principal.
    pub token: Option<String>,
    /// Bearer token of a second principal (cross-principal cache probe).
    pub second_token: Option<String>,
    /// HS256 key the server verifies tokens with: lets forged tokens carry a valid
    /// signature, so claim checks (expiry, audience, issuer) are probed one by one.
    pub hs256_secret: Option<String>,
    /// Call tools not annotated `readOnlyHint: true` too.
    pub allow_mutating: bool,
    /// Most requests (and sockets) the audit may use.
    pub max_requests: u32,
    /// Overall deadline.
    pub deadline: Duration,
    /// Bound on one request.
    pub request_timeout: Duration,
    /// How long a slow or silent connection may live before it is a finding.
    pub slow_bound: Duration,
    /// Pause between the bytes of a trickled request head.
    pub trickle_interval: Duration,
    /// Size of the oversized body.
    pub oversized_bytes: usize,
    /// Print each probe's request and answer summary on stderr.
    pub verbose: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            era: Era::Auto,
            token: None,
            second_token: None,
            hs256_secret: None,
            allow_mutating: false,
            max_requests: 600,
            deadline: Duration::from_secs(240),
            request_timeout: Duration::from_secs(10),
            slow_bound: Duration::from_secs(20),
            trickle_interval: Duration::from_secs(1),
            oversized_bytes: 20 * 1024 * 1024,
            verbose: false,
        }
    }
}
