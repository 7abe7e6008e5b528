//! Hosts and viewers of the real relay, through the clients of `cli_share::client` (the same
//! code `share` and `share watch` run), plus a viewer that keeps the decoded screen.

use anyhow::Context as _;
use cli_share::client::{
    HostOptions, HostSender, HostTransport, RelayInfo, RelayPolicy, ShareUrl, ViewerLink,
    ViewerTransport, connect_host, connect_viewer, discover,
};
use protocol::{HostHello, HostToRelay, Links, RelayToViewer, Screen, ScreenFrame, ScreenUpdate};

use super::process::Server;
use super::terminal::{COLS, ROWS};
use super::updates;

/// Reads the relay's `/api/info`, as `share` does.
pub async fn relay_info(server: &Server) -> anyhow::Result<RelayInfo> {
    let base = url::Url::parse(server.field("http=")?)?;
    Ok(discover(&base, &RelayPolicy::default()).await?)
}

/// A host the load generator drives over QUIC. The relay's messages to the host are read
/// and dropped in the background so that they never back up.
pub struct OurHost {
    sender: HostSender,
    pub links: Links,
}

impl OurHost {
    /// Opens a session (with a collab link when `collab`) and sends the first keyframe.
    pub async fn connect(relay: &RelayInfo, collab: bool) -> anyhow::Result<OurHost> {
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
        let mut host = OurHost {
            sender: connection.sender,
            links: connection.welcome.links,
        };
        host.send(updates::keyframe()?).await?;
        Ok(host)
    }

    pub async fn send(&mut self, frame: ScreenFrame) -> anyhow::Result<()> {
        self.sender.send(&HostToRelay::Frame(frame)).await?;
        Ok(())
    }

    pub fn read_link(&self) -> anyhow::Result<ShareUrl> {
        Ok(ShareUrl::parse(&self.links.read)?)
    }
}

/// A viewer that applies every frame to its copy of the screen, as a real viewer does, and
/// counts the bytes it received.
pub struct ScreenViewer {
    link: ViewerLink,
    pub screen: Screen,
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
            screen: Screen::new(COLS, ROWS),
            bytes: 0,
        })
    }

    /// Receives the next frame and applies it; returns its sequence number.
    pub async fn next_frame(&mut self) -> anyhow::Result<u64> {
        loop {
            let bytes = self.link.recv_raw().await?;
            self.bytes += bytes.len() as u64;
            if let RelayToViewer::Frame(frame) = protocol::decode(&bytes)? {
                let update: ScreenUpdate = protocol::decode(&frame.payload)?;
                self.screen
                    .apply_update(update)
                    .context("frame does not apply")?;
                return Ok(frame.seq);
            }
        }
    }

    pub async fn send_input(&mut self, keys: &[u8]) -> anyhow::Result<()> {
        self.link.send_input(keys).await?;
        Ok(())
    }

    /// Text of the row the cursor is on, trailing blanks trimmed.
    pub fn cursor_row(&self) -> String {
        self.screen
            .lines
            .get(usize::from(self.screen.cursor.row))
            .map(|line| line.text().trim_end().to_owned())
            .unwrap_or_default()
    }
}
