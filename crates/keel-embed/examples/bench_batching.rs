//! Throughput and latency of all-MiniLM-L6-v2 in keel-embed, with and without batching.
//!
//! Run in release, after fetching the model (`keel model fetch`):
//!
//! ```text
//! KEEL_EMBED_ENGINE=onnx|candle|auto cargo run --release -p keel-embed --example bench_batching -- \
//!     [SECONDS] [CALLERS] [INFERENCE_THREADS] [KERNEL_THREADS] [MAX_BATCH] [TOKEN_BUDGET]
//! ```
//!
//! Reports, on the chosen engine (default auto): raw `embed_texts` at batch 1/8/16/32; one caller's latency (p50/p99)
//! through the batcher; and CALLERS (default 32) concurrent single-text callers for
//! SECONDS (default 10) each with batching on and off. The texts are
//! `reference/bench_texts.txt`, shared with `reference/bench_torch.sh`.

#![allow(
    clippy::print_stdout,
    reason = "a benchmark reports on standard output"
)]

use std::error::Error;
use std::sync::Arc;
use std::time::{Duration, Instant};

use keel_embed::{
    AnyModel, Batcher, BatcherConfig, EmbeddingModel, EngineKind, ModelStore, OnnxOptions,
};

const TEXTS: &str = include_str!("../reference/bench_texts.txt");

fn texts() -> Vec<&'static str> {
    TEXTS.lines().filter(|l| !l.trim().is_empty()).collect()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (p / 100.0 * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Raw forward passes at a fixed batch size, on this thread.
fn raw(model: &AnyModel, batch: usize, run_for: Duration) -> Result<f64, keel_embed::EmbedError> {
    let pool = texts();
    let inputs: Vec<&str> = pool.iter().copied().cycle().take(batch).collect();
    model.embed_texts(&inputs)?;
    let start = Instant::now();
    let mut done = 0usize;
    while start.elapsed() < run_for {
        done += model.embed_texts(&inputs)?.len();
    }
    Ok(done as f64 / start.elapsed().as_secs_f64())
}

/// One caller, one text at a time, through the batcher: latency percentiles.
async fn lone(
    model: Arc<AnyModel>,
    config: BatcherConfig,
    run_for: Duration,
) -> Result<Vec<Duration>, Box<dyn Error>> {
    let batcher = Batcher::new(model, config)?;
    let pool = texts();
    let mut latencies = Vec::new();
    let start = Instant::now();
    let mut i = 0;
    while start.elapsed() < run_for {
        let t = Instant::now();
        batcher.embed(vec![pool[i % pool.len()].to_owned()]).await?;
        latencies.push(t.elapsed());
        i += 1;
    }
    latencies.sort();
    Ok(latencies)
}

struct Load {
    per_second: f64,
    latencies: Vec<Duration>,
    mean_batch: f64,
}

/// `callers` tasks, each embedding one text at a time, for `run_for`.
async fn concurrent(
    model: Arc<AnyModel>,
    config: BatcherConfig,
    callers: usize,
    run_for: Duration,
) -> Result<Load, Box<dyn Error>> {
    let batcher = Batcher::new(model, config)?;
    let start = Instant::now();
    let stop = start + run_for;
    let tasks: Vec<_> = (0..callers)
        .map(|c| {
            let batcher = batcher.clone();
            tokio::spawn(async move {
                let pool = texts();
                let mut latencies = Vec::new();
                let mut i = c;
                while Instant::now() < stop {
                    let t = Instant::now();
                    batcher.embed(vec![pool[i % pool.len()].to_owned()]).await?;
                    latencies.push(t.elapsed());
                    i += 1;
                }
                Ok::<_, keel_embed::EmbedError>(latencies)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }
    let elapsed = start.elapsed().as_secs_f64();
    latencies.sort();
    let stats = batcher.stats();
    Ok(Load {
        per_second: latencies.len() as f64 / elapsed,
        latencies,
        mean_batch: stats.embedded_texts as f64 / stats.batches.max(1) as f64,
    })
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let seconds: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(10);
    let callers: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(32);
    let defaults = BatcherConfig::default();
    let config = BatcherConfig {
        inference_threads: args
            .next()
            .map(|s| s.parse())
            .transpose()?
            .unwrap_or(defaults.inference_threads),
        kernel_threads: args
            .next()
            .map(|s| s.parse())
            .transpose()?
            .unwrap_or(defaults.kernel_threads),
        max_batch_size: args
            .next()
            .map(|s| s.parse())
            .transpose()?
            .unwrap_or(defaults.max_batch_size),
        token_budget: args
            .next()
            .map(|s| s.parse())
            .transpose()?
            .unwrap_or(defaults.token_budget),
        ..defaults
    };
    let run_for = Duration::from_secs(seconds);

    let files = ModelStore::from_env()?.locate()?;
    let loading = Instant::now();
    let kind = match std::env::var("KEEL_EMBED_ENGINE").as_deref() {
        Ok("onnx") => EngineKind::Onnx,
        Ok("candle") => EngineKind::Candle,
        Ok("auto") | Err(_) => EngineKind::Auto,
        Ok(other) => {
            return Err(format!("KEEL_EMBED_ENGINE={other}: expected onnx, candle or auto").into());
        }
    };
    let loaded = AnyModel::load(&files, kind, &OnnxOptions::default())?;
    if let Some(why) = &loaded.onnx_unavailable {
        println!("ONNX engine unavailable, using candle: {why}");
    }
    let model = Arc::new(loaded.model);
    println!(
        "{} engine loaded in {:.0} ms",
        model.engine(),
        ms(loading.elapsed())
    );
    println!(
        "{} texts, {} cores, {seconds} s per measurement",
        texts().len(),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );

    let prose = "All work and no play makes a dull embedding. ".repeat((1 << 20) / 45);
    let unbroken = "x".repeat(1 << 20);
    for (name, text) in [("1 MB prose", &prose), ("1 MB without spaces", &unbroken)] {
        let t = Instant::now();
        let tokens = model.tokenize(text)?;
        let tokenized = t.elapsed();
        model.embed_texts(&[text.as_str()])?;
        println!(
            "{name}: tokenize {:.1} ms ({} tokens), then embed {:.1} ms",
            ms(tokenized),
            tokens.len(),
            ms(t.elapsed() - tokenized)
        );
    }

    let single = rayon::ThreadPoolBuilder::new().num_threads(1).build()?;
    let global = rayon::current_num_threads();
    for (label, pool) in [
        ("1 kernel thread", Some(&single)),
        ("rayon's global pool", None),
    ] {
        let threads = pool.map_or(global, |p| p.current_num_threads());
        println!("\nraw embed_texts, {label} ({threads} threads)");
        for batch in [1, 8, 16, 32] {
            let rate = match pool {
                Some(pool) => pool.install(|| raw(&model, batch, run_for))?,
                None => raw(&model, batch, run_for)?,
            };
            println!("  batch {batch:>2}: {rate:7.1} emb/s");
        }
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let latencies = lone(Arc::clone(&model), config.clone(), run_for).await?;
        println!(
            "\nlone caller through the batcher: {} calls, p50 {:.2} ms, p99 {:.2} ms",
            latencies.len(),
            ms(percentile(&latencies, 50.0)),
            ms(percentile(&latencies, 99.0))
        );
        println!(
            "\n{callers} concurrent single-text callers ({} inference × {} kernel threads, batches ≤ {})",
            config.inference_threads, config.kernel_threads, config.max_batch_size
        );
        for batching in [true, false] {
            let config = BatcherConfig {
                batching,
                ..config.clone()
            };
            let load = concurrent(Arc::clone(&model), config, callers, run_for).await?;
            println!(
                "  batching {:>3}: {:7.1} emb/s, mean batch {:5.1}, latency p50 {:7.1} ms, p99 {:7.1} ms",
                if batching { "on" } else { "off" },
                load.per_second,
                load.mean_batch,
                ms(percentile(&load.latencies, 50.0)),
                ms(percentile(&load.latencies, 99.0)),
            );
        }
        Ok::<_, Box<dyn Error>>(())
    })
}
