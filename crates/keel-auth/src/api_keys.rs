//! Static API keys, the simple alternative to an authorization server: each key has a name
//! (the principal's subject) and scopes; only its SHA-256 is configured, and a presented key
//! is compared by digest in constant time.

use keel_core::Principal;
use sha2::{Digest, Sha256};

/// The issuer named by principals that authenticated with an API key.
pub const API_KEY_ISSUER: &str = "keel:api-key";

/// One configured key.
#[derive(Debug, Clone)]
struct ApiKey {
    name: String,
    digest: [u8; 32],
    scopes: Vec<String>,
}

/// The configured keys.
#[derive(Debug, Clone, Default)]
pub struct ApiKeys {
    keys: Vec<ApiKey>,
}

/// The hex SHA-256 of a key, as configured (`keel` never stores the key itself).
pub fn api_key_digest(key: &str) -> String {
    Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl ApiKeys {
    /// Keys from `(name, hex SHA-256, scopes)`.
    ///
    /// # Errors
    /// A message naming the entry whose digest is not 64 hex digits, or a repeated name.
    pub fn new(
        entries: impl IntoIterator<Item = (String, String, Vec<String>)>,
    ) -> Result<Self, String> {
        let mut keys: Vec<ApiKey> = Vec::new();
        for (name, hex, scopes) in entries {
            let digest = parse_hex(&hex)
                .ok_or_else(|| format!("api key {name:?}: sha256 must be 64 hex digits"))?;
            if keys.iter().any(|k| k.name == name) {
                return Err(format!("api key {name:?} is listed twice"));
            }
            keys.push(ApiKey {
                name,
                digest,
                scopes,
            });
        }
        Ok(Self { keys })
    }

    /// Whether any key is configured.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The principal of the key `presented`, if it is one of them.
    pub fn check(&self, presented: &str) -> Option<Principal> {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        // Every key is compared, each in constant time: the answer's timing says nothing.
        let mut found = None;
        for key in &self.keys {
            if constant_time_eq(&key.digest, &digest) {
                found = Some(key);
            }
        }
        found.map(|k| Principal::authenticated(&k.name, API_KEY_ISSUER, k.scopes.iter().cloned()))
    }
}

fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn parse_hex(hex: &str) -> Option<[u8; 32]> {
    let hex = hex.trim();
    if hex.len() != 64 || !hex.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_configured_key_names_its_principal_and_others_do_not() {
        let keys = ApiKeys::new([
            (
                "ci".to_owned(),
                api_key_digest("k-ci-0123456789abcdef"),
                vec!["tools:echo".to_owned()],
            ),
            (
                "ops".to_owned(),
                api_key_digest("k-ops-0123456789abcdef").to_uppercase(),
                vec![],
            ),
        ])
        .unwrap();
        let ci = keys.check("k-ci-0123456789abcdef").expect("known key");
        assert_eq!(ci.subject(), Some("ci"));
        assert_eq!(ci.issuer(), Some(API_KEY_ISSUER));
        assert_eq!(ci.scopes(), ["tools:echo"]);
        assert_eq!(
            keys.check("k-ops-0123456789abcdef").unwrap().subject(),
            Some("ops")
        );
        assert!(keys.check("k-ci-0123456789abcdeF").is_none());
        assert!(keys.check("").is_none());
    }

    #[test]
    fn bad_entries_are_named() {
        let bad = ApiKeys::new([("x".to_owned(), "abc".to_owned(), vec![])]).unwrap_err();
        assert!(bad.contains("\"x\""), "{bad}");
        let twice = ApiKeys::new([
            ("x".to_owned(), api_key_digest("a"), vec![]),
            ("x".to_owned(), api_key_digest("b"), vec![]),
        ])
        .unwrap_err();
        assert!(twice.contains("twice"), "{twice}");
    }
}
