//! A server run as a child process, spoken to over its stdin/stdout: one writer, one reader
//! that hands each answer to the request with its id. The child is killed when the peer is
//! dropped.

use std::{
    collections::HashMap,
    process::Stdio,
    sync::{Arc, Mutex},
};

use bytes::Bytes;
use serde::Deserialize;
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    process::{Child, ChildStdin, Command},
    sync::oneshot,
};

use super::Answer;
use crate::stats::TransportError;

/// Longest line read from the server; a longer one ends the run's reading.
const MAX_LINE: usize = 64 * 1024 * 1024;

/// Why the server process cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StdioError {
    /// No command after `--`.
    #[error("--stdio needs the server's command after `--`")]
    NoCommand,
    /// The command did not start.
    #[error("cannot start `{0}`: {1}")]
    Spawn(String, std::io::Error),
}

type Waiters = Arc<Mutex<HashMap<u64, oneshot::Sender<Bytes>>>>;

/// The child process and the answers it owes.
pub(crate) struct StdioPeer {
    stdin: tokio::sync::Mutex<ChildStdin>,
    waiters: Waiters,
    _child: Child,
}

impl StdioPeer {
    /// Starts `command`; its stderr is discarded.
    pub(crate) fn spawn(command: &[String]) -> Result<Self, StdioError> {
        let (program, args) = command.split_first().ok_or(StdioError::NoCommand)?;
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| StdioError::Spawn(command.join(" "), e))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(StdioError::Spawn(
                command.join(" "),
                std::io::Error::other("no pipes"),
            ));
        };
        let waiters: Waiters = Arc::default();
        let reading = Arc::clone(&waiters);
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout);
            let mut line = Vec::new();
            loop {
                line.clear();
                // Bounded before it is buffered: a line past the limit ends the reading.
                match (&mut lines)
                    .take(MAX_LINE as u64 + 1)
                    .read_until(b'\n', &mut line)
                    .await
                {
                    Ok(0) | Err(_) => break,
                    Ok(_) if line.len() > MAX_LINE => break,
                    Ok(_) => {}
                }
                let Some(id) = response_id(&line) else {
                    continue; // a notification or a request from the server
                };
                let waiter = reading.lock().ok().and_then(|mut w| w.remove(&id));
                if let Some(w) = waiter {
                    let _ = w.send(Bytes::copy_from_slice(&line));
                }
            }
            // The server is gone: every request still waiting fails now.
            if let Ok(mut w) = reading.lock() {
                w.clear();
            }
        });
        Ok(Self {
            stdin: tokio::sync::Mutex::new(stdin),
            waiters,
            _child: child,
        })
    }

    /// Writes one line and waits for the answer with `id`.
    pub(crate) async fn exchange(&self, id: u64, body: &[u8]) -> Result<Answer, TransportError> {
        let (tx, rx) = oneshot::channel();
        self.waiters
            .lock()
            .map_err(|_| TransportError::Io)?
            .insert(id, tx);
        {
            let mut stdin = self.stdin.lock().await;
            let written = async {
                stdin.write_all(body).await?;
                stdin.write_all(b"\n").await?;
                stdin.flush().await
            }
            .await;
            if written.is_err() {
                self.forget(id);
                return Err(TransportError::Io);
            }
        }
        let _abandoned = Forget { peer: self, id };
        let body = rx.await.map_err(|_| TransportError::Io)?;
        Ok(Answer {
            status: 200,
            session_id: None,
            event_stream: false,
            body,
        })
    }

    /// Writes one line that expects no answer (a notification).
    pub(crate) async fn send(&self, body: &[u8]) -> Result<(), TransportError> {
        let mut stdin = self.stdin.lock().await;
        stdin
            .write_all(body)
            .await
            .map_err(|_| TransportError::Io)?;
        stdin
            .write_all(b"\n")
            .await
            .map_err(|_| TransportError::Io)?;
        stdin.flush().await.map_err(|_| TransportError::Io)
    }

    fn forget(&self, id: u64) {
        if let Ok(mut w) = self.waiters.lock() {
            w.remove(&id);
        }
    }
}

/// Removes a waiter whose request was abandoned (timed out), so the map does not grow.
struct Forget<'a> {
    peer: &'a StdioPeer,
    id: u64,
}

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        self.peer.forget(self.id);
    }
}

/// The id of a JSON-RPC response (a line with `result` or `error` and a numeric id).
fn response_id(line: &[u8]) -> Option<u64> {
    #[derive(Deserialize)]
    struct Head {
        id: Option<u64>,
        method: Option<serde::de::IgnoredAny>,
    }
    let head: Head = serde_json::from_slice(line).ok()?;
    if head.method.is_some() {
        return None;
    }
    head.id
}
