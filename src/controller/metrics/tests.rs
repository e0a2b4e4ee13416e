use super::*;

pub(crate) fn sample() -> Metrics {
    let m = Metrics::default();
    m.run_finished("shop", "lx", "Completed", "Passed", Some(82));
    m.run_finished("shop", "lx", "Completed", "Passed", Some(71));
    m.run_finished("shop", "lx", "Aborted", "Inconclusive", None);
    m.run_finished("shop", "a \"quoted\"\\name", "Failed", "Failed", Some(3));
    m.set_active_injections(1);
    m.reconcile_error("LeakExperiment", "kube");
    m.reconcile_duration("LeakExperiment", Duration::from_millis(30));
    m.set_leader(true);
    m
}

#[test]
fn renders_every_family() {
    let t = sample().render();
    assert!(t.contains(
        "oomsday_runs_total{namespace=\"shop\",experiment=\"lx\",phase=\"Completed\",verdict=\"Passed\"} 2"
    ), "{t}");
    assert!(t.contains("oomsday_last_score{namespace=\"shop\",experiment=\"lx\"} 71"));
    assert!(t.contains("oomsday_active_injections 1"));
    assert!(t.contains("oomsday_leader 1"));
    assert!(t.contains(
        "oomsday_reconcile_errors_total{controller=\"LeakExperiment\",error=\"kube\"} 1"
    ));
    assert!(t.contains(
        "oomsday_reconcile_duration_seconds_bucket{le=\"0.025\",controller=\"LeakExperiment\"} 0"
    ), "{t}");
    assert!(t.contains(
        "oomsday_reconcile_duration_seconds_bucket{le=\"0.05\",controller=\"LeakExperiment\"} 1"
    ));
    assert!(t.ends_with("# EOF\n"));
    let m = sample();
    m.forget("shop", "lx");
    assert!(
        !m.render()
            .contains("oomsday_last_score{namespace=\"shop\",experiment=\"lx\"}")
    );
}
