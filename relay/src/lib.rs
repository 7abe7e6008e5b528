//! The relay library.
