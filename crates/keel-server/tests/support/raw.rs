//! A minimal HTTP/1.1 client over one keep-alive TCP connection, for tests that must know
//! exactly when a request's bytes left (shutdown) or must send malformed or partial heads.

// Each test binary compiles this module and uses only part of it.
#![allow(dead_code)]

use std::{io, time::Instant};

use serde_json::Value;
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::TcpStream,
};

use super::MODERN;

/// One keep-alive connection.
pub(crate) struct RawConn {
    stream: BufReader<TcpStream>,
    port: u16,
}

/// A response read off the connection.
#[derive(Debug)]
pub(crate) struct RawResponse {
    pub(crate) status: u16,
    /// Header names in lowercase.
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: String,
}

impl RawResponse {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| {
            panic!(
                "status {}: body is not JSON ({e}): {}",
                self.status, self.body
            )
        })
    }
}

impl RawConn {
    pub(crate) async fn connect(port: u16) -> io::Result<Self> {
        let stream = TcpStream::connect(("127.0.0.1", port)).await?;
        Ok(Self {
            stream: BufReader::new(stream),
            port,
        })
    }

    /// Writes raw bytes; returns when the kernel took them all.
    pub(crate) async fn write(&mut self, bytes: &[u8]) -> io::Result<Instant> {
        self.stream.get_mut().write_all(bytes).await?;
        Ok(Instant::now())
    }

    /// Sends a modern `tools/call` as a POST to `/mcp`; returns when its bytes were sent.
    pub(crate) async fn send_call(&mut self, body: &Value) -> io::Result<Instant> {
        let body = body.to_string();
        let name = body_name(&body);
        let head = format!(
            "POST /mcp HTTP/1.1\r\nhost: 127.0.0.1:{}\r\ncontent-type: application/json\r\n\
             accept: application/json, text/event-stream\r\nmcp-protocol-version: {MODERN}\r\n\
             mcp-method: tools/call\r\nmcp-name: {name}\r\ncontent-length: {}\r\n\r\n{body}",
            self.port,
            body.len()
        );
        self.write(head.as_bytes()).await
    }

    /// Sends `GET path`; returns when its bytes were sent.
    pub(crate) async fn send_get(&mut self, path: &str) -> io::Result<Instant> {
        let head = format!(
            "GET {path} HTTP/1.1\r\nhost: 127.0.0.1:{}\r\n\r\n",
            self.port
        );
        self.write(head.as_bytes()).await
    }

    /// Reads one response with a `Content-Length` body.
    pub(crate) async fn read_response(&mut self) -> io::Result<RawResponse> {
        let mut line = String::new();
        if self.stream.read_line(&mut line).await? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed before a response",
            ));
        }
        let status = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| io::Error::other(format!("bad status line {line:?}")))?;
        let mut headers = Vec::new();
        loop {
            line.clear();
            if self.stream.read_line(&mut line).await? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed within a response head",
                ));
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
            }
        }
        let length: usize = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .and_then(|(_, v)| v.parse().ok())
            .ok_or_else(|| io::Error::other("response without content-length"))?;
        let mut body = vec![0; length];
        self.stream.read_exact(&mut body).await?;
        Ok(RawResponse {
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    }

    /// Whether the server closed the connection: a read sees end of file or a reset.
    pub(crate) async fn closed_by_server(&mut self) -> bool {
        let mut buf = [0u8; 64];
        matches!(self.stream.read(&mut buf).await, Ok(0) | Err(_))
    }
}

fn body_name(body: &str) -> String {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v["params"]["name"].as_str().map(str::to_owned))
        .unwrap_or_default()
}
