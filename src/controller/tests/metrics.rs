//! The `/metrics` output parsed by Prometheus' own linter, `promtool check metrics` (Debian's
//! `prometheus` package).
//!
//! promtool (2.42) reads the classic text format (0.0.4), where a counter's HELP line names
//! its sample (`foo_total`); OpenMetrics, which `/metrics` serves (and Prometheus scrapes as
//! such, by its content type), names the family (`foo`) and suffixes the sample. The one
//! finding that difference produces, "foo_total no help text" for a family whose `# HELP foo`
//! is there, is expected; a parse error or any other finding fails the test. Without promtool the test says so and passes, unless
//! `OOMSDAY_REQUIRE_PROMETHEUS=1` (CI), where a missing binary is a failure.

use std::io::Write as _;
use std::process::{Command, Stdio};

use crate::controller::metrics::Metrics;

fn promtool() -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path)
        .chain([std::path::PathBuf::from("/usr/bin")])
        .map(|d| d.join("promtool"))
        .find(|p| p.is_file());
    if found.is_none() {
        assert!(
            std::env::var("OOMSDAY_REQUIRE_PROMETHEUS").as_deref() != Ok("1"),
            "promtool not found and OOMSDAY_REQUIRE_PROMETHEUS=1 (apt-get install prometheus)"
        );
        eprintln!(
            "SKIPPED: promtool not found (apt-get install prometheus); set OOMSDAY_REQUIRE_PROMETHEUS=1 to fail instead"
        );
    }
    found
}

#[test]
fn metrics_pass_promtool_check_metrics() {
    let Some(promtool) = promtool() else {
        return;
    };
    let m = Metrics::default();
    let summary = crate::spec::RunSummary {
        oom_kills: 1,
        budget_breached_seconds: 12.5,
        ..Default::default()
    };
    let done = crate::controller::metrics::Finished {
        phase: "Completed",
        verdict: "Passed",
        reason: "DurationElapsed",
        score: Some(82),
        summary: Some(&summary),
    };
    m.run_finished("shop", "lx", &done);
    let aborted = crate::controller::metrics::Finished {
        phase: "Aborted",
        verdict: "Inconclusive",
        reason: "Signal",
        score: None,
        summary: None,
    };
    m.run_finished("shop", "odd \"name\"\\x", &aborted);
    m.set_active_injections(1);
    m.set_leader(true);
    m.reconcile_error("LeakRun", "kube");
    m.reconcile_duration("LeakRun", std::time::Duration::from_millis(30));
    let text = m.render();
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running promtool");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("writing to promtool");
    let out = child.wait_with_output().expect("promtool");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Exit 0: clean; 3: lint findings (checked below); anything else: it could not parse.
    assert!(
        matches!(out.status.code(), Some(0 | 3)),
        "promtool could not parse the metrics:\n{report}\n--- input:\n{text}"
    );
    let unexpected: Vec<&str> = report
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter(|l| {
            let openmetrics_counter = l
                .strip_suffix(" no help text")
                .and_then(|n| n.strip_suffix("_total"))
                .is_some_and(|family| text.contains(&format!("# HELP {family} ")));
            !openmetrics_counter
        })
        .collect();
    assert!(
        unexpected.is_empty(),
        "promtool check metrics found problems: {unexpected:?}\n--- input:\n{text}"
    );
    // A parser that accepted nothing would also succeed: the samples are really there.
    assert!(text.contains("oomsday_runs_total{"), "{text}");
}
