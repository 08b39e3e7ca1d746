//! The in-process level alone, under tokio's paused clock.

use std::time::Duration;

use bytes::Bytes;
use keel_cache::{Cache, CacheKey, Entry, Level, Lookup, Tag, TtlPolicy};
use tokio::time::advance;

fn key(n: u8) -> CacheKey {
    CacheKey([n; 32])
}

fn policy(min: u64, max: u64) -> TtlPolicy {
    TtlPolicy::new(Duration::from_secs(min), Duration::from_secs(max))
}

fn entry(value: &'static [u8], policy: &TtlPolicy, stale_secs: u64, tags: &[&str]) -> Entry {
    let tags = tags.iter().map(|tag| Tag::new(*tag)).collect();
    Entry::new(
        Bytes::from_static(value),
        policy,
        Duration::from_secs(stale_secs),
        tags,
    )
}

fn cache() -> Cache {
    Cache::builder()
        .l1_max_bytes(1 << 20)
        .build()
        .expect("builds")
}

fn kind(lookup: &Lookup) -> &'static str {
    match lookup {
        Lookup::Fresh(_, Level::L1) => "fresh",
        Lookup::Stale(_, Level::L1) => "stale",
        Lookup::Miss => "miss",
        _ => "from L2",
    }
}

#[tokio::test(start_paused = true)]
async fn adaptive_ttl_extends_with_hits_within_bounds() {
    let cache = cache();
    let ttl = policy(10, 40);
    cache.put("t", key(1), entry(b"read", &ttl, 0, &[])).await;
    cache.put("t", key(2), entry(b"unread", &ttl, 0, &[])).await;

    // Unread: fresh for min only.
    advance(Duration::from_secs(9)).await;
    assert_eq!(kind(&cache.get("t", &key(1), &ttl).await), "fresh"); // hit 1: 20 s
    advance(Duration::from_secs(2)).await; // 11 s
    assert_eq!(kind(&cache.get("t", &key(2), &ttl).await), "miss");
    assert_eq!(kind(&cache.get("t", &key(1), &ttl).await), "fresh"); // hit 2: 20 s
    assert_eq!(kind(&cache.get("t", &key(1), &ttl).await), "fresh"); // hit 3: 40 s
    advance(Duration::from_secs(10)).await; // 21 s
    assert_eq!(kind(&cache.get("t", &key(1), &ttl).await), "fresh");
    for _ in 0..100 {
        assert_eq!(kind(&cache.get("t", &key(1), &ttl).await), "fresh");
    }
    advance(Duration::from_secs(18)).await; // 39 s
    assert_eq!(kind(&cache.get("t", &key(1), &ttl).await), "fresh");
    advance(Duration::from_secs(2)).await; // 41 s: past max however many hits
    assert_eq!(kind(&cache.get("t", &key(1), &ttl).await), "miss");
}

#[tokio::test(start_paused = true)]
async fn stale_window_follows_freshness() {
    let cache = cache();
    let ttl = policy(10, 10);
    cache.put("t", key(1), entry(b"v", &ttl, 5, &[])).await;
    advance(Duration::from_secs(12)).await;
    let stale = cache.get("t", &key(1), &ttl).await;
    assert_eq!(kind(&stale), "stale");
    assert_eq!(
        stale.entry().map(|entry| entry.value.clone()),
        Some(Bytes::from_static(b"v"))
    );
    // A stale read earns no freshness.
    assert_eq!(kind(&cache.get("t", &key(1), &ttl).await), "stale");
    advance(Duration::from_secs(4)).await;
    assert_eq!(kind(&cache.get("t", &key(1), &ttl).await), "miss");
    let stats = cache.stats();
    assert_eq!(stats.l1.stale_hits, 2);
    assert_eq!(stats.namespaces["t"].stale_hits, 2);
    assert_eq!(stats.namespaces["t"].misses, 1);
}

#[tokio::test(start_paused = true)]
async fn l1_is_bounded_by_bytes() {
    let cache = Cache::builder()
        .l1_max_bytes(64 * 1024)
        .build()
        .expect("builds");
    let ttl = policy(60, 60);
    for n in 0..40u8 {
        let value = Bytes::from(vec![n; 8 * 1024]);
        cache
            .put(
                "t",
                key(n),
                Entry::new(value, &ttl, Duration::ZERO, Vec::new()),
            )
            .await;
        cache.run_pending_tasks().await;
    }
    let stats = cache.stats();
    assert!(stats.l1.bytes <= 64 * 1024, "{stats:?}");
    assert!(stats.l1.entries < 40 && stats.l1.entries >= 4, "{stats:?}");
    assert!(stats.l1.evictions >= 30, "{stats:?}");
}

#[tokio::test(start_paused = true)]
async fn oversize_values_are_not_stored() {
    let cache = Cache::builder()
        .max_value_bytes(16)
        .build()
        .expect("builds");
    let ttl = policy(60, 60);
    cache
        .put("t", key(1), entry(b"seventeen bytes!!", &ttl, 0, &[]))
        .await;
    cache
        .put("t", key(2), entry(b"sixteen bytes!!!", &ttl, 0, &[]))
        .await;
    assert_eq!(kind(&cache.get("t", &key(1), &ttl).await), "miss");
    assert_eq!(kind(&cache.get("t", &key(2), &ttl).await), "fresh");
    assert_eq!(cache.stats().oversize, 1);
}

#[tokio::test(start_paused = true)]
async fn tag_generations_invalidate_tagged_entries_only() {
    let cache = cache();
    let ttl = policy(60, 60);
    cache
        .put(
            "q",
            key(1),
            entry(b"a", &ttl, 30, &["tool:query", "user:ann"]),
        )
        .await;
    cache
        .put("q", key(2), entry(b"b", &ttl, 30, &["tool:query"]))
        .await;
    cache
        .put("a", key(3), entry(b"c", &ttl, 30, &["tool:analyze"]))
        .await;

    cache.invalidate_tag(&Tag::new("user:ann")).await;
    assert_eq!(kind(&cache.get("q", &key(1), &ttl).await), "miss");
    assert_eq!(kind(&cache.get("q", &key(2), &ttl).await), "fresh");

    cache.invalidate_tag(&Tag::new("tool:query")).await;
    assert_eq!(kind(&cache.get("q", &key(2), &ttl).await), "miss");
    assert_eq!(kind(&cache.get("a", &key(3), &ttl).await), "fresh");

    // Stored after the invalidation: current again.
    cache
        .put("q", key(2), entry(b"b2", &ttl, 30, &["tool:query"]))
        .await;
    assert_eq!(kind(&cache.get("q", &key(2), &ttl).await), "fresh");
    assert_eq!(cache.stats().invalidated, 2);
}

#[tokio::test(start_paused = true)]
async fn pattern_invalidates_matching_tags() {
    let cache = cache();
    let ttl = policy(60, 60);
    cache
        .put("q", key(1), entry(b"a", &ttl, 0, &["tool:query"]))
        .await;
    cache
        .put("a", key(2), entry(b"b", &ttl, 0, &["tool:analyze"]))
        .await;
    cache
        .put("u", key(3), entry(b"c", &ttl, 0, &["user:tool:x"]))
        .await;
    assert_eq!(cache.invalidate_pattern("tool:*").await, 2);
    assert_eq!(kind(&cache.get("q", &key(1), &ttl).await), "miss");
    assert_eq!(kind(&cache.get("a", &key(2), &ttl).await), "miss");
    assert_eq!(kind(&cache.get("u", &key(3), &ttl).await), "fresh");
    assert_eq!(cache.invalidate_pattern("user:?ool:x").await, 1);
    assert_eq!(kind(&cache.get("u", &key(3), &ttl).await), "miss");
    assert_eq!(cache.invalidate_pattern("nothing*").await, 0);
}

#[tokio::test(start_paused = true)]
async fn invalidate_key_and_hot_keys() {
    let cache = cache();
    let ttl = policy(60, 60);
    cache.put("t", key(1), entry(b"a", &ttl, 0, &[])).await;
    cache.put("t", key(2), entry(b"b", &ttl, 0, &[])).await;
    for _ in 0..5 {
        cache.get("t", &key(1), &ttl).await;
    }
    cache.get("t", &key(2), &ttl).await;
    let stats = cache.stats();
    assert_eq!(stats.hottest[0].key, key(1).to_string());
    assert_eq!(stats.hottest[0].hits, 5);
    assert_eq!(stats.l1.hits, 6);
    assert_eq!(stats.namespaces["t"].inserts, 2);

    cache.invalidate_key(&key(1)).await;
    assert_eq!(kind(&cache.get("t", &key(1), &ttl).await), "miss");
    assert_eq!(kind(&cache.get("t", &key(2), &ttl).await), "fresh");
    assert!(
        cache
            .stats()
            .hottest
            .iter()
            .all(|hot| hot.key != key(1).to_string())
    );
    let json = serde_json::to_value(cache.stats()).expect("serializes");
    assert_eq!(json["l1"]["misses"], 1);
}

#[tokio::test(start_paused = true)]
async fn zero_bytes_disables_l1() {
    let cache = Cache::builder().l1_max_bytes(0).build().expect("builds");
    let ttl = policy(60, 60);
    cache.put("t", key(1), entry(b"a", &ttl, 0, &[])).await;
    assert_eq!(kind(&cache.get("t", &key(1), &ttl).await), "miss");
}
