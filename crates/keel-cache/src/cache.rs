//! The two-level cache: lookups, stores and invalidation.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::Relaxed;

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::builder::CacheBuilder;
use crate::clock::Clock;
use crate::codec;
use crate::entry::{self, Age, Entry};
use crate::generations::Generations;
use crate::glob;
use crate::key::{CacheKey, Tag};
use crate::l1::{L1, L1Value};
use crate::l2::L2;
use crate::l2::message::{self, Message};
use crate::lookup::{Level, Lookup};
use crate::stats::{Outcome, Stats, StatsSnapshot};
use crate::ttl::TtlPolicy;

/// What every clone of a cache and its background tasks share.
pub(crate) struct Shared {
    pub(crate) l1: Option<L1>,
    pub(crate) generations: Generations,
    pub(crate) stats: Arc<Stats>,
    /// Redis and the bound on `put`'s Redis writes in flight.
    pub(crate) l2: Option<(Arc<L2>, Arc<Semaphore>)>,
    pub(crate) clock: Clock,
    pub(crate) max_value_bytes: usize,
    /// This node's id in invalidation messages, to skip its own.
    pub(crate) node: u64,
    /// Whether lookups may read Redis: set once the subscriber has re-read the generations.
    pub(crate) l2_ready: AtomicBool,
}

pub(crate) struct Inner {
    pub(crate) shared: Arc<Shared>,
    pub(crate) cancel: CancellationToken,
    pub(crate) tasks: TaskTracker,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.cancel.cancel();
        self.tasks.close();
    }
}

/// A two-level byte cache: in-process L1 and optional Redis L2. Cheap to clone.
#[derive(Clone)]
pub struct Cache(Arc<Inner>);

/// What L1 made of an entry.
enum Verdict {
    Fresh,
    Stale,
    Dead,
}

impl Cache {
    /// Settings with defaults: 64 MiB of L1, no Redis.
    pub fn builder() -> CacheBuilder {
        CacheBuilder::default()
    }

    pub(crate) fn from_inner(inner: Inner) -> Self {
        Self(Arc::new(inner))
    }

    fn shared(&self) -> &Shared {
        &self.0.shared
    }

    /// Looks `key` up in L1, then in Redis (a Redis answer fills L1). Entries of an
    /// invalidated tag generation, or past freshness and stale window, are misses.
    /// `namespace` (the tool name) only labels the counters.
    pub async fn get(&self, namespace: &str, key: &CacheKey, policy: &TtlPolicy) -> Lookup {
        let shared = self.shared();
        let now = shared.clock.now_ms();
        let mut stale = None;
        if let Some(l1) = &shared.l1 {
            if let Some(value) = l1.get(key).await {
                match shared.judge_l1(key, &value, policy, now) {
                    Verdict::Fresh => {
                        shared.stats.l1.hits.fetch_add(1, Relaxed);
                        shared.stats.count_namespace(namespace, Outcome::Hit);
                        return Lookup::Fresh(Arc::clone(&value.entry), Level::L1);
                    }
                    Verdict::Stale => stale = Some(Arc::clone(&value.entry)),
                    Verdict::Dead => l1.invalidate(key).await,
                }
            }
            if stale.is_none() {
                shared.stats.l1.misses.fetch_add(1, Relaxed);
            }
        }
        if let Some(found) = shared.get_l2(key, policy, now, stale.is_none()).await {
            shared.stats.count_namespace(
                namespace,
                if found.is_fresh() {
                    Outcome::Hit
                } else {
                    Outcome::Stale
                },
            );
            return found;
        }
        if let Some(entry) = stale {
            shared.stats.l1.stale_hits.fetch_add(1, Relaxed);
            shared.stats.count_namespace(namespace, Outcome::Stale);
            return Lookup::Stale(entry, Level::L1);
        }
        shared.stats.count_namespace(namespace, Outcome::Miss);
        Lookup::Miss
    }

    /// A fresh L1 entry under `key`, if there is one, without counting a lookup: for a
    /// second look just before computing (a computation that just finished has stored its
    /// result there).
    pub async fn fresh_in_l1(&self, key: &CacheKey, policy: &TtlPolicy) -> Option<Arc<Entry>> {
        let shared = self.shared();
        let value = shared.l1.as_ref()?.get(key).await?;
        match shared.judge_l1(key, &value, policy, shared.clock.now_ms()) {
            Verdict::Fresh => Some(Arc::clone(&value.entry)),
            Verdict::Stale | Verdict::Dead => None,
        }
    }

    /// Stores `entry` under `key`: in L1 now, in Redis in the background (a bounded number
    /// of writes in flight; more are dropped). Sets `stored_at` and the tags' generations.
    /// Values past the size limit are not stored.
    pub async fn put(&self, namespace: &str, key: CacheKey, mut entry: Entry) {
        let shared = self.shared();
        if entry.value.len() > shared.max_value_bytes {
            shared.stats.oversize.fetch_add(1, Relaxed);
            return;
        }
        entry.stored_at = shared.clock.now_ms();
        let new_tags = shared.generations.stamp(&mut entry);
        let entry = Arc::new(entry);
        shared.stats.count_namespace_insert(namespace);
        if let Some(l1) = &shared.l1 {
            l1.insert(
                key,
                Arc::new(L1Value {
                    entry: Arc::clone(&entry),
                    hits: 0.into(),
                }),
            )
            .await;
            shared.stats.l1.inserts.fetch_add(1, Relaxed);
        }
        let Some((l2, writes)) = &shared.l2 else {
            return;
        };
        let Ok(permit) = Arc::clone(writes).try_acquire_owned() else {
            shared.stats.l2_writes_dropped.fetch_add(1, Relaxed);
            return;
        };
        let Ok(bytes) = codec::encode(&entry) else {
            shared.stats.oversize.fetch_add(1, Relaxed);
            return;
        };
        let ttl_ms = u64::try_from(entry.max_lifetime().as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        let l2 = Arc::clone(l2);
        let stats = Arc::clone(&shared.stats);
        self.0.tasks.spawn(async move {
            let _permit = permit;
            let set = redis::cmd("SET")
                .arg(l2.data_key(&key))
                .arg(bytes.as_ref())
                .arg("PX")
                .arg(ttl_ms)
                .clone();
            if l2.run::<()>(&set).await.is_ok() {
                stats.l2.inserts.fetch_add(1, Relaxed);
            }
            if !new_tags.is_empty() {
                let names: Vec<&str> = new_tags.iter().map(Tag::as_str).collect();
                let _ = l2
                    .run::<()>(redis::cmd("SADD").arg(l2.tags_key()).arg(&names))
                    .await;
            }
        });
    }

    /// Drops `key` here, in Redis and (through Redis pub/sub) in every other node's L1.
    pub async fn invalidate_key(&self, key: &CacheKey) {
        let shared = self.shared();
        if let Some(l1) = &shared.l1 {
            l1.invalidate(key).await;
        }
        shared.stats.forget_hot(key);
        if let Some((l2, _)) = &shared.l2 {
            let _ = l2.run::<()>(redis::cmd("DEL").arg(l2.data_key(key))).await;
            shared.publish(l2, &Message::Key(*key)).await;
        }
    }

    /// Makes every entry tagged `tag` a miss on every node: bumps the tag's generation here
    /// and in Redis (`INCR`), and tells the other nodes.
    pub async fn invalidate_tag(&self, tag: &Tag) {
        let shared = self.shared();
        let mut generation = shared.generations.bump(tag.as_str(), 0);
        let Some((l2, _)) = &shared.l2 else { return };
        let _ = l2
            .run::<()>(redis::cmd("SADD").arg(l2.tags_key()).arg(tag.as_str()))
            .await;
        if let Ok(stored) = l2
            .run::<u64>(redis::cmd("INCR").arg(l2.generation_key(tag.as_str())))
            .await
        {
            shared.generations.merge(tag.as_str(), stored);
            generation = generation.max(stored);
        }
        shared
            .publish(
                l2,
                &Message::Tag {
                    tag: tag.as_str().to_owned(),
                    generation,
                },
            )
            .await;
    }

    /// Invalidates every known tag (known here, or to any node through Redis) whose name
    /// matches `pattern` (`*` any run, `?` one character); returns how many matched.
    pub async fn invalidate_pattern(&self, pattern: &str) -> usize {
        let shared = self.shared();
        let mut names: Vec<String> = shared
            .generations
            .names()
            .iter()
            .map(|name| name.to_string())
            .collect();
        if let Some((l2, _)) = &shared.l2
            && let Ok(known) = l2
                .run::<Vec<String>>(redis::cmd("SMEMBERS").arg(l2.tags_key()))
                .await
        {
            names.extend(known);
        }
        names.sort_unstable();
        names.dedup();
        names.retain(|name| glob::matches(pattern, name));
        for name in &names {
            self.invalidate_tag(&Tag::new(name.as_str())).await;
        }
        names.len()
    }

    /// A copy of the counters. L1's entry and byte counts lag writes slightly; call
    /// [`Cache::run_pending_tasks`] first for exact ones.
    pub fn stats(&self) -> StatsSnapshot {
        let shared = self.shared();
        let (entries, bytes) = shared
            .l1
            .as_ref()
            .map_or((0, 0), |l1| (l1.entry_count(), l1.weighted_size()));
        shared.stats.snapshot(entries, bytes)
    }

    /// Applies L1's pending evictions and counts.
    pub async fn run_pending_tasks(&self) {
        if let Some(l1) = &self.shared().l1 {
            l1.run_pending_tasks().await;
        }
    }

    /// Stops the background tasks (subscriber, connector, Redis writes) and waits for them.
    /// Dropping the last clone stops them too, without waiting.
    pub async fn close(&self) {
        self.0.cancel.cancel();
        self.0.tasks.close();
        self.0.tasks.wait().await;
    }
}

impl Shared {
    fn judge_l1(&self, key: &CacheKey, value: &L1Value, policy: &TtlPolicy, now: u64) -> Verdict {
        if !self.generations.is_current(&value.entry) {
            self.stats.invalidated.fetch_add(1, Relaxed);
            return Verdict::Dead;
        }
        // Only fresh hits earn freshness: a stale entry cannot read itself back to fresh.
        let hits = value.hits.load(Relaxed);
        match entry::age(
            &value.entry,
            entry::fresh_for(&value.entry, policy, hits),
            now,
        ) {
            Age::Fresh => {
                let hits = value.hits.fetch_add(1, Relaxed).saturating_add(1);
                self.stats.record_hot(*key, hits);
                Verdict::Fresh
            }
            Age::Stale => Verdict::Stale,
            Age::Expired => Verdict::Dead,
        }
    }

    /// Redis's answer; a stale one only when L1 had none. Fills L1.
    async fn get_l2(
        &self,
        key: &CacheKey,
        policy: &TtlPolicy,
        now: u64,
        want_stale: bool,
    ) -> Option<Lookup> {
        let (l2, _) = self.l2.as_ref()?;
        if !self.l2_ready.load(Relaxed) {
            self.stats.l2_skipped.fetch_add(1, Relaxed);
            self.stats.l2.misses.fetch_add(1, Relaxed);
            return None;
        }
        let found = l2
            .get(key)
            .await
            .and_then(|bytes| match codec::decode(&bytes) {
                Ok(entry) => Some(entry),
                Err(error) => {
                    self.stats.l2_errors.fetch_add(1, Relaxed);
                    tracing::warn!(%error, %key, "undecodable entry in Redis ignored");
                    None
                }
            });
        let Some(entry) = found else {
            self.stats.l2.misses.fetch_add(1, Relaxed);
            return None;
        };
        if !self.generations.is_current(&entry) {
            self.stats.invalidated.fetch_add(1, Relaxed);
            self.stats.l2.misses.fetch_add(1, Relaxed);
            return None;
        }
        let age = entry::age(&entry, entry::fresh_for(&entry, policy, 0), now);
        let entry = Arc::new(entry);
        let lookup = match age {
            Age::Fresh => {
                self.stats.l2.hits.fetch_add(1, Relaxed);
                Lookup::Fresh(Arc::clone(&entry), Level::L2)
            }
            Age::Stale if want_stale => {
                self.stats.l2.stale_hits.fetch_add(1, Relaxed);
                Lookup::Stale(Arc::clone(&entry), Level::L2)
            }
            Age::Stale | Age::Expired => {
                self.stats.l2.misses.fetch_add(1, Relaxed);
                return None;
            }
        };
        if let Some(l1) = &self.l1 {
            l1.insert(
                *key,
                Arc::new(L1Value {
                    entry,
                    hits: 0.into(),
                }),
            )
            .await;
            self.stats.l1.inserts.fetch_add(1, Relaxed);
        }
        Some(lookup)
    }

    async fn publish(&self, l2: &L2, message: &Message) {
        let text = message::encode(self.node, message);
        let _ = l2
            .run::<()>(redis::cmd("PUBLISH").arg(l2.channel()).arg(text))
            .await;
    }

    /// Applies another node's invalidation to L1.
    pub(crate) async fn apply(&self, text: &str) {
        let Some((node, message)) = message::decode(text) else {
            tracing::debug!(text, "malformed invalidation message ignored");
            return;
        };
        if node == self.node {
            return;
        }
        match message {
            Message::Key(key) => {
                if let Some(l1) = &self.l1 {
                    l1.invalidate(&key).await;
                }
                self.stats.forget_hot(&key);
            }
            Message::Tag { tag, generation } => {
                self.generations.bump(&tag, generation);
            }
        }
    }
}
