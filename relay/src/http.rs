//! The TCP side: the viewer page and its assets, `/api/info`, `/healthz`, `/metrics`, a
//! link's status (`link_status.rs`), and the WebSocket endpoints for viewers (`/ws/sessions/:id`) and hosts without UDP (`/ws/host`).
//! Served over HTTPS when the relay has a real certificate. Request URIs are never logged:
//! they may carry tokens. Every connection is admitted against the connection limits (or
//! answered 429/503 with `Retry-After`) and runs under the idle and write timeouts; a failing
//! accept (out of file descriptors) backs off instead of spinning.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ws::WebSocket;
use axum::extract::{Extension, Path, Query, State, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::StreamExt;
use hyper_util::rt::{TokioIo, TokioTimer};
use protocol::{Transport, WS_PROTOCOL, limits};
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::admission::{Limited, Slot};
use crate::assets;
use crate::auth::{Denied, admit};
use crate::deadline::Deadline;
use crate::host::Origin;
use crate::link::{LinkRx, LinkTx};
use crate::metrics::add;
use crate::peer::Peer;
use crate::shared::Shared;
use crate::viewer::MAX_VIEWER_MESSAGE;

const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a refused client gets to read its 429 or 503.
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(3);
/// Back-off after a failed accept, doubling up to the maximum: when file descriptors run
/// out, accept fails at once until one is freed, and retrying at once would spin a core.
const MIN_ACCEPT_BACKOFF: Duration = Duration::from_millis(10);
const MAX_ACCEPT_BACKOFF: Duration = Duration::from_secs(1);
/// Read and write buffer of every WebSocket. tungstenite zero-fills its whole read buffer
/// before each read, so its 128 KiB default made 128 KiB resident per idle viewer; larger
/// messages still arrive whole (the buffer grows to the announced frame length, bounded by
/// the maximum message size), only in reads of this size.
const WS_BUFFER: usize = 4 * 1024;

/// How long a browser that saw the relay over HTTPS keeps to HTTPS for it (a year, the
/// usual value): a later `http://` link, or a network that strips the redirect of
/// `--acme-http`, cannot bring it back to plain HTTP.
const HSTS: &str = "max-age=31536000";

/// The routes of the HTTP port; `/metrics` among them only if `with_metrics`; every answer
/// over `https` says to keep to HTTPS (HSTS).
pub(crate) fn router(shared: Arc<Shared>, with_metrics: bool, https: bool) -> Router {
    let router = Router::new();
    let router = if with_metrics {
        router.route("/metrics", get(metrics))
    } else {
        router
    };
    let router = router
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/api/info", get(info))
        .route(crate::link_status::PATH, crate::link_status::route())
        .route("/s/{id}", get(page))
        .route("/assets/{name}", get(asset))
        .route("/ws/sessions/{id}", get(ws_viewer))
        .route("/ws/host", get(ws_host))
        .with_state(shared);
    if !https {
        return router;
    }
    router.layer(axum::middleware::map_response(
        |mut response: Response| async move {
            let hsts = header::HeaderValue::from_static(HSTS);
            response
                .headers_mut()
                .insert(header::STRICT_TRANSPORT_SECURITY, hsts);
            response
        },
    ))
}

/// The routes of the `--metrics` address.
pub(crate) fn metrics_router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .with_state(shared)
}

async fn info(State(shared): State<Arc<Shared>>) -> Response {
    let mut body = serde_json::json!({
        "version": env!("CARGO_PKG_VERSION"),
        "protocol": protocol::PROTOCOL_VERSION,
        "quic": shared.quic_public,
        "webtransport": shared.webtransport_public,
        "fingerprints": shared.certs.fingerprints(),
        "self_signed": shared.certs.is_self_signed(),
    });
    let Some(cluster) = &shared.cluster else {
        return ([(header::CACHE_CONTROL, "no-store")], axum::Json(body)).into_response();
    };
    // The live nodes, this one first: where clients go when this one is lost. Pages served
    // by one node read this from the others.
    let nodes: Vec<serde_json::Value> = cluster
        .nodes()
        .into_iter()
        .map(|(id, url)| serde_json::json!({ "id": id, "url": url }))
        .collect();
    body["node"] = cluster.node().into();
    body["nodes"] = nodes.into();
    body["cluster_up"] = cluster.is_up().into();
    (
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
        ],
        axum::Json(body),
    )
        .into_response()
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

/// The client of a request: its address, and its connection's slot, which an upgraded
/// WebSocket keeps after the HTTP connection's task has handed it over.
#[derive(Clone)]
pub(crate) struct Client {
    peer: Peer,
    _slot: Option<Arc<Slot>>,
}

async fn ws_viewer(
    State(shared): State<Arc<Shared>>,
    Extension(client): Extension<Client>,
    Path(id): Path<String>,
    Query(query): Query<TokenQuery>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let header_token = protocol_token(&headers);
    let in_header = header_token.is_some() && query.token.is_none();
    let token = query.token.or(header_token);
    let (session, mode) = match admit(&shared, &id, token.as_deref()).await {
        Ok(admitted) => admitted,
        Err(Denied::Forbidden) => return StatusCode::FORBIDDEN.into_response(),
        Err(Denied::NotFound) => return StatusCode::NOT_FOUND.into_response(),
        Err(Denied::Busy(why)) => return why.response(),
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
        let served = crate::viewer::serve(
            shared,
            session,
            mode,
            Transport::WebSocket,
            LinkRx::WebSocket(stream),
            LinkTx::WebSocket(sink),
        );
        tracker.track_future(async move {
            served.await;
            drop(client);
        })
    })
}

async fn ws_host(
    State(shared): State<Arc<Shared>>,
    Extension(client): Extension<Client>,
    ws: WebSocketUpgrade,
) -> Response {
    let max = limits::MAX_FRAME_BYTES + 16;
    let tracker = shared.tracker.clone();
    bounded(ws, max).on_upgrade(move |socket: WebSocket| {
        let (sink, stream) = socket.split();
        let origin = Origin {
            peer: client.peer,
            tickets: None,
        };
        let served = crate::host::serve(
            shared,
            LinkRx::WebSocket(stream),
            LinkTx::WebSocket(sink),
            origin,
        );
        tracker.track_future(async move {
            served.await;
            drop(client);
        })
    })
}

/// Bounds a WebSocket's messages to `max_message` bytes and its buffers to [`WS_BUFFER`].
fn bounded(ws: WebSocketUpgrade, max_message: usize) -> WebSocketUpgrade {
    ws.max_message_size(max_message)
        .max_frame_size(max_message)
        .read_buffer_size(WS_BUFFER)
        .write_buffer_size(WS_BUFFER)
}

/// Whether a listener's connections count against the connection limits: not those of
/// the `--metrics` address, which must answer while the relay is full.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admit {
    Limited,
    Everyone,
}

/// Accepts TCP connections until shutdown, with TLS when `tls` is set.
pub(crate) async fn serve(
    shared: Arc<Shared>,
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    router: Router,
    admit: Admit,
) {
    let mut backoff = MIN_ACCEPT_BACKOFF;
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shared.shutdown.cancelled() => return,
        };
        let (stream, addr) = match accepted {
            Ok(accepted) => {
                backoff = MIN_ACCEPT_BACKOFF;
                accepted
            }
            Err(error) => {
                add(&shared.admission.accept_errors, 1);
                tracing::warn!(%error, ?backoff, "accepting a TCP connection failed; backing off");
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = shared.shutdown.cancelled() => return,
                }
                backoff = (backoff * 2).min(MAX_ACCEPT_BACKOFF);
                continue;
            }
        };
        let peer = Peer::from(addr.ip());
        let admitted = match admit {
            Admit::Limited => shared.admission.connect(peer).map(Some),
            Admit::Everyone => Ok(None),
        };
        // A refused client is told why while that stays cheap, and dropped otherwise.
        let (courtesy, router, slot) = match admitted {
            Ok(slot) => (None, router.clone(), slot.map(Arc::new)),
            Err(why) => match shared.admission.courtesy() {
                Some(permit) => (Some(permit), refusal(why), None),
                None => continue,
            },
        };
        let _ = stream.set_nodelay(true);
        let limits = &shared.config.limits;
        let io = Deadline::new(
            stream,
            limits.idle_timeout,
            limits.write_timeout,
            shared.admission.stalls.clone(),
        );
        let tls = tls.clone();
        let conn = Connection {
            router,
            client: Client { peer, _slot: slot },
            header_timeout: limits.header_timeout,
            keep_alive: courtesy.is_none(),
            shutdown: shared.shutdown.clone(),
        };
        shared.tracker.spawn(async move {
            let served = async {
                match tls {
                    None => conn.serve(io).await,
                    Some(acceptor) => {
                        if let Ok(Ok(stream)) =
                            tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(io)).await
                            && !crate::acme::is_validation(&stream)
                        {
                            conn.serve(stream).await;
                        }
                    }
                }
            };
            match courtesy {
                None => served.await,
                Some(_permit) => {
                    let _ = tokio::time::timeout(REFUSAL_TIMEOUT, served).await;
                }
            }
        });
    }
}

/// Answers every request with the refusal.
fn refusal(why: Limited) -> Router {
    Router::new().fallback(move || async move { why.response() })
}

/// One accepted connection's HTTP settings.
struct Connection {
    router: Router,
    /// Held for as long as the connection lives, and by an upgraded WebSocket after it.
    client: Client,
    header_timeout: Duration,
    keep_alive: bool,
    shutdown: tokio_util::sync::CancellationToken,
}

impl Connection {
    async fn serve<I>(self, io: I)
    where
        I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let Connection {
            router,
            client,
            header_timeout,
            keep_alive,
            shutdown,
        } = self;
        let service = hyper::service::service_fn(move |mut request: hyper::Request<_>| {
            let mut router = router.clone();
            request.extensions_mut().insert(client.clone());
            async move {
                let response: Result<Response, Infallible> =
                    tower::Service::call(&mut router, request).await;
                response
            }
        });
        // A client that trickles its request headers is dropped instead of holding a task.
        let conn = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(header_timeout)
            .keep_alive(keep_alive)
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
}
