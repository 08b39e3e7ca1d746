//! The audit log: one JSON line per tool call — when, who, which tool, a SHA-256 of the
//! canonical arguments (the arguments themselves only when configured), the outcome (also
//! for calls the scope check or a rate limit refused), how long it took, how the cache
//! served it and the breakers of the dependencies it reached.
//!
//! Records go through a bounded channel to a writer thread, so a slow disk never blocks a
//! runtime thread; a full channel holds the call back (the log loses nothing) rather than
//! dropping records. The writer flushes whenever the channel runs empty, and
//! [`AuditLog::close`] drains and flushes everything before shutdown ends.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::thread::JoinHandle;
use std::time::Instant;

use std::convert::Infallible;

use keel_core::{BoxFuture, CallNotes, MethodRequest, Reply, collect_notes};
use keel_protocol::{ErrorCode, methods};
use serde_json::{Map, Value, json};
use tokio::sync::{mpsc, oneshot};
use tower::{Layer, Service};

use crate::cache::arguments_digest;

/// Where records go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditSink {
    /// The process's standard error, beside the logs.
    Stderr,
    /// A file, appended to (created when missing).
    File(PathBuf),
}

/// How the audit log is kept.
#[derive(Debug, Clone)]
pub struct AuditConfig {
    /// Where records go.
    pub sink: AuditSink,
    /// Whether records carry the arguments themselves (off: only their SHA-256).
    pub include_arguments: bool,
    /// Records waiting for the writer before calls wait for it.
    pub capacity: usize,
}

enum Message {
    Record(Vec<u8>),
    Close(oneshot::Sender<()>),
}

/// The writer and its counters; the layer's records go here.
pub struct AuditLog {
    tx: mpsc::Sender<Message>,
    include_arguments: bool,
    written: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("written", &self.written())
            .finish_non_exhaustive()
    }
}

impl AuditLog {
    /// Opens the sink and starts the writer thread.
    ///
    /// # Errors
    /// The file cannot be opened for appending.
    pub fn open(config: &AuditConfig) -> io::Result<Self> {
        let out: Box<dyn Write + Send> = match &config.sink {
            AuditSink::Stderr => Box::new(io::stderr()),
            AuditSink::File(path) => {
                Box::new(OpenOptions::new().create(true).append(true).open(path)?)
            }
        };
        let (tx, rx) = mpsc::channel(config.capacity.max(1));
        let written = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let writer = std::thread::Builder::new()
            .name("keel-audit".into())
            .spawn({
                let (written, failed) = (Arc::clone(&written), Arc::clone(&failed));
                move || write_records(rx, out, &written, &failed)
            })?;
        Ok(Self {
            tx,
            include_arguments: config.include_arguments,
            written,
            failed,
            writer: Mutex::new(Some(writer)),
        })
    }

    /// Records written so far.
    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    /// Records the sink refused (a full disk, a closed descriptor).
    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }

    /// Writes every record sent so far, flushes, and stops the writer; records sent later
    /// are counted as failed.
    pub async fn close(&self) {
        let (done, flushed) = oneshot::channel();
        if self.tx.send(Message::Close(done)).await.is_ok() {
            let _ = flushed.await;
        }
        let writer = self
            .writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(writer) = writer {
            let _ = tokio::task::spawn_blocking(move || writer.join()).await;
        }
    }

    async fn send(&self, record: Vec<u8>) {
        if self.tx.send(Message::Record(record)).await.is_err() {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn write_records(
    mut rx: mpsc::Receiver<Message>,
    mut out: Box<dyn Write + Send>,
    written: &AtomicU64,
    failed: &AtomicU64,
) {
    let mut buffer = io::BufWriter::with_capacity(64 * 1024, &mut out);
    let mut pending = 0;
    let flush = |buffer: &mut io::BufWriter<_>, pending: &mut u64| {
        match buffer.flush() {
            Ok(()) => written.fetch_add(*pending, Ordering::Relaxed),
            Err(error) => {
                tracing::error!(%error, records = *pending, "audit log write failed");
                failed.fetch_add(*pending, Ordering::Relaxed)
            }
        };
        *pending = 0;
    };
    while let Some(message) = rx.blocking_recv() {
        match message {
            Message::Record(line) => {
                if buffer.write_all(&line).is_ok() {
                    pending += 1;
                } else {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
                if rx.is_empty() {
                    flush(&mut buffer, &mut pending);
                }
            }
            Message::Close(done) => {
                flush(&mut buffer, &mut pending);
                let _ = done.send(());
                return;
            }
        }
    }
    flush(&mut buffer, &mut pending);
}

/// Wraps the request service with [`AuditService`].
#[derive(Clone, Debug)]
pub struct AuditLayer {
    log: Arc<AuditLog>,
}

impl AuditLayer {
    /// Records every tool call into `log`.
    pub fn new(log: Arc<AuditLog>) -> Self {
        Self { log }
    }
}

impl<S> Layer<S> for AuditLayer {
    type Service = AuditService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuditService {
            inner,
            log: Arc::clone(&self.log),
        }
    }
}

/// See the [module](self) documentation. At the request-level policy point, outside the
/// scope check and the rate limits, so a call they refuse is recorded too.
#[derive(Clone, Debug)]
pub struct AuditService<S> {
    inner: S,
    log: Arc<AuditLog>,
}

impl<S> Service<MethodRequest> for AuditService<S>
where
    S: Service<MethodRequest, Response = Reply, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = Reply;
    type Error = Infallible;
    type Future = BoxFuture<Result<Reply, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: MethodRequest) -> Self::Future {
        if request.method() != methods::TOOLS_CALL {
            return Box::pin(self.inner.call(request));
        }
        let mut pending = Pending {
            log: Arc::clone(&self.log),
            record: Some(self.log.start_record(&request)),
            started: Instant::now(),
        };
        let work = self.inner.call(request);
        Box::pin(async move {
            let (reply, notes) = collect_notes(work).await;
            let reply = reply?;
            let record = pending.record.take().unwrap_or_default();
            let line = finish_record(record, &reply, &notes, pending.started);
            pending.log.send(line).await;
            Ok(reply)
        })
    }
}

/// A call's record until it is written. A call whose future is dropped (the client went
/// away, the drain deadline passed) is still recorded, as `cancelled`.
struct Pending {
    log: Arc<AuditLog>,
    record: Option<Map<String, Value>>,
    started: Instant,
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(mut record) = self.record.take() {
            record.insert("outcome".into(), "cancelled".into());
            let micros = u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX);
            record.insert("duration_us".into(), micros.into());
            let mut line = serde_json::to_vec(&Value::Object(record)).unwrap_or_default();
            line.push(b'\n');
            // No await in a drop: a full channel counts the record as failed.
            if self.log.tx.try_send(Message::Record(line)).is_err() {
                self.log.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

impl AuditLog {
    /// What is known of a call before it runs.
    fn start_record(&self, request: &MethodRequest) -> Map<String, Value> {
        let mut record = Map::new();
        record.insert("ts".into(), now_rfc3339().into());
        record.insert("event".into(), "tool_call".into());
        if let Some(id) = request.id() {
            record.insert("request_id".into(), id.to_string().into());
        }
        // Joins the record to the call's trace (the request span is current here).
        if keel_core::trace::enabled()
            && let Some(trace_id) = keel_core::trace::trace_id(&tracing::Span::current())
        {
            record.insert("trace_id".into(), trace_id.into());
        }
        let principal = request.principal();
        record.insert("principal".into(), principal.key().into());
        if let Some(issuer) = principal.issuer() {
            record.insert("issuer".into(), issuer.into());
        }
        record.insert(
            "tool".into(),
            request.target().map_or(Value::Null, Value::from),
        );
        let arguments = request
            .request()
            .params
            .get("arguments")
            .unwrap_or(&Value::Null);
        record.insert(
            "arguments_sha256".into(),
            hex(&arguments_digest(arguments)).into(),
        );
        if self.include_arguments {
            record.insert("arguments".into(), arguments.clone());
        }
        record
    }
}

/// The whole record, as one line.
fn finish_record(
    mut record: Map<String, Value>,
    reply: &Reply,
    notes: &CallNotes,
    started: Instant,
) -> Vec<u8> {
    let outcome = notes.outcome.unwrap_or(match reply.error {
        Some(ErrorCode::RATE_LIMITED) => "rate_limited",
        Some(ErrorCode::INSUFFICIENT_SCOPE) => "forbidden",
        Some(ErrorCode::SERVER_OVERLOADED) => "rejected",
        Some(ErrorCode::INVALID_PARAMS) => "invalid_params",
        Some(_) => "protocol_error",
        None => "ok",
    });
    record.insert("outcome".into(), outcome.into());
    if let Some(code) = reply.error {
        record.insert("error_code".into(), code.0.into());
    }
    let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    record.insert("duration_us".into(), micros.into());
    record.insert("cache".into(), notes.cache.map_or(Value::Null, Value::from));
    let dependencies: Map<String, Value> = notes
        .dependencies
        .iter()
        .map(|(name, breaker)| (name.to_string(), json!({ "breaker": breaker })))
        .collect();
    record.insert("dependencies".into(), dependencies.into());
    let mut line = serde_json::to_vec(&Value::Object(record)).unwrap_or_default();
    line.push(b'\n');
    line
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
