//! `share watch` against a hostile relay, played by the test on loopback: what the relay
//! says (its `/api/info` answer, a close reason) reaches the watcher's terminal without
//! control sequences, and an absurd date in its link-status answer is a clear refusal,
//! not a crash. The watcher is the real process; its output is what a terminal would get.

mod common;

use std::net::SocketAddr;
use std::process::Output;

use common::watch;
use futures::SinkExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// Sets the window's title: harmless to show, and unmistakable if it gets through.
const OSC_TITLE: &str = "\u{1b}]0;INJECTED\u{7}";

#[derive(Clone, Copy)]
enum Relay {
    /// `/api/info` names a QUIC endpoint made of control sequences.
    ForeignEndpoint,
    /// Accepts the viewer, then closes it as busy, with control sequences for a reason.
    BusyClose,
    /// Refuses the viewer (403); its link status says the link expired in the year 10000.
    ExpiredInYear10000,
    /// Answers `/api/info` with a chunked body that never ends.
    EndlessInfo,
    /// Takes the viewer, then says the session ended, with a message of several lines.
    EndedWithLines,
}

#[test]
fn a_relays_info_answer_reaches_the_terminal_without_control_sequences() {
    let output = watch_hostile(Relay::ForeignEndpoint);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert_shows_no_controls(&output, "sends QUIC to evil.example:443");
}

#[test]
fn a_relays_close_reason_reaches_the_terminal_without_control_sequences() {
    let output = watch_hostile(Relay::BusyClose);
    assert_shows_no_controls(&output, "the relay is busy: full share watch: fake");
}

#[test]
fn a_date_past_the_year_9999_is_no_answer_and_no_crash() {
    let output = watch_hostile(Relay::ExpiredInYear10000);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("the link is invalid or has expired"),
        "{stderr}"
    );
}

/// An answer without a length is read up to the bound, not buffered until the request
/// times out (10 s, gigabytes on a fast link).
#[test]
fn an_endless_info_answer_is_refused_at_the_bound() {
    let output = watch_hostile(Relay::EndlessInfo);
    assert!(!output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("answer too large"), "{stderr}");
}

#[test]
fn an_ending_message_stays_on_the_ending_line() {
    let output = watch_hostile(Relay::EndedWithLines);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("Session ended: the host stopped sharing (bye share watch: fake)"),
        "{output:?}"
    );
    assert_shows_no_controls(&output, "");
}

fn assert_shows_no_controls(output: &Output, expected: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(expected), "{stderr:?}");
    for (name, text) in [("stdout", &output.stdout), ("stderr", &output.stderr)] {
        let text = String::from_utf8_lossy(text);
        assert!(
            !text.trim_end().contains(|c: char| c.is_control()),
            "a control character reached the terminal on {name}: {text:?}"
        );
    }
}

/// Runs `share watch --transport ws --dump` against a fake relay behaving as `relay`.
fn watch_hostile(relay: Relay) -> Output {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let listener = runtime.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    runtime.spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(answer(tcp, addr, relay));
        }
    });
    let keys = "A".repeat(43);
    let link = format!("http://{addr}/s/AAAAAAAAAAAAAAAAAAAAAA#aaa.bbb.ccc.{keys}");
    let output = watch(&link, &["--transport", "ws", "--dump", "--timeout", "20"]);
    runtime.shutdown_background();
    output
}

async fn answer(mut tcp: TcpStream, addr: SocketAddr, relay: Relay) {
    let mut start = [0; 16];
    let Ok(n) = tcp.peek(&mut start).await else {
        return;
    };
    if start[..n].starts_with(b"GET /ws/") {
        match relay {
            Relay::BusyClose => return close_busy(tcp).await,
            Relay::EndedWithLines => return end_with_lines(tcp).await,
            _ => {}
        }
    }
    if read_request(&mut tcp).await.is_none() {
        return;
    }
    if start[..n].starts_with(b"GET /api/info") && matches!(relay, Relay::EndlessInfo) {
        return endless(tcp).await;
    }
    let (status, body) = match &start[..n] {
        s if s.starts_with(b"GET /api/info") => {
            let quic = match relay {
                Relay::ForeignEndpoint => format!("{OSC_TITLE}evil.example:443"),
                _ => addr.to_string(),
            };
            let info = serde_json::json!({
                "version": "0",
                "protocol": protocol::PROTOCOL_VERSION,
                "quic": quic,
                "webtransport": format!("https://{addr}"),
                "fingerprints": [],
                "self_signed": false,
            });
            ("200 OK", info.to_string())
        }
        s if s.starts_with(b"POST /api/sessions/") => (
            "403 Forbidden",
            r#"{"status":"expired","expired_at":253402300800}"#.to_owned(),
        ),
        s if s.starts_with(b"GET /ws/") => ("403 Forbidden", String::new()),
        _ => ("404 Not Found", String::new()),
    };
    let answer = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tcp.write_all(answer.as_bytes()).await;
}

/// A chunked answer of 16 KiB chunks, until the client goes away.
async fn endless(mut tcp: TcpStream) {
    let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                transfer-encoding: chunked\r\n\r\n";
    if tcp.write_all(head.as_bytes()).await.is_err() {
        return;
    }
    let chunk = format!("4000\r\n{}\r\n", " ".repeat(0x4000));
    while tcp.write_all(chunk.as_bytes()).await.is_ok() {}
}

/// Reads a request's head and body (by its content-length).
async fn read_request(tcp: &mut TcpStream) -> Option<()> {
    let mut request = Vec::new();
    let mut buf = [0; 4096];
    let head_end = loop {
        if let Some(at) = request.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        match tcp.read(&mut buf).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    };
    let head = String::from_utf8_lossy(&request[..head_end]).to_ascii_lowercase();
    let length = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|value| value.trim().parse::<usize>().ok())
        .unwrap_or(0);
    while request.len() < head_end + length {
        match tcp.read(&mut buf).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    Some(())
}

/// Takes the viewer's WebSocket.
// The handshake callback's error type is tungstenite's, large or not.
#[allow(clippy::result_large_err)]
async fn accept_viewer(tcp: TcpStream) -> Option<tokio_tungstenite::WebSocketStream<TcpStream>> {
    let agree = |_: &Request, mut response: Response| {
        let protocol = HeaderValue::from_static(protocol::WS_PROTOCOL);
        response
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", protocol);
        Ok(response)
    };
    tokio_tungstenite::accept_hdr_async(tcp, agree).await.ok()
}

/// Says the session ended, with a message that would print a line of its own.
async fn end_with_lines(tcp: TcpStream) {
    let Some(mut ws) = accept_viewer(tcp).await else {
        return;
    };
    let ended = protocol::RelayToViewer::Ended {
        reason: protocol::EndReason::HostEnded,
        message: "bye\nshare watch: fake".into(),
    };
    let _ = ws
        .send(Message::Binary(protocol::encode(&ended).unwrap().into()))
        .await;
    while let Some(Ok(_)) = futures::StreamExt::next(&mut ws).await {}
}

/// Takes the viewer's WebSocket, then closes it as busy, with a reason that would retitle
/// the window and print a line of its own.
async fn close_busy(tcp: TcpStream) {
    let Some(mut ws) = accept_viewer(tcp).await else {
        return;
    };
    let frame = CloseFrame {
        code: CloseCode::from(protocol::close::BUSY),
        reason: format!("full{OSC_TITLE}\nshare watch: fake").into(),
    };
    let _ = ws.send(Message::Close(Some(frame))).await;
    // Until the watcher closes its end.
    while let Some(Ok(_)) = futures::StreamExt::next(&mut ws).await {}
}
