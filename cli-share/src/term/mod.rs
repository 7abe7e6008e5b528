//! The local terminal, for the host and `share watch` alike: raw mode and size
//! ([`tty`]), its byte streams on threads of their own ([`stdio`]), drawing a screen on it
//! ([`render`]), setting the input modes the host's program asked for ([`modes`]), and a
//! QR code ([`qr`]).

pub(crate) mod modes;
pub(crate) mod qr;
pub(crate) mod render;
pub(crate) mod stdio;
pub(crate) mod tty;
