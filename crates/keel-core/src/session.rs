//! Legacy sessions (`Mcp-Session-Id`), kept small because idle ones are counted in kilobytes.

use std::{
    future::Future,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicI64, AtomicU8, AtomicU64, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use dashmap::DashMap;
use keel_protocol::{ProtocolVersion, RequestId, RpcError};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use crate::{ClientCaps, LogLevel, Outbound, Principal};

/// A session id: 128 random bits, written as 32 lowercase hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionId(pub u128);

impl SessionId {
    /// A fresh random id.
    pub fn random() -> Self {
        let mut b = [0u8; 16];
        // The OS RNG only fails on exotic platforms; a time-and-counter id keeps serving then.
        if getrandom::fill(&mut b).is_err() {
            static FALLBACK: AtomicU64 = AtomicU64::new(1);
            let t = now_nanos();
            b[..8].copy_from_slice(&t.to_le_bytes());
            b[8..].copy_from_slice(&FALLBACK.fetch_add(1, Ordering::Relaxed).to_le_bytes());
        }
        Self(u128::from_le_bytes(b))
    }

    /// Parses the header form; `None` for anything that is not 32 hex digits.
    pub fn parse(s: &str) -> Option<Self> {
        (s.len() == 32)
            .then(|| u128::from_str_radix(s, 16).ok())
            .flatten()
            .map(Self)
    }
}

impl std::fmt::Display for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

fn now_secs() -> u64 {
    now_nanos() / 1_000_000_000
}

type Pending = oneshot::Sender<Result<Value, RpcError>>;

/// Server-to-client requests awaiting an answer, shared by all sessions so an idle session
/// carries no map of its own.
#[derive(Default, Debug)]
pub(crate) struct ClientRequests {
    next: AtomicI64,
    pending: DashMap<(u128, RequestId), Pending>,
}

/// One legacy session.
#[derive(Debug)]
pub struct Session {
    id: SessionId,
    version: ProtocolVersion,
    caps: ClientCaps,
    principal: Principal,
    log_level: AtomicU8,
    last_seen: AtomicU64,
    initialized: AtomicBool,
    stream: std::sync::Mutex<Option<mpsc::UnboundedSender<Outbound>>>,
    /// Resource URIs of `resources/subscribe`; empty (no allocation) in most sessions.
    subscriptions: std::sync::Mutex<Vec<Box<str>>>,
    requests: Arc<ClientRequests>,
}

const NO_LEVEL: u8 = u8::MAX;

/// Most resources one session may subscribe to.
pub(crate) const MAX_SUBSCRIPTIONS: usize = 1024;

impl Session {
    pub(crate) fn new(
        version: ProtocolVersion,
        caps: ClientCaps,
        principal: Principal,
        requests: Arc<ClientRequests>,
    ) -> Self {
        Self {
            id: SessionId::random(),
            version,
            caps,
            principal,
            log_level: AtomicU8::new(NO_LEVEL),
            last_seen: AtomicU64::new(now_secs()),
            initialized: AtomicBool::new(false),
            stream: std::sync::Mutex::new(None),
            subscriptions: std::sync::Mutex::new(Vec::new()),
            requests,
        }
    }

    /// The session id.
    pub fn id(&self) -> SessionId {
        self.id
    }

    /// The negotiated protocol revision.
    pub fn version(&self) -> ProtocolVersion {
        self.version
    }

    /// The principal that created the session.
    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    /// Whether `principal` may use the session: only the one that created it. Transports
    /// answer anyone else as they answer an unknown session id, so ids reveal nothing.
    pub fn belongs_to(&self, principal: &Principal) -> bool {
        self.principal == *principal
    }

    /// Capabilities the client declared at `initialize`.
    pub fn caps(&self) -> ClientCaps {
        self.caps
    }

    /// Whether `notifications/initialized` arrived.
    pub fn is_initialized(&self) -> bool {
        self.initialized.load(Ordering::Relaxed)
    }

    pub(crate) fn mark_initialized(&self) {
        self.initialized.store(true, Ordering::Relaxed);
    }

    /// The level set with `logging/setLevel`, if any.
    pub fn log_level(&self) -> Option<LogLevel> {
        const LEVELS: [LogLevel; 8] = [
            LogLevel::Debug,
            LogLevel::Info,
            LogLevel::Notice,
            LogLevel::Warning,
            LogLevel::Error,
            LogLevel::Critical,
            LogLevel::Alert,
            LogLevel::Emergency,
        ];
        LEVELS
            .get(self.log_level.load(Ordering::Relaxed) as usize)
            .copied()
    }

    pub(crate) fn set_log_level(&self, level: LogLevel) {
        self.log_level.store(level as u8, Ordering::Relaxed);
    }

    /// Records activity, postponing expiry.
    pub fn touch(&self) {
        self.last_seen.store(now_secs(), Ordering::Relaxed);
    }

    fn idle_for(&self, now: u64) -> Duration {
        Duration::from_secs(now.saturating_sub(self.last_seen.load(Ordering::Relaxed)))
    }

    /// Attaches the standalone GET stream; returns false if one is already open.
    pub fn attach_stream(&self, tx: mpsc::UnboundedSender<Outbound>) -> bool {
        let mut slot = self.stream.lock().unwrap_or_else(|p| p.into_inner());
        if slot.as_ref().is_some_and(|s| !s.is_closed()) {
            return false;
        }
        *slot = Some(tx);
        true
    }

    /// Sends on the standalone stream, if one is open.
    pub fn send_on_stream(&self, message: Outbound) -> bool {
        let slot = self.stream.lock().unwrap_or_else(|p| p.into_inner());
        slot.as_ref().is_some_and(|s| s.send(message).is_ok())
    }

    /// Subscribes to updates of `uri`; false when the session holds 1,024 already.
    pub fn subscribe(&self, uri: &str) -> bool {
        let mut subs = self.subscriptions.lock().unwrap_or_else(|p| p.into_inner());
        if subs.iter().any(|s| &**s == uri) {
            return true;
        }
        if subs.len() >= MAX_SUBSCRIPTIONS {
            return false;
        }
        subs.push(uri.into());
        true
    }

    /// Ends a subscription; unsubscribing from what was never subscribed is not an error.
    pub fn unsubscribe(&self, uri: &str) {
        let mut subs = self.subscriptions.lock().unwrap_or_else(|p| p.into_inner());
        subs.retain(|s| &**s != uri);
        if subs.is_empty() {
            subs.shrink_to_fit();
        }
    }

    /// Whether the session subscribed to `uri`.
    pub fn is_subscribed(&self, uri: &str) -> bool {
        let subs = self.subscriptions.lock().unwrap_or_else(|p| p.into_inner());
        subs.iter().any(|s| &**s == uri)
    }

    /// The notification this session gets for `change`, if any: list changes always,
    /// resource updates only for subscribed URIs.
    pub fn notification_for(&self, change: &crate::ListChange) -> Option<Vec<u8>> {
        use crate::ListChange;
        let (method, uri) = match change {
            ListChange::Tools => (keel_protocol::methods::TOOLS_LIST_CHANGED, None),
            ListChange::Prompts => (keel_protocol::methods::PROMPTS_LIST_CHANGED, None),
            ListChange::Resources => (keel_protocol::methods::RESOURCES_LIST_CHANGED, None),
            ListChange::ResourceUpdated(uri) if self.is_subscribed(uri) => {
                (keel_protocol::methods::RESOURCES_UPDATED, Some(uri))
            }
            ListChange::ResourceUpdated(_) => return None,
        };
        let params = uri.map(|u| serde_json::json!({ "uri": u }));
        Some(keel_protocol::encode_notification(method, params.as_ref()))
    }

    pub(crate) fn register_client_request(
        &self,
    ) -> (RequestId, oneshot::Receiver<Result<Value, RpcError>>) {
        let n = self.requests.next.fetch_add(1, Ordering::Relaxed);
        let id = RequestId::String(format!("keel-{n}"));
        let (tx, rx) = oneshot::channel();
        self.requests.pending.insert((self.id.0, id.clone()), tx);
        (id, rx)
    }

    pub(crate) fn forget_client_request(&self, id: &RequestId) {
        self.requests.pending.remove(&(self.id.0, id.clone()));
    }

    /// Delivers the client's answer to a server-to-client request; false if none was waiting.
    pub fn complete_client_request(&self, id: &RequestId, answer: Result<Value, RpcError>) -> bool {
        match self.requests.pending.remove(&(self.id.0, id.clone())) {
            Some((_, tx)) => tx.send(answer).is_ok(),
            None => false,
        }
    }
}

/// A boxed future for store operations (a networked store answers asynchronously).
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where sessions live. In memory by default; a shared store lets several nodes serve them.
pub trait SessionStore: Send + Sync + 'static {
    /// Stores a new session.
    fn insert(&self, session: Arc<Session>) -> StoreFuture<'_, ()>;
    /// Looks a session up, refreshing its idle timer.
    fn get(&self, id: SessionId) -> StoreFuture<'_, Option<Arc<Session>>>;
    /// Ends a session; false if it did not exist.
    fn remove(&self, id: SessionId) -> StoreFuture<'_, bool>;
    /// Drops sessions idle longer than the store's timeout; returns how many went.
    fn expire_idle(&self) -> usize;
    /// Number of live sessions.
    fn len(&self) -> usize;
    /// Whether no session is live.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// An in-process session store with idle expiry.
pub struct MemorySessionStore {
    sessions: DashMap<SessionId, Arc<Session>>,
    idle_timeout: Duration,
}

impl MemorySessionStore {
    /// A store that expires sessions idle for longer than `idle_timeout`.
    pub fn new(idle_timeout: Duration) -> Self {
        Self {
            sessions: DashMap::new(),
            idle_timeout,
        }
    }
}

impl SessionStore for MemorySessionStore {
    fn insert(&self, session: Arc<Session>) -> StoreFuture<'_, ()> {
        self.sessions.insert(session.id(), session);
        Box::pin(std::future::ready(()))
    }

    fn get(&self, id: SessionId) -> StoreFuture<'_, Option<Arc<Session>>> {
        let found = self.sessions.get(&id).map(|s| {
            s.touch();
            Arc::clone(&s)
        });
        Box::pin(std::future::ready(found))
    }

    fn remove(&self, id: SessionId) -> StoreFuture<'_, bool> {
        Box::pin(std::future::ready(self.sessions.remove(&id).is_some()))
    }

    fn expire_idle(&self) -> usize {
        let now = now_secs();
        let before = self.sessions.len();
        self.sessions
            .retain(|_, s| s.idle_for(now) <= self.idle_timeout);
        let gone = before.saturating_sub(self.sessions.len());
        if gone > 0 {
            self.sessions.shrink_to_fit();
        }
        gone
    }

    fn len(&self) -> usize {
        self.sessions.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> Arc<Session> {
        session_of(Principal::anonymous())
    }

    fn session_of(principal: Principal) -> Arc<Session> {
        Arc::new(Session::new(
            ProtocolVersion::V2025_11_25,
            ClientCaps::default(),
            principal,
            Arc::new(ClientRequests::default()),
        ))
    }

    #[test]
    fn a_session_belongs_to_the_principal_that_created_it() {
        let alice = Principal::authenticated("alice", "https://issuer.example", ["read"]);
        let s = session_of(alice.clone());
        assert_eq!(s.principal(), &alice);
        assert!(s.belongs_to(&alice));
        // A refreshed token with other scopes is still alice.
        assert!(s.belongs_to(&Principal::authenticated(
            "alice",
            "https://issuer.example",
            ["write"]
        )));
        assert!(!s.belongs_to(&Principal::authenticated(
            "bob",
            "https://issuer.example",
            ["read"]
        )));
        assert!(!s.belongs_to(&Principal::anonymous()));
        assert!(!s.belongs_to(&Principal::local("alice")));
        assert!(session().belongs_to(&Principal::anonymous()));
    }

    #[test]
    fn ids_round_trip_through_the_header_form() {
        let id = SessionId::random();
        assert_eq!(SessionId::parse(&id.to_string()), Some(id));
        assert_eq!(SessionId::parse("not-an-id"), None);
    }

    #[tokio::test]
    async fn store_finds_removes_and_expires() {
        let store = MemorySessionStore::new(Duration::from_secs(60));
        let s = session();
        store.insert(Arc::clone(&s)).await;
        assert!(store.get(s.id()).await.is_some());
        assert!(store.remove(s.id()).await);
        assert!(store.get(s.id()).await.is_none());

        let zero = MemorySessionStore::new(Duration::ZERO);
        let old = session();
        old.last_seen.store(0, Ordering::Relaxed);
        zero.insert(old).await;
        zero.insert(session()).await;
        assert_eq!(zero.expire_idle(), 1);
        assert_eq!(zero.len(), 1);
    }

    #[test]
    fn resource_updates_reach_only_subscribers() {
        let s = session();
        let updated = crate::ListChange::ResourceUpdated("test://a".into());
        assert!(s.notification_for(&updated).is_none());
        assert!(s.subscribe("test://a"));
        let n = String::from_utf8(s.notification_for(&updated).unwrap()).unwrap();
        assert!(
            n.contains("notifications/resources/updated") && n.contains("test://a"),
            "{n}"
        );
        assert!(
            s.notification_for(&crate::ListChange::ResourceUpdated("test://b".into()))
                .is_none()
        );
        s.unsubscribe("test://a");
        assert!(s.notification_for(&updated).is_none());
        assert!(s.notification_for(&crate::ListChange::Tools).is_some());
        for i in 0..MAX_SUBSCRIPTIONS {
            assert!(s.subscribe(&format!("test://{i}")));
        }
        assert!(!s.subscribe("test://one-too-many"));
    }

    #[tokio::test]
    async fn client_answers_reach_the_waiting_request() {
        let s = session();
        let (id, rx) = s.register_client_request();
        assert!(s.complete_client_request(&id, Ok(serde_json::json!({"ok": true}))));
        assert_eq!(rx.await.unwrap().unwrap()["ok"], true);
        assert!(!s.complete_client_request(&id, Ok(Value::Null)));
    }
}
