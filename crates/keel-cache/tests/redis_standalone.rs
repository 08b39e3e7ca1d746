//! Two nodes sharing one real `redis-server`.

mod support;

use std::time::{Duration, Instant};

use keel_cache::{Cache, RedisConfig, Tag};
use support::{RedisServer, entry, eventually, key, kind, node, ttl, wait_l2, wait_subscribed};

fn config(server: &RedisServer) -> RedisConfig {
    RedisConfig::standalone(server.url())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_l2_hit_fills_l1() {
    let server = RedisServer::start();
    let (a, b) = (node(config(&server)), node(config(&server)));
    a.put("t", key(1), entry("one", &["tool:x"])).await;
    eventually(
        Duration::from_secs(10),
        "B reads A's entry from Redis",
        || async { kind(&b.get("t", &key(1), &ttl()).await) == "L2" },
    )
    .await;
    let lookup = b.get("t", &key(1), &ttl()).await;
    assert_eq!(kind(&lookup), "L1");
    let found = lookup.entry().expect("entry");
    assert_eq!(&found.value[..], b"one");
    assert_eq!(found.tags, vec![Tag::new("tool:x")]);
    let stats = b.stats();
    assert_eq!(stats.l2.hits, 1);
    assert_eq!(stats.l1.hits, 1);
    assert!(
        server
            .cli(&["PTTL", &format!("keel:v:{}", key(1))])
            .trim()
            .parse::<i64>()
            .expect("pttl")
            > 600_000
    );
    a.close().await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalidate_tag_reaches_other_nodes_by_message() {
    let server = RedisServer::start();
    let (a, b) = (node(config(&server)), node(config(&server)));
    wait_subscribed(&b).await;
    a.put("t", key(1), entry("one", &["tool:x"])).await;
    a.put("t", key(2), entry("two", &["tool:y"])).await;
    wait_l2(&b, 1).await;
    wait_l2(&b, 2).await;
    assert_eq!(kind(&b.get("t", &key(1), &ttl()).await), "L1");

    a.invalidate_tag(&Tag::new("tool:x")).await;
    eventually(
        Duration::from_secs(5),
        "B's L1 entry invalidated",
        || async { kind(&b.get("t", &key(1), &ttl()).await) == "miss" },
    )
    .await;
    assert_eq!(kind(&b.get("t", &key(2), &ttl()).await), "L1");
    assert_eq!(kind(&a.get("t", &key(1), &ttl()).await), "miss");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_started_after_an_invalidation_reads_generations_from_redis() {
    let server = RedisServer::start();
    let a = node(config(&server));
    a.put("t", key(1), entry("one", &["tool:x"])).await;
    let late = node(config(&server));
    wait_l2(&late, 1).await;
    late.close().await;
    drop(late);

    a.invalidate_tag(&Tag::new("tool:x")).await;
    assert_eq!(server.cli(&["GET", "keel:gen:tool:x"]).trim(), "1");
    // The entry is still in Redis: only its stamped generation makes it dead.
    assert_eq!(
        server
            .cli(&["EXISTS", &format!("keel:v:{}", key(1))])
            .trim(),
        "1"
    );

    let c = node(config(&server));
    wait_subscribed(&c).await;
    assert_eq!(kind(&c.get("t", &key(1), &ttl()).await), "miss");
    assert_eq!(c.stats().invalidated, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalidate_key_and_pattern_across_nodes() {
    let server = RedisServer::start();
    let (a, b) = (node(config(&server)), node(config(&server)));
    wait_subscribed(&b).await;
    a.put("t", key(1), entry("one", &[])).await;
    a.put("t", key(2), entry("two", &["tool:query"])).await;
    a.put("t", key(3), entry("three", &["user:ann"])).await;
    for n in 1..=3 {
        wait_l2(&b, n).await;
    }
    a.invalidate_key(&key(1)).await;
    eventually(Duration::from_secs(5), "key gone from B", || async {
        kind(&b.get("t", &key(1), &ttl()).await) == "miss"
    })
    .await;
    assert_eq!(
        server
            .cli(&["EXISTS", &format!("keel:v:{}", key(1))])
            .trim(),
        "0"
    );

    // A node that never saw the tag resolves the pattern through Redis's tag set.
    let c = node(config(&server));
    eventually(
        Duration::from_secs(5),
        "pattern resolved through Redis",
        || async { c.invalidate_pattern("tool:*").await == 1 },
    )
    .await;
    eventually(
        Duration::from_secs(5),
        "tagged entry gone from A and B",
        || async {
            kind(&a.get("t", &key(2), &ttl()).await) == "miss"
                && kind(&b.get("t", &key(2), &ttl()).await) == "miss"
        },
    )
    .await;
    assert_eq!(kind(&b.get("t", &key(3), &ttl()).await), "L1");
}

/// Runs gets and puts over 100 keys from `base` for `duration`; the slowest round.
async fn hammer(cache: &Cache, duration: Duration, base: u32) -> Duration {
    let start = Instant::now();
    let mut slowest = Duration::ZERO;
    let mut round = 0u32;
    while start.elapsed() < duration {
        round += 1;
        let n = base + round % 100 + 1;
        let began = Instant::now();
        cache.put("t", key(n), entry("v", &["tool:x"])).await;
        cache.get("t", &key(n - 1), &ttl()).await;
        cache.get("t", &key(u32::MAX - n), &ttl()).await;
        slowest = slowest.max(began.elapsed());
    }
    slowest
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_and_restarted() {
    let mut server = RedisServer::start();
    let (a, b) = (node(config(&server)), node(config(&server)));
    wait_subscribed(&b).await;
    a.put("t", key(1), entry("one", &["tool:x"])).await;
    wait_l2(&b, 1).await;
    assert_eq!(kind(&b.get("t", &key(1), &ttl()).await), "L1");

    server.kill();
    // Three calls each (one put, two gets): one round may meet the first failures.
    let slowest = hammer(&b, Duration::from_millis(1500), 1000).await;
    assert!(
        slowest < Duration::from_millis(400),
        "a call took {slowest:?} with Redis dead"
    );
    a.invalidate_tag(&Tag::new("unrelated")).await;
    a.invalidate_key(&key(5)).await;
    assert!(b.stats().l2_errors + b.stats().l2_skipped > 0);
    assert_eq!(
        kind(&b.get("t", &key(1), &ttl()).await),
        "L1",
        "L1 still serves"
    );

    server.restart();
    let resyncs = b.stats().resyncs;
    // Back by itself: A's writes reach Redis again and B reads them.
    let mut n = 2000;
    eventually(Duration::from_secs(15), "L2 hits after restart", || {
        n += 1;
        let (a, b) = (a.clone(), b.clone());
        async move {
            a.put("t", key(n), entry("again", &["tool:x"])).await;
            tokio::time::sleep(Duration::from_millis(50)).await;
            kind(&b.get("t", &key(n), &ttl()).await) == "L2"
        }
    })
    .await;
    wait_subscribed(&b).await;
    assert!(b.stats().resyncs > resyncs, "subscriber resynced");

    // Invalidations flow again; B's entry from before the outage cannot outlive them.
    a.invalidate_tag(&Tag::new("tool:x")).await;
    eventually(Duration::from_secs(5), "B misses tool:x", || async {
        kind(&b.get("t", &key(1), &ttl()).await) == "miss"
            && kind(&b.get("t", &key(n), &ttl()).await) == "miss"
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_redis_costs_no_more_than_the_deadline() {
    let server = RedisServer::start();
    let (a, b) = (node(config(&server)), node(config(&server)));
    wait_subscribed(&b).await;
    a.put("t", key(1), entry("one", &[])).await;
    wait_l2(&b, 1).await;

    server.pause();
    let started = Instant::now();
    let slowest = hammer(&b, Duration::from_millis(1500), 1000).await;
    a.invalidate_tag(&Tag::new("tool:x")).await;
    a.invalidate_key(&key(1)).await;
    let invalidations = started.elapsed();
    server.resume();
    // Each of the three calls of a round waits at most the 50 ms deadline before the
    // breaker opens; after that they do not wait at all.
    assert!(
        slowest < Duration::from_millis(400),
        "a round took {slowest:?} with Redis frozen"
    );
    assert!(invalidations < Duration::from_secs(3), "{invalidations:?}");
    assert!(b.stats().l2_skipped > 0, "breaker opened: {:?}", b.stats());

    let mut n = 5000;
    eventually(Duration::from_secs(15), "L2 hits after SIGCONT", || {
        n += 1;
        let (a, b) = (a.clone(), b.clone());
        async move {
            a.put("t", key(n), entry("again", &[])).await;
            tokio::time::sleep(Duration::from_millis(50)).await;
            kind(&b.get("t", &key(n), &ttl()).await) == "L2"
        }
    })
    .await;
}
