//! Forged bearer tokens, derived from the caller's token.
//!
//! Hand-written on base64 and HMAC: the probe needs to break tokens (no signature, an
//! expired or foreign claim), which a validating JWT library is built to refuse.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

/// A decoded JWT (header and claims), if `token` is one.
pub(crate) struct Jwt {
    header: Value,
    claims: Value,
    signature: String,
}

impl Jwt {
    /// Decodes `token` without verifying it.
    pub(crate) fn decode(token: &str) -> Option<Self> {
        let mut parts = token.split('.');
        let (h, c, s) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let header: Value = serde_json::from_slice(&B64.decode(h).ok()?).ok()?;
        let claims: Value = serde_json::from_slice(&B64.decode(c).ok()?).ok()?;
        header.get("alg")?;
        Some(Self {
            header,
            claims,
            signature: s.to_owned(),
        })
    }

    /// The `sub` claim.
    pub(crate) fn subject(&self) -> Option<&str> {
        self.claims.get("sub").and_then(Value::as_str)
    }

    /// The claims with `edit` applied, signed with `secret` (HS256) when given, else
    /// carrying the original (now invalid) signature.
    pub(crate) fn forge(&self, edit: impl FnOnce(&mut Value), secret: Option<&str>) -> String {
        let mut claims = self.claims.clone();
        edit(&mut claims);
        match secret {
            Some(key) => sign_hs256(&json!({"alg": "HS256", "typ": "JWT"}), &claims, key),
            None => format!("{}.{}", encode_parts(&self.header, &claims), self.signature),
        }
    }

    /// The original claims, unsigned (`alg: none`, empty signature).
    pub(crate) fn alg_none(&self) -> String {
        format!(
            "{}.",
            encode_parts(&json!({"alg": "none", "typ": "JWT"}), &self.claims)
        )
    }

    /// The original header and claims with a tampered signature.
    pub(crate) fn bad_signature(&self) -> String {
        let mut sig: Vec<u8> = B64.decode(&self.signature).unwrap_or_else(|_| vec![0; 32]);
        if sig.is_empty() {
            sig.push(0);
        }
        for b in &mut sig {
            *b ^= 0x5a;
        }
        format!(
            "{}.{}",
            encode_parts(&self.header, &self.claims),
            B64.encode(sig)
        )
    }
}

fn encode_parts(header: &Value, claims: &Value) -> String {
    format!(
        "{}.{}",
        B64.encode(header.to_string()),
        B64.encode(claims.to_string())
    )
}

/// An HS256 JWT of `claims`.
pub(crate) fn sign_hs256(header: &Value, claims: &Value, key: &str) -> String {
    let signing_input = encode_parts(header, claims);
    // HMAC takes keys of any length.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key.as_bytes()).expect("any key length");
    mac.update(signing_input.as_bytes());
    format!(
        "{signing_input}.{}",
        B64.encode(mac.finalize().into_bytes())
    )
}

/// Seconds since the Unix epoch.
pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forges_from_a_token() {
        let t = sign_hs256(
            &json!({"alg": "HS256"}),
            &json!({"sub": "alice", "exp": now() + 60}),
            "k",
        );
        let jwt = Jwt::decode(&t).expect("a JWT");
        assert_eq!(jwt.subject(), Some("alice"));
        let none = Jwt::decode(&jwt.alg_none()).map(|j| j.header["alg"].clone());
        assert_eq!(none, Some(json!("none")));
        let expired = jwt.forge(|c| c["exp"] = json!(1), Some("k"));
        assert_eq!(
            Jwt::decode(&expired).map(|j| j.claims["exp"].clone()),
            Some(json!(1))
        );
        assert_ne!(jwt.bad_signature(), t);
        assert!(Jwt::decode("opaque-token").is_none());
    }
}
