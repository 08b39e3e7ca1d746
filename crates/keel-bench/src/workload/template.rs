//! A JSON text with `{key}` holes, rendered per request without building a JSON tree.

/// The placeholder replaced by a key number.
pub(crate) const KEY: &str = "{key}";

/// Text split at its `{key}` placeholders.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Template {
    parts: Vec<String>,
}

impl Template {
    /// `text` with its `{key}` holes (serialized JSON keeps `{key}` inside strings as is).
    pub(crate) fn new(text: &str) -> Self {
        Self {
            parts: text.split(KEY).map(str::to_owned).collect(),
        }
    }

    /// Whether the text has a `{key}` hole.
    pub(crate) fn has_key(&self) -> bool {
        self.parts.len() > 1
    }

    /// Whether the text is empty.
    pub(crate) fn is_empty(&self) -> bool {
        self.parts.iter().all(String::is_empty)
    }

    /// Appends the text with every hole replaced by `key`.
    pub(crate) fn render(&self, key: u64, out: &mut Vec<u8>) {
        use std::io::Write;
        let Some((first, rest)) = self.parts.split_first() else {
            return;
        };
        out.extend_from_slice(first.as_bytes());
        for part in rest {
            // Writing to a Vec cannot fail.
            let _ = write!(out, "{key}");
            out.extend_from_slice(part.as_bytes());
        }
    }

    /// The text with every hole replaced by `key`.
    pub(crate) fn to_string_with(&self, key: u64) -> String {
        let mut out = Vec::new();
        self.render(key, &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holes_take_the_key() {
        let t = Template::new(r#""text":"item {key} of {key}""#);
        assert!(t.has_key());
        assert_eq!(t.to_string_with(42), r#""text":"item 42 of 42""#);
        let plain = Template::new(r#""text":"hello""#);
        assert!(!plain.has_key());
        assert_eq!(plain.to_string_with(7), r#""text":"hello""#);
        assert!(Template::new("").is_empty());
    }
}
