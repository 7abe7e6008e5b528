//! The error type of the network emulator.

use std::io;

/// Everything that can go wrong while setting up or running an emulated link.
#[derive(Debug, thiserror::Error)]
pub enum NetemError {
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    #[error("`{command}` failed ({status}): {stderr}")]
    Command {
        command: String,
        status: String,
        stderr: String,
    },
    #[error("a thread inside network namespace {0} panicked")]
    ThreadPanicked(String),
    /// This machine cannot run emulated links (see [`super::unavailable_reason`]).
    #[error("{0}: the tests marked `needs root` run as root only")]
    Unavailable(String),
}

impl NetemError {
    pub(crate) fn io(context: impl Into<String>, source: impl Into<io::Error>) -> Self {
        Self::Io {
            context: context.into(),
            source: source.into(),
        }
    }
}
