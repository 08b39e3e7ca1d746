//! End to end, real `keel` binary with `[http.tls]`: MCP over TLS with a certificate made
//! here; plain HTTP, a stalled handshake and garbage are closed without harming other
//! clients; a certificate that cannot be read stops the start.

mod support;

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use support::{KeelHttp, http::modern_call, keel_command, within};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::{self, RootCertStore, pki_types::ServerName};

struct Certificate {
    dir: tempfile::TempDir,
    der: rustls::pki_types::CertificateDer<'static>,
}

fn certificate() -> Certificate {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("cert.pem"), made.cert.pem()).unwrap();
    std::fs::write(dir.path().join("key.pem"), made.signing_key.serialize_pem()).unwrap();
    Certificate {
        der: made.cert.der().clone(),
        dir,
    }
}

fn config(cert: &Certificate) -> String {
    let path = |f: &str| cert.dir.path().join(f).display().to_string();
    format!(
        "[http]\nheader_read_timeout_secs = 2\n[http.tls]\ncert = \"{}\"\nkey = \"{}\"\n",
        path("cert.pem"),
        path("key.pem")
    )
}

fn connector(cert: &Certificate) -> TlsConnector {
    let mut roots = RootCertStore::empty();
    roots.add(cert.der.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    TlsConnector::from(Arc::new(config))
}

/// One modern echo call over TLS; the status line and the JSON body.
async fn echo_over_tls(port: u16, tls: &TlsConnector, text: &str) -> (String, Value) {
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let mut stream = tls
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .expect("TLS handshake");
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    let body = modern_call(1, text).to_string();
    let head = format!(
        "POST /mcp HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\n\
         accept: application/json, text/event-stream\r\nmcp-protocol-version: 2026-07-28\r\n\
         mcp-method: tools/call\r\nmcp-name: echo\r\nconnection: close\r\n\
         content-length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    // The server closes after the answer (connection: close); rustls may report the
    // missing close_notify as an error once everything has been read.
    let _ = within("the TLS answer", stream.read_to_end(&mut answer)).await;
    let answer = String::from_utf8(answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").expect("a whole response");
    (
        head.lines().next().unwrap().to_owned(),
        serde_json::from_str(body).expect("a JSON body"),
    )
}

#[tokio::test]
async fn mcp_is_served_over_tls_and_bad_clients_are_closed() {
    let cert = certificate();
    let server = KeelHttp::start_with_config(&config(&cert)).await;
    let tls = connector(&cert);
    let (status, body) = echo_over_tls(server.port, &tls, "secret").await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert_eq!(body["result"]["content"][0]["text"], "secret");

    // Plain HTTP on the TLS port: not a handshake, closed.
    let mut plain = TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    plain
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let _ = within("plain HTTP closed", plain.read_to_end(&mut buf)).await;
    assert!(!String::from_utf8_lossy(&buf).contains("200 OK"));

    // A client that connects and never says hello is closed at the header timeout (2 s).
    let mut silent = TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let mut one = [0u8; 1];
    let read = tokio::time::timeout(Duration::from_secs(6), silent.read(&mut one)).await;
    assert!(
        matches!(read, Ok(Ok(0) | Err(_))),
        "a silent connection stayed open"
    );
    assert!(started.elapsed() >= Duration::from_millis(1500));

    // Others were served throughout.
    let (status, _) = echo_over_tls(server.port, &tls, "after").await;
    assert_eq!(status, "HTTP/1.1 200 OK");
}

#[tokio::test]
async fn a_certificate_that_cannot_be_read_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keel.toml");
    std::fs::write(
        &path,
        "[http.tls]\ncert = \"/nonexistent/cert.pem\"\nkey = \"/nonexistent/key.pem\"\n",
    )
    .unwrap();
    let out = keel_command("error")
        .current_dir(dir.path())
        .env("KEEL_CONFIG", &path)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("/nonexistent/cert.pem"), "{stderr}");
}
