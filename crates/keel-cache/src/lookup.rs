//! What a lookup found.

use std::sync::Arc;

use crate::entry::Entry;

/// Which level answered a lookup.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// The in-process cache.
    L1,
    /// Redis.
    L2,
}

/// The answer to `Cache::get`.
#[derive(Clone, Debug)]
pub enum Lookup {
    /// Within its freshness: serve it.
    Fresh(Arc<Entry>, Level),
    /// Past freshness but inside its stale window: may be served while it is refreshed.
    Stale(Arc<Entry>, Level),
    /// Nothing usable.
    Miss,
}

impl Lookup {
    /// The entry, fresh or stale.
    pub fn entry(&self) -> Option<&Arc<Entry>> {
        match self {
            Self::Fresh(entry, _) | Self::Stale(entry, _) => Some(entry),
            Self::Miss => None,
        }
    }

    /// The level that answered, if any did.
    pub fn level(&self) -> Option<Level> {
        match self {
            Self::Fresh(_, level) | Self::Stale(_, level) => Some(*level),
            Self::Miss => None,
        }
    }

    /// Whether this is a fresh hit.
    pub fn is_fresh(&self) -> bool {
        matches!(self, Self::Fresh(..))
    }
}
