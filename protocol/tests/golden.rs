//! Golden vectors: fixed messages whose encodings are checked into `vectors/vectors.json`,
//! so that the browser's decoder can prove itself byte-compatible with this crate, together
//! with the protocol's limits, so that the browser's copies of them are checked rather than
//! trusted. A change of encoding or of a limit fails here; regenerate deliberately with
//! `UPDATE_VECTORS=1 cargo test -p protocol --test golden` and bump `PROTOCOL_VERSION` if
//! old peers would misread it.

use std::collections::VecDeque;
use std::path::PathBuf;

use protocol::screen::attrs;
use protocol::*;
use serde::Serialize;
use serde_json::{Value, json};
use unicode_width::UnicodeWidthChar;

struct Vector {
    name: &'static str,
    kind: &'static str,
    description: &'static str,
    hex: String,
    value: Value,
}

fn vector<T: Serialize>(
    name: &'static str,
    kind: &'static str,
    description: &'static str,
    message: &T,
) -> Vector {
    Vector {
        name,
        kind,
        description,
        hex: hex::encode(encode(message).expect("vector encodes")),
        value: serde_json::to_value(message).expect("vector serialises to JSON"),
    }
}

fn styled_screen() -> Screen {
    let mut screen = Screen::new(8, 2);
    screen.lines[0] = Line {
        runs: vec![
            Run {
                text: "ok ".into(),
                style: Style {
                    fg: Color::Indexed(2),
                    bg: Color::Default,
                    attrs: attrs::BOLD,
                },
            },
            Run {
                text: "中".into(),
                style: Style {
                    fg: Color::Rgb(255, 128, 0),
                    bg: Color::Indexed(236),
                    attrs: attrs::WIDE | attrs::UNDERLINE,
                },
            },
        ],
        wrapped: false,
    };
    screen.lines[1] = Line {
        runs: vec![Run {
            text: "$ ".into(),
            style: Style {
                fg: Color::Default,
                bg: Color::Default,
                attrs: attrs::ITALIC | attrs::INVERSE,
            },
        }],
        wrapped: true,
    };
    screen.scrollback = VecDeque::from(vec![Line::plain("old line")]);
    screen.scrolled_total = 300;
    screen.cursor = Cursor {
        row: 1,
        col: 2,
        visible: true,
    };
    screen.title = "demo — ✓".into();
    screen.modes = Modes {
        app_cursor: true,
        app_keypad: false,
        bracketed_paste: true,
    };
    screen
}

fn vectors() -> Vec<Vector> {
    let keyframe = ScreenUpdate::Keyframe(styled_screen());
    let diff = ScreenUpdate::Diff(ScreenDiff {
        scroll: 1,
        history: vec![(0, Line::plain("$ ls"))],
        lines: vec![(1, Line::plain("$ "))],
        cursor: Cursor {
            row: 1,
            col: 2,
            visible: false,
        },
        title: Some("t".into()),
        alt_screen: true,
        modes: Modes {
            app_cursor: false,
            app_keypad: true,
            bracketed_paste: false,
        },
    });
    let frame = ScreenFrame {
        seq: 70000,
        keyframe: false,
        payload: vec![1, 0, 251, 255],
    };
    vec![
        vector(
            "keyframe",
            "ScreenUpdate",
            "A 8x2 keyframe: bold indexed green, a wide CJK char in truecolor on 256-colour bg, an italic inverse wrapped row, one scrollback line, cursor, title with non-ASCII, application cursor keys and bracketed paste.",
            &keyframe,
        ),
        vector(
            "diff",
            "ScreenUpdate",
            "A diff: one row scrolled off, a history patch, a changed row, hidden cursor, new title, alternate screen, application keypad.",
            &diff,
        ),
        vector(
            "viewer_frame",
            "RelayToViewer",
            "A frame to a viewer: seq needing a 4-byte varint (70000), an opaque payload.",
            &RelayToViewer::Frame(frame.clone()),
        ),
        vector(
            "host_frame",
            "HostToRelay",
            "The same frame from the host: byte-identical to viewer_frame.",
            &HostToRelay::Frame(frame),
        ),
        vector(
            "viewer_welcome",
            "RelayToViewer",
            "Welcome of a collab viewer while the host is online.",
            &RelayToViewer::Welcome(ViewerWelcome {
                version: PROTOCOL_VERSION,
                session_id: "AAECAwQFBgcICQoLDA0ODw".into(),
                mode: Mode::Collab,
                viewer: 7,
                viewers: ViewerCount {
                    read: 300,
                    collab: 1,
                },
                host_online: true,
            }),
        ),
        vector(
            "host_away",
            "RelayToViewer",
            "The host lost its connection.",
            &RelayToViewer::HostAway,
        ),
        vector(
            "host_back",
            "RelayToViewer",
            "The host resumed.",
            &RelayToViewer::HostBack,
        ),
        vector(
            "viewers",
            "RelayToViewer",
            "Viewer count update.",
            &RelayToViewer::Viewers(ViewerCount { read: 2, collab: 0 }),
        ),
        vector(
            "ended",
            "RelayToViewer",
            "The session ended because the host left.",
            &RelayToViewer::Ended {
                reason: EndReason::HostEnded,
                message: "host exited".into(),
            },
        ),
        vector(
            "ended_lost",
            "RelayToViewer",
            "The session ended because the host did not come back in time.",
            &RelayToViewer::Ended {
                reason: EndReason::HostLost,
                message: "host did not return within 30 s".into(),
            },
        ),
        vector(
            "going_away",
            "RelayToViewer",
            "The relay is restarting.",
            &RelayToViewer::GoingAway,
        ),
        vector(
            "input",
            "ViewerToRelay",
            "Keystrokes: 'ls', Enter, Ctrl-C.",
            &ViewerToRelay::Input(b"ls\r\x03".to_vec()),
        ),
        vector(
            "hello",
            "HostToRelay",
            "A host asking for a new session with a collab link.",
            &HostToRelay::Hello(HostHello {
                version: PROTOCOL_VERSION,
                cols: 120,
                rows: 40,
                collab: true,
                host_key: None,
                resume: None,
            }),
        ),
        vector(
            "refused",
            "RelayToHost",
            "A refusal for an outdated host.",
            &RelayToHost::Refused(Refusal {
                relay_version: PROTOCOL_VERSION,
                reason: RefusalReason::VersionMismatch,
                message: "upgrade share".into(),
            }),
        ),
        vector(
            "viewer_input",
            "RelayToHost",
            "Input of collab viewer 3, relayed to the host.",
            &RelayToHost::ViewerInput {
                viewer: 3,
                mode: Mode::Collab,
                data: b"y".to_vec(),
            },
        ),
    ]
}

fn vectors_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/vectors.json")
}

/// Every limit the browser applies too, by the name of its constant.
fn limits_json() -> Value {
    json!({
        "PROTOCOL_VERSION": PROTOCOL_VERSION,
        "MAX_FRAME_BYTES": limits::MAX_FRAME_BYTES,
        "MAX_INPUT_BYTES": limits::MAX_INPUT_BYTES,
        "SCROLLBACK_LINES": limits::SCROLLBACK_LINES,
        "MAX_COLS": limits::MAX_COLS,
        "MAX_ROWS": limits::MAX_ROWS,
        "MAX_TEXT_BYTES": limits::MAX_TEXT_BYTES,
        "MAX_ZERO_WIDTH": limits::MAX_ZERO_WIDTH,
    })
}

/// The code points of width 0 (which share the cell before them), as hexadecimal ranges
/// `first-last` (or a single code point) separated by spaces: the browser's classification
/// must include them all, or it would find rows wider than the host did.
fn zero_width_json() -> Value {
    let mut ranges: Vec<(u32, u32)> = Vec::new();
    for c in (0..=char::MAX as u32).filter_map(char::from_u32) {
        if c.width() != Some(0) {
            continue;
        }
        let code = c as u32;
        match ranges.last_mut() {
            Some((_, last)) if *last + 1 == code => *last = code,
            _ => ranges.push((code, code)),
        }
    }
    let text: Vec<String> = ranges
        .iter()
        .map(|&(first, last)| match first == last {
            true => format!("{first:x}"),
            false => format!("{first:x}-{last:x}"),
        })
        .collect();
    json!(text.join(" "))
}

fn to_json(vectors: &[Vector]) -> String {
    let list: Vec<Value> = vectors
        .iter()
        .map(|v| {
            json!({
                "name": v.name,
                "type": v.kind,
                "description": v.description,
                "hex": v.hex,
                "value": v.value,
            })
        })
        .collect();
    let file = json!({
        "limits": limits_json(),
        "zero_width": zero_width_json(),
        "vectors": list,
    });
    serde_json::to_string_pretty(&file).expect("vectors serialise") + "\n"
}

#[test]
fn encodings_match_the_checked_in_vectors() {
    let current = to_json(&vectors());
    let path = vectors_path();
    if std::env::var_os("UPDATE_VECTORS").is_some() {
        std::fs::write(&path, &current).expect("write vectors");
        return;
    }
    let stored = std::fs::read_to_string(&path).expect("vectors.json is checked in");
    assert_eq!(
        stored, current,
        "an encoding or a limit changed: if deliberate, run UPDATE_VECTORS=1 cargo test -p protocol --test golden"
    );
}

#[test]
fn host_and_viewer_frames_are_byte_identical() {
    let all = vectors();
    let hex_of = |name| all.iter().find(|v| v.name == name).map(|v| v.hex.clone());
    assert_eq!(hex_of("host_frame"), hex_of("viewer_frame"));
}

#[test]
fn vectors_decode_back_to_their_values() {
    for v in vectors() {
        let bytes = hex::decode(&v.hex).expect("hex");
        let decoded: Value = match v.kind {
            "ScreenUpdate" => serde_json::to_value(decode::<ScreenUpdate>(&bytes).unwrap()),
            "RelayToViewer" => serde_json::to_value(decode::<RelayToViewer>(&bytes).unwrap()),
            "HostToRelay" => serde_json::to_value(decode::<HostToRelay>(&bytes).unwrap()),
            "RelayToHost" => serde_json::to_value(decode::<RelayToHost>(&bytes).unwrap()),
            "ViewerToRelay" => serde_json::to_value(decode::<ViewerToRelay>(&bytes).unwrap()),
            other => panic!("unknown vector type {other}"),
        }
        .unwrap();
        assert_eq!(decoded, v.value, "vector {}", v.name);
    }
}
