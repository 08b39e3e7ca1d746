//! Resumable SSE streams of legacy sessions (`Last-Event-ID`, SSE polling).
//!
//! Once a session's request answers with SSE, a task runs the request and appends every
//! event to a log; the HTTP connection only reads the log. The connection may go (the
//! network, or the tool letting go with `Context::close_stream`) while the request runs
//! on: a GET with `Last-Event-ID` attaches a new connection, which replays what followed
//! that event and continues live. A log nobody reads for the resume window cancels its
//! request and goes. Logs live on the node running the request and are bounded in bytes.

use std::{
    collections::VecDeque,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use dashmap::DashMap;
use keel_core::{Outbound, Shutdown};

use super::response::ReplyFuture;
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::{CancellationToken, DropGuard};

/// Settings of resumable streams.
#[derive(Debug, Clone, Copy)]
pub struct ResumeSettings {
    /// How long a request whose stream has no reader keeps running for a client to resume.
    pub window: Duration,
    /// The `retry` interval announced to clients before the server closes a connection.
    pub retry: Duration,
    /// Most bytes of events one stream keeps for replay; older events go first.
    pub max_log_bytes: usize,
}

impl Default for ResumeSettings {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(60),
            retry: Duration::from_secs(1),
            max_log_bytes: 4 * 1024 * 1024,
        }
    }
}

type Key = (u128, u64);

/// Every resumable stream of this node, by session and stream number.
pub(crate) struct Streams {
    logs: DashMap<Key, Arc<StreamLog>>,
    next: AtomicU64,
    settings: ResumeSettings,
    keep_alive: Duration,
    /// Owns the pumps and resume-window timers.
    shutdown: Shutdown,
}

impl Streams {
    pub(crate) fn new(settings: ResumeSettings, keep_alive: Duration, shutdown: Shutdown) -> Self {
        Self {
            logs: DashMap::new(),
            next: AtomicU64::new(1),
            settings,
            keep_alive,
            shutdown,
        }
    }

    /// Opens a stream for a request of `session`, primed with an event that carries its
    /// first id and the retry interval when the client understands empty priming events.
    fn open(&self, session: u128, cancel: CancellationToken, prime: bool) -> Arc<StreamLog> {
        let stream = self.next.fetch_add(1, Ordering::Relaxed);
        let log = Arc::new(StreamLog {
            key: (session, stream),
            state: Mutex::new(LogState::default()),
            changed: Notify::new(),
            cancel,
            max_bytes: self.settings.max_log_bytes,
        });
        if prime {
            let retry = self.settings.retry.as_millis();
            log.append(|id| format!("id: {id}\nretry: {retry}\ndata: \n\n").into_bytes());
        }
        self.logs.insert(log.key, Arc::clone(&log));
        log
    }

    /// The stream an event id of `session` belongs to, if this node still holds it, and
    /// the sequence number to replay from.
    pub(crate) fn find(&self, session: u128, last_event_id: &str) -> Option<(Arc<StreamLog>, u64)> {
        let (stream, seq) = last_event_id.trim().split_once('-')?;
        let key = (session, stream.parse().ok()?);
        let seq: u64 = seq.parse().ok()?;
        let log = self.logs.get(&key).map(|l| Arc::clone(&l))?;
        Some((log, seq.checked_add(1)?))
    }

    /// Cancels and forgets every stream of a session that ended.
    pub(crate) fn end_session(&self, session: u128) {
        self.logs.retain(|k, log| {
            if k.0 == session {
                log.cancel.cancel();
            }
            k.0 != session
        });
    }

    fn remove(&self, key: Key) {
        self.logs.remove(&key);
    }

    /// Number of streams held.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.logs.len()
    }
}

#[derive(Default)]
struct LogState {
    /// Formatted events; `events[i]` has sequence number `first_seq + i`.
    events: VecDeque<Bytes>,
    first_seq: u64,
    bytes: usize,
    /// The request is over: no event follows the last one.
    finished: bool,
    /// How many times the request let go of its connection, and where the last time fell.
    releases: u64,
    release_at: u64,
    /// Bumped by each attaching connection; only the newest reads.
    generation: u64,
    attached: bool,
}

impl LogState {
    fn next_seq(&self) -> u64 {
        self.first_seq + self.events.len() as u64
    }
}

/// The event log of one stream.
pub(crate) struct StreamLog {
    key: Key,
    state: Mutex<LogState>,
    changed: Notify,
    cancel: CancellationToken,
    max_bytes: usize,
}

enum Step {
    Event(Bytes),
    Wait,
    /// The request let go of the connection: announce the retry interval and close.
    Release,
    End,
}

impl StreamLog {
    fn lock(&self) -> std::sync::MutexGuard<'_, LogState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends an event built from its id, dropping the oldest while over the byte bound.
    fn append(&self, event: impl FnOnce(&str) -> Vec<u8>) {
        let mut s = self.lock();
        let id = format!("{}-{}", self.key.1, s.next_seq());
        let bytes = Bytes::from(event(&id));
        s.bytes += bytes.len();
        s.events.push_back(bytes);
        while s.bytes > self.max_bytes && s.events.len() > 1 {
            if let Some(old) = s.events.pop_front() {
                s.bytes -= old.len();
                s.first_seq += 1;
            }
        }
        drop(s);
        self.changed.notify_waiters();
    }

    fn push_message(&self, data: &[u8]) {
        self.append(|id| {
            let mut out = Vec::with_capacity(data.len() + id.len() + 32);
            out.extend_from_slice(b"id: ");
            out.extend_from_slice(id.as_bytes());
            out.extend_from_slice(b"\nevent: message\ndata: ");
            out.extend_from_slice(data);
            out.extend_from_slice(b"\n\n");
            out
        });
    }

    fn push(&self, message: Outbound) {
        match message.into_bytes() {
            Some(b) => self.push_message(&b),
            None => {
                let mut s = self.lock();
                s.releases += 1;
                s.release_at = s.next_seq();
                drop(s);
                self.changed.notify_waiters();
            }
        }
    }

    fn finish(&self, last: Option<&[u8]>) {
        if let Some(b) = last {
            self.push_message(b);
        }
        self.lock().finished = true;
        self.changed.notify_waiters();
    }

    fn step(&self, cursor: &mut u64, releases_seen: &mut u64, generation: u64) -> Step {
        let s = self.lock();
        if s.generation != generation {
            return Step::End;
        }
        // Events evicted before this reader got them are gone; go on from the oldest held.
        let at = (*cursor).max(s.first_seq);
        if s.releases > *releases_seen && at >= s.release_at {
            *releases_seen = s.releases;
            // A client that holds no event id could not resume: keep its connection.
            if at > 0 {
                return Step::Release;
            }
        }
        if let Some(event) = s.events.get((at - s.first_seq) as usize) {
            *cursor = at + 1;
            return Step::Event(event.clone());
        }
        if s.finished {
            return Step::End;
        }
        Step::Wait
    }

    /// Attaches a reader starting at `from`: it sees the last release unless it starts
    /// past it.
    fn attach(&self, from: u64) -> (u64, u64) {
        let mut s = self.lock();
        s.generation += 1;
        s.attached = true;
        let generation = s.generation;
        let releases = if from >= s.release_at {
            s.releases
        } else {
            s.releases.saturating_sub(1)
        };
        drop(s);
        // A connection still reading an older generation ends.
        self.changed.notify_waiters();
        (generation, releases)
    }

    /// Marks the reader of `generation` gone; true if the stream was read to its end.
    fn detach(&self, generation: u64, cursor: u64) -> Option<bool> {
        let mut s = self.lock();
        if s.generation != generation {
            return None;
        }
        s.attached = false;
        Some(s.finished && cursor >= s.next_seq())
    }

    fn abandoned(&self, generation: u64) -> bool {
        let s = self.lock();
        s.generation == generation && !s.attached
    }
}

/// Runs a session request whose answer became a stream: its messages go to a new log,
/// which the returned reader serves from the start.
pub(crate) fn start(
    streams: &Arc<Streams>,
    session: u128,
    prime: bool,
    first: Outbound,
    rx: mpsc::UnboundedReceiver<Outbound>,
    reply: ReplyFuture,
    cancel: DropGuard,
) -> impl futures_util::Stream<Item = Result<Bytes, std::convert::Infallible>> + Send + 'static {
    let cancel = cancel.disarm();
    let log = streams.open(session, cancel.clone(), prime);
    log.push(first);
    streams
        .shutdown
        .spawn(pump(Arc::clone(&log), rx, reply, cancel));
    read(Arc::clone(streams), log, 0)
}

/// Moves a request's messages and final response into its log.
async fn pump(
    log: Arc<StreamLog>,
    mut rx: mpsc::UnboundedReceiver<Outbound>,
    mut reply: ReplyFuture,
    cancel: CancellationToken,
) {
    let mut open = true;
    loop {
        tokio::select! {
            biased;
            m = rx.recv(), if open => match m {
                Some(m) => log.push(m),
                None => open = false,
            },
            done = &mut reply => {
                while let Ok(m) = rx.try_recv() {
                    log.push(m);
                }
                log.finish(done.body.as_deref());
                return;
            }
            () = cancel.cancelled() => {
                // Dropping the reply future stops the work; a cancelled request gets no answer.
                log.finish(None);
                return;
            }
        }
    }
}

/// A connection reading `log` from sequence number `from`.
pub(crate) fn read(
    streams: Arc<Streams>,
    log: Arc<StreamLog>,
    from: u64,
) -> impl futures_util::Stream<Item = Result<Bytes, std::convert::Infallible>> + Send + 'static {
    let (generation, releases) = log.attach(from);
    let mut tick = tokio::time::interval(streams.keep_alive);
    tick.reset();
    let reader = Reader {
        streams,
        log,
        generation,
        cursor: from,
        releases,
        closing: false,
    };
    futures_util::stream::unfold((reader, tick), |(mut r, mut tick)| async move {
        if r.closing {
            return None;
        }
        let log = Arc::clone(&r.log);
        loop {
            let changed = log.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            match log.step(&mut r.cursor, &mut r.releases, r.generation) {
                Step::Event(b) => return Some((Ok(b), (r, tick))),
                Step::End => return None,
                Step::Release => {
                    r.closing = true;
                    let retry = r.streams.settings.retry.as_millis();
                    let frame = Bytes::from(format!("retry: {retry}\n\n"));
                    return Some((Ok(frame), (r, tick)));
                }
                Step::Wait => {}
            }
            tokio::select! {
                () = &mut changed => {}
                _ = tick.tick() => return Some((Ok(Bytes::from_static(b":\n\n")), (r, tick))),
            }
        }
    })
}

struct Reader {
    streams: Arc<Streams>,
    log: Arc<StreamLog>,
    generation: u64,
    cursor: u64,
    releases: u64,
    closing: bool,
}

impl Drop for Reader {
    fn drop(&mut self) {
        match self.log.detach(self.generation, self.cursor) {
            Some(true) => self.streams.remove(self.log.key),
            Some(false) => {
                let (streams, log, generation) = (
                    Arc::clone(&self.streams),
                    Arc::clone(&self.log),
                    self.generation,
                );
                // Dropped outside a runtime only at shutdown, when nothing can resume.
                if tokio::runtime::Handle::try_current().is_ok() {
                    let shutdown = self.streams.shutdown.clone();
                    shutdown.clone().spawn(async move {
                        // A draining server takes no resuming GET: the window closes at once.
                        tokio::select! {
                            () = tokio::time::sleep(streams.settings.window) => {}
                            () = shutdown.drained() => {}
                        }
                        if log.abandoned(generation) {
                            log.cancel.cancel();
                            streams.remove(log.key);
                        }
                    });
                }
            }
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    fn streams(window: Duration) -> Arc<Streams> {
        Arc::new(Streams::new(
            ResumeSettings {
                window,
                retry: Duration::from_millis(250),
                max_log_bytes: 1 << 20,
            },
            Duration::from_secs(60),
            Shutdown::new(),
        ))
    }

    fn text(b: &Bytes) -> String {
        String::from_utf8(b.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn a_released_stream_resumes_after_the_last_event_seen() {
        let streams = streams(Duration::from_secs(60));
        let log = streams.open(7, CancellationToken::new(), true);
        log.push_message(b"{\"n\":1}");
        log.push(Outbound::CloseStream);
        let mut first = Box::pin(read(Arc::clone(&streams), Arc::clone(&log), 0));
        let priming = text(&first.next().await.unwrap().unwrap());
        assert!(
            priming.starts_with("id: ") && priming.contains("retry: 250\ndata: \n\n"),
            "{priming}"
        );
        let one = text(&first.next().await.unwrap().unwrap());
        assert!(one.contains("data: {\"n\":1}"), "{one}");
        assert_eq!(
            text(&first.next().await.unwrap().unwrap()),
            "retry: 250\n\n"
        );
        assert!(first.next().await.is_none());
        drop(first);

        log.push_message(b"{\"n\":2}");
        log.finish(Some(b"{\"result\":{}}"));
        let id = one
            .lines()
            .next()
            .unwrap()
            .trim_start_matches("id: ")
            .to_owned();
        let (found, from) = streams.find(7, &id).expect("stream held");
        assert!(
            streams.find(8, &id).is_none(),
            "another session's id must not resume it"
        );
        let mut second = Box::pin(read(Arc::clone(&streams), found, from));
        assert!(text(&second.next().await.unwrap().unwrap()).contains("{\"n\":2}"));
        assert!(text(&second.next().await.unwrap().unwrap()).contains("{\"result\":{}}"));
        assert!(second.next().await.is_none());
        drop(second);
        assert_eq!(streams.len(), 0, "a stream read to its end is forgotten");
    }

    #[tokio::test(start_paused = true)]
    async fn a_stream_nobody_resumes_cancels_its_request() {
        let streams = streams(Duration::from_secs(5));
        let cancel = CancellationToken::new();
        let log = streams.open(1, cancel.clone(), false);
        log.push_message(b"{}");
        let mut r = Box::pin(read(Arc::clone(&streams), log, 0));
        r.next().await;
        drop(r);
        tokio::time::sleep(Duration::from_secs(4)).await;
        assert!(!cancel.is_cancelled());
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(cancel.is_cancelled());
        assert_eq!(streams.len(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_stream_nobody_reads_is_cancelled_when_the_server_drains() {
        let streams = streams(Duration::from_secs(60));
        let cancel = CancellationToken::new();
        let log = streams.open(1, cancel.clone(), false);
        log.push_message(b"{}");
        let mut r = Box::pin(read(Arc::clone(&streams), log, 0));
        r.next().await;
        drop(r);
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(!cancel.is_cancelled());
        streams.shutdown.drain();
        streams.shutdown.work_done().await;
        assert!(cancel.is_cancelled());
        assert_eq!(streams.len(), 0);
    }

    #[tokio::test]
    async fn a_newer_connection_takes_the_stream_over() {
        let streams = streams(Duration::from_secs(60));
        let log = streams.open(1, CancellationToken::new(), false);
        log.push_message(b"{}");
        let mut old = Box::pin(read(Arc::clone(&streams), Arc::clone(&log), 0));
        old.next().await;
        let mut new = Box::pin(read(Arc::clone(&streams), Arc::clone(&log), 0));
        assert!(old.next().await.is_none());
        assert!(new.next().await.is_some());
    }

    #[test]
    fn the_log_keeps_its_byte_bound() {
        let streams = Streams::new(
            ResumeSettings {
                max_log_bytes: 200,
                ..ResumeSettings::default()
            },
            Duration::from_secs(60),
            Shutdown::new(),
        );
        let log = streams.open(1, CancellationToken::new(), false);
        for _ in 0..50 {
            log.push_message(&[b'x'; 40]);
        }
        let s = log.lock();
        assert!(s.bytes <= 200 && s.first_seq > 0 && s.next_seq() == 50);
    }

    #[test]
    fn malformed_event_ids_find_nothing() {
        let streams = Streams::new(
            ResumeSettings::default(),
            Duration::from_secs(60),
            Shutdown::new(),
        );
        streams.open(1, CancellationToken::new(), false);
        for id in ["", "1", "x-1", "1-x", "1-18446744073709551615", "2-0"] {
            assert!(streams.find(1, id).is_none(), "{id}");
        }
        assert!(streams.find(1, "1-0").is_some());
    }
}
