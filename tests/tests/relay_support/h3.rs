//! A minimal HTTP/3 extended CONNECT, to read the status the relay answers a WebTransport
//! session request with (the wtransport client only reports "rejected"). It speaks just
//! enough HTTP/3 through wtransport's own protocol types: a control stream with settings,
//! one request stream with the CONNECT headers, and the response headers back.

use std::sync::Arc;

use cli_share::net::Trust;
use wtransport::VarInt;
use wtransport::proto::frame::{Frame, FrameKind};
use wtransport::proto::headers::Headers;
use wtransport::proto::session::{SessionRequest, SessionResponse};
use wtransport::proto::settings::Settings;
use wtransport::proto::stream_header::StreamHeader;

/// The HTTP status of a WebTransport CONNECT to `url` on the relay at `addr`.
pub async fn connect_status(addr: std::net::SocketAddr, trust: &Trust, url: &str) -> u16 {
    let tls = trust.client_config(&[b"h3"]).expect("TLS config");
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls).expect("QUIC TLS");
    let config = quinn::ClientConfig::new(Arc::new(crypto));
    let endpoint = quinn::Endpoint::client((std::net::Ipv4Addr::LOCALHOST, 0).into()).unwrap();
    let conn = endpoint
        .connect_with(config, addr, "localhost")
        .unwrap()
        .await
        .expect("QUIC handshake");

    let mut control = Vec::new();
    StreamHeader::new_control().write(&mut control).unwrap();
    Settings::builder()
        .qpack_max_table_capacity(VarInt::from_u32(0))
        .qpack_blocked_streams(VarInt::from_u32(0))
        .enable_webtransport()
        .enable_h3_datagrams()
        .webtransport_max_sessions(VarInt::from_u32(1))
        .build()
        .generate_frame()
        .write(&mut control)
        .unwrap();
    let mut control_stream = conn.open_uni().await.unwrap();
    control_stream.write_all(&control).await.unwrap();

    let request = SessionRequest::new(url).expect("CONNECT URL");
    let mut headers = Vec::new();
    request
        .headers()
        .generate_frame()
        .write(&mut headers)
        .unwrap();
    let (mut send, mut recv) = conn.open_bi().await.unwrap();
    send.write_all(&headers).await.unwrap();

    let mut received = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let mut reader: &[u8] = &received;
        if let Some(frame) = Frame::read(&mut reader).expect("valid HTTP/3 frame") {
            assert!(
                matches!(frame.kind(), FrameKind::Headers),
                "expected response headers"
            );
            let headers = Headers::with_frame(&frame).expect("QPACK headers");
            let response = SessionResponse::try_from(headers).expect("a response");
            conn.close(quinn::VarInt::from_u32(0), b"");
            return response.code().into_inner();
        }
        let n = recv
            .read(&mut chunk)
            .await
            .expect("response stream")
            .expect("response before the stream ends");
        received.extend_from_slice(&chunk[..n]);
    }
}
