//! Who a request acts for: the principal a transport (or an authentication layer in front of
//! it) attaches to every request, which tools, layers and sessions key on.

use std::{fmt, hash, sync::Arc};

/// Who a request acts for: anonymous (HTTP without authentication), the local OS user (stdio)
/// or an authenticated subject of an issuer.
///
/// Cheap to clone: the anonymous principal holds no allocation, the others share one.
/// Equality and hashing follow [`Principal::key`]: scopes are not part of who someone is, so
/// a subject whose token was refreshed with other scopes is still the same principal.
#[derive(Clone, Default)]
pub struct Principal(Option<Arc<Named>>);

struct Named {
    /// The partition key, built once.
    key: Box<str>,
    kind: Kind,
}

enum Kind {
    Local {
        user: Box<str>,
    },
    Authenticated {
        subject: Box<str>,
        issuer: Box<str>,
        scopes: Box<[String]>,
    },
}

impl Principal {
    /// The key of the anonymous principal.
    pub const ANONYMOUS_KEY: &'static str = "anonymous";

    /// Nobody in particular: HTTP requests until an authentication layer names someone.
    pub const fn anonymous() -> Self {
        Self(None)
    }

    /// The local OS user `user` (stdio: whoever started the server).
    pub fn local(user: impl Into<String>) -> Self {
        let user: String = user.into();
        let mut key = String::with_capacity(6 + user.len());
        key.push_str("local:");
        escape_into(&mut key, &user);
        Self(Some(Arc::new(Named {
            key: key.into(),
            kind: Kind::Local { user: user.into() },
        })))
    }

    /// The user running this process: `$USER`, else `$LOGNAME`, else `$USERNAME`, else
    /// (Unix) the name of the process's uid in `/etc/passwd`, or `uid:N`.
    pub fn local_user() -> Self {
        Self::local(os_user(|name| std::env::var(name).ok()))
    }

    /// A subject an authentication layer verified, with the issuer that vouched for it and
    /// the scopes it was granted.
    pub fn authenticated(
        subject: impl Into<String>,
        issuer: impl Into<String>,
        scopes: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        let (subject, issuer): (String, String) = (subject.into(), issuer.into());
        let mut key = String::with_capacity(issuer.len() + subject.len() + 1);
        escape_into(&mut key, &issuer);
        key.push('|');
        escape_into(&mut key, &subject);
        Self(Some(Arc::new(Named {
            key: key.into(),
            kind: Kind::Authenticated {
                subject: subject.into(),
                issuer: issuer.into(),
                scopes: scopes.into_iter().map(Into::into).collect(),
            },
        })))
    }

    /// A stable key, distinct for distinct principals, to partition state by (caches, rate
    /// limits, audit logs): `anonymous`, `local:alice`, `issuer|subject`. `%` and `|` in
    /// names are percent-encoded, so only an authenticated key holds a bare `|`.
    pub fn key(&self) -> &str {
        self.0.as_deref().map_or(Self::ANONYMOUS_KEY, |n| &n.key)
    }

    /// Whether nobody was identified.
    pub fn is_anonymous(&self) -> bool {
        self.0.is_none()
    }

    /// The local OS user, for a local principal.
    pub fn local_name(&self) -> Option<&str> {
        match &self.0.as_deref()?.kind {
            Kind::Local { user } => Some(user),
            Kind::Authenticated { .. } => None,
        }
    }

    /// The subject, for an authenticated principal.
    pub fn subject(&self) -> Option<&str> {
        match &self.0.as_deref()?.kind {
            Kind::Authenticated { subject, .. } => Some(subject),
            Kind::Local { .. } => None,
        }
    }

    /// The issuer, for an authenticated principal.
    pub fn issuer(&self) -> Option<&str> {
        match &self.0.as_deref()?.kind {
            Kind::Authenticated { issuer, .. } => Some(issuer),
            Kind::Local { .. } => None,
        }
    }

    /// The scopes granted to an authenticated principal; none for the others.
    pub fn scopes(&self) -> &[String] {
        match self.0.as_deref().map(|n| &n.kind) {
            Some(Kind::Authenticated { scopes, .. }) => scopes,
            _ => &[],
        }
    }

    /// Whether the principal was granted `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes().iter().any(|s| s == scope)
    }
}

impl PartialEq for Principal {
    fn eq(&self, other: &Self) -> bool {
        match (&self.0, &other.0) {
            (None, None) => true,
            (Some(a), Some(b)) => Arc::ptr_eq(a, b) || a.key == b.key,
            _ => false,
        }
    }
}

impl Eq for Principal {}

impl hash::Hash for Principal {
    fn hash<H: hash::Hasher>(&self, state: &mut H) {
        self.key().hash(state);
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

impl fmt::Debug for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Principal({})", self.key())
    }
}

/// Appends `s` with `%` and `|` percent-encoded, keeping keys unambiguous.
fn escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '%' => out.push_str("%25"),
            '|' => out.push_str("%7C"),
            c => out.push(c),
        }
    }
}

/// The OS user's name, from the environment (`var`) or the process's uid.
fn os_user(var: impl Fn(&str) -> Option<String>) -> String {
    let named = ["USER", "LOGNAME", "USERNAME"]
        .into_iter()
        .find_map(|name| var(name).filter(|v| !v.is_empty()));
    named
        .or_else(uid_user)
        .unwrap_or_else(|| "unknown".to_owned())
}

/// The name of the uid owning this process, or `uid:N` when `/etc/passwd` does not list it.
#[cfg(unix)]
fn uid_user() -> Option<String> {
    let uid = process_uid()?;
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    Some(user_of_uid(&passwd, uid).unwrap_or_else(|| format!("uid:{uid}")))
}

#[cfg(not(unix))]
fn uid_user() -> Option<String> {
    None
}

/// The uid owning this process: the owner of `/proc/self` (Linux; no libc call needed).
#[cfg(unix)]
fn process_uid() -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").ok().map(|m| m.uid())
}

/// The name of `uid` in a passwd file (`name:password:uid:...` lines).
#[cfg(unix)]
fn user_of_uid(passwd: &str, uid: u32) -> Option<String> {
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let id = fields.nth(1)?.parse::<u32>().ok()?;
        (id == uid && !name.is_empty()).then(|| name.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn keys_partition_principals() {
        assert_eq!(Principal::anonymous().key(), "anonymous");
        assert_eq!(Principal::default().to_string(), "anonymous");
        assert_eq!(Principal::local("alice").key(), "local:alice");
        let bob = Principal::authenticated("bob", "https://issuer.example", ["read", "write"]);
        assert_eq!(bob.key(), "https://issuer.example|bob");
        assert_eq!(bob.to_string(), bob.key());
        // Names that would forge another principal's key are escaped.
        let keys: HashSet<String> = [
            Principal::anonymous(),
            Principal::local("anonymous"),
            Principal::local("a|b"),
            Principal::authenticated("b", "local:a", Vec::<String>::new()),
            Principal::authenticated("c", "a|b", Vec::<String>::new()),
            Principal::authenticated("b|c", "a", Vec::<String>::new()),
            Principal::authenticated("50%", "a", Vec::<String>::new()),
            Principal::authenticated("50%25", "a", Vec::<String>::new()),
        ]
        .iter()
        .map(|p| p.key().to_owned())
        .collect();
        assert_eq!(keys.len(), 8, "{keys:?}");
        assert_eq!(Principal::local("a|b").key(), "local:a%7Cb");
    }

    #[test]
    fn accessors_and_identity() {
        let anonymous = Principal::anonymous();
        assert!(anonymous.is_anonymous());
        assert!(anonymous.scopes().is_empty());
        assert_eq!(anonymous.subject(), None);

        let alice = Principal::local("alice");
        assert!(!alice.is_anonymous());
        assert_eq!(alice.local_name(), Some("alice"));
        assert_eq!(alice.subject(), None);
        assert!(alice.scopes().is_empty());

        let bob = Principal::authenticated("bob", "iss", ["read"]);
        assert_eq!(bob.subject(), Some("bob"));
        assert_eq!(bob.issuer(), Some("iss"));
        assert_eq!(bob.scopes(), ["read".to_owned()]);
        assert!(bob.has_scope("read") && !bob.has_scope("write"));
        assert_eq!(bob.local_name(), None);

        // Same subject and issuer with other scopes: the same principal.
        assert_eq!(bob, Principal::authenticated("bob", "iss", ["write"]));
        assert_ne!(bob, Principal::authenticated("bob", "other", ["read"]));
        assert_ne!(alice, anonymous);
        assert_eq!(alice, Principal::local("alice"));
        assert_eq!(anonymous, Principal::default());
    }

    #[test]
    fn the_local_user_comes_from_the_environment_or_the_uid() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        assert_eq!(
            os_user(env(&[("USER", "alice"), ("LOGNAME", "bob")])),
            "alice"
        );
        assert_eq!(os_user(env(&[("USER", ""), ("LOGNAME", "bob")])), "bob");
        #[cfg(unix)]
        {
            let passwd = "root:x:0:0:root:/root:/bin/sh\n# comment\ncarol:x:1000:1000::/home/carol:/bin/sh\n";
            assert_eq!(user_of_uid(passwd, 1000).as_deref(), Some("carol"));
            assert_eq!(user_of_uid(passwd, 0).as_deref(), Some("root"));
            assert_eq!(user_of_uid(passwd, 7), None);
            let unnamed = os_user(env(&[]));
            assert!(!unnamed.is_empty());
        }
    }
}
