//! A child process speaking newline-delimited JSON-RPC on stdin/stdout.

use std::{process::Stdio, time::Duration};

use serde_json::Value;
use tokio::{
    io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
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
                // At most MAX_ANSWER bytes of a line are held; the rest is read and dropped.
                match (&mut reader)
                    .take(MAX_ANSWER as u64)
                    .read_until(b'\n', &mut line)
                    .await
                {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        if line.last() != Some(&b'\n') && !skip_to_newline(&mut reader).await {
                            break;
                        }
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

/// Reads and drops what is left of an over-long line, a bounded chunk at a time; false at the
/// end of the stream.
async fn skip_to_newline(reader: &mut (impl AsyncBufRead + Unpin)) -> bool {
    let mut chunk = Vec::new();
    loop {
        chunk.clear();
        match reader.take(64 * 1024).read_until(b'\n', &mut chunk).await {
            Ok(0) | Err(_) => return false,
            Ok(_) if chunk.last() == Some(&b'\n') => return true,
            Ok(_) => {}
        }
    }
}
