//! Names of workload classes read from configuration: validated, and turned into the
//! `&'static str` a [`Workload`] carries.

use std::{
    collections::BTreeSet,
    sync::{Mutex, PoisonError},
};

use keel_core::Workload;

/// The longest class name accepted.
pub const MAX_CLASS_NAME: usize = 64;

/// Why a class name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidClassName {
    /// The name is empty.
    #[error("a workload class name cannot be empty")]
    Empty,
    /// The name is longer than [`MAX_CLASS_NAME`].
    #[error("workload class name {0:?} is longer than {MAX_CLASS_NAME} characters")]
    TooLong(String),
    /// The name has a character outside `[a-z0-9_-]`.
    #[error("workload class name {0:?} may hold only a-z, 0-9, '_' and '-'")]
    BadCharacter(String),
    /// The name spells a built-in class, which cannot be defined again.
    #[error("{0:?} is a built-in workload class (light, cpu, io, ml); choose another name")]
    BuiltIn(String),
}

/// A class of the server's own called `name`, for `[admission.classes.NAME]`: refuses
/// malformed names and the built-in ones.
pub fn named_class(name: &str) -> Result<Workload, InvalidClassName> {
    if Workload::built_in(name).is_some() {
        return Err(InvalidClassName::BuiltIn(name.to_owned()));
    }
    parse_class(name)
}

/// The class `name` spells, built-in or of the server's own (for `class = "..."` settings).
pub fn parse_class(name: &str) -> Result<Workload, InvalidClassName> {
    if let Some(built_in) = Workload::built_in(name) {
        return Ok(built_in);
    }
    if name.is_empty() {
        return Err(InvalidClassName::Empty);
    }
    if name.len() > MAX_CLASS_NAME {
        return Err(InvalidClassName::TooLong(name.to_owned()));
    }
    let allowed = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-';
    if !name.bytes().all(allowed) {
        return Err(InvalidClassName::BadCharacter(name.to_owned()));
    }
    Ok(Workload::named(intern(name)))
}

/// Names read from configuration live as long as the process, like the classes a tool
/// declares in code: each distinct name is leaked once, however often servers are built.
fn intern(name: &str) -> &'static str {
    static NAMES: Mutex<BTreeSet<&'static str>> = Mutex::new(BTreeSet::new());
    let mut names = NAMES.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(&known) = names.get(name) {
        return known;
    }
    let leaked: &'static str = Box::leak(name.to_owned().into_boxed_str());
    names.insert(leaked);
    leaked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_validated_and_interned() {
        let reports = named_class("reports").expect("valid");
        assert_eq!(reports, Workload::named("reports"));
        assert_eq!(reports.as_str(), "reports");
        let again = named_class(&String::from("reports")).expect("valid");
        assert!(
            std::ptr::eq(reports.as_str(), again.as_str()),
            "interned once"
        );
        assert!(named_class("a-b_9").is_ok());

        assert_eq!(named_class(""), Err(InvalidClassName::Empty));
        for bad in ["Reports", "re ports", "ré", "a.b", "a\"b"] {
            assert_eq!(
                named_class(bad),
                Err(InvalidClassName::BadCharacter(bad.into()))
            );
        }
        let long = "x".repeat(MAX_CLASS_NAME + 1);
        assert_eq!(
            named_class(&long),
            Err(InvalidClassName::TooLong(long.clone()))
        );
        for w in Workload::BUILT_IN {
            assert_eq!(
                named_class(w.as_str()),
                Err(InvalidClassName::BuiltIn(w.as_str().into()))
            );
            assert_eq!(parse_class(w.as_str()), Ok(w));
        }
    }
}
