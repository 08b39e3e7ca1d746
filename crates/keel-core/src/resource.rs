//! Resources and resource templates.

use std::{future::Future, sync::Arc};

use serde_json::{Map, Value, json};

use crate::{CacheHint, Context, ToolError, Workload, tool::BoxFuture};

/// One item of a `resources/read` result.
#[derive(Debug, Clone, PartialEq)]
pub enum ResourceContents {
    /// Text contents.
    Text {
        /// The URI.
        uri: String,
        /// MIME type.
        mime_type: Option<String>,
        /// The text.
        text: String,
    },
    /// Binary contents, Base64-encoded.
    Blob {
        /// The URI.
        uri: String,
        /// MIME type.
        mime_type: Option<String>,
        /// Base64 data.
        blob: String,
    },
}

impl ResourceContents {
    /// Text contents.
    pub fn text(uri: impl Into<String>, mime_type: &str, text: impl Into<String>) -> Self {
        Self::Text {
            uri: uri.into(),
            mime_type: Some(mime_type.into()),
            text: text.into(),
        }
    }

    pub(crate) fn to_json(&self) -> Value {
        let (uri, mime, key, body) = match self {
            Self::Text {
                uri,
                mime_type,
                text,
            } => (uri, mime_type, "text", text),
            Self::Blob {
                uri,
                mime_type,
                blob,
            } => (uri, mime_type, "blob", blob),
        };
        let mut m = Map::new();
        m.insert("uri".into(), json!(uri));
        if let Some(mt) = mime {
            m.insert("mimeType".into(), json!(mt));
        }
        m.insert(key.into(), json!(body));
        Value::Object(m)
    }
}

/// Reads a resource: given the requested URI and the template variables (empty for a fixed
/// resource), returns its contents.
pub type ReadHandler = Arc<
    dyn Fn(
            String,
            Map<String, Value>,
            Context,
        ) -> BoxFuture<Result<Vec<ResourceContents>, ToolError>>
        + Send
        + Sync,
>;

/// Suggests completions for a variable: (variable name, partial value) → candidates.
pub type CompleteHandler = Arc<dyn Fn(&str, &str) -> Vec<String> + Send + Sync>;

/// A fixed resource.
#[derive(Clone)]
pub struct Resource {
    /// The URI.
    pub uri: String,
    /// The listing entry (`name`, `title`, `description`, `mimeType`, …) as sent.
    pub listing: Value,
    /// Workload class of a read, for admission.
    pub workload: Workload,
    /// `ttlMs` / `cacheScope` of a read; `None`: the server's default for lists.
    pub cache_hint: Option<CacheHint>,
    pub(crate) read: ReadHandler,
}

/// A resource template (RFC 6570 level 1: `{var}` matches one non-empty segment without `/`).
#[derive(Clone)]
pub struct ResourceTemplate {
    /// The URI template.
    pub uri_template: String,
    /// The listing entry as sent.
    pub listing: Value,
    /// Workload class of a read, for admission.
    pub workload: Workload,
    /// `ttlMs` / `cacheScope` of a read; `None`: the server's default for lists.
    pub cache_hint: Option<CacheHint>,
    pub(crate) read: ReadHandler,
    pub(crate) complete: Option<CompleteHandler>,
}

impl ResourceTemplate {
    /// Matches a URI against the template, returning the variables.
    pub fn matches(&self, uri: &str) -> Option<Map<String, Value>> {
        let mut vars = Map::new();
        match_template(&self.uri_template, uri, |name, value| {
            vars.insert(name.into(), json!(value));
        })
        .then_some(vars)
    }

    /// Whether a URI matches the template (without collecting the variables).
    pub fn is_match(&self, uri: &str) -> bool {
        match_template(&self.uri_template, uri, |_, _| {})
    }
}

/// What a `resources/read` URI names.
#[derive(Clone, Copy)]
pub enum ResourceTarget<'a> {
    /// The fixed resource at that URI.
    Fixed(&'a Resource),
    /// The first template (in registration order) the URI matches.
    Template(&'a ResourceTemplate),
}

impl ResourceTarget<'_> {
    /// The workload class a read declares.
    pub fn workload(self) -> Workload {
        match self {
            Self::Fixed(r) => r.workload,
            Self::Template(t) => t.workload,
        }
    }

    /// The `ttlMs` / `cacheScope` a read declares.
    pub fn cache_hint(self) -> Option<CacheHint> {
        match self {
            Self::Fixed(r) => r.cache_hint,
            Self::Template(t) => t.cache_hint,
        }
    }
}

/// Matches `uri` against `template`, handing each variable to `var`.
fn match_template(template: &str, uri: &str, mut var: impl FnMut(&str, &str)) -> bool {
    let (mut t, mut u) = (template, uri);
    loop {
        match t.find('{') {
            None => return t == u,
            Some(open) => {
                let literal = &t[..open];
                let Some(rest) = u.strip_prefix(literal) else {
                    return false;
                };
                u = rest;
                let Some(close) = t[open..].find('}').map(|c| c + open) else {
                    return false;
                };
                let name = &t[open + 1..close];
                t = &t[close + 1..];
                let end = match t.find('{') {
                    _ if t.is_empty() => u.find('/').unwrap_or(u.len()),
                    Some(0) => return false,
                    _ => {
                        let next_lit = &t[..t.find('{').unwrap_or(t.len())];
                        match u.find(next_lit) {
                            Some(end) => end,
                            None => return false,
                        }
                    }
                };
                let value = &u[..end];
                if value.is_empty() || value.contains('/') {
                    return false;
                }
                var(name, value);
                u = &u[end..];
            }
        }
    }
}

/// Builds resources and templates.
pub struct ResourceBuilder {
    uri: String,
    listing: Map<String, Value>,
    workload: Workload,
    cache_hint: Option<CacheHint>,
    complete: Option<CompleteHandler>,
}

impl ResourceBuilder {
    /// A fixed resource at `uri`.
    pub fn new(uri: impl Into<String>, name: impl Into<String>) -> Self {
        let uri = uri.into();
        let mut listing = Map::new();
        listing.insert("uri".into(), json!(uri));
        listing.insert("name".into(), json!(name.into()));
        Self {
            uri,
            listing,
            workload: Workload::Light,
            cache_hint: None,
            complete: None,
        }
    }

    /// Sets the workload class of a read (default [`Workload::Light`]): admission runs
    /// reads of a database or a model in their class, beside the tools of that class.
    pub fn workload(mut self, w: Workload) -> Self {
        self.workload = w;
        self
    }

    /// Tells clients how long a read stays fresh and whether it may be shared between
    /// callers (`ttlMs`, `cacheScope`); [`CacheScope::PerPrincipal`](crate::CacheScope)
    /// for contents that depend on who reads. Without it a read carries the server's
    /// list default.
    pub fn cache_hint(mut self, hint: CacheHint) -> Self {
        self.cache_hint = Some(hint);
        self
    }

    /// Sets the title.
    pub fn title(mut self, t: &str) -> Self {
        self.listing.insert("title".into(), json!(t));
        self
    }

    /// Sets the description.
    pub fn description(mut self, d: &str) -> Self {
        self.listing.insert("description".into(), json!(d));
        self
    }

    /// Sets the MIME type.
    pub fn mime_type(mut self, m: &str) -> Self {
        self.listing.insert("mimeType".into(), json!(m));
        self
    }

    /// Sets completion of template variables.
    pub fn complete(
        mut self,
        f: impl Fn(&str, &str) -> Vec<String> + Send + Sync + 'static,
    ) -> Self {
        self.complete = Some(Arc::new(f));
        self
    }

    fn handler<F, Fut>(f: F) -> ReadHandler
    where
        F: Fn(String, Map<String, Value>, Context) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Vec<ResourceContents>, ToolError>> + Send + 'static,
    {
        Arc::new(move |uri, vars, cx| Box::pin(f(uri, vars, cx)))
    }

    /// Finishes a fixed resource.
    pub fn read<F, Fut>(self, f: F) -> Resource
    where
        F: Fn(String, Context) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Vec<ResourceContents>, ToolError>> + Send + 'static,
    {
        let f = Arc::new(f);
        Resource {
            uri: self.uri,
            listing: Value::Object(self.listing),
            workload: self.workload,
            cache_hint: self.cache_hint,
            read: Self::handler(move |uri, _, cx| f(uri, cx)),
        }
    }

    /// Finishes a template (the builder's URI is the template).
    pub fn read_template<F, Fut>(mut self, f: F) -> ResourceTemplate
    where
        F: Fn(String, Map<String, Value>, Context) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Vec<ResourceContents>, ToolError>> + Send + 'static,
    {
        self.listing.remove("uri");
        self.listing.insert("uriTemplate".into(), json!(self.uri));
        ResourceTemplate {
            uri_template: self.uri,
            listing: Value::Object(self.listing),
            workload: self.workload,
            cache_hint: self.cache_hint,
            read: Self::handler(f),
            complete: self.complete,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Map, Value, json};

    fn match_template(template: &str, uri: &str) -> Option<Map<String, Value>> {
        let mut vars = Map::new();
        super::match_template(template, uri, |k, v| {
            vars.insert(k.into(), json!(v));
        })
        .then_some(vars)
    }

    #[test]
    fn templates_match_single_segments() {
        let v = match_template("test://template/{id}/data", "test://template/42/data").unwrap();
        assert_eq!(v["id"], "42");
        assert!(match_template("test://template/{id}/data", "test://template//data").is_none());
        assert!(match_template("test://template/{id}/data", "test://other/1/data").is_none());
        let v = match_template("db://{db}/tables/{table}", "db://main/tables/orders").unwrap();
        assert_eq!(v["db"], "main");
        assert_eq!(v["table"], "orders");
        assert!(match_template("x://{a}", "x://a/b").is_none());
    }
}
