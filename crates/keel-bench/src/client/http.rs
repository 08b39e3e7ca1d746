//! HTTP/1.1 keep-alive connections: one per worker, no pool, so a run uses exactly the
//! connections asked for (as wrk does).

use std::{net::SocketAddr, sync::Arc};

use bytes::{Bytes, BytesMut};
use http::{HeaderName, HeaderValue, Uri};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use super::{Answer, RequestHeaders};
use crate::stats::TransportError;

/// Why an endpoint URL cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    /// Not an `http://host:port/path` URL.
    #[error("`{0}` is not an http:// URL (https is not supported: put a TLS proxy in front)")]
    NotHttp(String),
    /// A header given with -H is not `Name: value`.
    #[error("header `{0}` is not `Name: value`")]
    Header(String),
    /// The host does not resolve.
    #[error("cannot resolve `{0}`")]
    Resolve(String),
}

/// Where requests go: the resolved address, the Host header, the path and extra headers.
#[derive(Debug)]
pub(crate) struct Endpoint {
    addr: SocketAddr,
    authority: HeaderValue,
    path: String,
    extra: Vec<(HeaderName, HeaderValue)>,
    url: String,
}

impl Endpoint {
    /// Resolves `url` once; `headers` are `Name: value` strings sent with every request.
    pub(crate) async fn resolve(url: &str, headers: &[String]) -> Result<Self, EndpointError> {
        let uri: Uri = url
            .parse()
            .map_err(|_| EndpointError::NotHttp(url.into()))?;
        if uri.scheme_str() != Some("http") {
            return Err(EndpointError::NotHttp(url.into()));
        }
        let authority = uri
            .authority()
            .ok_or_else(|| EndpointError::NotHttp(url.into()))?
            .clone();
        let port = authority.port_u16().unwrap_or(80);
        let addr = tokio::net::lookup_host((authority.host(), port))
            .await
            .ok()
            .and_then(|mut a| a.next())
            .ok_or_else(|| EndpointError::Resolve(authority.host().into()))?;
        let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
        let mut extra = Vec::new();
        for h in headers {
            let (name, value) = h
                .split_once(':')
                .ok_or_else(|| EndpointError::Header(h.clone()))?;
            let name =
                HeaderName::try_from(name.trim()).map_err(|_| EndpointError::Header(h.clone()))?;
            let value = HeaderValue::try_from(value.trim())
                .map_err(|_| EndpointError::Header(h.clone()))?;
            extra.push((name, value));
        }
        Ok(Self {
            addr,
            authority: HeaderValue::try_from(authority.as_str())
                .map_err(|_| EndpointError::NotHttp(url.into()))?,
            path,
            extra,
            url: url.into(),
        })
    }

    /// The URL as given.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }
}

/// Largest response head read.
const MAX_HEAD: usize = 64 * 1024;
/// Largest response body read.
const MAX_BODY: usize = 64 * 1024 * 1024;
/// Most headers in a response head.
const MAX_HEADERS: usize = 64;

/// One open HTTP/1.1 keep-alive connection, driven by the worker that owns it.
///
/// hyper's client connection was the first choice and works, but it runs each connection as
/// a separate task: every request crosses two task hand-offs, which on a loaded generator
/// thread shows up as latency the server did not cause (measured: p50 ~30 % above wrk's at
/// equal throughput). Writing the request and parsing the answer (httparse) in the worker's
/// own task measures what wrk measures: from the write to the parsed answer.
pub(crate) struct Connection {
    stream: TcpStream,
    read: BytesMut,
    write: Vec<u8>,
}

impl Connection {
    /// Connects with Nagle off (requests are small and latency-bound).
    pub(crate) async fn open(endpoint: &Arc<Endpoint>) -> std::io::Result<Self> {
        let stream = TcpStream::connect(endpoint.addr).await?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            read: BytesMut::with_capacity(16 * 1024),
            write: Vec::with_capacity(2048),
        })
    }

    /// POSTs `body` with the MCP headers and reads the whole answer. `Ok` with `closing` set
    /// means the server will close the connection after this answer.
    pub(crate) async fn post(
        &mut self,
        endpoint: &Endpoint,
        headers: &RequestHeaders,
        body: &[u8],
    ) -> Result<(Answer, bool), TransportError> {
        self.write.clear();
        let w = &mut self.write;
        w.extend_from_slice(b"POST ");
        w.extend_from_slice(endpoint.path.as_bytes());
        w.extend_from_slice(b" HTTP/1.1\r\nhost: ");
        w.extend_from_slice(endpoint.authority.as_bytes());
        w.extend_from_slice(
            b"\r\ncontent-type: application/json\r\naccept: application/json, text/event-stream\r\n",
        );
        let mut header = |name: &[u8], value: &Option<HeaderValue>| {
            if let Some(v) = value {
                w.extend_from_slice(name);
                w.extend_from_slice(v.as_bytes());
                w.extend_from_slice(b"\r\n");
            }
        };
        header(b"mcp-protocol-version: ", &headers.protocol_version);
        header(b"mcp-method: ", &headers.method);
        header(b"mcp-name: ", &headers.name);
        header(b"mcp-session-id: ", &headers.session);
        for (name, value) in &headers.params {
            w.extend_from_slice(name.as_str().as_bytes());
            w.extend_from_slice(b": ");
            w.extend_from_slice(value.as_bytes());
            w.extend_from_slice(b"\r\n");
        }
        for (name, value) in &endpoint.extra {
            w.extend_from_slice(name.as_str().as_bytes());
            w.extend_from_slice(b": ");
            w.extend_from_slice(value.as_bytes());
            w.extend_from_slice(b"\r\n");
        }
        w.extend_from_slice(b"content-length: ");
        w.extend_from_slice(body.len().to_string().as_bytes());
        w.extend_from_slice(b"\r\n\r\n");
        w.extend_from_slice(body);
        self.stream
            .write_all(&self.write)
            .await
            .map_err(|_| TransportError::Io)?;
        self.read_answer().await
    }

    async fn fill(&mut self) -> Result<(), TransportError> {
        if self.read.capacity() - self.read.len() < 4096 {
            self.read.reserve(16 * 1024);
        }
        match self.stream.read_buf(&mut self.read).await {
            Ok(0) | Err(_) => Err(TransportError::Io),
            Ok(_) => Ok(()),
        }
    }

    async fn read_answer(&mut self) -> Result<(Answer, bool), TransportError> {
        let head = loop {
            let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut response = httparse::Response::new(&mut slots);
            match response.parse(&self.read) {
                Ok(httparse::Status::Complete(len)) => {
                    let status = response.code.unwrap_or(0);
                    // 1xx answers (100 Continue) precede the real one.
                    if (100..200).contains(&status) {
                        let _ = self.read.split_to(len);
                        continue;
                    }
                    break Head::of(status, response.version, response.headers, len)?;
                }
                Ok(httparse::Status::Partial) if self.read.len() < MAX_HEAD => self.fill().await?,
                _ => return Err(TransportError::Malformed),
            }
        };
        let _ = self.read.split_to(head.len);
        let body = match head.framing {
            Framing::Length(n) => {
                if n > MAX_BODY {
                    return Err(TransportError::Malformed);
                }
                while self.read.len() < n {
                    self.fill().await?;
                }
                self.read.split_to(n).freeze()
            }
            Framing::Chunked => self.read_chunked().await?,
            Framing::UntilClose => {
                while self.read.len() <= MAX_BODY {
                    if self.fill().await.is_err() {
                        break;
                    }
                }
                self.read.split().freeze()
            }
        };
        let closing = head.closing || matches!(head.framing, Framing::UntilClose);
        Ok((
            Answer {
                status: head.status,
                session_id: head.session_id,
                event_stream: head.event_stream,
                body,
            },
            closing,
        ))
    }

    async fn read_chunked(&mut self) -> Result<Bytes, TransportError> {
        let mut body = BytesMut::new();
        loop {
            let line_end = loop {
                if let Some(i) = self.read.windows(2).position(|w| w == b"\r\n") {
                    break i;
                }
                if self.read.len() > MAX_HEAD {
                    return Err(TransportError::Malformed);
                }
                self.fill().await?;
            };
            let size_text = std::str::from_utf8(&self.read[..line_end])
                .map_err(|_| TransportError::Malformed)?;
            let size_text = size_text.split(';').next().unwrap_or("").trim();
            let size =
                usize::from_str_radix(size_text, 16).map_err(|_| TransportError::Malformed)?;
            let _ = self.read.split_to(line_end + 2);
            if size == 0 {
                // Trailers, if any, end with an empty line.
                loop {
                    if let Some(i) = self.read.windows(2).position(|w| w == b"\r\n") {
                        let _ = self.read.split_to(i + 2);
                        if i == 0 {
                            return Ok(body.freeze());
                        }
                        continue;
                    }
                    if self.read.len() > MAX_HEAD {
                        return Err(TransportError::Malformed);
                    }
                    self.fill().await?;
                }
            }
            if body.len() + size > MAX_BODY {
                return Err(TransportError::Malformed);
            }
            while self.read.len() < size + 2 {
                self.fill().await?;
            }
            body.extend_from_slice(&self.read[..size]);
            let _ = self.read.split_to(size + 2);
        }
    }
}

/// How a response body is delimited.
enum Framing {
    Length(usize),
    Chunked,
    UntilClose,
}

/// What the generator needs from a response head.
struct Head {
    status: u16,
    len: usize,
    framing: Framing,
    closing: bool,
    event_stream: bool,
    session_id: Option<String>,
}

impl Head {
    fn of(
        status: u16,
        version: Option<u8>,
        headers: &[httparse::Header<'_>],
        len: usize,
    ) -> Result<Self, TransportError> {
        let mut head = Head {
            status,
            len,
            framing: Framing::UntilClose,
            // HTTP/1.0 closes unless told otherwise.
            closing: version == Some(0),
            event_stream: false,
            session_id: None,
        };
        let mut length = None;
        let mut chunked = false;
        for h in headers {
            let name = h.name;
            if name.eq_ignore_ascii_case("content-length") {
                length = Some(
                    std::str::from_utf8(h.value)
                        .ok()
                        .and_then(|v| v.trim().parse::<usize>().ok())
                        .ok_or(TransportError::Malformed)?,
                );
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = h.value.to_ascii_lowercase().ends_with(b"chunked");
            } else if name.eq_ignore_ascii_case("connection") {
                let v = h.value.to_ascii_lowercase();
                if v == b"close" {
                    head.closing = true;
                } else if v == b"keep-alive" {
                    head.closing = false;
                }
            } else if name.eq_ignore_ascii_case("content-type") {
                head.event_stream = h.value.starts_with(b"text/event-stream");
            } else if name.eq_ignore_ascii_case("mcp-session-id") {
                head.session_id = std::str::from_utf8(h.value).ok().map(str::to_owned);
            }
        }
        head.framing = if chunked {
            Framing::Chunked
        } else if let Some(n) = length {
            Framing::Length(n)
        } else if status == 204 || status == 304 {
            Framing::Length(0)
        } else {
            Framing::UntilClose
        };
        Ok(head)
    }
}

#[cfg(test)]
mod tests {
    use tokio::{io::AsyncWriteExt, net::TcpListener};

    use super::*;

    /// Serves `answers` in order, one per request head received, on one connection.
    async fn raw_server(answers: Vec<&'static str>) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 65536];
            for a in answers {
                let mut seen = Vec::new();
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    let n = s.read(&mut buf).await.unwrap();
                    seen.extend_from_slice(&buf[..n]);
                }
                // Byte by byte, so every framing is read across partial reads.
                for b in a.as_bytes() {
                    s.write_all(&[*b]).await.unwrap();
                }
            }
        });
        format!("http://{addr}/mcp")
    }

    #[tokio::test]
    async fn lengths_chunks_and_close_delimited_bodies_are_read_whole() {
        let url = raw_server(vec![
            "HTTP/1.1 200 OK\r\ncontent-length: 5\r\nmcp-session-id: s1\r\n\r\nhello",
            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-type: text/event-stream\r\n\r\n3;x=1\r\nabc\r\n4\r\ndefg\r\n0\r\ntrailer: t\r\n\r\n",
            "HTTP/1.1 503 Busy\r\ncontent-length: 2\r\nconnection: close\r\n\r\nno",
        ])
        .await;
        let endpoint = Arc::new(Endpoint::resolve(&url, &[]).await.unwrap());
        let mut c = Connection::open(&endpoint).await.unwrap();
        let h = RequestHeaders::default();
        let (a, closing) = c.post(&endpoint, &h, b"{}").await.unwrap();
        assert_eq!(
            (a.status, &a.body[..], a.session_id.as_deref(), closing),
            (200, &b"hello"[..], Some("s1"), false)
        );
        let (a, _) = c.post(&endpoint, &h, b"{}").await.unwrap();
        assert_eq!(
            (a.status, &a.body[..], a.event_stream),
            (200, &b"abcdefg"[..], true)
        );
        let (a, closing) = c.post(&endpoint, &h, b"{}").await.unwrap();
        assert_eq!((a.status, &a.body[..], closing), (503, &b"no"[..], true));
        // The server is gone: the next request fails as an I/O error, not a hang.
        assert_eq!(
            c.post(&endpoint, &h, b"{}").await.err(),
            Some(TransportError::Io)
        );
    }

    #[tokio::test]
    async fn a_hostile_answer_is_refused_before_it_is_buffered() {
        let url = raw_server(vec![
            "HTTP/1.1 200 OK\r\ncontent-length: 99999999999\r\n\r\n",
        ])
        .await;
        let endpoint = Arc::new(Endpoint::resolve(&url, &[]).await.unwrap());
        let mut c = Connection::open(&endpoint).await.unwrap();
        let r = c.post(&endpoint, &RequestHeaders::default(), b"").await;
        assert_eq!(r.err(), Some(TransportError::Malformed));
        assert!(
            Endpoint::resolve("https://example.com/mcp", &[])
                .await
                .is_err()
        );
        assert!(
            Endpoint::resolve("http://127.0.0.1:1/mcp", &["bad".into()])
                .await
                .is_err()
        );
    }
}
