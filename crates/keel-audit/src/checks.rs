//! What no answer may carry: stack traces, absolute paths, secrets, /etc/passwd contents,
//! the output of an injected command.

use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

use crate::report::Severity;

/// One leak found in an answer.
#[derive(Debug, Clone)]
pub(crate) struct Leak {
    pub(crate) rule: &'static str,
    pub(crate) severity: Severity,
    /// The matching text, shortened.
    pub(crate) excerpt: String,
}

struct Pattern {
    rule: &'static str,
    severity: Severity,
    regex: Regex,
}

static PATTERNS: LazyLock<Vec<Pattern>> = LazyLock::new(|| {
    let p = |rule, severity, re: &str| Pattern {
        rule,
        severity,
        // The expressions below are constants and compile.
        regex: Regex::new(re).unwrap_or_else(|_| Regex::new("$^").expect("trivial regex")),
    };
    vec![
        p("leak.passwd", Severity::Critical, r"root:[x*]?:0:0:"),
        p(
            "injection.command",
            Severity::Critical,
            r"uid=\d+\([a-z_][a-z0-9_-]*\)",
        ),
        p(
            "leak.secret",
            Severity::High,
            r"-----BEGIN [A-Z ]*PRIVATE KEY-----",
        ),
        p("leak.secret", Severity::High, r"\bAKIA[0-9A-Z]{16}\b"),
        p(
            "leak.secret",
            Severity::High,
            r"(?i)\bpassword\s*=\s*[^\s&]{3,}",
        ),
        p(
            "leak.stack-trace",
            Severity::Medium,
            r"Traceback \(most recent call last\)|panicked at |(?m)^\s*at [^\n]*:\d+:\d+\)?\s*$|(?m)^\s+at System\.|goroutine \d+ \[|Exception in thread |(?m)^\s+at [\w$.<>]+\([\w]+\.java:\d+\)",
        ),
        p(
            "leak.path",
            Severity::Low,
            r#"(?:^|[\s"'(=:])(?:/home/|/usr/|/app/|/root/|/var/|/opt/|/srv/|/tmp/|/Users/)[^\s"')]*|\b[A-Za-z]:\\[A-Za-z][^\s"']*"#,
        ),
    ]
});

/// Leaks in `answer_text` (the body) and `messages` (its JSON-RPC messages), ignoring
/// every occurrence of what the request itself sent (`sent`): a reflected payload is not
/// a leak. `tokens` are the caller's bearer tokens, which no answer may echo.
pub(crate) fn scan(
    answer_text: &str,
    messages: &[Value],
    sent: &[String],
    tokens: &[String],
) -> Vec<Leak> {
    let mut strings = Vec::new();
    if messages.is_empty() {
        strings.push(answer_text.to_owned());
    } else {
        for m in messages {
            collect_strings(m, &mut strings);
        }
    }
    let mut leaks = Vec::new();
    for s in strings {
        let mut s = s;
        for payload in sent.iter().filter(|p| p.len() >= 3) {
            s = s.replace(payload.as_str(), " ");
        }
        for t in tokens.iter().filter(|t| t.len() >= 8) {
            if s.contains(t.as_str()) {
                leaks.push(Leak {
                    rule: "leak.secret",
                    severity: Severity::High,
                    excerpt: "the caller's bearer token".into(),
                });
            }
        }
        for p in PATTERNS.iter() {
            if let Some(m) = p.regex.find(&s) {
                leaks.push(Leak {
                    rule: p.rule,
                    severity: p.severity,
                    excerpt: crate::wire::shorten(m.as_str().trim(), 100),
                });
            }
        }
    }
    leaks
}

fn collect_strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|i| collect_strings(i, out)),
        Value::Object(map) => map.iter().for_each(|(k, v)| {
            out.push(k.clone());
            collect_strings(v, out);
        }),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rules(text: &str) -> Vec<&'static str> {
        scan(text, &[], &[], &[])
            .into_iter()
            .map(|l| l.rule)
            .collect()
    }

    #[test]
    fn finds_each_kind() {
        assert!(
            rules("Traceback (most recent call last):\n  File x").contains(&"leak.stack-trace")
        );
        assert!(rules("Error: x\n    at foo (/x.js:1:2)\n").contains(&"leak.stack-trace"));
        assert!(rules("thread 'main' panicked at src/main.rs:1:1").contains(&"leak.stack-trace"));
        assert!(rules("error\n   at System.IO.File.Open()").contains(&"leak.stack-trace"));
        assert!(rules("cannot open /home/alice/db.sqlite").contains(&"leak.path"));
        assert!(rules(r"see C:\Users\x").contains(&"leak.path"));
        assert!(rules("-----BEGIN RSA PRIVATE KEY-----").contains(&"leak.secret"));
        assert!(rules("key AKIAIOSFODNN7EXAMPLE").contains(&"leak.secret"));
        assert!(rules("root:x:0:0:root:/root:/bin/bash").contains(&"leak.passwd"));
        assert!(rules("uid=0(root) gid=0(root)").contains(&"injection.command"));
    }

    #[test]
    fn ignores_clean_text_and_reflections() {
        assert!(rules("hello world, 3 rows at 12:30").is_empty());
        assert!(rules("https://example.com/usr/x").is_empty());
        let msg =
            json!({"result": {"content": [{"type": "text", "text": "../../etc/passwd /home/x"}]}});
        let sent = vec!["../../etc/passwd /home/x".to_owned()];
        assert!(scan("", &[msg], &sent, &[]).is_empty());
    }

    #[test]
    fn finds_an_echoed_token() {
        let msg = json!({"error": {"code": 1, "message": "bad token secret-token-123"}});
        let leaks = scan("", &[msg], &[], &["secret-token-123".into()]);
        assert!(leaks.iter().any(|l| l.rule == "leak.secret"));
    }
}
