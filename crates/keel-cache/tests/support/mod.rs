//! Real `redis-server` processes on loopback for the tests: a standalone server and a
//! three-master cluster, each in its own temp dir, killed when dropped.

#![allow(dead_code, unreachable_pub)]

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use tempfile::TempDir;

const REDIS_SERVER: &str = "/usr/bin/redis-server";
const REDIS_CLI: &str = "/usr/bin/redis-cli";

/// One `redis-server` child (not daemonized).
pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
    dir: TempDir,
    cluster: bool,
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local addr").port()
}

impl RedisServer {
    /// A standalone server on a free port.
    pub fn start() -> Self {
        Self::start_mode(false)
    }

    fn start_mode(cluster: bool) -> Self {
        // A port picked free may be taken before the server binds it: try a few.
        for _ in 0..5 {
            let mut server = Self {
                child: None,
                port: free_port(),
                dir: tempfile::tempdir().expect("temp dir"),
                cluster,
            };
            if server.spawn() {
                return server;
            }
        }
        panic!("redis-server did not start");
    }

    /// Starts the process on this server's port and dir; `false` if it never answered.
    fn spawn(&mut self) -> bool {
        let mut command = Command::new(REDIS_SERVER);
        command
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if self.cluster {
            command.args([
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
            ]);
        }
        let mut child = command.spawn().expect("spawn redis-server");
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if matches!(child.try_wait(), Ok(Some(_))) {
                return false;
            }
            if self.cli(&["PING"]).trim() == "PONG" {
                self.child = Some(child);
                return true;
            }
            sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        false
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Runs `redis-cli` against this server; its stdout.
    pub fn cli(&self, args: &[&str]) -> String {
        let output = Command::new(REDIS_CLI)
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("run redis-cli");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// `kill -9`.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts again on the same port (empty: nothing is persisted).
    pub fn restart(&mut self) {
        self.kill();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.spawn() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not restart on {}",
                self.port
            );
            sleep(Duration::from_millis(100));
        }
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
    }

    /// Freezes the process (SIGSTOP): connections stay open, nothing answers.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Thaws it (SIGCONT).
    pub fn resume(&self) {
        self.signal("-CONT");
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if self.child.is_some() {
            // A frozen process ignores nothing but SIGKILL, which is what `kill` sends.
            self.kill();
        }
    }
}

/// Three masters, no replicas, every slot assigned.
pub struct RedisCluster {
    pub nodes: Vec<RedisServer>,
}

impl RedisCluster {
    pub fn start() -> Self {
        let nodes: Vec<RedisServer> = (0..3).map(|_| RedisServer::start_mode(true)).collect();
        let addresses: Vec<String> = nodes
            .iter()
            .map(|node| format!("127.0.0.1:{}", node.port))
            .collect();
        let output = Command::new(REDIS_CLI)
            .arg("--cluster")
            .arg("create")
            .args(&addresses)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .expect("run redis-cli --cluster create");
        assert!(
            output.status.success(),
            "cluster create: {}",
            String::from_utf8_lossy(&output.stdout)
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        while !nodes
            .iter()
            .all(|node| node.cli(&["CLUSTER", "INFO"]).contains("cluster_state:ok"))
        {
            assert!(
                Instant::now() < deadline,
                "cluster never reached cluster_state:ok"
            );
            sleep(Duration::from_millis(100));
        }
        Self { nodes }
    }

    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }
}

/// Polls `check` every 20 ms until it is true or `within` passes.
pub async fn eventually<F, Fut>(within: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    loop {
        if check().await {
            return;
        }
        assert!(Instant::now() < deadline, "not within {within:?}: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

use bytes::Bytes;
use keel_cache::{Cache, CacheKey, Entry, Level, Lookup, RedisConfig, Tag, TtlPolicy};

pub fn key(n: u32) -> CacheKey {
    let mut raw = [0u8; 32];
    raw[..4].copy_from_slice(&n.to_be_bytes());
    raw[31] = 0x5a;
    CacheKey(raw)
}

pub fn ttl() -> TtlPolicy {
    TtlPolicy::new(Duration::from_secs(60), Duration::from_secs(600))
}

pub fn entry(value: &str, tags: &[&str]) -> Entry {
    let tags = tags.iter().map(|tag| Tag::new(*tag)).collect();
    Entry::new(
        Bytes::from(value.to_owned()),
        &ttl(),
        Duration::from_secs(30),
        tags,
    )
}

/// A node: its own L1, the given Redis.
pub fn node(config: RedisConfig) -> Cache {
    Cache::builder()
        .l1_max_bytes(1 << 20)
        .redis(config)
        .build()
        .expect("builds")
}

/// `"L1"`, `"L2"` (fresh), `"stale"` or `"miss"`.
pub fn kind(lookup: &Lookup) -> &'static str {
    match lookup {
        Lookup::Fresh(_, Level::L1) => "L1",
        Lookup::Fresh(_, Level::L2) => "L2",
        Lookup::Stale(..) => "stale",
        Lookup::Miss => "miss",
    }
}

pub async fn wait_subscribed(cache: &Cache) {
    eventually(Duration::from_secs(10), "subscriber listening", || async {
        cache.stats().subscribed
    })
    .await;
}

/// Waits until `reader` finds `n` through Redis (the writer's put is fire-and-forget).
pub async fn wait_l2(reader: &Cache, n: u32) {
    eventually(
        Duration::from_secs(10),
        "entry readable from L2",
        || async { reader.get("t", &key(n), &ttl()).await.entry().is_some() },
    )
    .await;
}
