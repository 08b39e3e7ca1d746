//! The issuer's verification keys: a static set, or a JWKS document fetched over HTTP(S),
//! cached, refreshed when older than its maximum age, and refetched when a token names a key
//! id the cached set lacks — at most once per `min_refetch`, so a flood of made-up key ids
//! costs the issuer one request per interval.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::JwkSet;
use tokio::time::Instant;

use crate::AuthError;

/// Largest JWKS document read.
const MAX_JWKS_BYTES: u64 = 1 << 20;

/// Where the keys come from.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// A fixed set (from configuration).
    Static(JwkSet),
    /// The issuer's JWKS endpoint.
    Jwks {
        /// Its URL (`https://idp.example/.well-known/jwks.json`).
        url: String,
        /// The least time between two fetches prompted by unknown key ids.
        min_refetch: Duration,
        /// A cached set older than this is fetched again before use.
        max_age: Duration,
        /// The longest one fetch may take.
        timeout: Duration,
    },
}

#[derive(Debug, Default)]
struct Cached {
    set: Option<Arc<JwkSet>>,
    fetched: Option<Instant>,
}

/// The keys, shared by every verification.
#[derive(Debug)]
pub struct KeyStore {
    source: KeySource,
    cached: RwLock<Cached>,
    /// Held while fetching (one fetch at a time); holds when the last attempt started.
    fetching: tokio::sync::Mutex<Option<Instant>>,
}

impl KeyStore {
    /// Keys from `source`; a JWKS is fetched on first use.
    pub fn new(source: KeySource) -> Self {
        let cached = match &source {
            KeySource::Static(set) => Cached {
                set: Some(Arc::new(set.clone())),
                fetched: None,
            },
            KeySource::Jwks { .. } => Cached::default(),
        };
        Self {
            source,
            cached: RwLock::new(cached),
            fetching: tokio::sync::Mutex::new(None),
        }
    }

    /// The key a token names (`kid`), or the only key when it names none.
    ///
    /// # Errors
    /// [`AuthError::UnknownKey`] when no key matches, even after a refetch the interval
    /// allowed; [`AuthError::KeysUnavailable`] when no set could ever be fetched.
    pub async fn key(&self, kid: Option<&str>) -> Result<DecodingKey, AuthError> {
        let KeySource::Jwks {
            url,
            min_refetch,
            max_age,
            timeout,
        } = &self.source
        else {
            return pick(self.current().as_deref(), kid);
        };
        let stale = self
            .read()
            .fetched
            .is_none_or(|at| at.elapsed() >= *max_age);
        if !stale && let Ok(key) = pick(self.current().as_deref(), kid) {
            return Ok(key);
        }
        let mut last_attempt = self.fetching.lock().await;
        // Another caller may have fetched while this one waited.
        if let Ok(key) = pick(self.current().as_deref(), kid)
            && self
                .read()
                .fetched
                .is_some_and(|at| at.elapsed() < *max_age)
        {
            return Ok(key);
        }
        let allowed = last_attempt.is_none_or(|at| at.elapsed() >= *min_refetch)
            || self.current().is_none()
            || stale;
        if allowed {
            *last_attempt = Some(Instant::now());
            match fetch(url.clone(), *timeout).await {
                Ok(set) => {
                    let mut cached = self.cached.write().unwrap_or_else(|p| p.into_inner());
                    cached.set = Some(Arc::new(set));
                    cached.fetched = Some(Instant::now());
                }
                Err(e) => tracing::warn!(url = %url, error = %e, "cannot fetch the issuer's keys"),
            }
        }
        match self.current() {
            None => Err(AuthError::KeysUnavailable),
            set => pick(set.as_deref(), kid),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Cached> {
        self.cached.read().unwrap_or_else(|p| p.into_inner())
    }

    fn current(&self) -> Option<Arc<JwkSet>> {
        self.read().set.clone()
    }
}

fn pick(set: Option<&JwkSet>, kid: Option<&str>) -> Result<DecodingKey, AuthError> {
    let set = set.ok_or(AuthError::KeysUnavailable)?;
    let jwk = match kid {
        Some(kid) => set.find(kid),
        None if set.keys.len() == 1 => set.keys.first(),
        None => None,
    };
    let jwk = jwk.ok_or(AuthError::UnknownKey)?;
    DecodingKey::from_jwk(jwk).map_err(|_| AuthError::UnknownKey)
}

async fn fetch(url: String, timeout: Duration) -> Result<JwkSet, String> {
    let read = tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .build()
            .into();
        let mut response = agent.get(&url).call().map_err(|e| e.to_string())?;
        response
            .body_mut()
            .with_config()
            .limit(MAX_JWKS_BYTES)
            .read_to_string()
            .map_err(|e| e.to_string())
    });
    let text = read.await.map_err(|e| e.to_string())??;
    serde_json::from_str(&text).map_err(|e| format!("not a JWKS document: {e}"))
}
