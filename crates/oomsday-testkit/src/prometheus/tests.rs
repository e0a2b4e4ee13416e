use super::{check_metrics, required};

const GOOD: &str = "# HELP oomsday_runs Runs finished.\n# TYPE oomsday_runs counter\noomsday_runs_total{phase=\"Completed\"} 1\n";

#[test]
fn check_metrics_accepts_openmetrics_counters_and_refuses_what_does_not_parse() {
    let Some(promtool) = required("promtool") else {
        return;
    };
    assert_eq!(check_metrics(&promtool, GOOD), Ok(()));
    let broken = check_metrics(&promtool, "oomsday_runs_total{phase=\"Completed\" 1\n");
    assert!(broken.is_err_and(|e| e.contains("could not parse")));
    // A counter without its HELP at all is a finding, not the expected difference.
    let bare = check_metrics(&promtool, "# TYPE x_total counter\nx_total 1\n");
    assert!(
        bare.as_ref().is_err_and(|e| e.contains("found problems")),
        "{bare:?}"
    );
}
