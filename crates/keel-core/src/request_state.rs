//! `requestState` for multi round-trip requests: answers gathered so far, bound to the
//! request they belong to, with an expiry, under an HMAC any node holding the key can check.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// The secret that signs `requestState`; nodes that share it accept each other's state.
#[derive(Clone)]
pub struct StateKey(Vec<u8>);

impl StateKey {
    /// A key from configured bytes.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self(bytes.into())
    }

    /// A random key, valid for this process only.
    pub fn random() -> Self {
        let mut b = vec![0u8; 32];
        if getrandom::fill(&mut b).is_err() {
            b = Sha256::digest(format!("{:?}", SystemTime::now()).as_bytes()).to_vec();
        }
        Self(b)
    }
}

impl std::fmt::Debug for StateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StateKey(..)")
    }
}

#[derive(Serialize, Deserialize)]
struct Payload {
    /// Digest of method, name and arguments of the originating request.
    d: String,
    /// Expiry, seconds since the epoch.
    e: u64,
    /// Answers gathered in earlier rounds.
    r: Map<String, Value>,
}

/// Why a `requestState` was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    /// Not produced by a node holding the key, or altered.
    #[error("requestState failed verification")]
    Forged,
    /// Older than its time to live.
    #[error("requestState has expired")]
    Expired,
    /// Produced for a different request.
    #[error("requestState belongs to a different request")]
    Mismatch,
}

/// Seals and opens `requestState`.
#[derive(Debug, Clone)]
pub struct RequestStateCodec {
    key: StateKey,
    ttl: Duration,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Binds state to one request: its method, target name and arguments.
pub(crate) fn request_digest(method: &str, name: &str, arguments: Option<&Value>) -> String {
    let mut h = Sha256::new();
    h.update(method.as_bytes());
    h.update([0]);
    h.update(name.as_bytes());
    h.update([0]);
    if let Some(a) = arguments {
        h.update(a.to_string().as_bytes());
    }
    B64.encode(h.finalize())
}

impl RequestStateCodec {
    /// A codec with a key and a time to live.
    pub fn new(key: StateKey, ttl: Duration) -> Self {
        Self { key, ttl }
    }

    fn mac(&self, data: &[u8]) -> Vec<u8> {
        let mut m = HmacSha256::new_from_slice(&self.key.0).unwrap_or_else(|_| {
            // HMAC accepts keys of any length; this arm is unreachable in practice.
            HmacSha256::new_from_slice(b"keel").expect("static key")
        });
        m.update(data);
        m.finalize().into_bytes().to_vec()
    }

    pub(crate) fn seal(&self, digest: String, answers: Map<String, Value>) -> String {
        let payload = Payload {
            d: digest,
            e: now() + self.ttl.as_secs(),
            r: answers,
        };
        let body = B64.encode(serde_json::to_vec(&payload).unwrap_or_default());
        let tag = B64.encode(self.mac(body.as_bytes()));
        format!("{body}.{tag}")
    }

    pub(crate) fn open(&self, state: &str, digest: &str) -> Result<Map<String, Value>, StateError> {
        let (body, tag) = state.split_once('.').ok_or(StateError::Forged)?;
        let tag = B64.decode(tag).map_err(|_| StateError::Forged)?;
        let mut m = HmacSha256::new_from_slice(&self.key.0).map_err(|_| StateError::Forged)?;
        m.update(body.as_bytes());
        m.verify_slice(&tag).map_err(|_| StateError::Forged)?;
        let raw = B64.decode(body).map_err(|_| StateError::Forged)?;
        let p: Payload = serde_json::from_slice(&raw).map_err(|_| StateError::Forged)?;
        if p.e < now() {
            return Err(StateError::Expired);
        }
        if p.d != digest {
            return Err(StateError::Mismatch);
        }
        Ok(p.r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codec(key: &[u8]) -> RequestStateCodec {
        RequestStateCodec::new(StateKey::new(key), Duration::from_secs(60))
    }

    #[test]
    fn sealed_state_opens_on_any_node_with_the_key() {
        let mut answers = Map::new();
        answers.insert("q".into(), serde_json::json!({"action":"accept"}));
        let d = request_digest("tools/call", "t", None);
        let s = codec(b"k").seal(d.clone(), answers.clone());
        assert_eq!(codec(b"k").open(&s, &d).unwrap(), answers);
        assert_eq!(codec(b"other").open(&s, &d), Err(StateError::Forged));
    }

    #[test]
    fn tampering_replay_elsewhere_and_expiry_are_refused() {
        let c = codec(b"k");
        let d = request_digest("tools/call", "t", None);
        let s = c.seal(d.clone(), Map::new());
        let mut bad = s.clone();
        bad.insert(0, 'x');
        assert_eq!(c.open(&bad, &d), Err(StateError::Forged));
        let other = request_digest("tools/call", "u", None);
        assert_eq!(c.open(&s, &other), Err(StateError::Mismatch));
        let expired = RequestStateCodec::new(StateKey::new(b"k".to_vec()), Duration::ZERO);
        let old = Payload {
            d: d.clone(),
            e: 1,
            r: Map::new(),
        };
        let body = B64.encode(serde_json::to_vec(&old).unwrap());
        let tag = B64.encode(expired.mac(body.as_bytes()));
        assert_eq!(
            expired.open(&format!("{body}.{tag}"), &d),
            Err(StateError::Expired)
        );
    }
}
