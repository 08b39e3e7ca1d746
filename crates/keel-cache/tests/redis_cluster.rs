//! Two nodes sharing a real three-master Redis Cluster.

mod support;

use std::time::Duration;

use keel_cache::{RedisConfig, Tag};
use support::{RedisCluster, entry, eventually, key, kind, node, ttl, wait_l2, wait_subscribed};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_share_a_cluster() {
    let cluster = RedisCluster::start();
    let config = || RedisConfig::cluster(cluster.urls());
    let (a, b) = (node(config()), node(config()));
    wait_subscribed(&b).await;
    wait_subscribed(&a).await;

    // The cluster connection comes up in the background: retry the first write until read.
    eventually(Duration::from_secs(15), "cluster answers", || async {
        a.put("t", key(0), entry("zero", &["tool:x"])).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        b.get("t", &key(0), &ttl()).await.entry().is_some()
    })
    .await;
    for n in 1..=60 {
        let tag = if n % 2 == 0 { "tool:x" } else { "tool:y" };
        a.put("t", key(n), entry(&format!("v{n}"), &[tag])).await;
    }
    for n in 1..=60 {
        wait_l2(&b, n).await;
        assert_eq!(kind(&b.get("t", &key(n), &ttl()).await), "L1");
    }
    // Keys spread over the slots of all three masters.
    for redis in &cluster.nodes {
        let keys: u64 = redis.cli(&["DBSIZE"]).trim().parse().expect("dbsize");
        assert!(keys > 5, "a master holds {keys} keys");
    }

    // By message: B's L1 entries of tool:x go.
    a.invalidate_tag(&Tag::new("tool:x")).await;
    eventually(Duration::from_secs(5), "tool:x gone from B", || async {
        kind(&b.get("t", &key(2), &ttl()).await) == "miss"
    })
    .await;
    assert_eq!(kind(&b.get("t", &key(3), &ttl()).await), "L1");

    // By key.
    a.invalidate_key(&key(3)).await;
    eventually(Duration::from_secs(5), "key 3 gone from B", || async {
        kind(&b.get("t", &key(3), &ttl()).await) == "miss"
    })
    .await;

    // By generation: a node started now re-reads generations and refuses old stamps.
    let c = node(config());
    wait_subscribed(&c).await;
    eventually(Duration::from_secs(10), "C reads the cluster", || async {
        kind(&c.get("t", &key(5), &ttl()).await) == "L2"
    })
    .await;
    assert_eq!(kind(&c.get("t", &key(4), &ttl()).await), "miss");

    // By pattern, resolved through the cluster's tag set.
    assert_eq!(c.invalidate_pattern("tool:?").await, 2);
    eventually(
        Duration::from_secs(5),
        "tool:y gone from A and B",
        || async {
            kind(&a.get("t", &key(5), &ttl()).await) == "miss"
                && kind(&b.get("t", &key(7), &ttl()).await) == "miss"
        },
    )
    .await;
    a.close().await;
    b.close().await;
    c.close().await;
}
