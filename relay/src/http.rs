//! The TCP side: the viewer page and its assets, `/api/info`, `/healthz`, `/metrics`, and the
//! WebSocket endpoints for viewers (`/ws/sessions/:id`) and hosts without UDP (`/ws/host`).
//! Served over HTTPS when the relay has a real certificate. Request URIs are never logged:
//! they may carry tokens.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ws::WebSocket;
use axum::extract::{Path, Query, State, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::StreamExt;
use hyper_util::rt::{TokioIo, TokioTimer};
use protocol::{Transport, WS_PROTOCOL, limits};
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::assets;
use crate::auth::{Denied, admit};
use crate::link::{LinkRx, LinkTx};
use crate::shared::Shared;
use crate::viewer::MAX_VIEWER_MESSAGE;

const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Read and write buffer of every WebSocket. tungstenite zero-fills its whole read buffer
/// before each read, so its 128 KiB default made 128 KiB resident per idle viewer; larger
/// messages still arrive whole (the buffer grows to the announced frame length, bounded by
/// the maximum message size), only in reads of this size.
const WS_BUFFER: usize = 4 * 1024;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/api/info", get(info))
        .route("/metrics", get(metrics))
        .route("/s/{id}", get(page))
        .route("/assets/{name}", get(asset))
        .route("/ws/sessions/{id}", get(ws_viewer))
        .route("/ws/host", get(ws_host))
        .with_state(shared)
}

async fn info(State(shared): State<Arc<Shared>>) -> Response {
    let body = serde_json::json!({
        "version": env!("CARGO_PKG_VERSION"),
        "protocol": protocol::PROTOCOL_VERSION,
        "quic": shared.quic_public,
        "webtransport": shared.webtransport_public,
        "fingerprints": shared.certs.fingerprints(),
        "self_signed": shared.certs.is_self_signed(),
    });
    ([(header::CACHE_CONTROL, "no-store")], axum::Json(body)).into_response()
}

async fn metrics(State(shared): State<Arc<Shared>>) -> Response {
    let text = shared.render_metrics();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

fn file(name: &str, cache: &'static str) -> Response {
    match assets::get(name) {
        Some((content_type, bytes)) => (
            [
                (header::CONTENT_TYPE, content_type),
                (header::CACHE_CONTROL, cache),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
                (header::REFERRER_POLICY, "no-referrer"),
            ],
            bytes,
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn page(Path(_id): Path<String>) -> Response {
    file("index.html", "no-store")
}

async fn asset(Path(name): Path<String>) -> Response {
    if name == "index.html" {
        return StatusCode::NOT_FOUND.into_response();
    }
    file(&name, "no-cache")
}

#[derive(Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

/// The token offered as `Sec-WebSocket-Protocol: share.v1, token.<jwt>`, if any.
fn protocol_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|p| p.trim().strip_prefix("token.").map(str::to_owned))
}

async fn ws_viewer(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    Query(query): Query<TokenQuery>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let header_token = protocol_token(&headers);
    let in_header = header_token.is_some() && query.token.is_none();
    let token = query.token.or(header_token);
    let (session, mode) = match admit(&shared, &id, token.as_deref()) {
        Ok(admitted) => admitted,
        Err(Denied::Forbidden) => return StatusCode::FORBIDDEN.into_response(),
        Err(Denied::NotFound) => return StatusCode::NOT_FOUND.into_response(),
    };
    let ws = bounded(ws, MAX_VIEWER_MESSAGE);
    let ws = if in_header {
        ws.protocols([WS_PROTOCOL])
    } else {
        ws
    };
    let tracker = shared.tracker.clone();
    ws.on_upgrade(move |socket: WebSocket| {
        let (sink, stream) = socket.split();
        tracker.track_future(crate::viewer::serve(
            shared,
            session,
            mode,
            Transport::WebSocket,
            LinkRx::WebSocket(stream),
            LinkTx::WebSocket(sink),
        ))
    })
}

async fn ws_host(State(shared): State<Arc<Shared>>, ws: WebSocketUpgrade) -> Response {
    let max = limits::MAX_FRAME_BYTES + 16;
    let tracker = shared.tracker.clone();
    bounded(ws, max).on_upgrade(move |socket: WebSocket| {
        let (sink, stream) = socket.split();
        tracker.track_future(crate::host::serve(
            shared,
            LinkRx::WebSocket(stream),
            LinkTx::WebSocket(sink),
        ))
    })
}

/// Bounds a WebSocket's messages to `max_message` bytes and its buffers to [`WS_BUFFER`].
fn bounded(ws: WebSocketUpgrade, max_message: usize) -> WebSocketUpgrade {
    ws.max_message_size(max_message)
        .max_frame_size(max_message)
        .read_buffer_size(WS_BUFFER)
        .write_buffer_size(WS_BUFFER)
}

/// Accepts TCP connections until shutdown, with TLS when `tls` is set.
pub(crate) async fn serve(
    shared: Arc<Shared>,
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    router: Router,
) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shared.shutdown.cancelled() => return,
        };
        let Ok((stream, _peer)) = accepted else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let tls = tls.clone();
        let shutdown = shared.shutdown.clone();
        shared.tracker.spawn(async move {
            match tls {
                None => connection(stream, router, shutdown).await,
                Some(acceptor) => {
                    if let Ok(Ok(stream)) =
                        tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await
                        && !crate::acme::is_validation(&stream)
                    {
                        connection(stream, router, shutdown).await;
                    }
                }
            }
        });
    }
}

async fn connection<I>(io: I, router: Router, shutdown: tokio_util::sync::CancellationToken)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |request| {
        let mut router = router.clone();
        async move {
            let response: Result<Response, Infallible> =
                tower::Service::call(&mut router, request).await;
            response
        }
    });
    // A client that trickles its request headers is dropped instead of holding a task.
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = shutdown.cancelled() => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(Duration::from_secs(1), conn).await;
        }
    }
}
