//! A child process speaking newline-delimited JSON-RPC on stdin/stdout.

use std::{process::Stdio, time::Duration};

use serde_json::Value;
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    process::{Child, ChildStdin, Command},
    sync::mpsc,
};

use super::{Answer, MAX_ANSWER, WireError, messages_of};

/// The child, its stdin, and the lines of its stdout.
pub(crate) struct StdioChild {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
}

impl StdioChild {
    /// Starts `cmd` (program and arguments); its stderr is discarded.
    pub(crate) fn spawn(cmd: &[String]) -> std::io::Result<Self> {
        let (program, args) = cmd
            .split_first()
            .ok_or_else(|| std::io::Error::other("empty command"))?;
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        let stdin = child
            .stdin
            .take()
            .ok_or_else(|| std::io::Error::other("no stdin"))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| std::io::Error::other("no stdout"))?;
        let (tx, lines) = mpsc::channel(64);
        tokio::spawn(async move {
            let mut reader = BufReader::new(stdout);
            let mut line = Vec::new();
            loop {
                line.clear();
                match reader.read_until(b'\n', &mut line).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        line.truncate(MAX_ANSWER);
                        let text = String::from_utf8_lossy(&line).trim_end().to_owned();
                        if tx.send(text).await.is_err() {
                            break;
                        }
                    }
                }
            }
        });
        Ok(Self {
            child,
            stdin,
            lines,
        })
    }

    /// Writes `line` (no newline inside) and waits for a JSON-RPC response whose id is
    /// `id` (or null, as parse errors carry) within `timeout`. Server requests and
    /// notifications on the way are skipped.
    pub(crate) async fn exchange(
        &mut self,
        line: &[u8],
        id: Option<&Value>,
        timeout: Duration,
    ) -> Result<Answer, WireError> {
        let run = async {
            self.stdin.write_all(line).await?;
            self.stdin.write_all(b"\n").await?;
            self.stdin.flush().await?;
            loop {
                let text = self.lines.recv().await.ok_or(WireError::Closed)?;
                let messages = messages_of(&text, false);
                let matches = messages.iter().any(|m| {
                    (m.get("result").is_some() || m.get("error").is_some())
                        && match (m.get("id"), id) {
                            (Some(Value::Null) | None, _) => true,
                            (Some(got), Some(want)) => got == want,
                            (Some(_), None) => true,
                        }
                });
                // A batch answer is an array of responses.
                if matches || (messages.len() > 1) || messages.is_empty() && !text.is_empty() {
                    return Ok(Answer {
                        status: None,
                        headers: Vec::new(),
                        body: text,
                        messages,
                    });
                }
            }
        };
        match tokio::time::timeout(timeout, run).await {
            Ok(r) => r,
            Err(_) => Err(WireError::Timeout),
        }
    }

    /// Writes `line` and waits for nothing (a notification).
    pub(crate) async fn send_only(&mut self, line: &[u8]) -> Result<(), WireError> {
        self.stdin.write_all(line).await?;
        self.stdin.write_all(b"\n").await?;
        self.stdin.flush().await?;
        Ok(())
    }

    /// Whether the child has exited.
    pub(crate) fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }
}
