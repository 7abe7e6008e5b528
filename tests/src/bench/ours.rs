//! Hosts and viewers of the real relay, through the clients of `cli_share::client` (the same
//! code `share` and `share watch` run), plus a viewer that keeps the decoded screen.

use anyhow::Context as _;
use cli_share::Mirror;
use cli_share::client::{
    HostOptions, HostSender, HostTransport, RelayInfo, RelayPolicy, ShareKeys, ShareUrl,
    ViewerLink, ViewerTransport, connect_host, connect_viewer, discover,
};
use protocol::e2e::{FrameSealer, InputSealer};
use protocol::{HostHello, HostToRelay, Links, RelayToViewer, ScreenFrame};

use super::process::Server;
use super::terminal::{COLS, ROWS};
use super::updates;

/// Reads the relay's `/api/info`, as `share` does.
pub async fn relay_info(server: &Server) -> anyhow::Result<RelayInfo> {
    let base = url::Url::parse(server.field("http=")?)?;
    Ok(discover(&base, &RelayPolicy::default()).await?)
}

/// Whether the synthetic host seals its frames, as `share` always does. Unsealed frames
/// exist only here, to measure what sealing costs in the same run (`Part::Sealing`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sealing {
    On,
    Off,
}

/// A host the load generator drives over QUIC. The relay's messages to the host are read
/// and dropped in the background so that they never back up.
pub struct OurHost {
    sender: HostSender,
    keys: ShareKeys,
    sealer: Option<FrameSealer>,
    links: Links,
}

impl OurHost {
    /// Opens a session (with a collab link when `collab`) and sends the first keyframe,
    /// sealing every frame as `share` does.
    pub async fn connect(relay: &RelayInfo, collab: bool) -> anyhow::Result<OurHost> {
        OurHost::connect_sealing(relay, collab, Sealing::On).await
    }

    /// Like [`connect`](Self::connect), sealing frames or not.
    pub async fn connect_sealing(
        relay: &RelayInfo,
        collab: bool,
        sealing: Sealing,
    ) -> anyhow::Result<OurHost> {
        let hello = HostHello {
            collab,
            ..HostHello::new(COLS, ROWS)
        };
        let options = HostOptions {
            transport: Some(HostTransport::Quic),
            ..HostOptions::default()
        };
        let connection = connect_host(relay, &hello, &options).await?;
        let mut receiver = connection.receiver;
        tokio::spawn(async move { while receiver.recv().await.is_ok() {} });
        let mut keys = ShareKeys::generate(collab);
        let sealer = keys
            .session(&connection.welcome.session_id)
            .filter(|_| sealing == Sealing::On);
        let mut host = OurHost {
            sender: connection.sender,
            keys,
            sealer,
            links: connection.welcome.links,
        };
        host.send(updates::keyframe()?).await?;
        Ok(host)
    }

    /// Sends `frame`, its payload sealed unless sealing is off.
    pub async fn send(&mut self, mut frame: ScreenFrame) -> anyhow::Result<()> {
        if let Some(sealer) = &mut self.sealer {
            frame.payload = sealer.seal(frame.seq, frame.keyframe, &frame.payload)?;
        }
        self.sender.send(&HostToRelay::Frame(frame)).await?;
        Ok(())
    }

    /// The read-only link, with its key.
    pub fn read_link(&self) -> anyhow::Result<ShareUrl> {
        Ok(ShareUrl::parse(&self.keys.links(&self.links)?.read)?)
    }
}

/// A viewer that opens every frame and applies it to its copy of the screen, as a real
/// viewer does, seals what it types with a collab link, and counts the bytes it received.
pub struct ScreenViewer {
    link: ViewerLink,
    mirror: Mirror,
    sealer: Option<InputSealer>,
    pub bytes: u64,
}

impl ScreenViewer {
    pub async fn connect(
        relay: &RelayInfo,
        link: &ShareUrl,
        transport: ViewerTransport,
    ) -> anyhow::Result<ScreenViewer> {
        Ok(ScreenViewer {
            link: connect_viewer(relay, link, transport).await?,
            mirror: Mirror::new(&link.keys, &link.session_id),
            sealer: link
                .keys
                .write
                .map(|write| InputSealer::new(&write, &link.session_id)),
            bytes: 0,
        })
    }

    /// Receives the next frame and applies it; returns its sequence number.
    pub async fn next_frame(&mut self) -> anyhow::Result<u64> {
        loop {
            let bytes = self.link.recv_raw().await?;
            self.bytes += bytes.len() as u64;
            if let RelayToViewer::Frame(frame) = protocol::decode(&bytes)? {
                self.mirror.apply(&frame)?;
                return Ok(frame.seq);
            }
        }
    }

    pub async fn send_input(&mut self, keys: &[u8]) -> anyhow::Result<()> {
        let sealer = self.sealer.as_mut().context("typing needs a collab link")?;
        self.link.send_sealed(sealer, keys).await?;
        Ok(())
    }

    /// The screen, once a keyframe arrived.
    pub fn screen(&self) -> Option<&protocol::Screen> {
        self.mirror.screen()
    }

    /// Text of the row the cursor is on, trailing blanks trimmed.
    pub fn cursor_row(&self) -> String {
        self.screen()
            .and_then(|screen| {
                let line = screen.lines.get(usize::from(screen.cursor.row))?;
                Some(line.text().trim_end().to_owned())
            })
            .unwrap_or_default()
    }
}
