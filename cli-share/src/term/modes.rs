//! The host program's input modes (`protocol::Modes`) set on the watcher's own terminal, so
//! that the terminal encodes keys and pastes as the program asked (cursor keys as `ESC O A`
//! under DECCKM, the keypad as `ESC O p` under DECKPAM, pastes between `ESC [200~` and
//! `ESC [201~` under mode 2004) and `share watch` forwards its bytes as they come, as if
//! the program ran in that terminal.

use protocol::Modes;

/// The sequences that take a terminal from `from` to `to`: nothing when they agree.
pub fn switch(from: Modes, to: Modes) -> Vec<u8> {
    let mut out = Vec::new();
    if from.app_cursor != to.app_cursor {
        out.extend_from_slice(if to.app_cursor {
            b"\x1b[?1h"
        } else {
            b"\x1b[?1l"
        });
    }
    if from.app_keypad != to.app_keypad {
        out.extend_from_slice(if to.app_keypad { b"\x1b=" } else { b"\x1b>" });
    }
    if from.bracketed_paste != to.bracketed_paste {
        out.extend_from_slice(if to.bracketed_paste {
            b"\x1b[?2004h"
        } else {
            b"\x1b[?2004l"
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_mode_that_changes_is_set_or_reset_and_no_other() {
        let normal = Modes::default();
        let all = Modes {
            app_cursor: true,
            app_keypad: true,
            bracketed_paste: true,
        };
        assert_eq!(switch(normal, all), b"\x1b[?1h\x1b=\x1b[?2004h");
        assert_eq!(switch(all, normal), b"\x1b[?1l\x1b>\x1b[?2004l");
        assert_eq!(switch(all, all), b"");
        let paste_only = Modes {
            bracketed_paste: true,
            ..normal
        };
        assert_eq!(switch(all, paste_only), b"\x1b[?1l\x1b>");
    }
}
