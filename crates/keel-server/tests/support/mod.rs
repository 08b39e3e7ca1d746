//! Shared helpers of the end-to-end tests: starting the real `keel` binary, building
//! JSON-RPC messages of both eras, and a deadline that turns a hang into a failure.

// Each test binary compiles this module and uses only part of it.
#![allow(dead_code)]

pub(crate) mod http;
pub(crate) mod raw;

use std::{
    future::Future,
    net::{Ipv4Addr, SocketAddr, TcpListener},
    process::{Child, Command, Stdio},
    time::Duration,
};

use serde_json::{Value, json};

/// The modern (stateless) revision.
pub(crate) const MODERN: &str = "2026-07-28";
/// The newest legacy (session-based) revision.
pub(crate) const LATEST_LEGACY: &str = "2025-11-25";
/// `_meta` key of a modern request's protocol version.
pub(crate) const META_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
/// `_meta` key of a modern request's client capabilities.
pub(crate) const META_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";
/// `_meta` key of the server identity in modern results.
pub(crate) const META_SERVER_INFO: &str = "io.modelcontextprotocol/serverInfo";

/// Environment variables the binary reads; cleared so the caller's shell cannot change
/// what a test exercises. `KEEL_MODEL_DIR` is kept: the tests use the model it names.
const KEEL_ENV: [&str; 11] = [
    "KEEL_CONFIG",
    "KEEL_LISTEN",
    "KEEL_PATH",
    "KEEL_SESSION_MODE",
    "KEEL_STATE_KEY",
    "KEEL_ALLOWED_HOSTS",
    "KEEL_LOG",
    "KEEL_MODEL_AUTO_FETCH",
    "KEEL_MODEL_MIRROR",
    "KEEL_WHEEL_CACHE",
    "KEEL_TRACES_ENDPOINT",
];

/// Upper bound on any single wait, so a hung server fails the test instead of hanging it.
/// Nothing is asserted about how long anything takes.
const DEADLINE: Duration = Duration::from_secs(60);

/// Awaits `fut`, failing the test with `what` if it never completes.
pub(crate) async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(DEADLINE, fut).await {
        Ok(v) => v,
        Err(_) => panic!("{what}: no outcome within {DEADLINE:?} (server hung?)"),
    }
}

/// A `keel` command with a clean environment; `log` becomes `KEEL_LOG`. A missing model is
/// not downloaded (no test reaches the internet); tests of the download remove
/// `KEEL_MODEL_AUTO_FETCH` and serve the wheels themselves.
pub(crate) fn keel_command(log: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_keel"));
    for var in KEEL_ENV {
        cmd.env_remove(var);
    }
    cmd.env("KEEL_LOG", log);
    cmd.env("KEEL_MODEL_AUTO_FETCH", "0");
    // Each server gets its own working directory, so the demo database it creates there is
    // never shared with a server of another test.
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    if n == 0 {
        sweep_dead_runs();
    }
    let dir = std::env::temp_dir().join(format!("keel-e2e-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp working directory");
    cmd.current_dir(dir);
    cmd
}

/// Removes the working directories of test processes that have ended: a test's servers
/// outlive nothing of it, so what a finished run left is only litter.
fn sweep_dead_runs() {
    // Which processes live is read from /proc; without it, nothing is known dead.
    if !std::path::Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("keel-e2e-"))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// The environment of a request handed to a dispatcher in process: no session, no outbound
/// channel, an anonymous caller.
pub(crate) fn in_process_env(version: keel_protocol::ProtocolVersion) -> keel_core::RequestEnv {
    keel_core::RequestEnv {
        version,
        session: None,
        outbound: None,
        cancel: tokio_util::sync::CancellationToken::new(),
        sessions_enabled: false,
        cancellable_by_notification: false,
        principal: keel_core::Principal::anonymous(),
    }
}

/// The `_meta` every modern request carries.
pub(crate) fn modern_meta() -> Value {
    json!({
        META_VERSION: MODERN,
        META_CAPABILITIES: {},
        "io.modelcontextprotocol/clientInfo": { "name": "keel-e2e", "version": "0" },
    })
}

/// `params` with the modern `_meta` added.
pub(crate) fn with_modern_meta(mut params: Value) -> Value {
    params["_meta"] = modern_meta();
    params
}

/// A JSON-RPC request.
pub(crate) fn request(id: impl Into<Value>, method: &str, params: Value) -> Value {
    json!({ "jsonrpc": "2.0", "id": id.into(), "method": method, "params": params })
}

/// A JSON-RPC notification.
pub(crate) fn notification(method: &str) -> Value {
    json!({ "jsonrpc": "2.0", "method": method })
}

/// A legacy `initialize` request asking for `version`.
pub(crate) fn initialize(id: i64, version: &str) -> Value {
    request(
        id,
        "initialize",
        json!({
            "protocolVersion": version,
            "capabilities": {},
            "clientInfo": { "name": "keel-e2e", "version": "0" },
        }),
    )
}

/// `tools/call` of `echo` with `text`.
pub(crate) fn echo_params(text: &str) -> Value {
    json!({ "name": "echo", "arguments": { "text": text } })
}

/// The text of a successful `echo` result, checking its shape on the way.
pub(crate) fn echoed_text(result: &Value) -> &str {
    assert_ne!(result["isError"], json!(true), "echo failed: {result}");
    let content = result["content"]
        .as_array()
        .unwrap_or_else(|| panic!("no content array in {result}"));
    assert_eq!(content.len(), 1, "one content block expected: {result}");
    assert_eq!(
        content[0]["type"], "text",
        "text content expected: {result}"
    );
    content[0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("content text is not a string: {result}"))
}

/// Asserts `message` is a JSON-RPC error response with `code` and `id`; returns the error
/// object.
pub(crate) fn expect_error<'a>(message: &'a Value, code: i64, id: &Value) -> &'a Value {
    assert_eq!(message["jsonrpc"], "2.0", "not JSON-RPC 2.0: {message}");
    assert!(
        message.get("result").is_none(),
        "error expected, got a result: {message}"
    );
    assert_eq!(
        message["error"]["code"], code,
        "wrong error code: {message}"
    );
    assert!(
        message["error"]["message"].is_string(),
        "error without message: {message}"
    );
    assert_eq!(
        message.get("id"),
        Some(id),
        "wrong or missing id: {message}"
    );
    &message["error"]
}

/// Asserts `message` is a JSON-RPC result response with `id`; returns the result.
pub(crate) fn expect_result<'a>(message: &'a Value, id: &Value) -> &'a Value {
    assert_eq!(message["jsonrpc"], "2.0", "not JSON-RPC 2.0: {message}");
    assert!(
        message.get("error").is_none(),
        "result expected, got an error: {message}"
    );
    assert_eq!(message.get("id"), Some(id), "wrong id: {message}");
    message
        .get("result")
        .unwrap_or_else(|| panic!("no result in {message}"))
}

/// Runs `keel bench` on `url` with `args` (no SLO gate, any error rate) and returns its JSON
/// report; the run itself must succeed.
pub(crate) async fn keel_bench(url: &str, args: &[&str]) -> Value {
    let dir = tempfile::tempdir().expect("temp dir");
    let report = dir.path().join("r.json");
    let mut cmd = tokio::process::Command::from(keel_command("error"));
    cmd.args(["bench", "-q", url])
        .args(args)
        .args(["--slo", "none", "--max-error-rate", "1"])
        .args(["--json", &report.display().to_string()])
        .kill_on_drop(true);
    let out = within("keel bench", cmd.output())
        .await
        .expect("run keel bench");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&std::fs::read_to_string(&report).expect("report")).expect("JSON")
}

/// A `keel serve` process on a loopback port, killed when dropped.
pub(crate) struct KeelHttp {
    child: Child,
    /// The port it listens on.
    pub(crate) port: u16,
    /// `http://127.0.0.1:{port}/mcp`.
    pub(crate) url: String,
}

impl KeelHttp {
    /// Starts `keel serve` on a free loopback port and waits until it accepts connections.
    pub(crate) async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// [`Self::start`] with `config` (TOML) as its configuration file.
    pub(crate) async fn start_with_config(config: &str) -> Self {
        Self::start_with(|cmd| {
            let dir = cmd.get_current_dir().expect("working directory").to_owned();
            let path = dir.join("keel.toml");
            std::fs::write(&path, config).expect("write the configuration");
            cmd.env("KEEL_CONFIG", path);
        })
        .await
    }

    /// [`Self::start`] with the command adjusted by `configure` (environment, mostly).
    pub(crate) async fn start_with(configure: impl Fn(&mut Command)) -> Self {
        // Another process may take the port between probing and binding; then the server
        // exits and we try a fresh port.
        for _ in 0..5 {
            let port = free_port();
            let mut command = keel_command("error");
            configure(&mut command);
            let child = command
                .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("spawn keel");
            let mut server = Self {
                child,
                port,
                url: format!("http://127.0.0.1:{port}/mcp"),
            };
            if within("keel to accept connections", server.accepting()).await {
                return server;
            }
        }
        panic!("keel serve exited before accepting connections, five times");
    }

    /// Polls until the port accepts (true) or the process exits (false).
    async fn accepting(&mut self) -> bool {
        loop {
            if let Some(status) = self.child.try_wait().expect("poll keel") {
                eprintln!("keel serve exited early: {status}");
                return false;
            }
            if tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, self.port))
                .await
                .is_ok()
            {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Whether the process is still running.
    pub(crate) fn is_running(&mut self) -> bool {
        self.child.try_wait().expect("poll keel").is_none()
    }

    /// The process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM, as Kubernetes does to stop a pod.
    pub(crate) fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM failed: {status}");
    }

    /// Waits up to `limit` for the process to exit; `None` if it is still running then.
    pub(crate) async fn exit_within(
        &mut self,
        limit: Duration,
    ) -> Option<std::process::ExitStatus> {
        let start = std::time::Instant::now();
        while start.elapsed() < limit {
            if let Some(status) = self.child.try_wait().expect("poll keel") {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }

    /// How many file descriptors the process holds (Linux).
    pub(crate) fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .expect("read /proc/PID/fd")
            .count()
    }
}

impl Drop for KeelHttp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn free_port() -> u16 {
    let listener =
        TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).expect("bind probe port");
    listener.local_addr().expect("probe port address").port()
}
