//! Property tests: every message type survives encode/decode, and screen diffs are exact
//! inverses of `apply`.

use std::collections::VecDeque;

use proptest::collection::vec;
use proptest::prelude::*;
use protocol::*;

fn color() -> impl Strategy<Value = Color> {
    prop_oneof![
        Just(Color::Default),
        any::<u8>().prop_map(Color::Indexed),
        any::<(u8, u8, u8)>().prop_map(|(r, g, b)| Color::Rgb(r, g, b)),
    ]
}

fn style() -> impl Strategy<Value = Style> {
    (color(), color(), any::<u16>()).prop_map(|(fg, bg, attrs)| Style { fg, bg, attrs })
}

/// Lines drawn from a small alphabet so that equal lines (and so scroll matches) are common;
/// at most 18 cells (three runs of three wide characters), within the screens' 20 columns.
fn line() -> impl Strategy<Value = Line> {
    (
        vec(
            ("[ab中]{0,3}", prop_oneof![Just(Style::default()), style()]),
            0..3,
        ),
        any::<bool>(),
    )
        .prop_map(|(runs, wrapped)| Line {
            runs: runs
                .into_iter()
                .map(|(text, style)| Run { text, style })
                .collect(),
            wrapped,
        })
}

fn cursor() -> impl Strategy<Value = Cursor> {
    (0u16..6, 0u16..10, any::<bool>()).prop_map(|(row, col, visible)| Cursor { row, col, visible })
}

fn screen(rows: u16) -> impl Strategy<Value = Screen> {
    (
        vec(line(), rows as usize),
        vec(line(), 0..5),
        0u64..10,
        cursor(),
        "[a-z]{0,4}",
        any::<bool>(),
        modes(),
    )
        .prop_map(
            move |(lines, scrollback, extra, cursor, title, alt_screen, modes)| Screen {
                cols: 20,
                rows,
                scrolled_total: scrollback.len() as u64 + extra,
                scrollback: VecDeque::from(scrollback),
                lines,
                cursor,
                title,
                alt_screen,
                modes,
            },
        )
}

fn modes() -> impl Strategy<Value = Modes> {
    (any::<bool>(), any::<bool>(), any::<bool>()).prop_map(
        |(app_cursor, app_keypad, bracketed_paste)| Modes {
            app_cursor,
            app_keypad,
            bracketed_paste,
        },
    )
}

/// A screen and a plausible successor: some rows scrolled away (possibly changed before
/// they went), others edited.
fn screen_and_successor() -> impl Strategy<Value = (Screen, Screen)> {
    (1u16..6).prop_flat_map(|rows| {
        (
            screen(rows),
            0u64..(rows as u64 * 3),
            vec(line(), rows as usize * 3 + rows as usize),
            vec(any::<bool>(), rows as usize * 4),
            cursor(),
            "[a-z]{0,4}",
            any::<bool>(),
            modes(),
        )
            .prop_map(
                move |(old, scroll, fresh, edits, cursor, title, alt, modes)| {
                    let mut next = old.clone();
                    // Scroll like a terminal: rows leave the top, fresh rows enter at the bottom.
                    let mut tape: Vec<Line> = old.lines.clone();
                    tape.extend(fresh.iter().cloned());
                    for (i, line) in tape.iter_mut().enumerate() {
                        if edits[i % edits.len()] {
                            *line = fresh[(i * 7) % fresh.len()].clone();
                        }
                    }
                    let scroll = scroll as usize;
                    next.scrollback.extend(tape[..scroll].iter().cloned());
                    while next.scrollback.len() > limits::SCROLLBACK_LINES {
                        next.scrollback.pop_front();
                    }
                    next.lines = tape[scroll..scroll + rows as usize].to_vec();
                    next.scrolled_total += scroll as u64;
                    next.cursor = cursor;
                    next.title = title;
                    next.alt_screen = alt;
                    next.modes = modes;
                    (old, next)
                },
            )
    })
}

fn roundtrip<T>(message: &T)
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let bytes = encode(message).expect("encodes");
    let back: T = decode(&bytes).expect("decodes");
    assert_eq!(&back, message);
}

fn mode() -> impl Strategy<Value = Mode> {
    prop_oneof![Just(Mode::Read), Just(Mode::Collab), Just(Mode::Host)]
}

fn count() -> impl Strategy<Value = ViewerCount> {
    any::<(u32, u32)>().prop_map(|(read, collab)| ViewerCount { read, collab })
}

fn frame() -> impl Strategy<Value = ScreenFrame> {
    (any::<u64>(), any::<bool>(), vec(any::<u8>(), 0..64)).prop_map(|(seq, keyframe, payload)| {
        ScreenFrame {
            seq,
            keyframe,
            payload,
        }
    })
}

fn host_to_relay() -> impl Strategy<Value = HostToRelay> {
    prop_oneof![
        frame().prop_map(HostToRelay::Frame),
        (
            any::<(u16, u16, u16, bool)>(),
            proptest::option::of(".{0,8}"),
            proptest::option::of(".{0,8}")
        )
            .prop_map(|((version, cols, rows, collab), host_key, resume)| {
                HostToRelay::Hello(HostHello {
                    version,
                    cols,
                    rows,
                    collab,
                    host_key,
                    resume,
                })
            }),
        any::<bool>().prop_map(|collab| HostToRelay::RequestLinks { collab }),
        ".{0,12}".prop_map(|reason| HostToRelay::Bye { reason }),
    ]
}

fn links() -> impl Strategy<Value = Links> {
    (".{0,12}", proptest::option::of(".{0,12}")).prop_map(|(read, collab)| Links { read, collab })
}

fn relay_to_host() -> impl Strategy<Value = RelayToHost> {
    let reason = prop_oneof![
        Just(RefusalReason::VersionMismatch),
        Just(RefusalReason::HostKeyRequired),
        Just(RefusalReason::BadHostToken),
        Just(RefusalReason::SessionGone),
        Just(RefusalReason::Malformed),
        Just(RefusalReason::ShuttingDown),
    ];
    let transport = prop_oneof![Just(Transport::WebSocket), Just(Transport::WebTransport)];
    prop_oneof![
        (any::<u16>(), reason, ".{0,12}").prop_map(|(relay_version, reason, message)| {
            RelayToHost::Refused(Refusal {
                relay_version,
                reason,
                message,
            })
        }),
        (
            any::<u16>(),
            ".{0,12}",
            links(),
            ".{0,12}",
            any::<bool>(),
            count()
        )
            .prop_map(
                |(version, session_id, links, host_token, resumed, viewers)| {
                    RelayToHost::Welcome(HostWelcome {
                        version,
                        session_id,
                        links,
                        host_token,
                        resumed,
                        viewers,
                    })
                }
            ),
        links().prop_map(RelayToHost::Links),
        (any::<u64>(), mode(), vec(any::<u8>(), 0..16))
            .prop_map(|(viewer, mode, data)| RelayToHost::ViewerInput { viewer, mode, data }),
        (any::<u64>(), mode(), transport, count()).prop_map(
            |(viewer, mode, transport, viewers)| RelayToHost::ViewerJoined {
                viewer,
                mode,
                transport,
                viewers
            }
        ),
        (any::<u64>(), count())
            .prop_map(|(viewer, viewers)| RelayToHost::ViewerLeft { viewer, viewers }),
        Just(RelayToHost::GoingAway),
        Just(RelayToHost::RequestKeyframe),
    ]
}

fn relay_to_viewer() -> impl Strategy<Value = RelayToViewer> {
    let reason = prop_oneof![Just(EndReason::HostEnded), Just(EndReason::HostLost)];
    prop_oneof![
        frame().prop_map(RelayToViewer::Frame),
        (
            any::<u16>(),
            ".{0,12}",
            mode(),
            any::<u64>(),
            count(),
            any::<bool>()
        )
            .prop_map(
                |(version, session_id, mode, viewer, viewers, host_online)| {
                    RelayToViewer::Welcome(ViewerWelcome {
                        version,
                        session_id,
                        mode,
                        viewer,
                        viewers,
                        host_online,
                    })
                }
            ),
        Just(RelayToViewer::HostAway),
        Just(RelayToViewer::HostBack),
        count().prop_map(RelayToViewer::Viewers),
        (reason, ".{0,12}").prop_map(|(reason, message)| RelayToViewer::Ended { reason, message }),
        Just(RelayToViewer::GoingAway),
    ]
}

proptest! {
    #[test]
    fn host_to_relay_roundtrips(message in host_to_relay()) {
        roundtrip(&message);
    }

    #[test]
    fn relay_to_host_roundtrips(message in relay_to_host()) {
        roundtrip(&message);
    }

    #[test]
    fn relay_to_viewer_roundtrips(message in relay_to_viewer()) {
        roundtrip(&message);
    }

    #[test]
    fn viewer_to_relay_roundtrips(data in vec(any::<u8>(), 0..256)) {
        roundtrip(&ViewerToRelay::Input(data));
    }

    #[test]
    fn screen_updates_roundtrip((old, next) in screen_and_successor()) {
        roundtrip(&ScreenUpdate::Keyframe(old.clone()));
        if let Some(diff) = old.diff(&next) {
            roundtrip(&ScreenUpdate::Diff(diff));
        }
    }

    #[test]
    fn frame_header_is_readable_without_the_payload(frame in frame()) {
        let bytes = encode(&HostToRelay::Frame(frame.clone())).unwrap();
        let header = FrameHeader::peek(&bytes).unwrap();
        prop_assert_eq!(header, Some(FrameHeader { seq: frame.seq, keyframe: frame.keyframe }));
        prop_assert_eq!(bytes, encode(&RelayToViewer::Frame(frame)).unwrap());
    }

    #[test]
    fn applying_a_diff_yields_the_successor((old, next) in screen_and_successor()) {
        let diff = old.diff(&next).expect("a successor is always diffable");
        let mut applied = old.clone();
        applied.apply(&diff).unwrap();
        prop_assert_eq!(applied, next);
    }
}

#[test]
fn a_scroll_costs_a_count_not_the_rows() {
    let mut old = Screen::new(20, 4);
    for (i, line) in old.lines.iter_mut().enumerate() {
        *line = Line::plain(&format!("row {i}"));
    }
    let mut next = old.clone();
    next.scrollback.push_back(next.lines.remove(0));
    next.lines.push(Line::plain("row 4"));
    next.scrolled_total += 1;
    let diff = old.diff(&next).unwrap();
    assert_eq!(diff.scroll, 1);
    assert!(diff.history.is_empty());
    assert_eq!(diff.lines, vec![(3, Line::plain("row 4"))]);
}

#[test]
fn a_resize_needs_a_keyframe() {
    assert!(Screen::new(80, 24).diff(&Screen::new(100, 24)).is_none());
}

#[test]
fn a_flood_far_beyond_the_scrollback_stays_bounded() {
    let old = Screen::new(10, 3);
    let mut next = old.clone();
    next.scrolled_total = 1_000_000;
    next.scrollback = std::iter::repeat_n(Line::plain("y"), limits::SCROLLBACK_LINES).collect();
    let diff = old.diff(&next).unwrap();
    assert_eq!(diff.history.len(), limits::SCROLLBACK_LINES);
    let mut applied = old.clone();
    applied.apply(&diff).unwrap();
    assert_eq!(applied, next);
}
