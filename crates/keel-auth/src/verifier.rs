//! Checking one bearer token.

use std::time::Duration;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation, decode, decode_header, get_current_timestamp};
use keel_core::Principal;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::{AuthError, KeySource, KeyStore};

/// What a token must satisfy.
#[derive(Debug, Clone)]
pub struct JwtSettings {
    /// The only accepted `iss`.
    pub issuer: String,
    /// Accepted `aud` values: this server's resource URI first, then aliases (a client id,
    /// for identity providers that put it there).
    pub audiences: Vec<String>,
    /// Accepted signature algorithms.
    pub algorithms: Vec<Algorithm>,
    /// Clock skew allowed on `exp` and `nbf`.
    pub leeway: Duration,
}

/// Verified tokens kept: a client sends the same token with every request, and a signature
/// check costs far more than serving an echo.
const VERIFIED_CAPACITY: u64 = 10_000;
/// The longest a verified token is trusted without checking it again (its `exp` comes first).
const VERIFIED_TTL: Duration = Duration::from_secs(300);

/// Verifies bearer tokens against [`JwtSettings`] and the issuer's keys, remembering the
/// tokens it verified (by their SHA-256, until their `exp` or five minutes) so a client's
/// repeated token costs one hash, not a signature check.
pub struct Verifier {
    settings: JwtSettings,
    keys: KeyStore,
    verified: moka::sync::Cache<[u8; 32], (Principal, u64)>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("settings", &self.settings)
            .field("keys", &self.keys)
            .field("verified", &self.verified.entry_count())
            .finish()
    }
}

#[derive(Deserialize)]
struct Claims {
    iss: String,
    exp: u64,
    sub: Option<String>,
    client_id: Option<String>,
    scope: Option<String>,
    scp: Option<Scopes>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Scopes {
    List(Vec<String>),
    Text(String),
}

impl Verifier {
    /// A verifier with keys from `keys`.
    pub fn new(settings: JwtSettings, keys: KeySource) -> Self {
        Self {
            settings,
            keys: KeyStore::new(keys),
            verified: moka::sync::Cache::builder()
                .max_capacity(VERIFIED_CAPACITY)
                .time_to_live(VERIFIED_TTL)
                .build(),
        }
    }

    /// The settings.
    pub fn settings(&self) -> &JwtSettings {
        &self.settings
    }

    /// Checks `token` and names who it speaks for, with its scopes.
    ///
    /// # Errors
    /// The [`AuthError`] saying why it cannot authenticate.
    pub async fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let now = get_current_timestamp();
        if let Some((principal, exp)) = self.verified.get(&digest) {
            if now < exp {
                return Ok(principal);
            }
            self.verified.invalidate(&digest);
        }
        let (principal, exp) = self.check(token).await?;
        self.verified.insert(digest, (principal.clone(), exp));
        Ok(principal)
    }

    /// The full check: header, key, signature and claims; the principal and its `exp`.
    async fn check(&self, token: &str) -> Result<(Principal, u64), AuthError> {
        // `alg: none` (and anything else unknown) fails here: it is not an `Algorithm`.
        let header = decode_header(token).map_err(|_| AuthError::Malformed)?;
        if !self.settings.algorithms.contains(&header.alg) {
            return Err(AuthError::Algorithm);
        }
        let key = self.keys.key(header.kid.as_deref()).await?;
        let mut validation = Validation::new(header.alg);
        validation.algorithms = vec![header.alg];
        validation.set_audience(&self.settings.audiences);
        validation.set_issuer(&[&self.settings.issuer]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.validate_nbf = true;
        validation.leeway = self.settings.leeway.as_secs();
        let claims = decode::<Claims>(token, &key, &validation)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => AuthError::Expired,
                ErrorKind::ImmatureSignature => AuthError::NotYetValid,
                ErrorKind::InvalidAudience => AuthError::Audience,
                ErrorKind::MissingRequiredClaim(c) if c == "aud" => AuthError::Audience,
                ErrorKind::InvalidIssuer => AuthError::Issuer,
                ErrorKind::MissingRequiredClaim(c) if c == "iss" => AuthError::Issuer,
                ErrorKind::InvalidSignature => AuthError::Signature,
                ErrorKind::InvalidAlgorithm => AuthError::Algorithm,
                _ => AuthError::Malformed,
            })?
            .claims;
        let subject = claims
            .sub
            .or(claims.client_id)
            .ok_or(AuthError::Malformed)?;
        let scopes: Vec<String> = match (claims.scope, claims.scp) {
            (Some(text), _) | (None, Some(Scopes::Text(text))) => {
                text.split_whitespace().map(str::to_owned).collect()
            }
            (None, Some(Scopes::List(list))) => list,
            (None, None) => Vec::new(),
        };
        Ok((
            Principal::authenticated(subject, claims.iss, scopes),
            claims.exp,
        ))
    }
}
