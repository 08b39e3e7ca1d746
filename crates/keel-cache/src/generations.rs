//! Tag generations: invalidating a tag bumps its counter; an entry stamped with an older
//! generation of any of its tags is dead. Counters only grow (merges take the maximum).

use std::sync::Arc;

use dashmap::DashMap;

use crate::entry::Entry;
use crate::key::Tag;

/// This node's view of every known tag's generation (absent = 0).
#[derive(Debug, Default)]
pub(crate) struct Generations {
    by_tag: DashMap<Arc<str>, u64>,
}

impl Generations {
    /// Current generation of `tag`, registering it as known. `true` when first seen.
    pub(crate) fn current(&self, tag: &Tag) -> (u64, bool) {
        if let Some(generation) = self.by_tag.get(tag.as_str()) {
            return (*generation, false);
        }
        let mut fresh = false;
        let generation = *self.by_tag.entry(Arc::clone(&tag.0)).or_insert_with(|| {
            fresh = true;
            0
        });
        (generation, fresh)
    }

    /// Bumps `tag` past both its local generation and `seen` (a generation another node or
    /// Redis reported); returns the new generation.
    pub(crate) fn bump(&self, tag: &str, seen: u64) -> u64 {
        let mut slot = self.by_tag.entry(Arc::from(tag)).or_insert(0);
        *slot = slot.saturating_add(1).max(seen);
        *slot
    }

    /// Raises `tag` to at least `seen`.
    pub(crate) fn merge(&self, tag: &str, seen: u64) {
        if let Some(mut slot) = self.by_tag.get_mut(tag) {
            *slot = (*slot).max(seen);
            return;
        }
        let mut slot = self.by_tag.entry(Arc::from(tag)).or_insert(0);
        *slot = (*slot).max(seen);
    }

    /// Whether `entry` was stored under the current generation of every tag. Generations
    /// newer than ours (another node invalidated, we missed it) are merged in first.
    pub(crate) fn is_current(&self, entry: &Entry) -> bool {
        for (tag, &stamped) in entry.tags.iter().zip(&entry.generations) {
            let (current, _) = self.current(tag);
            if stamped < current {
                return false;
            }
            if stamped > current {
                self.merge(tag.as_str(), stamped);
            }
        }
        true
    }

    /// Every known tag name.
    pub(crate) fn names(&self) -> Vec<Arc<str>> {
        self.by_tag
            .iter()
            .map(|slot| Arc::clone(slot.key()))
            .collect()
    }

    /// Stamps `entry` with the current generation of each of its tags; returns the tags
    /// seen for the first time.
    pub(crate) fn stamp(&self, entry: &mut Entry) -> Vec<Tag> {
        let mut new_tags = Vec::new();
        entry.generations = entry
            .tags
            .iter()
            .map(|tag| {
                let (generation, fresh) = self.current(tag);
                if fresh {
                    new_tags.push(tag.clone());
                }
                generation
            })
            .collect();
        new_tags
    }
}
