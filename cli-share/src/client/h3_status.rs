//! The HTTP status a relay answers a WebTransport CONNECT with. The wtransport client only
//! reports "rejected"; to tell a bad link (403) from a gone session (404) this speaks just
//! enough HTTP/3, through wtransport's own protocol types: a control stream with settings,
//! one request stream with the CONNECT headers, and the response headers back.

use wtransport::VarInt;
use wtransport::proto::frame::{Frame, FrameKind};
use wtransport::proto::headers::Headers;
use wtransport::proto::session::{SessionRequest, SessionResponse};
use wtransport::proto::settings::Settings;
use wtransport::proto::stream_header::StreamHeader;

use crate::client::quic;
use crate::client::{NetError, RelayInfo};

/// Response headers larger than this are not a relay's.
const MAX_RESPONSE_BYTES: usize = 16 * 1024;

fn protocol_error(what: &str) -> NetError {
    NetError::Protocol(format!("HTTP/3: {what}"))
}

/// Sends a WebTransport CONNECT for `url` (an `https://host:port/...` URL) and returns the
/// status of the response, closing the connection right after.
pub async fn connect_status(relay: &RelayInfo, url: &str) -> Result<u16, NetError> {
    let parsed = url::Url::parse(url).map_err(|e| NetError::Url(e.to_string()))?;
    let authority = format!(
        "{}:{}",
        parsed.host_str().unwrap_or_default(),
        parsed.port_or_known_default().unwrap_or(443)
    );
    let (_endpoint, conn) = quic::dial(relay, &authority, protocol::WEBTRANSPORT_ALPN).await?;
    let status = exchange(&conn, url).await;
    conn.close(quinn::VarInt::from_u32(0), b"");
    status
}

async fn exchange(conn: &quinn::Connection, url: &str) -> Result<u16, NetError> {
    let closed = |e: &dyn std::fmt::Display| NetError::Closed(e.to_string());
    let mut control = Vec::new();
    StreamHeader::new_control()
        .write(&mut control)
        .map_err(|_| protocol_error("control header"))?;
    Settings::builder()
        .qpack_max_table_capacity(VarInt::from_u32(0))
        .qpack_blocked_streams(VarInt::from_u32(0))
        .enable_webtransport()
        .enable_h3_datagrams()
        .webtransport_max_sessions(VarInt::from_u32(1))
        .build()
        .generate_frame()
        .write(&mut control)
        .map_err(|_| protocol_error("settings"))?;
    let mut control_stream = conn.open_uni().await.map_err(|e| closed(&e))?;
    control_stream
        .write_all(&control)
        .await
        .map_err(|e| closed(&e))?;

    let request = SessionRequest::new(url).map_err(|e| NetError::Url(e.to_string()))?;
    let mut headers = Vec::new();
    request
        .headers()
        .generate_frame()
        .write(&mut headers)
        .map_err(|_| protocol_error("request headers"))?;
    let (mut send, mut recv) = conn.open_bi().await.map_err(|e| closed(&e))?;
    send.write_all(&headers).await.map_err(|e| closed(&e))?;

    let mut received = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let mut reader: &[u8] = &received;
        if let Some(frame) = Frame::read(&mut reader).map_err(|_| protocol_error("bad frame"))? {
            if !matches!(frame.kind(), FrameKind::Headers) {
                return Err(protocol_error("expected response headers"));
            }
            let headers = Headers::with_frame(&frame).map_err(|_| protocol_error("QPACK"))?;
            let response =
                SessionResponse::try_from(headers).map_err(|_| protocol_error("no status"))?;
            return Ok(response.code().into_inner());
        }
        let n = recv
            .read(&mut chunk)
            .await
            .map_err(|e| closed(&e))?
            .ok_or_else(|| protocol_error("stream ended before the response"))?;
        received.extend_from_slice(chunk.get(..n).unwrap_or_default());
        if received.len() > MAX_RESPONSE_BYTES {
            return Err(protocol_error("response too large"));
        }
    }
}
