//! The built-in tools' engines on `/metrics`: the analysis pool, each database's connection
//! pool and the embedding batcher.

use std::{fmt, sync::Arc};

use keel_builtins::Builtins;
use keel_middleware::exposition::{Collector, DescriptorEncoder, counter, gauge, gauge_value};

/// Families read from the engines on each scrape.
pub struct BuiltinFamilies(pub Arc<Builtins>);

impl fmt::Debug for BuiltinFamilies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BuiltinFamilies")
    }
}

impl Collector for BuiltinFamilies {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> fmt::Result {
        let builtins = &self.0;
        if let Some((threads, capacity, in_flight)) = builtins.analyze_pool() {
            gauge(
                &mut encoder,
                "keel_analyze_pool_threads",
                "Worker threads of the analysis pool.",
                [(&[][..], gauge_value(threads))],
            )?;
            gauge(
                &mut encoder,
                "keel_analyze_pool_capacity",
                "Analyses the pool admits at once.",
                [(&[][..], gauge_value(capacity))],
            )?;
            gauge(
                &mut encoder,
                "keel_analyze_pool_in_flight",
                "Analyses running or waiting on the pool.",
                [(&[][..], gauge_value(in_flight))],
            )?;
        }
        // One series per database and pool: the query tool's, and the analyzer's own.
        let pools: Vec<_> = [
            ("query", builtins.databases()),
            ("analyze", builtins.analyze_databases()),
        ]
        .into_iter()
        .flat_map(|(pool, databases)| {
            databases
                .into_iter()
                .flat_map(|databases| databases.iter())
                .map(move |d| (d.name().to_owned(), pool, d.pool_stats()))
        })
        .collect();
        if !pools.is_empty() {
            let labels: Vec<[(&str, &str); 3]> = pools
                .iter()
                .flat_map(|(name, pool, _)| {
                    ["in_use", "idle"].map(|state| {
                        [
                            ("database", name.as_str()),
                            ("pool", *pool),
                            ("state", state),
                        ]
                    })
                })
                .collect();
            let values = pools.iter().flat_map(|(_, _, p)| {
                [
                    gauge_value(p.in_use),
                    gauge_value(p.open.saturating_sub(p.in_use)),
                ]
            });
            gauge(
                &mut encoder,
                "keel_db_pool_connections",
                "Open database connections, leased to a query (in_use) or idle, by pool (the \
                 query tool's, or the analyzer's own).",
                labels.iter().map(|l| &l[..]).zip(values),
            )?;
            let names: Vec<[(&str, &str); 2]> = pools
                .iter()
                .map(|(name, pool, _)| [("database", name.as_str()), ("pool", *pool)])
                .collect();
            gauge(
                &mut encoder,
                "keel_db_pool_max_connections",
                "Connections each database pool may open.",
                names
                    .iter()
                    .zip(&pools)
                    .map(|(l, (_, _, p))| (&l[..], gauge_value(p.max))),
            )?;
        }
        if let Some(stats) = builtins.embed_batcher() {
            counter(
                &mut encoder,
                "keel_embed_batches",
                "Inference batches run.",
                [(&[][..], stats.batches)],
            )?;
            counter(
                &mut encoder,
                "keel_embed_texts",
                "Texts embedded (done) or skipped because their caller gave up first.",
                [
                    (&[("result", "embedded")][..], stats.embedded_texts),
                    (&[("result", "skipped")][..], stats.skipped_texts),
                ],
            )?;
            gauge(
                &mut encoder,
                "keel_embed_queued_texts",
                "Texts admitted to the batcher and not yet answered.",
                [(&[][..], gauge_value(stats.queued_texts))],
            )?;
            gauge(
                &mut encoder,
                "keel_embed_running_batches",
                "Inference batches running now.",
                [(&[][..], gauge_value(stats.running_batches))],
            )?;
        }
        Ok(())
    }
}
