//! A tool result kept encoded, so that many replies can share it: a cache hit neither clones
//! a JSON tree nor encodes it again, and the same bytes travel to and from Redis.

use std::{ops::Range, sync::Arc};

use bytes::Bytes;
use serde_json::{Map, Value};

use crate::CallToolResult;

/// The first byte of the stored form; bumped when the layout changes.
const FORMAT: u8 = 1;
/// Format byte, flags, and the length of the first member run.
const HEADER: usize = 6;

/// A tool result encoded once, cheap to clone and share between replies.
///
/// It holds the result object's members as `"key":value` runs: with `structuredContent` for
/// revisions that have it and, when the result is structured, without it for the older ones.
/// The runs live in one buffer that is also the stored form, so a cache reads it back
/// without copying.
#[derive(Clone, PartialEq, Eq)]
pub struct SharedResult(Arc<Encoded>);

#[derive(PartialEq, Eq)]
struct Encoded {
    /// The stored form ([`SharedResult::to_bytes`]).
    stored: Bytes,
    /// Every member (`content`, `structuredContent`, `isError`, `_meta`).
    full: Range<usize>,
    /// The members without `structuredContent`; `None` when `full` has none.
    plain: Option<Range<usize>>,
    is_error: bool,
    has_meta: bool,
}

/// Stored bytes that are not a [`SharedResult`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an encoded tool result: {0}")]
pub struct SharedResultError(&'static str);

impl SharedResult {
    /// Encodes `result`.
    pub fn encode(result: &CallToolResult) -> Self {
        if let Some(shared) = &result.shared {
            return shared.clone();
        }
        let mut full = Vec::with_capacity(64);
        push_member(&mut full, "content", &result.content);
        let plain = result.structured_content.as_ref().map(|structured| {
            let mut plain = full.clone();
            push_member(&mut full, "structuredContent", structured);
            push_tail(&mut plain, result);
            plain
        });
        push_tail(&mut full, result);
        let flags = u8::from(result.is_error)
            | u8::from(result.meta.is_some()) << 1
            | u8::from(plain.is_some()) << 2;
        let plain = plain.unwrap_or_default();
        let mut stored = Vec::with_capacity(HEADER + full.len() + plain.len());
        stored.push(FORMAT);
        stored.push(flags);
        stored.extend_from_slice(&u32::try_from(full.len()).unwrap_or(u32::MAX).to_le_bytes());
        stored.extend_from_slice(&full);
        stored.extend_from_slice(&plain);
        Self::parse(Bytes::from(stored), false).unwrap_or_else(|_| {
            // Unreachable: the header was written just above.
            Self::encode(&CallToolResult::error("result could not be encoded"))
        })
    }

    /// The result object's members for a revision with (`structured`) or without
    /// structured output.
    pub fn members(&self, structured: bool) -> &[u8] {
        let e = &self.0;
        match (&e.plain, structured) {
            (Some(plain), false) => &e.stored[plain.clone()],
            _ => &e.stored[e.full.clone()],
        }
    }

    /// Whether the result is a tool execution error.
    pub fn is_error(&self) -> bool {
        self.0.is_error
    }

    /// Whether the result carries its own `_meta`.
    pub fn has_meta(&self) -> bool {
        self.0.has_meta
    }

    /// Bytes held, for size limits and cache weights.
    pub fn len(&self) -> usize {
        self.0.stored.len()
    }

    /// Whether nothing is held (never true for an encoded result).
    pub fn is_empty(&self) -> bool {
        self.0.stored.is_empty()
    }

    /// The result object as a JSON map (for the rare paths that add members to it).
    pub fn to_object(&self) -> Map<String, Value> {
        // Members were written by `encode` or checked by `from_bytes`.
        serde_json::from_slice(&braced(self.members(true))).unwrap_or_default()
    }

    /// The stored form: a format byte, flags, the length of the first run, then the runs.
    pub fn to_bytes(&self) -> Bytes {
        self.0.stored.clone()
    }

    /// Reads bytes from an untrusted store back, checking that each run is a JSON object's
    /// members.
    pub fn from_bytes(bytes: Bytes) -> Result<Self, SharedResultError> {
        Self::parse(bytes, true)
    }

    /// Reads bytes this process stored itself (or checked with [`Self::from_bytes`])
    /// back: the header is checked, the JSON is not.
    pub fn from_trusted_bytes(bytes: Bytes) -> Result<Self, SharedResultError> {
        Self::parse(bytes, false)
    }

    fn parse(stored: Bytes, check_json: bool) -> Result<Self, SharedResultError> {
        let [format, flags, l0, l1, l2, l3, ..] = stored[..] else {
            return Err(SharedResultError("too short"));
        };
        if format != FORMAT {
            return Err(SharedResultError("unknown format"));
        }
        let len = usize::try_from(u32::from_le_bytes([l0, l1, l2, l3])).unwrap_or(usize::MAX);
        let full = HEADER..HEADER.saturating_add(len);
        if full.end > stored.len() || full.is_empty() {
            return Err(SharedResultError("truncated"));
        }
        let has_plain = flags & 4 != 0;
        let plain = full.end..stored.len();
        if has_plain == plain.is_empty() {
            return Err(SharedResultError("runs do not match the flags"));
        }
        if check_json
            && (!members_are_valid(&stored[full.clone()])
                || (has_plain && !members_are_valid(&stored[plain.clone()])))
        {
            return Err(SharedResultError("members are not JSON"));
        }
        Ok(Self(Arc::new(Encoded {
            full,
            plain: has_plain.then_some(plain),
            is_error: flags & 1 != 0,
            has_meta: flags & 2 != 0,
            stored,
        })))
    }
}

impl std::fmt::Debug for SharedResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedResult")
            .field("bytes", &self.len())
            .field("is_error", &self.0.is_error)
            .finish()
    }
}

fn braced(members: &[u8]) -> Vec<u8> {
    let mut text = Vec::with_capacity(members.len() + 2);
    text.push(b'{');
    text.extend_from_slice(members);
    text.push(b'}');
    text
}

fn members_are_valid(members: &[u8]) -> bool {
    serde_json::from_slice::<serde::de::IgnoredAny>(&braced(members)).is_ok()
}

fn push_member(out: &mut Vec<u8>, key: &str, value: &impl serde::Serialize) {
    if !out.is_empty() {
        out.push(b',');
    }
    out.push(b'"');
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":");
    // Values built from JSON trees always serialize.
    if serde_json::to_writer(&mut *out, value).is_err() {
        out.extend_from_slice(b"null");
    }
}

fn push_tail(out: &mut Vec<u8>, result: &CallToolResult) {
    out.extend_from_slice(if result.is_error {
        b",\"isError\":true"
    } else {
        b",\"isError\":false"
    });
    if let Some(meta) = &result.meta {
        push_member(out, "_meta", meta);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn object(members: &[u8]) -> Value {
        let mut text = b"{".to_vec();
        text.extend_from_slice(members);
        text.push(b'}');
        serde_json::from_slice(&text).expect("members form an object")
    }

    #[test]
    fn members_match_the_tree_for_both_kinds_of_revision() {
        let result = CallToolResult::structured(json!({"n": 1, "s": "}\""}), "n is 1");
        let shared = SharedResult::encode(&result);
        assert_eq!(
            object(shared.members(true)),
            Value::Object(result.clone().into_object())
        );
        let mut plain = result.into_object();
        plain.remove("structuredContent");
        assert_eq!(object(shared.members(false)), Value::Object(plain));
        let text = SharedResult::encode(&CallToolResult::text("hi"));
        assert_eq!(text.members(true), text.members(false));
    }

    #[test]
    fn stored_form_round_trips_and_refuses_garbage() {
        let mut result = CallToolResult::structured(json!([1, 2]), "two");
        result.meta = Some(Map::from_iter([("k".to_owned(), json!("v"))]));
        let shared = SharedResult::encode(&result);
        let back = SharedResult::from_bytes(shared.to_bytes()).expect("round trip");
        assert_eq!(back, shared);
        assert!(back.has_meta() && !back.is_error());
        assert_eq!(
            Value::Object(back.to_object()),
            Value::Object(result.into_object())
        );

        let bytes = shared.to_bytes();
        for bad in [
            &[][..],
            &[9, 0, 0, 0, 0, 0][..],
            &bytes[..bytes.len() - 1],
            &[FORMAT, 0, 200, 0, 0, 0, b'x'][..],
            &[FORMAT, 0, 3, 0, 0, 0, b'"', b'a', b'"'][..],
            &[FORMAT, 4, 2, 0, 0, 0, b'{', b'}'][..],
        ] {
            assert!(
                SharedResult::from_bytes(Bytes::copy_from_slice(bad)).is_err(),
                "{bad:?}"
            );
        }
        // The trusted path reads the header only, and is still safe on a short buffer.
        assert!(SharedResult::from_trusted_bytes(Bytes::from_static(&[FORMAT])).is_err());
    }
}
