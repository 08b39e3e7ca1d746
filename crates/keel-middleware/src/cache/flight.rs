//! Single-flight: identical calls in flight share one computation.
//!
//! The computation belongs to the flight, not to the call that started it: it runs in its
//! own task, so it goes on when that caller disconnects while others wait, and it is
//! cancelled when the last waiter is gone. moka's `get_with` coalesces too, but runs the
//! initializer inside the first caller's future (dropped with it, then restarted by the
//! next waiter), which is the ownership this module exists to avoid.

use std::{
    collections::HashMap,
    future::Future,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
};

use keel_cache::CacheKey;
use keel_core::{CallToolResult, Failure, SharedResult, ToolError};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// What a finished computation hands every waiter.
#[derive(Clone)]
pub(crate) enum Outcome {
    /// A result, encoded once for everyone.
    Result(SharedResult),
    /// A typed failure, the same for everyone.
    Failed(Failure),
    /// Something only one caller can receive (a protocol error, an input request): the
    /// first waiter to take it gets it, the others run their own call.
    Once(Arc<Mutex<Option<ToolError>>>),
}

impl Outcome {
    /// Sorts a computation's result.
    pub(crate) fn of(result: Result<CallToolResult, ToolError>) -> Self {
        match result {
            Ok(r) => Self::Result(SharedResult::encode(&r)),
            Err(ToolError::Failed(f)) => Self::Failed(f),
            Err(other) => Self::Once(Arc::new(Mutex::new(Some(other)))),
        }
    }
}

/// The flights in progress, by key.
#[derive(Default)]
pub(crate) struct Flights {
    map: Mutex<HashMap<CacheKey, Arc<Flight>>>,
}

struct Flight {
    done: watch::Sender<Option<Outcome>>,
    waiters: AtomicUsize,
    cancel: CancellationToken,
}

/// Counts a waiter; the last one to leave before the outcome cancels the computation.
struct Waiter(Arc<Flight>);

impl Drop for Waiter {
    fn drop(&mut self) {
        if self.0.waiters.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.cancel.cancel();
        }
    }
}

/// A call's place in a flight.
pub(crate) struct Joining {
    leader: bool,
    done: watch::Receiver<Option<Outcome>>,
    _waiter: Waiter,
}

impl Joining {
    /// Whether this call started the computation.
    pub(crate) fn is_leader(&self) -> bool {
        self.leader
    }

    /// Waits for the outcome.
    pub(crate) async fn outcome(mut self) -> Joined {
        let outcome = self
            .done
            .wait_for(Option::is_some)
            .await
            .ok()
            .and_then(|o| o.clone());
        match outcome {
            Some(outcome) => Joined::Outcome(outcome),
            None => Joined::Lost,
        }
    }
}

/// How a call met its flight.
pub(crate) enum Joined {
    /// The outcome every waiter receives.
    Outcome(Outcome),
    /// The computation ended without an outcome (it panicked): run the call directly.
    Lost,
}

impl Flights {
    /// Number of flights in progress.
    pub(crate) fn len(&self) -> usize {
        self.map.lock().map_or(0, |m| m.len())
    }

    /// Joins the flight of `key`, starting it with `start` if there is none. `start`
    /// receives the flight's cancellation token and returns the computation, which is
    /// spawned. The returned [`Joining`] knows whether this call started the flight and
    /// waits for the outcome; dropping it leaves the flight.
    pub(crate) fn join<F, Fut>(self: &Arc<Self>, key: CacheKey, start: F) -> Joining
    where
        F: FnOnce(CancellationToken) -> Fut,
        Fut: Future<Output = Outcome> + Send + 'static,
    {
        let (flight, started) = {
            let mut map = match self.map.lock() {
                Ok(map) => map,
                Err(poisoned) => poisoned.into_inner(),
            };
            match map.get(&key) {
                Some(f) => {
                    f.waiters.fetch_add(1, Ordering::AcqRel);
                    (Arc::clone(f), None)
                }
                None => {
                    let flight = Arc::new(Flight {
                        done: watch::channel(None).0,
                        waiters: AtomicUsize::new(1),
                        cancel: CancellationToken::new(),
                    });
                    map.insert(key, Arc::clone(&flight));
                    let work = start(flight.cancel.clone());
                    (Arc::clone(&flight), Some(work))
                }
            }
        };
        let done = flight.done.subscribe();
        let leader = started.is_some();
        if let Some(work) = started {
            let flights = Arc::clone(self);
            let flight = Arc::clone(&flight);
            // In the leading call's span (the cache lookup's), so the computation's spans
            // nest in the trace of the call that started it.
            tokio::spawn(
                async move {
                    let outcome = tokio::select! {
                        outcome = work => Some(outcome),
                        () = flight.cancel.cancelled() => None,
                    };
                    flights.remove(&key, &flight);
                    if let Some(outcome) = outcome {
                        flight.done.send_replace(Some(outcome));
                    }
                    // Dropping `flight` here closes the channel if nothing was sent.
                }
                .in_current_span(),
            );
        }
        Joining {
            leader,
            done,
            _waiter: Waiter(flight),
        }
    }

    fn remove(&self, key: &CacheKey, flight: &Arc<Flight>) {
        if let Ok(mut map) = self.map.lock()
            && map.get(key).is_some_and(|f| Arc::ptr_eq(f, flight))
        {
            map.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::{sync::atomic::AtomicU32, time::Duration};

    use super::*;

    async fn join<F, Fut>(flights: &Arc<Flights>, key: CacheKey, start: F) -> (bool, Joined)
    where
        F: FnOnce(CancellationToken) -> Fut,
        Fut: Future<Output = Outcome> + Send + 'static,
    {
        let joining = flights.join(key, start);
        (joining.is_leader(), joining.outcome().await)
    }

    struct NotifyOnDrop(Arc<tokio::sync::Notify>);

    impl Drop for NotifyOnDrop {
        fn drop(&mut self) {
            self.0.notify_one();
        }
    }

    fn key(n: u8) -> CacheKey {
        CacheKey([n; 32])
    }

    fn text(outcome: &Joined) -> String {
        match outcome {
            Joined::Outcome(Outcome::Result(r)) => {
                String::from_utf8_lossy(r.members(true)).into_owned()
            }
            _ => panic!("expected a result"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn identical_calls_compute_once() {
        let flights = Arc::new(Flights::default());
        let runs = Arc::new(AtomicU32::new(0));
        let calls = (0..100).map(|_| {
            let flights = Arc::clone(&flights);
            let runs = Arc::clone(&runs);
            tokio::spawn(async move {
                join(&flights, key(1), move |_| async move {
                    runs.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    Outcome::of(Ok(CallToolResult::text("once")))
                })
                .await
            })
        });
        let joined = futures_util::future::join_all(calls).await;
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        let leaders = joined.iter().filter(|j| j.as_ref().unwrap().0).count();
        assert_eq!(leaders, 1);
        for j in &joined {
            assert!(text(&j.as_ref().unwrap().1).contains("once"));
        }
        assert_eq!(flights.len(), 0, "a finished flight is forgotten");
    }

    #[tokio::test(start_paused = true)]
    async fn the_work_outlives_its_first_caller_while_others_wait() {
        let flights = Arc::new(Flights::default());
        let first = {
            let flights = Arc::clone(&flights);
            tokio::spawn(async move {
                join(&flights, key(2), |_| async {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    Outcome::of(Ok(CallToolResult::text("survived")))
                })
                .await
            })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        let second = {
            let flights = Arc::clone(&flights);
            tokio::spawn(async move {
                join(&flights, key(2), |_| async {
                    unreachable!("joined, not started")
                })
                .await
            })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        first.abort();
        let (leader, outcome) = second.await.unwrap();
        assert!(!leader);
        assert!(text(&outcome).contains("survived"));
    }

    #[tokio::test(start_paused = true)]
    async fn the_work_is_cancelled_when_every_waiter_is_gone() {
        let flights = Arc::new(Flights::default());
        let cancelled = Arc::new(tokio::sync::Notify::new());
        let seen = Arc::clone(&cancelled);
        let callers: Vec<_> = (0..3)
            .map(|_| {
                let flights = Arc::clone(&flights);
                let seen = Arc::clone(&seen);
                tokio::spawn(async move {
                    join(&flights, key(3), move |_| async move {
                        // Notifies when the computation is dropped, i.e. cancelled.
                        let _dropped = NotifyOnDrop(seen);
                        std::future::pending::<Outcome>().await
                    })
                    .await
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(flights.len(), 1);
        for c in &callers {
            c.abort();
        }
        tokio::time::timeout(Duration::from_secs(1), cancelled.notified())
            .await
            .expect("the computation saw its cancellation");
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert_eq!(flights.len(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn an_error_for_one_caller_goes_to_one_caller() {
        let flights = Arc::new(Flights::default());
        let calls: Vec<_> = (0..3)
            .map(|_| {
                let flights = Arc::clone(&flights);
                tokio::spawn(async move {
                    let (_, joined) = join(&flights, key(4), |_| async {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                        Outcome::of(Err(ToolError::Cancelled))
                    })
                    .await;
                    match joined {
                        Joined::Outcome(Outcome::Once(slot)) => {
                            slot.lock().unwrap().take().is_some()
                        }
                        _ => panic!("expected a one-caller outcome"),
                    }
                })
            })
            .collect();
        let mut took = 0;
        for c in calls {
            took += usize::from(c.await.unwrap());
        }
        assert_eq!(took, 1);
    }
}
