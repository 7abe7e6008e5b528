//! The browser viewer's files, embedded at build time from `relay/viewer/` (see build.rs).

include!(concat!(env!("OUT_DIR"), "/viewer_files.rs"));

/// The content type and bytes of the embedded file `name`.
pub(crate) fn get(name: &str) -> Option<(&'static str, &'static [u8])> {
    FILES
        .iter()
        .find(|(file, _, _)| *file == name)
        .map(|(_, content_type, bytes)| (*content_type, *bytes))
}
