//! Raw sockets for what a well-behaved client library will not do: trickle a head, say
//! nothing, push a body past any limit.

use std::{net::SocketAddr, time::Duration};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    time::Instant,
};

/// How a raw connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RawOutcome {
    /// The server closed (or reset) it, after this long.
    Closed(Duration),
    /// The server answered with this status, after this long.
    Answered(u16, Duration),
    /// Still open at the bound.
    StillOpen,
    /// Could not connect.
    ConnectFailed,
}

/// Opens a connection and holds it for up to `bound`: sends `head` one byte every
/// `interval` (cycling a harmless header line once the head's first bytes are out) or,
/// when `head` is empty, nothing at all. Reports when the server cut it.
pub(crate) async fn held_open(
    addr: SocketAddr,
    head: &[u8],
    interval: Duration,
    bound: Duration,
) -> RawOutcome {
    let Ok(Ok(mut stream)) = tokio::time::timeout(bound, TcpStream::connect(addr)).await else {
        return RawOutcome::ConnectFailed;
    };
    let start = Instant::now();
    let deadline = start + bound;
    let filler = b"X-Keel-Audit: slow\r\n";
    let mut sent = 0usize;
    let mut buf = [0u8; 1024];
    loop {
        let next = if head.is_empty() {
            deadline
        } else {
            (Instant::now() + interval).min(deadline)
        };
        tokio::select! {
            r = stream.read(&mut buf) => {
                return match r {
                    Ok(0) | Err(_) => RawOutcome::Closed(start.elapsed()),
                    Ok(n) => RawOutcome::Answered(status_of(&buf[..n]).unwrap_or(0), start.elapsed()),
                };
            }
            _ = tokio::time::sleep_until(next) => {}
        }
        if Instant::now() >= deadline {
            return RawOutcome::StillOpen;
        }
        let byte = if sent < head.len() {
            head[sent]
        } else {
            filler[(sent - head.len()) % filler.len()]
        };
        sent += 1;
        if stream.write_all(&[byte]).await.is_err() {
            return RawOutcome::Closed(start.elapsed());
        }
    }
}

/// Sends `head` then `body_len` bytes of a JSON string body in chunks, stopping when the
/// server answers or closes; waits up to `timeout` in all.
pub(crate) async fn send_oversized(
    addr: SocketAddr,
    head: Vec<u8>,
    prefix: &[u8],
    body_len: usize,
    suffix: &[u8],
    timeout: Duration,
) -> RawOutcome {
    let run = async {
        let Ok(mut stream) = TcpStream::connect(addr).await else {
            return RawOutcome::ConnectFailed;
        };
        let start = Instant::now();
        if stream.write_all(&head).await.is_err() || stream.write_all(prefix).await.is_err() {
            return read_status(&mut stream, start).await;
        }
        let chunk = vec![b'a'; 64 * 1024];
        let mut left = body_len;
        while left > 0 {
            let n = left.min(chunk.len());
            // A server that refused early stops reading: the write fails or stalls.
            match tokio::time::timeout(Duration::from_secs(2), stream.write_all(&chunk[..n])).await
            {
                Ok(Ok(())) => left -= n,
                _ => return read_status(&mut stream, start).await,
            }
        }
        let _ = stream.write_all(suffix).await;
        read_status(&mut stream, start).await
    };
    tokio::time::timeout(timeout, run)
        .await
        .unwrap_or(RawOutcome::StillOpen)
}

async fn read_status(stream: &mut TcpStream, start: Instant) -> RawOutcome {
    let mut buf = vec![0u8; 4096];
    let mut got = 0;
    loop {
        match stream.read(&mut buf[got..]).await {
            Ok(0) | Err(_) => {
                return match status_of(&buf[..got]) {
                    Some(s) => RawOutcome::Answered(s, start.elapsed()),
                    None => RawOutcome::Closed(start.elapsed()),
                };
            }
            Ok(n) => {
                got += n;
                if let Some(s) = status_of(&buf[..got]) {
                    return RawOutcome::Answered(s, start.elapsed());
                }
                if got == buf.len() {
                    return RawOutcome::Closed(start.elapsed());
                }
            }
        }
    }
}

/// The status code of an HTTP/1.x status line at the start of `bytes`.
fn status_of(bytes: &[u8]) -> Option<u16> {
    let line = bytes.split(|b| *b == b'\n').next()?;
    let text = std::str::from_utf8(line).ok()?;
    let mut parts = text.split_whitespace();
    if !parts.next()?.starts_with("HTTP/1.") {
        return None;
    }
    parts.next()?.parse().ok()
}
