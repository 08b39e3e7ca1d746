//! What a run sends: a weighted mix of requests, each a method with a parameter template
//! whose `{key}` holes take keys of a chosen cardinality and skew.
//!
//! From flags (one request kind) or a TOML file:
//!
//! ```toml
//! [[request]]
//! tool = "echo"                     # method defaults to tools/call
//! args = { text = "item {key}" }    # omitted: synthesized from the tool's inputSchema
//! weight = 8
//! keys = 1000                       # distinct {key} values
//! zipf = 1.1                        # 0 = uniform
//!
//! [[request]]
//! method = "resources/read"
//! uri = "keel://databases"
//!
//! [[request]]
//! method = "tools/list"
//! weight = 1
//! ```

mod keys;
mod param_headers;
mod synth;
mod template;

use std::path::Path;

use http::{HeaderName, HeaderValue};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use self::keys::KeyChooser;
pub(crate) use self::synth::synthesize;
pub(crate) use self::template::Template;

/// Why a workload cannot run.
#[derive(Debug, thiserror::Error)]
pub enum WorkloadError {
    /// The file cannot be read.
    #[error("cannot read workload {0}: {1}")]
    Read(String, std::io::Error),
    /// The file is not a valid workload.
    #[error("workload {0} is not valid: {1}")]
    Parse(String, toml::de::Error),
    /// `--args` is not a JSON object.
    #[error("--args must be a JSON object: {0}")]
    Args(String),
    /// A request kind is inconsistent.
    #[error("request {index} ({method}): {reason}")]
    Invalid {
        /// Position in the mix.
        index: usize,
        /// Its method.
        method: String,
        /// What is wrong.
        reason: String,
    },
    /// A named tool is not on the server.
    #[error("the server has no tool `{0}` (it has: {1})")]
    UnknownTool(String, String),
    /// A tool is needed and the server lists none.
    #[error("the server lists no tools to call")]
    NoTools,
}

/// One request kind of a workload, as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestSpec {
    /// JSON-RPC method.
    #[serde(default = "tools_call")]
    pub method: String,
    /// Tool to call (tools/call).
    pub tool: Option<String>,
    /// Prompt name (prompts/get).
    pub name: Option<String>,
    /// Resource URI (resources/read); may hold `{key}`.
    pub uri: Option<String>,
    /// Tool or prompt arguments; strings may hold `{key}`.
    pub args: Option<Value>,
    /// Raw params for other methods.
    pub params: Option<Value>,
    /// Relative weight in the mix.
    #[serde(default = "one")]
    pub weight: f64,
    /// Distinct `{key}` values.
    #[serde(default = "thousand")]
    pub keys: u64,
    /// Zipf exponent of the key choice (0 = uniform).
    #[serde(default)]
    pub zipf: f64,
}

fn tools_call() -> String {
    "tools/call".into()
}
fn one() -> f64 {
    1.0
}
fn thousand() -> u64 {
    1000
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WorkloadFile {
    request: Vec<RequestSpec>,
}

/// A workload as written, before the server's tools are known.
#[derive(Debug, Clone)]
pub struct Workload {
    requests: Vec<RequestSpec>,
}

/// A tool as the server lists it.
#[derive(Debug, Clone)]
pub(crate) struct ToolInfo {
    pub(crate) name: String,
    pub(crate) input_schema: Value,
}

impl Workload {
    /// One request kind from command-line flags.
    pub fn from_flags(
        method: &str,
        tool: Option<&str>,
        args: Option<&str>,
        keys: u64,
        zipf: f64,
    ) -> Result<Self, WorkloadError> {
        let args = args
            .map(|a| {
                serde_json::from_str::<Value>(a)
                    .ok()
                    .filter(Value::is_object)
                    .ok_or_else(|| WorkloadError::Args(a.to_owned()))
            })
            .transpose()?;
        Ok(Self {
            requests: vec![RequestSpec {
                method: method.to_owned(),
                tool: tool.map(str::to_owned),
                name: None,
                uri: None,
                args,
                params: None,
                weight: 1.0,
                keys,
                zipf,
            }],
        })
    }

    /// A mix from a TOML file.
    pub fn from_file(path: &Path) -> Result<Self, WorkloadError> {
        let shown = path.display().to_string();
        let text =
            std::fs::read_to_string(path).map_err(|e| WorkloadError::Read(shown.clone(), e))?;
        let file: WorkloadFile =
            toml::from_str(&text).map_err(|e| WorkloadError::Parse(shown, e))?;
        Ok(Self {
            requests: file.request,
        })
    }

    /// Whether the server's tool list is needed (a tool to choose or arguments to synthesize).
    pub(crate) fn needs_tools(&self) -> bool {
        self.requests
            .iter()
            .any(|r| r.method == "tools/call" && (r.tool.is_none() || r.args.is_none()))
    }

    /// Whether a request kind calls a tool (whose schema may ask for mirrored headers).
    pub(crate) fn calls_tools(&self) -> bool {
        self.requests.iter().any(|r| r.method == "tools/call")
    }

    /// The mix ready to send, tools resolved against `tools` when listed.
    pub(crate) fn resolve(&self, tools: Option<&[ToolInfo]>) -> Result<Mix, WorkloadError> {
        if self.requests.is_empty() {
            return Err(WorkloadError::Invalid {
                index: 0,
                method: String::new(),
                reason: "a workload needs at least one [[request]]".into(),
            });
        }
        let mut entries = Vec::new();
        let mut cumulative = Vec::new();
        let mut total = 0.0;
        for (index, spec) in self.requests.iter().enumerate() {
            let invalid = |reason: String| WorkloadError::Invalid {
                index,
                method: spec.method.clone(),
                reason,
            };
            if !(spec.weight.is_finite() && spec.weight > 0.0) {
                return Err(invalid(format!("weight {} must be > 0", spec.weight)));
            }
            let keys = KeyChooser::new(spec.keys, spec.zipf).map_err(invalid)?;
            let (params, name, mirrored) = params_of(spec, tools).map_err(|e| match e {
                ParamsError::Invalid(reason) => invalid(reason),
                ParamsError::Workload(e) => e,
            })?;
            let method = HeaderValue::try_from(spec.method.as_str())
                .map_err(|_| invalid("the method is not a valid header value".into()))?;
            let text = serde_json::to_string(&params).unwrap_or_default();
            // The params object without its braces: `_meta` and retry fields are appended.
            let inner = text
                .strip_prefix('{')
                .and_then(|t| t.strip_suffix('}'))
                .unwrap_or("");
            total += spec.weight;
            cumulative.push(total);
            let name = name.map(|n| Template::new(&n));
            let fixed_name = name
                .as_ref()
                .filter(|n| !n.has_key())
                .and_then(|n| crate::mcp::name_header(&n.to_string_with(0)));
            entries.push(Entry {
                method: spec.method.clone(),
                method_header: method,
                fixed_name,
                name,
                param_headers: mirrored,
                params: Template::new(inner),
                keys,
            });
        }
        for c in &mut cumulative {
            *c /= total;
        }
        Ok(Mix {
            entries,
            cumulative,
        })
    }
}

/// `Mcp-Param-*` headers of a request kind: each header and its value's template.
type Mirrored = Vec<(HeaderName, Template)>;

enum ParamsError {
    Invalid(String),
    Workload(WorkloadError),
}

/// The params object of a request kind, the source of its `Mcp-Name` header and the
/// parameters its tool mirrors into headers.
fn params_of(
    spec: &RequestSpec,
    tools: Option<&[ToolInfo]>,
) -> Result<(Value, Option<String>, Mirrored), ParamsError> {
    let args_object = |args: &Option<Value>| -> Result<Option<Value>, ParamsError> {
        match args {
            None => Ok(None),
            Some(a @ Value::Object(_)) => Ok(Some(a.clone())),
            Some(_) => Err(ParamsError::Invalid("args must be a table".into())),
        }
    };
    match spec.method.as_str() {
        "tools/call" => {
            let tool = choose_tool(spec.tool.as_deref(), tools).map_err(ParamsError::Workload)?;
            let args = match args_object(&spec.args)? {
                Some(a) => a,
                None => tool
                    .as_ref()
                    .map(|t| synthesize(&t.input_schema))
                    .filter(Value::is_object)
                    .unwrap_or_else(|| json!({})),
            };
            let mirrored = tool
                .as_ref()
                .map(|t| {
                    param_headers::param_headers(&t.input_schema)
                        .iter()
                        .filter_map(|p| {
                            param_headers::value_template(p, &args).map(|v| (p.header.clone(), v))
                        })
                        .collect()
                })
                .unwrap_or_default();
            let name = tool
                .map(|t| t.name)
                .or_else(|| spec.tool.clone())
                .ok_or(ParamsError::Workload(WorkloadError::NoTools))?;
            Ok((
                json!({"name": name, "arguments": args}),
                Some(name),
                mirrored,
            ))
        }
        "prompts/get" => {
            let name = spec
                .name
                .clone()
                .ok_or_else(|| ParamsError::Invalid("prompts/get needs name".into()))?;
            let mut params = Map::new();
            params.insert("name".into(), Value::String(name.clone()));
            if let Some(a) = args_object(&spec.args)? {
                params.insert("arguments".into(), a);
            }
            Ok((Value::Object(params), Some(name), Vec::new()))
        }
        "resources/read" => {
            let uri = spec
                .uri
                .clone()
                .ok_or_else(|| ParamsError::Invalid("resources/read needs uri".into()))?;
            Ok((json!({ "uri": uri }), Some(uri), Vec::new()))
        }
        _ => match &spec.params {
            None => Ok((json!({}), None, Vec::new())),
            Some(p @ Value::Object(_)) => Ok((p.clone(), None, Vec::new())),
            Some(_) => Err(ParamsError::Invalid("params must be a table".into())),
        },
    }
}

/// The tool a tools/call kind uses: the named one (checked when the list is known), else
/// `echo` when listed, else the first listed tool.
fn choose_tool(
    named: Option<&str>,
    tools: Option<&[ToolInfo]>,
) -> Result<Option<ToolInfo>, WorkloadError> {
    let Some(tools) = tools else {
        return Ok(None);
    };
    match named {
        Some(n) => tools
            .iter()
            .find(|t| t.name == n)
            .cloned()
            .map(Some)
            .ok_or_else(|| {
                let names: Vec<&str> = tools.iter().map(|t| t.name.as_str()).collect();
                WorkloadError::UnknownTool(n.to_owned(), names.join(", "))
            }),
        None => tools
            .iter()
            .find(|t| t.name == "echo")
            .or_else(|| tools.first())
            .cloned()
            .map(Some)
            .ok_or(WorkloadError::NoTools),
    }
}

/// A resolved workload: request kinds and their cumulative weights.
#[derive(Debug)]
pub(crate) struct Mix {
    pub(crate) entries: Vec<Entry>,
    cumulative: Vec<f64>,
}

/// One request kind ready to render.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) method: String,
    pub(crate) method_header: HeaderValue,
    /// The `Mcp-Name` header when it does not depend on the key.
    pub(crate) fixed_name: Option<HeaderValue>,
    pub(crate) name: Option<Template>,
    /// `Mcp-Param-*` headers (2026-07-28 over HTTP).
    pub(crate) param_headers: Mirrored,
    pub(crate) params: Template,
    pub(crate) keys: KeyChooser,
}

impl Mix {
    /// A request kind by weight and a key for it.
    pub(crate) fn pick(&self, rng: &mut fastrand::Rng) -> (&Entry, u64) {
        let i = if self.entries.len() == 1 {
            0
        } else {
            let u = rng.f64();
            self.cumulative
                .partition_point(|&c| c < u)
                .min(self.entries.len() - 1)
        };
        let entry = &self.entries[i];
        (entry, entry.keys.pick(rng))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tools() -> Vec<ToolInfo> {
        vec![
            ToolInfo {
                name: "add".into(),
                input_schema: json!({"type":"object","properties":{"a":{"type":"integer"}},"required":["a"]}),
            },
            ToolInfo {
                name: "echo".into(),
                input_schema: json!({"type":"object","properties":{"text":{"type":"string"}},"required":["text"]}),
            },
        ]
    }

    #[test]
    fn flags_default_to_echo_with_synthesized_arguments() {
        let w = Workload::from_flags("tools/call", None, None, 10, 0.0).unwrap();
        assert!(w.needs_tools());
        let mix = w.resolve(Some(&tools())).unwrap();
        let e = &mix.entries[0];
        assert_eq!(
            e.params.to_string_with(3),
            r#""arguments":{"text":"bench 3"},"name":"echo""#
        );
        assert_eq!(
            e.name.as_ref().map(|n| n.to_string_with(0)).as_deref(),
            Some("echo")
        );
        let err = Workload::from_flags("tools/call", Some("nope"), None, 10, 0.0)
            .unwrap()
            .resolve(Some(&tools()))
            .unwrap_err();
        assert!(err.to_string().contains("add, echo"), "{err}");
        assert!(Workload::from_flags("tools/call", None, Some("[1]"), 10, 0.0).is_err());
    }

    #[test]
    fn a_toml_mix_is_drawn_by_weight() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.toml");
        std::fs::write(
            &path,
            r#"
[[request]]
tool = "echo"
args = { text = "k{key}" }
weight = 3
keys = 5
[[request]]
method = "tools/list"
weight = 1
[[request]]
method = "resources/read"
uri = "file:///{key}"
weight = 0.000001
"#,
        )
        .unwrap();
        let w = Workload::from_file(&path).unwrap();
        assert!(!w.needs_tools());
        let mix = w.resolve(None).unwrap();
        let mut rng = fastrand::Rng::with_seed(1);
        let mut calls = 0;
        for _ in 0..10_000 {
            let (e, key) = mix.pick(&mut rng);
            if e.method == "tools/call" {
                calls += 1;
                assert!(key < 5);
            }
        }
        assert!((7_200..7_800).contains(&calls), "{calls}");
        std::fs::write(&path, "[[request]]\nbogus = 1\n").unwrap();
        assert!(Workload::from_file(&path).is_err());
        std::fs::write(&path, "[[request]]\nmethod = \"prompts/get\"\n").unwrap();
        assert!(Workload::from_file(&path).unwrap().resolve(None).is_err());
    }
}
