//! The screen change every latency and fan-out measurement sends: one row rewritten with a
//! sequence number, as a protocol frame for the real relay and as the raw bytes a terminal
//! would emit for the naive one. The receiving side reads the number back to match the
//! arrival with the send time.

use cli_share::client::ViewerLink;
use protocol::e2e::FrameOpener;
use protocol::{
    Cursor, FrameHeader, Line, RelayToViewer, Screen, ScreenDiff, ScreenFrame, ScreenUpdate,
};

use super::baseline::{NaiveHost, NaiveViewer};
use super::ours::OurHost;
use super::terminal::{COLS, ROWS};

const DIGITS: usize = 20;

/// The first frame of a session: a blank screen.
pub fn keyframe() -> anyhow::Result<ScreenFrame> {
    Ok(ScreenFrame {
        seq: 0,
        keyframe: true,
        payload: protocol::encode(&ScreenUpdate::Keyframe(Screen::new(COLS, ROWS)))?,
    })
}

/// Frame `seq` (from 1): the bottom row reads `update <seq>`.
pub fn frame(seq: u64) -> anyhow::Result<ScreenFrame> {
    let text = format!("update {seq:0DIGITS$}");
    let diff = ScreenDiff {
        lines: vec![(ROWS - 1, Line::plain(&text))],
        cursor: Cursor {
            row: ROWS - 1,
            col: text.len() as u16,
            visible: true,
        },
        ..ScreenDiff::default()
    };
    Ok(ScreenFrame {
        seq,
        keyframe: false,
        payload: protocol::encode(&ScreenUpdate::Diff(diff))?,
    })
}

/// The same change as raw terminal output: move to the bottom row, clear it, write.
pub fn raw(seq: u64) -> Vec<u8> {
    format!("\x1b[{ROWS};1H\x1b[2Kupdate {seq:0DIGITS$}").into_bytes()
}

/// The sequence number at the end of a [`raw`] chunk.
pub fn raw_seq(chunk: &[u8]) -> Option<u64> {
    let digits = chunk.get(chunk.len().checked_sub(DIGITS)?..)?;
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// A host of either relay, sending the measured update.
pub enum Host {
    Ours(Box<OurHost>),
    Naive(NaiveHost),
}

impl Host {
    pub async fn send_update(&mut self, seq: u64) -> anyhow::Result<()> {
        match self {
            Host::Ours(host) => host.send(frame(seq)?).await,
            Host::Naive(host) => host.send(raw(seq)).await,
        }
    }
}

/// A viewer of either relay, reading back the updates' sequence numbers. Both read just
/// the number (ours from the frame header, as the relay does), so that with a thousand of
/// them in the load generator the figures measure the relays, not the clients' decoding.
pub enum Viewer {
    Ours(Box<ViewerLink>),
    Naive(NaiveViewer),
}

impl Viewer {
    /// The sequence number of the next update received (the keyframe is 0).
    pub async fn next_update(&mut self) -> anyhow::Result<u64> {
        match self {
            Viewer::Ours(viewer) => loop {
                if let Some(header) = FrameHeader::peek(&viewer.recv_raw().await?)? {
                    return Ok(header.seq);
                }
            },
            Viewer::Naive(viewer) => loop {
                if let Some(seq) = raw_seq(&viewer.next_chunk().await?) {
                    return Ok(seq);
                }
            },
        }
    }

    /// The text of the rows the next frame writes (ours: decoded, one row per line) or of
    /// the next lines of output (naive), for a host whose updates carry their own time
    /// ([`super::stamps`]). `opener` opens the frames of a host that seals them (`share`).
    pub async fn next_text(&mut self, opener: Option<&FrameOpener>) -> anyhow::Result<String> {
        match self {
            Viewer::Ours(viewer) => loop {
                let RelayToViewer::Frame(frame) = protocol::decode(&viewer.recv_raw().await?)?
                else {
                    continue;
                };
                let payload = match opener {
                    Some(opener) => opener.open(frame.seq, frame.keyframe, &frame.payload)?,
                    None => frame.payload,
                };
                let rows = match protocol::decode(&payload)? {
                    ScreenUpdate::Keyframe(screen) => screen.lines,
                    ScreenUpdate::Diff(diff) => {
                        diff.lines.into_iter().map(|(_, row)| row).collect()
                    }
                };
                return Ok(rows.iter().map(|row| row.text() + "\n").collect());
            },
            Viewer::Naive(viewer) => viewer.next_lines().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_chunks_carry_their_sequence_number() {
        assert_eq!(raw_seq(&raw(42)), Some(42));
        assert_eq!(raw_seq(b"short"), None);
    }

    #[test]
    fn frames_apply_to_the_keyframe() {
        let mut screen = Screen::new(1, 1);
        for frame in [keyframe().unwrap(), frame(7).unwrap()] {
            let update: ScreenUpdate = protocol::decode(&frame.payload).unwrap();
            screen.apply_update(update).unwrap();
        }
        assert!(screen.text().contains("update 00000000000000000007"));
    }
}
