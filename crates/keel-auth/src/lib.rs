//! Keel as an OAuth 2.1 resource server (MCP authorization, 2026-07-28): bearer JWTs checked
//! against the issuer's keys — a JWKS fetched and cached, refetched when a token names an
//! unknown key id (at most once per interval, so unknown ids cannot make Keel hammer the
//! issuer), or a static set — with the audience bound to this server's resource URI (plus
//! accepted aliases for providers that put the client id there), the issuer, `exp`/`nbf` with
//! a small skew, and an algorithm allow-list (`none` is never accepted). Scopes come from
//! `scope` (a string) or `scp` (an array or a string). The result is a
//! [`keel_core::Principal`]; RFC 9728 metadata and the `WWW-Authenticate` challenges are
//! built here too.
//!
//! It is not an authorization server and never forwards a token anywhere.
#![forbid(unsafe_code)]

mod api_keys;
mod challenge;
mod error;
mod keys;
mod verifier;

pub use api_keys::{API_KEY_ISSUER, ApiKeys, api_key_digest};
pub use challenge::{ProtectedResourceMetadata, www_authenticate};
pub use error::AuthError;
pub use jsonwebtoken::Algorithm;
pub use keys::{KeySource, KeyStore};
pub use verifier::{JwtSettings, Verifier};
