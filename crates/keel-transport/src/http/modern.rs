//! Header checks of modern (2026-07-28) requests, in the order the specification implies:
//! routing headers, then `_meta`, then the version header against `_meta`, then the version.

use http::{HeaderMap, HeaderName, StatusCode, header::AsHeaderName};
use keel_core::{Dispatcher, ParsedRequest, Registry, check_modern_meta};
use keel_protocol::{
    ProtocolVersion, RpcError, decode_header_value, header_value_is, meta, methods,
};
use serde_json::Value;

pub(crate) static VERSION_HEADER: HeaderName = HeaderName::from_static("mcp-protocol-version");
static METHOD_HEADER: HeaderName = HeaderName::from_static("mcp-method");
static NAME_HEADER: HeaderName = HeaderName::from_static("mcp-name");

fn header_text(headers: &HeaderMap, name: impl AsHeaderName) -> Option<&[u8]> {
    headers.get(name).map(|v| v.as_bytes().trim_ascii())
}

fn mismatch(detail: String) -> (StatusCode, RpcError) {
    (StatusCode::BAD_REQUEST, RpcError::header_mismatch(detail))
}

/// Validates a modern request's headers against its body; returns the revision to serve.
pub(crate) fn validate(
    headers: &HeaderMap,
    req: &ParsedRequest,
    registry: &Registry,
) -> Result<ProtocolVersion, (StatusCode, RpcError)> {
    match header_text(headers, &METHOD_HEADER) {
        None => return Err(mismatch("missing Mcp-Method header".into())),
        Some(m) if m != req.method.as_bytes() => {
            return Err(mismatch(format!(
                "Mcp-Method header value '{}' does not match body value '{}'",
                String::from_utf8_lossy(m),
                req.method
            )));
        }
        Some(_) => {}
    }
    let name_key = match req.method.as_str() {
        methods::TOOLS_CALL | methods::PROMPTS_GET => Some("name"),
        methods::RESOURCES_READ => Some("uri"),
        methods::TASKS_GET | methods::TASKS_UPDATE | methods::TASKS_CANCEL => Some("taskId"),
        _ => None,
    };
    if let Some(key) = name_key {
        let body = req.params.get(key).and_then(Value::as_str);
        let Some(raw) = header_text(headers, &NAME_HEADER) else {
            return Err(mismatch("missing Mcp-Name header".into()));
        };
        let same = header_value_is(raw, body.unwrap_or_default())
            .map_err(|e| mismatch(format!("Mcp-Name: {e}")))?;
        if !same || body.is_none() {
            let header = decode_header_value(raw).unwrap_or_default();
            return Err(mismatch(format!(
                "Mcp-Name header value '{header}' does not match body value '{}'",
                body.unwrap_or("")
            )));
        }
    }
    check_modern_meta(req).map_err(|e| (StatusCode::BAD_REQUEST, e))?;
    let declared = req
        .meta()
        .and_then(|m| m.get(meta::PROTOCOL_VERSION))
        .and_then(Value::as_str)
        .ok_or_else(|| {
            (
                StatusCode::BAD_REQUEST,
                RpcError::invalid_params(format!("missing _meta.{}", meta::PROTOCOL_VERSION)),
            )
        })?;
    match header_text(headers, &VERSION_HEADER) {
        Some(h) if h == declared.as_bytes() => {}
        Some(h) => {
            return Err(mismatch(format!(
                "MCP-Protocol-Version header value '{}' does not match _meta value '{declared}'",
                String::from_utf8_lossy(h)
            )));
        }
        None => return Err(mismatch("missing MCP-Protocol-Version header".into())),
    }
    let version = Dispatcher::modern_version(declared).map_err(|e| (StatusCode::BAD_REQUEST, e))?;
    if req.method == methods::TOOLS_CALL {
        check_param_headers(headers, req, registry)?;
    }
    Ok(version)
}

/// `Mcp-Param-{Name}` headers must mirror the annotated arguments exactly.
fn check_param_headers(
    headers: &HeaderMap,
    req: &ParsedRequest,
    registry: &Registry,
) -> Result<(), (StatusCode, RpcError)> {
    let Some(tool) = req.target_name().and_then(|n| registry.tool(n)) else {
        return Ok(());
    };
    for (name, path) in &tool.header_params {
        let mut value = req.params.get("arguments");
        for key in path {
            value = value.and_then(|v| v.get(key));
        }
        let body = match value {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Bool(b)) => Some(b.to_string()),
            Some(Value::Number(n)) => Some(n.to_string()),
            Some(other) => Some(other.to_string()),
        };
        let header_name = format!("mcp-param-{}", name.to_ascii_lowercase());
        let header = match header_text(headers, &header_name) {
            None => None,
            Some(raw) => Some(
                decode_header_value(raw).map_err(|e| mismatch(format!("Mcp-Param-{name}: {e}")))?,
            ),
        };
        let matches = match (&header, &body) {
            (None, None) => true,
            (Some(h), Some(b)) => h == b || numeric_eq(h, b),
            _ => false,
        };
        if !matches {
            return Err(mismatch(format!(
                "Mcp-Param-{name} header value '{}' does not match body value '{}'",
                header.unwrap_or_default(),
                body.unwrap_or_default()
            )));
        }
    }
    Ok(())
}

fn numeric_eq(a: &str, b: &str) -> bool {
    matches!((a.parse::<f64>(), b.parse::<f64>()), (Ok(x), Ok(y)) if x == y)
}
