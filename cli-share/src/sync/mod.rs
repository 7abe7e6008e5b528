//! The screen both ends agree on. The host runs the child's output through a terminal
//! [`emulator`] on a thread of its own ([`emulator_thread`], which skips what a flood
//! would scroll away unseen: [`skipping`]) and turns its states into frames
//! ([`encoder`]); a viewer rebuilds the screen from those frames ([`mirror`]). What the
//! emulator is fed has its OSCs capped ([`osc_cap`]).

pub(crate) mod convert;
pub(crate) mod emulator;
pub(crate) mod emulator_thread;
pub(crate) mod encoder;
pub(crate) mod mirror;
pub(crate) mod osc_cap;
pub(crate) mod skipping;

pub use emulator::Emulator;
pub use encoder::ScreenEncoder;
pub use mirror::Mirror;
pub use skipping::Scanner;
