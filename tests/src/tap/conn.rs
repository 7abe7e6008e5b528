//! One connection through the tap: the HTTP head each way, then either WebSocket messages
//! read whole and in the clear (recorded, and altered as the tap's [`Tamper`] says), or,
//! for plain HTTP, the bytes as they come.

use std::io;
use std::sync::Arc;

use protocol::{Mode, RelayToHost, RelayToViewer, ScreenFrame, ViewerToRelay};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use super::ws::{self, OP_BINARY, OP_CONTINUATION, Reader};
use super::{Direction, Shared, Tamper};

/// Who is on the client side of a WebSocket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Host,
    Viewer,
}

pub(super) async fn serve(client: TcpStream, shared: Arc<Shared>) -> io::Result<()> {
    let relay = *shared.relay.get().expect("the tap serves");
    let server = TcpStream::connect(relay).await?;
    let (client_read, mut client_write) = client.into_split();
    let (server_read, mut server_write) = server.into_split();
    let mut from_client = Reader::new(client_read);
    let mut from_server = Reader::new(server_read);
    let request = from_client.head().await?;
    shared.record(Direction::ToRelay, &request);
    server_write.write_all(&request).await?;
    let response = from_server.head().await?;
    shared.record(Direction::FromRelay, &response);
    client_write.write_all(&response).await?;

    let Some(path) = upgraded_path(&request, &response) else {
        let up = pipe(from_client, server_write, Direction::ToRelay, &shared);
        let down = pipe(from_server, client_write, Direction::FromRelay, &shared);
        tokio::try_join!(up, down)?;
        return Ok(());
    };
    let role = if path == "/ws/host" {
        Role::Host
    } else {
        Role::Viewer
    };
    shared
        .stats
        .send_modify(|stats| stats.websockets.push(path));
    let inbox = (role == Role::Host).then(|| {
        let (tx, rx) = mpsc::unbounded_channel();
        *shared.host_inbox.lock().expect("inbox lock") = Some(tx);
        rx
    });
    tokio::select! {
        up = to_relay(from_client, server_write, role, &shared) => up,
        down = from_relay(from_server, client_write, role, inbox, &shared) => down,
    }
}

/// The path a request upgraded to WebSocket, if the response switched protocols.
fn upgraded_path(request: &[u8], response: &[u8]) -> Option<String> {
    if !response.starts_with(b"HTTP/1.1 101") {
        return None;
    }
    let line = String::from_utf8_lossy(request);
    let target = line.split_whitespace().nth(1)?;
    Some(target.split('?').next().unwrap_or(target).to_owned())
}

/// Plain bytes one way, recorded. A WebSocket upgrade asked for later on the same
/// connection would go by unread: counted, so that tests fail rather than miss it.
async fn pipe<R, W>(
    from: Reader<R>,
    mut to: W,
    direction: Direction,
    shared: &Shared,
) -> io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let (mut pending, mut from) = from.into_parts();
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        if !pending.is_empty() {
            shared.record(direction, &pending);
            let lower = pending.to_ascii_lowercase();
            if direction == Direction::ToRelay
                && super::find(&lower, b"upgrade: websocket").is_some()
            {
                shared.stats.send_modify(|stats| stats.unread_upgrades += 1);
            }
            to.write_all(&pending).await?;
        }
        let read = from.read(&mut chunk).await?;
        if read == 0 {
            return to.shutdown().await;
        }
        pending = chunk[..read].to_vec();
    }
}

/// Reads whole messages from `reader`; control frames are written to `to` as they come
/// (masked when `masked`), and data messages are recorded and returned.
async fn next_message<R, W>(
    reader: &mut Reader<R>,
    to: &mut W,
    masked: bool,
    direction: Direction,
    shared: &Shared,
) -> io::Result<Option<(u8, Vec<u8>)>>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut message: Option<(u8, Vec<u8>)> = None;
    loop {
        let Some(frame) = reader.frame().await? else {
            return Ok(None);
        };
        shared.record(direction, &frame.payload);
        if frame.is_control() {
            to.write_all(&ws::encode(frame.opcode, &frame.payload, masked))
                .await?;
            continue;
        }
        let (_, payload) = message.get_or_insert_with(|| (frame.opcode, Vec::new()));
        if frame.opcode != OP_CONTINUATION && !payload.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "interleaved message",
            ));
        }
        payload.extend_from_slice(&frame.payload);
        if frame.fin {
            return Ok(message);
        }
    }
}

/// Client to relay. With [`Tamper::Relabel`] armed, a viewer's input also goes to the
/// host's connection, to be delivered as collab input.
async fn to_relay<R, W>(
    mut from: Reader<R>,
    mut to: W,
    role: Role,
    shared: &Shared,
) -> io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    while let Some((opcode, payload)) =
        next_message(&mut from, &mut to, true, Direction::ToRelay, shared).await?
    {
        if role == Role::Viewer
            && shared.tamper == Tamper::Relabel
            && shared.armed()
            && let Ok(ViewerToRelay::Input(data)) = protocol::decode(&payload)
            && let Some(inbox) = &*shared.host_inbox.lock().expect("inbox lock")
            && inbox.send(data).is_ok()
        {
            shared.stats.send_modify(|stats| stats.tampered += 1);
        }
        to.write_all(&ws::encode(opcode, &payload, true)).await?;
    }
    Ok(())
}

/// Relay to client: viewers' frames noted (and altered when armed); relabelled input
/// injected into the host's connection.
async fn from_relay<R, W>(
    mut from: Reader<R>,
    mut to: W,
    role: Role,
    mut inbox: Option<mpsc::UnboundedReceiver<Vec<u8>>>,
    shared: &Shared,
) -> io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut altering = Altering::default();
    loop {
        let injected = async {
            match &mut inbox {
                Some(inbox) => inbox.recv().await,
                None => std::future::pending().await,
            }
        };
        let (opcode, payload) = tokio::select! {
            message = next_message(&mut from, &mut to, false, Direction::FromRelay, shared) => {
                match message? {
                    Some(message) => message,
                    None => return to.shutdown().await,
                }
            }
            Some(data) = injected => {
                let relabelled = RelayToHost::ViewerInput { viewer: 0, mode: Mode::Collab, data };
                let bytes = protocol::encode(&relabelled).expect("encodes");
                shared.record(Direction::FromRelay, &bytes);
                to.write_all(&ws::encode(OP_BINARY, &bytes, false)).await?;
                continue;
            }
        };
        let outgoing = match protocol::decode::<RelayToViewer>(&payload) {
            Ok(RelayToViewer::Frame(frame)) if role == Role::Viewer => {
                altering.frame(&frame, payload, shared)
            }
            _ => vec![payload],
        };
        for message in outgoing {
            to.write_all(&ws::encode(opcode, &message, false)).await?;
        }
    }
}

/// How one viewer's connection is being altered.
#[derive(Default)]
struct Altering {
    done: bool,
    /// [`Tamper::Swap`]: the frame held back to go after the next one.
    held: Option<Vec<u8>>,
    /// The newest keyframe sent on this connection; [`Tamper::Replay`] sends an older one
    /// before the next frame.
    newest_keyframe: Option<u64>,
}

impl Altering {
    /// The messages to send for a frame the relay sent (`message` is its encoding).
    fn frame(&mut self, frame: &ScreenFrame, message: Vec<u8>, shared: &Shared) -> Vec<Vec<u8>> {
        shared.stats.send_modify(|stats| {
            stats.frames_to_viewers += 1;
            if frame.keyframe && !stats.keyframes.contains(&frame.seq) {
                stats.keyframes.push(frame.seq);
            }
        });
        // What the viewer was sent before this frame.
        let newest_keyframe = self.newest_keyframe;
        if frame.keyframe {
            let mut keyframes = shared.keyframes.lock().expect("keyframes lock");
            keyframes
                .entry(frame.seq)
                .or_insert_with(|| message.clone());
            self.newest_keyframe = self.newest_keyframe.max(Some(frame.seq));
        }
        if self.done || !shared.armed() {
            return vec![message];
        }
        let altered = match shared.tamper {
            Tamper::Flip => {
                let mut flipped = frame.clone();
                let middle = flipped.payload.len() / 2;
                flipped.payload[middle] ^= 0x01;
                vec![protocol::encode(&RelayToViewer::Frame(flipped)).expect("encodes")]
            }
            Tamper::Swap => match self.held.take() {
                Some(held) => vec![message, held],
                None => {
                    self.held = Some(message);
                    return Vec::new();
                }
            },
            Tamper::Replay => {
                let keyframes = shared.keyframes.lock().expect("keyframes lock");
                let older = newest_keyframe.and_then(|newest| keyframes.range(..newest).next());
                match older {
                    Some((_, old)) => vec![old.clone(), message],
                    None => return vec![message],
                }
            }
            Tamper::None | Tamper::Relabel => return vec![message],
        };
        self.done = true;
        shared.stats.send_modify(|stats| stats.tampered += 1);
        altered
    }
}
