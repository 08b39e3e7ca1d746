//! `[admission]`: capacity and queue depth per workload class (the built-in ones and those
//! the server defines in `[admission.classes.NAME]`), the bound on queue wait, per-tool
//! classes and timeouts (`[admission.tools.NAME]`), turned once into the admission layer's
//! `AdmissionLimits` and the timeout layer's `ToolTimeouts`.

use std::{collections::BTreeMap, time::Duration};

use keel_core::{Registry, Workload};
use keel_middleware::{
    AdmissionLimits, CallTimeout, Capacity, MaxQueueWait, QueueDepth, ToolTimeouts, named_class,
    parse_class,
};
use serde::Deserialize;

use crate::ConfigError;

/// Deepest queue a class may have.
const MAX_QUEUE: usize = 1 << 24;
/// Longest queue-wait bound, milliseconds (one hour).
const MAX_WAIT_MS: u64 = 3_600_000;
/// Longest tool call timeout, milliseconds (one day).
const MAX_TIMEOUT_MS: u64 = 86_400_000;

/// Admission per workload class; a class not given keeps its default (light 4096, cpu one
/// per core, io 64, ml 32; queues twice the capacity; no queue-wait bound). No call has a
/// timeout unless one is set.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdmissionConfig {
    /// Longest a call may wait in a class's queue before it is refused, milliseconds.
    pub max_queue_wait_ms: Option<u64>,
    /// How long a tool call without a timeout of its own may run once admitted,
    /// milliseconds; past it the call is cancelled and answered `timed_out`.
    pub default_timeout_ms: Option<u64>,
    /// Cheap tools (echo, lookups).
    pub light: Option<ClassConfig>,
    /// CPU-bound tools (analyze).
    pub cpu: Option<ClassConfig>,
    /// Tools and resources waiting on a database or service (query, `keel://db/...`).
    pub io: Option<ClassConfig>,
    /// Model inference (embed, similarity, classify).
    pub ml: Option<ClassConfig>,
    /// Classes of the server's own, by name (`[a-z0-9_-]`, not a built-in one): what tools,
    /// resources and prompts declaring `Workload::named(NAME)` are admitted in.
    pub classes: BTreeMap<String, ClassConfig>,
    /// Per-tool settings, by tool name.
    pub tools: BTreeMap<String, ToolAdmissionConfig>,
}

/// One class's limits.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassConfig {
    /// Calls running at once.
    pub capacity: usize,
    /// Calls waiting beyond those (default: twice the capacity); past it calls are refused.
    pub queue: Option<usize>,
}

/// `[admission.tools.NAME]`: unset keys keep what the tool declares and the default.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ToolAdmissionConfig {
    /// The class the tool's calls are admitted in: a built-in one (`light`, `cpu`, `io`,
    /// `ml`) or one of `[admission.classes]`.
    pub class: Option<String>,
    /// How long a call may run once admitted, milliseconds (instead of
    /// `default_timeout_ms`).
    pub timeout_ms: Option<u64>,
}

impl AdmissionConfig {
    fn built_in(&self) -> [(Workload, Option<ClassConfig>); 4] {
        [
            (Workload::Light, self.light),
            (Workload::Cpu, self.cpu),
            (Workload::Io, self.io),
            (Workload::Ml, self.ml),
        ]
    }

    /// Refuses values out of range, malformed class names and classes no section defines.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |m: String| Err(ConfigError::Invalid(m));
        let built_in = self
            .built_in()
            .into_iter()
            .map(|(w, c)| (format!("admission.{}", w.as_str()), c));
        let named = self
            .classes
            .iter()
            .map(|(name, c)| (format!("admission.classes.{name}"), Some(*c)));
        for (key, class) in built_in.chain(named) {
            let Some(c) = class else { continue };
            if !(1..=Capacity::MAX).contains(&c.capacity) {
                return invalid(format!(
                    "{key}.capacity must be between 1 and {}, not {}",
                    Capacity::MAX,
                    c.capacity
                ));
            }
            if c.queue.is_some_and(|q| q > MAX_QUEUE) {
                return invalid(format!("{key}.queue must be at most {MAX_QUEUE}"));
            }
        }
        for name in self.classes.keys() {
            if let Err(e) = named_class(name) {
                return invalid(format!("admission.classes.{name}: {e}"));
            }
        }
        for (key, ms, max) in [
            (
                "admission.max_queue_wait_ms",
                self.max_queue_wait_ms,
                MAX_WAIT_MS,
            ),
            (
                "admission.default_timeout_ms",
                self.default_timeout_ms,
                MAX_TIMEOUT_MS,
            ),
        ] {
            if let Some(ms) = ms
                && !(1..=max).contains(&ms)
            {
                return invalid(format!("{key} must be between 1 and {max}, not {ms}"));
            }
        }
        for (tool, t) in &self.tools {
            if let Some(ms) = t.timeout_ms
                && !(1..=MAX_TIMEOUT_MS).contains(&ms)
            {
                return invalid(format!(
                    "admission.tools.{tool}.timeout_ms must be between 1 and {MAX_TIMEOUT_MS}, not {ms}"
                ));
            }
            if let Some(class) = &t.class {
                let defined = match parse_class(class) {
                    Ok(w) => w.is_built_in() || self.classes.contains_key(class),
                    Err(_) => false,
                };
                if !defined {
                    return Err(ConfigError::UndefinedClass {
                        what: format!("admission.tools.{tool}.class"),
                        class: class.clone(),
                    });
                }
            }
        }
        Ok(())
    }

    /// The limits the admission layer enforces (values validated already).
    pub fn limits(&self) -> AdmissionLimits {
        let mut limits = AdmissionLimits::default();
        let built_in = self.built_in().into_iter().map(|(w, c)| (Ok(w), c));
        let named = self
            .classes
            .iter()
            .map(|(name, c)| (named_class(name), Some(*c)));
        for (workload, class) in built_in.chain(named) {
            // Errors are refused by validate.
            let (Ok(workload), Some(c)) = (workload, class) else {
                continue;
            };
            let Ok(capacity) = Capacity::new(c.capacity) else {
                continue;
            };
            let queue = c.queue.unwrap_or(2 * capacity.get());
            limits = limits.with_class(workload, capacity, QueueDepth(queue));
        }
        for (tool, t) in &self.tools {
            if let Some(Ok(class)) = t.class.as_deref().map(parse_class) {
                limits = limits.with_tool_class(tool.clone(), class);
            }
        }
        limits.with_max_queue_wait(
            self.max_queue_wait_ms
                .map(|ms| MaxQueueWait(Duration::from_millis(ms))),
        )
    }

    /// The tool call timeouts (empty without `default_timeout_ms` or a tool's `timeout_ms`).
    pub fn timeouts(&self) -> ToolTimeouts {
        let ms = |ms| CallTimeout(Duration::from_millis(ms));
        let mut timeouts = ToolTimeouts::default().with_default(self.default_timeout_ms.map(ms));
        for (tool, t) in &self.tools {
            if let Some(timeout) = t.timeout_ms {
                timeouts = timeouts.with_tool(tool.clone(), ms(timeout));
            }
        }
        timeouts
    }

    /// Refuses a registry this configuration cannot serve: a `[admission.tools.NAME]` for a
    /// tool it does not offer, or a tool, resource, template or prompt in a class `limits`
    /// do not define (rather than admitting it in some other class unseen).
    pub(crate) fn check(
        &self,
        registry: &Registry,
        limits: &AdmissionLimits,
    ) -> Result<(), ConfigError> {
        if let Some(tool) = self.tools.keys().find(|t| registry.tool(t).is_none()) {
            return Err(ConfigError::UnknownTool {
                section: "admission.tools",
                tool: tool.clone(),
            });
        }
        let undefined = |kind: &str, name: &str, class: Workload| {
            (!limits.defines(class)).then(|| ConfigError::UndefinedClass {
                what: format!("{kind} {name:?}"),
                class: class.as_str().to_owned(),
            })
        };
        let tools = registry.tools().iter().map(|t| {
            let moved = limits.tool_classes().get(&t.definition.name).copied();
            (
                "tool",
                t.definition.name.as_str(),
                moved.unwrap_or(t.definition.workload),
            )
        });
        let resources = registry
            .resources()
            .iter()
            .map(|r| ("resource", r.uri.as_str(), r.workload));
        let templates = registry
            .templates()
            .iter()
            .map(|t| ("resource template", t.uri_template.as_str(), t.workload));
        let prompts = registry
            .prompts()
            .iter()
            .map(|p| ("prompt", p.name.as_str(), p.workload));
        match tools
            .chain(resources)
            .chain(templates)
            .chain(prompts)
            .find_map(|(kind, name, class)| undefined(kind, name, class))
        {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<AdmissionConfig, ConfigError> {
        let c: AdmissionConfig = toml::from_str(text)?;
        c.validate()?;
        Ok(c)
    }

    #[test]
    fn classes_from_config_replace_only_their_defaults() {
        let c =
            parse("max_queue_wait_ms = 250\n[cpu]\ncapacity = 3\n[io]\ncapacity = 8\nqueue = 0\n")
                .unwrap();
        let limits = c.limits();
        let defaults = AdmissionLimits::default();
        let (cap, queue) = limits.class(Workload::Cpu).unwrap();
        assert_eq!((cap.get(), queue.0), (3, 6));
        let (cap, queue) = limits.class(Workload::Io).unwrap();
        assert_eq!((cap.get(), queue.0), (8, 0));
        assert_eq!(
            limits.class(Workload::Light),
            defaults.class(Workload::Light)
        );
        assert_eq!(limits.class(Workload::Ml), defaults.class(Workload::Ml));
        assert_eq!(
            limits.max_queue_wait(),
            Some(MaxQueueWait(Duration::from_millis(250)))
        );
        assert_eq!(parse("").unwrap().limits(), defaults);
        assert!(parse("").unwrap().timeouts().is_empty());
    }

    #[test]
    fn classes_of_the_servers_own_and_per_tool_settings_are_read() {
        let c = parse(
            "default_timeout_ms = 30000\n\
             [classes.reports]\ncapacity = 2\n\
             [classes.batch-jobs_2]\ncapacity = 1\nqueue = 0\n\
             [tools.query]\nclass = \"reports\"\ntimeout_ms = 5000\n\
             [tools.echo]\nclass = \"cpu\"\n\
             [tools.analyze]\ntimeout_ms = 60000\n",
        )
        .unwrap();
        let limits = c.limits();
        let reports = Workload::named("reports");
        let (cap, queue) = limits.class(reports).unwrap();
        assert_eq!((cap.get(), queue.0), (2, 4));
        let (cap, queue) = limits.class(Workload::named("batch-jobs_2")).unwrap();
        assert_eq!((cap.get(), queue.0), (1, 0));
        let names: Vec<_> = limits.per_workload().map(|(w, _, _)| w.as_str()).collect();
        assert_eq!(
            names,
            ["light", "cpu", "io", "ml", "batch-jobs_2", "reports"]
        );
        assert_eq!(limits.tool_classes()["query"], reports);
        assert_eq!(limits.tool_classes()["echo"], Workload::Cpu);
        assert!(!limits.tool_classes().contains_key("analyze"));

        let t = c.timeouts();
        let ms = |n| Some(CallTimeout(Duration::from_millis(n)));
        assert_eq!(t.of("query"), ms(5000));
        assert_eq!(t.of("analyze"), ms(60000));
        assert_eq!(t.of("echo"), ms(30000), "the default");
    }

    #[test]
    fn bad_class_names_and_undefined_classes_are_refused_with_their_key() {
        for (text, needle) in [
            (
                "[classes.cpu]\ncapacity = 1\n",
                "admission.classes.cpu: \"cpu\" is a built-in",
            ),
            (
                "[classes.Reports]\ncapacity = 1\n",
                "admission.classes.Reports",
            ),
            ("[classes.\"a b\"]\ncapacity = 1\n", "admission.classes.a b"),
            ("[classes.\"\"]\ncapacity = 1\n", "cannot be empty"),
            (
                "[classes.reports]\ncapacity = 0\n",
                "admission.classes.reports.capacity",
            ),
            (
                "[classes.reports]\ncapacity = 1\nqueue = 99999999999\n",
                "admission.classes.reports.queue",
            ),
            (
                "[tools.echo]\nclass = \"reports\"\n",
                "admission.tools.echo.class uses workload class \"reports\", which no \
                 [admission.classes.reports] section defines",
            ),
            (
                "[tools.echo]\nclass = \"GPU\"\n",
                "admission.tools.echo.class",
            ),
            (
                "[tools.echo]\ntimeout_ms = 0\n",
                "admission.tools.echo.timeout_ms",
            ),
            ("default_timeout_ms = 0\n", "admission.default_timeout_ms"),
            (
                "default_timeout_ms = 86400001\n",
                "admission.default_timeout_ms must be between 1 and 86400000",
            ),
        ] {
            let e = parse(text).unwrap_err().to_string();
            assert!(e.contains(needle), "{text}: {e}");
        }
        assert!(parse("[tools.echo]\nclass = \"cpu\"\nburst = 2\n").is_err());
        assert!(parse("[classes.reports]\ncapacity = 1\nburst = 2\n").is_err());
    }

    fn registry(tool_class: Workload, prompt_class: Workload) -> Registry {
        use keel_core::{CallToolResult, PromptBuilder, ResourceBuilder, ToolBuilder};
        Registry::builder()
            .tool(
                ToolBuilder::new("report", serde_json::json!({ "type": "object" }))
                    .workload(tool_class)
                    .handler(|_: serde_json::Value, _| async { Ok(CallToolResult::text("r")) }),
            )
            .resource(
                ResourceBuilder::new("test://r", "r")
                    .workload(Workload::Io)
                    .read(|_, _| async { Ok(Vec::new()) }),
            )
            .prompt(
                PromptBuilder::new("summary")
                    .workload(prompt_class)
                    .get(|_, _| async { Ok(serde_json::json!({ "messages": [] })) }),
            )
            .build()
            .unwrap()
    }

    fn check(config: &str, registry: &Registry) -> Result<(), ConfigError> {
        let c = parse(config)?;
        c.check(registry, &c.limits())
    }

    #[test]
    fn a_registry_in_classes_the_configuration_does_not_define_is_refused() {
        let reports = Workload::named("reports");
        let defined = "[classes.reports]\ncapacity = 1\n";
        assert!(check(defined, &registry(reports, reports)).is_ok());
        assert!(check("", &registry(Workload::Cpu, Workload::Light)).is_ok());

        let e = check("", &registry(reports, Workload::Light)).unwrap_err();
        assert!(
            matches!(&e, ConfigError::UndefinedClass { what, class }
                if what == "tool \"report\"" && class == "reports"),
            "{e:?}"
        );
        assert_eq!(
            e.to_string(),
            "invalid configuration: tool \"report\" uses workload class \"reports\", which no \
             [admission.classes.reports] section defines"
        );
        let e = check("", &registry(Workload::Light, reports)).unwrap_err();
        assert!(
            e.to_string()
                .contains("prompt \"summary\" uses workload class \"reports\""),
            "{e}"
        );
        // A tool moved into a defined class no longer needs the one it declares.
        assert!(
            check(
                "[tools.report]\nclass = \"io\"\n",
                &registry(reports, Workload::Light)
            )
            .is_ok()
        );

        let e = check(
            "[tools.nope]\ntimeout_ms = 5\n",
            &registry(Workload::Light, Workload::Light),
        )
        .unwrap_err();
        assert!(
            matches!(&e, ConfigError::UnknownTool { section: "admission.tools", tool } if tool == "nope"),
            "{e:?}"
        );
        assert_eq!(
            e.to_string(),
            "invalid configuration: [admission.tools.nope] names no tool this server offers"
        );
    }

    #[test]
    fn bad_values_are_refused_with_their_key() {
        for (text, key) in [
            ("[cpu]\ncapacity = 0\n", "admission.cpu.capacity"),
            (
                "[ml]\ncapacity = 4\nqueue = 99999999999\n",
                "admission.ml.queue",
            ),
            ("max_queue_wait_ms = 0\n", "admission.max_queue_wait_ms"),
        ] {
            let e = parse(text).unwrap_err().to_string();
            assert!(e.contains(key), "{text}: {e}");
        }
        assert!(parse("[gpu]\ncapacity = 1\n").is_err());
        assert!(parse("[cpu]\ncapacity = 1\nburst = 2\n").is_err());
    }
}
