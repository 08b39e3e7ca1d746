//! One HTTP/1.1 request per connection over hyper's low-level client, so every header
//! (Host included) is exactly what the probe set.

use std::{
    net::{IpAddr, SocketAddr},
    time::Duration,
};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::{Answer, MAX_ANSWER, WireError, messages_of};

/// Why the target URL cannot be audited.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// Not an `http://host[:port]/path` URL.
    #[error("not an http:// URL: {0}")]
    BadUrl(String),
    /// The host name did not resolve.
    #[error("cannot resolve {0}")]
    Resolve(String),
}

/// Where an HTTP target lives.
#[derive(Debug, Clone)]
pub(crate) struct HttpTarget {
    /// Resolved socket address.
    pub(crate) addr: SocketAddr,
    /// `host[:port]` as in the URL (the honest Host header).
    pub(crate) authority: String,
    /// Path (and query) of the MCP endpoint.
    pub(crate) path: String,
    /// Whether the server listens on a loopback address.
    pub(crate) loopback: bool,
}

impl HttpTarget {
    /// Parses and resolves `url`.
    pub(crate) async fn resolve(url: &str) -> Result<Self, TargetError> {
        let uri: http::Uri = url.parse().map_err(|_| TargetError::BadUrl(url.into()))?;
        if uri.scheme_str() != Some("http") {
            return Err(TargetError::BadUrl(url.into()));
        }
        let authority = uri
            .authority()
            .ok_or_else(|| TargetError::BadUrl(url.into()))?
            .clone();
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        let port = authority.port_u16().unwrap_or(80);
        let addr = tokio::net::lookup_host((host, port))
            .await
            .map_err(|_| TargetError::Resolve(host.into()))?
            .next()
            .ok_or_else(|| TargetError::Resolve(host.into()))?;
        let loopback =
            host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
        let path = uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|| "/".into());
        Ok(Self {
            addr,
            authority: authority.as_str().to_owned(),
            path,
            loopback: loopback || addr.ip().is_loopback(),
        })
    }

    /// Sends `req` on a fresh connection and reads the answer within `timeout`. An SSE
    /// body is read until it carries a JSON-RPC response.
    pub(crate) async fn send(
        &self,
        req: HttpRequest,
        timeout: Duration,
    ) -> Result<Answer, WireError> {
        match tokio::time::timeout(timeout, self.send_inner(req)).await {
            Ok(r) => r,
            Err(_) => Err(WireError::Timeout),
        }
    }

    async fn send_inner(&self, req: HttpRequest) -> Result<Answer, WireError> {
        let stream = TcpStream::connect(self.addr).await?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        let driver = tokio::spawn(async move {
            let _ = conn.await;
        });
        let mut builder = http::Request::builder()
            .method(req.method.as_str())
            .uri(req.path.as_str());
        let mut has_host = false;
        for (name, value) in &req.headers {
            has_host |= name.eq_ignore_ascii_case("host");
            builder = builder.header(name.as_str(), value.as_str());
        }
        if !has_host {
            builder = builder.header("host", self.authority.as_str());
        }
        let request = builder
            .body(Full::new(req.body))
            .map_err(|e| WireError::Io(std::io::Error::other(e)))?;
        let response = sender.send_request(request).await;
        let result = match response {
            Ok(resp) => read_answer(resp).await,
            Err(e) => Err(WireError::Http(e)),
        };
        driver.abort();
        result
    }
}

async fn read_answer(resp: http::Response<hyper::body::Incoming>) -> Result<Answer, WireError> {
    let status = resp.status().as_u16();
    let headers: Vec<(String, String)> = resp
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let sse = headers
        .iter()
        .any(|(n, v)| n == "content-type" && v.starts_with("text/event-stream"));
    let mut body = resp.into_body();
    let mut bytes: Vec<u8> = Vec::new();
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame?.into_data() else {
            continue;
        };
        if bytes.len() < MAX_ANSWER {
            bytes.extend_from_slice(&data);
        }
        // An SSE stream may stay open after the response: stop at the response.
        if sse {
            let text = String::from_utf8_lossy(&bytes);
            let msgs = messages_of(&text, true);
            if msgs
                .iter()
                .any(|m| m.get("result").is_some() || m.get("error").is_some())
            {
                break;
            }
        }
    }
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let messages = messages_of(&text, sse);
    Ok(Answer {
        status: Some(status),
        headers,
        body: text,
        messages,
    })
}

/// One HTTP request as a probe builds it.
#[derive(Debug, Clone)]
pub(crate) struct HttpRequest {
    /// `GET`, `POST`, `DELETE`.
    pub(crate) method: String,
    /// Path and query.
    pub(crate) path: String,
    /// Headers; a `host` here replaces the honest one.
    pub(crate) headers: Vec<(String, String)>,
    /// The body.
    pub(crate) body: Bytes,
}
