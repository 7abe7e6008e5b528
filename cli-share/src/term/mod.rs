//! The local terminal, for the host and `share watch` alike: raw mode and size
//! ([`tty`]), its byte streams on threads of their own ([`stdio`]), drawing a screen on it
//! ([`render`]), setting the input modes the host's program asked for ([`modes`]), a QR
//! code ([`qr`]), and text from the other side made safe to print ([`printable`]).

pub(crate) mod modes;
pub mod printable;
pub(crate) mod qr;
pub(crate) mod render;
pub(crate) mod stdio;
pub(crate) mod tty;
