//! The local terminal, for the host and `share watch` alike: raw mode and size
//! ([`tty`]), its byte streams on threads of their own ([`stdio`]), and drawing a screen
//! on it ([`render`]).

pub(crate) mod render;
pub(crate) mod stdio;
pub(crate) mod tty;
