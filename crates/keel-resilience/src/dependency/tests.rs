//! The guard under paused time: retries, budget, throttle, timeout and breaker together.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use keel_core::{Failure, FailureKind};
use tokio::time::Instant;

use super::{Dependencies, Dependency, DependencyConfig, Idempotency};
use crate::{BreakerConfig, BreakerState, RetryBudgetConfig, RetryPolicy};

fn config() -> DependencyConfig {
    DependencyConfig {
        timeout: Duration::from_secs(1),
        breaker: BreakerConfig {
            min_calls: 5,
            ..BreakerConfig::default()
        },
        retry: RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(2),
        },
        budget: RetryBudgetConfig {
            ratio: 0.2,
            min_per_sec: 1,
            window: Duration::from_secs(10),
        },
    }
}

/// An attempt that fails with `failure` the first `failing` times, then answers 7.
fn flaky(
    failing: u32,
    failure: Failure,
) -> (
    Arc<AtomicU32>,
    impl FnMut() -> std::future::Ready<Result<u32, Failure>>,
) {
    let attempts = Arc::new(AtomicU32::new(0));
    let seen = Arc::clone(&attempts);
    (attempts, move || {
        let n = seen.fetch_add(1, Ordering::Relaxed);
        std::future::ready(if n < failing {
            Err(failure.clone())
        } else {
            Ok(7)
        })
    })
}

#[tokio::test(start_paused = true)]
async fn a_transient_failure_is_retried_with_backoff() {
    let dep = Dependency::new("db:main", config());
    let (attempts, attempt) = flaky(2, Failure::transient("connection reset"));
    let start = Instant::now();
    assert_eq!(dep.call(Idempotency::Idempotent, attempt).await.unwrap(), 7);
    assert_eq!(attempts.load(Ordering::Relaxed), 3);
    // Two jittered waits, under 100 ms and 200 ms.
    assert!(start.elapsed() <= Duration::from_millis(300));
    assert_eq!(dep.snapshot().retries, 2);
}

#[tokio::test(start_paused = true)]
async fn what_may_not_be_repeated_is_tried_once() {
    let dep = Dependency::new("db:main", config());
    let (attempts, attempt) = flaky(5, Failure::transient("reset"));
    assert!(dep.call(Idempotency::NotIdempotent, attempt).await.is_err());
    assert_eq!(attempts.load(Ordering::Relaxed), 1);
    let (attempts, attempt) = flaky(5, Failure::invalid_input("no such column"));
    let err = dep
        .call(Idempotency::Idempotent, attempt)
        .await
        .unwrap_err();
    assert_eq!(*err.kind(), FailureKind::InvalidInput);
    assert_eq!(attempts.load(Ordering::Relaxed), 1);
}

#[tokio::test(start_paused = true)]
async fn retry_after_holds_every_caller_back_and_never_opens_the_breaker() {
    let dep = Dependency::new("api:quotes", config());
    let busy = Failure::overloaded(Some(Duration::from_millis(800)), "429 Too Many Requests");
    let (_, attempt) = flaky(1, busy.clone());
    let start = Instant::now();
    assert_eq!(dep.call(Idempotency::Idempotent, attempt).await.unwrap(), 7);
    assert_eq!(start.elapsed(), Duration::from_millis(800));
    // A caller told to wait and not retried still holds the next caller back.
    let (_, attempt) = flaky(1, busy.clone());
    assert!(dep.call(Idempotency::NotIdempotent, attempt).await.is_err());
    let (_, attempt) = flaky(0, busy);
    let next = Instant::now();
    dep.call(Idempotency::Idempotent, attempt).await.unwrap();
    assert_eq!(next.elapsed(), Duration::from_millis(800));
    for _ in 0..50 {
        let (_, attempt) = flaky(
            10,
            Failure::overloaded(Some(Duration::from_millis(10)), "429"),
        );
        let _ = dep.call(Idempotency::NotIdempotent, attempt).await;
    }
    assert_eq!(dep.breaker().state(), BreakerState::Closed);
    assert!(dep.snapshot().throttled > 0);
}

#[tokio::test(start_paused = true)]
async fn a_wait_longer_than_the_policy_allows_is_returned_at_once() {
    let dep = Dependency::new("api:quotes", config());
    let (_, attempt) = flaky(1, Failure::overloaded(Some(Duration::from_secs(30)), "429"));
    let err = dep
        .call(Idempotency::Idempotent, attempt)
        .await
        .unwrap_err();
    assert!(matches!(err.kind(), FailureKind::Overloaded { .. }));
    // The next caller is refused without reaching the dependency, told how long to wait.
    let (attempts, attempt) = flaky(0, Failure::transient("unused"));
    let start = Instant::now();
    let err = dep
        .call(Idempotency::Idempotent, attempt)
        .await
        .unwrap_err();
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert_eq!(attempts.load(Ordering::Relaxed), 0);
    assert_eq!(err.describe()["dependency"], "api:quotes");
    assert_eq!(err.describe()["retryAfterMs"], 30_000);
}

#[tokio::test(start_paused = true)]
async fn a_hung_attempt_is_stopped_at_the_timeout_and_not_repeated() {
    let dep = Dependency::new("db:main", config());
    let attempts = Arc::new(AtomicU32::new(0));
    let seen = Arc::clone(&attempts);
    let start = Instant::now();
    let err = dep
        .call(Idempotency::Idempotent, move || {
            seen.fetch_add(1, Ordering::Relaxed);
            std::future::pending::<Result<(), Failure>>()
        })
        .await
        .unwrap_err();
    assert_eq!(start.elapsed(), Duration::from_secs(1));
    assert_eq!(attempts.load(Ordering::Relaxed), 1);
    assert!(matches!(err.kind(), FailureKind::TimedOut { .. }));
    assert_eq!(err.describe()["dependency"], "db:main");
    assert_eq!(dep.snapshot().timeouts, 1);
}

#[tokio::test(start_paused = true)]
async fn under_a_total_outage_retries_add_at_most_the_budget() {
    let dep = Dependency::new(
        "db:main",
        DependencyConfig {
            breaker: BreakerConfig {
                // Kept closed so every call reaches the dependency and may retry.
                min_calls: u32::MAX,
                consecutive_failures: 0,
                ..BreakerConfig::default()
            },
            budget: RetryBudgetConfig {
                min_per_sec: 0,
                ..config().budget
            },
            ..config()
        },
    );
    let attempts = Arc::new(AtomicU32::new(0));
    for _ in 0..200 {
        let seen = Arc::clone(&attempts);
        let _ = dep
            .call(Idempotency::Idempotent, move || {
                seen.fetch_add(1, Ordering::Relaxed);
                std::future::ready(Err::<(), _>(Failure::dependency("db:main", "refused")))
            })
            .await;
    }
    let extra = attempts.load(Ordering::Relaxed) - 200;
    assert!(
        extra <= 40,
        "{extra} retries for 200 calls: over the 20 % budget"
    );
    assert!(extra >= 30, "{extra}: the budget was not used");
    assert!(dep.snapshot().retries_refused > 0);
}

#[tokio::test(start_paused = true)]
async fn an_open_breaker_fails_fast_naming_the_dependency() {
    let deps = Dependencies::default();
    let dep = deps.get("db:main");
    for _ in 0..10 {
        let (_, attempt) = flaky(10, Failure::dependency("db:main", "refused"));
        let _ = dep.call(Idempotency::NotIdempotent, attempt).await;
    }
    assert_eq!(deps.get("db:main").breaker().state(), BreakerState::Open);
    let (attempts, attempt) = flaky(0, Failure::transient("unused"));
    let err = dep
        .call(Idempotency::Idempotent, attempt)
        .await
        .unwrap_err();
    assert_eq!(attempts.load(Ordering::Relaxed), 0);
    assert_eq!(err.describe()["dependency"], "db:main");
    assert_eq!(err.describe()["circuit"], "open");
    assert_eq!(deps.all().len(), 1);
}
