//! RFC 9728 Protected Resource Metadata and RFC 6750 `WWW-Authenticate` challenges.

use serde::Serialize;

/// The document served at `/.well-known/oauth-protected-resource`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProtectedResourceMetadata {
    /// This server's resource identifier: its public MCP URL.
    pub resource: String,
    /// The authorization servers that issue tokens for it (none with API keys alone).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub authorization_servers: Vec<String>,
    /// Scopes a client may ask for.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scopes_supported: Vec<String>,
    /// How a token is sent: only in the `Authorization` header.
    pub bearer_methods_supported: Vec<String>,
}

impl ProtectedResourceMetadata {
    /// Metadata for `resource`, whose tokens `issuers` issue.
    pub fn new(resource: impl Into<String>, issuers: Vec<String>, scopes: Vec<String>) -> Self {
        Self {
            resource: resource.into(),
            authorization_servers: issuers,
            scopes_supported: scopes,
            bearer_methods_supported: vec!["header".into()],
        }
    }
}

/// A `WWW-Authenticate: Bearer` value naming the metadata URL, and when given the error
/// (`invalid_token`, `insufficient_scope`), its description and the scope needed.
pub fn www_authenticate(
    metadata_url: &str,
    error: Option<&str>,
    description: Option<&str>,
    scope: Option<&str>,
) -> String {
    let mut value = format!("Bearer resource_metadata=\"{}\"", quote(metadata_url));
    for (name, v) in [
        ("error", error),
        ("error_description", description),
        ("scope", scope),
    ] {
        if let Some(v) = v {
            value.push_str(&format!(", {name}=\"{}\"", quote(v)));
        }
    }
    value
}

/// A quoted-string body: `"` and `\` escaped, control characters dropped.
fn quote(v: &str) -> String {
    v.chars()
        .filter(|c| !c.is_control())
        .flat_map(|c| match c {
            '"' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_name_the_metadata_and_escape_values() {
        assert_eq!(
            www_authenticate(
                "https://mcp.example/.well-known/oauth-protected-resource/mcp",
                None,
                None,
                None
            ),
            "Bearer resource_metadata=\"https://mcp.example/.well-known/oauth-protected-resource/mcp\""
        );
        let v = www_authenticate(
            "u",
            Some("insufficient_scope"),
            Some("needs \"x\"\n"),
            Some("tools:query"),
        );
        assert_eq!(
            v,
            "Bearer resource_metadata=\"u\", error=\"insufficient_scope\", error_description=\"needs \\\"x\\\"\", scope=\"tools:query\""
        );
    }

    #[test]
    fn metadata_serializes_as_rfc_9728() {
        let m = ProtectedResourceMetadata::new(
            "https://mcp.example/mcp",
            vec!["https://idp.example".into()],
            vec![],
        );
        let v = serde_json::to_value(&m).unwrap();
        assert_eq!(v["resource"], "https://mcp.example/mcp");
        assert_eq!(v["authorization_servers"][0], "https://idp.example");
        assert_eq!(v["bearer_methods_supported"][0], "header");
        assert!(v.get("scopes_supported").is_none());
    }
}
