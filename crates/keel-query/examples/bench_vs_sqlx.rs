//! Throughput of `Database::query` against a bare sqlx loop on the same database.
//!
//! ```text
//! cargo run --release -p keel-query --example bench_vs_sqlx -- [sqlite | sqlite://FILE | postgres://URL]
//!     [--tasks N] [--seconds S] [--only point|scan] [--side bare|keel]
//! ```
//!
//! `--side` runs one side alone (for a profiler); `--only` picks one workload.
//!
//! Both sides run N concurrent tasks (default 32) for S seconds (default 1) per round,
//! eight alternating rounds each, against the same database file or server:
//!
//! * bare: a sqlx pool with the same size and connection settings as Keel's (read-only,
//!   the same statement cache, no ping before checkout), a connection checked out per
//!   call (as Keel does; running on `&Pool` directly adds a boxed stream per call), a
//!   cached prepared statement, and every row decoded into owned Rust values
//!   (`i64`/`String` tuples, collected into a `Vec`);
//! * keel: `Database::query` with JSON parameters: the read-only guard, parameter
//!   checks, the statement timeout, the row limit and decoding every value to JSON.
//!
//! Workloads: a point query by primary key with a random id, and a 1,000-row scan.
//!
//! For SQLite the bare side runs on sqlx's `Pool` and Keel on its own pool (which exists
//! to interrupt runaway statements), so the point figure also compares the two pools.
//! Throughput on a shared machine moves with other load, so each line also reports the
//! benchmark process's own CPU time per call (Linux only), which moves less. For SQLite
//! that is all the work; for PostgreSQL the server's share is outside it and the same
//! for both sides.
#![allow(clippy::print_stdout, reason = "a benchmark program reports on stdout")]

use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::TryStreamExt as _;
use keel_query::{Database, DatabaseConfig, Engine, seed_demo_database};
use serde_json::json;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use sqlx::{PgPool, Row as _, SqlitePool};

const POOL_SIZE: u32 = 8;
const ROUNDS: u32 = 8;
const CUSTOMERS: u64 = 500;

enum Bare {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

struct Args {
    target: String,
    tasks: usize,
    seconds: f64,
    only: Option<String>,
    side: Option<String>,
}

fn parse_args() -> Args {
    let mut args = Args {
        target: "sqlite".to_owned(),
        tasks: 32,
        seconds: 1.0,
        only: None,
        side: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--tasks" => args.tasks = it.next().and_then(|v| v.parse().ok()).expect("--tasks N"),
            "--seconds" => {
                args.seconds = it.next().and_then(|v| v.parse().ok()).expect("--seconds S")
            }
            "--only" => args.only = Some(it.next().expect("--only point|scan")),
            "--side" => args.side = Some(it.next().expect("--side bare|keel")),
            _ => args.target = arg,
        }
    }
    args
}

#[tokio::main]
async fn main() {
    let args = parse_args();
    let scratch = tempfile::tempdir().expect("temporary directory");
    let url = if args.target == "sqlite" {
        format!("sqlite://{}", scratch.path().join("bench.db").display())
    } else {
        args.target.clone()
    };
    seed_demo_database(&url).await.expect("seed the demo data");
    let mut config = DatabaseConfig::new("bench", url.clone());
    config.max_connections = POOL_SIZE;
    config.max_rows_limit = 10_000;
    let keel = Database::open(&config).await.expect("open the database");
    let bare = match keel.engine() {
        Engine::Sqlite => Bare::Sqlite(bare_sqlite(&url).await),
        Engine::Postgres => Bare::Postgres(bare_postgres(&url, &config).await),
    };
    let (label, placeholder) = match keel.engine() {
        Engine::Sqlite => ("sqlite", "?"),
        Engine::Postgres => ("postgres", "$1"),
    };
    let bare = Arc::new(bare);
    let point = format!(
        "SELECT id, first_name, last_name, email, city FROM customers WHERE id = {placeholder}"
    );
    let scan =
        "SELECT id, customer_id, status, total_cents FROM orders ORDER BY id LIMIT 1000".to_owned();
    let duration = Duration::from_secs_f64(args.seconds);
    println!(
        "{label}: {} tasks, pool of {POOL_SIZE}, {}s per round, {ROUNDS} alternating rounds per side",
        args.tasks, args.seconds
    );

    for (name, sql, rows) in [("point", point, 1usize), ("scan", scan, 1000)] {
        if args.only.as_deref().is_some_and(|only| only != name) {
            continue;
        }
        let sql: Arc<str> = sql.into();
        let bare_fn = {
            let (bare, sql) = (Arc::clone(&bare), Arc::clone(&sql));
            move |id: u64| {
                let (bare, sql) = (Arc::clone(&bare), Arc::clone(&sql));
                async move { assert_eq!(bare_query(&bare, &sql, id, rows).await, rows) }
            }
        };
        let keel_fn = {
            let (keel, sql) = (keel.clone(), Arc::clone(&sql));
            move |id: u64| {
                let (keel, sql) = (keel.clone(), Arc::clone(&sql));
                async move {
                    let params = if rows == 1 {
                        vec![json!(id)]
                    } else {
                        Vec::new()
                    };
                    let out = keel
                        .query(&sql, &params, Some(rows))
                        .await
                        .expect("keel query");
                    assert_eq!((out.row_count, out.truncated), (rows, false));
                }
            }
        };
        // Warm both pools and statement caches.
        run(args.tasks, Duration::from_millis(300), bare_fn.clone()).await;
        run(args.tasks, Duration::from_millis(300), keel_fn.clone()).await;
        if let Some(side) = args.side.as_deref() {
            let measure = match side {
                "bare" => run(args.tasks, duration * ROUNDS, bare_fn).await,
                _ => run(args.tasks, duration * ROUNDS, keel_fn).await,
            };
            println!("{label} {name}: {side}={:.0} q/s", measure.per_second());
            continue;
        }
        // Alternate sides, swapping which goes first, so drift in machine load hits both.
        let (mut bare_total, mut keel_total) = (Measure::default(), Measure::default());
        for round in 0..ROUNDS {
            if round % 2 == 0 {
                bare_total.add(run(args.tasks, duration, bare_fn.clone()).await);
                keel_total.add(run(args.tasks, duration, keel_fn.clone()).await);
            } else {
                keel_total.add(run(args.tasks, duration, keel_fn.clone()).await);
                bare_total.add(run(args.tasks, duration, bare_fn.clone()).await);
            }
        }
        let (bare_qps, keel_qps) = (bare_total.per_second(), keel_total.per_second());
        let cpu = match (
            bare_total.cpu_micros_per_call(),
            keel_total.cpu_micros_per_call(),
        ) {
            (Some(bare), Some(keel)) => {
                format!(" (bench process CPU per call: bare={bare:.1}us keel={keel:.1}us)")
            }
            _ => String::new(),
        };
        println!(
            "{label} {name}: bare={bare_qps:.0} q/s keel={keel_qps:.0} q/s ratio={:.2}{cpu}",
            keel_qps / bare_qps
        );
    }
    keel.close().await;
}

/// The same settings Keel's pool uses, on sqlx's own pool.
async fn bare_sqlite(url: &str) -> SqlitePool {
    let options = SqliteConnectOptions::from_str(url)
        .expect("sqlite url")
        .read_only(true)
        .pragma("query_only", "ON")
        .statement_cache_capacity(256);
    SqlitePoolOptions::new()
        .max_connections(POOL_SIZE)
        .test_before_acquire(false)
        .connect_with(options)
        .await
        .expect("bare sqlite pool")
}

async fn bare_postgres(url: &str, config: &DatabaseConfig) -> PgPool {
    let options = PgConnectOptions::from_str(url)
        .expect("postgres url")
        .statement_cache_capacity(256)
        .options([
            ("default_transaction_read_only", "on".to_owned()),
            (
                "statement_timeout",
                format!("{}ms", config.statement_timeout.as_millis()),
            ),
        ]);
    PgPoolOptions::new()
        .max_connections(POOL_SIZE)
        .test_before_acquire(false)
        .connect_with(options)
        .await
        .expect("bare postgres pool")
}

/// Runs the query and decodes every row into owned values; returns the row count.
async fn bare_query(bare: &Bare, sql: &str, id: u64, rows: usize) -> usize {
    let id = i64::try_from(id).expect("small id");
    match bare {
        Bare::Sqlite(pool) => {
            let query = sqlx::query(sqlx::AssertSqlSafe(sql));
            let query = if rows == 1 { query.bind(id) } else { query };
            let mut conn = pool.acquire().await.expect("bare sqlite connection");
            let mut stream = query.fetch(&mut *conn);
            if rows == 1 {
                let mut out: Vec<(i64, String, String, String, String)> = Vec::new();
                while let Some(r) = stream.try_next().await.expect("bare sqlite query") {
                    out.push((r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)));
                }
                out.len()
            } else {
                let mut out: Vec<(i64, i64, String, i64)> = Vec::new();
                while let Some(r) = stream.try_next().await.expect("bare sqlite query") {
                    out.push((r.get(0), r.get(1), r.get(2), r.get(3)));
                }
                out.len()
            }
        }
        Bare::Postgres(pool) => {
            let query = sqlx::query(sqlx::AssertSqlSafe(sql));
            let query = if rows == 1 { query.bind(id) } else { query };
            let mut conn = pool.acquire().await.expect("bare postgres connection");
            let mut stream = query.fetch(&mut *conn);
            if rows == 1 {
                let mut out: Vec<(i32, String, String, String, String)> = Vec::new();
                while let Some(r) = stream.try_next().await.expect("bare postgres query") {
                    out.push((r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)));
                }
                out.len()
            } else {
                let mut out: Vec<(i32, i32, String, i32)> = Vec::new();
                while let Some(r) = stream.try_next().await.expect("bare postgres query") {
                    out.push((r.get(0), r.get(1), r.get(2), r.get(3)));
                }
                out.len()
            }
        }
    }
}

/// Calls, wall time and this process's CPU time over one or more runs.
#[derive(Default)]
struct Measure {
    calls: u64,
    seconds: f64,
    cpu_seconds: Option<f64>,
}

impl Measure {
    fn add(&mut self, other: Measure) {
        self.calls += other.calls;
        self.seconds += other.seconds;
        self.cpu_seconds = match (
            self.calls == other.calls,
            self.cpu_seconds,
            other.cpu_seconds,
        ) {
            (true, _, cpu) => cpu,
            (false, Some(a), Some(b)) => Some(a + b),
            _ => None,
        };
    }

    fn per_second(&self) -> f64 {
        self.calls as f64 / self.seconds
    }

    fn cpu_micros_per_call(&self) -> Option<f64> {
        self.cpu_seconds.map(|cpu| cpu * 1e6 / self.calls as f64)
    }
}

/// User plus system CPU time of this process (all threads, including SQLite's workers),
/// from `/proc/self/stat` in Linux's fixed 100 Hz clock ticks.
fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// Runs `op` in `tasks` concurrent loops for `duration`.
async fn run<F, Fut>(tasks: usize, duration: Duration, op: F) -> Measure
where
    F: Fn(u64) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let cpu_before = process_cpu_seconds();
    let started = Instant::now();
    let handles: Vec<_> = (0..tasks as u64)
        .map(|task| {
            let (op, stop, done) = (op.clone(), Arc::clone(&stop), Arc::clone(&done));
            tokio::spawn(async move {
                let mut state = task.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
                let mut local = 0;
                while !stop.load(Ordering::Relaxed) {
                    // xorshift64: ids spread over the whole customer table.
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    op(1 + state % CUSTOMERS).await;
                    local += 1;
                }
                done.fetch_add(local, Ordering::Relaxed);
            })
        })
        .collect();
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    let elapsed = started.elapsed();
    for handle in handles {
        handle.await.expect("bench task");
    }
    let cpu_seconds = match (cpu_before, process_cpu_seconds()) {
        (Some(before), Some(after)) => Some(after - before),
        _ => None,
    };
    Measure {
        calls: done.load(Ordering::Relaxed),
        seconds: elapsed.as_secs_f64(),
        cpu_seconds,
    }
}
