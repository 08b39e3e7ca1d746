//! Every probe's rule: its id (what findings carry), a name and a line of help.

use crate::report::Severity;

/// One probe's rule.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// Stable id, e.g. `http.foreign-origin`.
    pub id: &'static str,
    /// Short PascalCase name (SARIF `name`).
    pub name: &'static str,
    /// What a finding means and what a correct server does.
    pub help: &'static str,
    /// Severity of a typical finding (each finding carries its own).
    pub severity: Severity,
}

macro_rules! rules {
    ($($id:literal, $name:literal, $sev:ident, $help:literal;)*) => {
        /// The catalog of every probe's rule.
        pub const RULES: &[Rule] = &[$(Rule { id: $id, name: $name, help: $help, severity: Severity::$sev },)*];
    };
}

rules! {
    "server.down", "ServerDown", Critical,
        "The server stopped answering a liveness request after a probe group: a hostile client can take it down.";
    "protocol.malformed-json", "MalformedJson", Medium,
        "Unparseable JSON must get a JSON-RPC parse error (-32700) or an HTTP 4xx, promptly.";
    "protocol.bad-jsonrpc-version", "BadJsonRpcVersion", Medium,
        "A message whose jsonrpc member is not \"2.0\" must be refused as an invalid request.";
    "protocol.missing-method", "MissingMethod", Medium,
        "A request without a method must be refused as an invalid request.";
    "protocol.bad-id-type", "BadIdType", Medium,
        "A request id must be a string or an integer; an object or boolean id must be refused.";
    "protocol.unsupported-version", "UnsupportedVersion", Medium,
        "A protocol version the server does not implement must be refused (400 / UnsupportedProtocolVersion) or countered with a supported one, never accepted as is.";
    "protocol.batch", "BatchAccepted", Medium,
        "JSON-RPC batches are forbidden from revision 2025-06-18 on and must be refused.";
    "protocol.oversized-body", "OversizedBody", Low,
        "A very large body must be refused (413 or an error) without harm; accepting it means no body limit.";
    "protocol.deep-nesting", "DeepNesting", High,
        "A deeply nested body must be answered with an error promptly, never hang or crash the server.";
    "answer.malformed", "MalformedAnswer", Medium,
        "Every request must get a JSON-RPC result or error with its id; a tool failure is an isError result.";
    "answer.no-answer", "NoAnswer", Medium,
        "A request went unanswered within the per-request timeout.";
    "http.foreign-origin", "ForeignOrigin", High,
        "A request with a foreign Origin must be refused with 403 (DNS rebinding protection).";
    "http.foreign-host", "ForeignHost", High,
        "On a loopback server, a request with a foreign Host must be refused (DNS rebinding protection).";
    "http.header-mismatch", "HeaderMismatch", Medium,
        "Mcp-Method / Mcp-Name headers that disagree with the body must be refused with 400 and -32020.";
    "session.missing", "SessionMissing", Info,
        "A request without Mcp-Session-Id after initialization was served: the server does not require sessions.";
    "session.forged", "SessionForged", High,
        "A request with a session id the server never issued must be refused with 404.";
    "session.deleted", "SessionDeleted", High,
        "A request with a session id terminated by DELETE must be refused with 404.";
    "transport.slow-head", "SlowHead", Medium,
        "A request head trickled byte by byte must be cut by the server within a bound (slowloris).";
    "transport.half-open", "HalfOpen", Medium,
        "A connection that sends nothing must be closed by the server within a bound.";
    "auth.none", "NoAuthentication", Info,
        "The server demands no authentication: fine on loopback, a risk on a reachable address.";
    "auth.no-token", "NoTokenAccepted", Critical,
        "A request without a bearer token was served although the server takes tokens.";
    "auth.expired-token", "ExpiredTokenAccepted", Critical,
        "A token whose exp is in the past was accepted.";
    "auth.wrong-audience", "WrongAudienceAccepted", Critical,
        "A token issued for another resource (aud) was accepted: token passthrough / confused deputy.";
    "auth.wrong-issuer", "WrongIssuerAccepted", Critical,
        "A token from a foreign issuer was accepted.";
    "auth.alg-none", "AlgNoneAccepted", Critical,
        "An unsigned token (alg: none) was accepted.";
    "auth.bad-signature", "BadSignatureAccepted", Critical,
        "A token with a tampered signature was accepted.";
    "auth.query-token", "QueryTokenAccepted", High,
        "A token in the URL query string was accepted; tokens must travel in the Authorization header only.";
    "auth.prm", "ProtectedResourceMetadata", Medium,
        "Protected Resource Metadata (/.well-known/oauth-protected-resource) must be served as JSON with resource and authorization_servers.";
    "auth.www-authenticate", "WwwAuthenticate", Medium,
        "A 401 must carry WWW-Authenticate: Bearer with resource_metadata=.";
    "auth.insufficient-scope", "InsufficientScope", Low,
        "A 403 for a missing scope must carry WWW-Authenticate: Bearer error=\"insufficient_scope\".";
    "cache.cross-principal", "CrossPrincipalCache", Critical,
        "A result computed for one principal was served to another.";
    "leak.stack-trace", "StackTraceLeak", Medium,
        "An answer carried a stack trace.";
    "leak.path", "PathLeak", Low,
        "An answer carried an absolute file path of the server's machine.";
    "leak.secret", "SecretLeak", High,
        "An answer carried a secret (a private key, a cloud key, a password, the caller's token).";
    "leak.passwd", "PasswdLeak", Critical,
        "An answer carried /etc/passwd contents: path traversal or command injection.";
    "injection.command", "CommandInjection", Critical,
        "An answer carried the output of an injected shell command (uid=...).";
}

/// The rule with `id`.
pub(crate) fn rule(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.id == id)
}
