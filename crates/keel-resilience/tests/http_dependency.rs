//! Over a real socket: an HTTP dependency answering 429 with `Retry-After` holds every caller
//! back by that delay (none reaches it early, late arrivals included) and never opens the
//! breaker; then every call succeeds.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use keel_core::Failure;
use keel_resilience::{
    BreakerConfig, BreakerState, Dependency, DependencyConfig, Idempotency, RetryPolicy,
    http_failure,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Serves 429 `Retry-After: 1` for the first second after its first request, then 200;
/// records when each request arrived, relative to the first.
async fn rate_limited_service() -> (u16, Arc<Mutex<Vec<Duration>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let arrivals = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&arrivals);
    tokio::spawn(async move {
        let mut first: Option<Instant> = None;
        loop {
            let (mut stream, _) = listener.accept().await.unwrap();
            let now = Instant::now();
            let start = *first.get_or_insert(now);
            seen.lock().unwrap().push(now - start);
            let limited = now - start < Duration::from_secs(1);
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 512];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    let n = stream.read(&mut buf).await.unwrap();
                    if n == 0 {
                        return;
                    }
                    head.extend_from_slice(&buf[..n]);
                }
                let answer: &[u8] = if limited {
                    b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                } else {
                    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
                };
                let _ = stream.write_all(answer).await;
            });
        }
    });
    (port, arrivals)
}

/// One GET, its status turned into a typed failure.
async fn get(port: u16) -> Result<(), Failure> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| Failure::dependency("api:quotes", e.to_string()))?;
    stream
        .write_all(b"GET /quote HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .map_err(|e| Failure::transient(e.to_string()))?;
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .await
        .map_err(|e| Failure::transient(e.to_string()))?;
    let status: u16 = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| Failure::transient("no status line"))?;
    let retry_after = answer
        .lines()
        .find_map(|l| l.strip_prefix("Retry-After: "))
        .map(str::trim);
    match http_failure("api:quotes", status, retry_after) {
        Some(failure) => Err(failure),
        None => Ok(()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_slows_callers_and_never_opens_the_breaker() {
    let (port, arrivals) = rate_limited_service().await;
    let dependency = Dependency::new(
        "api:quotes",
        DependencyConfig {
            breaker: BreakerConfig {
                min_calls: 2,
                ..BreakerConfig::default()
            },
            retry: RetryPolicy {
                max_attempts: 3,
                base_delay: Duration::from_millis(10),
                max_delay: Duration::from_secs(2),
            },
            ..DependencyConfig::default()
        },
    );
    let started = Instant::now();
    let mut callers = Vec::new();
    for i in 0..8 {
        let dependency = dependency.clone();
        callers.push(tokio::spawn(async move {
            // Half arrive at once, half while the dependency is asking for quiet.
            if i % 2 == 1 {
                tokio::time::sleep(Duration::from_millis(400)).await;
            }
            dependency
                .call(Idempotency::Idempotent, || get(port))
                .await
                .map(|()| started.elapsed())
        }));
    }
    for caller in callers {
        let finished = caller
            .await
            .unwrap()
            .expect("every call succeeds in the end");
        assert!(finished >= Duration::from_millis(950), "{finished:?}");
    }
    assert_eq!(dependency.breaker().state(), BreakerState::Closed);
    assert_eq!(dependency.breaker().snapshot().opened, 0);
    let arrivals = arrivals.lock().unwrap().clone();
    // The first wave reached the service at once; nothing else before its second was over.
    let early: Vec<_> = arrivals
        .iter()
        .filter(|t| **t > Duration::from_millis(100) && **t < Duration::from_millis(950))
        .collect();
    assert!(
        early.is_empty(),
        "requests during the Retry-After: {arrivals:?}"
    );
    assert!(
        dependency.snapshot().throttled >= 4,
        "{:?}",
        dependency.snapshot()
    );
}

/// Serves 503 without `Retry-After` to everything; counts requests.
async fn dead_service() -> (u16, Arc<Mutex<u32>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let count = Arc::new(Mutex::new(0u32));
    let seen = Arc::clone(&count);
    tokio::spawn(async move {
        loop {
            let (mut stream, _) = listener.accept().await.unwrap();
            *seen.lock().unwrap() += 1;
            tokio::spawn(async move {
                let mut buf = [0u8; 512];
                let _ = stream.read(&mut buf).await;
                let _ = stream
                    .write_all(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    .await;
            });
        }
    });
    (port, count)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_total_outage_costs_at_most_the_retry_budget() {
    let (port, requests) = dead_service().await;
    let dependency = Dependency::new(
        "api:quotes",
        DependencyConfig {
            // Kept closed, so every call reaches the service and may retry.
            breaker: BreakerConfig {
                min_calls: u32::MAX,
                consecutive_failures: 0,
                ..BreakerConfig::default()
            },
            retry: RetryPolicy {
                max_attempts: 5,
                base_delay: Duration::from_millis(1),
                max_delay: Duration::from_millis(20),
            },
            budget: keel_resilience::RetryBudgetConfig {
                ratio: 0.2,
                min_per_sec: 0,
                window: Duration::from_secs(10),
            },
            ..DependencyConfig::default()
        },
    );
    const CALLS: u32 = 400;
    let mut callers = tokio::task::JoinSet::new();
    for _ in 0..CALLS {
        let dependency = dependency.clone();
        callers.spawn(async move {
            dependency
                .call(Idempotency::Idempotent, || get(port))
                .await
                .unwrap_err()
        });
        if callers.len() >= 16 {
            callers.join_next().await;
        }
    }
    while callers.join_next().await.is_some() {}
    let reached = *requests.lock().unwrap();
    let extra = f64::from(reached - CALLS) / f64::from(CALLS);
    // Without the budget, five attempts each would have made it +400 %.
    eprintln!(
        "total outage: {CALLS} calls reached the service {reached} times (+{:.1} %)",
        extra * 100.0
    );
    assert!(
        extra <= 0.2 + 1e-9,
        "+{:.1} % over the 20 % budget",
        extra * 100.0
    );
    assert!(
        extra >= 0.15,
        "+{:.1} %: the budget went unused",
        extra * 100.0
    );
}
