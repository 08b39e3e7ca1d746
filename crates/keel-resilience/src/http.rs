//! HTTP answers of an outbound dependency as typed failures, so the guard treats them
//! right: a 429 or a 503 with `Retry-After` holds callers back and never counts against the
//! breaker, a 5xx counts, a 4xx is the request's fault and is not retried.

use std::time::{Duration, SystemTime};

use keel_core::Failure;

/// The failure an HTTP status means for a call to `dependency`, or `None` for success
/// (1xx–3xx). `retry_after` is the `Retry-After` header as sent (seconds or an HTTP date).
pub fn http_failure(dependency: &str, status: u16, retry_after: Option<&str>) -> Option<Failure> {
    let wait = retry_after.and_then(parse_retry_after);
    let message = |what: &str| format!("{dependency} answered {status} ({what})");
    let failure = match status {
        100..=399 => return None,
        429 => Failure::overloaded(wait, message("too many requests")),
        503 if wait.is_some() => Failure::overloaded(wait, message("unavailable, asked to wait")),
        502..=504 => Failure::dependency(dependency, message("unavailable")),
        408 => Failure::transient(message("request timeout")),
        500..=599 => Failure::transient(message("server error")),
        _ => Failure::permanent(message("refused the request")),
    };
    Some(
        failure
            .with_detail("dependency", dependency)
            .with_detail("httpStatus", status),
    )
}

/// `Retry-After`: delay-seconds or an HTTP date (RFC 9110 §10.2.3).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    use keel_core::FailureKind;

    use super::*;

    #[test]
    fn statuses_map_to_kinds() {
        assert!(http_failure("api:quotes", 200, None).is_none());
        let busy = http_failure("api:quotes", 429, Some("2")).unwrap();
        assert_eq!(
            *busy.kind(),
            FailureKind::Overloaded {
                retry_after: Some(Duration::from_secs(2))
            }
        );
        assert_eq!(busy.describe()["httpStatus"], 429);
        let down = http_failure("api:quotes", 503, None).unwrap();
        assert!(down.kind().is_dependency_failure());
        let waiting = http_failure("api:quotes", 503, Some("1")).unwrap();
        assert!(matches!(waiting.kind(), FailureKind::Overloaded { .. }));
        assert!(
            http_failure("api:quotes", 500, None)
                .unwrap()
                .kind()
                .is_dependency_failure()
        );
        let wrong = http_failure("api:quotes", 404, None).unwrap();
        assert!(!wrong.kind().is_retryable());
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        assert_eq!(parse_retry_after(" 7 "), Some(Duration::from_secs(7)));
        let soon = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(30));
        let wait = parse_retry_after(&soon).unwrap();
        assert!(wait > Duration::from_secs(28) && wait <= Duration::from_secs(30));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }
}
