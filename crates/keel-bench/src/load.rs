//! The workers: one per connection, in a closed loop (send when the last answer arrived) or
//! an open loop (send on a schedule, latency measured from the intended send time).

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use http::HeaderValue;
use tokio_util::sync::CancellationToken;

use crate::{
    args::LoadShape,
    client::{Channel, RequestHeaders},
    mcp::{self, Classified, Era},
    stats::{Outcome, Recorder, TransportError},
    workload::Mix,
};

/// Most input-required rounds one request may take before it counts as failed.
const MAX_ROUNDS: u64 = 8;

/// An open-loop schedule: the rate over the run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Schedule {
    pub(crate) shape: LoadShape,
    pub(crate) rate: f64,
    pub(crate) start_rate: f64,
    pub(crate) steps: u32,
    pub(crate) spike_rate: f64,
    pub(crate) duration: Duration,
}

impl Schedule {
    /// Requests per second asked for at `elapsed` into the run.
    pub(crate) fn rate_at(&self, elapsed: Duration) -> f64 {
        let total = self.duration.as_secs_f64().max(1e-3);
        let x = (elapsed.as_secs_f64() / total).clamp(0.0, 1.0);
        let rate = match self.shape {
            LoadShape::Constant => self.rate,
            LoadShape::Ramp => self.start_rate + (self.rate - self.start_rate) * x,
            LoadShape::Step => {
                let steps = self.steps.max(1) as f64;
                let step = (x * steps).floor().min(steps - 1.0);
                let increment = if steps > 1.0 {
                    (self.rate - self.start_rate) / (steps - 1.0)
                } else {
                    0.0
                };
                self.start_rate + increment * step
            }
            LoadShape::Spike => {
                if (0.45..0.55).contains(&x) {
                    self.spike_rate
                } else {
                    self.rate
                }
            }
        };
        rate.max(0.1)
    }
}

/// What every worker of a run shares.
pub(crate) struct Shared {
    pub(crate) mix: Arc<Mix>,
    pub(crate) era: Era,
    pub(crate) protocol_version: HeaderValue,
    pub(crate) timeout: Duration,
    pub(crate) stop: CancellationToken,
    pub(crate) recorder: Arc<Mutex<Recorder>>,
    /// Open loop: the schedule, the run's start and the number of connections sharing it.
    pub(crate) open: Option<(Schedule, Instant, usize)>,
    /// Unique ids across workers (stdio matches answers by id).
    pub(crate) ids: Arc<std::sync::atomic::AtomicU64>,
}

/// One worker: sends until the run stops, recording every request once.
pub(crate) async fn worker(
    shared: Arc<Shared>,
    mut channel: Channel,
    session: Option<HeaderValue>,
    index: usize,
    seed: u64,
) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut body = Vec::with_capacity(1024);
    let mut headers = RequestHeaders {
        protocol_version: Some(shared.protocol_version.clone()),
        session,
        ..RequestHeaders::default()
    };
    let Some((schedule, start, connections)) = shared.open else {
        while !shared.stop.is_cancelled() {
            let done = one_request(&shared, &mut channel, &mut headers, &mut body, &mut rng).await;
            record(
                &shared,
                done.outcome,
                done.answered - done.sent,
                done.rounds,
            );
        }
        return;
    };
    // Connections start staggered over one interval so their sends interleave.
    let period =
        |at: Instant| Duration::from_secs_f64(connections as f64 / schedule.rate_at(at - start));
    let mut intended = start + period(start).mul_f64(index as f64 / connections as f64);
    let end = start + schedule.duration;
    let mut last_done = start;
    while intended < end {
        if intended > Instant::now() {
            tokio::select! {
                () = tokio::time::sleep_until(intended.into()) => {}
                () = shared.stop.cancelled() => return,
            }
        } else if shared.stop.is_cancelled() {
            return;
        }
        let done = one_request(&shared, &mut channel, &mut headers, &mut body, &mut rng).await;
        // Late because the last answer came after this send was due: the server held the
        // connection, so the wait counts. Late otherwise: the generator's own timer, so not.
        let origin = if last_done > intended {
            intended
        } else {
            done.sent
        };
        last_done = done.answered;
        record(&shared, done.outcome, done.answered - origin, done.rounds);
        intended += period(intended);
    }
}

fn record(shared: &Shared, outcome: Outcome, latency: Duration, rounds: u64) {
    if let Ok(mut r) = shared.recorder.lock() {
        r.record(outcome, latency, rounds);
    }
}

/// How one request went: its outcome, rounds, when its first byte was handed to the
/// connection and when its last answer arrived (rendering and classifying are not latency).
struct Done {
    outcome: Outcome,
    rounds: u64,
    sent: Instant,
    answered: Instant,
}

/// Sends one request of the mix, answering input-required rounds, and says how it ended.
async fn one_request(
    shared: &Shared,
    channel: &mut Channel,
    headers: &mut RequestHeaders,
    body: &mut Vec<u8>,
    rng: &mut fastrand::Rng,
) -> Done {
    let (entry, key) = shared.mix.pick(rng);
    headers.method = Some(entry.method_header.clone());
    headers.name = match (&entry.fixed_name, &entry.name) {
        (Some(fixed), _) => Some(fixed.clone()),
        (None, Some(t)) => mcp::name_header(&t.to_string_with(key)),
        (None, None) => None,
    };
    headers.params.clear();
    if shared.era == Era::Modern {
        for (name, value) in &entry.param_headers {
            if let Some(v) = mcp::name_header(&value.to_string_with(key)) {
                headers.params.push((name.clone(), v));
            }
        }
    }
    let mut extra = String::new();
    let mut rounds = 0;
    let mut sent = None;
    loop {
        let id = shared
            .ids
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        body.clear();
        mcp::render(shared.era, id, entry, key, &extra, body);
        let started = *sent.get_or_insert_with(Instant::now);
        let exchanged =
            tokio::time::timeout(shared.timeout, channel.exchange(headers, id, body)).await;
        let answered = Instant::now();
        let outcome = match exchanged {
            Ok(Ok(answer)) => match mcp::classify(&answer) {
                Classified::Done(outcome) => outcome,
                Classified::InputRequired(fields) => {
                    rounds += 1;
                    if rounds <= MAX_ROUNDS {
                        extra = fields;
                        continue;
                    }
                    Outcome::Transport(TransportError::Rounds)
                }
            },
            Ok(Err(e)) => Outcome::Transport(e),
            Err(_) => {
                channel.reset();
                Outcome::Transport(TransportError::Timeout)
            }
        };
        return Done {
            outcome,
            rounds,
            sent: started,
            answered,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(shape: LoadShape) -> Schedule {
        Schedule {
            shape,
            rate: 1000.0,
            start_rate: 100.0,
            steps: 4,
            spike_rate: 4000.0,
            duration: Duration::from_secs(10),
        }
    }

    #[test]
    fn shapes_move_the_rate_over_the_run() {
        let at = |s: &Schedule, secs: f64| s.rate_at(Duration::from_secs_f64(secs));
        let c = schedule(LoadShape::Constant);
        assert_eq!((at(&c, 0.0), at(&c, 9.9)), (1000.0, 1000.0));
        let r = schedule(LoadShape::Ramp);
        assert_eq!(
            (at(&r, 0.0), at(&r, 5.0), at(&r, 10.0)),
            (100.0, 550.0, 1000.0)
        );
        let s = schedule(LoadShape::Step);
        assert_eq!(
            [at(&s, 0.0), at(&s, 2.6), at(&s, 5.1), at(&s, 9.9)],
            [100.0, 400.0, 700.0, 1000.0]
        );
        let p = schedule(LoadShape::Spike);
        assert_eq!(
            [at(&p, 1.0), at(&p, 5.0), at(&p, 8.0)],
            [1000.0, 4000.0, 1000.0]
        );
    }
}
