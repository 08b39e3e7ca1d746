//! The Redis level: every operation bounded by a deadline and a breaker, failures counted
//! and logged (rate-limited), never returned to the caller.

mod config;
pub(crate) mod message;
pub(crate) mod subscriber;

use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, FromRedisValue};
use tokio_util::sync::CancellationToken;

pub use config::{RedisConfig, Topology};

use crate::breaker::Breaker;
use crate::clock::Clock;
use crate::key::CacheKey;
use crate::stats::Stats;
use crate::warn::WarnLimiter;

/// Why an L2 operation gave nothing; only counted and logged.
#[derive(Debug, thiserror::Error)]
pub(crate) enum L2Error {
    #[error("Redis breaker open")]
    BreakerOpen,
    #[error("Redis not connected yet")]
    NotConnected,
    #[error("Redis operation timed out")]
    Timeout,
    #[error(transparent)]
    Redis(#[from] redis::RedisError),
}

/// A connection that reconnects by itself.
enum Connection {
    /// `ConnectionManager` connects lazily and reconnects on I/O errors.
    Standalone(ConnectionManager),
    /// Filled by a background task once the cluster first answers; the cluster connection
    /// then follows slot moves and reconnects to nodes by itself.
    Cluster(OnceLock<ClusterConnection>),
}

/// The Redis level of one cache.
pub(crate) struct L2 {
    connection: Connection,
    pub(crate) config: RedisConfig,
    breaker: Breaker,
    stats: Arc<Stats>,
    warn: WarnLimiter,
    /// Clients for the pub/sub connection: the server, or each cluster seed in turn.
    pub(crate) pubsub_clients: Vec<redis::Client>,
}

impl L2 {
    pub(crate) fn new(
        config: RedisConfig,
        clock: Clock,
        stats: Arc<Stats>,
    ) -> Result<Self, redis::RedisError> {
        let (connection, pubsub_clients) = match &config.topology {
            Topology::Standalone(url) => {
                let client = redis::Client::open(url.as_str())?;
                let manager_config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(config.connect_timeout))
                    .set_response_timeout(Some(config.op_timeout))
                    .set_number_of_retries(2)
                    .set_max_delay(Duration::from_millis(500));
                let manager =
                    ConnectionManager::new_lazy_with_config(client.clone(), manager_config)?;
                (Connection::Standalone(manager), vec![client])
            }
            Topology::Cluster(urls) => {
                let clients = urls
                    .iter()
                    .map(|url| redis::Client::open(url.as_str()))
                    .collect::<Result<_, _>>()?;
                (Connection::Cluster(OnceLock::new()), clients)
            }
        };
        Ok(Self {
            connection,
            breaker: Breaker::new(config.breaker),
            config,
            stats,
            warn: WarnLimiter::new(clock),
            pubsub_clients,
        })
    }

    /// For a cluster, connects in the background (retrying with a capped backoff) until it
    /// succeeds or `cancel` fires. `None` for a standalone server, which connects lazily.
    pub(crate) fn cluster_connector(
        self: &Arc<Self>,
        cancel: CancellationToken,
    ) -> Option<impl Future<Output = ()> + Send + 'static> {
        let Topology::Cluster(urls) = &self.config.topology else {
            return None;
        };
        let urls = urls.clone();
        let l2 = Arc::clone(self);
        Some(async move {
            let client = match ClusterClient::builder(urls)
                .connection_timeout(l2.config.connect_timeout)
                .response_timeout(l2.config.op_timeout)
                .retries(1)
                .build()
            {
                Ok(client) => client,
                Err(error) => {
                    return tracing::warn!(%error, "Redis cluster configuration refused; L1 only");
                }
            };
            let mut backoff = Backoff::default();
            loop {
                let attempt = tokio::time::timeout(
                    l2.config.connect_timeout * 2,
                    client.get_async_connection(),
                );
                let failure = tokio::select! {
                    () = cancel.cancelled() => return,
                    attempt = attempt => match attempt {
                        Ok(Ok(connection)) => {
                            if let Connection::Cluster(slot) = &l2.connection {
                                let _ = slot.set(connection);
                            }
                            return;
                        }
                        Ok(Err(error)) => L2Error::Redis(error),
                        Err(_) => L2Error::Timeout,
                    },
                };
                l2.warn(&failure);
                tokio::select! {
                    () = cancel.cancelled() => return,
                    () = tokio::time::sleep(backoff.next()) => {}
                }
            }
        })
    }

    pub(crate) fn data_key(&self, key: &CacheKey) -> String {
        format!("{}v:{key}", self.config.key_prefix)
    }

    pub(crate) fn generation_key(&self, tag: &str) -> String {
        format!("{}gen:{tag}", self.config.key_prefix)
    }

    pub(crate) fn tags_key(&self) -> String {
        format!("{}tags", self.config.key_prefix)
    }

    pub(crate) fn channel(&self) -> String {
        format!("{}invalidate", self.config.key_prefix)
    }

    /// Runs `cmd` if the breaker allows, within the deadline; failures feed the breaker.
    pub(crate) async fn run<T: FromRedisValue>(&self, cmd: &Cmd) -> Result<T, L2Error> {
        if !self.breaker.allow() {
            self.stats.l2_skipped.fetch_add(1, Relaxed);
            return Err(L2Error::BreakerOpen);
        }
        let result = self.run_unguarded(cmd).await;
        match &result {
            Ok(_) => self.breaker.success(),
            // Not connected yet is no sign of a failing server.
            Err(L2Error::NotConnected) => {}
            Err(_) => self.breaker.failure(),
        }
        result
    }

    /// Runs `cmd` within the deadline, past the breaker (the subscriber's resync, which must
    /// not be skipped right after Redis comes back).
    pub(crate) async fn run_unguarded<T: FromRedisValue>(&self, cmd: &Cmd) -> Result<T, L2Error> {
        let result = match &self.connection {
            Connection::Standalone(manager) => {
                query(cmd, manager.clone(), self.config.op_timeout).await
            }
            Connection::Cluster(slot) => match slot.get() {
                Some(connection) => query(cmd, connection.clone(), self.config.op_timeout).await,
                None => Err(L2Error::NotConnected),
            },
        };
        match &result {
            Ok(_) => {}
            Err(L2Error::NotConnected) => {
                self.stats.l2_skipped.fetch_add(1, Relaxed);
            }
            Err(error) => {
                self.stats.l2_errors.fetch_add(1, Relaxed);
                self.warn(error);
            }
        }
        result
    }

    pub(crate) fn warn(&self, error: &L2Error) {
        if let Some(held_back) = self.warn.permit() {
            tracing::warn!(%error, held_back, "Redis cache level unavailable; serving from L1");
        }
    }

    /// `GET` of an entry's bytes.
    pub(crate) async fn get(&self, key: &CacheKey) -> Option<Bytes> {
        self.run::<Option<Bytes>>(redis::cmd("GET").arg(self.data_key(key)))
            .await
            .ok()
            .flatten()
    }
}

async fn query<C, T>(cmd: &Cmd, mut connection: C, deadline: Duration) -> Result<T, L2Error>
where
    C: ConnectionLike + Send,
    T: FromRedisValue,
{
    match tokio::time::timeout(deadline, cmd.query_async::<T>(&mut connection)).await {
        Ok(result) => Ok(result?),
        Err(_) => Err(L2Error::Timeout),
    }
}

/// Capped exponential backoff: 100 ms doubling to 2 s.
#[derive(Debug)]
pub(crate) struct Backoff(Duration);

impl Default for Backoff {
    fn default() -> Self {
        Self(Duration::from_millis(100))
    }
}

impl Backoff {
    pub(crate) fn next(&mut self) -> Duration {
        let delay = self.0;
        self.0 = (self.0 * 2).min(Duration::from_secs(2));
        delay
    }

    pub(crate) fn reset(&mut self) {
        *self = Self::default();
    }
}
