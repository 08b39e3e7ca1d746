//! The cache's counters as Prometheus families.

use std::fmt::{self, Write};

use super::render::family;
use crate::CacheHandle;

/// Reads one counter of a level.
type LevelReading = fn(&keel_cache::LevelStats) -> u64;

/// Writes the cache families.
pub(crate) fn write(cache: &CacheHandle, out: &mut String) -> fmt::Result {
    let r = cache.report();
    family(
        out,
        "keel_cache_lookups_total",
        "counter",
        "Cache lookups by tool and result (hit, miss, stale: found past freshness).",
    )?;
    for (tool, n) in &r.levels.namespaces {
        let tool = escape(tool);
        for (result, count) in [("hit", n.hits), ("miss", n.misses), ("stale", n.stale_hits)] {
            writeln!(
                out,
                "keel_cache_lookups_total{{tool=\"{tool}\",result=\"{result}\"}} {count}"
            )?;
        }
    }
    let levels = [("l1", &r.levels.l1), ("l2", &r.levels.l2)];
    let counters: [(&str, &str, LevelReading); 5] = [
        (
            "keel_cache_level_hits_total",
            "Fresh answers by cache level.",
            |l| l.hits,
        ),
        (
            "keel_cache_level_misses_total",
            "Lookups a level could not answer.",
            |l| l.misses,
        ),
        (
            "keel_cache_level_stale_total",
            "Stale answers by cache level.",
            |l| l.stale_hits,
        ),
        (
            "keel_cache_level_inserts_total",
            "Entries written by cache level.",
            |l| l.inserts,
        ),
        (
            "keel_cache_evictions_total",
            "Entries dropped for size or age (L1).",
            |l| l.evictions,
        ),
    ];
    for (name, help, value) in counters {
        family(out, name, "counter", help)?;
        for (level, stats) in levels {
            writeln!(out, "{name}{{level=\"{level}\"}} {}", value(stats))?;
        }
    }
    family(
        out,
        "keel_cache_entries",
        "gauge",
        "Entries held in process (L1).",
    )?;
    writeln!(out, "keel_cache_entries {}", r.levels.l1.entries)?;
    family(
        out,
        "keel_cache_bytes",
        "gauge",
        "Bytes held in process (L1), as weighed.",
    )?;
    writeln!(out, "keel_cache_bytes {}", r.levels.l1.bytes)?;
    let totals = [
        (
            "keel_cache_l2_errors_total",
            "Redis operations that failed or timed out.",
            r.levels.l2_errors,
        ),
        (
            "keel_cache_l2_skipped_total",
            "Redis operations not tried (breaker open, not connected).",
            r.levels.l2_skipped,
        ),
        (
            "keel_cache_computed_total",
            "Computations run for cache misses.",
            r.computed,
        ),
        (
            "keel_cache_coalesced_total",
            "Calls that joined a computation in flight.",
            r.coalesced,
        ),
        (
            "keel_cache_stale_served_total",
            "Stale results answering dependency failures.",
            r.stale_served,
        ),
        (
            "keel_cache_invalidations_total",
            "Invalidations declared writers triggered.",
            r.invalidations,
        ),
    ];
    for (name, help, value) in totals {
        family(out, name, "counter", help)?;
        writeln!(out, "{name} {value}")?;
    }
    family(
        out,
        "keel_cache_l2_connected",
        "gauge",
        "1 while Redis answers and this node follows its invalidations (0: L1 only).",
    )?;
    writeln!(
        out,
        "keel_cache_l2_connected {}",
        u8::from(r.levels.subscribed)
    )?;
    family(
        out,
        "keel_cache_in_flight",
        "gauge",
        "Computations in flight.",
    )?;
    writeln!(out, "keel_cache_in_flight {}", r.in_flight)
}

/// A label value with `\`, `"` and newlines escaped.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
