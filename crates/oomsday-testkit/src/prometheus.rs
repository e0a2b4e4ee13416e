//! Debian's `prometheus` package as the tests use it: finding its binaries (a test skips with one
//! line without them, unless `OOMSDAY_REQUIRE_PROMETHEUS=1`, as in CI) and `promtool check
//! metrics`, read one way.

#[cfg(test)]
mod tests;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The binary `name` (`prometheus`, `promtool`) on `PATH` or where Debian puts it, or `None`
/// after saying the test is skipped. With `OOMSDAY_REQUIRE_PROMETHEUS=1` a missing binary is a
/// failure instead.
pub fn required(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/local/bin")])
        .map(|d| d.join(name))
        .find(|p| p.is_file());
    if found.is_none() {
        assert!(
            std::env::var("OOMSDAY_REQUIRE_PROMETHEUS").as_deref() != Ok("1"),
            "{name} not found and OOMSDAY_REQUIRE_PROMETHEUS=1 (apt-get install prometheus)"
        );
        eprintln!(
            "SKIPPED: {name} not found (apt-get install prometheus); set OOMSDAY_REQUIRE_PROMETHEUS=1 to fail instead"
        );
    }
    found
}

/// `promtool check metrics` on `text`: `Err` with promtool's findings (and the input) when it
/// cannot parse it or finds anything but the one expected difference.
///
/// promtool (2.42) reads the classic text format (0.0.4), where a counter's HELP line names its
/// sample (`foo_total`); OpenMetrics, which oomsday's `/metrics` serves (and Prometheus scrapes
/// as such, by its content type), names the family (`foo`) and suffixes the sample. So "foo_total
/// no help text" for a family whose `# HELP foo` is there is expected.
pub fn check_metrics(promtool: &Path, text: &str) -> Result<(), String> {
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("running {}: {e}", promtool.display()))?;
    child
        .stdin
        .take()
        .ok_or("promtool's stdin")?
        .write_all(text.as_bytes())
        .map_err(|e| format!("writing to promtool: {e}"))?;
    let out = child
        .wait_with_output()
        .map_err(|e| format!("waiting for promtool: {e}"))?;
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Exit 0: clean; 3: lint findings (judged below); anything else: it could not parse.
    if !matches!(out.status.code(), Some(0 | 3)) {
        return Err(format!(
            "promtool could not parse the metrics:\n{report}\n--- input:\n{text}"
        ));
    }
    let unexpected: Vec<&str> = report
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter(|l| {
            !l.strip_suffix(" no help text")
                .and_then(|n| n.strip_suffix("_total"))
                .is_some_and(|family| text.contains(&format!("# HELP {family} ")))
        })
        .collect();
    if unexpected.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "promtool check metrics found problems: {unexpected:?}\n--- input:\n{text}"
        ))
    }
}
