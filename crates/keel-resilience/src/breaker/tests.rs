//! The breaker's state machine under paused time.

use std::time::Duration;

use keel_core::{Failure, FailureKind};

use super::{Breaker, BreakerConfig, BreakerState};

fn config() -> BreakerConfig {
    BreakerConfig {
        window: Duration::from_secs(10),
        min_calls: 4,
        failure_rate: 0.5,
        consecutive_failures: 0,
        slow_call: Duration::from_secs(1),
        slow_call_rate: 0.5,
        reset_timeout: Duration::from_secs(5),
        probes: 2,
    }
}

fn fail(b: &Breaker) {
    b.try_acquire().expect("closed").failure();
}

fn succeed(b: &Breaker) {
    b.try_acquire().expect("closed").success();
}

#[tokio::test(start_paused = true)]
async fn opens_on_the_failure_rate_only_past_the_minimum_volume() {
    let b = Breaker::new("db:main", config());
    fail(&b);
    fail(&b);
    fail(&b);
    // Three calls, all failed: under the minimum volume of four.
    assert_eq!(b.state(), BreakerState::Closed);
    succeed(&b);
    // 3 of 4 failed: over half.
    assert_eq!(b.state(), BreakerState::Open);
    let open = b.try_acquire().unwrap_err();
    assert_eq!(&*open.dependency, "db:main");
    assert_eq!(open.retry_in, Duration::from_secs(5));
    let failure = Failure::from(open);
    assert!(matches!(
        failure.kind(),
        FailureKind::DependencyUnavailable { dependency } if &**dependency == "db:main"
    ));
    assert_eq!(failure.describe()["retryAfterMs"], 5000);
    assert_eq!(b.snapshot().rejected, 1);
    assert_eq!(b.snapshot().opened, 1);
}

#[tokio::test(start_paused = true)]
async fn a_healthy_rate_stays_closed() {
    let b = Breaker::new("db:main", config());
    for _ in 0..100 {
        succeed(&b);
        succeed(&b);
        fail(&b);
    }
    assert_eq!(b.state(), BreakerState::Closed);
}

#[tokio::test(start_paused = true)]
async fn old_failures_age_out_of_the_window() {
    let b = Breaker::new("db:main", config());
    fail(&b);
    fail(&b);
    fail(&b);
    tokio::time::advance(Duration::from_secs(11)).await;
    succeed(&b);
    assert_eq!(b.snapshot().calls, 1);
    assert_eq!(b.state(), BreakerState::Closed);
}

#[tokio::test(start_paused = true)]
async fn only_dependency_failures_count() {
    let b = Breaker::new("api:quotes", config());
    for _ in 0..20 {
        let p = b.try_acquire().unwrap();
        p.record::<()>(&Err(Failure::overloaded(
            Some(Duration::from_secs(1)),
            "429 Too Many Requests",
        )));
        let p = b.try_acquire().unwrap();
        p.record::<()>(&Err(Failure::invalid_input("bad sql")));
    }
    assert_eq!(b.state(), BreakerState::Closed);
    for _ in 0..4 {
        let p = b.try_acquire().unwrap();
        p.record::<()>(&Err(Failure::timed_out(Duration::from_secs(1), "slow")));
    }
    for _ in 0..40 {
        if b.state() == BreakerState::Open {
            break;
        }
        let p = b.try_acquire().unwrap();
        p.record::<()>(&Err(Failure::dependency("api:quotes", "refused")));
    }
    assert_eq!(b.state(), BreakerState::Open);
}

#[tokio::test(start_paused = true)]
async fn slow_calls_open_it() {
    let b = Breaker::new("db:main", config());
    for _ in 0..4 {
        let p = b.try_acquire().unwrap();
        tokio::time::advance(Duration::from_millis(1500)).await;
        p.success();
    }
    assert_eq!(b.state(), BreakerState::Open);
}

#[tokio::test(start_paused = true)]
async fn half_open_probes_close_it_or_reopen_it() {
    let b = Breaker::new("db:main", config());
    for _ in 0..4 {
        fail(&b);
    }
    assert_eq!(b.state(), BreakerState::Open);
    let mut states = b.subscribe();
    tokio::time::advance(Duration::from_secs(5)).await;
    // Two probes pass, the third caller is refused while they are out.
    let p1 = b.try_acquire().expect("probe 1");
    assert!(p1.is_probe());
    assert_eq!(b.state(), BreakerState::HalfOpen);
    let p2 = b.try_acquire().expect("probe 2");
    assert!(b.try_acquire().is_err());
    p1.failure();
    assert_eq!(b.state(), BreakerState::Open);
    // p2's outcome belongs to the closed generation: it changes nothing.
    p2.success();
    assert_eq!(b.state(), BreakerState::Open);
    tokio::time::advance(Duration::from_secs(5)).await;
    succeed_probe(&b);
    assert_eq!(b.state(), BreakerState::HalfOpen);
    succeed_probe(&b);
    assert_eq!(b.state(), BreakerState::Closed);
    assert_eq!(*states.borrow_and_update(), BreakerState::Closed);
    assert_eq!(b.snapshot().opened, 2);
}

fn succeed_probe(b: &Breaker) {
    let p = b.try_acquire().expect("probe");
    assert!(p.is_probe());
    p.success();
}

#[tokio::test(start_paused = true)]
async fn a_dropped_probe_frees_its_slot() {
    let b = Breaker::new("db:main", config());
    for _ in 0..4 {
        fail(&b);
    }
    tokio::time::advance(Duration::from_secs(5)).await;
    let p1 = b.try_acquire().unwrap();
    let p2 = b.try_acquire().unwrap();
    assert!(b.try_acquire().is_err());
    drop(p1);
    let p3 = b
        .try_acquire()
        .expect("the cancelled probe's slot is free again");
    p2.success();
    p3.success();
    assert_eq!(b.state(), BreakerState::Closed);
}

#[test]
fn configuration_is_checked() {
    assert!(BreakerConfig::default().check().is_ok());
    let bad = BreakerConfig {
        failure_rate: 1.5,
        ..BreakerConfig::default()
    };
    assert!(bad.check().is_err());
    let bad = BreakerConfig {
        probes: 0,
        ..BreakerConfig::default()
    };
    assert!(bad.check().is_err());
}

#[tokio::test(start_paused = true)]
async fn failures_in_a_row_open_it_after_a_healthy_spell() {
    let b = Breaker::new(
        "db:main",
        BreakerConfig {
            consecutive_failures: 3,
            ..config()
        },
    );
    for _ in 0..100 {
        succeed(&b);
    }
    fail(&b);
    fail(&b);
    succeed(&b);
    fail(&b);
    fail(&b);
    assert_eq!(b.state(), BreakerState::Closed, "a success breaks the run");
    fail(&b);
    // 5 failures in 105 calls: far under the rate, but three in a row.
    assert_eq!(b.state(), BreakerState::Open);
}
