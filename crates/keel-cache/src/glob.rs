//! Glob matching over tag names: `*` matches any run of characters, `?` exactly one.

/// Whether `name` matches `pattern` (no escapes, no classes).
pub(crate) fn matches(pattern: &str, name: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let name: Vec<char> = name.chars().collect();
    let (mut p, mut n) = (0, 0);
    // Where the last `*` was and how much of `name` it has swallowed: backtrack there.
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        match pattern.get(p) {
            Some('*') => {
                star = Some((p, n));
                p += 1;
            }
            Some(&c) if c == '?' || c == name[n] => {
                p += 1;
                n += 1;
            }
            _ => match star {
                Some((star_p, star_n)) => {
                    p = star_p + 1;
                    n = star_n + 1;
                    star = Some((star_p, star_n + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn globs() {
        assert!(matches("tool:*", "tool:query"));
        assert!(matches("tool:*", "tool:"));
        assert!(!matches("tool:*", "tools:query"));
        assert!(matches("*query", "tool:query"));
        assert!(matches("t??l:*y", "tool:query"));
        assert!(!matches("t?l:*", "tool:query"));
        assert!(matches("*", ""));
        assert!(matches("a*b*c", "aXXbYYc"));
        assert!(!matches("a*b*c", "aXXbYY"));
        assert!(matches("user:*:rw", "user:ann:rw"));
        assert!(matches("é?", "éx"));
        assert!(!matches("", "x"));
    }
}
