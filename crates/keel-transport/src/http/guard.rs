//! DNS-rebinding protection: Host and Origin checks.

use http::{HeaderMap, header};

/// Accepted Host / Origin host names.
#[derive(Debug, Clone)]
pub enum OriginPolicy {
    /// Only these host names (any port); an Origin, when present, must name one of them too.
    Hosts(Vec<String>),
    /// No check (for deployments behind a proxy that does it).
    Any,
}

impl OriginPolicy {
    /// `localhost`, `127.0.0.1` and `[::1]`.
    pub fn loopback() -> Self {
        Self::Hosts(vec!["localhost".into(), "127.0.0.1".into(), "[::1]".into()])
    }

    fn allows(&self, host: &str) -> bool {
        match self {
            Self::Any => true,
            Self::Hosts(list) => list.iter().any(|h| h.eq_ignore_ascii_case(host)),
        }
    }

    /// Whether the request's Host and Origin are acceptable.
    pub(crate) fn check(&self, headers: &HeaderMap) -> bool {
        if matches!(self, Self::Any) {
            return true;
        }
        let host_ok = match headers.get(header::HOST).and_then(|h| h.to_str().ok()) {
            Some(h) => self.allows(strip_port(h)),
            None => true,
        };
        let origin_ok = match headers.get(header::ORIGIN).and_then(|h| h.to_str().ok()) {
            None | Some("null") => headers.get(header::ORIGIN).is_none(),
            Some(o) => {
                let rest = o.split_once("://").map_or(o, |(_, r)| r);
                let authority = rest.split('/').next().unwrap_or(rest);
                self.allows(strip_port(authority))
            }
        };
        host_ok && origin_ok
    }
}

fn strip_port(authority: &str) -> &str {
    if authority.starts_with('[') {
        return authority.find(']').map_or(authority, |i| &authority[..=i]);
    }
    authority.rsplit_once(':').map_or(authority, |(h, _)| h)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn loopback_hosts_pass_and_foreign_ones_fail() {
        let p = OriginPolicy::loopback();
        assert!(p.check(&headers(&[("host", "127.0.0.1:8080")])));
        assert!(p.check(&headers(&[
            ("host", "[::1]:8080"),
            ("origin", "http://localhost:3000")
        ])));
        assert!(!p.check(&headers(&[("host", "evil.example.com")])));
        assert!(!p.check(&headers(&[
            ("host", "localhost:1"),
            ("origin", "https://evil.example.com")
        ])));
        assert!(!p.check(&headers(&[("host", "localhost"), ("origin", "null")])));
        assert!(OriginPolicy::Any.check(&headers(&[("host", "evil.example.com")])));
    }
}
