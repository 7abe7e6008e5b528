//! The naive relay every figure is compared with, built the way ttyd-style tools work: the
//! host wrapper sends the raw PTY byte stream over a WebSocket, and the relay forwards each
//! chunk to every viewer through an unbounded queue. Nothing is coalesced, nothing is
//! dropped, and a viewer that falls behind just makes its queue grow. A viewer that joins
//! late is sent a replay of the last [`REPLAY_BYTES`] of output first, the way such tools
//! give a newcomer the screen and some scrollback.
//!
//! Endpoints: `ws://<addr>/host/<id>` (one host per session id) and `ws://<addr>/view/<id>`.
//! Viewers' binary messages are forwarded to the host as keystrokes.

use std::collections::{HashMap, VecDeque};
use std::os::fd::AsFd;
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use bytes::Bytes;
use futures::{SinkExt as _, StreamExt as _};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};

/// Output kept for late joiners: whole chunks, the oldest dropped first. Enough for a
/// screen and a full scrollback of ordinary output (2,000 lines of 100 bytes and more).
pub const REPLAY_BYTES: usize = 1024 * 1024;

#[derive(Default)]
struct Session {
    host: Option<UnboundedSender<Message>>,
    viewers: Vec<UnboundedSender<Message>>,
    replay: VecDeque<Bytes>,
    replay_bytes: usize,
}

impl Session {
    fn output(&mut self, chunk: Bytes) {
        self.viewers
            .retain(|viewer| viewer.send(Message::Binary(chunk.clone())).is_ok());
        self.replay_bytes += chunk.len();
        self.replay.push_back(chunk);
        while self.replay_bytes > REPLAY_BYTES {
            let Some(oldest) = self.replay.pop_front() else {
                break;
            };
            self.replay_bytes -= oldest.len();
        }
    }
}

type Sessions = Arc<Mutex<HashMap<String, Session>>>;

/// Adds a connection to the session its path names; returns the id and whether it is the host.
fn join(sessions: &Sessions, path: &str, tx: UnboundedSender<Message>) -> Option<(String, bool)> {
    let (role, id) = path.trim_start_matches('/').split_once('/')?;
    let is_host = match role {
        "host" => true,
        "view" => false,
        _ => return None,
    };
    let mut all = lock(sessions);
    let session = all.entry(id.to_owned()).or_default();
    if is_host {
        session.host = Some(tx);
    } else {
        for chunk in &session.replay {
            let _ = tx.send(Message::Binary(chunk.clone()));
        }
        session.viewers.push(tx);
    }
    Some((id.to_owned(), is_host))
}

fn lock(sessions: &Sessions) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
    sessions.lock().unwrap_or_else(|e| e.into_inner())
}

/// Serves the naive relay on `listener` until the process ends.
pub async fn serve(listener: TcpListener) -> anyhow::Result<()> {
    let sessions = Sessions::default();
    loop {
        let (tcp, _) = listener.accept().await?;
        let sessions = sessions.clone();
        tokio::spawn(async move {
            if let Err(error) = connection(tcp, sessions).await {
                tracing::debug!("baseline connection: {error:#}");
            }
        });
    }
}

// The handshake callback's error type is tungstenite's, not ours to shrink.
#[allow(clippy::result_large_err)]
async fn connection(tcp: TcpStream, sessions: Sessions) -> anyhow::Result<()> {
    tcp.set_nodelay(true)?;
    let (tx, mut rx) = unbounded_channel::<Message>();
    let mut joined = None;
    // Registering before the handshake answer means a client that sees the upgrade is
    // already in the session, so it misses nothing sent after.
    let ws = tokio_tungstenite::accept_hdr_async(tcp, |request: &Request, response: Response| {
        joined = join(&sessions, request.uri().path(), tx);
        Ok(response)
    })
    .await?;
    let (id, is_host) = joined.context("path is not /host/<id> or /view/<id>")?;
    let (mut sink, mut stream) = ws.split();
    let writer = tokio::spawn(async move {
        while let Some(message) = rx.recv().await {
            if sink.send(message).await.is_err() {
                return;
            }
        }
        // The session is gone: tell the viewer.
        let _ = sink.close().await;
    });
    while let Some(message) = stream.next().await {
        let Message::Binary(data) = message? else {
            continue;
        };
        let mut all = lock(&sessions);
        let Some(session) = all.get_mut(&id) else {
            break;
        };
        if is_host {
            session.output(data);
        } else if let Some(host) = &session.host {
            let _ = host.send(Message::Binary(data));
        }
    }
    if is_host {
        // Dropping the viewers' senders ends their writers, which closes their sockets.
        lock(&sessions).remove(&id);
    }
    writer.abort();
    Ok(())
}

/// The naive host wrapper: runs `command` in a PTY of `cols`x`rows`, copies its output to
/// stdout and, chunk by chunk, to the relay at `url`; keystrokes from stdin and from viewers
/// go to the PTY. Returns when the command's output ends.
pub async fn host(url: &str, cols: u16, rows: u16, command: &[String]) -> anyhow::Result<()> {
    let (program, args) = command.split_first().context("no command")?;
    let (pty, pts) = pty_process::open()?;
    pty.resize(pty_process::Size::new(rows, cols))?;
    let mut child = pty_process::Command::new(program).args(args).spawn(pts)?;
    let (ws, _) = tokio_tungstenite::connect_async_with_config(url, None, true).await?;
    let (mut ws_tx, mut ws_rx) = ws.split();
    let _raw = RawMode::enable()?;
    let (mut pty_out, mut pty_in) = pty.into_split();

    let input = tokio::spawn(async move {
        let mut stdin = tokio::io::stdin();
        let mut buf = vec![0u8; 4096];
        loop {
            tokio::select! {
                read = stdin.read(&mut buf) => match read {
                    Ok(0) | Err(_) => break,
                    Ok(n) => if pty_in.write_all(&buf[..n]).await.is_err() { break },
                },
                message = ws_rx.next() => match message {
                    Some(Ok(Message::Binary(data))) => {
                        if pty_in.write_all(&data).await.is_err() { break }
                    }
                    Some(Ok(_)) => {}
                    _ => break,
                },
            }
        }
    });
    let mut stdout = tokio::io::stdout();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match pty_out.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => n,
            // EIO: the command exited and the PTY's last writer is gone.
            Err(_) => break,
        };
        stdout.write_all(&buf[..n]).await?;
        stdout.flush().await?;
        ws_tx
            .send(Message::Binary(Bytes::copy_from_slice(&buf[..n])))
            .await?;
    }
    input.abort();
    let _ = child.wait().await;
    let _ = ws_tx.close().await;
    Ok(())
}

/// Puts the controlling terminal (stdin) in raw mode, so that Ctrl-C reaches the wrapped
/// command as a byte; restores it when dropped. A no-op when stdin is not a terminal.
struct RawMode(Option<nix::sys::termios::Termios>);

impl RawMode {
    fn enable() -> anyhow::Result<RawMode> {
        use nix::sys::termios::{SetArg, cfmakeraw, tcgetattr, tcsetattr};
        let stdin = std::io::stdin();
        let Ok(saved) = tcgetattr(stdin.as_fd()) else {
            return Ok(RawMode(None));
        };
        let mut raw = saved.clone();
        cfmakeraw(&mut raw);
        tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw)?;
        Ok(RawMode(Some(saved)))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(saved) = &self.0 {
            let stdin = std::io::stdin();
            let _ = nix::sys::termios::tcsetattr(
                stdin.as_fd(),
                nix::sys::termios::SetArg::TCSANOW,
                saved,
            );
        }
    }
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

async fn connect(addr: &str, role: &str, id: &str) -> anyhow::Result<Socket> {
    let url = format!("ws://{addr}/{role}/{id}");
    // The load generator's clients cost the same for either relay.
    let config = cli_share::client::websocket_config();
    let (ws, _) = tokio_tungstenite::connect_async_with_config(url, Some(config), true).await?;
    Ok(ws)
}

/// A host of the naive relay driven by the load generator itself.
pub struct NaiveHost(Box<Socket>);

impl NaiveHost {
    pub async fn connect(addr: &str, id: &str) -> anyhow::Result<NaiveHost> {
        Ok(NaiveHost(Box::new(connect(addr, "host", id).await?)))
    }

    pub async fn send(&mut self, chunk: Vec<u8>) -> anyhow::Result<()> {
        self.0.send(Message::Binary(chunk.into())).await?;
        Ok(())
    }
}

/// A viewer of the naive relay: receives raw output chunks, sends keystrokes.
pub struct NaiveViewer {
    socket: Box<Socket>,
    /// Bytes of output received so far.
    received: u64,
    /// The start of a line whose end has not arrived yet (see [`next_lines`](Self::next_lines)).
    unfinished: Vec<u8>,
}

impl NaiveViewer {
    pub async fn connect(addr: &str, id: &str) -> anyhow::Result<NaiveViewer> {
        Ok(NaiveViewer {
            socket: Box::new(connect(addr, "view", id).await?),
            received: 0,
            unfinished: Vec::new(),
        })
    }

    /// The next chunk of output; an error once the session is gone.
    pub async fn next_chunk(&mut self) -> anyhow::Result<Bytes> {
        loop {
            match self.socket.next().await.context("naive relay closed")?? {
                Message::Binary(data) => {
                    self.received += data.len() as u64;
                    return Ok(data);
                }
                Message::Close(_) => anyhow::bail!("naive relay closed"),
                _ => {}
            }
        }
    }

    /// The lines of output completed since the last call, as text: a line cut between
    /// two chunks comes whole with the second.
    pub async fn next_lines(&mut self) -> anyhow::Result<String> {
        loop {
            let chunk = self.next_chunk().await?;
            self.unfinished.extend_from_slice(&chunk);
            if let Some(end) = self.unfinished.iter().rposition(|&b| b == b'\n') {
                let lines: Vec<u8> = self.unfinished.drain(..=end).collect();
                return Ok(String::from_utf8_lossy(&lines).into_owned());
            }
        }
    }

    /// Bytes of output received so far.
    pub fn received(&self) -> u64 {
        self.received
    }

    pub async fn send_input(&mut self, keys: &[u8]) -> anyhow::Result<()> {
        self.socket
            .send(Message::Binary(Bytes::copy_from_slice(keys)))
            .await?;
        Ok(())
    }
}
