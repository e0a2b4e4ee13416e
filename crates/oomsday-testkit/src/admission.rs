//! The admission examples (`tests/fixtures/admission/{valid,invalid}/*.yaml`) as both their
//! readers take them: the CEL rules' unit tests and the live suite that sends them to a real API
//! server. Each file says what should happen to it in `# key: value` header lines (`# by:`,
//! `# expect:`, `# namespace:`).

use std::path::{Path, PathBuf};

/// The examples of `kind` (`valid` or `invalid`) under the repository `root`, by file name, with
/// their text. Panics (a test's setup failing) when the folder is missing or empty.
pub fn examples(root: &Path, kind: &str) -> Vec<(PathBuf, String)> {
    let dir = root.join("tests/fixtures/admission").join(kind);
    let mut out: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .map(|p| {
            let text =
                std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p, text)
        })
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no examples in {}", dir.display());
    out
}

/// The value of an example's `# key: value` header line.
pub fn header<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# "))
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(": "))
}
