//! Hostile input: arbitrary, truncated and oversize bytes give typed errors, never panics
//! or unbounded allocations.

use bytes::BytesMut;
use proptest::prelude::*;
use protocol::screen::ScreenError;
use protocol::*;
use tokio_util::codec::Decoder;

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode::<HostToRelay>(&bytes);
        let _ = decode::<RelayToHost>(&bytes);
        let _ = decode::<RelayToViewer>(&bytes);
        let _ = decode::<ViewerToRelay>(&bytes);
        let _ = decode::<ScreenUpdate>(&bytes);
        let _ = FrameHeader::peek(&bytes);
        let _ = peek_version(&bytes);
        let mut buf = BytesMut::from(&bytes[..]);
        let _ = LengthCodec::default().decode_eof(&mut buf);
    }

    #[test]
    fn every_truncation_of_a_valid_message_is_an_error(cut in 0usize..1000) {
        let mut screen = Screen::new(4, 2);
        screen.lines[0] = Line::plain("hello 世界");
        screen.title = "title".into();
        let bytes = encode(&ScreenUpdate::Keyframe(screen)).unwrap();
        let cut = cut % bytes.len();
        prop_assert!(decode::<ScreenUpdate>(&bytes[..cut]).is_err());
    }

    #[test]
    fn hostile_diffs_are_rejected_not_applied(row in any::<u16>(), index in any::<u32>(), scroll in any::<u64>()) {
        let mut screen = Screen::new(10, 3);
        let before = screen.clone();
        let diff = ScreenDiff {
            scroll,
            history: vec![(index, Line::plain("x"))],
            lines: vec![(row, Line::plain("y"))],
            ..ScreenDiff::default()
        };
        if screen.apply(&diff).is_err() {
            prop_assert_eq!(screen, before);
        } else {
            prop_assert!((row as usize) < 3);
        }
    }
}

#[test]
fn oversize_length_prefix_is_rejected_before_allocating() {
    let mut buf = BytesMut::from(&[0xff, 0xff, 0xff, 0xff, 1, 2, 3][..]);
    let capacity_before = buf.capacity();
    let err = LengthCodec::default().decode(&mut buf).unwrap_err();
    assert!(matches!(
        err,
        CodecError::TooLarge {
            len: 0xffff_ffff,
            ..
        }
    ));
    assert_eq!(
        buf.capacity(),
        capacity_before,
        "no allocation for an oversize frame"
    );
}

#[test]
fn huge_declared_lengths_inside_messages_are_rejected() {
    // Variant Input (0), then a byte-array length of u64::MAX as a 9-byte varint.
    let mut bytes = vec![0u8, 253];
    bytes.extend_from_slice(&u64::MAX.to_le_bytes());
    assert!(decode::<ViewerToRelay>(&bytes).is_err());
    // A Vec<Line> declaring 2^32 rows in a keyframe.
    let mut keyframe = vec![0u8, 10, 3, 252];
    keyframe.extend_from_slice(&u32::MAX.to_le_bytes());
    assert!(decode::<ScreenUpdate>(&keyframe).is_err());
}

#[test]
fn a_frame_split_across_reads_is_reassembled() {
    let payload = encode(&ViewerToRelay::Input(b"abc".to_vec())).unwrap();
    let whole = codec::prefixed(&payload).unwrap();
    let mut codec = LengthCodec::default();
    let mut buf = BytesMut::new();
    for (i, byte) in whole.iter().enumerate() {
        buf.extend_from_slice(&[*byte]);
        let out = codec.decode(&mut buf).unwrap();
        if i + 1 < whole.len() {
            assert!(out.is_none());
        } else {
            assert_eq!(out.unwrap(), payload);
        }
    }
}

#[test]
fn a_stream_ending_mid_frame_is_truncated() {
    let mut buf = BytesMut::from(&[0, 0, 0, 5, 1, 2][..]);
    assert!(matches!(
        LengthCodec::default().decode_eof(&mut buf),
        Err(CodecError::Truncated)
    ));
}

#[test]
fn a_newer_hello_still_reveals_its_version() {
    let mut bytes = encode(&HostToRelay::Hello(HostHello {
        version: 9,
        cols: 80,
        rows: 24,
        collab: false,
        host_key: None,
        resume: None,
    }))
    .unwrap();
    bytes.extend_from_slice(b"fields of a future version");
    assert!(decode::<HostToRelay>(&bytes).is_err());
    assert_eq!(peek_version(&bytes), Some(9));
}

#[test]
fn other_messages_have_no_frame_header() {
    for message in [
        HostToRelay::Bye {
            reason: "done".into(),
        },
        HostToRelay::RequestLinks { collab: true },
        HostToRelay::Hello(HostHello::new(80, 24)),
    ] {
        let bytes = encode(&message).unwrap();
        assert_eq!(FrameHeader::peek(&bytes).unwrap(), None, "{message:?}");
    }
}

fn run(text: &str, attrs: u16) -> Run {
    Run {
        text: text.into(),
        style: Style {
            attrs,
            ..Style::default()
        },
    }
}

#[test]
fn cells_count_wide_characters_twice_and_combining_marks_not_at_all() {
    let line = Line {
        runs: vec![
            run("e\u{301}a", 0),
            run("中文", screen::attrs::WIDE),
            run("👩\u{200d}💻", screen::attrs::WIDE),
        ],
        wrapped: false,
    };
    assert_eq!(line.cells(), 2 + 4 + 4);
}

#[test]
fn rows_wider_than_the_screen_are_refused() {
    let mut keyframe = Screen::new(4, 1);
    keyframe.lines[0] = Line::plain("12345");
    assert!(matches!(
        keyframe.validate(),
        Err(ScreenError::LineTooWide {
            cells: 5,
            cols: 4,
            ..
        })
    ));
    keyframe.lines[0] = Line::plain("1234");
    keyframe.scrollback.push_back(Line {
        runs: vec![run("中中中", screen::attrs::WIDE)],
        wrapped: false,
    });
    assert!(keyframe.validate().is_err(), "a wide row in scrollback");
    // Five empty runs cover no cell, and are still more runs than columns.
    keyframe.scrollback[0] = Line {
        runs: vec![run("", 0); 5],
        wrapped: false,
    };
    assert!(matches!(
        keyframe.validate(),
        Err(ScreenError::LineTooWide { runs: 5, .. })
    ));
    keyframe.scrollback[0] = Line::plain("e\u{301}\u{301}\u{301}ab");
    assert_eq!(keyframe.validate(), Ok(()), "combining marks share a cell");

    let mut screen = Screen::new(4, 2);
    let before = screen.clone();
    for diff in [
        ScreenDiff {
            lines: vec![(0, Line::plain("wider"))],
            ..ScreenDiff::default()
        },
        ScreenDiff {
            scroll: 1,
            history: vec![(0, Line::plain("wider"))],
            ..ScreenDiff::default()
        },
    ] {
        assert!(matches!(
            screen.apply(&diff),
            Err(ScreenError::LineTooWide { .. })
        ));
        assert_eq!(screen, before);
    }
}
