//! The tasks extension (`io.modelcontextprotocol/tasks`): a tool call that outlives its
//! request runs as a task the client polls with `tasks/get`, feeds with `tasks/update` and
//! stops with `tasks/cancel`.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use dashmap::DashMap;
use keel_protocol::RpcError;
use serde_json::{Map, Value, json};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use crate::Principal;

/// Where a task stands.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TaskStatus {
    Working,
    Completed(Map<String, Value>),
    Failed(RpcError),
    Cancelled,
}

impl TaskStatus {
    fn is_terminal(&self) -> bool {
        !matches!(self, Self::Working)
    }
}

type Answer = oneshot::Sender<Value>;

#[derive(Debug)]
struct TaskState {
    status: TaskStatus,
    updated_ms: u64,
    finished_at: Option<Instant>,
    /// Input the task waits for: key → (request, where to deliver the answer).
    pending: HashMap<String, (Value, Answer)>,
}

/// One task.
#[derive(Debug)]
pub struct Task {
    id: String,
    /// Who created it: nobody else may see, feed or cancel it.
    owner: Principal,
    created_ms: u64,
    cancel: CancellationToken,
    state: Mutex<TaskState>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// RFC 3339 UTC timestamp with milliseconds.
fn rfc3339(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil-from-days (H. Hinnant), valid for the proleptic Gregorian calendar.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms % 1000
    )
}

impl Task {
    fn lock(&self) -> std::sync::MutexGuard<'_, TaskState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The task id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The principal that created the task.
    pub fn owner(&self) -> &Principal {
        &self.owner
    }

    pub(crate) fn cancel_token(&self) -> CancellationToken {
        self.cancel.clone()
    }

    /// Records the outcome, unless the task already ended (a cancelled task stays cancelled).
    pub(crate) fn finish(&self, status: TaskStatus) {
        let mut s = self.lock();
        if s.status.is_terminal() {
            return;
        }
        s.status = status;
        s.updated_ms = now_ms();
        s.finished_at = Some(Instant::now());
        s.pending.clear();
    }

    /// Registers a request for input; the answer arrives through `tasks/update`.
    pub(crate) fn await_input(&self, key: &str, request: Value) -> oneshot::Receiver<Value> {
        let (tx, rx) = oneshot::channel();
        let mut s = self.lock();
        s.pending.insert(key.to_owned(), (request, tx));
        s.updated_ms = now_ms();
        rx
    }

    pub(crate) fn forget_input(&self, key: &str) {
        self.lock().pending.remove(key);
    }

    fn cancel(&self) {
        self.cancel.cancel();
        self.finish(TaskStatus::Cancelled);
    }

    fn deliver(&self, responses: &Map<String, Value>) {
        let mut s = self.lock();
        for (key, answer) in responses {
            if let Some((_, tx)) = s.pending.remove(key) {
                let _ = tx.send(answer.clone());
            }
        }
        s.updated_ms = now_ms();
    }

    fn base(&self, s: &TaskState, ttl: Duration) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("taskId".into(), json!(self.id));
        let status = match &s.status {
            TaskStatus::Working if !s.pending.is_empty() => "input_required",
            TaskStatus::Working => "working",
            TaskStatus::Completed(_) => "completed",
            TaskStatus::Failed(_) => "failed",
            TaskStatus::Cancelled => "cancelled",
        };
        m.insert("status".into(), json!(status));
        m.insert("createdAt".into(), json!(rfc3339(self.created_ms)));
        m.insert("lastUpdatedAt".into(), json!(rfc3339(s.updated_ms)));
        m.insert("ttlMs".into(), json!(ttl.as_millis() as u64));
        m.insert("pollIntervalMs".into(), json!(POLL_INTERVAL_MS));
        m
    }

    /// The `CreateTaskResult` body.
    pub(crate) fn created(&self, ttl: Duration) -> Map<String, Value> {
        let s = self.lock();
        let mut m = self.base(&s, ttl);
        m.insert("resultType".into(), json!("task"));
        m
    }

    /// The detailed task of `tasks/get`.
    pub(crate) fn detailed(&self, ttl: Duration) -> Map<String, Value> {
        let s = self.lock();
        let mut m = self.base(&s, ttl);
        match &s.status {
            TaskStatus::Completed(result) => {
                m.insert("result".into(), Value::Object(result.clone()));
            }
            TaskStatus::Failed(e) => {
                m.insert(
                    "error".into(),
                    serde_json::to_value(e).unwrap_or(Value::Null),
                );
            }
            TaskStatus::Working if !s.pending.is_empty() => {
                let requests: Map<String, Value> = s
                    .pending
                    .iter()
                    .map(|(k, (req, _))| (k.clone(), req.clone()))
                    .collect();
                m.insert("inputRequests".into(), Value::Object(requests));
            }
            _ => {}
        }
        m
    }
}

const POLL_INTERVAL_MS: u64 = 200;

/// Live and recently finished tasks of this node.
pub struct TaskStore {
    tasks: DashMap<String, Arc<Task>>,
    ttl: Duration,
}

impl TaskStore {
    /// A store keeping finished tasks for `ttl`.
    pub fn new(ttl: Duration) -> Self {
        Self {
            tasks: DashMap::new(),
            ttl,
        }
    }

    /// How long finished tasks stay retrievable.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// A new task of `owner`, not yet visible to `tasks/get`.
    pub(crate) fn prepare(&self, cancel: CancellationToken, owner: Principal) -> Arc<Task> {
        let mut b = [0u8; 12];
        let _ = getrandom::fill(&mut b);
        let id: String = b.iter().map(|x| format!("{x:02x}")).collect();
        let now = now_ms();
        Arc::new(Task {
            id: format!("task-{id}"),
            owner,
            created_ms: now,
            cancel,
            state: Mutex::new(TaskState {
                status: TaskStatus::Working,
                updated_ms: now,
                finished_at: None,
                pending: HashMap::new(),
            }),
        })
    }

    /// Makes a task visible, dropping tasks whose time to live ran out.
    pub(crate) fn publish(&self, task: Arc<Task>) {
        let ttl = self.ttl;
        self.tasks
            .retain(|_, t| t.lock().finished_at.is_none_or(|f| f.elapsed() <= ttl));
        self.tasks.insert(task.id.clone(), task);
    }

    /// The task `id` of `principal`; another principal's task is unknown to it.
    fn find(&self, id: &str, principal: &Principal) -> Result<Arc<Task>, RpcError> {
        self.tasks
            .get(id)
            .filter(|t| t.owner == *principal)
            .map(|t| Arc::clone(&t))
            .ok_or_else(|| RpcError::invalid_params(format!("Unknown task: {id}")))
    }

    /// `tasks/get`.
    pub(crate) fn get(
        &self,
        id: &str,
        principal: &Principal,
    ) -> Result<Map<String, Value>, RpcError> {
        Ok(self.find(id, principal)?.detailed(self.ttl))
    }

    /// `tasks/update`: answers for pending input; unknown keys are ignored.
    pub(crate) fn update(
        &self,
        id: &str,
        principal: &Principal,
        responses: &Map<String, Value>,
    ) -> Result<(), RpcError> {
        self.find(id, principal)?.deliver(responses);
        Ok(())
    }

    /// `tasks/cancel`: idempotent on finished tasks.
    pub(crate) fn cancel(&self, id: &str, principal: &Principal) -> Result<(), RpcError> {
        self.find(id, principal)?.cancel();
        Ok(())
    }

    /// Number of tasks held.
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Whether no task is held.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_795_000_000_123), "2026-11-18T11:06:40.123Z");
    }

    #[test]
    fn lifecycle_input_and_cancel() {
        let store = TaskStore::new(Duration::from_secs(60));
        let me = Principal::anonymous();
        let t = store.prepare(CancellationToken::new(), me.clone());
        store.publish(Arc::clone(&t));
        assert_eq!(store.get(t.id(), &me).unwrap()["status"], "working");
        let mut rx = t.await_input("q", json!({"method":"elicitation/create","params":{}}));
        let d = store.get(t.id(), &me).unwrap();
        assert_eq!(d["status"], "input_required");
        assert!(d["inputRequests"]["q"].is_object());
        let mut answers = Map::new();
        answers.insert("q".into(), json!({"action":"accept"}));
        answers.insert("unknown".into(), json!({}));
        store.update(t.id(), &me, &answers).unwrap();
        assert_eq!(rx.try_recv().unwrap()["action"], "accept");
        assert_eq!(store.get(t.id(), &me).unwrap()["status"], "working");
        store.cancel(t.id(), &me).unwrap();
        assert_eq!(store.get(t.id(), &me).unwrap()["status"], "cancelled");
        t.finish(TaskStatus::Completed(Map::new()));
        assert_eq!(store.get(t.id(), &me).unwrap()["status"], "cancelled");
        store.cancel(t.id(), &me).unwrap();
        assert!(store.get("nope", &me).is_err());
    }

    #[test]
    fn another_principals_task_is_unknown() {
        let store = TaskStore::new(Duration::from_secs(60));
        let alice = Principal::authenticated("alice", "iss", ["tasks"]);
        let bob = Principal::authenticated("bob", "iss", ["tasks"]);
        let t = store.prepare(CancellationToken::new(), alice.clone());
        store.publish(Arc::clone(&t));
        let mut rx = t.await_input("q", json!({"method":"elicitation/create","params":{}}));
        let unknown = store.get("task-nope", &bob).unwrap_err();
        for other in [bob, Principal::anonymous(), Principal::local("alice")] {
            let e = store.get(t.id(), &other).unwrap_err();
            assert_eq!(e.code, unknown.code);
            assert_eq!(e.message, unknown.message.replace("task-nope", t.id()));
            let mut answers = Map::new();
            answers.insert("q".into(), json!({"action":"accept"}));
            assert!(store.update(t.id(), &other, &answers).is_err());
            assert!(store.cancel(t.id(), &other).is_err());
        }
        // Nothing another principal sent reached the task.
        assert!(rx.try_recv().is_err());
        assert_eq!(
            store.get(t.id(), &alice).unwrap()["status"],
            "input_required"
        );
        assert_eq!(t.owner(), &alice);
    }
}
