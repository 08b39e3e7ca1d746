//! `[auth]`: the MCP endpoint as an OAuth 2.1 resource server. A request without a valid
//! bearer token is answered 401 with a `WWW-Authenticate` challenge naming the Protected
//! Resource Metadata; a valid one reaches the dispatcher with its principal (subject, issuer,
//! scopes). The metadata is served at `/.well-known/oauth-protected-resource` and at the
//! path-suffixed form RFC 9728 §3.1 gives for the endpoint's path. stdio is unaffected.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::{
    Router,
    extract::{Request, State},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
};
use keel_auth::{
    Algorithm, ApiKeys, AuthError, JwtSettings, KeySource, ProtectedResourceMetadata, Verifier,
    www_authenticate,
};
use keel_core::{BoxFuture, ListFilter, Listed, MethodRequest, Registry, Reply};
use keel_protocol::{ErrorCode, RpcError, methods};
use serde::Deserialize;
use tower::{Layer, Service};

use crate::ConfigError;

/// Bearer authentication of the HTTP endpoint (absent: the endpoint is open, as before).
///
/// ```toml
/// [auth.tools]                               # scopes per tool (also [auth.resources], [auth.prompts])
/// query = ["db:read"]
///
/// [auth]
/// resource = "https://mcp.example.com/mcp"   # this endpoint's public URL: the audience
/// issuer = "https://idp.example.com/realms/main"
/// jwks_url = "https://idp.example.com/realms/main/protocol/openid-connect/certs"
/// # jwks_file = "/etc/keel/jwks.json"        # a static key set instead
/// audiences = ["keel-client"]                # also accepted in `aud` (providers that put the client id there)
/// algorithms = ["RS256", "ES256"]
/// leeway_secs = 30
/// scopes_supported = ["tools:query"]
///
/// [[auth.api_keys]]                          # static keys: alone, or beside the issuer's tokens
/// name = "ci"                                # the principal's subject
/// sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
/// scopes = ["tools:query"]
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// The endpoint's public URL (behind a TLS-terminating proxy, the `https://` one).
    pub resource: String,
    /// The authorization server whose tokens are accepted (`iss`); absent with API keys alone.
    #[serde(default)]
    pub issuer: Option<String>,
    /// Its JWKS endpoint.
    pub jwks_url: Option<String>,
    /// A JWKS document on disk, instead of `jwks_url`.
    pub jwks_file: Option<String>,
    /// More accepted `aud` values besides `resource`.
    #[serde(default)]
    pub audiences: Vec<String>,
    /// Accepted signature algorithms (default RS256 and ES256); `none` does not exist here.
    #[serde(default = "default_algorithms")]
    pub algorithms: Vec<String>,
    /// Clock skew allowed on `exp`/`nbf`, seconds (default 30).
    #[serde(default = "default_leeway")]
    pub leeway_secs: u64,
    /// The least time between JWKS fetches prompted by unknown key ids, seconds (default 30).
    #[serde(default = "default_refetch")]
    pub jwks_min_refetch_secs: u64,
    /// How long a fetched key set is used before it is fetched again, seconds (default 3600).
    #[serde(default = "default_max_age")]
    pub jwks_max_age_secs: u64,
    /// Scopes listed in the metadata.
    #[serde(default)]
    pub scopes_supported: Vec<String>,
    /// Static API keys, by their SHA-256 (`keel` never stores a key itself).
    #[serde(default)]
    pub api_keys: Vec<ApiKeyConfig>,
    /// Scopes a caller needs to call a tool, by tool name (`[auth.tools] query = ["db:read"]`).
    #[serde(default)]
    pub tools: BTreeMap<String, Vec<String>>,
    /// Scopes needed to read a resource, by URI.
    #[serde(default)]
    pub resources: BTreeMap<String, Vec<String>>,
    /// Scopes needed to get a prompt, by name.
    #[serde(default)]
    pub prompts: BTreeMap<String, Vec<String>>,
}

/// One static API key.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyConfig {
    /// Who it authenticates (the principal's subject).
    pub name: String,
    /// The hex SHA-256 of the key (`printf %s KEY | sha256sum`).
    pub sha256: String,
    /// The scopes it grants.
    #[serde(default)]
    pub scopes: Vec<String>,
}

fn default_algorithms() -> Vec<String> {
    vec!["RS256".into(), "ES256".into()]
}
fn default_leeway() -> u64 {
    30
}
fn default_refetch() -> u64 {
    30
}
fn default_max_age() -> u64 {
    3600
}

impl AuthConfig {
    /// Checks the settings that can be checked without the network.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |m: String| Err(ConfigError::Invalid(format!("auth: {m}")));
        let uri: Result<http::Uri, _> = self.resource.parse();
        match uri {
            Ok(u) if matches!(u.scheme_str(), Some("https" | "http")) && u.host().is_some() => {}
            _ => {
                return invalid(format!(
                    "resource {:?} is not an http(s) URL",
                    self.resource
                ));
            }
        }
        match &self.issuer {
            Some(issuer) if issuer.is_empty() => return invalid("issuer is empty".into()),
            Some(_) if self.jwks_url.is_some() == self.jwks_file.is_some() => {
                return invalid("set exactly one of jwks_url and jwks_file".into());
            }
            None if self.api_keys.is_empty() => {
                return invalid("set an issuer (with its keys), api_keys, or both".into());
            }
            None if self.jwks_url.is_some() || self.jwks_file.is_some() => {
                return invalid("jwks_url and jwks_file need an issuer".into());
            }
            _ => {}
        }
        self.keys().map_err(ConfigError::Invalid)?;
        if self.algorithms.is_empty() {
            return invalid("algorithms must not be empty".into());
        }
        for a in &self.algorithms {
            algorithm(a).map_err(ConfigError::Invalid)?;
        }
        if self.leeway_secs > 300 || self.jwks_min_refetch_secs == 0 || self.jwks_max_age_secs == 0
        {
            return invalid(
                "leeway_secs must be at most 300, jwks_min_refetch_secs and jwks_max_age_secs positive"
                    .into(),
            );
        }
        Ok(())
    }

    /// The static API keys.
    fn keys(&self) -> Result<ApiKeys, String> {
        ApiKeys::new(
            self.api_keys
                .iter()
                .map(|k| (k.name.clone(), k.sha256.clone(), k.scopes.clone())),
        )
        .map_err(|e| format!("auth: {e}"))
    }

    /// The verifier of the issuer's tokens (reading `jwks_file` when set), when an issuer is
    /// configured.
    pub fn verifier(&self) -> Result<Option<Verifier>, ConfigError> {
        let Some(issuer) = &self.issuer else {
            return Ok(None);
        };
        let keys = match (&self.jwks_url, &self.jwks_file) {
            (Some(url), _) => KeySource::Jwks {
                url: url.clone(),
                min_refetch: Duration::from_secs(self.jwks_min_refetch_secs),
                max_age: Duration::from_secs(self.jwks_max_age_secs),
                timeout: Duration::from_secs(5),
            },
            (None, Some(path)) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.clone(),
                    source,
                })?;
                KeySource::Static(serde_json::from_str(&text).map_err(|e| {
                    ConfigError::Invalid(format!("auth.jwks_file {path}: not a JWKS document: {e}"))
                })?)
            }
            (None, None) => return Err(ConfigError::Invalid("auth: no keys configured".into())),
        };
        let algorithms = self
            .algorithms
            .iter()
            .map(|a| algorithm(a))
            .collect::<Result<_, _>>()
            .map_err(ConfigError::Invalid)?;
        let audiences = std::iter::once(self.resource.clone())
            .chain(self.audiences.iter().cloned())
            .collect();
        Ok(Some(Verifier::new(
            JwtSettings {
                issuer: issuer.clone(),
                audiences,
                algorithms,
                leeway: Duration::from_secs(self.leeway_secs),
            },
            keys,
        )))
    }

    /// The metadata URL and the paths it is served at: the path-suffixed form for the
    /// resource's path (RFC 9728 §3.1), and the bare one.
    fn metadata_url(&self) -> (String, String) {
        let uri: http::Uri = self.resource.parse().unwrap_or_default();
        let path = uri.path().trim_end_matches('/');
        let suffixed = format!("/.well-known/oauth-protected-resource{path}");
        let origin = format!(
            "{}://{}",
            uri.scheme_str().unwrap_or("https"),
            uri.authority().map_or("", |a| a.as_str())
        );
        (format!("{origin}{suffixed}"), suffixed)
    }
}

fn algorithm(name: &str) -> Result<Algorithm, String> {
    let alg: Algorithm = name
        .parse()
        .map_err(|_| format!("auth: unknown algorithm {name:?}"))?;
    if matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) {
        return Err(format!(
            "auth: {name} needs a shared secret; a resource server verifies the issuer's public keys"
        ));
    }
    Ok(alg)
}

struct Guard {
    verifier: Option<Verifier>,
    api_keys: ApiKeys,
    metadata_url: String,
    failures: Arc<AuthFailures>,
}

/// Puts bearer authentication in front of the MCP route of `mcp` and adds the metadata
/// routes.
/// Refused credentials by reason, for `/metrics`.
#[derive(Debug, Default)]
pub(crate) struct AuthFailures([std::sync::atomic::AtomicU64; AuthError::ALL.len()]);

impl AuthFailures {
    fn count(&self, error: &AuthError) {
        if let Some(i) = AuthError::ALL.iter().position(|e| e == error) {
            self.0[i].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

/// `keel_auth_failures_total{reason}`.
impl keel_middleware::exposition::Collector for AuthFailures {
    fn encode(
        &self,
        mut encoder: keel_middleware::exposition::DescriptorEncoder<'_>,
    ) -> std::fmt::Result {
        let labels: Vec<[(&str, &str); 1]> = AuthError::ALL
            .iter()
            .map(|e| [("reason", e.reason())])
            .collect();
        keel_middleware::exposition::counter(
            &mut encoder,
            "keel_auth_failures",
            "Requests refused 401 for their credentials, by reason.",
            labels.iter().map(|l| &l[..]).zip(
                self.0
                    .iter()
                    .map(|n| n.load(std::sync::atomic::Ordering::Relaxed)),
            ),
        )
    }
}

pub(crate) fn protect(
    mcp: Router,
    config: &AuthConfig,
    failures: Arc<AuthFailures>,
) -> Result<Router, ConfigError> {
    let (metadata_url, suffixed) = config.metadata_url();
    let guard = Arc::new(Guard {
        verifier: config.verifier()?,
        api_keys: config.keys().map_err(ConfigError::Invalid)?,
        metadata_url,
        failures,
    });
    let metadata = ProtectedResourceMetadata::new(
        config.resource.clone(),
        config.issuer.iter().cloned().collect(),
        config.scopes_supported.clone(),
    );
    let body = serde_json::to_string(&metadata).unwrap_or_default();
    let serve = move || {
        let body = body.clone();
        async move {
            (
                [
                    (http::header::CONTENT_TYPE, "application/json"),
                    (http::header::CACHE_CONTROL, "max-age=3600"),
                ],
                body,
            )
        }
    };
    let mut router = mcp
        .route_layer(middleware::from_fn_with_state(guard, authenticate))
        .route(&suffixed, get(serve.clone()));
    if suffixed != "/.well-known/oauth-protected-resource" {
        router = router.route("/.well-known/oauth-protected-resource", get(serve));
    }
    Ok(router)
}

async fn authenticate(
    State(guard): State<Arc<Guard>>,
    mut request: Request,
    next: Next,
) -> Response {
    let token = request
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        });
    // An API key is checked first (a hash); anything else must be the issuer's JWT.
    let outcome = match token {
        None => Err(AuthError::Missing),
        Some(token) => match (guard.api_keys.check(token), &guard.verifier) {
            (Some(principal), _) => Ok(principal),
            (None, Some(verifier)) => verifier.verify(token).await,
            (None, None) => Err(AuthError::Malformed),
        },
    };
    match outcome {
        Ok(principal) => {
            request.extensions_mut().insert(principal);
            next.run(request).await
        }
        Err(e) => {
            guard.failures.count(&e);
            tracing::debug!(reason = %e, "bearer token refused");
            let challenge = www_authenticate(
                &guard.metadata_url,
                e.code(),
                e.code().map(|_| e.to_string()).as_deref(),
                None,
            );
            let body = serde_json::json!({
                "jsonrpc": "2.0",
                "id": null,
                "error": { "code": -32001, "message": e.to_string() },
            });
            (
                http::StatusCode::UNAUTHORIZED,
                [
                    (http::header::WWW_AUTHENTICATE, challenge),
                    (http::header::CONTENT_TYPE, "application/json".into()),
                ],
                body.to_string(),
            )
                .into_response()
        }
    }
}

impl AuthConfig {
    /// Refuses `[auth.tools.NAME]` for a tool the server does not offer.
    pub(crate) fn check(&self, registry: &Registry) -> Result<(), ConfigError> {
        for tool in self.tools.keys() {
            if registry.tool(tool).is_none() {
                return Err(ConfigError::UnknownTool {
                    section: "auth.tools",
                    tool: tool.clone(),
                });
            }
        }
        Ok(())
    }

    /// The scope check for the request stack, when any scope is required.
    pub(crate) fn scope_layer(&self) -> Option<ScopeLayer> {
        self.required().map(|required| ScopeLayer { required })
    }

    /// What hides the targets a caller lacks the scopes for from its lists, when any scope
    /// is required.
    pub(crate) fn list_filter(&self) -> Option<Arc<dyn ListFilter>> {
        self.required().map(|r| r as Arc<dyn ListFilter>)
    }

    fn required(&self) -> Option<Arc<Required>> {
        if self.tools.is_empty() && self.resources.is_empty() && self.prompts.is_empty() {
            return None;
        }
        Some(Arc::new(Required {
            tools: self.tools.clone(),
            resources: self.resources.clone(),
            prompts: self.prompts.clone(),
            metadata_url: self.metadata_url().0,
        }))
    }
}

impl Required {
    /// The scopes `kind` `name` needs.
    fn needed(&self, kind: Listed, name: &str) -> Option<&Vec<String>> {
        match kind {
            Listed::Tool => self.tools.get(name),
            Listed::Resource => self.resources.get(name),
            Listed::Prompt => self.prompts.get(name),
        }
    }
}

impl ListFilter for Required {
    fn visible(&self, principal: &keel_core::Principal, kind: Listed, name: &str) -> bool {
        // Local and anonymous callers are not scope-checked (stdio; HTTP without [auth]).
        if principal.issuer().is_none() {
            return true;
        }
        self.needed(kind, name)
            .is_none_or(|needed| needed.iter().all(|s| principal.scopes().contains(s)))
    }
}

#[derive(Debug)]
struct Required {
    tools: BTreeMap<String, Vec<String>>,
    resources: BTreeMap<String, Vec<String>>,
    prompts: BTreeMap<String, Vec<String>>,
    metadata_url: String,
}

/// Refuses a call, read or prompt whose target requires a scope the authenticated caller was
/// not granted: JSON-RPC `-32003`, answered over HTTP as 403 with an `insufficient_scope`
/// challenge naming the scopes needed. Local and anonymous principals (stdio, or HTTP without
/// `[auth]`) are not checked.
#[derive(Debug, Clone)]
pub(crate) struct ScopeLayer {
    required: Arc<Required>,
}

impl<S> Layer<S> for ScopeLayer {
    type Service = ScopeService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ScopeService {
            inner,
            required: Arc::clone(&self.required),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct ScopeService<S> {
    inner: S,
    required: Arc<Required>,
}

impl<S> Service<MethodRequest> for ScopeService<S>
where
    S: Service<MethodRequest, Response = Reply, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = Reply;
    type Error = Infallible;
    type Future = BoxFuture<Result<Reply, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: MethodRequest) -> Self::Future {
        if let Some(refusal) = self.refusal(&request) {
            return Box::pin(std::future::ready(Ok(refusal)));
        }
        Box::pin(self.inner.call(request))
    }
}

impl<S> ScopeService<S> {
    fn refusal(&self, request: &MethodRequest) -> Option<Reply> {
        let principal = request.principal();
        principal.issuer()?;
        let r = &self.required;
        let target = request.target()?;
        let kind = match request.method() {
            methods::TOOLS_CALL => Listed::Tool,
            methods::RESOURCES_READ => Listed::Resource,
            methods::PROMPTS_GET => Listed::Prompt,
            _ => return None,
        };
        let needed = r.needed(kind, target)?;
        let granted = principal.scopes();
        let missing: Vec<&str> = needed
            .iter()
            .filter(|s| !granted.contains(s))
            .map(String::as_str)
            .collect();
        if missing.is_empty() {
            return None;
        }
        let message = format!("insufficient scope: {target} needs {}", missing.join(" "));
        let error = RpcError::new(ErrorCode::INSUFFICIENT_SCOPE, message.clone())
            .with_data(serde_json::json!({ "requiredScopes": needed, "missingScopes": missing }));
        let mut reply = request.refuse(&error);
        reply.challenge = Some(www_authenticate(
            &r.metadata_url,
            Some("insufficient_scope"),
            Some(&message),
            Some(&needed.join(" ")),
        ));
        Some(reply)
    }
}
