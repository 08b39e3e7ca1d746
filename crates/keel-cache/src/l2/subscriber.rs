//! The task that hears other nodes' invalidations.
//!
//! Standalone: a dedicated pub/sub connection to the server. Cluster: classic `SUBSCRIBE` on
//! one seed node at a time (a cluster forwards classic `PUBLISH` to every node), because
//! redis-rs 1.x offers sharded `SSUBSCRIBE` only through RESP3 push senders on the cluster
//! connection, and invalidations are small and rare enough that broadcast costs nothing.
//! After every (re)subscription the task resyncs: messages sent while it was away are lost,
//! so L1 is emptied and every tag's generation is re-read from Redis. Until a resync has
//! succeeded (the cluster connection may come up later than the subscription) lookups skip
//! Redis, whose entries could carry generations this node has not heard of.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;

use super::{Backoff, L2, L2Error};
use crate::cache::Shared;

pub(crate) async fn run(shared: Arc<Shared>, l2: Arc<L2>, cancel: CancellationToken) {
    let channel = l2.channel();
    let mut backoff = Backoff::default();
    let mut attempt = 0usize;
    while !cancel.is_cancelled() {
        let client = &l2.pubsub_clients[attempt % l2.pubsub_clients.len().max(1)];
        attempt = attempt.wrapping_add(1);
        let connect = async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&channel).await?;
            Ok::<_, redis::RedisError>(pubsub)
        };
        let connected = tokio::select! {
            () = cancel.cancelled() => return,
            connected = tokio::time::timeout(l2.config.connect_timeout, connect) => connected,
        };
        match connected {
            Ok(Ok(pubsub)) => {
                let (_sink, mut messages) = pubsub.split();
                while !resync(&shared, &l2).await {
                    tokio::select! {
                        () = cancel.cancelled() => return,
                        () = tokio::time::sleep(backoff.next()) => {}
                    }
                }
                shared.l2_ready.store(true, Relaxed);
                shared.stats.subscribed.store(true, Relaxed);
                backoff.reset();
                loop {
                    tokio::select! {
                        () = cancel.cancelled() => return,
                        message = messages.next() => match message {
                            Some(message) => match std::str::from_utf8(message.get_payload_bytes()) {
                                Ok(text) => shared.apply(text).await,
                                Err(_) => tracing::debug!("non-UTF-8 invalidation message ignored"),
                            },
                            None => break,
                        },
                    }
                }
                shared.l2_ready.store(false, Relaxed);
                shared.stats.subscribed.store(false, Relaxed);
                tracing::warn!("Redis invalidation subscription lost; reconnecting");
            }
            Ok(Err(error)) => l2.warn(&L2Error::Redis(error)),
            Err(_) => l2.warn(&L2Error::Timeout),
        }
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(backoff.next()) => {}
        }
    }
}

/// Empties L1 (key invalidations may have been missed), re-registers the tags this node
/// knows (Redis may have restarted empty) and merges every tag's generation from Redis.
/// `false` when Redis did not answer all of it.
async fn resync(shared: &Shared, l2: &L2) -> bool {
    if let Some(l1) = &shared.l1 {
        l1.invalidate_all();
    }
    shared.stats.resyncs.fetch_add(1, Relaxed);
    let mut names: Vec<String> = shared
        .generations
        .names()
        .iter()
        .map(|name| name.to_string())
        .collect();
    if !names.is_empty() {
        let register = redis::cmd("SADD").arg(l2.tags_key()).arg(&names).clone();
        if l2.run_unguarded::<()>(&register).await.is_err() {
            return false;
        }
    }
    let members = redis::cmd("SMEMBERS").arg(l2.tags_key()).clone();
    match l2.run_unguarded::<Vec<String>>(&members).await {
        Ok(known) => names.extend(known),
        Err(_) => return false,
    }
    names.sort_unstable();
    names.dedup();
    for chunk in names.chunks(512) {
        let keys: Vec<String> = chunk.iter().map(|name| l2.generation_key(name)).collect();
        let Ok(generations) = l2
            .run_unguarded::<Vec<Option<u64>>>(redis::cmd("MGET").arg(&keys))
            .await
        else {
            return false;
        };
        for (name, generation) in chunk.iter().zip(generations) {
            shared.generations.merge(name, generation.unwrap_or(0));
        }
    }
    true
}
