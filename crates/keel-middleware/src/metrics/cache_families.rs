//! The cache's counters as Prometheus families.

use std::fmt;

use prometheus_client::encoding::DescriptorEncoder;

use super::exposition::{counter, gauge, gauge_value};
use crate::CacheHandle;

/// Reads one counter of a level.
type LevelReading = fn(&keel_cache::LevelStats) -> u64;

/// Writes the cache families.
pub(crate) fn write(cache: &CacheHandle, encoder: &mut DescriptorEncoder<'_>) -> fmt::Result {
    let r = cache.report();
    let lookups: Vec<([(&str, &str); 2], u64)> = r
        .levels
        .namespaces
        .iter()
        .flat_map(|(tool, n)| {
            [("hit", n.hits), ("miss", n.misses), ("stale", n.stale_hits)]
                .map(|(result, count)| ([("tool", tool.as_str()), ("result", result)], count))
        })
        .collect();
    counter(
        encoder,
        "keel_cache_lookups",
        "Cache lookups by tool and result (hit, miss, stale: found past freshness).",
        lookups.iter().map(|(l, n)| (&l[..], *n)),
    )?;
    let levels = [("l1", &r.levels.l1), ("l2", &r.levels.l2)];
    let level_labels = [[("level", "l1")], [("level", "l2")]];
    let counters: [(&str, &str, LevelReading); 5] = [
        (
            "keel_cache_level_hits",
            "Fresh answers by cache level.",
            |l| l.hits,
        ),
        (
            "keel_cache_level_misses",
            "Lookups a level could not answer.",
            |l| l.misses,
        ),
        (
            "keel_cache_level_stale",
            "Stale answers by cache level.",
            |l| l.stale_hits,
        ),
        (
            "keel_cache_level_inserts",
            "Entries written by cache level.",
            |l| l.inserts,
        ),
        (
            "keel_cache_evictions",
            "Entries dropped for size or age (L1).",
            |l| l.evictions,
        ),
    ];
    for (name, help, value) in counters {
        counter(
            encoder,
            name,
            help,
            level_labels
                .iter()
                .zip(levels)
                .map(|(l, (_, stats))| (&l[..], value(stats))),
        )?;
    }
    gauge(
        encoder,
        "keel_cache_entries",
        "Entries held in process (L1).",
        [(&[][..], gauge_value(r.levels.l1.entries))],
    )?;
    gauge(
        encoder,
        "keel_cache_bytes",
        "Bytes held in process (L1), as weighed.",
        [(&[][..], gauge_value(r.levels.l1.bytes))],
    )?;
    let totals = [
        (
            "keel_cache_l2_errors",
            "Redis operations that failed or timed out.",
            r.levels.l2_errors,
        ),
        (
            "keel_cache_l2_skipped",
            "Redis operations not tried (breaker open, not connected).",
            r.levels.l2_skipped,
        ),
        (
            "keel_cache_computed",
            "Computations run for cache misses.",
            r.computed,
        ),
        (
            "keel_cache_coalesced",
            "Calls that joined a computation in flight.",
            r.coalesced,
        ),
        (
            "keel_cache_stale_served",
            "Stale results answering dependency failures.",
            r.stale_served,
        ),
        (
            "keel_cache_invalidations",
            "Invalidations declared writers triggered.",
            r.invalidations,
        ),
    ];
    for (name, help, value) in totals {
        counter(encoder, name, help, [(&[][..], value)])?;
    }
    gauge(
        encoder,
        "keel_cache_l2_connected",
        "1 while Redis answers and this node follows its invalidations (0: L1 only).",
        [(&[][..], i64::from(r.levels.subscribed))],
    )?;
    gauge(
        encoder,
        "keel_cache_in_flight",
        "Computations in flight.",
        [(&[][..], gauge_value(r.in_flight))],
    )
}
