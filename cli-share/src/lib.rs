//! The `share` command's library: the host side (PTY, terminal emulator, screen sync,
//! `/share` interception) and `share watch`, plus the relay wire clients in [`net`].

pub mod cli;
mod convert;
pub mod emulator;
pub mod escapes;
pub mod frames;
pub mod host;
pub mod local;
pub mod mirror;
pub mod net;
pub mod parsing;
pub mod pty;
pub mod render;
pub mod share;
pub mod skipping;
pub mod slash;
pub mod tty;
pub mod watch;
