//! HTTP/1.1 keep-alive connections over hyper's client connection API: one connection per
//! worker, no pool, so a run uses exactly the connections asked for (as wrk does).

use std::{net::SocketAddr, sync::Arc};

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method, Request, Uri, header};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::{Answer, RequestHeaders};
use crate::stats::TransportError;

const MCP_PROTOCOL_VERSION: HeaderName = HeaderName::from_static("mcp-protocol-version");
const MCP_METHOD: HeaderName = HeaderName::from_static("mcp-method");
const MCP_NAME: HeaderName = HeaderName::from_static("mcp-name");
const MCP_SESSION_ID: HeaderName = HeaderName::from_static("mcp-session-id");
const ACCEPT_BOTH: HeaderValue = HeaderValue::from_static("application/json, text/event-stream");
const JSON: HeaderValue = HeaderValue::from_static("application/json");

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
    path: Uri,
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
        let path = uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
            .parse()
            .map_err(|_| EndpointError::NotHttp(url.into()))?;
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

/// One open HTTP/1.1 connection.
pub(crate) struct Connection {
    sender: SendRequest<Full<Bytes>>,
}

impl Connection {
    /// Connects; the connection's driver runs as its own task and ends with the connection.
    pub(crate) async fn open(endpoint: &Arc<Endpoint>) -> std::io::Result<Self> {
        let stream = TcpStream::connect(endpoint.addr).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(std::io::Error::other)?;
        tokio::spawn(async move {
            // Ends when the sender is dropped or the peer closes; errors surface on send.
            let _ = connection.await;
        });
        Ok(Self { sender })
    }

    /// POSTs `body` with the MCP headers and reads the whole answer.
    pub(crate) async fn post(
        &mut self,
        endpoint: &Endpoint,
        headers: &RequestHeaders,
        body: Bytes,
    ) -> Result<Answer, TransportError> {
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = endpoint.path.clone();
        let h = request.headers_mut();
        h.insert(header::HOST, endpoint.authority.clone());
        h.insert(header::CONTENT_TYPE, JSON);
        h.insert(header::ACCEPT, ACCEPT_BOTH);
        if let Some(v) = &headers.protocol_version {
            h.insert(MCP_PROTOCOL_VERSION, v.clone());
        }
        if let Some(v) = &headers.method {
            h.insert(MCP_METHOD, v.clone());
        }
        if let Some(v) = &headers.name {
            h.insert(MCP_NAME, v.clone());
        }
        if let Some(v) = &headers.session {
            h.insert(MCP_SESSION_ID, v.clone());
        }
        for (name, value) in &endpoint.extra {
            h.insert(name.clone(), value.clone());
        }
        self.sender.ready().await.map_err(|_| TransportError::Io)?;
        let response = self
            .sender
            .send_request(request)
            .await
            .map_err(|_| TransportError::Io)?;
        let status = response.status().as_u16();
        let session_id = response
            .headers()
            .get(MCP_SESSION_ID)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let event_stream = response
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|_| TransportError::Io)?
            .to_bytes();
        Ok(Answer {
            status,
            session_id,
            event_stream,
            body,
        })
    }
}
