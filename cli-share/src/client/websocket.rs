//! Byte-stream plumbing shared by the WebSocket clients: plain TCP or TLS behind one type.

use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use url::Url;

use crate::client::{NetError, Trust};

pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

pub(crate) type Ws = WebSocketStream<Box<dyn Io>>;

/// Read size of a WebSocket client. tungstenite zeroes this much of its buffer before
/// every read attempt, so its 128 KiB default cost a viewer about a microsecond of memset
/// per message (a load generator with 1,000 viewers spent most of a core on it); larger
/// messages still arrive whole, in reads of this size.
const READ_BUFFER: usize = 16 * 1024;

/// The configuration of our WebSocket clients: messages bounded by the protocol's limit.
pub fn websocket_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .max_message_size(Some(protocol::limits::MAX_FRAME_BYTES + 16))
        .max_frame_size(Some(protocol::limits::MAX_FRAME_BYTES + 16))
}

/// Opens a WebSocket to `url` (`ws:` or `wss:`), with TLS trusting `trust`.
pub(crate) async fn websocket(
    url: &Url,
    trust: &Trust,
    protocol: Option<&str>,
) -> Result<Ws, NetError> {
    let host = url
        .host_str()
        .ok_or_else(|| NetError::Url("no host".into()))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = url
        .port_or_known_default()
        .ok_or_else(|| NetError::Url("no port".into()))?;
    let tcp = tokio::net::TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| NetError::Connect(e.to_string()))?;
    let _ = tcp.set_nodelay(true);
    let stream: Box<dyn Io> = match url.scheme() {
        "wss" => {
            let config = trust.client_config(&[b"http/1.1"])?;
            let name = rustls_pki_types::ServerName::try_from(host)
                .map_err(|e| NetError::Url(e.to_string()))?;
            let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
                .connect(name, tcp)
                .await
                .map_err(|e| NetError::from_io(&e))?;
            Box::new(tls)
        }
        _ => Box::new(tcp),
    };
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|e| NetError::Url(e.to_string()))?;
    if let Some(protocol) = protocol {
        let value = HeaderValue::from_str(protocol).map_err(|e| NetError::Url(e.to_string()))?;
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", value);
    }
    match tokio_tungstenite::client_async_with_config(request, stream, Some(websocket_config()))
        .await
    {
        Ok((ws, _response)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            Err(NetError::from_status(response.status().as_u16()))
        }
        Err(e) => Err(NetError::Connect(e.to_string())),
    }
}

/// `http(s)://…` to `ws(s)://…` with `path`.
pub(crate) fn ws_url(base: &Url, path: &str) -> Result<Url, NetError> {
    let mut url = crate::client::share_url::ShareUrl::endpoint(base, path)?;
    let scheme = if base.scheme() == "https" {
        "wss"
    } else {
        "ws"
    };
    url.set_scheme(scheme)
        .map_err(|_| NetError::Url("cannot make a WebSocket URL".into()))?;
    Ok(url)
}
