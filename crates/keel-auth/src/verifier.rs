//! Checking one bearer token.

use std::time::Duration;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation, decode, decode_header};
use keel_core::Principal;
use serde::Deserialize;

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

/// Verifies bearer tokens against [`JwtSettings`] and the issuer's keys.
#[derive(Debug)]
pub struct Verifier {
    settings: JwtSettings,
    keys: KeyStore,
}

#[derive(Deserialize)]
struct Claims {
    iss: String,
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
        Ok(Principal::authenticated(subject, claims.iss, scopes))
    }
}
