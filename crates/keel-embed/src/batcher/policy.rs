//! When a batch leaves the queue: the dispatch policy.
//!
//! Evaluated whenever an inference thread is free and texts are queued:
//!
//! 1. **Full batch → now.** If the queue holds more than one batch can take (the token
//!    budget or the batch size is reached), waiting cannot make the batch bigger. A deep
//!    queue therefore yields batches as large as the limits allow.
//! 2. **Deadline → now.** A text never waits more than `flush_deadline` after it was
//!    queued for its batch to fill (it may still wait for a free thread).
//! 3. **Everyone is here → now.** With nothing in flight, the batcher expects as many
//!    requests as the last completed batch served (its *cohort*: callers that got answers
//!    usually come back with the next request), or one if that batch completed more than
//!    `flush_deadline` ago. Once that many distinct requests are queued, the batch leaves.
//!    So a lone caller never waits out the deadline, and 32 callers in lock step are
//!    batched together instead of the first arrival going alone.
//! 4. Otherwise wait until the oldest text's deadline, or until the cohort expectation
//!    lapses, whichever is sooner (a new arrival or a completion re-evaluates earlier).
//!
//! With `batching` off, each request runs alone as soon as a thread is free (its own
//! texts still split by the budget); that mode exists for comparison.

use std::time::Duration;

use tokio::time::Instant;

use super::form::form_batch;

/// What the policy needs to know about one queued text.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Queued {
    pub(crate) tokens: usize,
    pub(crate) request: u64,
    pub(crate) enqueued: Instant,
}

/// The number of requests the last completed batch served, and until when that
/// predicts the next arrivals.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cohort {
    pub(crate) requests: usize,
    pub(crate) until: Instant,
}

/// The policy's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Run the texts at these queue positions (ascending) now.
    Dispatch(Vec<usize>),
    /// Ask again at this instant, or on the next arrival or completion.
    WaitUntil(Instant),
}

/// The batcher's limits, as the policy uses them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Policy {
    pub(crate) batching: bool,
    pub(crate) max_batch: usize,
    pub(crate) token_budget: usize,
    pub(crate) flush_deadline: Duration,
}

impl Policy {
    /// Decides for a non-empty `queue` (oldest first; texts of one request adjacent),
    /// given the batches in flight and the last cohort.
    pub(crate) fn decide(
        &self,
        queue: &[Queued],
        now: Instant,
        in_flight: usize,
        cohort: Option<Cohort>,
    ) -> Decision {
        let lens: Vec<usize> = queue.iter().map(|q| q.tokens).collect();
        if !self.batching {
            let first = queue.first().map(|q| q.request);
            let own = queue
                .iter()
                .take_while(|q| Some(q.request) == first)
                .count();
            let formed = form_batch(&lens[..own], self.max_batch, self.token_budget);
            return Decision::Dispatch(formed.indices);
        }
        let formed = form_batch(&lens, self.max_batch, self.token_budget);
        let Some(oldest) = queue.first() else {
            return Decision::Dispatch(formed.indices);
        };
        let deadline = oldest.enqueued + self.flush_deadline;
        if formed.full || now >= deadline {
            return Decision::Dispatch(formed.indices);
        }
        if in_flight > 0 {
            return Decision::WaitUntil(deadline);
        }
        let live = cohort.filter(|c| now < c.until);
        let expected = live.map_or(1, |c| c.requests);
        if distinct_requests(queue) >= expected {
            return Decision::Dispatch(formed.indices);
        }
        let lapse = live.map_or(deadline, |c| c.until);
        Decision::WaitUntil(deadline.min(lapse))
    }
}

/// Requests in the queue (their texts are adjacent).
fn distinct_requests(queue: &[Queued]) -> usize {
    let boundaries = queue
        .windows(2)
        .filter(|w| w[0].request != w[1].request)
        .count();
    usize::from(!queue.is_empty()) + boundaries
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEADLINE: Duration = Duration::from_millis(3);

    fn policy() -> Policy {
        Policy {
            batching: true,
            max_batch: 4,
            token_budget: 100,
            flush_deadline: DEADLINE,
        }
    }

    fn queue(t0: Instant, requests: &[(u64, usize)]) -> Vec<Queued> {
        requests
            .iter()
            .map(|&(request, tokens)| Queued {
                tokens,
                request,
                enqueued: t0,
            })
            .collect()
    }

    #[test]
    fn a_lone_caller_on_an_idle_batcher_goes_at_once() {
        let t0 = Instant::now();
        let d = policy().decide(&queue(t0, &[(1, 10)]), t0, 0, None);
        assert_eq!(d, Decision::Dispatch(vec![0]));
    }

    #[test]
    fn a_full_batch_goes_at_once_even_while_others_run() {
        let t0 = Instant::now();
        let q = queue(t0, &[(1, 10), (2, 10), (3, 10), (4, 10), (5, 10)]);
        assert_eq!(
            policy().decide(&q, t0, 1, None),
            Decision::Dispatch(vec![0, 1, 2, 3])
        );
    }

    #[test]
    fn waits_for_the_cohort_until_it_is_back_or_the_deadline_passes() {
        let t0 = Instant::now();
        let cohort = Some(Cohort {
            requests: 3,
            until: t0 + DEADLINE,
        });
        let q = queue(t0, &[(1, 10), (2, 10)]);
        assert_eq!(
            policy().decide(&q, t0, 0, cohort),
            Decision::WaitUntil(t0 + DEADLINE)
        );
        let q = queue(t0, &[(1, 10), (2, 10), (3, 10)]);
        assert_eq!(
            policy().decide(&q, t0, 0, cohort),
            Decision::Dispatch(vec![0, 1, 2])
        );
        let q = queue(t0, &[(1, 10)]);
        let later = t0 + DEADLINE;
        assert_eq!(
            policy().decide(&q, later, 0, cohort),
            Decision::Dispatch(vec![0])
        );
    }

    #[test]
    fn an_expected_cohort_lapses_before_the_deadline_when_it_is_stale() {
        let t0 = Instant::now();
        let cohort = Some(Cohort {
            requests: 8,
            until: t0 + Duration::from_millis(1),
        });
        let q = queue(t0, &[(1, 10)]);
        let d = policy().decide(&q, t0, 0, cohort);
        assert_eq!(d, Decision::WaitUntil(t0 + Duration::from_millis(1)));
    }

    #[test]
    fn with_a_batch_in_flight_a_partial_batch_waits_for_its_deadline() {
        let t0 = Instant::now();
        let q = queue(t0, &[(1, 10)]);
        assert_eq!(
            policy().decide(&q, t0, 1, None),
            Decision::WaitUntil(t0 + DEADLINE)
        );
        assert_eq!(
            policy().decide(&q, t0 + DEADLINE, 1, None),
            Decision::Dispatch(vec![0])
        );
    }

    #[test]
    fn without_batching_each_request_runs_alone() {
        let p = Policy {
            batching: false,
            ..policy()
        };
        let t0 = Instant::now();
        let q = queue(t0, &[(1, 10), (1, 10), (2, 10)]);
        assert_eq!(p.decide(&q, t0, 0, None), Decision::Dispatch(vec![0, 1]));
    }

    #[test]
    fn counts_requests_not_texts() {
        let t0 = Instant::now();
        assert_eq!(
            distinct_requests(&queue(t0, &[(1, 1), (1, 1), (2, 1), (3, 1)])),
            3
        );
        assert_eq!(distinct_requests(&[]), 0);
    }
}
