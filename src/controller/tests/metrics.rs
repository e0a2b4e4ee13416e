//! The `/metrics` output parsed by Prometheus' own linter, `promtool check metrics` (Debian's
//! `prometheus` package), as `oomsday_testkit::prometheus` reads it. Without promtool the test
//! says so and passes, unless `OOMSDAY_REQUIRE_PROMETHEUS=1` (CI).

use oomsday_testkit::prometheus;

use crate::controller::metrics::Metrics;

#[test]
fn metrics_pass_promtool_check_metrics() {
    let Some(promtool) = prometheus::required("promtool") else {
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
    if let Err(problems) = prometheus::check_metrics(&promtool, &text) {
        panic!("{problems}");
    }
    // A parser that accepted nothing would also succeed: the samples are really there.
    assert!(text.contains("oomsday_runs_total{"), "{text}");
}
