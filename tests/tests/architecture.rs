//! ARCHITECTURE.md walks a newcomer through the code file by file: every file it names must
//! exist, or the walk leads nowhere after a rename.

use std::path::Path;

#[test]
fn every_file_architecture_md_names_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let text = std::fs::read_to_string(root.join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    // Code spans are every other piece between backticks; files end in .rs or .js. Paths
    // inside `cli-share/src/` may be written from there.
    let named: Vec<&str> = text
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|span| span.ends_with(".rs") || span.ends_with(".js"))
        .collect();
    assert!(named.len() >= 10, "the walk names files: {named:?}");
    let missing: Vec<&&str> = named
        .iter()
        .filter(|path| {
            !root.join(path).is_file() && !root.join("cli-share/src").join(path).is_file()
        })
        .collect();
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md names files that do not exist: {missing:?}"
    );
}
